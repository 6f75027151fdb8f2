"""A lender's system loads its bank's statement as a user would: ``trama serve`` on a loopback
port, a token from ``trama token``, the ``gql`` client sending the file as a GraphQL
multipart request, then reading the lines back; the same file again stores nothing new."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from gql import Client, FileVar, GraphQLRequest, gql
from gql.transport.httpx import HTTPXAsyncTransport

from tests.domain.collections.conftest import read
from tests.e2e.test_events_e2e import token_for

if TYPE_CHECKING:
    from tests.e2e.conftest import Server

Trama = Callable[..., Awaitable[tuple[int, str, str]]]

INGEST = gql(
    """
    mutation Ingest($file: Upload!) {
      ingestBankStatement(file: $file) {
        __typename
        ... on IngestBankStatementSuccess { alreadyReceived lineCount newLineCount
          statements { id integrity } }
        ... on UserError { code message }
      }
    }
    """
)
LINES = gql(
    """
    query Lines($statement: ID!) {
      statementLines(filter: {statementId: $statement}) {
        edges { node { amount { amount } isReversal state } }
      }
    }
    """
)


def _client(server: Server, token: str) -> Client:
    transport = HTTPXAsyncTransport(
        url=f"{server.base_url}/graphql",
        headers={"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "1"},
        timeout=20,
    )
    return Client(transport=transport, fetch_schema_from_transport=False, execute_timeout=20)


async def test_a_lender_loads_its_statement_over_http(server: Server, trama: Trama) -> None:
    token = await token_for(trama, server, "supervisor", "--partner", "AUTOCREDITO")
    # The seed's account of AutoCrédito is named BECHCLRM/000012345678 in its bank's files.
    content = read("mt940_cl_bancochile.sta").replace(
        b"BCHICLRM/000123456789", b"BECHCLRM/000012345678"
    )
    async with _client(server, token) as session:
        request = GraphQLRequest(
            INGEST, variable_values={"file": FileVar(io.BytesIO(content), filename="c.sta")}
        )
        first = (await session.execute(request, upload_files=True))["ingestBankStatement"]
        assert first["__typename"] == "IngestBankStatementSuccess", first
        assert (first["lineCount"], first["newLineCount"], first["alreadyReceived"]) == (
            5,
            5,
            False,
        )
        statement = first["statements"][1]["id"]
        lines = await session.execute(
            GraphQLRequest(LINES, variable_values={"statement": statement})
        )
        amounts = [e["node"]["amount"]["amount"] for e in lines["statementLines"]["edges"]]
        assert amounts == ["200000", "-150000"]
        again = GraphQLRequest(
            INGEST, variable_values={"file": FileVar(io.BytesIO(content), filename="c.sta")}
        )
        second = (await session.execute(again, upload_files=True))["ingestBankStatement"]
        assert second["alreadyReceived"] is True

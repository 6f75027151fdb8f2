"""A lender's collections day as its people live it: ``trama serve`` on a loopback port with
its embedded workers and an SMTP server of the test's (STARTTLS, AUTH); a supervisor's token
from ``trama token``; the ``gql`` client running the day, the collector reading her list,
the formal letter of the overdue account reaching the customer's mailbox, and last month's
aging report downloaded as an XLSX with its charts."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import openpyxl
from gql import Client, GraphQLRequest, gql
from gql.transport.httpx import HTTPXAsyncTransport

from tests.e2e.test_events_e2e import token_for
from tests.workers.collections_fakes import PASSWORD, USER, SmtpServer

if TYPE_CHECKING:
    from tests.e2e.conftest import Server

Trama = Callable[..., Awaitable[tuple[int, str, str]]]

RUN = gql(
    """
    mutation { runCollections(input: {}) {
      __typename ... on RunCollectionsSuccess { summary { opened stepsFired } }
    } }
    """
)
MINE = gql(
    """
    query { collectionQueue(filter: {assignedToMe: true}) {
      totalCount edges { node { queue daysPastDue nextAction credit { reference } } }
    } }
    """
)
REPORT = gql(
    """
    mutation { generateReport(input: {kind: AGING, period: "2026-11"}) {
      __typename ... on GenerateReportSuccess { report { xlsx { url sha256 } } }
    } }
    """
)


def _client(server: Server, token: str) -> Client:
    transport = HTTPXAsyncTransport(
        url=f"{server.base_url}/graphql", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return Client(transport=transport, fetch_schema_from_transport=False, execute_timeout=30)


async def test_a_collections_day_over_http(
    start_server: Callable[..., Awaitable[Server]], trama: Trama, tmp_path: Path
) -> None:
    smtp = SmtpServer(folder=tmp_path)
    smtp.start()
    try:
        server = await start_server(
            env={
                "TRAMA_SMTP_HOST": "127.0.0.1",
                "TRAMA_SMTP_PORT": str(smtp.port),
                "TRAMA_SMTP_USERNAME": USER,
                "TRAMA_SMTP_PASSWORD": PASSWORD,
                "TRAMA_SMTP_CA_FILE": str(smtp.cert),
                "TRAMA_MAIL_FROM": "cobranza@autocredito.example",
                # the server's embedded workers send the letter (with Redis a separate
                # trama worker would, and this test starts none)
                "TRAMA_REDIS_URL": "",
            }
        )
        supervisor = await token_for(trama, server, "supervisor", "--partner", "AUTOCREDITO")
        agent = await token_for(trama, server, "agent", "--partner", "AUTOCREDITO")
        async with _client(server, supervisor) as session:
            run = (await session.execute(GraphQLRequest(RUN)))["runCollections"]
        # The embedded scheduler may have run the day already as the server started: the
        # run is idempotent, so either way the queues are there.
        assert run["__typename"] == "RunCollectionsSuccess", run
        async with _client(server, agent) as session:
            mine = (await session.execute(GraphQLRequest(MINE)))["collectionQueue"]
        late = [e["node"] for e in mine["edges"] if e["node"]["queue"] == "PAST_DUE"]
        assert late and late[0]["nextAction"] in {"CALL", "LETTER"}

        deadline = time.monotonic() + 30
        while not smtp.accepted and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert smtp.accepted, server.log()
        mail = smtp.accepted[0]
        assert mail.tls and mail.authenticated
        assert "Carta de cobranza" in mail.message["Subject"]

        async with _client(server, supervisor) as session:
            made = (await session.execute(GraphQLRequest(REPORT)))["generateReport"]
        assert made["__typename"] == "GenerateReportSuccess", made
        url = made["report"]["xlsx"]["url"]
        assert url.startswith(server.base_url)
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.get(url, headers={"Authorization": f"Bearer {supervisor}"})
            assert answer.status_code == 200, answer.text
            stolen = await http.get(url, headers={"Authorization": f"Bearer {agent}"})
            assert stolen.status_code == 403
        book = openpyxl.load_workbook(io.BytesIO(answer.content))
        assert book["Tramos de mora"]._charts and book["Roll rates"]._charts
    finally:
        smtp.stop()

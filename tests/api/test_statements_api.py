"""Collection accounts and bank statements through GraphQL (httpx against the app): account
registration with its checks, statement upload as a GraphQL multipart request, refusals as
typed errors with nothing written, lists with filters and keyset pages, and each partner
seeing only its own."""

from __future__ import annotations

import json
from typing import Any

import httpx
import sqlalchemy as sa

from app.db import read_session
from domain.collections.models import BankStatement, StatementLine
from tests.domain.collections.conftest import read

ERRORS = """
    ... on UserError { message code }
    ... on ValidationError { field problems { field message } }
"""

REGISTER = f"""
mutation Register($input: RegisterBankAccountInput!) {{
  registerBankAccount(input: $input) {{
    __typename
    ... on ConflictError {{ currentVersion }}
    ... on RegisterBankAccountSuccess {{
      account {{ id accountNumber bankCode numberKind currency version
                 columnMapping {{ date debit credit decimalSeparator encoding }} }}
    }}
    {ERRORS}
  }}
}}"""

INGEST = f"""
mutation Ingest($file: Upload!, $accountId: ID) {{
  ingestBankStatement(file: $file, accountId: $accountId) {{
    __typename
    ... on StatementRefusedError {{ where }}
    ... on IngestBankStatementSuccess {{
      fileName kind alreadyReceived lineCount newLineCount
      statements {{ id kind sequence integrity schemaStatus
                    closingBalance {{ amount currency }} problems {{ code message where }} }}
    }}
    {ERRORS}
  }}
}}"""

LINES = """
query Lines($filter: StatementLineFilter, $first: Int, $after: String) {
  statementLines(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id amount { amount currency } direction isReversal reversesLineId
                   remittanceInfo state version counterpartyNationalId { type number } } }
  }
}"""


async def _partner_id(gql: Any, token: str, code: str) -> str:
    body = await gql("{ partners { code id } }", token=token)
    return next(p["id"] for p in body["data"]["partners"] if p["code"] == code)


def _account_input(partner: str, **changes: Any) -> dict[str, Any]:
    value = {
        "partnerId": partner,
        "country": "CL",
        "numberKind": "LOCAL",
        "accountNumber": "0001-2345-6789",
        "bankCode": "001",
        "currency": "CLP",
        "bankName": "Banco de Chile",
        "label": "Recaudación",
        "statementIdentifier": "BCHICLRM/000123456789",
    }
    value.update(changes)
    return value


async def _upload(
    client: httpx.AsyncClient, token: str, content: bytes, name: str, account: str | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        data={
            "operations": json.dumps(
                {"query": INGEST, "variables": {"file": None, "accountId": account}}
            ),
            "map": json.dumps({"0": ["variables.file"]}),
        },
        files={"0": (name, content, "application/octet-stream")},
        headers={"authorization": f"Bearer {token}", "apollo-require-preflight": "1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["ingestBankStatement"]
    return result


async def _written() -> tuple[int, int]:
    async with read_session() as session:
        statements = (
            await session.execute(sa.select(sa.func.count()).select_from(BankStatement))
        ).scalar_one()
        lines = (
            await session.execute(sa.select(sa.func.count()).select_from(StatementLine))
        ).scalar_one()
    return statements, lines


async def test_register_upload_and_read_back(gql, token, client) -> None:
    boss = token("supervisor", partner="AUTOCREDITO")
    partner = await _partner_id(gql, boss, "AUTOCREDITO")
    body = await gql(REGISTER, {"input": _account_input(partner)}, token=boss)
    result = body["data"]["registerBankAccount"]
    assert result["__typename"] == "RegisterBankAccountSuccess", result
    account = result["account"]
    assert account["accountNumber"] == "000123456789" and account["version"] == 1

    uploaded = await _upload(client, boss, read("mt940_cl_bancochile.sta"), "cartola.sta")
    assert uploaded["__typename"] == "IngestBankStatementSuccess", uploaded
    assert (uploaded["kind"], uploaded["lineCount"], uploaded["newLineCount"]) == ("MT940", 5, 5)
    assert [s["integrity"] for s in uploaded["statements"]] == ["OK", "OK"]
    assert uploaded["statements"][1]["closingBalance"] == {"amount": "5237500", "currency": "CLP"}

    again = await _upload(client, boss, read("mt940_cl_bancochile.sta"), "cartola.sta")
    assert again["alreadyReceived"] is True

    # Keyset pages over the account's lines, newest first; reversals point at their original.
    agent = token("agent", partner="AUTOCREDITO")
    first = (await gql(LINES, {"filter": {"accountId": account["id"]}, "first": 3}, token=agent))[
        "data"
    ]["statementLines"]
    assert first["totalCount"] == 5 and first["pageInfo"]["hasNextPage"]
    rest = (
        await gql(
            LINES,
            {
                "filter": {"accountId": account["id"]},
                "first": 3,
                "after": first["pageInfo"]["endCursor"],
            },
            token=agent,
        )
    )["data"]["statementLines"]
    nodes = [e["node"] for e in first["edges"] + rest["edges"]]
    assert len({n["id"] for n in nodes}) == 5 and not rest["pageInfo"]["hasNextPage"]
    assert sorted(n["amount"]["amount"] for n in nodes) == sorted(
        ["150000", "-2500", "40000", "200000", "-150000"]
    )
    taken_back = next(n for n in nodes if n["amount"]["amount"] == "-150000")
    original = next(n for n in nodes if n["amount"]["amount"] == "150000")
    assert taken_back["isReversal"] and taken_back["reversesLineId"] == original["id"]
    assert original["counterpartyNationalId"] == {"type": "CL_RUT", "number": "123456785"}
    assert {n["state"] for n in nodes} == {"NEW"}
    credits_only = (
        await gql(
            LINES,
            {"filter": {"accountId": account["id"], "direction": "CREDIT", "reversal": False}},
            token=agent,
        )
    )["data"]["statementLines"]["edges"]
    assert sorted(e["node"]["amount"]["amount"] for e in credits_only) == ["150000", "200000"]

    statement_id = uploaded["statements"][0]["id"]
    node = await gql(
        "query($id: ID!) { node(id: $id) { ... on BankStatement { id sequence lineCount } } }",
        {"id": statement_id},
        token=agent,
    )
    assert node["data"]["node"] == {"id": statement_id, "sequence": 101, "lineCount": 3}

    # Another partner's staff see none of it.
    outsider = token("supervisor", partner="BANCO_ANDINO")
    assert (await gql(LINES, {}, token=outsider))["data"]["statementLines"]["edges"] == []
    hidden = await gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": statement_id}, token=outsider
    )
    assert hidden["data"]["node"] is None
    accounts = await gql("{ bankAccounts { edges { node { id } } } }", token=outsider)
    assert accounts["data"]["bankAccounts"]["edges"] == []
    # …nor can they load a statement for it: to them the account does not exist.
    before = await _written()
    refused = await _upload(client, outsider, read("mt940_cl_day3.sta"), "day3.sta")
    assert (refused["__typename"], refused["code"]) == ("StatementRefusedError", "UNKNOWN_ACCOUNT")
    assert await _written() == before


async def test_refusals_are_typed_and_write_nothing(gql, token, client) -> None:
    boss = token("supervisor", partner="AUTOCREDITO")
    partner = await _partner_id(gql, boss, "AUTOCREDITO")
    await gql(REGISTER, {"input": _account_input(partner)}, token=boss)
    before = await _written()
    bad = await _upload(client, boss, read("mt940_missing_62f.sta"), "bad.sta")
    assert bad["__typename"] == "StatementRefusedError"
    assert (bad["code"], bad["where"]) == ("MALFORMED_STATEMENT", "line 1")
    xxe = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>'
    refused = await _upload(client, boss, xxe, "x.xml")
    assert refused["code"] == "XML_EXTERNAL_ENTITY"
    assert await _written() == before


async def test_account_rules_through_the_api(gql, token) -> None:
    boss = token("supervisor", partner="AUTOCREDITO")
    partner = await _partner_id(gql, boss, "AUTOCREDITO")
    bad_clabe = _account_input(
        partner,
        country="MX",
        numberKind="CLABE",
        accountNumber="012180001234567891",
        currency="MXN",
        bankCode=None,
        statementIdentifier=None,
    )
    result = (await gql(REGISTER, {"input": bad_clabe}, token=boss))["data"]["registerBankAccount"]
    assert result["__typename"] == "ValidationError"
    assert result["field"] == "accountNumber" and "check digit" in result["message"]
    mapping = _account_input(
        partner,
        columnMapping={
            "date": "Fecha",
            "debit": "Cargos",
            "credit": "#6",
            "decimalSeparator": ",",
            "thousandsSeparator": ".",
            "encoding": "latin1",
        },
    )
    made = (await gql(REGISTER, {"input": mapping}, token=boss))["data"]["registerBankAccount"]
    assert made["account"]["columnMapping"] == {
        "date": "Fecha",
        "debit": "Cargos",
        "credit": "#6",
        "decimalSeparator": ",",
        "encoding": "latin-1",
    }
    twice = (await gql(REGISTER, {"input": mapping}, token=boss))["data"]["registerBankAccount"]
    assert twice["__typename"] == "ConflictError"
    agent = token("agent", partner="AUTOCREDITO")
    denied = await gql(
        REGISTER, {"input": _account_input(partner, accountNumber="99887766")}, token=agent
    )
    assert denied["data"]["registerBankAccount"]["__typename"] == "ForbiddenError"
    elsewhere = token("supervisor", partner="BANCO_ANDINO")
    other = await gql(
        REGISTER, {"input": _account_input(partner, accountNumber="99887766")}, token=elsewhere
    )
    assert other["data"]["registerBankAccount"]["__typename"] == "ForbiddenError"
    update = """
    mutation($input: UpdateBankAccountInput!) { updateBankAccount(input: $input) {
      __typename ... on UpdateBankAccountSuccess { account { label version refuseBroken } }
      ... on ConflictError { currentVersion } } }"""
    account_id = made["account"]["id"]
    changed = await gql(
        update,
        {"input": {"id": account_id, "version": 1, "label": "Cuotas", "refuseBroken": True}},
        token=boss,
    )
    assert changed["data"]["updateBankAccount"]["account"] == {
        "label": "Cuotas",
        "version": 2,
        "refuseBroken": True,
    }
    stale = await gql(
        update, {"input": {"id": account_id, "version": 1, "label": "Otra"}}, token=boss
    )
    assert stale["data"]["updateBankAccount"] == {
        "__typename": "ConflictError",
        "currentVersion": 2,
    }

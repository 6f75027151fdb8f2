"""The reconciliation through GraphQL: the queue with its explanations, confirmMatch,
matchManually, unmatch, ignoreLine (versions, typed errors, nothing half-written), the
lender's rule sets, explanations of a line, and another partner seeing nothing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.db import read_session
from domain.collections.models import LineState
from domain.credits.models import Payment
from domain.partners.models import Partner
from domain.shared.audit import AuditRecord
from resolvers.ids import encode_node_id
from tests.domain.collections.matching_support import (
    customers_with_rut,
    line,
    line_row,
    make_credit,
    owed,
    payments_of,
    reconcile,
    statement,
)

QUEUE = """
query Q($filter: ReconciliationQueueFilter, $first: Int, $after: String) {
  reconciliationQueue(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      state version ageDays
      line { id amount { amount currency } remittanceInfo }
      decision {
        state reason ruleCode ruleSetVersion confidence kind
        explanation
        english: explanation(locale: EN)
        evidence { criterion result score message }
        candidates { option creditId reference amount { amount } score }
      }
      bookings { creditId paymentId status amount { amount } }
    } }
  }
}
"""

CONFIRM = """
mutation M($input: ConfirmMatchInput!) {
  confirmMatch(input: $input) {
    __typename
    ... on ReconciliationSuccess { item { state version bookings { creditId status } } }
    ... on UserError { code message }
    ... on ConflictError { currentVersion }
    ... on ValidationError { field }
  }
}
"""

MANUAL = """
mutation M($input: MatchManuallyInput!) {
  matchManually(input: $input) {
    __typename
    ... on ReconciliationSuccess {
      item { state version decision { kind explanation } bookings { creditId amount { amount } } }
    }
    ... on UserError { code message }
    ... on ValidationError { field }
  }
}
"""

UNMATCH = """
mutation M($input: UnmatchLineInput!) {
  unmatch(input: $input) {
    __typename
    ... on ReconciliationSuccess { item { state version bookings { status } } }
    ... on UserError { code message }
  }
}
"""

IGNORE = """
mutation M($input: IgnoreLineInput!) {
  ignoreLine(input: $input) {
    __typename
    ... on ReconciliationSuccess { item { state decision { reason explanation } } }
    ... on UserError { code message }
    ... on InvalidTransitionError { fromState toState }
  }
}
"""


def gid(type_name: str, key: Any) -> str:
    return encode_node_id(type_name, key)


async def _lender_id() -> Any:
    async with read_session() as session:
        return (
            await session.execute(sa.select(Partner.id).where(Partner.code == "AUTOCREDITO"))  # type: ignore[call-overload]
        ).scalar_one()


async def _account(lender: Any) -> Any:
    from app.db import transaction
    from domain.collections import accounts
    from domain.shared.principal import SYSTEM

    async with transaction() as session:
        return await accounts.register_bank_account(
            session,
            principal=SYSTEM,
            partner_id=lender,
            data=accounts.AccountInput(
                country="CL",
                bank_code="012",
                bank_name="Banco del Estado de Chile",
                number_kind="LOCAL",
                account_number="000123456789",
                currency="CLP",
                label="Recaudación CLP",
            ),
        )


async def _audit(action: str, entity: Any) -> list[AuditRecord]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(AuditRecord).where(
                AuditRecord.action == action,  # type: ignore[arg-type]
                AuditRecord.entity_id == str(entity),  # type: ignore[arg-type]
            )
        )
        return list(rows.scalars())


async def test_people_work_the_queue(gql, token, db):
    lender = await _lender_id()
    account = await _account(lender)
    (c1, rut1), (c2, _), (c3, _) = await customers_with_rut(3)
    twin_a = await make_credit(lender, c1, amount="600000")
    twin_b = await make_credit(lender, c1, amount="600000")
    other = await make_credit(lender, c2)
    third = await make_credit(lender, c3)
    due = await owed(twin_a.id)
    statement_id, (ambiguous, unknown, fee) = await statement(
        account.id,
        lender,
        [
            line(due, counterparty_national_id_type="CL_RUT", counterparty_national_id=rut1),
            line(150_000, remittance_info="TRANSFERENCIA DE TERCEROS"),
            line(-5_000, remittance_info="PAGO A PROVEEDOR", bank_transaction_code="NMSC"),
        ],
    )
    await reconcile(lender, statement_id)
    supervisor = token("supervisor", partner="AUTOCREDITO")

    body = await gql(QUEUE, {"first": 10}, token=supervisor)
    assert "errors" not in body, body
    queue = body["data"]["reconciliationQueue"]
    mine = {e["node"]["line"]["id"]: e["node"] for e in queue["edges"]}
    first = mine[gid("StatementLine", ambiguous)]
    assert first["state"] == "EXCEPTION" and first["decision"]["reason"] == "AMBIGUOUS"
    assert any("2 créditos" in text for text in first["decision"]["explanation"])
    assert any("2 credits" in text for text in first["decision"]["english"])
    assert {c["reference"] for c in first["decision"]["candidates"]} == {
        twin_a.reference,
        twin_b.reference,
    }
    assert mine[gid("StatementLine", unknown)]["state"] == "UNMATCHED"
    assert mine[gid("StatementLine", fee)]["decision"]["reason"] == "UNEXPECTED_DEBIT"
    # keyset pages: one at a time, nothing lost or repeated
    seen: list[str] = []
    after = None
    while True:
        page = (await gql(QUEUE, {"first": 1, "after": after}, token=supervisor))["data"][
            "reconciliationQueue"
        ]
        seen += [e["node"]["line"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [e["node"]["line"]["id"] for e in queue["edges"]]
    assert queue["totalCount"] == len(seen)

    # confirm the second option of the ambiguous line; a stale version conflicts first
    option_b = next(
        c["option"] for c in first["decision"]["candidates"] if c["reference"] == twin_b.reference
    )
    stale = await gql(
        CONFIRM,
        {"input": {"lineId": first["line"]["id"], "version": 1, "candidate": option_b}},
        token=supervisor,
    )
    assert stale["data"]["confirmMatch"]["__typename"] == "ConflictError"
    assert stale["data"]["confirmMatch"]["currentVersion"] == first["version"]
    done = await gql(
        CONFIRM,
        {
            "input": {
                "lineId": first["line"]["id"],
                "version": first["version"],
                "candidate": option_b,
            }
        },
        token=supervisor,
    )
    result = done["data"]["confirmMatch"]
    assert result["__typename"] == "ReconciliationSuccess", result
    assert result["item"]["state"] == "AUTO_MATCHED"
    assert result["item"]["bookings"] == [
        {"creditId": gid("Credit", twin_b.id), "status": "BOOKED"}
    ]
    assert len(await payments_of(twin_b.id)) == 1 and not await payments_of(twin_a.id)
    assert len(await _audit("collections.line_matched", ambiguous)) == 1

    # match the unknown line by hand to two credits; a wrong sum writes nothing
    unknown_version = (await line_row(unknown)).version
    wrong = await gql(
        MANUAL,
        {
            "input": {
                "lineId": gid("StatementLine", unknown),
                "version": unknown_version,
                "parts": [
                    {
                        "creditId": gid("Credit", other.id),
                        "amount": {"amount": "100000", "currency": "CLP"},
                    },
                    {
                        "creditId": gid("Credit", third.id),
                        "amount": {"amount": "40000", "currency": "CLP"},
                    },
                ],
            }
        },
        token=supervisor,
    )
    assert wrong["data"]["matchManually"]["__typename"] == "ValidationError"
    assert wrong["data"]["matchManually"]["field"] == "parts"
    assert not await payments_of(other.id) and not await payments_of(third.id)
    assert (await line_row(unknown)).version == unknown_version
    manual = await gql(
        MANUAL,
        {
            "input": {
                "lineId": gid("StatementLine", unknown),
                "version": unknown_version,
                "parts": [
                    {
                        "creditId": gid("Credit", other.id),
                        "amount": {"amount": "100000", "currency": "CLP"},
                        "installmentNumber": 1,
                    },
                    {
                        "creditId": gid("Credit", third.id),
                        "amount": {"amount": "50000", "currency": "CLP"},
                    },
                ],
            }
        },
        token=supervisor,
    )
    item = manual["data"]["matchManually"]
    assert item["__typename"] == "ReconciliationSuccess", item
    assert item["item"]["decision"]["kind"] == "USER"
    assert any("a mano" in text for text in item["item"]["decision"]["explanation"])
    assert sorted(b["amount"]["amount"] for b in item["item"]["bookings"]) == ["100000", "50000"]

    # unmatch: both payments reversed, the line UNMATCHED again
    undone = await gql(
        UNMATCH,
        {
            "input": {
                "lineId": gid("StatementLine", unknown),
                "version": item["item"]["version"],
                "reason": "el cliente pagó a otra cuenta",
            }
        },
        token=supervisor,
    )
    result = undone["data"]["unmatch"]
    assert result["__typename"] == "ReconciliationSuccess", result
    assert result["item"]["state"] == "UNMATCHED"
    assert {b["status"] for b in result["item"]["bookings"]} == {"REVERSED"}
    for credit in (other, third):
        assert [p.status for p in await payments_of(credit.id)] == ["REVERSED"]

    # ignore: the debit can be set aside; an AUTO_MATCHED line cannot
    ignored = await gql(
        IGNORE,
        {
            "input": {
                "lineId": gid("StatementLine", fee),
                "version": (await line_row(fee)).version,
                "reason": "cargo del banco por servicio",
            }
        },
        token=supervisor,
    )
    assert ignored["data"]["ignoreLine"]["item"]["state"] == "IGNORED"
    refused = await gql(
        IGNORE,
        {
            "input": {
                "lineId": gid("StatementLine", ambiguous),
                "version": (await line_row(ambiguous)).version,
                "reason": "no",
            }
        },
        token=supervisor,
    )
    assert refused["data"]["ignoreLine"]["__typename"] == "InvalidTransitionError"
    assert (await line_row(ambiguous)).state == LineState.AUTO_MATCHED

    # another partner's staff see no line and can act on none
    outsider = token("supervisor", partner="BANCO_ANDINO")
    theirs = await gql(QUEUE, {"first": 50}, token=outsider)
    assert "errors" in theirs or all(
        e["node"]["line"]["id"] != gid("StatementLine", unknown)
        for e in theirs["data"]["reconciliationQueue"]["edges"]
    )
    hidden = await gql(
        UNMATCH,
        {"input": {"lineId": gid("StatementLine", ambiguous), "version": 1, "reason": "x"}},
        token=outsider,
    )
    assert hidden["data"]["unmatch"]["__typename"] in {"NotFoundError", "ForbiddenError"}
    async with read_session() as session:
        booked = (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(Payment)
                .where(Payment.credit_id == twin_b.id)  # type: ignore[arg-type]
            )
        ).scalar_one()
    assert booked == 1


RULES = """
mutation M($input: CreateMatchRuleSetInput!) {
  createMatchRuleSet(input: $input) {
    __typename
    ... on CreateMatchRuleSetSuccess { ruleSet { version inForce rules { code minConfidence } } }
    ... on ValidationError { field problems { field message } }
    ... on UserError { code }
  }
}
"""

LIST_RULES = """
{ matchRuleSets { versionInForce versions { version inForce description }
  defaultRules { code kind source } } }
"""

EXPLAIN = """
query E($id: ID!, $rules: [MatchRuleInput!]) {
  explainReconciliation(lineId: $id, rules: $rules) {
    ruleSetVersion
    decision { state ruleCode confidence explanation }
    rules { ruleCode decision { state confidence } }
  }
}
"""


async def test_rule_sets_are_versions_and_explain_lines(gql, token, db):
    lender = await _lender_id()
    account = await _account(lender)
    ((customer, rut),) = await customers_with_rut(1)
    credit = await make_credit(lender, customer)
    due = await owed(credit.id)
    supervisor = token("supervisor", partner="AUTOCREDITO")
    listed = await gql(LIST_RULES, token=supervisor)
    assert listed["data"]["matchRuleSets"]["versionInForce"] == 0
    assert "REFERENCIA" in [r["code"] for r in listed["data"]["matchRuleSets"]["defaultRules"]]

    bad = await gql(
        RULES,
        {
            "input": {
                "description": "solo montos",
                "rules": [
                    {
                        "code": "SOLO_MONTO",
                        "name": "Monto",
                        "kind": "MATCH",
                        "source": "AMOUNT",
                        "criteria": [{"type": "DATE_WINDOW", "daysBefore": 500}],
                    }
                ],
            }
        },
        token=supervisor,
    )
    error = bad["data"]["createMatchRuleSet"]
    assert error["__typename"] == "ValidationError"
    fields = {p["field"] for p in error["problems"]}
    assert "rules[0].criteria[0].daysBefore" in fields and "rules[0].criteria" in fields
    agent = token("agent", partner="AUTOCREDITO")
    denied = await gql(
        RULES,
        {
            "input": {
                "description": "x",
                "rules": [
                    {
                        "code": "XX",
                        "name": "x",
                        "kind": "IGNORE",
                        "criteria": [{"type": "OWN_ACCOUNT"}],
                    }
                ],
            }
        },
        token=agent,
    )
    assert denied["data"]["createMatchRuleSet"]["__typename"] == "ForbiddenError"

    made = await gql(
        RULES,
        {
            "input": {
                "description": "Solo RUT y monto exacto, sugerir desde 50",
                "rules": [
                    {
                        "code": "RUT_EXACTO",
                        "name": "RUT y cuota exacta",
                        "kind": "MATCH",
                        "source": "NATIONAL_ID",
                        "criteria": [
                            {"type": "NATIONAL_ID"},
                            {"type": "AMOUNT", "targets": ["INSTALLMENT"], "toleranceMinor": 0},
                        ],
                        "minConfidence": 99,
                        "suggestConfidence": 50,
                    }
                ],
            }
        },
        token=supervisor,
    )
    assert made["data"]["createMatchRuleSet"]["ruleSet"]["version"] == 1
    statement_id, (paid,) = await statement(
        account.id,
        lender,
        [line(due, counterparty_national_id_type="CL_RUT", counterparty_national_id=rut)],
    )
    # before the worker: what the version in force would do, rule by rule
    explained = await gql(EXPLAIN, {"id": gid("StatementLine", paid)}, token=supervisor)
    assert "errors" not in explained, explained
    data = explained["data"]["explainReconciliation"]
    assert data["ruleSetVersion"] == 1
    assert data["decision"]["ruleCode"] == "RUT_EXACTO"
    assert [r["ruleCode"] for r in data["rules"]] == ["RUT_EXACTO"]
    # a draft: the default rules on the same line
    draft = await gql(
        EXPLAIN,
        {
            "id": gid("StatementLine", paid),
            "rules": [
                {
                    "code": "MONTO_Y_FECHA",
                    "name": "Monto y fecha",
                    "kind": "MATCH",
                    "source": "AMOUNT",
                    "criteria": [
                        {"type": "AMOUNT", "targets": ["INSTALLMENT"]},
                        {"type": "DATE_WINDOW", "daysBefore": 60, "daysAfter": 60},
                    ],
                }
            ],
        },
        token=supervisor,
    )
    assert "errors" not in draft, draft
    assert draft["data"]["explainReconciliation"]["rules"][0]["ruleCode"] == "MONTO_Y_FECHA"
    await reconcile(lender, statement_id)
    decided = await line_row(paid)
    assert decided.state == LineState.AUTO_MATCHED  # 100 >= 99 of version 1
    listed = await gql(LIST_RULES, token=supervisor)
    versions = listed["data"]["matchRuleSets"]["versions"]
    assert [(v["version"], v["inForce"]) for v in versions] == [(1, True)]

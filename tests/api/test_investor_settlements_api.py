"""Settlements and portfolios through the GraphQL API: runs, statements and their lines,
paying a statement, portfolios, and that an investor sees only its own; investor tokens and
the federation entity."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.devtokens import dev_token
from domain.shared.errors import ValidationFailed
from domain.shared.time import utcnow
from tests.api.investor_support import (
    BASE_ERRORS,
    CONFLICT,
    FUND,
    MY_PORTFOLIO,
    NOT_FOUND,
    PORTFOLIO,
    counts,
    credits_by_plate,
    data,
    demo_investors,
    disburse,
    dues,
    error_code,
    gid,
    investor_token,
    make_credit,
    make_investor,
    pay,
)

RUN = f"""
mutation Run($input: RunSettlementInput!) {{
  runSettlement(input: $input) {{
    __typename
    ... on RunSettlementSuccess {{
      run {{
        id periodStart periodEnd statementCount lineCount createdBy
        statements(first: 10) {{
          totalCount
          edges {{ node {{
            id currency status lineCount investor {{ id }}
            interest {{ minorUnits }} principal {{ minorUnits }} fees {{ minorUnits }}
            total {{ minorUnits }}
          }} }}
        }}
      }}
    }}
    {BASE_ERRORS} {CONFLICT}
  }}
}}
"""

PAY = f"""
mutation Pay($input: MarkSettlementPaidInput!) {{
  markSettlementPaid(input: $input) {{
    __typename
    ... on MarkSettlementPaidSuccess {{
      statement {{ id status paidAt paymentReference version }}
    }}
    ... on InvalidTransitionError {{ fromState toState }}
    {BASE_ERRORS} {NOT_FOUND}
  }}
}}
"""

STATEMENT = """
query S($id: ID!, $first: Int, $after: String) {
  settlementStatement(id: $id) {
    id currency status periodStart periodEnd lineCount
    total { minorUnits }
    run { id }
    investor { id piiMasked }
    lines(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node {
        id creditId creditReference paymentId component kind valueDate occurredOn
        amount { minorUnits currency }
      } }
    }
  }
}
"""

RUN_QUERY = """
query R($id: ID!) {
  settlementRun(id: $id) { id statementCount statements { totalCount edges { node { id } } } }
}
"""


@pytest.fixture
def supervisor(token: Any) -> str:
    return str(token("supervisor", partner="AUTOCREDITO"))


async def run(gql: Any, tok: str, start: date, end: date) -> dict[str, Any]:
    body = await gql(
        RUN, {"input": {"periodStart": start.isoformat(), "periodEnd": end.isoformat()}}, token=tok
    )
    result: dict[str, Any] = data(body, "runSettlement")
    return result


async def mark_paid(gql: Any, tok: str, **values: Any) -> dict[str, Any]:
    result: dict[str, Any] = data(
        await gql(PAY, {"input": values}, token=tok), "markSettlementPaid"
    )
    return result


@pytest.fixture
async def funded(gql: Any, supervisor: str, db: Any) -> dict[str, Any]:
    """A credit funded 25 % / 50 % through the API, disbursed 100 days ago, two installments
    paid on their due dates."""
    credit = await make_credit()
    a, b = await make_investor(), await make_investor(name="Rentas del Norte SpA")
    for investor, share in ((a, "0.25"), (b, "0.5")):
        body = await gql(
            FUND,
            {"input": {"creditId": gid("Credit", credit.id),
                       "investorId": gid("Investor", investor.id), "share": share}},
            token=supervisor,
        )  # fmt: skip
        assert data(body, "fundCredit")["__typename"] == "FundCreditSuccess"
    start = utcnow().date() - timedelta(days=100)
    await disburse(credit.id, start)
    (due1, amount1), (due2, amount2), *_ = await dues(credit.id)
    await pay(credit.id, amount1, due1)
    await pay(credit.id, amount2, due2)
    return {"credit": credit, "a": a, "b": b, "start": start, "due1": due1, "due2": due2}


async def test_a_settlement_run_and_its_statements(gql, supervisor, runtime, funded):
    a, b = funded["a"], funded["b"]
    before = await counts()
    result = await run(gql, supervisor, funded["start"], funded["due1"])
    assert result["__typename"] == "RunSettlementSuccess", result
    settled = result["run"]
    assert settled["statementCount"] == 2 and settled["lineCount"] > 0
    assert settled["periodStart"] == funded["start"].isoformat()
    statements = {e["node"]["investor"]["id"]: e["node"] for e in settled["statements"]["edges"]}
    assert set(statements) == {gid("Investor", a.id), gid("Investor", b.id)}
    assert settled["statements"]["totalCount"] == 2
    for s in statements.values():
        assert s["status"] == "ISSUED" and s["currency"] == "CLP"
        parts = s["interest"]["minorUnits"], s["principal"]["minorUnits"], s["fees"]["minorUnits"]
        assert int(s["total"]["minorUnits"]) == sum(int(p) for p in parts)
        assert int(s["fees"]["minorUnits"]) < 0 < int(s["interest"]["minorUnits"])
    # b holds twice a's share: its principal is twice a's (to the unit, or one off)
    pa = int(statements[gid("Investor", a.id)]["principal"]["minorUnits"])
    pb = int(statements[gid("Investor", b.id)]["principal"]["minorUnits"])
    assert abs(pb - 2 * pa) <= 1
    after = await counts()
    assert after["runs"] == before["runs"] + 1 and after["statements"] == before["statements"] + 2
    assert after["audit"] == before["audit"] + 1 and after["outbox"] == before["outbox"] + 1

    # every line of a statement, page by page, adds up to its total
    mine = statements[gid("Investor", a.id)]
    lines: list[dict[str, Any]] = []
    after_cursor = None
    while True:
        body = await gql(
            STATEMENT, {"id": mine["id"], "first": 2, "after": after_cursor}, token=supervisor
        )
        statement = data(body, "settlementStatement")
        lines += [e["node"] for e in statement["lines"]["edges"]]
        if not statement["lines"]["pageInfo"]["hasNextPage"]:
            break
        after_cursor = statement["lines"]["pageInfo"]["endCursor"]
    assert statement["lines"]["totalCount"] == statement["lineCount"] == len(lines)
    assert sum(int(line["amount"]["minorUnits"]) for line in lines) == int(
        mine["total"]["minorUnits"]
    )
    assert {line["component"] for line in lines} == {"INTEREST", "PRINCIPAL", "SERVICING_FEE"}
    assert {line["creditReference"] for line in lines} == {funded["credit"].reference}
    assert {line["creditId"] for line in lines} == {gid("Credit", funded["credit"].id)}
    assert all(line["valueDate"] <= funded["due1"].isoformat() for line in lines)
    assert statement["run"] == {"id": settled["id"]}
    assert statement["periodEnd"] == funded["due1"].isoformat()

    read = data(await gql(RUN_QUERY, {"id": settled["id"]}, token=supervisor), "settlementRun")
    assert read["statementCount"] == 2 and len(read["statements"]["edges"]) == 2

    # the investor reads its own statement (not the run), and not another's
    tok = investor_token(runtime, a.id)
    own = data(await gql(STATEMENT, {"id": mine["id"]}, token=tok), "settlementStatement")
    assert own["run"] is None and own["investor"] == {
        "id": gid("Investor", a.id),
        "piiMasked": False,  # its own data, in clear (issue 9)
    }
    assert own["lines"]["totalCount"] == len(lines)
    theirs = statements[gid("Investor", b.id)]["id"]
    assert error_code(await gql(STATEMENT, {"id": theirs}, token=tok)) == "FORBIDDEN"
    assert error_code(await gql(RUN_QUERY, {"id": settled["id"]}, token=tok)) == "FORBIDDEN"
    listed = data(
        await gql(
            "query I($id: ID!) { investor(id: $id) { statements { totalCount "
            "edges { node { id } } } } }",
            {"id": gid("Investor", a.id)},
            token=tok,
        ),
        "investor",
    )
    assert listed["statements"]["totalCount"] == 1
    assert [e["node"]["id"] for e in listed["statements"]["edges"]] == [mine["id"]]


async def test_runs_are_idempotent_per_period_and_move_forward(gql, supervisor, funded):
    first = (await run(gql, supervisor, funded["start"], funded["due1"]))["run"]
    before = await counts()
    again = await run(gql, supervisor, funded["start"], funded["due1"])
    assert again["run"]["id"] == first["id"]
    assert await counts() == before
    overlap = await run(gql, supervisor, funded["due1"], funded["due2"])
    assert overlap["__typename"] == "ConflictError" and "move forward" in overlap["message"]
    tomorrow = utcnow().date() + timedelta(days=1)
    future = await run(gql, supervisor, funded["due1"] + timedelta(days=1), tomorrow)
    assert future["__typename"] == "ValidationError" and future["field"] == "periodEnd"
    backwards = await run(gql, supervisor, funded["due2"], funded["due1"] + timedelta(days=1))
    assert backwards["__typename"] == "ValidationError" and backwards["field"] == "periodEnd"
    too_long = await run(gql, supervisor, utcnow().date() - timedelta(days=400), utcnow().date())
    assert too_long["__typename"] == "ValidationError"
    bad_date = await gql(
        RUN, {"input": {"periodStart": "2026-02-30", "periodEnd": "2026-03-01"}}, token=supervisor
    )
    assert error_code(bad_date) == "BAD_USER_INPUT"
    assert await counts() == before

    second = (await run(gql, supervisor, funded["due1"] + timedelta(days=1), utcnow().date()))[
        "run"
    ]
    assert second["statementCount"] == 2  # the second installment


async def test_who_may_run_and_pay(gql, token, runtime, funded):
    agent = token("agent", partner="AUTOCREDITO")
    reader = token("supervisor", partner="AUTOCREDITO", scopes=["investors:read"])
    tok = investor_token(runtime, funded["a"].id)
    before = await counts()
    for who in (agent, reader, tok):
        refused = await run(gql, who, funded["start"], funded["due1"])
        assert refused["__typename"] == "ForbiddenError", refused
    assert await counts() == before


async def test_mark_a_statement_paid(gql, supervisor, token, runtime, funded):
    settled = (await run(gql, supervisor, funded["start"], funded["due1"]))["run"]
    statement = settled["statements"]["edges"][0]["node"]
    when = (utcnow() - timedelta(hours=1)).isoformat()
    before = await counts()
    for who in (token("agent", partner="AUTOCREDITO"), investor_token(runtime, funded["a"].id)):
        refused = await mark_paid(
            gql, who, statementId=statement["id"], paidAt=when, reference="TRX-1"
        )
        assert refused["__typename"] == "ForbiddenError"
    bad = [
        ({"reference": "   "}, "ValidationError", "reference"),
        ({"reference": "X" * 101}, "ValidationError", "reference"),
        ({"paidAt": (utcnow() + timedelta(days=2)).isoformat()}, "ValidationError",
         "paidAt"),
        ({"paidAt": "2026-01-01T10:00:00"}, "ValidationError", "paidAt"),  # no offset
        ({"statementId": gid("SettlementStatement", uuid.uuid4())}, "NotFoundError", None),
        ({"statementId": "nope"}, "ValidationError", "statementId"),
    ]  # fmt: skip
    for change, typename, field in bad:
        values = {"statementId": statement["id"], "paidAt": when, "reference": "TRX-1", **change}
        result = await mark_paid(gql, supervisor, **values)
        assert result["__typename"] == typename, (change, result)
        if field:
            assert result["field"] == field
    assert await counts() == before

    paid = await mark_paid(
        gql, supervisor, statementId=statement["id"], paidAt=when, reference=" TRX-1 "
    )
    assert paid["__typename"] == "MarkSettlementPaidSuccess", paid
    assert paid["statement"]["status"] == "PAID"
    assert paid["statement"]["paymentReference"] == "TRX-1"
    assert paid["statement"]["version"] == 2
    after = await counts()
    assert after["audit"] == before["audit"] + 1 and after["outbox"] == before["outbox"] + 1
    again = await mark_paid(
        gql, supervisor, statementId=statement["id"], paidAt=when, reference="TRX-1"
    )
    assert again["statement"] == paid["statement"]
    other = await mark_paid(
        gql, supervisor, statementId=statement["id"], paidAt=when, reference="TRX-2"
    )
    assert other["__typename"] == "InvalidTransitionError"
    assert (other["fromState"], other["toState"]) == ("PAID", "PAID")
    assert await counts() == after


# --- portfolios -----------------------------------------------------------------------------
async def test_portfolio_of_a_demo_investor(gql, supervisor, db):
    demo = await demo_investors()
    plates = await credits_by_plate()
    investor = demo["cordillera"]
    body = await gql(PORTFOLIO, {"id": gid("Investor", investor.id)}, token=supervisor)
    portfolio = data(body, "investorPortfolio")
    assert portfolio["investor"] == {
        "id": gid("Investor", investor.id),
        "legalName": investor.legal_name,
    }
    assert portfolio["asOf"] == utcnow().date().isoformat()
    (clp,) = portfolio["currencies"]
    assert clp["currency"] == "CLP"

    def units(name: str) -> int:
        return int(clp[name]["minorUnits"])

    positions = {p["creditReference"]: p for p in clp["positions"]}
    dhps, lrtc = plates["DHPS62"], plates["LRTC28"]
    assert set(positions) == {dhps.reference, lrtc.reference}
    assert positions[dhps.reference]["share"] == "1"
    assert positions[dhps.reference]["creditStatus"] == "ACTIVE"
    assert positions[dhps.reference]["creditId"] == gid("Credit", dhps.id)
    assert positions[lrtc.reference]["share"] == "0.5"
    assert positions[lrtc.reference]["creditStatus"] == "PAID_OFF"
    assert int(positions[lrtc.reference]["invested"]["minorUnits"]) == 3_000_000
    assert int(positions[lrtc.reference]["outstandingPrincipal"]["minorUnits"]) == 0
    assert units("invested") == sum(int(p["invested"]["minorUnits"]) for p in positions.values())
    assert units("outstandingPrincipal") == dhps.outstanding_principal
    # the paid-off credit returned its principal, and its interest less the servicing fee
    assert units("receivedPrincipal") == 3_000_000 == units("expectedPrincipal")
    assert abs(units("receivedInterest") - units("expectedInterest")) <= 1
    assert units("fees") > 0
    assert units("interestEarned") == (
        units("receivedInterest") + units("receivedLateInterest") - units("fees")
    )
    assert units("expected") == units("expectedPrincipal") + units("expectedInterest")
    assert units("received") == units("receivedPrincipal") + units("receivedInterest")
    assert units("writtenOffPrincipal") == 0
    # 14.9 % nominal a year less a 1 % fee on the interest, effective
    rate = Decimal(clp["xirr"])
    assert Decimal("0.14") < rate < Decimal("0.17")
    assert Decimal(clp["xirrPercent"]) == (rate * 100).quantize(Decimal("0.01"))
    buckets = [e["bucket"] for e in clp["exposure"]]
    assert buckets == [
        "CURRENT",
        "DAYS_1_30",
        "DAYS_31_60",
        "DAYS_61_90",
        "DAYS_91_180",
        "OVER_180",
    ]
    exposure = {e["bucket"]: int(e["outstandingPrincipal"]["minorUnits"]) for e in clp["exposure"]}
    assert sum(exposure.values()) == units("outstandingPrincipal")

    # as of before anything was paid, nothing was received
    early = data(
        await gql(
            PORTFOLIO,
            {"id": gid("Investor", investor.id), "asOf": lrtc.disbursement_date.isoformat()},
            token=supervisor,
        ),
        "investorPortfolio",
    )
    assert int(early["currencies"][0]["receivedPrincipal"]["minorUnits"]) == 0
    assert int(early["currencies"][0]["expectedPrincipal"]["minorUnits"]) == 0


async def test_portfolios_in_several_currencies(gql, supervisor, db):
    demo = await demo_investors()
    body = await gql(PORTFOLIO, {"id": gid("Investor", demo["austral"].id)}, token=supervisor)
    currencies = {c["currency"]: c for c in data(body, "investorPortfolio")["currencies"]}
    assert set(currencies) == {"CLF", "CLP"}  # a UF credit and a peso credit, never added
    (uf,) = currencies["CLF"]["positions"]
    assert uf["share"] == "0.4"
    # a pending investor that funded nothing has an empty portfolio
    empty = await gql(PORTFOLIO, {"id": gid("Investor", demo["lagos"].id)}, token=supervisor)
    assert data(empty, "investorPortfolio")["currencies"] == []
    unknown = await gql(PORTFOLIO, {"id": gid("Investor", uuid.uuid4())}, token=supervisor)
    assert data(unknown, "investorPortfolio") is None


async def test_an_investor_sees_only_its_own_portfolio(gql, token, runtime, db):
    demo = await demo_investors()
    mine, other = demo["fuentes"], demo["cordillera"]
    tok = investor_token(runtime, mine.id)
    own = data(await gql(MY_PORTFOLIO, token=tok), "myInvestorPortfolio")
    assert own["investor"]["id"] == gid("Investor", mine.id)
    same = data(
        await gql(PORTFOLIO, {"id": gid("Investor", mine.id)}, token=tok), "investorPortfolio"
    )
    assert same == own
    refused = await gql(PORTFOLIO, {"id": gid("Investor", other.id)}, token=tok)
    assert error_code(refused) == "FORBIDDEN"
    # an id that does not exist is refused the same way: the answer tells nothing
    unknown = await gql(PORTFOLIO, {"id": gid("Investor", uuid.uuid4())}, token=tok)
    assert error_code(unknown) == "FORBIDDEN"
    for who in (token("agent", partner="AUTOCREDITO"), token("supervisor", partner="AUTOCREDITO")):
        assert error_code(await gql(MY_PORTFOLIO, token=who)) == "FORBIDDEN"
    agent = token("agent", partner="AUTOCREDITO")
    body = await gql(PORTFOLIO, {"id": gid("Investor", mine.id)}, token=agent)
    assert error_code(body) == "FORBIDDEN"
    assert error_code(await gql(MY_PORTFOLIO, token=investor_token(runtime, None))) == "FORBIDDEN"


# --- federation and tokens ------------------------------------------------------------------
async def test_investor_is_a_federation_entity(gql, supervisor, db):
    demo = await demo_investors()
    body = await gql(
        "query E($r: [_Any!]!) { _entities(representations: $r) { __typename "
        "... on Investor { id legalName } } }",
        {"r": [{"__typename": "Investor", "id": gid("Investor", demo["austral"].id)},
               {"__typename": "Investor", "id": gid("Investor", str(uuid.uuid4()))}]},
        token=supervisor,
    )  # fmt: skip
    found = data(body, "_entities")
    assert found[0] == {
        "__typename": "Investor",
        "id": gid("Investor", demo["austral"].id),
        "legalName": demo["austral"].legal_name,
    }
    assert found[1] is None
    sdl = data(await gql("{ _service { sdl } }", token=supervisor), "_service")["sdl"]
    assert 'type Investor implements Node @key(fields: "id")' in sdl


async def test_dev_token_names_its_investor(gql, runtime, db):
    demo = await demo_investors()
    investor = demo["fuentes"]
    issued = await dev_token(runtime.tokens, role="investor", investor=str(investor.id))
    claims, _ = await runtime.tokens.validate(issued)
    assert claims["investor_id"] == str(investor.id)
    assert claims["sub"] == f"investor:{investor.id}" and claims["roles"] == ["investor"]
    body = await gql("{ myInvestorPortfolio { investor { id } } }", token=issued)
    assert data(body, "myInvestorPortfolio")["investor"]["id"] == gid("Investor", investor.id)
    for kwargs, message in [
        ({"role": "investor", "investor": str(uuid.uuid4())}, "no investor with id"),
        ({"role": "investor", "investor": "76.543.210-3"}, "is not an investor id"),
        ({"role": "admin", "investor": str(investor.id)}, "only an investor token"),
    ]:
        with pytest.raises(ValidationFailed, match=message):
            await dev_token(runtime.tokens, **kwargs)

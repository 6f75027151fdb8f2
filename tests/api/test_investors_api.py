"""Investors through the GraphQL API: register, change, KYC, fund credits, read, who sees
what, masking, and the statements a list costs. Settlements and portfolios:
``test_investor_settlements_api.py``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.investor_support import (
    CREATE,
    FUND,
    GET,
    KYC,
    LIST,
    UPDATE,
    counts,
    credits_by_plate,
    data,
    demo_investors,
    error_code,
    gid,
    investor_rows,
    investor_token,
    key_of,
    make_credit,
    make_investor,
    new_input,
)


def new_uuid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def supervisor(token: Any) -> str:
    return str(token("supervisor", partner="AUTOCREDITO"))


@pytest.fixture
def admin(token: Any) -> str:
    return str(token("admin"))


async def create(gql: Any, tok: str, values: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = data(await gql(CREATE, {"input": values}, token=tok), "createInvestor")
    return result


async def fund(gql: Any, tok: str, **values: Any) -> dict[str, Any]:
    result: dict[str, Any] = data(await gql(FUND, {"input": values}, token=tok), "fundCredit")
    return result


# --- register, change, KYC ------------------------------------------------------------------
async def test_create_then_read_an_investor(gql, supervisor, db):
    before = await counts()
    values = new_input()
    result = await create(gql, supervisor, values)
    assert result["__typename"] == "CreateInvestorSuccess", result
    investor = result["investor"]
    assert investor["legalName"] == "Inversiones Pacífico SpA"
    assert investor["kind"] == "COMPANY" and investor["country"] == "CL"
    assert investor["kycStatus"] == "PENDING" and investor["version"] == 1
    assert investor["email"] == "Tesoreria@pacifico.cl"
    assert investor["bankAccount"] == {
        "bankCode": "012",
        "accountType": "VISTA",
        "number": "12345678",
    }
    assert investor["nationalId"]["type"] == "CL_RUT" and not investor["piiMasked"]
    after = await counts()
    assert after["investors"] == before["investors"] + 1
    assert after["audit"] == before["audit"] + 1 and after["outbox"] == before["outbox"] + 1

    read = data(await gql(GET, {"id": investor["id"]}, token=supervisor), "investor")
    assert read == investor
    node = data(
        await gql(
            "query N($id: ID!) { node(id: $id) { __typename ... on Investor { legalName } } }",
            {"id": investor["id"]},
            token=supervisor,
        ),
        "node",
    )
    assert node == {"__typename": "Investor", "legalName": "Inversiones Pacífico SpA"}
    # an unknown or malformed id is null, not an error
    unknown = gid("Investor", new_uuid())
    assert data(await gql(GET, {"id": unknown}, token=supervisor), "investor") is None
    assert key_of(investor["id"]) != key_of(unknown)
    assert data(await gql(GET, {"id": "nope"}, token=supervisor), "investor") is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"nationalId": {"type": "CL_RUT", "number": "12.345.678-9"}}, "nationalId"),
        ({"nationalId": {"type": "AR_CUIT", "number": "20-12345678-0"}}, "nationalId"),
        ({"legalName": " "}, "legalName"),
        ({"email": "not-an-email"}, "email"),
        ({"bankAccount": {"bankCode": "12", "accountType": "VISTA", "number": "1234"}},
         "bankAccount.bankCode"),
        ({"bankAccount": {"bankCode": "012", "accountType": "VISTA", "number": "12a4"}},
         "bankAccount.number"),
    ],
)  # fmt: skip
async def test_create_refuses_bad_input_and_writes_nothing(gql, supervisor, db, change, field):
    before = await counts()
    result = await create(gql, supervisor, new_input(**change))
    assert result["__typename"] == "ValidationError", result
    assert result["code"] == "VALIDATION"
    assert field in {p["field"] for p in result["problems"]}
    assert await counts() == before


async def test_create_reports_every_problem_at_once(gql, supervisor, db):
    before = await counts()
    values = new_input(
        legalName="",
        email="x@",
        nationalId={"type": "CL_RUT", "number": "11.111.111-2"},
    )
    result = await create(gql, supervisor, values)
    assert {p["field"] for p in result["problems"]} >= {"legalName", "email", "nationalId"}
    assert await counts() == before


async def test_one_investor_per_national_id(gql, supervisor, db):
    values = new_input()
    assert (await create(gql, supervisor, values))["__typename"] == "CreateInvestorSuccess"
    before = await counts()
    again = await create(gql, supervisor, {**values, "legalName": "Otro Nombre"})
    assert again["__typename"] == "ValidationError" and again["field"] == "nationalId"
    assert await counts() == before


async def test_update_investor(gql, supervisor, db):
    created = (await create(gql, supervisor, new_input()))["investor"]
    kyc = data(
        await gql(KYC, {"input": {"id": created["id"], "status": "VERIFIED"}}, token=supervisor),
        "changeInvestorKyc",
    )
    assert kyc["investor"]["kycStatus"] == "VERIFIED" and kyc["investor"]["version"] == 2

    changed = data(
        await gql(
            UPDATE,
            {"input": {"id": created["id"], "version": 2, "legalName": "Pacífico Capital SpA",
                       "email": None}},
            token=supervisor,
        ),
        "updateInvestor",
    )  # fmt: skip
    investor = changed["investor"]
    assert investor["legalName"] == "Pacífico Capital SpA" and investor["email"] is None
    assert investor["kycStatus"] == "VERIFIED" and investor["version"] == 3

    # a stale version conflicts and changes nothing
    before = await investor_rows()
    stale = data(
        await gql(
            UPDATE, {"input": {"id": created["id"], "version": 2, "legalName": "X Y"}},
            token=supervisor,
        ),
        "updateInvestor",
    )  # fmt: skip
    assert stale["__typename"] == "ConflictError" and stale["currentVersion"] == 3
    # a field that cannot be removed
    removed = data(
        await gql(
            UPDATE, {"input": {"id": created["id"], "version": 3, "bankAccount": None}},
            token=supervisor,
        ),
        "updateInvestor",
    )  # fmt: skip
    assert removed["__typename"] == "ValidationError" and removed["field"] == "bankAccount"
    assert await investor_rows() == before

    # a new bank account sends a verified investor back to KYC review
    moved = data(
        await gql(
            UPDATE,
            {"input": {"id": created["id"], "version": 3,
                       "bankAccount": {"bankCode": "037", "accountType": "CHECKING",
                                       "number": "0-000-1234567-8"}}},
            token=supervisor,
        ),
        "updateInvestor",
    )["investor"]  # fmt: skip
    assert moved["kycStatus"] == "PENDING" and moved["bankAccount"]["bankCode"] == "037"
    assert moved["kycNote"]

    missing = data(
        await gql(
            UPDATE, {"input": {"id": gid("Investor", new_uuid()), "version": 1}},
            token=supervisor,
        ),
        "updateInvestor",
    )  # fmt: skip
    assert missing["__typename"] == "NotFoundError" and missing["entity"] == "Investor"


async def test_kyc_moves(gql, supervisor, db):
    created = (await create(gql, supervisor, new_input()))["investor"]

    async def kyc(**values: Any) -> dict[str, Any]:
        body = await gql(KYC, {"input": {"id": created["id"], **values}}, token=supervisor)
        result: dict[str, Any] = data(body, "changeInvestorKyc")
        return result

    before = await counts()
    no_note = await kyc(status="REJECTED")
    assert no_note["__typename"] == "ValidationError" and no_note["field"] == "note"
    wrong = await kyc(status="PENDING")
    assert wrong["__typename"] == "InvalidTransitionError"
    assert (wrong["fromState"], wrong["toState"]) == ("PENDING", "PENDING")
    stale = await kyc(status="VERIFIED", version=7)
    assert stale["__typename"] == "ConflictError"
    assert await counts() == before

    rejected = await kyc(status="REJECTED", note="Documento vencido")
    assert rejected["investor"]["kycStatus"] == "REJECTED"
    assert rejected["investor"]["kycNote"] == "Documento vencido"
    again = await kyc(status="VERIFIED")
    assert again["__typename"] == "InvalidTransitionError"  # back to review first
    assert (await kyc(status="PENDING"))["investor"]["kycStatus"] == "PENDING"
    assert (await kyc(status="VERIFIED"))["investor"]["kycStatus"] == "VERIFIED"


# --- funding credits ------------------------------------------------------------------------
async def test_fund_credits(gql, supervisor, db):
    credit = await make_credit()
    a, b = await make_investor(), await make_investor(name="Rentas del Sur SpA")
    before = await counts()
    first = await fund(
        gql, supervisor, creditId=gid("Credit", credit.id), investorId=gid("Investor", a.id),
        share="0.6",
    )  # fmt: skip
    assert first["__typename"] == "FundCreditSuccess", first
    funding = first["funding"]
    assert funding["creditId"] == gid("Credit", credit.id)
    assert funding["creditReference"] == credit.reference
    assert funding["share"] == "0.6" and funding["servicingFeeRate"] == "0.01"
    assert funding["invested"] == {"amount": "7200000", "currency": "CLP", "minorUnits": "7200000"}
    assert funding["effectiveOn"] is None  # funded before disbursement: every payment
    assert funding["investor"] == {"id": gid("Investor", a.id), "legalName": a.legal_name}
    assert first["creditFundedShare"] == "0.6"
    after = await counts()
    assert after["fundings"] == before["fundings"] + 1
    assert after["audit"] == before["audit"] + 1 and after["outbox"] == before["outbox"] + 1

    second = await fund(
        gql, supervisor, creditId=gid("Credit", credit.id), investorId=gid("Investor", b.id),
        share="0.4", servicingFeeRate="0.015",
    )  # fmt: skip
    assert second["creditFundedShare"] == "1"
    assert second["funding"]["servicingFeeRate"] == "0.015"

    body = await gql(
        "query Q($id: ID!) { investor(id: $id) { fundings { id creditId creditReference share"
        " invested { minorUnits } } } }",
        {"id": gid("Investor", b.id)},
        token=supervisor,
    )
    (listed,) = data(body, "investor")["fundings"]
    assert listed["id"] == second["funding"]["id"]
    assert listed["creditReference"] == credit.reference and listed["share"] == "0.4"
    node = data(
        await gql(
            "query N($id: ID!) { node(id: $id) { "
            "... on CreditFunding { share investor { id } } } }",
            {"id": listed["id"]},
            token=supervisor,
        ),
        "node",
    )
    assert node == {"share": "0.4", "investor": {"id": gid("Investor", b.id)}}


async def test_a_credit_is_funded_by_one_or_many_demo_investors(gql, supervisor, db):
    demo = await demo_investors()
    plates = await credits_by_plate()
    body = await gql(
        "query Q($id: ID!) { investor(id: $id) { fundings { creditReference share } } }",
        {"id": gid("Investor", demo["cordillera"].id)},
        token=supervisor,
    )
    shares = {f["creditReference"]: f["share"] for f in data(body, "investor")["fundings"]}
    assert shares[plates["DHPS62"].reference] == "1"  # one investor funds it all
    assert shares[plates["LRTC28"].reference] == "0.5"  # one of three


def bad_fundings() -> list[Any]:
    return [
        pytest.param({"share": "0.3"}, "ValidationError", "share", id="over-100%"),
        pytest.param({"share": "0"}, "ValidationError", "share", id="zero"),
        pytest.param({"share": "-0.1"}, "ValidationError", "share", id="negative"),
        pytest.param({"share": "1.5"}, "ValidationError", "share", id="above-one"),
        pytest.param({"share": "0.1234567"}, "ValidationError", "share", id="seven-decimals"),
        pytest.param({"servicingFeeRate": "1"}, "ValidationError", "servicingFeeRate", id="fee"),
        pytest.param({"investor": "unknown"}, "NotFoundError", None, id="unknown-investor"),
        pytest.param({"investor": "pending"}, "ValidationError", "investorId", id="unverified"),
        pytest.param({"investor": "bad-id"}, "ValidationError", "investorId", id="bad-id"),
        pytest.param({"credit": "unknown"}, "NotFoundError", None, id="unknown-credit"),
        pytest.param({"credit": "other-lender"}, "NotFoundError", None, id="other-lender"),
        pytest.param({"credit": "paid-off"}, "ValidationError", "creditId", id="paid-off"),
        pytest.param({"credit": "bad-id"}, "ValidationError", "creditId", id="bad-credit-id"),
    ]


@pytest.mark.parametrize(("case", "typename", "field"), bad_fundings())
async def test_bad_fundings_are_refused_and_write_nothing(
    gql, supervisor, db, case, typename, field
):
    demo = await demo_investors()
    plates = await credits_by_plate()
    investor = {
        "unknown": gid("Investor", new_uuid()),
        "pending": gid("Investor", demo["lagos"].id),
        "bad-id": "not-an-id",
    }.get(case.get("investor", ""), gid("Investor", demo["cordillera"].id))
    credit = {
        "unknown": gid("Credit", new_uuid()),
        "other-lender": gid("Credit", plates["AB123CD"].id),  # BANCO_PAMPA's
        "paid-off": gid("Credit", plates["GLTV14"].id),
        "bad-id": gid("Investor", demo["cordillera"].id),  # the id of something else
    }.get(case.get("credit", ""), gid("Credit", plates["KPWX76"].id))  # 75 % funded
    values = {"creditId": credit, "investorId": investor, "share": case.get("share", "0.1")}
    if "servicingFeeRate" in case:
        values["servicingFeeRate"] = case["servicingFeeRate"]
    before = await counts()
    result = await fund(gql, supervisor, **values)
    assert result["__typename"] == typename, result
    assert result["message"] and result["code"]
    if field:
        assert result["field"] == field
    if case.get("share") == "0.3":
        assert "75% funded; at most 25% is left" in result["message"]
    assert await counts() == before


async def test_a_decimal_share_sent_as_a_float_is_refused(gql, supervisor, db):
    plates = await credits_by_plate()
    demo = await demo_investors()
    before = await counts()
    body = await gql(
        FUND,
        {"input": {"creditId": gid("Credit", plates["KPWX76"].id),
                   "investorId": gid("Investor", demo["cordillera"].id), "share": 0.1}},
        token=supervisor,
    )  # fmt: skip
    assert error_code(body) == "BAD_USER_INPUT"
    assert await counts() == before


# --- who sees what --------------------------------------------------------------------------
async def test_an_agent_without_investor_scopes_is_refused(gql, token, db):
    agent = token("agent", partner="AUTOCREDITO")
    demo = await demo_investors()
    plates = await credits_by_plate()
    assert error_code(await gql(LIST, token=agent)) == "FORBIDDEN"
    body = await gql(GET, {"id": gid("Investor", demo["fuentes"].id)}, token=agent)
    assert error_code(body) == "FORBIDDEN"
    node = await gql(
        "query N($id: ID!) { node(id: $id) { id } }",
        {"id": gid("Investor", demo["fuentes"].id)},
        token=agent,
    )
    assert error_code(node) == "FORBIDDEN"
    # the refusal comes before the arguments are judged
    assert error_code(await gql(LIST, {"first": 10_000}, token=agent)) == "FORBIDDEN"
    before = await counts()
    created = await create(gql, agent, new_input())
    assert created["__typename"] == "ForbiddenError" and created["code"] == "FORBIDDEN"
    funded = await fund(
        gql, agent, creditId=gid("Credit", plates["KPWX76"].id),
        investorId=gid("Investor", demo["cordillera"].id), share="0.1",
    )  # fmt: skip
    assert funded["__typename"] == "ForbiddenError"
    kyc = await gql(
        KYC, {"input": {"id": gid("Investor", demo["lagos"].id), "status": "VERIFIED"}},
        token=agent,
    )  # fmt: skip
    assert data(kyc, "changeInvestorKyc")["__typename"] == "ForbiddenError"
    assert await counts() == before


async def test_an_investor_sees_only_itself(gql, runtime, db):
    demo = await demo_investors()
    mine, other = demo["fuentes"], demo["austral"]
    tok = investor_token(runtime, mine.id)
    page = data(await gql(LIST, {"first": 50}, token=tok), "investors")
    assert [e["node"]["id"] for e in page["edges"]] == [gid("Investor", mine.id)]
    assert page["totalCount"] == 1
    own = data(await gql(GET, {"id": gid("Investor", mine.id)}, token=tok), "investor")
    assert own["legalName"] == mine.legal_name
    assert own["piiMasked"] is False  # their own data, in clear (issue 9)
    assert error_code(await gql(GET, {"id": gid("Investor", other.id)}, token=tok)) == "FORBIDDEN"
    nodes = data(
        await gql(
            "query N($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            {"ids": [gid("Investor", mine.id), gid("Investor", other.id)]},
            token=tok,
        ),
        "nodes",
    )
    assert nodes == [{"id": gid("Investor", mine.id)}, None]
    # and cannot change anything, itself included
    before = await counts()
    update = await gql(
        UPDATE, {"input": {"id": gid("Investor", mine.id), "version": mine.version,
                           "legalName": "Otra"}}, token=tok,
    )  # fmt: skip
    assert data(update, "updateInvestor")["__typename"] == "ForbiddenError"
    assert await counts() == before
    # an investor token without its investor_id claim sees nothing
    bare = investor_token(runtime, None)
    assert error_code(await gql(LIST, token=bare)) == "FORBIDDEN"


async def test_personal_data_is_masked_without_pii_read(gql, token, db):
    demo = await demo_investors()
    investor = demo["cordillera"]
    reader = token("supervisor", partner="AUTOCREDITO", scopes=["investors:read"])
    full = token("supervisor", partner="AUTOCREDITO")
    masked = data(await gql(GET, {"id": gid("Investor", investor.id)}, token=reader), "investor")
    clear = data(await gql(GET, {"id": gid("Investor", investor.id)}, token=full), "investor")
    assert masked["piiMasked"] and not clear["piiMasked"]
    assert clear["nationalId"]["number"] == "76.543.210-3"
    assert masked["nationalId"]["number"] != clear["nationalId"]["number"]
    assert masked["nationalId"]["number"].endswith("10-3") and "•" in masked["nationalId"]["number"]
    assert clear["bankAccount"]["number"] == investor.bank_account_number
    assert masked["bankAccount"]["number"].endswith(investor.bank_account_number[-4:])
    assert investor.bank_account_number not in masked["bankAccount"]["number"]
    assert clear["email"] == investor.email and masked["email"] != investor.email
    assert masked["legalName"] == clear["legalName"]  # a name is not masked
    listed = data(await gql(LIST, {"filter": {"search": "cordillera"}}, token=reader), "investors")
    assert [e["node"]["nationalId"]["number"] for e in listed["edges"]] == [
        masked["nationalId"]["number"]
    ]
    # A masked reader cannot probe the number by prefix (issue 9); a clear one can.
    for prefix in ("76543", "76.543.210"):
        probe = data(await gql(LIST, {"filter": {"search": prefix}}, token=reader), "investors")
        assert probe["edges"] == [], prefix
        found = data(await gql(LIST, {"filter": {"search": prefix}}, token=full), "investors")
        assert [e["node"]["id"] for e in found["edges"]] == [gid("Investor", investor.id)]


# --- lists ----------------------------------------------------------------------------------
async def test_search_filter_and_pages(gql, supervisor, db):
    demo = await demo_investors()
    by_kyc = data(
        await gql(LIST, {"filter": {"kycStatus": "PENDING"}}, token=supervisor), "investors"
    )
    assert gid("Investor", demo["lagos"].id) in {e["node"]["id"] for e in by_kyc["edges"]}
    assert all(e["node"]["kycStatus"] == "PENDING" for e in by_kyc["edges"])
    by_rut = data(
        await gql(LIST, {"filter": {"search": "77.321.654"}}, token=supervisor), "investors"
    )
    assert [e["node"]["id"] for e in by_rut["edges"]] == [gid("Investor", demo["austral"].id)]
    by_words = data(
        await gql(LIST, {"filter": {"search": "maria fuentes"}}, token=supervisor), "investors"
    )
    assert [e["node"]["id"] for e in by_words["edges"]] == [gid("Investor", demo["fuentes"].id)]

    seen: list[str] = []
    after = None
    while True:
        page = data(await gql(LIST, {"first": 3, "after": after}, token=supervisor), "investors")
        seen += [e["node"]["legalName"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == page["totalCount"] >= 4
    bad = await gql(LIST, {"after": "garbage"}, token=supervisor)
    assert error_code(bad) == "VALIDATION"
    too_many = await gql(LIST, {"first": 1000}, token=supervisor)
    assert error_code(too_many) == "VALIDATION"


LIST_DEEP = """
query Deep($first: Int) {
  investors(first: $first) {
    totalCount
    edges { node {
      id legalName
      fundings { creditId creditReference share invested { minorUnits } investor { id } }
      statements(first: 2) {
        totalCount
        edges { node { total { minorUnits } periodStart lines(first: 2) {
          edges { node { creditReference amount { minorUnits } } } } } }
      }
    } }
  }
}
"""


async def test_the_list_runs_the_same_statements_at_any_page_size(gql, supervisor, sql_counter):
    credit = await make_credit()
    for n in range(12):
        investor = await make_investor(name=f"Inversiones Número {n:02d} SpA")
        await fund(
            gql, supervisor, creditId=gid("Credit", credit.id),
            investorId=gid("Investor", investor.id), share="0.05",
        )  # fmt: skip
    counts_by_size = {}
    for first in (2, 15):
        sql_counter.reset()
        body = await gql(LIST_DEEP, {"first": first}, token=supervisor)
        edges = data(body, "investors")["edges"]
        assert len(edges) == first
        counts_by_size[first] = sql_counter.count
    assert sum(len(e["node"]["fundings"]) for e in edges) >= 12
    assert any(e["node"]["statements"]["edges"] for e in edges)  # the demo settlement
    assert counts_by_size[2] == counts_by_size[15], (counts_by_size, sql_counter.statements)
    selects = [s for s in sql_counter.statements if s.lstrip().upper().startswith("SELECT")]
    # the page, its total, fundings, credit references, statements, their count, runs, lines
    assert len(selects) <= 8, selects

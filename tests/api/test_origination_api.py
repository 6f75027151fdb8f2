"""Credit applications through the API (httpx against the app): a customer's whole way to an
offer, who sees what (dealers without financial data), bad input refused with its code and
nothing written, the anonymous and exact pre-qualification."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.db import transaction
from domain.origination import service
from tests.api.credit_support import customer_token, data, gid
from tests.domain.origination.conftest import World, counts
from tests.domain.origination.conftest import world as world

APP_FIELDS = """
  id reference state version currency termMonths
  requestedPrincipal { amount currency } monthlyIncome { amount }
  declaredObligations { amount } employmentType grade reasonCodes decisionId
  dueAt atRisk breached timeToDecisionSeconds
  consents { kind textVersion }
  offer { id installment { amount } cae schedule { number } }
  timeline { seq kind toState actor }
"""
START = f"""
mutation($input: StartCreditApplicationInput!) {{
  startCreditApplication(input: $input) {{
    __typename
    ... on CreditApplicationSuccess {{ application {{ {APP_FIELDS} }} }}
    ... on ValidationError {{ code field problems {{ field message }} }}
    ... on ConflictError {{ code message }}
    ... on ForbiddenError {{ code }}
  }}
}}"""
SUBMIT = f"""
mutation($input: CreditApplicationVersionInput!) {{
  submitCreditApplication(input: $input) {{
    __typename
    ... on CreditApplicationSuccess {{ application {{ {APP_FIELDS} }} }}
    ... on ValidationError {{ code field }}
  }}
}}"""
ACCEPT = """
mutation($input: AcceptCreditOfferInput!) {
  acceptCreditOffer(input: $input) {
    __typename
    ... on CreditApplicationSuccess { application { state version } }
  }
}"""
GET = f"query($id: ID!) {{ creditApplication(id: $id) {{ {APP_FIELDS} }} }}"
MINE = "{ myCreditApplications(first: 10) { edges { node { reference state } } } }"
LIST = """query($after: String) { creditApplications(first: 2, after: $after) {
  edges { cursor node { reference monthlyIncome { amount } } }
  pageInfo { hasNextPage endCursor } } }"""
PREQ = """query($lender: ID!, $income: MoneyInput!) {
  prequalification(lenderId: $lender, monthlyIncome: $income) {
    exact grade termMonths annualRate maxInstallment { amount } maxPrincipal { amount minorUnits }
    validUntil id } }"""


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CLP"}


def start_input(world: World, **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "lenderId": gid("Partner", world.lender_id),
        "requestedPrincipal": money("8000000"),
        "downPayment": money("2000000"),
        "currency": "CLP",
        "termMonths": 36,
        "monthlyIncome": money("1800000"),
        "employmentType": "EMPLOYED",
        "employmentMonths": 40,
        "declaredObligations": money("150000"),
        "consents": [
            {"kind": "bureau_check", "accepted": True, "textVersion": "bureau-2026-01"},
            {"kind": "data_processing", "accepted": True, "textVersion": "datos-2026-01"},
        ],
    }
    value.update(changes)
    return value


async def test_a_customer_applies_and_accepts_the_offer(
    gql: Any, runtime: Any, world: World, token: Any
) -> None:
    me = customer_token(runtime, world.customer_id)
    body = await gql(START, {"input": start_input(world)}, token=me)
    app = data(body, "startCreditApplication")["application"]
    assert app["state"] == "DRAFT" and app["monthlyIncome"] == {"amount": "1800000"}
    assert [c["kind"] for c in app["consents"]] == ["bureau_check", "data_processing"]
    body = await gql(
        SUBMIT, {"input": {"applicationId": app["id"], "version": app["version"]}}, token=me
    )
    app = data(body, "submitCreditApplication")["application"]
    assert app["state"] == "SUBMITTED" and app["dueAt"] and not app["breached"]
    from resolvers.ids import decode_node_id

    key = decode_node_id(app["id"], "CreditApplication")
    assert key is not None
    async with transaction() as session:  # what the scoring worker does
        await service.apply_decision(
            session,
            application_id=key,
            decision_id=uuid.uuid4(),
            outcome="approve",
            grade="B",
            reasons=["EMPLOYMENT_SHORT"],
        )
    app = data(await gql(GET, {"id": app["id"]}, token=me), "creditApplication")
    assert app["state"] == "OFFERED" and app["grade"] == "B"
    assert app["reasonCodes"] == ["EMPLOYMENT_SHORT"] and app["decisionId"] is None
    assert app["timeToDecisionSeconds"] is not None
    assert len(app["offer"]["schedule"]) == 36
    assert all(entry["actor"] is None for entry in app["timeline"])  # customers see no staff
    body = await gql(
        ACCEPT,
        {"input": {"applicationId": app["id"], "offerId": app["offer"]["id"]}},
        token=me,
    )
    assert data(body, "acceptCreditOffer")["application"]["state"] == "SIGNING"
    # the lender's staff with scoring:read see the decision record
    staff = token("agent", partner="AUTOCREDITO")
    seen = data(await gql(GET, {"id": app["id"]}, token=staff), "creditApplication")
    assert seen["decisionId"] is not None and seen["timeline"][0]["actor"]
    mine = data(await gql(MINE, token=me), "myCreditApplications")["edges"]
    assert [e["node"]["state"] for e in mine] == ["SIGNING"]


async def test_who_sees_an_application(gql: Any, runtime: Any, world: World, token: Any) -> None:
    vehicle = world.market.add(world.dealer_id, 10_000_000)
    me = customer_token(runtime, world.customer_id)
    body = await gql(
        START,
        {"input": start_input(world, vehicleId=str(vehicle), requestedPrincipal=None)},
        token=me,
    )
    app = data(body, "startCreditApplication")["application"]
    dealer = token("dealer", partner="RETAIL_SUR")
    seen = data(await gql(GET, {"id": app["id"]}, token=dealer), "creditApplication")
    assert seen["reference"] == app["reference"]
    assert seen["monthlyIncome"] is None and seen["declaredObligations"] is None
    assert seen["employmentType"] is None and seen["consents"] is None and seen["grade"] is None
    assert seen["reasonCodes"] is None and seen["offer"] is None
    listed = data(await gql(LIST, token=dealer), "creditApplications")["edges"]
    assert [e["node"] for e in listed] == [{"reference": app["reference"], "monthlyIncome": None}]
    other_dealer = token("dealer", partner="BANCO_ANDINO")
    assert data(await gql(GET, {"id": app["id"]}, token=other_dealer), "creditApplication") is None
    stranger = customer_token(runtime, world.other_customer_id)
    assert data(await gql(GET, {"id": app["id"]}, token=stranger), "creditApplication") is None
    other_lender = token("agent", partner="BANCO_ANDINO")
    assert data(await gql(GET, {"id": app["id"]}, token=other_lender), "creditApplication") is None
    assert data(await gql(LIST, token=other_lender), "creditApplications")["edges"] == []
    node = await gql(
        "query($id: ID!) { node(id: $id) {"
        " ... on CreditApplication { monthlyIncome { amount } } } }",
        {"id": app["id"]},
        token=dealer,
    )
    assert data(node, "node") == {"monthlyIncome": None}


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"monthlyIncome": money("-1")}, "INCOME_NEGATIVE", "monthlyIncome"),
        (
            {
                "currency": "ARS",
                "monthlyIncome": {"amount": "1", "currency": "ARS"},
                "requestedPrincipal": {"amount": "1", "currency": "ARS"},
                "downPayment": {"amount": "0", "currency": "ARS"},
                "declaredObligations": {"amount": "0", "currency": "ARS"},
            },
            "WRONG_CURRENCY",
            "currency",
        ),
        (
            {"monthlyIncome": {"amount": "100", "currency": "USD"}},
            "WRONG_CURRENCY",
            "monthlyIncome",
        ),
        ({"termMonths": 0}, "TERM_INVALID", "termMonths"),
        (
            {"consents": [{"kind": "marketing", "accepted": True, "textVersion": "x"}]},
            "CONSENT_MISSING",
            "consents.marketing",
        ),
    ],
)
async def test_bad_input_is_refused_with_its_code_and_nothing_written(
    gql: Any, runtime: Any, world: World, changes: dict[str, Any], code: str, field: str
) -> None:
    me = customer_token(runtime, world.customer_id)
    before = await counts()
    body = await gql(START, {"input": start_input(world, **changes)}, token=me)
    refused = data(body, "startCreditApplication")
    assert refused["__typename"] == "ValidationError"
    assert refused["code"] == code and refused["field"] == field
    assert await counts() == before


async def test_missing_consent_and_unavailable_vehicle(
    gql: Any, runtime: Any, world: World
) -> None:
    me = customer_token(runtime, world.customer_id)
    body = await gql(START, {"input": start_input(world, consents=[])}, token=me)
    app = data(body, "startCreditApplication")["application"]
    before = await counts()
    body = await gql(
        SUBMIT, {"input": {"applicationId": app["id"], "version": app["version"]}}, token=me
    )
    refused = data(body, "submitCreditApplication")
    assert refused == {
        "__typename": "ValidationError",
        "code": "CONSENT_MISSING",
        "field": "consents.bureau_check",
    }
    assert await counts() == before
    sold = world.market.add(world.dealer_id, 9_000_000, status="sold")
    body = await gql(START, {"input": start_input(world, vehicleId=str(sold))}, token=me)
    refused = data(body, "startCreditApplication")
    assert refused["__typename"] == "ConflictError" and refused["code"] == "VEHICLE_NOT_AVAILABLE"
    assert await counts() == before


async def test_prequalification_anonymous_and_exact(gql: Any, runtime: Any, world: World) -> None:
    variables = {"lender": gid("Partner", world.lender_id), "income": money("1500000")}
    estimate = data(await gql(PREQ, variables), "prequalification")
    assert estimate["exact"] is False and estimate["grade"] == "C" and estimate["id"] is None
    assert estimate["maxInstallment"] == {"amount": "525000"}  # 35 % of 1,500,000
    me = customer_token(runtime, world.customer_id)
    exact = data(await gql(PREQ, variables, token=me), "prequalification")
    assert exact["exact"] is True and exact["id"] and exact["validUntil"]
    async with transaction() as session:
        from domain.origination.prequalification import current_terms

        terms = await current_terms(session, customer_id=world.customer_id)
    assert terms is not None and terms.max_principal == int(exact["maxPrincipal"]["minorUnits"])


async def test_the_lender_is_involved_with_its_applicants(
    gql: Any, runtime: Any, world: World, token: Any
) -> None:
    import sqlalchemy as sa

    from app.db import read_session
    from domain.customers.models import Customer
    from domain.origination.models import CreditApplication

    async with read_session() as session:
        stranger = (
            await session.execute(
                sa.select(Customer.id)
                .where(
                    Customer.home_partner_id == world.other_lender_id,
                    Customer.consent_data_sharing.is_(False),  # type: ignore[attr-defined]
                    Customer.id.not_in(sa.select(CreditApplication.customer_id)),  # type: ignore[attr-defined]
                )
                .order_by(Customer.id)
                .limit(1)
            )
        ).scalar_one()
    query = "query($id: ID!) { customer(id: $id) { piiMasked } }"
    agent = token("agent", partner="AUTOCREDITO")
    before = data(await gql(query, {"id": gid("Customer", stranger)}, token=agent), "customer")
    assert before is None or before["piiMasked"] is True
    me = customer_token(runtime, stranger)
    data(await gql(START, {"input": start_input(world)}, token=me), "startCreditApplication")
    after = data(await gql(query, {"id": gid("Customer", stranger)}, token=agent), "customer")
    assert after == {"piiMasked": False}

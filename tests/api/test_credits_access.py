"""Who may see and change credits through the API (another partner's staff, customers,
anonymous callers), and the statements a credits page costs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.api.credit_support import (
    CANCEL,
    CREATE,
    DISBURSE,
    GET,
    LIST,
    MINE,
    PAY,
    customer_token,
    customers_without_credits,
    data,
    db_state,
    demo_credits,
    error_code,
    gid,
    local_today,
    partner_ids,
)
from tests.api.test_credits_api import create, new_credit_input, pay_input

GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
def agent(token: Any) -> str:
    return str(token("agent", partner="AUTOCREDITO"))


@pytest.fixture
def outsider(token: Any) -> str:
    return str(token("agent", partner="BANCO_ANDINO"))


# --- another partner ------------------------------------------------------------------------
async def test_another_partners_staff_neither_see_nor_touch_its_credits(gql, outsider, token):
    demo = await demo_credits()
    active = demo["DHPS62"]
    credit_id = gid("Credit", active.id)
    assert data(await gql(GET, {"id": credit_id}, token=outsider), "credit") is None
    by_ref = "query R($r: String!) { creditByReference(reference: $r) { id } }"
    assert (
        data(await gql(by_ref, {"r": active.reference}, token=outsider), "creditByReference")
        is None
    )
    page = data(await gql(LIST, {"first": 50}, token=outsider), "credits")
    assert page["totalCount"] == 0 and page["edges"] == []
    node = await gql(
        "query N($id: ID!) { node(id: $id) { id } }", {"id": credit_id}, token=outsider
    )
    assert data(node, "node") is None
    system = token("partner_system", partner="BANCO_ANDINO")
    before = await db_state()
    for who in (outsider, system):
        paid = data(
            await gql(PAY, pay_input(credit_id, "1000", key="x-1"), token=who), "registerPayment"
        )
        assert paid["__typename"] == "NotFoundError" and paid["entity"] == "Credit"
    approved = gid("Credit", demo["BKDR21"].id)
    for document, name in ((DISBURSE, "disburseCredit"), (CANCEL, "cancelCredit")):
        variables = {"input": {"id": approved, "version": 1, "reason": "x"}}
        if name == "disburseCredit":
            del variables["input"]["reason"]
        assert data(await gql(document, variables, token=outsider), name)["__typename"] == (
            "NotFoundError"
        )
    ids = await partner_ids()
    other = await new_credit_input(lenderId=gid("Partner", ids["AUTOCREDITO"]))
    refused = data(await gql(CREATE, {"input": other}, token=outsider), "createCredit")
    assert refused["__typename"] == "ForbiddenError"
    assert await db_state() == before


async def test_partner_systems_pay_but_do_not_create(gql, token):
    system = token("partner_system", partner="AUTOCREDITO")
    before = await db_state()
    refused = data(
        await gql(CREATE, {"input": await new_credit_input()}, token=system), "createCredit"
    )
    assert refused["__typename"] == "ForbiddenError"
    assert await db_state() == before
    demo = await demo_credits()
    paid = data(
        await gql(
            PAY, pay_input(gid("Credit", demo["DHPS62"].id), "1000", key="sys-1"), token=system
        ),
        "registerPayment",
    )
    assert paid["__typename"] == "RegisterPaymentSuccess"


# --- customers ------------------------------------------------------------------------------
async def test_a_customer_sees_only_their_own_credits(gql, runtime, agent):
    demo = await demo_credits()
    mine = demo["DHPS62"]
    me = customer_token(runtime, mine.customer_id)
    viewer = data(await gql("{ viewer { roles scopes } }", token=me), "viewer")
    assert viewer == {
        "roles": ["customer"],
        "scopes": [
            "applications:read",
            "applications:write",
            "cases:read",
            "credits:read",
            "loyalty:read",
            "loyalty:write",
        ],
    }
    page = data(await gql(MINE, {}, token=me), "myCredits")
    assert page["totalCount"] == 1
    (edge,) = page["edges"]
    assert edge["node"]["id"] == gid("Credit", mine.id)
    assert edge["node"]["customer"]["id"] == gid("Customer", mine.customer_id)
    assert data(await gql(MINE, {"status": ["PAID_OFF"]}, token=me), "myCredits")["edges"] == []
    own = await gql(
        "query G($id: ID!) { credit(id: $id) { reference customer { piiMasked }"
        " payments { edges { node { id allocations { component } } } }"
        " position { daysPastDue } } }",
        {"id": gid("Credit", mine.id)},
        token=me,
    )
    result = data(own, "credit")
    assert result["reference"] == mine.reference and result["position"]["daysPastDue"] == 0
    assert result["customer"]["piiMasked"] is False  # their own data, in clear (issue 9)
    payment_id = result["payments"]["edges"][0]["node"]["id"]
    node = await gql(
        "query N($id: ID!) { node(id: $id) { ... on Payment { status } } }",
        {"id": payment_id},
        token=me,
    )
    assert data(node, "node") == {"status": "BOOKED"}

    for plate in ("FJRW83", "AB123CD"):
        other = gid("Credit", demo[plate].id)
        assert data(await gql(GET, {"id": other}, token=me), "credit") is None
        assert (
            data(
                await gql("query N($id: ID!) { node(id: $id) { id } }", {"id": other}, token=me),
                "node",
            )
            is None
        )
    someone_else = customer_token(runtime, demo["FJRW83"].customer_id)
    node = await gql(
        "query N($id: ID!) { node(id: $id) { id } }", {"id": payment_id}, token=someone_else
    )
    assert data(node, "node") is None


async def test_a_customer_gets_nothing_else(gql, runtime):
    demo = await demo_credits()
    me = customer_token(runtime, demo["DHPS62"].customer_id)
    refused = {
        "credits": LIST,
        "customers": "{ customers(first: 1) { totalCount } }",
        "partners": "{ partners { code } }",
        "customer": f'{{ customer(id: "{gid("Customer", demo["DHPS62"].customer_id)}") {{ id }} }}',
        "auditTrail": f'{{ auditTrail(entityId: "{demo["DHPS62"].id}") {{ totalCount }} }}',
    }
    for name, query in refused.items():
        body = await gql(query, token=me)
        assert error_code(body) == "FORBIDDEN", (name, body)
    before = await db_state()
    paid = data(
        await gql(PAY, pay_input(gid("Credit", demo["DHPS62"].id), "1000", key="me-1"), token=me),
        "registerPayment",
    )
    assert paid["__typename"] == "ForbiddenError"
    created = data(await gql(CREATE, {"input": await new_credit_input()}, token=me), "createCredit")
    assert created["__typename"] == "ForbiddenError"
    assert await db_state() == before


async def test_my_credits_is_for_customers_and_a_customer_token_names_its_customer(
    gql, runtime, agent, token
):
    assert error_code(await gql(MINE, {}, token=agent)) == "FORBIDDEN"
    assert error_code(await gql(MINE, {}, token=token("admin"))) == "FORBIDDEN"
    (stranger,) = await customers_without_credits(1)
    page = data(await gql(MINE, {}, token=customer_token(runtime, stranger.id)), "myCredits")
    assert page == {"totalCount": 0, "edges": []}
    nameless, _ = runtime.tokens.issue(subject="customer:?", roles=["customer"])
    body = await gql(
        "{ viewer { subject } }", token=nameless, accept=GRAPHQL_RESPONSE, expect_status=401
    )
    assert error_code(body) == "UNAUTHENTICATED"
    assert "customer_id" in body["errors"][0]["message"]


async def test_anonymous_callers_are_refused(gql):
    demo = await demo_credits()
    before = await db_state()
    reads = {
        "credits": (LIST, {}),
        "credit": (GET, {"id": gid("Credit", demo["DHPS62"].id)}),
        "myCredits": (MINE, {}),
    }
    for name, (query, variables) in reads.items():
        body = await gql(query, variables, accept=GRAPHQL_RESPONSE, expect_status=401)
        assert error_code(body) == "UNAUTHENTICATED", name
    body = await gql(CREATE, {"input": await new_credit_input()})
    assert error_code(body) == "UNAUTHENTICATED"
    body = await gql(PAY, pay_input(gid("Credit", demo["DHPS62"].id), "1000", key="anon"))
    assert error_code(body) == "UNAUTHENTICATED"
    assert await db_state() == before


# --- statements per page ------------------------------------------------------------------
DEEP_LIST = """
query Deep($first: Int!) {
  credits(first: $first) {
    totalCount
    edges { node {
      id reference status principal { amount } agingBucket
      customer { id givenNames homePartner { code } }
      lender { code name }
      installments { number dueDate status installment { amount } }
      schedules { number reason rows { number status } }
      payments(first: 3) {
        totalCount
        edges { node { id status amount { amount } allocations { component amount { amount } } } }
      }
      position { daysPastDue outstandingPrincipal { amount } nextInstallment { number } }
    } }
  }
}
"""


async def _more_credits(gql: Any, agent: str, count: int) -> None:
    for n in range(count):
        credit = await create(gql, agent)
        day = local_today() - timedelta(days=35 + n)
        body = await gql(
            DISBURSE,
            {"input": {"id": credit["id"], "version": 1, "disbursementDate": str(day)}},
            token=agent,
        )
        assert data(body, "disburseCredit")["__typename"] == "DisburseCreditSuccess"
        paid = await gql(PAY, pay_input(credit["id"], "300000", key=f"n1-{n}"), token=agent)
        assert data(paid, "registerPayment")["__typename"] == "RegisterPaymentSuccess"


async def test_a_credits_page_costs_the_same_statements_whatever_its_size(gql, agent, sql_counter):
    await _more_credits(gql, agent, 4)
    counts = {}
    for size in (2, 12):
        await gql("{ partners { code } }", token=agent)  # warm the partner directory
        sql_counter.reset()
        body = await gql(DEEP_LIST, {"first": size}, token=agent)
        page = data(body, "credits")
        assert len(page["edges"]) == size
        assert any(e["node"]["payments"]["edges"] for e in page["edges"])
        assert any(e["node"]["position"] for e in page["edges"])
        counts[size] = sql_counter.count
    assert counts[2] == counts[12], counts
    assert counts[12] <= 30, sql_counter.statements

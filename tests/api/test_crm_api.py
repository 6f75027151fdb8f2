"""CRM through GraphQL as its users would: the landing page's form (token, minimum time,
honeypot, rate limit, bad input), advisors seeing their lender's leads and nobody else's,
opportunities and tasks refusing bad moves with codes, and the customer timeline paged and
shown to each viewer as they may see it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from app.settings import Settings
from domain.crm.models import CrmLead, TimelineKind
from domain.crm.parties import Party
from domain.crm.timeline import add_timeline_item
from domain.customers.models import Customer
from domain.shared import time as clock
from resolvers.ids import encode_node_id
from tests.api.credit_support import customer_token
from tests.conftest import make_settings
from tests.domain.crm.conftest import lenders, roster, snapshot

TOKEN = "query($l: String!) { leadFormToken(lender: $l) { token minSeconds } }"
CAPTURE = """
mutation($input: CaptureLeadInput!) {
  captureLead(input: $input) {
    __typename
    ... on CaptureLeadSuccess { receipt { received } }
    ... on ValidationError { code field problems { field message } }
  }
}"""
LEADS = """
query { crmLeads(first: 10) { edges { node { id name phone status utmCampaign captures } } } }"""
LEAD = "query($id: ID!) { lead(id: $id) { id name advisorId } }"
TIMELINE = """
query($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!]) {
  node(id: $id) {
    ... on Customer {
      timeline(first: $first, after: $after, kinds: $kinds) {
        edges { cursor node { __typename ... on TimelineItem { kind visibleToCustomer data } } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}"""
MOVE = """
mutation($input: MoveOpportunityInput!) {
  moveOpportunity(input: $input) {
    __typename
    ... on OpportunitySuccess { opportunity { stage lostReason } }
    ... on ValidationError { code field }
    ... on InvalidTransitionError { code fromState toState }
    ... on UserError { code message }
  }
}"""
TASK = """
mutation($input: CreateCrmTaskInput!) {
  createCrmTask(input: $input) {
    __typename
    ... on CrmTaskSuccess { task { id title status assigneeId } }
    ... on ValidationError { code field problems { field } }
    ... on UserError { code message }
  }
}"""
MY_TASKS = "query { myTasks(first: 20) { edges { node { title kind status } } } }"


@pytest.fixture
def settings(session_tmp: Path, database_url: str) -> Settings:
    # A budget of its own for each test (the Redis buckets are shared by a test process).
    return make_settings(
        session_tmp,
        database_url,
        lead_capture_rate_limit="7/hour",
        redis_namespace=f"trama-crm-test-{uuid.uuid4().hex[:8]}",
    )


def _form(token: str, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "lender": "AUTOCREDITO",
        "formToken": token,
        "name": "Ana Rojas",
        "email": "ana.rojas@example.cl",
        "phone": "9 8765 4321",
        "product": "VEHICLE_CREDIT",
        "amount": {"amount": "12000000", "currency": "CLP"},
        "simulation": {"inputs": {"termMonths": 36}, "result": {"installment": "412345"}},
        "consent": True,
        "consentTextVersion": "2026-11",
        "utmSource": "facebook",
        "utmMedium": "social",
        "utmCampaign": "verano",
        "referrer": "https://autocredito.example/simulador",
    }
    values.update(changes)
    return values


async def _lead_count() -> int:
    async with read_session() as session:
        return int(
            (await session.execute(sa.select(sa.func.count()).select_from(CrmLead))).scalar_one()
        )


async def test_the_public_form_refuses_scripts_and_takes_people(gql: Any, db: Any) -> None:
    world = await lenders()
    await roster(world, 2)
    with clock.clock_at(clock.utcnow()) as frozen:
        issued = (await gql(TOKEN, {"l": "AUTOCREDITO"}))["data"]["leadFormToken"]
        assert issued["minSeconds"] == 3
        before = await snapshot()
        # sent at once: a script
        answer = await gql(CAPTURE, {"input": _form(issued["token"])})
        assert answer.get("data"), answer
        fast = answer["data"]["captureLead"]
        assert fast["__typename"] == "ValidationError" and fast["code"] == "FORM_REFUSED"
        assert fast["field"] == "formToken"
        # a forged token, another lender's token
        forged = (await gql(CAPTURE, {"input": _form(issued["token"][:-2] + "xx")}))["data"]
        assert forged["captureLead"]["code"] == "FORM_REFUSED"
        assert await snapshot() == before
        frozen.advance(timedelta(seconds=8))  # type: ignore[attr-defined]
        # the honeypot filled: answered like a success, nothing written
        bot = await gql(CAPTURE, {"input": _form(issued["token"], website="http://spam")})
        assert bot["data"]["captureLead"] == {
            "__typename": "CaptureLeadSuccess",
            "receipt": {"received": True},
        }
        assert await snapshot() == before
        # a bad phone: the field named, nothing written
        bad = (await gql(CAPTURE, {"input": _form(issued["token"], phone="123")}))["data"][
            "captureLead"
        ]
        assert bad["code"] == "VALIDATION" and bad["field"] == "phone"
        assert await snapshot() == before
        # a person
        ok = (await gql(CAPTURE, {"input": _form(issued["token"])}))["data"]["captureLead"]
        assert ok["__typename"] == "CaptureLeadSuccess"
        # the same person again: the same answer, no second lead
        again = await gql(CAPTURE, {"input": _form(issued["token"], phone="+56987654321")})
        assert again["data"]["captureLead"] == ok
        assert await _lead_count() == 1
        # 7 per hour per address: this was the 7th call (token included), the next is refused
        limited = await gql(CAPTURE, {"input": _form(issued["token"], email="otra@example.cl")})
        assert limited["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert await _lead_count() == 1


async def test_advisors_see_their_lenders_leads_and_nobody_elses(
    gql: Any, token: Any, db: Any
) -> None:
    world = await lenders()
    await roster(world, 1)
    from domain.crm import leads
    from tests.domain.crm.conftest import lead_input

    async with transaction() as session:
        capture = await leads.capture_lead(session, data=lead_input(world))
    assert capture.lead is not None
    gid = encode_node_id("Lead", capture.lead.id)
    mine = token("advisor", partner="AUTOCREDITO", subject="adv-1")
    other = token("supervisor", partner="OTRO_LENDER", subject="x")
    listed = (await gql(LEADS, token=mine))["data"]["crmLeads"]["edges"]
    assert [e["node"]["phone"] for e in listed] == ["+56987654321"]
    assert (await gql(LEAD, {"id": gid}, token=mine))["data"]["lead"]["name"] == "Ana Rojas"
    assert (await gql(LEADS, token=other))["data"]["crmLeads"]["edges"] == []
    assert (await gql(LEAD, {"id": gid}, token=other))["data"]["lead"] is None
    node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": gid}, token=other)
    assert node["data"]["node"] is None
    # a bank's agent has no CRM at all
    bank = token("agent", partner="BANCO_ANDINO")
    assert (await gql(LEADS, token=bank))["data"]["crmLeads"]["edges"] == []
    assert (await gql(LEAD, {"id": gid}, token=bank))["data"]["lead"] is None
    anonymous = await gql(LEADS)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_opportunities_and_tasks_refuse_bad_moves_with_codes(
    gql: Any, token: Any, db: Any
) -> None:
    world = await lenders()
    await roster(world, 1)
    from domain.crm import leads
    from tests.domain.crm.conftest import lead_input

    async with transaction() as session:
        capture = await leads.capture_lead(session, data=lead_input(world))
    assert capture.opportunity is not None and capture.lead is not None
    opp = encode_node_id("Opportunity", capture.opportunity.id)
    mine = token("advisor", partner="AUTOCREDITO", subject="adv-1")
    before = await snapshot()
    unknown = await gql(MOVE, {"input": {"opportunityId": opp, "stage": "MAYBE"}}, token=mine)
    assert unknown["data"]["moveOpportunity"]["code"] == "VALIDATION"
    assert unknown["data"]["moveOpportunity"]["field"] == "stage"
    lost = await gql(MOVE, {"input": {"opportunityId": opp, "stage": "LOST"}}, token=mine)
    assert lost["data"]["moveOpportunity"]["field"] == "lostReason"
    jump = await gql(MOVE, {"input": {"opportunityId": opp, "stage": "WON"}}, token=mine)
    assert jump["data"]["moveOpportunity"]["code"] == "INVALID_TRANSITION"
    other = token("supervisor", partner="OTRO_LENDER", subject="x")
    theirs = await gql(MOVE, {"input": {"opportunityId": opp, "stage": "CONTACTED"}}, token=other)
    assert theirs["data"]["moveOpportunity"]["code"] == "NOT_FOUND"
    past = clock.utcnow() - timedelta(hours=1)
    lender_gid = encode_node_id("Partner", world.lender)
    late = await gql(
        TASK,
        {
            "input": {
                "lenderId": lender_gid,
                "title": "Llamar",
                "dueAt": past.isoformat(),
                "leadId": encode_node_id("Lead", capture.lead.id),
            }
        },
        token=mine,
    )
    assert late["data"]["createCrmTask"]["code"] == "VALIDATION"
    assert late["data"]["createCrmTask"]["field"] == "dueAt"
    assert await snapshot() == before
    moved = await gql(MOVE, {"input": {"opportunityId": opp, "stage": "CONTACTED"}}, token=mine)
    assert moved["data"]["moveOpportunity"]["opportunity"]["stage"] == "CONTACTED"
    due = (clock.utcnow() + timedelta(days=1)).isoformat()
    made = await gql(
        TASK,
        {
            "input": {
                "lenderId": lender_gid,
                "title": "Enviar cotización",
                "dueAt": due,
                "opportunityId": opp,
            }
        },
        token=mine,
    )
    assert made["data"]["createCrmTask"]["task"]["status"] == "OPEN"
    titles = {
        e["node"]["title"] for e in (await gql(MY_TASKS, token=mine))["data"]["myTasks"]["edges"]
    }
    assert titles == {"Primer contacto", "Enviar cotización"}


async def test_the_customer_timeline_pages_and_shows_each_viewer_their_part(
    gql: Any, token: Any, runtime: Any, db: Any
) -> None:
    world = await lenders()
    async with transaction() as session:
        customer = (
            await session.execute(sa.select(Customer).order_by(Customer.id).limit(1))
        ).scalar_one()
        start = clock.utcnow() - timedelta(days=30)
        for i in range(7):  # the lender's notes, every other one shown to the customer
            await add_timeline_item(
                session,
                subject=Party.customer(customer.id),
                kind=TimelineKind.NOTE,
                occurred_at=start + timedelta(days=i),
                visible_to_customer=i % 2 == 0,
                partner_id=world.lender,
                payload={"text": f"nota {i}"},
                source_ref=f"test:note:{i}",
            )
        await add_timeline_item(  # another partner's item: not the lender's to see
            session,
            subject=Party.customer(customer.id),
            kind=TimelineKind.CASE_EVENT,
            occurred_at=start + timedelta(days=10),
            visible_to_customer=True,
            partner_id=world.other,
            payload={"topic": "cases.opened"},
            source_ref="test:case:1",
        )
    gid = encode_node_id("Customer", customer.id)
    mine = token("advisor", partner="AUTOCREDITO", subject="adv-1")
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await gql(TIMELINE, {"id": gid, "first": 3, "after": after}, token=mine)
        timeline = page["data"]["node"]["timeline"]
        seen += [e["node"]["data"]["text"] for e in timeline["edges"]]
        pages += 1
        if not timeline["pageInfo"]["hasNextPage"]:
            break
        after = timeline["pageInfo"]["endCursor"]
    assert seen == [f"nota {i}" for i in reversed(range(7))] and pages == 3
    only_cases = await gql(TIMELINE, {"id": gid, "kinds": ["CASE_EVENT"]}, token=mine)
    assert only_cases["data"]["node"]["timeline"]["edges"] == []
    theirs = await gql(
        TIMELINE, {"id": gid}, token=token("supervisor", partner="OTRO_LENDER", subject="x")
    )
    edges = theirs["data"]["node"]["timeline"]["edges"]
    assert [e["node"]["kind"] for e in edges] == ["CASE_EVENT"]
    mine_only = (
        "query { myTimeline(first: 20) { edges { node {"
        " ... on TimelineItem { visibleToCustomer } } } } }"
    )
    own = await gql(mine_only, token=customer_token(runtime, customer.id))
    edges = own["data"]["myTimeline"]["edges"]
    assert {e["node"]["visibleToCustomer"] for e in edges} == {True}
    assert (await gql(TIMELINE, {"id": gid}, token=customer_token(runtime, customer.id)))["data"][
        "node"
    ] is None  # a customer reads their own timeline through myTimeline only
    assert len(edges) == 5  # 4 notes shown to them and the case event
    bad = await gql(TIMELINE, {"id": gid, "after": "not-a-cursor"}, token=mine)
    assert bad["errors"][0]["extensions"]["code"] == "VALIDATION"

"""Collections work through GraphQL, as the lender's people use it: a supervisor organises
(collectors, rules, strategy) and runs the day; an agent works her own list, logs contacts
and promises; every wrong input comes back as a typed error with nothing written; another
lender, a network viewer and a customer see nothing of it. A customer sees their next
installment and a payoff quote on myCredits."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from app.db import read_session
from domain.collections.work_models import Contact, Promise, QueueItem
from tests.api.credit_support import (
    customer_token,
    data,
    demo_credits,
    error_code,
    gid,
    local_today,
    partner_ids,
)

ENROLL = """
mutation E($input: EnrollCollectorInput!) {
  enrollCollector(input: $input) {
    __typename
    ... on EnrollCollectorSuccess { collector { id subject displayName active version } }
    ... on UserError { message code }
    ... on ValidationError { field }
  }
}
"""
RULES = """
mutation R($input: SetAssignmentRulesInput!) {
  setAssignmentRules(input: $input) {
    __typename
    ... on SetAssignmentRulesSuccess {
      ruleSet {
        version
        rules { name queues buckets minAmount { amount currency } collectors { subject } }
      }
    }
    ... on UserError { message code }
    ... on ValidationError { field problems { field message } }
    ... on ConflictError { currentVersion }
  }
}
"""
STRATEGY = """
mutation S($input: SetCollectionStrategyInput!) {
  setCollectionStrategy(input: $input) {
    __typename
    ... on SetCollectionStrategySuccess {
      strategy { version name horizonDays steps { code dayOffset action channels bucket } }
    }
    ... on UserError { message code }
    ... on ValidationError { field problems { field message } }
  }
}
"""
RUN = """
mutation { runCollections(input: {}) {
  __typename
  ... on RunCollectionsSuccess { summary { asOf examined opened stepsFired } }
  ... on UserError { message code }
} }
"""
QUEUE = """
query Q($filter: CollectionQueueFilter, $lender: ID) {
  collectionQueue(filter: $filter, first: 20, lenderId: $lender) {
    totalCount
    edges { node {
      id queue bucket daysPastDue amountDue { amount currency } priority version nextAction
      collector { subject }
      credit { reference }
      customer { givenNames piiMasked }
    } }
  }
}
"""
CONTACT = """
mutation C($input: LogContactInput!) {
  logContact(input: $input) {
    __typename
    ... on LogContactSuccess {
      contact { id outcome channel collector { subject } }
      promise { id status amount { amount currency } promisedDate deadline credit { reference } }
    }
    ... on UserError { message code }
    ... on ValidationError { field problems { field message } }
  }
}
"""
MY_CREDITS = """
query M($until: Date) {
  myCredits(first: 10) { edges { node {
    reference status
    nextInstallment {
      number dueDate daysPastDue amount { amount } outstanding { amount }
      overdueTotal { amount }
    }
    payoffQuote(validUntil: $until) {
      amount { amount currency } validUntil principalNotDue { amount } lateInterest { amount }
      creditBalance { amount }
    }
  } } }
}
"""


async def _counts() -> list[int]:
    async with read_session() as session:
        return [
            int((await session.execute(sa.select(sa.func.count()).select_from(m))).scalar_one())
            for m in (Contact, Promise, QueueItem)
        ]


async def test_a_supervisor_organises_and_an_agent_works_her_list(gql, token):
    supervisor = token("supervisor", partner="AUTOCREDITO", subject="supervisor@autocredito")
    agent = token("agent", partner="AUTOCREDITO", subject="agent@autocredito")
    enrolled = data(
        await gql(ENROLL, {"input": {"subject": "agent@autocredito"}}, token=supervisor),
        "enrollCollector",
    )
    assert enrolled["__typename"] == "EnrollCollectorSuccess"
    collector = enrolled["collector"]
    assert (collector["subject"], collector["active"]) == ("agent@autocredito", True)
    refused = data(
        await gql(ENROLL, {"input": {"subject": "agent@bancoandino"}}, token=supervisor),
        "enrollCollector",
    )
    assert (refused["__typename"], refused["field"]) == ("ValidationError", "subject")
    by_agent = data(
        await gql(ENROLL, {"input": {"subject": "agent@autocredito"}}, token=agent),
        "enrollCollector",
    )
    assert by_agent["__typename"] == "ForbiddenError"

    rules = {
        "rules": [
            {
                "name": "Toda la mora",
                "queues": ["PAST_DUE", "BROKEN_PROMISE"],
                "collectorIds": [collector["id"]],
                "minAmount": {"amount": "1", "currency": "CLP"},
            },
        ],
        "expectedVersion": 0,
    }
    saved = data(await gql(RULES, {"input": rules}, token=supervisor), "setAssignmentRules")
    assert saved["ruleSet"]["version"] == 1
    assert saved["ruleSet"]["rules"][0]["collectors"] == [{"subject": "agent@autocredito"}]
    stale = data(await gql(RULES, {"input": rules}, token=supervisor), "setAssignmentRules")
    assert (stale["__typename"], stale["currentVersion"]) == ("ConflictError", 1)
    strategy = {
        "name": "Cobranza temprana",
        "steps": [
            {"code": "RECORDATORIO", "dayOffset": -5, "action": "REMINDER", "channels": ["EMAIL"]},
            {"code": "LLAMADA", "dayOffset": 3, "action": "CALL", "channels": []},
            {
                "code": "CARTA",
                "dayOffset": 45,
                "action": "LETTER",
                "channels": ["EMAIL", "WEBHOOK"],
            },
        ],
        "promiseGraceDays": 2,
        "expectedVersion": 0,
    }
    made = data(await gql(STRATEGY, {"input": strategy}, token=supervisor), "setCollectionStrategy")
    assert made["strategy"]["version"] == 1 and made["strategy"]["horizonDays"] == 5
    assert [s["bucket"] for s in made["strategy"]["steps"]] == [
        "CURRENT",
        "DAYS_1_30",
        "DAYS_31_60",
    ]

    run = data(await gql(RUN, token=supervisor), "runCollections")
    assert run["__typename"] == "RunCollectionsSuccess" and run["summary"]["opened"] >= 1
    again = data(await gql(RUN, token=supervisor), "runCollections")
    assert (again["summary"]["opened"], again["summary"]["stepsFired"]) == (0, 0)

    mine = data(
        await gql(QUEUE, {"filter": {"assignedToMe": True}}, token=agent), "collectionQueue"
    )
    demo = await demo_credits()
    late = demo["FJRW83"]  # the seed's delinquent credit
    items = [e["node"] for e in mine["edges"]]
    assert mine["totalCount"] == len(items) >= 1
    item = next(i for i in items if i["credit"]["reference"] == late.reference)
    assert item["queue"] == "PAST_DUE" and item["collector"] == {"subject": "agent@autocredito"}
    assert item["customer"]["piiMasked"] is False  # the lender's own customer, in clear
    # the most advanced step reached fires (the letter at 45 days, else the call at 3)
    assert item["nextAction"] == ("LETTER" if item["daysPastDue"] >= 45 else "CALL")
    assert all(i["priority"] <= j["priority"] for i, j in itertools.pairwise(items))

    promised = str(local_today() + timedelta(days=5))
    logged = data(
        await gql(
            CONTACT,
            {
                "input": {
                    "creditId": gid("Credit", late.id),
                    "channel": "PHONE",
                    "outcome": "PROMISE_TO_PAY",
                    "note": "Paga el lunes",
                    "promise": {
                        "amount": {"amount": "100000", "currency": "CLP"},
                        "promisedDate": promised,
                    },
                }
            },
            token=agent,
        ),
        "logContact",
    )
    assert logged["__typename"] == "LogContactSuccess"
    assert logged["contact"]["collector"] == {"subject": "agent@autocredito"}
    assert logged["promise"]["status"] == "OPEN"
    assert logged["promise"]["deadline"] == str(local_today() + timedelta(days=7))
    listed = data(
        await gql(
            "{ promisesToPay(first: 5) { edges { node {"
            " id status credit { reference } collector { subject } } } } }",
            token=agent,
        ),
        "promisesToPay",
    )
    assert listed["edges"][0]["node"]["credit"]["reference"] == late.reference


async def test_wrong_contacts_are_refused_with_nothing_written(gql, token):
    agent = token("agent", partner="AUTOCREDITO")
    demo = await demo_credits()
    late = gid("Credit", demo["FJRW83"].id)
    pampa = gid("Credit", demo["AB123CD"].id)  # another lender's credit
    before = await _counts()
    cases = [
        (
            {"creditId": late, "channel": "PHONE", "outcome": "PROMISE_TO_PAY"},
            "ValidationError",
            "promise",
        ),
        (
            {"creditId": "nope", "channel": "PHONE", "outcome": "NO_ANSWER"},
            "ValidationError",
            "creditId",
        ),
        ({"creditId": pampa, "channel": "PHONE", "outcome": "NO_ANSWER"}, "NotFoundError", None),
        (
            {
                "creditId": late,
                "channel": "PHONE",
                "outcome": "CONTACTED",
                "note": "tarjeta 4111111111111111",
            },
            "ValidationError",
            "note",
        ),
        (
            {
                "creditId": late,
                "channel": "PHONE",
                "outcome": "PROMISE_TO_PAY",
                "promise": {
                    "amount": {"amount": "10.5", "currency": "CLP"},
                    "promisedDate": str(local_today()),
                },
            },
            "ValidationError",
            "promise.amount.amount",
        ),
        (
            {
                "creditId": late,
                "channel": "PHONE",
                "outcome": "PROMISE_TO_PAY",
                "promise": {
                    "amount": {"amount": "1000", "currency": "USD"},
                    "promisedDate": str(local_today()),
                },
            },
            "ValidationError",
            "promise.amount.currency",
        ),
    ]
    for variables, typename, field in cases:
        answer = data(await gql(CONTACT, {"input": variables}, token=agent), "logContact")
        assert answer["__typename"] == typename, (variables, answer)
        if field is not None:
            assert answer["field"] == field, answer
    assert await _counts() == before


async def test_other_lenders_viewers_and_customers_see_nothing(gql, token, runtime):
    ids = await partner_ids()
    outsider = token("supervisor", partner="BANCO_ANDINO")
    own = data(await gql(QUEUE, {}, token=outsider), "collectionQueue")
    assert own["totalCount"] == 0
    body = await gql(QUEUE, {"lender": gid("Partner", ids["AUTOCREDITO"])}, token=outsider)
    assert error_code(body) == "FORBIDDEN"
    viewer = token("network_viewer")
    assert error_code(await gql(QUEUE, {}, token=viewer)) == "FORBIDDEN"
    admin = token("admin")
    assert error_code(await gql(QUEUE, {}, token=admin)) == "VALIDATION"  # name the lender
    listed = data(
        await gql(QUEUE, {"lender": gid("Partner", ids["AUTOCREDITO"])}, token=admin),
        "collectionQueue",
    )
    assert listed["totalCount"] == 0  # no run yet
    demo = await demo_credits()
    customer = customer_token(runtime, demo["FJRW83"].customer_id)
    assert error_code(await gql(QUEUE, {}, token=customer)) == "FORBIDDEN"


async def test_a_customer_sees_the_next_installment_and_a_payoff_quote(gql, runtime):
    demo = await demo_credits()
    late = demo["FJRW83"]
    customer = customer_token(runtime, late.customer_id)
    until = str(local_today() + timedelta(days=10))
    body = await gql(MY_CREDITS, {"until": until}, token=customer)
    nodes = {e["node"]["reference"]: e["node"] for e in data(body, "myCredits")["edges"]}
    mine = nodes[late.reference]
    upcoming = mine["nextInstallment"]
    assert upcoming["number"] == 3 and upcoming["daysPastDue"] > 0
    assert Decimal(upcoming["outstanding"]["amount"]) > 0
    assert Decimal(upcoming["overdueTotal"]["amount"]) >= Decimal(upcoming["outstanding"]["amount"])
    quote = mine["payoffQuote"]
    assert quote["validUntil"] == until and quote["amount"]["currency"] == "CLP"
    assert Decimal(quote["amount"]["amount"]) > Decimal(quote["principalNotDue"]["amount"]) > 0
    assert Decimal(quote["lateInterest"]["amount"]) > 0
    # a date out of range: the quote is null with a coded error, the rest still answers
    far = await gql(MY_CREDITS, {"until": str(local_today() + timedelta(days=120))}, token=customer)
    assert far["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert far["data"]["myCredits"]["edges"][0]["node"]["reference"]

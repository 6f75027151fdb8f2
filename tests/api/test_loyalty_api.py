"""Loyalty through GraphQL as its users would: the bank's staff enrol members and record the
card platform's purchases, the worker accrues them, members read their own balances and
movements, rewards are redeemed, and every bad input is refused with its code and nothing
written."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from app.db import transaction
from domain.loyalty import accrual
from domain.shared import time as clock
from resolvers.ids import encode_node_id
from tests.api.credit_support import customer_token
from tests.domain.loyalty.conftest import RULES, make_program, snapshot

ENROLL = """
mutation($input: EnrollLoyaltyMemberInput!) {
  enrollLoyaltyMember(input: $input) {
    __typename
    ... on LoyaltyAccountSuccess { account { id number } }
    ... on UserError { code message }
  }
}"""
RECORD = """
mutation($input: RecordPurchasesInput!) {
  recordPurchases(input: $input) {
    __typename
    ... on RecordPurchasesSuccess { accepted duplicates }
    ... on ValidationError { code field problems { field message } }
    ... on UserError { code message }
  }
}"""
ACCOUNT = """
query($id: ID!, $first: Int, $after: String, $asOf: DateTime) {
  loyaltyAccount(id: $id) {
    number tier
    program { code unitName tiers { code } }
    customer { piiMasked }
    balance { available pending debt total liability { amount currency } }
    past: balance(asOf: $asOf) { available }
    movements(first: $first, after: $after) {
      totalCount
      edges { cursor node { kind points source sourceRef ruleSetVersion explanation } }
      pageInfo { hasNextPage endCursor }
    }
    lots { edges { node { points remaining availableOn expiresOn } } }
  }
}"""
REDEEM = """
mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) {
    __typename
    ... on RedeemRewardSuccess { redemption { points status } balance { available } }
    ... on UserError { code message }
  }
}"""
REWARD = """
mutation($input: CreateLoyaltyRewardInput!) {
  createLoyaltyReward(input: $input) {
    __typename
    ... on LoyaltyRewardSuccess { reward { id code stock } }
    ... on UserError { code message }
  }
}"""


async def _setup(gql: Any, token: Any) -> dict[str, Any]:
    world = await make_program()
    staff = token("supervisor", partner="BANCO_PAMPA")
    program = encode_node_id("LoyaltyProgram", world.program_id)
    members = []
    for i in range(2):
        body = await gql(
            ENROLL,
            {
                "input": {
                    "programId": program,
                    "customerId": encode_node_id("Customer", world.customers[i]),
                    "segments": ["joven"],
                }
            },
            token=staff,
        )
        members.append(body["data"]["enrollLoyaltyMember"]["account"])
    return {"world": world, "staff": staff, "program": program, "members": members}


def _purchase(key: str, member: str, amount: str, **kw: Any) -> dict[str, Any]:
    when = clock.utcnow() - timedelta(days=kw.pop("days_ago", 1))
    return {
        "externalId": key,
        "memberNumber": member,
        "amount": amount,
        "currency": "ARS",
        "occurredAt": clock.isoformat(when),
        **kw,
    }


async def test_purchases_accrue_and_members_read_their_points(
    gql: Any, token: Any, runtime: Any
) -> None:
    s = await _setup(gql, token)
    number = s["members"][0]["number"]
    batch = [
        _purchase("TX-1", number, "15000.00", mcc="5411", channel="POS"),
        _purchase("TX-2", number, "800.00", mcc="5812", days_ago=2),
    ]
    body = await gql(
        RECORD,
        {"input": {"programId": s["program"], "purchases": batch}},
        token=token("partner_system", partner="BANCO_PAMPA"),
    )
    assert body["data"]["recordPurchases"] == {
        "__typename": "RecordPurchasesSuccess",
        "accepted": 2,
        "duplicates": 0,
    }
    again = await gql(
        RECORD, {"input": {"programId": s["program"], "purchases": batch}}, token=s["staff"]
    )
    assert again["data"]["recordPurchases"]["duplicates"] == 2
    async with transaction() as session:
        await accrual.accrue_batch(session)
    account = s["members"][0]["id"]
    body = await gql(
        ACCOUNT,
        {"id": account, "first": 1, "asOf": clock.isoformat(clock.utcnow() - timedelta(days=3))},
        token=s["staff"],
    )
    data = body["data"]["loyaltyAccount"]
    assert data["balance"]["available"] == "308" and data["balance"]["pending"] == "0"
    assert data["balance"]["liability"] == {"amount": "154.00", "currency": "ARS"}
    assert data["past"]["available"] == "0"
    assert data["movements"]["totalCount"] == 2
    first = data["movements"]["edges"][0]["node"]
    assert first["source"] == "PURCHASE" and first["ruleSetVersion"] == 1
    assert first["explanation"]["rate"]["rule"] == "supermercados"
    nxt = await gql(
        ACCOUNT,
        {"id": account, "first": 1, "after": data["movements"]["pageInfo"]["endCursor"]},
        token=s["staff"],
    )
    assert nxt["data"]["loyaltyAccount"]["movements"]["edges"][0]["node"]["sourceRef"] == "TX-2"
    # the member reads their own accounts, and nobody else's
    me = customer_token(runtime, s["world"].customers[0])
    mine = await gql(
        "{ myLoyaltyAccounts { number balance { available } program { code } } }", token=me
    )
    assert mine["data"]["myLoyaltyAccounts"] == [
        {"number": number, "balance": {"available": "308"}, "program": {"code": "TEST_PUNTOS"}}
    ]
    other = await gql(ACCOUNT, {"id": s["members"][1]["id"]}, token=me)
    assert other["data"]["loyaltyAccount"] is None
    # another partner's staff does not see the account; the customer's record lists it
    stranger = await gql(ACCOUNT, {"id": account}, token=token("agent", partner="BANCO_ANDINO"))
    assert stranger["data"]["loyaltyAccount"] is None
    customer = encode_node_id("Customer", s["world"].customers[0])
    listed = await gql(
        "query($id: ID!) { node(id: $id) { ... on Customer {"
        " piiMasked loyaltyAccounts { number } } } }",
        {"id": customer},
        token=s["staff"],
    )
    assert listed["data"]["node"] == {"piiMasked": False, "loyaltyAccounts": [{"number": number}]}
    entities = await gql(
        "query($r: [_Any!]!) { _entities(representations: $r) {"
        " ... on LoyaltyAccount { number } } }",
        {"r": [{"__typename": "LoyaltyAccount", "id": account}]},
        token=s["staff"],
    )
    assert entities["data"]["_entities"] == [{"number": number}]


async def test_redemptions_and_refusals_with_codes(gql: Any, token: Any) -> None:
    s = await _setup(gql, token)
    account = s["members"][0]["id"]
    adjust = await gql(
        """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
             __typename ... on AdjustPointsSuccess {
               movement { actor source explanation } balance { available } }
             ... on UserError { code } } }""",
        {"input": {"accountId": account, "points": "500", "reason": "Compensación reclamo 123"}},
        token=s["staff"],
    )
    result = adjust["data"]["adjustPoints"]
    assert result["balance"]["available"] == "500"
    assert result["movement"]["source"] == "MANUAL"
    assert result["movement"]["actor"] == "test:supervisor@BANCO_PAMPA"  # the person
    assert result["movement"]["explanation"]["reason"] == "Compensación reclamo 123"
    made = await gql(
        REWARD,
        {
            "input": {
                "programId": s["program"],
                "code": "CAFE",
                "reward": {"name": "Café", "costPoints": "200", "stock": 1},
            }
        },
        token=s["staff"],
    )
    reward = made["data"]["createLoyaltyReward"]["reward"]["id"]
    ok = await gql(REDEEM, {"input": {"accountId": account, "rewardId": reward}}, token=s["staff"])
    assert ok["data"]["redeemReward"]["balance"] == {"available": "300"}
    before = await snapshot()
    out = await gql(REDEEM, {"input": {"accountId": account, "rewardId": reward}}, token=s["staff"])
    assert out["data"]["redeemReward"]["code"] == "OUT_OF_STOCK"
    big = await gql(
        REWARD,
        {
            "input": {
                "programId": s["program"],
                "code": "TV",
                "reward": {"name": "TV", "costPoints": "90000"},
            }
        },
        token=s["staff"],
    )
    before = await snapshot()
    short = await gql(
        REDEEM,
        {
            "input": {
                "accountId": account,
                "rewardId": big["data"]["createLoyaltyReward"]["reward"]["id"],
            }
        },
        token=s["staff"],
    )
    assert short["data"]["redeemReward"]["code"] == "INSUFFICIENT_POINTS"
    overlap = await gql(
        """mutation($input: CreateLoyaltyRuleSetInput!) { createLoyaltyRuleSet(input: $input) {
             __typename ... on UserError { code } } }""",
        {
            "input": {
                "programId": s["program"],
                "name": "Otra",
                "effectiveFrom": "2026-03-01",
                "document": RULES,
            }
        },
        token=s["staff"],
    )
    assert overlap["data"]["createLoyaltyRuleSet"]["code"] == "OVERLAPPING_DATES"
    bad_rules = copy.deepcopy(RULES)
    bad_rules["earn"]["rules"][0]["match"]["mcc"] = ["54X1"]
    invalid = await gql(
        """mutation($input: CreateLoyaltyRuleSetInput!) { createLoyaltyRuleSet(input: $input) {
             __typename ... on ValidationError { code field } } }""",
        {
            "input": {
                "programId": s["program"],
                "name": "Mala",
                "effectiveFrom": "2030-01-01",
                "document": bad_rules,
            }
        },
        token=s["staff"],
    )
    assert invalid["data"]["createLoyaltyRuleSet"] == {
        "__typename": "ValidationError",
        "code": "VALIDATION",
        "field": "document.earn.rules[0].match.mcc[0]",
    }
    number = s["members"][0]["number"]
    bad = await gql(
        RECORD,
        {
            "input": {
                "programId": s["program"],
                "purchases": [
                    _purchase("TX-9", number, "10.00", mcc="541"),
                    _purchase("TX-10", number, "10.00", merchantName="tarjeta 4111 1111 1111 1111"),
                ],
            }
        },
        token=s["staff"],
    )
    problems = {p["field"] for p in bad["data"]["recordPurchases"]["problems"]}
    assert problems == {"purchases[0].mcc", "purchases[1].merchantName"}
    # an agent may not adjust by hand; a customer may not redeem someone else's points
    denied = await gql(
        """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
             __typename ... on UserError { code } } }""",
        {"input": {"accountId": account, "points": "5", "reason": "x"}},
        token=token("agent", partner="BANCO_PAMPA"),
    )
    assert denied["data"]["adjustPoints"]["code"] == "FORBIDDEN"
    assert await snapshot() == before


async def test_transfer_and_simulation(gql: Any, token: Any) -> None:
    s = await _setup(gql, token)
    a, b = s["members"]
    await gql(
        """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { __typename } }""",
        {"input": {"accountId": a["id"], "points": "1000", "reason": "bienvenida"}},
        token=s["staff"],
    )
    moved = await gql(
        """mutation($input: TransferPointsInput!) { transferPoints(input: $input) {
             __typename ... on TransferPointsSuccess {
               fromBalance { available } toBalance { available } }
             ... on UserError { code } } }""",
        {"input": {"fromAccountId": a["id"], "toMemberNumber": b["number"], "points": "400"}},
        token=s["staff"],
    )
    assert moved["data"]["transferPoints"]["fromBalance"] == {"available": "600"}
    assert moved["data"]["transferPoints"]["toBalance"] == {"available": "400"}
    await gql(
        RECORD,
        {
            "input": {
                "programId": s["program"],
                "purchases": [
                    _purchase("SIM-1", a["number"], "20000.00", mcc="5411"),
                    _purchase("SIM-2", b["number"], "20000.00", mcc="5999"),
                ],
            }
        },
        token=s["staff"],
    )
    async with transaction() as session:
        await accrual.accrue_batch(session)
    draft = copy.deepcopy(RULES)
    draft["earn"]["base"]["points"] = "3"
    today = clock.local_today("America/Argentina/Buenos_Aires")
    sim = await gql(
        """query($p: ID!, $r: JSON!, $period: LoyaltyPeriodInput!) {
             simulateLoyaltyRules(programId: $p, ruleSet: $r, period: $period) {
               purchases currentPoints draftPoints difference liabilityDifference { amount }
               topMembers { number difference } scenarios { key difference } } }""",
        {
            "p": s["program"],
            "r": draft,
            "period": {"from": (today - timedelta(days=7)).isoformat(), "until": today.isoformat()},
        },
        token=s["staff"],
    )
    result = sim["data"]["simulateLoyaltyRules"]
    assert result["purchases"] == 2
    assert result["difference"] == "400"  # 200 base points became 600
    assert result["topMembers"][0] == {"number": b["number"], "difference": "400"}
    assert result["liabilityDifference"] == {"amount": "200.00"}
    # the same draft over one member only
    one = await gql(
        """query($p: ID!, $r: JSON!, $period: LoyaltyPeriodInput!, $m: [ID!]) {
             simulateLoyaltyRules(programId: $p, ruleSet: $r, period: $period, members: $m) {
               purchases difference topMembers { number difference } } }""",
        {
            "p": s["program"],
            "r": draft,
            "period": {"from": (today - timedelta(days=7)).isoformat(), "until": today.isoformat()},
            "m": [b["id"]],
        },
        token=s["staff"],
    )
    assert one["data"]["simulateLoyaltyRules"] == {
        "purchases": 1,
        "difference": "400",
        "topMembers": [{"number": b["number"], "difference": "400"}],
    }

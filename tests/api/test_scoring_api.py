"""Scoring over GraphQL: scorecards for the lender's staff, activation by `scoring:manage`,
refused cards with their codes and nothing written, a decision in full for the staff and
its reasons only for the applicant, the score dashboard."""

from __future__ import annotations

import copy
from typing import Any

import sqlalchemy as sa

from app.db import read_session, transaction
from domain.scoring import run, service
from domain.scoring.defaults import reference_document
from domain.scoring.models import Scorecard
from tests.api.credit_support import customer_token, data, gid
from tests.domain.scoring.conftest import lender as lender
from tests.domain.scoring.conftest import make_application as make_application
from tests.domain.scoring.conftest import other_partner as other_partner

CARDS = """
query($lender: ID) { scorecards(lenderId: $lender, first: 10) {
  items { id version status rowVersion baseScore pdo approveAt referAt
          grades { grade minScore annualRate maxTermMonths } }
  hasNextPage } }
"""
CARD = """
query($id: ID!) { scorecard(id: $id) {
  id attributes { code reasonEs bins { label points missing } } } }
"""
CREATE = """
mutation($input: CreateScorecardInput!) { createScorecard(input: $input) {
  __typename
  ... on ScorecardSuccess { scorecard { id version status rowVersion } }
  ... on ValidationError { code field problems { field message } }
  ... on ForbiddenError { code }
} }
"""
ACTIVATE = """
mutation($input: ChangeScorecardInput!) { %s(input: $input) {
  __typename
  ... on ScorecardSuccess { scorecard { id status } }
  ... on InvalidTransitionError { code fromState toState }
  ... on ConflictError { code }
} }
"""
DECISION = """
query($id: ID!) { scoringDecision(id: $id) {
  outcome grade reasons { code textEs textEn gap } total pd attributes { code bin points }
  bureauStatus inputs } }
"""
ANALYTICS = """
query($lender: ID!, $from: DateTime!, $to: DateTime!) {
  scoreAnalytics(lenderId: $lender, period: {from: $from, to: $to}) {
    applications scorecardVersion psiRows
    grades { grade applications approvals referrals rejections credits delinquencyRate }
    psi { name psi band } } }
"""


async def test_staff_read_and_manage_scorecards(
    gql: Any, token: Any, lender: Any, other_partner: Any
) -> None:
    agent = token("agent", partner=lender.code)
    boss = token("supervisor", partner=lender.code)
    body = data(await gql(CARDS, {"lender": gid("Partner", lender.id)}, token=agent), "scorecards")
    (active,) = [c for c in body["items"] if c["status"] == "ACTIVE"]
    assert active["grades"][0] == {
        "grade": "A",
        "minScore": 690,
        "annualRate": "0.1290",
        "maxTermMonths": 72,
    }
    card = data(await gql(CARD, {"id": active["id"]}, token=agent), "scorecard")
    assert card["attributes"][0]["bins"][-1] == {"label": "MISSING", "points": 70, "missing": True}
    assert card["attributes"][0]["reasonEs"].startswith("Su puntaje")
    others = data(
        await gql(CARDS, {}, token=token("agent", partner=other_partner.code)), "scorecards"
    )
    assert active["id"] not in [c["id"] for c in others["items"]]
    anonymous = await gql(CARDS, {})
    assert anonymous["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHENTICATED")

    async with read_session() as session:
        before = await session.scalar(sa.select(sa.func.count()).select_from(Scorecard))
    bad = copy.deepcopy(reference_document())
    bad["attributes"][0]["bins"][1]["min"] = "480"
    bad["cutoffs"] = {"approve": 500, "refer": 600}
    refused = data(
        await gql(
            CREATE,
            {"input": {"lenderId": gid("Partner", lender.id), "name": "x", "document": bad}},
            token=boss,
        ),
        "createScorecard",
    )
    assert refused["__typename"] == "ValidationError" and refused["code"] == "SCORECARD_INVALID"
    messages = sorted(p["message"].split(":")[0] for p in refused["problems"])
    assert messages == ["BINS_OVERLAP", "CUTOFFS_ORDER"]
    forbidden = data(
        await gql(
            CREATE,
            {
                "input": {
                    "lenderId": gid("Partner", lender.id),
                    "name": "x",
                    "document": reference_document(),
                }
            },
            token=agent,
        ),
        "createScorecard",
    )
    assert forbidden == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}
    async with read_session() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Scorecard)) == before

    created = data(
        await gql(
            CREATE,
            {
                "input": {
                    "lenderId": gid("Partner", lender.id),
                    "name": "v2",
                    "document": reference_document(),
                }
            },
            token=boss,
        ),
        "createScorecard",
    )["scorecard"]
    assert created["status"] == "DRAFT"
    change = {"input": {"id": created["id"], "rowVersion": created["rowVersion"]}}
    done = data(await gql(ACTIVATE % "activateScorecard", change, token=boss), "activateScorecard")
    assert done["scorecard"]["status"] == "ACTIVE"
    stale = data(await gql(ACTIVATE % "activateScorecard", change, token=boss), "activateScorecard")
    assert stale["__typename"] == "ConflictError"
    retired = data(
        await gql(ACTIVATE % "retireScorecard", {"input": {"id": created["id"]}}, token=boss),
        "retireScorecard",
    )
    assert retired["scorecard"]["status"] == "RETIRED"
    again = data(
        await gql(ACTIVATE % "retireScorecard", {"input": {"id": created["id"]}}, token=boss),
        "retireScorecard",
    )
    assert again["__typename"] == "InvalidTransitionError"


async def test_decision_for_staff_and_applicant(
    gql: Any, token: Any, runtime: Any, lender: Any, other_partner: Any, make_application: Any
) -> None:
    app = await make_application()

    async def noop(session: Any, **kwargs: Any) -> None:
        return None

    result = await run.score_application(
        app.id, read=read_session, write=transaction, bureau=None, apply_decision=noop
    )
    variables = {"id": str(result.decision_id)}
    staff = data(
        await gql(DECISION, variables, token=token("agent", partner=lender.code)), "scoringDecision"
    )
    assert staff["outcome"] == "REFER" and staff["bureauStatus"] == "UNAVAILABLE"
    assert staff["reasons"][0]["code"] == "BUREAU_UNAVAILABLE"
    assert staff["total"] == sum(a["points"] for a in staff["attributes"])
    assert staff["inputs"]["monthly_income"] == "1500000"
    mine = data(
        await gql(DECISION, variables, token=customer_token(runtime, app.customer_id)),
        "scoringDecision",
    )
    assert mine["reasons"] == staff["reasons"] and mine["reasons"][0]["textEs"]
    assert mine["total"] is None and mine["pd"] is None and mine["attributes"] is None
    assert mine["inputs"] is None and mine["bureauStatus"] is None
    other = await gql(DECISION, variables, token=token("agent", partner=other_partner.code))
    assert other["data"]["scoringDecision"] is None

    async with read_session() as session:
        active = await service.active_scorecard(session, lender_id=lender.id)
    assert active is not None
    since = (result_at := app.submitted_at).replace(year=result_at.year - 1)
    board = data(
        await gql(
            ANALYTICS,
            {
                "lender": gid("Partner", lender.id),
                "from": since.isoformat(),
                "to": result_at.replace(year=result_at.year + 1).isoformat(),
            },
            token=token("agent", partner=lender.code),
        ),
        "scoreAnalytics",
    )
    assert board["applications"] == 1 and board["scorecardVersion"] == active.version
    assert sum(g["referrals"] for g in board["grades"]) == 1
    assert board["psiRows"] == 1 and board["psi"][0]["name"] == "SCORE"
    assert {line["band"] for line in board["psi"]} <= {"STABLE", "SHIFT", "UNSTABLE"}
    refused = await gql(
        ANALYTICS,
        {"lender": gid("Partner", lender.id), "from": since.isoformat(), "to": since.isoformat()},
        token=token("agent", partner=lender.code),
    )
    assert refused["errors"][0]["extensions"]["code"] == "VALIDATION"
    forbidden = await gql(
        ANALYTICS,
        {
            "lender": gid("Partner", lender.id),
            "from": since.isoformat(),
            "to": result_at.isoformat(),
        },
        token=token("agent", partner=other_partner.code),
    )
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"

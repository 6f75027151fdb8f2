"""Scoring's events: scorecard versions changing state, and decisions recorded.

Every event goes to the lender. No personal data: decisions carry the application and the
lender by global id, the outcome, the grade and the customer-safe reason codes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.scoring.models import Scorecard, ScorecardStatus, ScoringDecision
from domain.shared import event_schemas as wire
from domain.shared import outbox
from domain.shared.event_schemas import EventSpec, array, enum, integer, nullable, obj, ref, string

_AUDIENCE = "The lender."

_CARD = {
    "scorecardId": ref("Uuid"),
    "lenderId": ref("PartnerId"),
    "version": integer(minimum=1),
    "status": enum(ScorecardStatus),
    "occurredAt": ref("DateTime"),
}

EVENTS = (
    EventSpec(
        topic="scoring.scorecard_created",
        summary="A scorecard version was stored as a draft (written or fitted).",
        key="The lender's global id.",
        audience=_AUDIENCE,
        payload=obj("The new draft.", {**_CARD, "source": string()}),
    ),
    EventSpec(
        topic="scoring.scorecard_activated",
        summary="A scorecard version became the lender's active one (the previous retired).",
        key="The lender's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The version now active and the one it replaced.",
            {**_CARD, "retiredScorecardId": nullable(ref("Uuid"))},
        ),
    ),
    EventSpec(
        topic="scoring.scorecard_retired",
        summary="A scorecard version was retired.",
        key="The lender's global id.",
        audience=_AUDIENCE,
        payload=obj("The retired version.", dict(_CARD)),
    ),
    EventSpec(
        topic="scoring.application_scored",
        summary="An application was scored (the decision record is stored).",
        key="The application's id.",
        audience=_AUDIENCE,
        payload=obj(
            "The decision, without its inputs.",
            {
                "decisionId": ref("Uuid"),
                "applicationId": ref("Uuid"),
                "lenderId": ref("PartnerId"),
                "scorecardVersion": integer(minimum=1),
                "outcome": enum(["approve", "refer", "reject"]),
                "grade": nullable(string()),
                "reasons": array(string(), "Customer-safe reason codes, costliest first."),
                "bureauStatus": enum(["OK", "UNAVAILABLE"]),
                "occurredAt": ref("DateTime"),
            },
        ),
    ),
)


def emit_card(session: AsyncSession, topic: str, card: Scorecard, **extra: Any) -> None:
    outbox.add(
        session,
        topic,
        {
            "scorecardId": str(card.id),
            "lenderId": wire.global_id("Partner", card.lender_id),
            "version": card.version,
            "status": card.status,
            "occurredAt": wire.instant(card.activated_at or card.retired_at or card.created_at)
            if topic != "scoring.scorecard_retired"
            else wire.instant(card.retired_at or card.created_at),
            **extra,
        },
        partner_ids=[card.lender_id],
        key=wire.global_id("Partner", card.lender_id),
    )


def emit_decision(session: AsyncSession, decision: ScoringDecision) -> None:
    outbox.add(
        session,
        "scoring.application_scored",
        {
            "decisionId": str(decision.id),
            "applicationId": str(decision.application_id),
            "lenderId": wire.global_id("Partner", decision.lender_id),
            "scorecardVersion": decision.scorecard_version,
            "outcome": decision.outcome,
            "grade": decision.grade,
            "reasons": [r["code"] for r in decision.reasons],
            "bureauStatus": decision.bureau_status,
            "occurredAt": wire.instant(decision.created_at),
        },
        partner_ids=[decision.lender_id],
        key=str(decision.application_id),
    )

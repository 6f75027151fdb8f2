"""Loyalty's events: topics, keys and payload schemas (see domain/shared/event_schemas.py).

Every event goes to the program's partner. Points are integers; ``entryId`` is the plain id
of the ledger entry (``LoyaltyMovement.id`` in the API). No personal data: members by the
account's global id only.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty.models import (
    AccountStatus,
    EntryKind,
    ExpiryPolicy,
    LoyaltyProgram,
    RuleSetStatus,
)
from domain.shared import event_schemas as wire
from domain.shared import outbox
from domain.shared.event_schemas import (
    EventSpec,
    Schema,
    array,
    boolean,
    enum,
    integer,
    nullable,
    obj,
    ref,
    string,
)

_AUDIENCE = "The program's partner."
_ACCOUNT_KEY = "The loyalty account's global id."
_PROGRAM = {"programId": ref("LoyaltyProgramId")}
_ACCOUNT = {**_PROGRAM, "accountId": ref("LoyaltyAccountId")}


def _points(description: str) -> Schema:
    return {"type": "integer", "description": description}


_MOVEMENT = {
    **_ACCOUNT,
    "entryId": ref("Uuid"),
    "kind": enum(EntryKind),
    "points": _points("Signed points of the movement."),
    "occurredAt": ref("DateTime"),
}

EVENTS = (
    EventSpec(
        topic="loyalty.program_created",
        summary="A loyalty program was created.",
        key="The program's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The new program.",
            {
                **_PROGRAM,
                "partnerId": ref("PartnerId"),
                "code": string(),
                "pointValue": ref("Money"),
                "expiryPolicy": enum(ExpiryPolicy),
            },
        ),
    ),
    EventSpec(
        topic="loyalty.program_updated",
        summary="A program's settings changed (read it for the new values).",
        key="The program's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The program and its version.",
            {**_PROGRAM, "version": integer(minimum=1), "changed": array(string())},
        ),
    ),
    EventSpec(
        topic="loyalty.account_opened",
        summary="A customer joined a program.",
        key=_ACCOUNT_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The new account.",
            {**_ACCOUNT, "customerId": ref("CustomerId"), "number": string("Member number.")},
        ),
    ),
    EventSpec(
        topic="loyalty.account_updated",
        summary="An account's status or segments changed.",
        key=_ACCOUNT_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The account after the change.",
            {
                **_ACCOUNT,
                "status": enum(AccountStatus),
                "segments": array(string()),
                "version": integer(minimum=1),
            },
        ),
    ),
    EventSpec(
        topic="loyalty.points_accrued",
        summary="Points were earned (a purchase, one of Trama's events).",
        key=_ACCOUNT_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The accrual.",
            {
                **_MOVEMENT,
                "purchaseId": nullable(string("The platform's transaction id.")),
                "ruleSetVersion": nullable(integer(minimum=1)),
                "availableOn": ref("Date"),
                "expiresOn": nullable(ref("Date")),
            },
        ),
    ),
    EventSpec(
        topic="loyalty.points_refunded",
        summary="A refund of a purchase took back the points it earned.",
        key=_ACCOUNT_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The clawback: what the purchase's lot gave, what was let off because it had "
            "expired, what went into debt or was forgiven.",
            {
                **_MOVEMENT,
                "purchaseId": string("The refunded purchase's transaction id."),
                "waived": integer(minimum=0),
                "debt": integer(minimum=0),
                "forgiven": integer(minimum=0),
            },
        ),
    ),
    EventSpec(
        topic="loyalty.points_redeemed",
        summary="A member took a reward.",
        key=_ACCOUNT_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The redemption.",
            {
                **_MOVEMENT,
                "redemptionId": ref("LoyaltyRedemptionId"),
                "rewardId": ref("LoyaltyRewardId"),
                "quantity": integer(minimum=1),
            },
        ),
    ),
    EventSpec(
        topic="loyalty.redemption_cancelled",
        summary="A redemption was cancelled and its points given back.",
        key=_ACCOUNT_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The reversal.",
            {**_MOVEMENT, "redemptionId": ref("LoyaltyRedemptionId")},
        ),
    ),
    EventSpec(
        topic="loyalty.points_adjusted",
        summary="A person adjusted an account's points by hand.",
        key=_ACCOUNT_KEY,
        audience=_AUDIENCE,
        payload=obj("The adjustment.", dict(_MOVEMENT)),
    ),
    EventSpec(
        topic="loyalty.points_transferred",
        summary="Points moved between two members of one program.",
        key="The sending account's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The transfer.",
            {
                **_PROGRAM,
                "transferId": ref("Uuid"),
                "fromAccountId": ref("LoyaltyAccountId"),
                "toAccountId": ref("LoyaltyAccountId"),
                "points": integer(minimum=1),
                "occurredAt": ref("DateTime"),
            },
        ),
    ),
    EventSpec(
        topic="loyalty.points_expired",
        summary="Points whose last day passed expired.",
        key=_ACCOUNT_KEY,
        audience=_AUDIENCE,
        payload=obj("The expiry.", {**_MOVEMENT, "lastDay": ref("Date")}),
    ),
    EventSpec(
        topic="loyalty.tier_changed",
        summary="An account moved to another tier.",
        key=_ACCOUNT_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The change.",
            {
                **_ACCOUNT,
                "fromTier": nullable(string()),
                "toTier": nullable(string()),
                "windowPoints": integer(minimum=0),
                "upgrade": boolean(),
            },
        ),
    ),
    EventSpec(
        topic="loyalty.rule_set_changed",
        summary="A rule set version was published, superseded, shortened or retired.",
        key="The program's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The version and its dates after the change.",
            {
                **_PROGRAM,
                "ruleSetId": ref("LoyaltyRuleSetId"),
                "version": integer(minimum=1),
                "status": enum(RuleSetStatus),
                "effectiveFrom": ref("Date"),
                "effectiveUntil": nullable(ref("Date")),
                "change": enum(["PUBLISHED", "SUPERSEDED", "SHORTENED", "RETIRED"]),
            },
        ),
    ),
    EventSpec(
        topic="loyalty.reward_changed",
        summary="A reward of the catalogue was created or changed.",
        key="The reward's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The reward.",
            {
                **_PROGRAM,
                "rewardId": ref("LoyaltyRewardId"),
                "code": string(),
                "costPoints": integer(minimum=1),
                "stock": nullable(integer(minimum=0)),
                "active": boolean(),
                "version": integer(minimum=1),
            },
        ),
    ),
    EventSpec(
        topic="loyalty.purchases_recorded",
        summary="The card platform sent a batch of purchases (accrual follows).",
        key="The program's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "How many were new and how many had been received before.",
            {**_PROGRAM, "accepted": integer(minimum=0), "duplicates": integer(minimum=0)},
        ),
    ),
)


def emit(
    session: AsyncSession,
    topic: str,
    program: LoyaltyProgram,
    payload: dict[str, Any],
    *,
    key: str | None = None,
) -> None:
    """Add a loyalty event for ``program``'s partner (program id added to the payload)."""
    body = {"programId": wire.global_id("LoyaltyProgram", program.id), **payload}
    outbox.add(
        session,
        topic,
        body,
        partner_ids=[program.partner_id],
        key=key or wire.global_id("LoyaltyProgram", program.id),
    )


def account_key(account_id: uuid.UUID) -> str:
    return wire.global_id("LoyaltyAccount", account_id)


def movement(
    *, account_id: uuid.UUID, entry_id: uuid.UUID, kind: str, points: int, occurred_at: Any
) -> dict[str, Any]:
    return {
        "accountId": wire.global_id("LoyaltyAccount", account_id),
        "entryId": str(entry_id),
        "kind": kind,
        "points": points,
        "occurredAt": wire.instant(occurred_at),
    }


class EventBuffer:
    """Events of a batch (the accrual, the expiry), written together by :meth:`flush` with
    ``outbox.add_many`` in the same transaction as the batch's rows."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], list[uuid.UUID], str | None]] = []

    def emit(
        self,
        topic: str,
        program: LoyaltyProgram,
        payload: dict[str, Any],
        *,
        key: str | None = None,
    ) -> None:
        body = {"programId": wire.global_id("LoyaltyProgram", program.id), **payload}
        self.events.append(
            (topic, body, [program.partner_id], key or wire.global_id("LoyaltyProgram", program.id))
        )

    async def flush(self, session: AsyncSession) -> int:
        written = await outbox.add_many(session, self.events)
        self.events = []
        return written

"""Tiers: qualification and downgrade over a rolling window (the rule set in force says).

A member's window points are its accruals less refunds' clawbacks over the last
``windowDays`` local days. Accruals may raise a tier at once (:func:`review_tiers` with
``upgrades_only``); the daily job (:func:`sweep_tiers`) also lowers the tiers of members
whose window fell under their tier's ``keepPoints``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.loyalty import events as loyalty_events
from domain.loyalty.lots import start_of_day
from domain.loyalty.models import (
    AccountStatus,
    EntryKind,
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltyProgram,
    LoyaltyTierChange,
)
from domain.loyalty.rulesets import Calendar
from domain.shared import event_schemas as wire
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.sql import for_update
from domain.shared.time import utcnow


@dataclass(frozen=True, slots=True)
class TierMove:
    account_id: uuid.UUID
    from_tier: str | None
    to_tier: str | None
    window_points: int


async def window_points(
    session: AsyncSession,
    *,
    account_ids: Sequence[uuid.UUID],
    since: date,
    zone: ZoneInfo,
) -> dict[uuid.UUID, int]:
    entries = table_of(LoyaltyEntry)
    out: dict[uuid.UUID, int] = {}
    ids = list(account_ids)
    for start in range(0, len(ids), 2000):
        rows = await session.execute(
            sa.select(entries.c.account_id, sa.func.sum(entries.c.points))
            .where(
                entries.c.account_id.in_(ids[start : start + 2000]),
                entries.c.kind.in_([EntryKind.ACCRUAL.value, EntryKind.REFUND.value]),
                entries.c.occurred_at >= start_of_day(since, zone),
            )
            .group_by(entries.c.account_id)
        )
        out.update({a: max(0, int(s or 0)) for a, s in rows})
    return out


async def review_tiers(
    session: AsyncSession,
    *,
    program: LoyaltyProgram,
    calendar: Calendar,
    accounts: Sequence[LoyaltyAccount],
    today: date,
    upgrades_only: bool,
) -> list[TierMove]:
    """Move ``accounts`` (locked by the caller) to the tier their window gives."""
    version = calendar.at(today)
    if version is None or version.rules.tiers is None or not accounts:
        return []
    policy = version.rules.tiers
    zone = ZoneInfo(program.timezone)
    since = today - timedelta(days=policy.window_days - 1)
    if upgrades_only and policy.levels:  # a member on the highest tier has nowhere to go up
        top = policy.levels[-1].code
        accounts = [a for a in accounts if a.tier_code != top]
        if not accounts:
            return []
    points = await window_points(
        session, account_ids=[a.id for a in accounts], since=since, zone=zone
    )
    rank = {lv.code: i for i, lv in enumerate(policy.levels)}
    moves: list[TierMove] = []
    now = utcnow()
    changes: list[dict[str, object]] = []
    events = loyalty_events.EventBuffer()
    for account in accounts:
        if account.status == AccountStatus.CLOSED.value:
            continue
        got = points.get(account.id, 0)
        target = policy.decide(account.tier_code, got)
        if target == account.tier_code:
            continue
        up = rank.get(target or "", -1) > rank.get(account.tier_code or "", -1)
        if upgrades_only and not up:
            continue
        moves.append(TierMove(account.id, account.tier_code, target, got))
        changes.append(
            {
                "id": uuid7(),
                "account_id": account.id,
                "from_tier": account.tier_code,
                "to_tier": target,
                "changed_at": now,
                "reason": "qualified" if up else "below the points to keep the tier",
                "rule_set_id": version.id,
                "explanation": {
                    "windowDays": policy.window_days,
                    "since": since.isoformat(),
                    "windowPoints": got,
                    "ruleSetVersion": version.version,
                    "levels": [
                        {"code": lv.code, "qualify": lv.qualify_points, "keep": lv.keep_points}
                        for lv in policy.levels
                    ],
                },
            }
        )
        account.tier_code = target
        account.tier_since = now
        account.updated_at = now
        account.version += 1
        events.emit(
            "loyalty.tier_changed",
            program,
            {
                "accountId": wire.global_id("LoyaltyAccount", account.id),
                "fromTier": moves[-1].from_tier,
                "toTier": target,
                "windowPoints": got,
                "upgrade": up,
            },
            key=loyalty_events.account_key(account.id),
        )
    if changes:
        await session.execute(sa.insert(table_of(LoyaltyTierChange)), changes)
        await events.flush(session)
        await session.flush()
    return moves


async def sweep_tiers(
    session: AsyncSession,
    *,
    program: LoyaltyProgram,
    calendar: Calendar,
    today: date,
    after: uuid.UUID | None,
    limit: int = 1000,
) -> tuple[list[TierMove], uuid.UUID | None]:
    """One batch of the daily review (accounts in id order after ``after``); returns the
    moves and the last id (None when done). Accounts busy elsewhere are skipped (their
    review comes with their next accrual or tomorrow)."""
    query = (
        sa.select(LoyaltyAccount)
        .where(
            col(LoyaltyAccount.program_id) == program.id,
            col(LoyaltyAccount.status) != AccountStatus.CLOSED.value,
        )
        .order_by(col(LoyaltyAccount.id))
        .limit(limit)
    )
    if after is not None:
        query = query.where(col(LoyaltyAccount.id) > after)
    batch = list(
        (
            await session.execute(
                for_update(query, session, skip_locked=True).execution_options(
                    populate_existing=True
                )
            )
        ).scalars()
    )
    if not batch:
        return [], None
    moves = await review_tiers(
        session,
        program=program,
        calendar=calendar,
        accounts=batch,
        today=today,
        upgrades_only=False,
    )
    return moves, batch[-1].id if len(batch) == limit else None

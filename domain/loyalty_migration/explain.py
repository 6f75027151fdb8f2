"""What the ledger did to a batch's members, read back for the discrepancy report.

The ledger's bulk path writes each member's history, expiring lots by their dates on the
way. Where a member's balance then differs from the legacy one, the report must say which
transactions explain it; two facts come from the rows the batch wrote:

- the points Trama expired per member and last day (its EXPIRY entries), compared day by
  day with the legacy system's expiry rows;
- the refunds that took their points from other lots than their purchase's own: those
  points then expire later than in the legacy system (which takes a reversal back from the
  purchase's lot), and the purchase's lot, left whole, expires later or not yet.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty.models import EntryKind, LoyaltyEntry, LoyaltyLot, LoyaltyLotMove
from domain.shared.models import table_of

_CHUNK = 2_000


async def expired_by_day(
    session: AsyncSession,
    *,
    batch_id: uuid.UUID,
    account_ids: Sequence[uuid.UUID],
    zone: ZoneInfo,
) -> dict[uuid.UUID, dict[date, int]]:
    """Points the batch expired (positive), per account and last day."""
    entries = table_of(LoyaltyEntry)
    out: dict[uuid.UUID, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    ids = list(account_ids)
    for start in range(0, len(ids), _CHUNK):
        rows = await session.execute(
            sa.select(
                entries.c.account_id, entries.c.occurred_at, entries.c.explanation, entries.c.points
            ).where(
                entries.c.account_id.in_(ids[start : start + _CHUNK]),
                entries.c.kind == EntryKind.EXPIRY.value,
                entries.c.migration_batch_id == batch_id,
            )
        )
        for account_id, occurred_at, explanation, points in rows:
            out[account_id][_last_day(occurred_at, explanation, zone)] += -int(points)
    return out


def _last_day(occurred_at: Any, explanation: Any, zone: ZoneInfo) -> date:
    text = explanation.get("lastDay") if isinstance(explanation, dict) else None
    if isinstance(text, str):
        return date.fromisoformat(text)
    # an expiry happens at the start of the day after the points' last day
    local: date = occurred_at.astimezone(zone).date()
    return local - timedelta(days=1)


@dataclass(frozen=True)
class RefundFromOtherLots:
    """A legacy reversal whose points the ledger took from other lots than its purchase's."""

    movement_id: str  # the reversal's legacy id
    origin_id: str  # the purchase's legacy id
    points: int  # points taken from other lots (positive)
    lots_expiring: tuple[str, ...]  # the last days of the lots it took them from

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.movement_id,
            "purchase": self.origin_id,
            "pointsFromOtherLots": self.points,
            "otherLotsExpiring": list(self.lots_expiring),
        }


async def refunds_from_other_lots(
    session: AsyncSession,
    *,
    batch_id: uuid.UUID,
    account_ids: Sequence[uuid.UUID],
    origin_of: dict[str, str],
) -> dict[uuid.UUID, list[RefundFromOtherLots]]:
    """The batch's REFUND entries of ``account_ids`` that moved points of lots another entry
    than their purchase's opened. ``origin_of``: the reversal's dedupe key -> the purchase's."""
    entries = table_of(LoyaltyEntry)
    opener = entries.alias("opener")
    lots = table_of(LoyaltyLot)
    moves = table_of(LoyaltyLotMove)
    found: dict[tuple[uuid.UUID, str], list[tuple[str, int, date | None]]] = defaultdict(list)
    ids = list(account_ids)
    for start in range(0, len(ids), _CHUNK):
        rows = await session.execute(
            sa.select(
                entries.c.account_id,
                entries.c.dedupe_key,
                opener.c.dedupe_key,
                moves.c.points,
                lots.c.expires_on,
            )
            .select_from(
                entries.join(moves, moves.c.entry_id == entries.c.id)
                .join(lots, lots.c.id == moves.c.lot_id)
                .join(opener, opener.c.id == lots.c.entry_id)
            )
            .where(
                entries.c.account_id.in_(ids[start : start + _CHUNK]),
                entries.c.kind == EntryKind.REFUND.value,
                entries.c.migration_batch_id == batch_id,
            )
        )
        for account_id, key, lot_key, points, expires_on in rows:
            found[(account_id, key)].append((lot_key, -int(points), expires_on))
    out: dict[uuid.UUID, list[RefundFromOtherLots]] = defaultdict(list)
    for (account_id, key), taken in sorted(found.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        own = origin_of.get(key)
        other = [(points, expires) for lot_key, points, expires in taken if lot_key != own]
        points = sum(p for p, _ in other if p > 0)
        if points <= 0:
            continue
        days = sorted({e.isoformat() for p, e in other if p > 0 and e is not None})
        out[account_id].append(
            RefundFromOtherLots(
                movement_id=key.removeprefix("legacy:"),
                origin_id=(own or "").removeprefix("legacy:"),
                points=points,
                lots_expiring=tuple(days),
            )
        )
    return out

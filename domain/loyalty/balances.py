"""Balances: the sum of open lots, available and pending apart, now or as of any instant.

Now: ``Σ remaining`` of the account's lots not past their last day, split by the program's
local today (``available_on > today`` is pending); the DEBT lot counts as negative
available. As of an instant T: each lot opened by T counts ``points + Σ moves by T``, the
same split on T's local day — so a past balance is read from the append-only moves, never
from today's ``remaining``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty.accounts import get_programs, liability
from domain.loyalty.lots import local_date, start_of_day
from domain.loyalty.models import (
    LotKind,
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltyLot,
    LoyaltyLotMove,
    LoyaltyProgram,
)
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.sql import dialect_of
from domain.shared.time import ensure_utc, utcnow

_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Balance:
    account_id: uuid.UUID
    available: int  # negative when in debt
    pending: int
    debt: int
    as_of: datetime
    day: date
    liability: Money

    @property
    def total(self) -> int:
        return self.available + self.pending


def _zone(program: LoyaltyProgram) -> ZoneInfo:
    return ZoneInfo(program.timezone)


async def balances(
    session: AsyncSession,
    *,
    account_ids: Sequence[uuid.UUID],
    as_of: datetime | None = None,
) -> dict[uuid.UUID, Balance]:
    """Balances of many accounts (any programs), set-based: one query per program and
    2,000 accounts."""
    if not account_ids:
        return {}
    accounts = table_of(LoyaltyAccount)
    rows = (
        await session.execute(
            sa.select(accounts.c.id, accounts.c.program_id).where(
                accounts.c.id.in_(list(set(account_ids)))
            )
        )
    ).all()
    by_program: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for account_id, program_id in rows:
        by_program[program_id].append(account_id)
    programs = await get_programs(session, list(by_program))
    instant = ensure_utc(as_of) if as_of is not None else utcnow()
    out: dict[uuid.UUID, Balance] = {}
    for program_id, ids in by_program.items():
        program = programs[program_id]
        day = local_date(instant, _zone(program))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            if as_of is None:
                figures = await _current(session, chunk, day)
            else:
                figures = await _as_of(session, chunk, instant, day)
            for account_id in chunk:
                available, pending, debt = figures.get(account_id, (0, 0, 0))
                out[account_id] = Balance(
                    account_id,
                    available,
                    pending,
                    debt,
                    instant,
                    day,
                    liability(max(0, available + pending), program),
                )
    return out


async def balance(
    session: AsyncSession, *, account_id: uuid.UUID, as_of: datetime | None = None
) -> Balance:
    found = await balances(session, account_ids=[account_id], as_of=as_of)
    return found[account_id]


def _split(
    kind: sa.ColumnElement[Any], available_on: sa.ColumnElement[Any], value: Any, day: date
) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any], sa.ColumnElement[Any]]:
    debt = sa.func.coalesce(sa.func.sum(sa.case((kind == LotKind.DEBT.value, value), else_=0)), 0)
    pending = sa.func.coalesce(
        sa.func.sum(sa.case(((kind == LotKind.EARN.value) & (available_on > day), value), else_=0)),
        0,
    )
    available = sa.func.coalesce(
        sa.func.sum(
            sa.case(((kind == LotKind.EARN.value) & (available_on <= day), value), else_=0)
        ),
        0,
    )
    return available, pending, debt


async def _current(
    session: AsyncSession, account_ids: Sequence[uuid.UUID], day: date
) -> dict[uuid.UUID, tuple[int, int, int]]:
    lots = table_of(LoyaltyLot)
    available, pending, debt = _split(lots.c.kind, lots.c.available_on, lots.c.remaining, day)
    rows = (
        await session.execute(
            sa.select(lots.c.account_id, available, pending, debt)
            .where(
                lots.c.account_id.in_(list(account_ids)),
                lots.c.remaining != 0,
                sa.or_(lots.c.expires_on.is_(None), lots.c.expires_on >= day),
            )
            .group_by(lots.c.account_id)
        )
    ).all()
    return {r[0]: (int(r[1]) + int(r[3]), int(r[2]), -int(r[3])) for r in rows}


async def _as_of(
    session: AsyncSession, account_ids: Sequence[uuid.UUID], instant: datetime, day: date
) -> dict[uuid.UUID, tuple[int, int, int]]:
    lots = table_of(LoyaltyLot)
    moves = table_of(LoyaltyLotMove)
    moved = (
        sa.select(moves.c.lot_id, sa.func.sum(moves.c.points).label("moved"))
        .join(lots, lots.c.id == moves.c.lot_id)
        .where(lots.c.account_id.in_(list(account_ids)), moves.c.occurred_at <= instant)
        .group_by(moves.c.lot_id)
        .subquery()
    )
    value = lots.c.points + sa.func.coalesce(moved.c.moved, 0)
    available, pending, debt = _split(lots.c.kind, lots.c.available_on, value, day)
    rows = (
        await session.execute(
            sa.select(lots.c.account_id, available, pending, debt)
            .select_from(lots.outerjoin(moved, moved.c.lot_id == lots.c.id))
            .where(
                lots.c.account_id.in_(list(account_ids)),
                lots.c.opened_at <= instant,
                sa.or_(lots.c.expires_on.is_(None), lots.c.expires_on >= day),
            )
            .group_by(lots.c.account_id)
        )
    ).all()
    return {r[0]: (int(r[1]) + int(r[3]), int(r[2]), -int(r[3])) for r in rows}


async def ledger_total(
    session: AsyncSession, *, account_id: uuid.UUID, as_of: datetime | None = None
) -> int:
    """``Σ entries.points`` (by ``occurred_at`` when ``as_of``): what the lots must add to."""
    entries = table_of(LoyaltyEntry)
    query = sa.select(sa.func.coalesce(sa.func.sum(entries.c.points), 0)).where(
        entries.c.account_id == account_id
    )
    if as_of is not None:
        query = query.where(entries.c.occurred_at <= ensure_utc(as_of))
    return int((await session.execute(query)).scalar_one())


@dataclass(frozen=True, slots=True)
class MonthTotal:
    month: str  # yyyy-mm, in the program's timezone
    kind: str
    points: int
    entries: int


async def program_totals_by_month(
    session: AsyncSession, *, program: LoyaltyProgram, since: date | None = None
) -> list[MonthTotal]:
    """Points and entries per local month and entry kind (the migration's monthly proof).
    PostgreSQL sums them itself; SQLite's entries are read in keyset chunks."""
    entries = table_of(LoyaltyEntry)
    zone = _zone(program)
    where = [entries.c.program_id == program.id]
    if since is not None:
        where.append(entries.c.occurred_at >= start_of_day(since, zone))
    if dialect_of(session) == "postgresql":
        month = sa.func.to_char(sa.func.timezone(zone.key, entries.c.occurred_at), "YYYY-MM")
        rows = await session.execute(
            sa.select(month, entries.c.kind, sa.func.sum(entries.c.points), sa.func.count())
            .where(*where)
            .group_by(month, entries.c.kind)
            .order_by(month, entries.c.kind)
        )
        return [MonthTotal(m, k, int(p), int(n)) for m, k, p, n in rows]
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    last: uuid.UUID | None = None
    while True:
        query = sa.select(entries.c.id, entries.c.occurred_at, entries.c.kind, entries.c.points)
        query = query.where(*where)
        if last is not None:
            query = query.where(entries.c.id > last)
        chunk = (await session.execute(query.order_by(entries.c.id).limit(50_000))).all()
        for _, occurred_at, kind, points in chunk:
            local = occurred_at.astimezone(zone)
            slot = totals[(f"{local.year:04d}-{local.month:02d}", kind)]
            slot[0] += int(points)
            slot[1] += 1
        if len(chunk) < 50_000:
            break
        last = chunk[-1][0]
    return [MonthTotal(m, k, v[0], v[1]) for (m, k), v in sorted(totals.items())]

"""The expiry job: per program, on its local today, points whose last day has passed expire.

One EXPIRY entry per account and last day, dated the start of the next day in the
program's timezone (whenever the job runs), so the ledger reads the same whether the job
ran at 00:05 or three days late. Accounts are taken in batches, each its own transaction,
with ``SKIP LOCKED``: an account busy elsewhere is left for the next run (its expired lots
are not counted by any read meanwhile).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty import events as loyalty_events
from domain.loyalty.ledger import EntrySpec, LedgerWriter, load_books, zone_of
from domain.loyalty.lots import expiry_instant
from domain.loyalty.models import (
    EntryKind,
    LotKind,
    LoyaltyAccount,
    LoyaltyLot,
    LoyaltyProgram,
    SourceType,
)
from domain.shared import event_schemas as wire
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.sql import for_update

ACTOR = "system:loyalty.expire"


@dataclass
class ExpiryBatch:
    accounts: int = 0
    entries: int = 0
    points: int = 0
    skipped: int = 0
    last_account: uuid.UUID | None = None
    done: bool = False
    account_ids: list[uuid.UUID] = field(default_factory=list)


async def expire_batch(
    session: AsyncSession,
    *,
    program: LoyaltyProgram,
    today: date,
    after: uuid.UUID | None = None,
    limit: int = 500,
) -> ExpiryBatch:
    """Expire the due lots of up to ``limit`` accounts (in id order after ``after``)."""
    lots = table_of(LoyaltyLot)
    query = (
        sa.select(lots.c.account_id)
        .where(
            lots.c.program_id == program.id,
            lots.c.kind == LotKind.EARN.value,
            lots.c.remaining > 0,
            lots.c.expires_on.is_not(None),
            lots.c.expires_on < today,
        )
        .group_by(lots.c.account_id)
        .order_by(lots.c.account_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(lots.c.account_id > after)
    due = list((await session.execute(query)).scalars())
    out = ExpiryBatch(done=len(due) < limit)
    if not due:
        out.done = True
        return out
    out.last_account = due[-1]
    accounts = table_of(LoyaltyAccount)
    locked = list(
        (
            await session.execute(
                for_update(
                    sa.select(accounts.c.id).where(accounts.c.id.in_(due)).order_by(accounts.c.id),
                    session,
                    skip_locked=True,
                )
            )
        ).scalars()
    )
    out.skipped = len(due) - len(locked)
    books = await load_books(session, locked)
    writer = LedgerWriter(program)
    events = loyalty_events.EventBuffer()
    zone = zone_of(program)
    for account_id in locked:
        book = books[account_id]
        for last_day in book.expiring_days(today):
            entry_id = uuid7()
            posting = book.expire(entry_id=entry_id, last_day=last_day)
            occurred = expiry_instant(last_day, zone)
            points = writer.add(
                book,
                posting,
                EntrySpec(
                    kind=EntryKind.EXPIRY.value,
                    reason=f"Points whose last day was {last_day.isoformat()} expired",
                    source_type=SourceType.EXPIRY.value,
                    actor=ACTOR,
                    occurred_at=occurred,
                    dedupe_key=f"expiry:{account_id}:{last_day.isoformat()}",
                    explanation={
                        "formula": "what was left of lots past their last day",
                        "lastDay": last_day.isoformat(),
                        "policy": program.expiry_policy,
                        "count": program.expiry_count,
                        "lots": [
                            {"lot": str(m.lot.id), "points": -m.points} for m in posting.moves
                        ],
                    },
                ),
            )
            if points:
                out.entries += 1
                out.points += -points
                events.emit(
                    "loyalty.points_expired",
                    program,
                    {
                        **loyalty_events.movement(
                            account_id=account_id,
                            entry_id=entry_id,
                            kind=EntryKind.EXPIRY.value,
                            points=points,
                            occurred_at=occurred,
                        ),
                        "lastDay": wire.day(last_day),
                    },
                    key=loyalty_events.account_key(account_id),
                )
        out.accounts += 1
        out.account_ids.append(account_id)
    await writer.flush(session)
    await events.flush(session)
    return out


async def mark_expired_through(session: AsyncSession, *, program_id: uuid.UUID, day: date) -> None:
    table = table_of(LoyaltyProgram)
    await session.execute(
        table.update().where(table.c.id == program_id).values(expired_through=day)
    )

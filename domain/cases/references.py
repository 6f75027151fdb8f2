"""Network references ``CS-<year>-<number>``: gap-free per year, unique, race-free.

The number comes from one counter row per year, incremented by a single upsert
(``INSERT … ON CONFLICT (year) DO UPDATE SET last_number = last_number + 1 RETURNING``):
on PostgreSQL the row lock it takes serializes concurrent openings until their
transactions end (a rolled-back opening gives its number back); SQLite has a single writer.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.cases.models import CaseReferenceCounter
from domain.shared.models import table_of
from domain.shared.sql import dialect_of

PATTERN = re.compile(r"^CS-(\d{4})-(\d{6,})$")


def format_reference(year: int, number: int) -> str:
    return f"CS-{year:04d}-{number:06d}"


def normalise(text: str) -> str | None:
    """``cs-2026-123`` → ``CS-2026-000123``; ``None`` when it is not a reference."""
    raw = (text or "").strip().upper()
    match = re.fullmatch(r"CS-(\d{4})-(\d{1,9})", raw)
    if not match:
        return None
    return format_reference(int(match.group(1)), int(match.group(2)))


async def next_reference(session: AsyncSession, *, at: datetime) -> str:
    """Take the next number of ``at``'s year (the caller's local year)."""
    table = table_of(CaseReferenceCounter)
    year = at.year
    bump = {"last_number": table.c.last_number + 1}
    stmt: postgresql.Insert | sqlite.Insert
    if dialect_of(session) == "postgresql":
        pg = postgresql.insert(table).values(year=year, last_number=1)
        stmt = pg.on_conflict_do_update(index_elements=[table.c.year], set_=bump)
    else:
        lite = sqlite.insert(table).values(year=year, last_number=1)
        stmt = lite.on_conflict_do_update(index_elements=[table.c.year], set_=bump)
    returning = stmt.returning(table.c.last_number)
    number = int((await session.execute(returning)).scalar_one())
    return format_reference(year, number)

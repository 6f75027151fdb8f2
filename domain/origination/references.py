"""Application references ``AP-<year>-<number>``: gap-free per year, race-free (one upsert
on the year's counter row, like the cases' ``CS-`` references)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.origination.models import ApplicationReferenceCounter
from domain.shared.models import table_of
from domain.shared.sql import dialect_of

PATTERN = re.compile(r"^AP-(\d{4})-(\d{6,})$")


def format_reference(year: int, number: int) -> str:
    return f"AP-{year:04d}-{number:06d}"


def normalise(text: str) -> str | None:
    match = re.fullmatch(r"AP-(\d{4})-(\d{1,9})", (text or "").strip().upper())
    if not match:
        return None
    return format_reference(int(match.group(1)), int(match.group(2)))


async def next_reference(session: AsyncSession, *, at: datetime) -> str:
    table = table_of(ApplicationReferenceCounter)
    bump = {"last_number": table.c.last_number + 1}
    stmt: postgresql.Insert | sqlite.Insert
    if dialect_of(session) == "postgresql":
        stmt = (
            postgresql.insert(table)
            .values(year=at.year, last_number=1)
            .on_conflict_do_update(index_elements=[table.c.year], set_=bump)
        )
    else:
        stmt = (
            sqlite.insert(table)
            .values(year=at.year, last_number=1)
            .on_conflict_do_update(index_elements=[table.c.year], set_=bump)
        )
    number = int((await session.execute(stmt.returning(table.c.last_number))).scalar_one())
    return format_reference(at.year, number)

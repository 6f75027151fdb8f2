"""Where PostgreSQL and SQLite differ, one helper hides it (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_of(session: AsyncSession) -> str:
    bind = session.get_bind()
    return bind.dialect.name


async def insert_ignoring_conflicts(
    session: AsyncSession,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    index_elements: Sequence[str],
) -> int:
    """Insert ``rows``, skipping those that collide on ``index_elements``. Returns how many
    were inserted (counted from ``RETURNING``: a driver's rowcount of a multi-row insert is
    not reliable)."""
    if not rows:
        return 0
    dialect = dialect_of(session)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = [table.c[name] for name in index_elements]
    # One multi-row INSERT per chunk, under both databases' bound-parameter limits.
    per_chunk = max(1, 30_000 // max(1, len(rows[0])))
    inserted = 0
    for start in range(0, len(rows), per_chunk):
        chunk = list(rows[start : start + per_chunk])
        result = await session.execute(
            insert(table)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=list(index_elements))
            .returning(*key)
        )
        inserted += len(result.all())
    return inserted


def for_update(
    query: sa.Select[Any], session: AsyncSession, *, skip_locked: bool = False
) -> sa.Select[Any]:
    """Lock the selected rows until the transaction ends (PostgreSQL); SQLite writers hold
    the database write lock already (``BEGIN IMMEDIATE``).

    ``skip_locked``: leave out the rows another transaction holds (``FOR UPDATE SKIP
    LOCKED``): workers claiming work from one queue each take different rows instead of
    waiting on each other. On SQLite only one writer runs at a time, so nothing is skipped.
    """
    if dialect_of(session) == "postgresql":
        return query.with_for_update(skip_locked=skip_locked)
    return query


async def advisory_xact_lock(session: AsyncSession, key: int) -> None:
    """Serialize with every other transaction taking the same key until this one ends.

    PostgreSQL: ``pg_advisory_xact_lock``. SQLite: writers begin ``IMMEDIATE``, so the
    transaction already holds the only write lock there is.
    """
    if dialect_of(session) == "postgresql":
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

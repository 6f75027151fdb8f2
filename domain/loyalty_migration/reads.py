"""Reading migration runs: who may, and their lists with keyset pagination.

A run is seen by administrators and by the staff and systems of the program's partner who
manage loyalty (``loyalty:manage``); to anyone else it does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty import access
from domain.loyalty_migration.models import (
    DiscrepancyKind,
    MigrationBatch,
    MigrationDiscrepancy,
    MigrationIssue,
    MigrationRun,
)
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.models import table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import PARTNER_ROLES, Principal

_RUNS = "lmig.runs.v1"
_DISCREPANCIES = "lmig.discrepancies.v1"
_ISSUES = "lmig.issues.v1"
_BATCHES = "lmig.batches.v1"


def ensure_can_read(principal: Principal) -> None:
    access.ensure_can_manage(principal)


def visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    """Runs ``principal`` may see, over ``loyalty_migration_runs``."""
    runs = table_of(MigrationRun)
    if principal.is_admin:
        return sa.true()
    if principal.partner_id is not None and principal.has_role(*PARTNER_ROLES):
        return runs.c.partner_id == principal.partner_id
    return sa.false()


async def get_run(
    session: AsyncSession, *, principal: Principal, run_id: uuid.UUID
) -> MigrationRun:
    ensure_can_read(principal)
    runs = table_of(MigrationRun)
    found = (
        (
            await session.execute(
                sa.select(MigrationRun).where(runs.c.id == run_id, visible_to(principal))
            )
        )
        .scalars()
        .first()
    )
    if found is None:
        raise NotFound("LoyaltyMigration", run_id)
    return found


async def get_runs(
    session: AsyncSession, *, principal: Principal, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, MigrationRun]:
    ensure_can_read(principal)
    runs = table_of(MigrationRun)
    rows = (
        await session.execute(
            sa.select(MigrationRun).where(runs.c.id.in_(list(run_ids)), visible_to(principal))
        )
    ).scalars()
    return {r.id: r for r in rows}


def _after(cursor: str | None, tag: str, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    return decode_cursor(cursor, tag, arity)


async def list_runs(
    session: AsyncSession,
    *,
    principal: Principal,
    program_id: uuid.UUID | None,
    limit: int,
    after: str | None,
    with_total: bool = False,
) -> Page[MigrationRun]:
    """Newest first."""
    ensure_can_read(principal)
    runs = table_of(MigrationRun)
    where: list[sa.ColumnElement[bool]] = [visible_to(principal)]
    if program_id is not None:
        where.append(runs.c.program_id == program_id)
    query = sa.select(MigrationRun).where(*where)
    key = _after(after, _RUNS, 1)
    if key is not None:
        query = query.where(runs.c.id < _uuid(key[0]))
    rows = list(
        (await session.execute(query.order_by(runs.c.id.desc()).limit(limit + 1))).scalars()
    )
    total = None
    if with_total:
        total = int(
            (
                await session.execute(sa.select(sa.func.count()).select_from(runs).where(*where))
            ).scalar_one()
        )
    items = rows[:limit]
    return Page(
        items,
        [encode_cursor(_RUNS, str(r.id)) for r in items],
        len(rows) > limit,
        after is not None,
        total,
    )


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed.on("after", "this cursor is not valid") from None


async def discrepancies(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    kind: DiscrepancyKind | None,
    limit: int,
    after: str | None,
    with_total: bool = False,
) -> Page[MigrationDiscrepancy]:
    """A run's discrepancies by kind, then in the order they were found (the caller has
    read the run, so may see them)."""
    table = table_of(MigrationDiscrepancy)
    where: list[sa.ColumnElement[bool]] = [table.c.run_id == run_id]
    if kind is not None:
        where.append(table.c.kind == kind.value)
    query = sa.select(MigrationDiscrepancy).where(*where)
    key = _after(after, _DISCREPANCIES, 2)
    if key is not None:
        if not isinstance(key[0], str):
            raise ValidationFailed.on("after", "this cursor is not valid")
        query = query.where(sa.tuple_(table.c.kind, table.c.id) > (key[0], _uuid(key[1])))
    rows = list(
        (await session.execute(query.order_by(table.c.kind, table.c.id).limit(limit + 1))).scalars()
    )
    total = None
    if with_total:
        total = int(
            (
                await session.execute(sa.select(sa.func.count()).select_from(table).where(*where))
            ).scalar_one()
        )
    items = rows[:limit]
    return Page(
        items,
        [encode_cursor(_DISCREPANCIES, r.kind, str(r.id)) for r in items],
        len(rows) > limit,
        after is not None,
        total,
    )


async def issues(
    session: AsyncSession, *, run_id: uuid.UUID, limit: int, after: str | None
) -> Page[MigrationIssue]:
    table = table_of(MigrationIssue)
    query = sa.select(MigrationIssue).where(table.c.run_id == run_id)
    key = _after(after, _ISSUES, 1)
    if key is not None:
        query = query.where(table.c.id > _uuid(key[0]))
    rows = list((await session.execute(query.order_by(table.c.id).limit(limit + 1))).scalars())
    items = rows[:limit]
    return Page(
        items,
        [encode_cursor(_ISSUES, str(r.id)) for r in items],
        len(rows) > limit,
        after is not None,
    )


async def batches(
    session: AsyncSession, *, run_id: uuid.UUID, limit: int, after: str | None
) -> Page[MigrationBatch]:
    table = table_of(MigrationBatch)
    query = sa.select(MigrationBatch).where(table.c.run_id == run_id)
    key = _after(after, _BATCHES, 1)
    if key is not None:
        if not isinstance(key[0], int) or isinstance(key[0], bool):
            raise ValidationFailed.on("after", "this cursor is not valid")
        query = query.where(table.c.seq > key[0])
    rows = list((await session.execute(query.order_by(table.c.seq).limit(limit + 1))).scalars())
    items = rows[:limit]
    return Page(
        items,
        [encode_cursor(_BATCHES, r.seq) for r in items],
        len(rows) > limit,
        after is not None,
    )

"""Batched reads of many investors, statements or runs at once, for the API's DataLoaders.

Each function runs one statement whatever the number of keys, and checks no access: callers
pass ids of rows they already reached through a checked service (``search_investors``,
``get_investor``, ``get_statement``, ``investor_statements`` …). Pages use the cursors of
``settlements`` (the same tags), so a cursor from a batched page continues with the
single-owner service and the other way round.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from domain.credits.models import Credit
from domain.investors.models import (
    CreditFunding,
    DistributionLine,
    SettlementRun,
    SettlementStatement,
)
from domain.investors.settlements import _LINES_TAG, _STATEMENTS_TAG
from domain.shared.errors import ValidationFailed
from domain.shared.models import table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor

__all__ = [
    "credit_references",
    "fundings_by_id",
    "fundings_of_investors",
    "fundings_query",
    "lines_of_statements",
    "runs_by_id",
    "statement_counts",
    "statements_by_id",
    "statements_of_investors",
    "statements_of_runs",
]


def _after_id(cursor: str | None, tag: str) -> uuid.UUID | None:
    if not cursor:
        return None
    (value,) = decode_cursor(cursor, tag, 1)
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed.on("after", "this cursor is not valid") from None


def fundings_query(
    investor_ids: Sequence[uuid.UUID],
) -> tuple[sa.FromClause, list[sa.ColumnElement[bool]], list[sa.ColumnElement[object]]]:
    """Everything each investor funded, oldest first: ``(from clause, conditions,
    order_by)`` for any read path."""
    table = table_of(CreditFunding)
    return (
        table,
        [table.c.investor_id.in_(list(investor_ids))],
        [table.c.funded_at, table.c.id],
    )


async def fundings_of_investors(
    session: AsyncSession, investor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[CreditFunding]]:
    """Everything each investor funded, oldest first (``investor_fundings`` for many)."""
    out: dict[uuid.UUID, list[CreditFunding]] = {i: [] for i in investor_ids}
    if not investor_ids:
        return out
    _, conditions, order_by = fundings_query(investor_ids)
    stmt = sa.select(CreditFunding).where(*conditions).order_by(*order_by)
    for funding in (await session.execute(stmt)).scalars():
        out[funding.investor_id].append(funding)
    return out


async def fundings_by_id(
    session: AsyncSession, funding_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CreditFunding]:
    if not funding_ids:
        return {}
    stmt = sa.select(CreditFunding).where(col(CreditFunding.id).in_(list(funding_ids)))
    return {f.id: f for f in (await session.execute(stmt)).scalars()}


async def credit_references(
    session: AsyncSession, credit_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The human reference (``CR-…``) of each credit: two columns, no credit row."""
    if not credit_ids:
        return {}
    stmt = sa.select(col(Credit.id), col(Credit.reference)).where(
        col(Credit.id).in_(list(credit_ids))
    )
    return {credit_id: reference for credit_id, reference in await session.execute(stmt)}


async def runs_by_id(
    session: AsyncSession, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, SettlementRun]:
    if not run_ids:
        return {}
    stmt = sa.select(SettlementRun).where(col(SettlementRun.id).in_(list(run_ids)))
    return {r.id: r for r in (await session.execute(stmt)).scalars()}


async def statements_by_id(
    session: AsyncSession, statement_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, SettlementStatement]:
    if not statement_ids:
        return {}
    stmt = sa.select(SettlementStatement).where(
        col(SettlementStatement.id).in_(list(statement_ids))
    )
    return {s.id: s for s in (await session.execute(stmt)).scalars()}


async def _statement_pages(
    session: AsyncSession,
    owner: Any,
    owner_ids: Sequence[uuid.UUID],
    limit: int,
    after: str | None,
) -> dict[uuid.UUID, Page[SettlementStatement]]:
    out: dict[uuid.UUID, Page[SettlementStatement]] = {}
    if not owner_ids:
        return out
    conditions: list[sa.ColumnElement[bool]] = [owner.in_(list(owner_ids))]
    last = _after_id(after, _STATEMENTS_TAG)
    if last is not None:
        conditions.append(col(SettlementStatement.id) > last)
    position = (
        sa.func.row_number()
        .over(partition_by=owner, order_by=col(SettlementStatement.id))
        .label("position")
    )
    ranked = sa.select(SettlementStatement, position).where(*conditions).subquery("ranked")
    row = aliased(SettlementStatement, ranked)
    stmt = (
        sa.select(row)
        .where(ranked.c.position <= limit + 1)
        .order_by(ranked.c[owner.key], ranked.c.position)
    )
    found: dict[uuid.UUID, list[SettlementStatement]] = {i: [] for i in owner_ids}
    for statement in (await session.execute(stmt)).scalars():
        found[getattr(statement, owner.key)].append(statement)
    for owner_id, rows in found.items():
        items = rows[:limit]
        out[owner_id] = Page(
            items=items,
            cursors=[encode_cursor(_STATEMENTS_TAG, str(s.id)) for s in items],
            has_next=len(rows) > limit,
            has_previous=last is not None,
        )
    return out


async def statements_of_investors(
    session: AsyncSession,
    investor_ids: Sequence[uuid.UUID],
    *,
    limit: int,
    after: str | None = None,
) -> dict[uuid.UUID, Page[SettlementStatement]]:
    """A page of each investor's statements in the order of
    ``settlements.investor_statements`` (by id), in one statement (a window function)."""
    owner = col(SettlementStatement.investor_id)
    return await _statement_pages(session, owner, investor_ids, limit, after)


async def statements_of_runs(
    session: AsyncSession,
    run_ids: Sequence[uuid.UUID],
    *,
    limit: int,
    after: str | None = None,
) -> dict[uuid.UUID, Page[SettlementStatement]]:
    """A page of each run's statements in the order of ``settlements.run_statements``."""
    return await _statement_pages(session, col(SettlementStatement.run_id), run_ids, limit, after)


async def statement_counts(
    session: AsyncSession, investor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    out = dict.fromkeys(investor_ids, 0)
    if not investor_ids:
        return out
    stmt = (
        sa.select(col(SettlementStatement.investor_id), sa.func.count())
        .where(col(SettlementStatement.investor_id).in_(list(investor_ids)))
        .group_by(col(SettlementStatement.investor_id))
    )
    for investor_id, count in await session.execute(stmt):
        out[investor_id] = int(count)
    return out


async def lines_of_statements(
    session: AsyncSession,
    statement_ids: Sequence[uuid.UUID],
    *,
    limit: int,
    after: str | None = None,
) -> dict[uuid.UUID, Page[DistributionLine]]:
    """A page of each statement's lines in the order of ``settlements.statement_lines``
    (by id), in one statement."""
    out: dict[uuid.UUID, Page[DistributionLine]] = {}
    if not statement_ids:
        return out
    conditions: list[sa.ColumnElement[bool]] = [
        col(DistributionLine.statement_id).in_(list(statement_ids))
    ]
    last = _after_id(after, _LINES_TAG)
    if last is not None:
        conditions.append(col(DistributionLine.id) > last)
    position = (
        sa.func.row_number()
        .over(
            partition_by=col(DistributionLine.statement_id),
            order_by=col(DistributionLine.id),
        )
        .label("position")
    )
    ranked = sa.select(DistributionLine, position).where(*conditions).subquery("ranked")
    row = aliased(DistributionLine, ranked)
    stmt = (
        sa.select(row)
        .where(ranked.c.position <= limit + 1)
        .order_by(ranked.c.statement_id, ranked.c.position)
    )
    found: dict[uuid.UUID, list[DistributionLine]] = {i: [] for i in statement_ids}
    for line in (await session.execute(stmt)).scalars():
        assert line.statement_id is not None
        found[line.statement_id].append(line)
    for statement_id, rows in found.items():
        items = rows[:limit]
        out[statement_id] = Page(
            items=items,
            cursors=[encode_cursor(_LINES_TAG, str(line.id)) for line in items],
            has_next=len(rows) > limit,
            has_previous=last is not None,
        )
    return out

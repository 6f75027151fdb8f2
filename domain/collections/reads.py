"""Reading statements and lines: filters, keyset pages, the owner partner's scope in SQL.

Lines and statements are listed newest first (their UUIDv7 ids are time-ordered; the lines of
one statement come in statement order when the list is of one statement).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.collections import access
from domain.collections.models import BankStatement, LineState, StatementKind, StatementLine
from domain.shared.errors import ValidationFailed
from domain.shared.ids import parse_uuid
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal

__all__ = [
    "LineFilter",
    "StatementFilter",
    "get_lines",
    "get_statements",
    "list_lines",
    "list_statements",
]

M = TypeVar("M", BankStatement, StatementLine)


@dataclass(frozen=True, slots=True)
class StatementFilter:
    account_id: uuid.UUID | None = None
    kind: str | None = None
    integrity: str | None = None
    from_date: date | None = None  # statements ending on or after
    to_date: date | None = None  # statements starting on or before


@dataclass(frozen=True, slots=True)
class LineFilter:
    account_id: uuid.UUID | None = None
    statement_id: uuid.UUID | None = None
    states: Sequence[str] = ()
    direction: str | None = None
    reversal: bool | None = None
    booked_from: date | None = None
    booked_to: date | None = None
    national_id: str | None = None  # compact number of the payer


def _after(cursor: str | None, tag: str) -> uuid.UUID | None:
    if not cursor:
        return None
    (value,) = decode_cursor(cursor, tag, 1)
    key = parse_uuid(value)
    if key is None:
        raise ValidationFailed.on("after", "this cursor is not valid")
    return key


async def _page(
    session: AsyncSession,
    model: type[M],
    conditions: list[sa.ColumnElement[bool]],
    *,
    tag: str,
    ascending: bool,
    limit: int,
    after: str | None,
    with_total: bool,
) -> Page[M]:
    key_column: Any = col(model.id)
    query = sa.select(model).where(*conditions)
    last = _after(after, tag)
    if last is not None:
        query = query.where(key_column > last if ascending else key_column < last)
    order = key_column.asc() if ascending else key_column.desc()
    rows = list((await session.execute(query.order_by(order).limit(limit + 1))).scalars())
    items = rows[:limit]
    total = None
    if with_total:
        total = (
            await session.execute(sa.select(sa.func.count()).select_from(model).where(*conditions))
        ).scalar_one()
    return Page(
        items=items,
        cursors=[encode_cursor(tag, str(item.id)) for item in items],
        has_next=len(rows) > limit,
        has_previous=last is not None,
        total=total,
    )


async def list_statements(
    session: AsyncSession,
    *,
    principal: Principal,
    filter: StatementFilter,
    limit: int,
    after: str | None = None,
    with_total: bool = False,
) -> Page[BankStatement]:
    access.ensure_can_read(principal)
    conditions: list[sa.ColumnElement[bool]] = [access.statements_visible_to(principal)]
    if filter.account_id is not None:
        conditions.append(col(BankStatement.account_id) == filter.account_id)
    if filter.kind is not None:
        conditions.append(col(BankStatement.kind) == StatementKind(filter.kind).value)
    if filter.integrity is not None:
        conditions.append(col(BankStatement.integrity) == filter.integrity)
    if filter.from_date is not None:
        conditions.append(col(BankStatement.to_date) >= filter.from_date)
    if filter.to_date is not None:
        conditions.append(col(BankStatement.from_date) <= filter.to_date)
    return await _page(
        session,
        BankStatement,
        conditions,
        tag="bank_statements",
        ascending=False,
        limit=limit,
        after=after,
        with_total=with_total,
    )


async def list_lines(
    session: AsyncSession,
    *,
    principal: Principal,
    filter: LineFilter,
    limit: int,
    after: str | None = None,
    with_total: bool = False,
) -> Page[StatementLine]:
    access.ensure_can_read(principal)
    conditions: list[sa.ColumnElement[bool]] = [access.lines_visible_to(principal)]
    if filter.account_id is not None:
        conditions.append(col(StatementLine.account_id) == filter.account_id)
    if filter.statement_id is not None:
        # The statement's lines: those it brought and those it booked (first notified).
        conditions.append(
            sa.or_(
                col(StatementLine.statement_id) == filter.statement_id,
                col(StatementLine.booked_statement_id) == filter.statement_id,
            )
        )
    if filter.states:
        states = [LineState(s).value for s in filter.states]
        conditions.append(col(StatementLine.state).in_(states))
    if filter.direction is not None:
        conditions.append(col(StatementLine.direction) == filter.direction)
    if filter.reversal is not None:
        conditions.append(col(StatementLine.is_reversal) == filter.reversal)
    if filter.booked_from is not None:
        conditions.append(col(StatementLine.booking_date) >= filter.booked_from)
    if filter.booked_to is not None:
        conditions.append(col(StatementLine.booking_date) <= filter.booked_to)
    if filter.national_id is not None:
        conditions.append(col(StatementLine.counterparty_national_id) == filter.national_id)
    return await _page(
        session,
        StatementLine,
        conditions,
        tag="statement_lines",
        ascending=filter.statement_id is not None,
        limit=limit,
        after=after,
        with_total=with_total,
    )


async def get_statements(
    session: AsyncSession, *, principal: Principal, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, BankStatement]:
    """The statements among ``ids`` the principal sees (one query)."""
    access.ensure_can_read(principal)
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(BankStatement).where(
            col(BankStatement.id).in_(list(ids)), access.statements_visible_to(principal)
        )
    )
    return {s.id: s for s in rows.scalars()}


async def get_lines(
    session: AsyncSession, *, principal: Principal, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, StatementLine]:
    access.ensure_can_read(principal)
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(StatementLine).where(
            col(StatementLine.id).in_(list(ids)), access.lines_visible_to(principal)
        )
    )
    return {line.id: line for line in rows.scalars()}

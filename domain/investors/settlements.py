"""Settlements (liquidaciones): pay investors what their distribution lines add up to.

:func:`run_settlement` for a period produces one statement per investor and currency with
every line that makes it up: the investor's lines not yet settled whose ``occurred_on`` is
on or before the period's end (lines of the period, and any adjustment that arrived after
an earlier run — nothing is left behind). Rules:

- Idempotent per period: running the same period again returns the existing run.
- Runs move forward: a new period must start after the last run's end (no overlaps, no
  gaps filled in afterwards — later lines are swept into the next run anyway).
- An investor whose lines net to less than zero in a currency (reversals after a paid
  statement) gets no statement in that currency: its lines stay unsettled and roll into the
  next run, where new distributions offset them.
- The work is set-based: investors are taken in batches of
  ``policy.settlement_batch_size``; per batch one INSERT of statements and one UPDATE that
  attaches the lines to them, never an ORM object per line.

:func:`mark_settlement_paid` records the bank transfer of one statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.investors import access
from domain.investors.models import (
    DistributionLine,
    LineComponent,
    Party,
    SettlementRun,
    SettlementStatement,
    StatementStatus,
)
from domain.investors.policy import get_policy
from domain.shared import audit, outbox, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, InvalidTransition, NotFound, Problems, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.sql import advisory_xact_lock, for_update
from domain.shared.time import NaiveDatetimeError, ensure_utc, utcnow
from domain.shared.types import UUIDType

__all__ = [
    "SETTLEMENT_LOCK_KEY",
    "get_settlement_run",
    "get_statement",
    "investor_statements",
    "mark_settlement_paid",
    "run_settlement",
    "run_statements",
    "statement_lines",
]

#: Advisory lock that serializes settlement runs (PostgreSQL).
SETTLEMENT_LOCK_KEY = 7_461_104
_MAX_PERIOD_DAYS = 366
_STATEMENTS_TAG = "statements.v1"
_LINES_TAG = "statement-lines.v1"

_INTEREST = (LineComponent.INTEREST.value, LineComponent.LATE_INTEREST.value)


def _sum_where(column: Any, condition: sa.ColumnElement[bool]) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, column), else_=0)), 0)


def _unsettled(lines: sa.Table, period_end: date) -> list[sa.ColumnElement[bool]]:
    return [
        lines.c.statement_id.is_(None),
        lines.c.investor_id.is_not(None),  # lets the partial index serve (see models)
        lines.c.party == Party.INVESTOR.value,
        lines.c.occurred_on <= period_end,
    ]


@dataclass(frozen=True, slots=True)
class _Group:
    investor_id: uuid.UUID
    currency: str
    interest: int
    principal: int
    fees: int
    total: int
    count: int


def _check_period(period_start: date, period_end: date) -> None:
    problems = Problems()
    if not isinstance(period_start, date) or isinstance(period_start, datetime):
        problems.add("periodStart", "must be a date")
    if not isinstance(period_end, date) or isinstance(period_end, datetime):
        problems.add("periodEnd", "must be a date")
    problems.raise_if_any()
    if period_end < period_start:
        problems.add("periodEnd", "must be on or after the period's start")
    elif (period_end - period_start).days >= _MAX_PERIOD_DAYS:
        problems.add("periodEnd", f"a period is at most {_MAX_PERIOD_DAYS} days long")
    if period_end > utcnow().date():
        problems.add("periodEnd", "the period has not ended yet")
    problems.raise_if_any()


async def run_settlement(
    session: AsyncSession, *, principal: Principal, period_start: date, period_end: date
) -> SettlementRun:
    """Settle every investor for ``[period_start, period_end]`` (dates inclusive); the run
    of that period if there already is one."""
    access.ensure_can_write(principal)
    _check_period(period_start, period_end)
    await advisory_xact_lock(session, SETTLEMENT_LOCK_KEY)
    runs = table_of(SettlementRun)
    existing = (
        await session.execute(
            sa.select(SettlementRun).where(
                col(SettlementRun.period_start) == period_start,
                col(SettlementRun.period_end) == period_end,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    last_end = (await session.execute(sa.select(sa.func.max(runs.c.period_end)))).scalar()
    if last_end is not None and period_start <= last_end:
        raise Conflict(
            f"settlements move forward: the last run ended on {last_end.isoformat()}, so the "
            f"next period starts on {(last_end + timedelta(days=1)).isoformat()} or later"
        )
    run = SettlementRun(
        period_start=period_start,
        period_end=period_end,
        created_at=utcnow(),
        created_by=principal.subject[:200],
    )
    session.add(run)
    await session.flush()

    statement_count = 0
    line_count = 0
    totals: dict[str, int] = {}
    after: tuple[uuid.UUID, str] | None = None
    batch = max(1, get_policy().settlement_batch_size)
    while True:
        groups = await _next_groups(session, period_end, after, batch)
        if not groups:
            break
        after = (groups[-1].investor_id, groups[-1].currency)
        payable = [g for g in groups if g.total >= 0]
        if payable:
            attached = await _settle_batch(session, run, period_end, payable)
            statement_count += len(payable)
            line_count += attached
            for g in payable:
                totals[g.currency] = totals.get(g.currency, 0) + g.total
        if len(groups) < batch:
            break
    run.statement_count = statement_count
    run.line_count = line_count
    await session.flush()
    facts = {
        "run_id": run.id,
        "period_start": period_start,
        "period_end": period_end,
        "statement_count": statement_count,
        "line_count": line_count,
        "totals": totals,
    }
    audit.record(
        session,
        principal=principal,
        action="settlements.run",
        entity_type="SettlementRun",
        entity_id=run.id,
        after=facts,
    )
    outbox.add(
        session,
        "settlements.completed",
        {
            "runId": wire.global_id("SettlementRun", run.id),
            "periodStart": wire.day(period_start),
            "periodEnd": wire.day(period_end),
            "statementCount": statement_count,
            "lineCount": line_count,
            "totals": [wire.money(totals[c], c) for c in sorted(totals)],
        },
        key=wire.global_id("SettlementRun", run.id),
    )
    return run


async def _next_groups(
    session: AsyncSession, period_end: date, after: tuple[uuid.UUID, str] | None, batch: int
) -> list[_Group]:
    lines = table_of(DistributionLine)
    conditions = _unsettled(lines, period_end)
    if after is not None:
        conditions.append(
            sa.tuple_(lines.c.investor_id, lines.c.currency)
            > sa.tuple_(sa.literal(after[0], type_=UUIDType), sa.literal(after[1]))
        )
    stmt = (
        sa.select(
            lines.c.investor_id,
            lines.c.currency,
            _sum_where(lines.c.amount, lines.c.component.in_(_INTEREST)),
            _sum_where(lines.c.amount, lines.c.component == LineComponent.PRINCIPAL.value),
            _sum_where(lines.c.amount, lines.c.component == LineComponent.SERVICING_FEE.value),
            sa.func.sum(lines.c.amount),
            sa.func.count(),
        )
        .where(*conditions)
        .group_by(lines.c.investor_id, lines.c.currency)
        .order_by(lines.c.investor_id, lines.c.currency)
        .limit(batch)
    )
    rows = (await session.execute(stmt)).all()
    return [_Group(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6])) for r in rows]


async def _settle_batch(
    session: AsyncSession, run: SettlementRun, period_end: date, groups: list[_Group]
) -> int:
    """Insert the statements of ``groups`` and attach their lines. Returns lines attached."""
    statements = table_of(SettlementStatement)
    lines = table_of(DistributionLine)
    now = utcnow()
    rows = [
        {
            "id": uuid7(),
            "run_id": run.id,
            "investor_id": g.investor_id,
            "currency": g.currency,
            "interest": g.interest,
            "principal": g.principal,
            "fees": g.fees,
            "total": g.total,
            "line_count": g.count,
            "status": StatementStatus.ISSUED.value,
            "paid_at": None,
            "payment_reference": None,
            "created_at": now,
            "version": 1,
        }
        for g in groups
    ]
    await session.execute(sa.insert(statements), rows)
    ids: list[uuid.UUID] = [r["id"] for r in rows]  # type: ignore[misc]
    attach = (
        sa.update(lines)
        .where(
            *_unsettled(lines, period_end),
            statements.c.id.in_(ids),
            lines.c.investor_id == statements.c.investor_id,
            lines.c.currency == statements.c.currency,
        )
        .values(statement_id=statements.c.id)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(attach)
    attached = int(getattr(result, "rowcount", 0) or 0)
    if attached != sum(g.count for g in groups):
        # A line committed between the totals and the update (PostgreSQL, READ COMMITTED):
        # the statements are what their lines add up to, so add them up again.
        await _recount(session, ids)
    return attached


async def _recount(session: AsyncSession, statement_ids: list[uuid.UUID]) -> None:
    statements = table_of(SettlementStatement)
    lines = table_of(DistributionLine)

    def total(condition: sa.ColumnElement[bool] | None = None) -> Any:
        where = [lines.c.statement_id == statements.c.id]
        if condition is not None:
            where.append(condition)
        return (
            sa.select(sa.func.coalesce(sa.func.sum(lines.c.amount), 0))
            .where(*where)
            .scalar_subquery()
        )

    await session.execute(
        sa.update(statements)
        .where(statements.c.id.in_(statement_ids))
        .values(
            interest=total(lines.c.component.in_(_INTEREST)),
            principal=total(lines.c.component == LineComponent.PRINCIPAL.value),
            fees=total(lines.c.component == LineComponent.SERVICING_FEE.value),
            total=total(),
            line_count=sa.select(sa.func.count())
            .where(lines.c.statement_id == statements.c.id)
            .scalar_subquery(),
        )
        .execution_options(synchronize_session=False)
    )


# --- paying ---------------------------------------------------------------------------------
async def mark_settlement_paid(
    session: AsyncSession,
    *,
    principal: Principal,
    statement_id: uuid.UUID,
    paid_at: datetime,
    reference: str,
) -> SettlementStatement:
    """Record that a statement was paid. Paying it again with the same reference returns it
    unchanged; with another reference it is an invalid transition."""
    access.ensure_can_write(principal)
    problems = Problems()
    clean_reference = (reference or "").strip()
    if not clean_reference:
        problems.add("reference", "is required (the bank transfer's reference)")
    elif len(clean_reference) > 100:
        problems.add("reference", "at most 100 characters")
    elif pan.contains_pan(clean_reference):
        problems.add("reference", pan.MESSAGE)
    when: datetime | None = None
    try:
        when = ensure_utc(paid_at)
    except (NaiveDatetimeError, AttributeError, TypeError):
        problems.add("paidAt", "must be an instant with a timezone")
    if when is not None and when > utcnow() + timedelta(minutes=5):
        problems.add("paidAt", "cannot be in the future")
    problems.raise_if_any()
    assert when is not None
    stmt = for_update(
        sa.select(SettlementStatement).where(col(SettlementStatement.id) == statement_id), session
    )
    statement = (await session.execute(stmt)).scalars().first()
    if statement is None:
        raise NotFound("SettlementStatement", statement_id)
    if statement.status == StatementStatus.PAID.value:
        if statement.payment_reference == clean_reference:
            return statement
        raise InvalidTransition("Settlement statement", statement.status, "PAID")
    if when < statement.created_at - timedelta(days=1):
        raise ValidationFailed.on("paidAt", "is before the statement was issued")
    statement.status = StatementStatus.PAID.value
    statement.paid_at = when
    statement.payment_reference = clean_reference
    statement.version += 1
    await session.flush()
    facts = {
        "statement_id": statement.id,
        "run_id": statement.run_id,
        "investor_id": statement.investor_id,
        "amount": statement.total,
        "currency": statement.currency,
        "paid_at": when,
    }
    audit.record(
        session,
        principal=principal,
        action="settlements.pay",
        entity_type="SettlementStatement",
        entity_id=statement.id,
        before={"status": StatementStatus.ISSUED.value},
        after={**facts, "status": statement.status, "reference": clean_reference},
    )
    outbox.add(
        session,
        "settlements.paid",
        {
            "statementId": wire.global_id("SettlementStatement", statement.id),
            "runId": wire.global_id("SettlementRun", statement.run_id),
            "investorId": wire.global_id("Investor", statement.investor_id),
            "total": wire.money(statement.total, statement.currency),
            "paidAt": wire.instant(when),
        },
        key=wire.global_id("SettlementStatement", statement.id),
    )
    return statement


# --- reads ----------------------------------------------------------------------------------
async def get_settlement_run(
    session: AsyncSession, *, principal: Principal, run_id: uuid.UUID
) -> SettlementRun:
    access.ensure_can_read_any(principal)
    run = await session.get(SettlementRun, run_id)
    if run is None:
        raise NotFound("SettlementRun", run_id)
    return run


async def get_statement(
    session: AsyncSession, *, principal: Principal, statement_id: uuid.UUID
) -> SettlementStatement:
    statement = await session.get(SettlementStatement, statement_id)
    if statement is None:
        raise NotFound("SettlementStatement", statement_id)
    access.ensure_can_read(principal, statement.investor_id)
    return statement


def _uuid_cursor(cursor: str, tag: str) -> uuid.UUID:
    (value,) = decode_cursor(cursor, tag, 1)
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed.on("after", "this cursor is not valid") from None


async def _statement_page(
    session: AsyncSession,
    conditions: list[sa.ColumnElement[bool]],
    limit: int,
    after: str | None,
) -> Page[SettlementStatement]:
    stmt = sa.select(SettlementStatement).where(*conditions)
    if after:
        stmt = stmt.where(col(SettlementStatement.id) > _uuid_cursor(after, _STATEMENTS_TAG))
    stmt = stmt.order_by(col(SettlementStatement.id)).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    items = rows[:limit]
    return Page(
        items=items,
        cursors=[encode_cursor(_STATEMENTS_TAG, str(s.id)) for s in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
    )


async def run_statements(
    session: AsyncSession,
    *,
    principal: Principal,
    run_id: uuid.UUID,
    limit: int,
    after: str | None = None,
) -> Page[SettlementStatement]:
    """The statements of one run (staff), in creation order."""
    access.ensure_can_read_any(principal)
    return await _statement_page(session, [col(SettlementStatement.run_id) == run_id], limit, after)


async def investor_statements(
    session: AsyncSession,
    *,
    principal: Principal,
    investor_id: uuid.UUID,
    limit: int,
    after: str | None = None,
) -> Page[SettlementStatement]:
    """One investor's statements, oldest first (the investor itself, or staff)."""
    access.ensure_can_read(principal, investor_id)
    return await _statement_page(
        session, [col(SettlementStatement.investor_id) == investor_id], limit, after
    )


async def statement_lines(
    session: AsyncSession,
    *,
    principal: Principal,
    statement_id: uuid.UUID,
    limit: int,
    after: str | None = None,
) -> Page[DistributionLine]:
    """Every line that makes up a statement, in the order they were written."""
    await get_statement(session, principal=principal, statement_id=statement_id)
    stmt = sa.select(DistributionLine).where(col(DistributionLine.statement_id) == statement_id)
    if after:
        stmt = stmt.where(col(DistributionLine.id) > _uuid_cursor(after, _LINES_TAG))
    stmt = stmt.order_by(col(DistributionLine.id)).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    items = rows[:limit]
    return Page(
        items=items,
        cursors=[encode_cursor(_LINES_TAG, str(line.id)) for line in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
    )

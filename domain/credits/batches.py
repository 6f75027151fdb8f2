"""Batched reads of many credits at once, for the API's DataLoaders and reports.

Each function runs a fixed number of statements whatever the number of credits, and checks
no access: callers pass ids of credits (or payments) they already read through a checked
service (``get_credit``, ``search_credits``, ``list_my_credits``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from domain.credits import ledger
from domain.credits.allocation import AllocationResult, RefundEvent
from domain.credits.models import (
    Allocation,
    Credit,
    CreditSchedule,
    Payment,
    Refund,
    WriteOff,
)
from domain.credits.payments import _CURSOR_TAG as PAYMENT_CURSOR_TAG
from domain.credits.policy import CreditPolicy, get_policy, today
from domain.credits.states import CreditStatus, PaymentStatus
from domain.shared.errors import ValidationFailed
from domain.shared.models import table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.reads import NestedQuery
from domain.shared.time import isoformat

__all__ = [
    "allocations_of",
    "allocations_query",
    "cursor_of_payment",
    "payment_counts",
    "payment_cursor",
    "payments_by_id",
    "payments_of",
    "payments_query",
    "positions_of",
    "schedules_of",
    "schedules_query",
]

#: Credits that have no running schedule, hence no position.
NO_POSITION = frozenset({CreditStatus.APPROVED, CreditStatus.CANCELLED})


def payment_cursor(payment: Payment) -> str:
    """The cursor ``payments.list_payments`` gives the payment (``(paid_at, id)`` order)."""
    return cursor_of_payment(payment.paid_at, payment.id)


def cursor_of_payment(paid_at: datetime, payment_id: uuid.UUID) -> str:
    return encode_cursor(PAYMENT_CURSOR_TAG, isoformat(paid_at), str(payment_id))


Rows = tuple[sa.FromClause, list[sa.ColumnElement[bool]], list[sa.ColumnElement[object]]]


def schedules_query(credit_ids: Sequence[uuid.UUID]) -> Rows:
    """Every schedule header of each credit, the original first: ``(from clause,
    conditions, order_by)`` for any read path."""
    table = table_of(CreditSchedule)
    return (
        table,
        [table.c.credit_id.in_(list(credit_ids))],
        [table.c.credit_id, table.c.schedule_no],
    )


def allocations_query(payment_ids: Sequence[uuid.UUID]) -> Rows:
    """The allocation rows of each payment, by schedule and installment."""
    table = table_of(Allocation)
    return (
        table,
        [table.c.payment_id.in_(list(payment_ids))],
        [table.c.payment_id, table.c.schedule_no, table.c.installment_number, table.c.id],
    )


async def schedules_of(
    session: AsyncSession, credit_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[CreditSchedule]]:
    """Every schedule header of each credit, the original first."""
    out: dict[uuid.UUID, list[CreditSchedule]] = {i: [] for i in credit_ids}
    if not credit_ids:
        return out
    _, conditions, order_by = schedules_query(credit_ids)
    stmt = sa.select(CreditSchedule).where(*conditions).order_by(*order_by)
    for row in (await session.execute(stmt)).scalars():
        out[row.credit_id].append(row)
    return out


async def payments_by_id(
    session: AsyncSession, payment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Payment]:
    if not payment_ids:
        return {}
    stmt = sa.select(Payment).where(col(Payment.id).in_(list(payment_ids)))
    return {p.id: p for p in (await session.execute(stmt)).scalars()}


def _payment_filter(
    credit_ids: Sequence[uuid.UUID], include_reversed: bool
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [col(Payment.credit_id).in_(list(credit_ids))]
    if not include_reversed:
        conditions.append(col(Payment.status) == PaymentStatus.BOOKED)
    return conditions


def payments_query(
    credit_ids: Sequence[uuid.UUID],
    *,
    limit: int,
    include_reversed: bool = True,
    after: str | None = None,
) -> NestedQuery:
    """A page of ``limit`` payments of each credit in ``(paid_at, id)`` order, after the
    cursor ``after`` if given: the pages ``payments.list_payments`` gives, for any read
    path."""
    conditions = _payment_filter(credit_ids, include_reversed)
    if after:
        raw_at, raw_id = decode_cursor(after, PAYMENT_CURSOR_TAG, 2)
        try:
            last_at = datetime.fromisoformat(str(raw_at).replace("Z", "+00:00"))
            last_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        conditions.append(
            sa.or_(
                col(Payment.paid_at) > last_at,
                sa.and_(col(Payment.paid_at) == last_at, col(Payment.id) > last_id),
            )
        )
    table = table_of(Payment)
    return NestedQuery(
        table=table,
        parent=table.c.credit_id,
        parent_ids=tuple(credit_ids),
        conditions=tuple(conditions),
        order_by=(table.c.paid_at, table.c.id),
        limit=limit,
        after=after,
        cursor_keys=("paid_at", "id"),
        cursor=cursor_of_payment,
    )


async def payments_of(
    session: AsyncSession,
    credit_ids: Sequence[uuid.UUID],
    *,
    limit: int,
    include_reversed: bool = True,
    after: str | None = None,
) -> dict[uuid.UUID, Page[Payment]]:
    """A page of ``limit`` payments of each credit in ``(paid_at, id)`` order, after the
    cursor ``after`` if given (the pages ``payments.list_payments`` gives), in one statement
    (a window function)."""
    out: dict[uuid.UUID, Page[Payment]] = {}
    if not credit_ids:
        return out
    query = payments_query(credit_ids, limit=limit, include_reversed=include_reversed, after=after)
    ranked = query.subquery(Payment)
    row = aliased(Payment, ranked)
    found: dict[uuid.UUID, list[Payment]] = {i: [] for i in credit_ids}
    for payment in (await session.execute(query.outer(ranked, row))).scalars():
        found[payment.credit_id].append(payment)
    for credit_id, rows in found.items():
        items = rows[:limit]
        out[credit_id] = Page(
            items=items,
            cursors=[payment_cursor(p) for p in items],
            has_next=len(rows) > limit,
            has_previous=after is not None,
        )
    return out


async def payment_counts(
    session: AsyncSession, credit_ids: Sequence[uuid.UUID], *, include_reversed: bool = True
) -> dict[uuid.UUID, int]:
    out = dict.fromkeys(credit_ids, 0)
    if not credit_ids:
        return out
    stmt = (
        sa.select(col(Payment.credit_id), sa.func.count())
        .where(*_payment_filter(credit_ids, include_reversed))
        .group_by(col(Payment.credit_id))
    )
    for credit_id, count in await session.execute(stmt):
        out[credit_id] = int(count)
    return out


async def allocations_of(
    session: AsyncSession, payment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Allocation]]:
    """The allocation rows of each payment, by schedule and installment."""
    out: dict[uuid.UUID, list[Allocation]] = {i: [] for i in payment_ids}
    if not payment_ids:
        return out
    _, conditions, order_by = allocations_query(payment_ids)
    stmt = sa.select(Allocation).where(*conditions).order_by(*order_by)
    for row in (await session.execute(stmt)).scalars():
        out[row.payment_id].append(row)
    return out


def _in_force(
    model: type[CreditSchedule] | type[Payment] | type[Refund] | type[WriteOff],
) -> sa.ColumnElement[bool]:
    """Rows of a credit's schedule in force (joined with ``credits``)."""
    return sa.and_(
        col(Credit.id) == col(model.credit_id),
        col(Credit.schedule_no) == col(model.schedule_no),
    )


async def positions_of(
    session: AsyncSession,
    credits: Sequence[Credit],
    *,
    as_of: date | None = None,
    policy: CreditPolicy | None = None,
) -> dict[uuid.UUID, AllocationResult | None]:
    """The live ledger of each credit's schedule in force as of ``as_of`` (each credit's
    own today by default), exactly as ``payments.credit_position`` computes it for one, in
    four statements; None for a credit not disbursed or cancelled."""
    policy = policy or get_policy()
    out: dict[uuid.UUID, AllocationResult | None] = {c.id: None for c in credits}
    running = [c for c in credits if c.status not in NO_POSITION]
    if not running:
        return out
    ids = [c.id for c in running]
    headers = {
        h.credit_id: h
        for h in (
            await session.execute(
                sa.select(CreditSchedule)
                .join(Credit, _in_force(CreditSchedule))
                .where(col(Credit.id).in_(ids))
            )
        ).scalars()
    }
    booked: dict[uuid.UUID, list[Payment]] = {i: [] for i in ids}
    payment_rows = await session.execute(
        sa.select(Payment)
        .join(Credit, _in_force(Payment))
        .where(col(Credit.id).in_(ids), col(Payment.status) == PaymentStatus.BOOKED)
        .order_by(col(Payment.credit_id), col(Payment.paid_at), col(Payment.id))
    )
    for payment in payment_rows.scalars():
        booked[payment.credit_id].append(payment)
    refunds: dict[uuid.UUID, list[RefundEvent]] = {i: [] for i in ids}
    refund_rows = await session.execute(
        sa.select(
            col(Refund.credit_id),
            col(Refund.id),
            col(Refund.refunded_at),
            col(Refund.refunded_on),
            col(Refund.amount),
        )
        .join(Credit, _in_force(Refund))
        .where(col(Credit.id).in_(ids))
    )
    for r in refund_rows:
        refunds[r.credit_id].append(
            RefundEvent(id=r.id, at=r.refunded_at, on=r.refunded_on, amount=r.amount)
        )
    written: dict[uuid.UUID, list[WriteOff]] = {i: [] for i in ids}
    write_off_rows = await session.execute(
        sa.select(WriteOff)
        .join(Credit, _in_force(WriteOff))
        .where(col(Credit.id).in_(ids), col(WriteOff.status) == PaymentStatus.BOOKED)
    )
    for write_off in write_off_rows.scalars():
        written[write_off.credit_id].append(write_off)
    for credit in running:
        header = headers.get(credit.id)
        if header is None:
            continue
        out[credit.id] = ledger.allocate_loaded(
            credit,
            header,
            ledger.payment_events(booked[credit.id]),
            refunds[credit.id],
            as_of=as_of or today(credit.timezone),
            policy=policy,
            write_offs=ledger.write_off_events(written[credit.id]),
        )
    return out

"""Promises to pay: made by a customer to a collector, decided by the payments that arrive.

A promise says *amount* by *promised date*. It counts the credit's booked payments whose
business date falls in its window — from the day it was made to the promised date plus
the strategy's grace days (a transfer made on the day may be booked the next) — in the
credit's currency (a CLP payment on a UF credit counts what it converted to):

- paid ≥ amount → ``KEPT`` (decided on the day of the payment that completed it);
- the window over, something paid → ``PARTIALLY_KEPT``; nothing → ``BROKEN``.

Deciding is a function of the stored payments, not of the events that announce them
(:func:`evaluate_credit`): the worker reacting to ``payments.*`` and the daily run call it,
and a repeated, late or out-of-order event gives the same answer. A payment reversed before
the deadline reopens a kept promise; a backdated payment found later can keep a promise
that looked broken. Only a credit's latest promise is judged again once decided (an older
one was superseded by it). A credit has at most one open promise.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.collections import queues
from domain.collections import work_access as access
from domain.collections.collectors import collector_for_subject
from domain.collections.strategies import strategy_for
from domain.collections.work_models import Promise, PromiseHistory, PromiseStatus, QueueKind
from domain.credits import payoff
from domain.credits.models import Credit, Payment
from domain.credits.policy import today
from domain.credits.states import OPEN_STATUSES, PaymentStatus
from domain.shared import audit, outbox, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, InvalidTransition, NotFound, Problems, ValidationFailed
from domain.shared.money import Money
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import SYSTEM, Principal
from domain.shared.sql import for_update
from domain.shared.time import utcnow

__all__ = [
    "MAX_PROMISE_DAYS",
    "PromiseChange",
    "cancel_promise",
    "evaluate_credit",
    "get_promise",
    "list_promises",
    "make_promise",
    "window_end",
]

#: A promise is for at most this many days ahead.
MAX_PROMISE_DAYS = 60
NOTE_MAX = 500
_CURSOR_TAG = "promises.v1"

_TOPICS = {
    PromiseStatus.OPEN: "collections.promise_reopened",
    PromiseStatus.KEPT: "collections.promise_kept",
    PromiseStatus.PARTIALLY_KEPT: "collections.promise_partially_kept",
    PromiseStatus.BROKEN: "collections.promise_broken",
    PromiseStatus.CANCELLED: "collections.promise_cancelled",
}


def window_end(promise: Promise) -> date:
    return promise.promised_date + timedelta(days=promise.grace_days)


def _payload(promise: Promise) -> dict[str, Any]:
    return {
        "creditId": wire.global_id("Credit", promise.credit_id),
        "customerId": wire.global_id("Customer", promise.customer_id),
        "partnerId": wire.global_id("Partner", promise.partner_id),
        "promiseId": str(promise.id),
        "status": promise.status,
        "amount": wire.money(promise.amount, promise.currency),
        "paidAmount": wire.money(promise.paid_amount, promise.currency),
        "madeOn": wire.day(promise.made_on),
        "promisedDate": wire.day(promise.promised_date),
        "decidedOn": wire.maybe_day(promise.decided_on),
        "version": promise.version,
    }


def _emit(session: AsyncSession, topic: str, promise: Promise) -> None:
    outbox.add(
        session,
        topic,
        _payload(promise),
        partner_ids=[promise.partner_id],
        key=wire.global_id("Credit", promise.credit_id),
    )


def _remember(session: AsyncSession, promise: Promise) -> None:
    """The promise's state from now on, for reports (``PromiseHistory``)."""
    session.add(
        PromiseHistory(
            promise_id=promise.id,
            partner_id=promise.partner_id,
            status=promise.status,
            paid_amount=promise.paid_amount,
            decided_on=promise.decided_on,
        )
    )


def _snapshot(promise: Promise) -> dict[str, Any]:
    return {
        "credit_id": promise.credit_id,
        "amount": promise.amount,
        "currency": promise.currency,
        "made_on": promise.made_on,
        "promised_date": promise.promised_date,
        "grace_days": promise.grace_days,
        "status": promise.status,
        "paid_amount": promise.paid_amount,
        "decided_on": promise.decided_on,
        "version": promise.version,
    }


async def lender_credit(
    session: AsyncSession, principal: Principal, credit_id: uuid.UUID, *, lock: bool = False
) -> Credit:
    """A credit of the principal's lender (any other is ``NotFound``)."""
    access.ensure_can_read(principal)
    stmt = sa.select(Credit).where(col(Credit.id) == credit_id)
    if lock:
        stmt = for_update(stmt, session)
    credit = (await session.execute(stmt)).scalars().first()
    if credit is None:
        raise NotFound("Credit", credit_id)
    access.ensure_same_lender(principal, credit.partner_id, "Credit", credit_id)
    return credit


def _clean_note(problems: Problems, note: str | None, field: str = "note") -> str | None:
    if note is None:
        return None
    text = " ".join(note.split())
    if not text:
        return None
    if len(text) > NOTE_MAX:
        problems.add(field, f"at most {NOTE_MAX} characters")
    elif pan.contains_pan(text):
        problems.add(field, pan.MESSAGE)
    return text


async def make_promise(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    amount: Money,
    promised_date: date,
    note: str | None = None,
    field_prefix: str = "",
) -> Promise:
    """Record a promise to pay on a credit of the lender. The amount is in the credit's
    currency, more than zero and at most what pays the credit off by the promised date;
    the date from today to :data:`MAX_PROMISE_DAYS` ahead (lender's timezone)."""
    access.ensure_can_work(principal)
    credit = await lender_credit(session, principal, credit_id, lock=True)
    problems = Problems()
    if credit.status not in OPEN_STATUSES:
        problems.add(
            f"{field_prefix}creditId", f"the credit is {credit.status.lower().replace('_', ' ')}"
        )
    local_today = today(credit.timezone)
    if not isinstance(promised_date, date) or isinstance(promised_date, datetime):
        problems.add(f"{field_prefix}promisedDate", "must be a date")
    elif promised_date < local_today:
        problems.add(f"{field_prefix}promisedDate", "must be today or later")
    elif promised_date > local_today + timedelta(days=MAX_PROMISE_DAYS):
        problems.add(f"{field_prefix}promisedDate", f"at most {MAX_PROMISE_DAYS} days ahead")
    if amount.currency != credit.currency:
        problems.add(f"{field_prefix}amount.currency", f"the credit is in {credit.currency}")
    elif amount.amount <= 0:
        problems.add(f"{field_prefix}amount.amount", "must be greater than zero")
    text = _clean_note(problems, note, f"{field_prefix}note")
    problems.raise_if_any()
    quote = await payoff.payoff_quote(
        session, principal=SYSTEM, credit_id=credit.id, valid_until=promised_date
    )
    if amount.amount > quote.amount:
        raise ValidationFailed.on(
            f"{field_prefix}amount.amount",
            f"is more than what pays the credit off by then "
            f"({Money(quote.amount, credit.currency).format()} {credit.currency})",
        )
    current = (
        (
            await session.execute(
                sa.select(Promise).where(
                    col(Promise.credit_id) == credit.id, col(Promise.status) == PromiseStatus.OPEN
                )
            )
        )
        .scalars()
        .first()
    )
    if current is not None:
        raise Conflict(
            f"the credit already has an open promise (to {current.promised_date}); cancel it first",
            current_version=current.version,
        )
    strategy = await strategy_for(session, credit.partner_id)
    collector = None
    if principal.partner_id is not None:
        collector = await collector_for_subject(session, credit.partner_id, principal.subject)
    promise = Promise(
        partner_id=credit.partner_id,
        credit_id=credit.id,
        customer_id=credit.customer_id,
        amount=amount.amount,
        currency=credit.currency,
        made_on=local_today,
        promised_date=promised_date,
        grace_days=strategy.promise_grace_days,
        status=PromiseStatus.OPEN,
        collector_id=collector.id if collector is not None else None,
        note=text,
        created_by=principal.subject,
    )
    session.add(promise)
    await session.flush()
    _remember(session, promise)
    audit.record(
        session,
        principal=principal,
        action="collections.promise_made",
        entity_type="PromiseToPay",
        entity_id=promise.id,
        after=_snapshot(promise),
    )
    _emit(session, "collections.promise_made", promise)
    await evaluate_credit(session, credit=credit, as_of=local_today, only=[promise.id])
    items = (await queues.open_items_of(session, [credit.id]))[credit.id]
    broken = items.pop(QueueKind.BROKEN_PROMISE, None)
    if broken is not None:
        await queues.resolve_items(session, [broken], resolution="PROMISE_MADE", on=local_today)
    if promise.status == PromiseStatus.OPEN:
        for item in items.values():
            item.promise_id = promise.id
            item.version += 1
            item.updated_at = utcnow()
        await session.flush()
    return promise


async def cancel_promise(
    session: AsyncSession,
    *,
    principal: Principal,
    promise_id: uuid.UUID,
    reason: str,
    expected_version: int,
) -> Promise:
    """Withdraw an open promise (the customer took it back, it was recorded by mistake)."""
    access.ensure_can_work(principal)
    promise = (
        (
            await session.execute(
                for_update(sa.select(Promise).where(col(Promise.id) == promise_id), session)
            )
        )
        .scalars()
        .first()
    )
    if promise is None:
        raise NotFound("PromiseToPay", promise_id)
    access.ensure_same_lender(principal, promise.partner_id, "PromiseToPay", promise_id)
    if promise.version != expected_version:
        raise Conflict(
            f"the promise changed since version {expected_version}; it is now at version "
            f"{promise.version}",
            current_version=promise.version,
        )
    problems = Problems()
    text = " ".join((reason or "").split())
    if not text or len(text) > 300:
        problems.add("reason", "1 to 300 characters")
    elif pan.contains_pan(text):
        problems.add("reason", pan.MESSAGE)
    problems.raise_if_any()
    if promise.status != PromiseStatus.OPEN:
        raise InvalidTransition("PromiseToPay", promise.status, PromiseStatus.CANCELLED)
    before = _snapshot(promise)
    promise.status = PromiseStatus.CANCELLED
    promise.cancel_reason = text
    promise.version += 1
    promise.updated_at = utcnow()
    await session.flush()
    _remember(session, promise)
    audit.record(
        session,
        principal=principal,
        action="collections.promise_cancelled",
        entity_type="PromiseToPay",
        entity_id=promise.id,
        before=before,
        after={**_snapshot(promise), "reason": text},
    )
    _emit(session, "collections.promise_cancelled", promise)
    return promise


# --- deciding -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PromiseChange:
    promise_id: uuid.UUID
    credit_id: uuid.UUID
    before: str
    after: str


def _decide(
    promise: Promise, payments: Sequence[tuple[date, datetime, uuid.UUID, int]], as_of: date
) -> tuple[str, int, date | None]:
    """(status, paid amount, decided on) of a promise from the credit's booked payments
    ``(paid_on, paid_at, id, amount)`` in allocation order."""
    end = window_end(promise)
    paid = 0
    for paid_on, _, _, amount in payments:
        if promise.made_on <= paid_on <= end:
            paid += amount
            if paid >= promise.amount:
                return PromiseStatus.KEPT, paid, paid_on
    if as_of > end:
        status = PromiseStatus.PARTIALLY_KEPT if paid > 0 else PromiseStatus.BROKEN
        return status, paid, end + timedelta(days=1)
    return PromiseStatus.OPEN, paid, None


async def evaluate_credit(
    session: AsyncSession,
    *,
    credit: Credit,
    as_of: date,
    actor: Principal = SYSTEM,
    only: Sequence[uuid.UUID] | None = None,
) -> list[PromiseChange]:
    """Decide the credit's open promises, and judge its latest decided one again, from the
    stored payments as of the business day ``as_of``. Idempotent."""
    rows = list(
        (
            await session.execute(
                for_update(
                    sa.select(Promise)
                    .where(
                        col(Promise.credit_id) == credit.id,
                        col(Promise.status) != PromiseStatus.CANCELLED,
                    )
                    .order_by(col(Promise.made_on).desc(), col(Promise.created_at).desc())
                    .limit(5),
                    session,
                )
            )
        ).scalars()
    )
    if not rows:
        return []
    latest = rows[0]
    judged = [p for p in rows if p.status == PromiseStatus.OPEN or p.id == latest.id]
    if only is not None:
        judged = [p for p in judged if p.id in set(only)]
    if not judged:
        return []
    start = min(p.made_on for p in judged)
    payments = [
        (r.paid_on, r.paid_at, r.id, int(r.credit_amount))
        for r in (
            await session.execute(
                sa.select(
                    col(Payment.paid_on),
                    col(Payment.paid_at),
                    col(Payment.id),
                    col(Payment.credit_amount),
                )
                .where(
                    col(Payment.credit_id) == credit.id,
                    col(Payment.status) == PaymentStatus.BOOKED,
                    col(Payment.paid_on) >= start,
                )
                .order_by(col(Payment.paid_at), col(Payment.id))
            )
        ).all()
    ]
    open_elsewhere = any(p.status == PromiseStatus.OPEN and p.id != latest.id for p in rows)
    changes: list[PromiseChange] = []
    for promise in judged:
        status, paid, decided_on = _decide(promise, payments, as_of)
        if status == PromiseStatus.OPEN and promise.status != PromiseStatus.OPEN and open_elsewhere:
            continue  # another promise is open: this one stays decided
        if (status, paid, decided_on) == (promise.status, promise.paid_amount, promise.decided_on):
            continue
        before_status = promise.status
        before = _snapshot(promise)
        promise.status = status
        promise.paid_amount = paid
        promise.decided_on = decided_on
        promise.version += 1
        promise.updated_at = utcnow()
        _remember(session, promise)
        await session.flush()
        if before_status == status:
            continue  # progress only (part paid, still open): the figure, no decision
        audit.record(
            session,
            principal=actor,
            action=_TOPICS[PromiseStatus(status)],
            entity_type="PromiseToPay",
            entity_id=promise.id,
            before=before,
            after=_snapshot(promise),
        )
        _emit(session, _TOPICS[PromiseStatus(status)], promise)
        changes.append(PromiseChange(promise.id, credit.id, before_status, status))
    return changes


# --- reading --------------------------------------------------------------------------------
async def promises_by_id(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Promise]:
    """Promises by id, no access check (DataLoaders of already-checked rows)."""
    if not ids:
        return {}
    rows = await session.execute(sa.select(Promise).where(col(Promise.id).in_(list(set(ids)))))
    return {p.id: p for p in rows.scalars()}


async def get_promise(
    session: AsyncSession, *, principal: Principal, promise_id: uuid.UUID
) -> Promise:
    access.ensure_can_read(principal)
    promise = await session.get(Promise, promise_id)
    if promise is None:
        raise NotFound("PromiseToPay", promise_id)
    access.ensure_same_lender(principal, promise.partner_id, "PromiseToPay", promise_id)
    return promise


async def list_promises(
    session: AsyncSession,
    *,
    principal: Principal,
    lender_id: uuid.UUID | None,
    limit: int,
    after: str | None = None,
    credit_id: uuid.UUID | None = None,
    statuses: Sequence[str] | None = None,
) -> Page[Promise]:
    """A lender's promises, the newest first (keyset on the time-ordered id)."""
    partner_id = access.lender_for(principal, lender_id)
    conditions: list[sa.ColumnElement[bool]] = [col(Promise.partner_id) == partner_id]
    if credit_id is not None:
        conditions.append(col(Promise.credit_id) == credit_id)
    if statuses:
        known = {s.value for s in PromiseStatus}
        bad = [s for s in statuses if s not in known]
        if bad:
            raise ValidationFailed.on("status", f"unknown status {bad[0]!r}")
        conditions.append(col(Promise.status).in_(list(statuses)))
    stmt = sa.select(Promise).where(*conditions)
    if after:
        (raw,) = decode_cursor(after, _CURSOR_TAG, 1)
        try:
            last = uuid.UUID(str(raw))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        stmt = stmt.where(col(Promise.id) < last)
    rows = list(
        (await session.execute(stmt.order_by(col(Promise.id).desc()).limit(limit + 1))).scalars()
    )
    items = rows[:limit]
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR_TAG, str(p.id)) for p in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
    )

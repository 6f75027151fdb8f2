"""Payments: register (idempotent), reverse, refund the credit balance, and read.

Every change replays the credit's schedule in force from scratch (:func:`ledger.replay`),
so a backdated payment or a reversal leaves the credit exactly as if the payments had
arrived in ``(paid_at, id)`` order. After the allocations change, the investors'
distribution lines are recomputed (``domain.investors.distributions.sync_credit``).

A payment in pesos on a UF (``CLF``) credit is converted at the UF value of its business
date (``paid_at`` in the lender's timezone), rounded half up to 4 decimals, once, when it is
registered; the value used is stored with the payment.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits import ledger, records, uf
from domain.credits.access import ensure_can_read, ensure_can_write, ensure_visible
from domain.credits.allocation import AllocationResult, Prepayment
from domain.credits.inputs import AmountInput, parse_reason
from domain.credits.models import Allocation, Credit, Payment, Refund
from domain.credits.policy import CreditPolicy, business_date, get_policy, today
from domain.credits.schedules import parse_money
from domain.credits.service import get_credit
from domain.credits.states import CreditStatus, PaymentStatus
from domain.shared import audit, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    Problems,
    ValidationFailed,
)
from domain.shared.models import table_of
from domain.shared.money import CURRENCY_EXPONENTS, Money
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal, Scope
from domain.shared.time import NaiveDatetimeError, ensure_utc, isoformat, utcnow

__all__ = [
    "FUTURE_TOLERANCE",
    "allocation_totals",
    "credit_position",
    "get_payment",
    "list_allocations",
    "list_payments",
    "refund_credit_balance",
    "register_payment",
    "reverse_payment",
]

#: A ``paid_at`` this far ahead of the server clock is still accepted (clock skew).
FUTURE_TOLERANCE = timedelta(minutes=5)
#: No single payment reaches 10^15 minor units; larger input is a mistake.
MAX_AMOUNT = 10**15
MAX_REFERENCE = 100
_KEY = re.compile(r"^[\x21-\x7e]{1,100}$", re.ASCII)
_CURSOR_TAG = "payments.v1"

_REFUSED = {
    CreditStatus.APPROVED: "the credit has not been disbursed yet",
    CreditStatus.CANCELLED: "the credit is cancelled",
    CreditStatus.PAID_OFF: "the credit is paid off; nothing is owed",
    CreditStatus.WRITTEN_OFF: "the credit is written off",
}


def ensure_can_pay(principal: Principal) -> None:
    if not principal.has_scope(Scope.PAYMENTS_WRITE):
        raise Forbidden("you cannot register payments")


def _payment_payload(payment: Any) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "amount": payment.amount,
        "payment_currency": payment.currency,
        "credit_amount": payment.credit_amount,
        "uf_value": payment.uf_value,
        "paid_at": payment.paid_at,
        "paid_on": payment.paid_on,
        "allocated_amount": payment.allocated_amount,
        "held_amount": payment.held_amount,
        "prepayment": payment.prepayment,
    }


def _payment_event(payment: Any, credit: Any) -> dict[str, Any]:
    """The payment's part of ``payments.received`` (``domain/credits/events.py``); a
    ``Payment`` and ``Credit`` or stand-ins with their attributes (the batched path)."""

    def m(amount: int) -> dict[str, str]:
        return wire.money(amount, credit.currency)

    return {
        "paymentId": wire.global_id("Payment", payment.id),
        "amount": wire.money(payment.amount, payment.currency),
        "creditAmount": m(payment.credit_amount),
        "ufValue": wire.decimal(payment.uf_value) if payment.uf_value is not None else None,
        "paidAt": wire.instant(payment.paid_at),
        "paidOn": wire.day(payment.paid_on),
        "allocatedAmount": m(payment.allocated_amount),
        "heldAmount": m(payment.held_amount),
        "prepayment": payment.prepayment,
    }


def _snapshot(payment: Any) -> dict[str, Any]:
    return {
        "credit_id": payment.credit_id,
        "status": payment.status,
        "reference": payment.reference,
        "idempotency_key": payment.idempotency_key,
        **_payment_payload(payment),
    }


def _parse_paid_at(value: object, problems: Problems) -> datetime | None:
    if not isinstance(value, datetime):
        problems.add("paidAt", "must be a date and time with its timezone")
        return None
    try:
        at = ensure_utc(value)
    except NaiveDatetimeError:
        problems.add("paidAt", "must carry a timezone (an instant, not a wall-clock time)")
        return None
    if at > utcnow() + FUTURE_TOLERANCE:
        problems.add("paidAt", "cannot be in the future")
        return None
    return at


def _parse_payment_amount(amount: object, currency: str | None, problems: Problems) -> Money | None:
    if isinstance(amount, Money):
        money = amount
    else:
        if not isinstance(currency, str) or currency not in CURRENCY_EXPONENTS:
            known = ", ".join(sorted(CURRENCY_EXPONENTS))
            problems.add("currency", f"{currency!r} is not a supported currency ({known})")
            return None
        try:
            money = parse_money(amount, currency, field="amount")
        except ValidationFailed as exc:
            problems.items.extend(exc.problems)
            return None
    if money.amount <= 0:
        problems.add("amount", "must be greater than zero")
        return None
    if money.amount >= MAX_AMOUNT:
        problems.add("amount", "is too large")
        return None
    return money


def _clean_text(value: object, field: str, limit: int, problems: Problems) -> str:
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if not text or len(text) > limit:
        problems.add(field, f"1 to {limit} characters")
    elif pan.contains_pan(text):
        problems.add(field, pan.MESSAGE)
    return text


async def _by_key(session: AsyncSession, credit_id: uuid.UUID, key: str) -> Payment | None:
    stmt = sa.select(Payment).where(
        col(Payment.credit_id) == credit_id, col(Payment.idempotency_key) == key
    )
    return (await session.execute(stmt)).scalars().first()


async def register_payment(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    amount: AmountInput,
    paid_at: datetime,
    reference: str,
    idempotency_key: str,
    currency: str | None = None,
    prepayment: str | None = None,
    expected_version: int | None = None,
    policy: CreditPolicy | None = None,
) -> Payment:
    """Book a payment and replay the credit's allocations.

    ``amount`` is ``Money`` or a major-unit decimal in ``currency``. The same
    ``idempotency_key`` on the same credit books once: a repeat with the same amount and
    currency returns the first payment (nothing is written); with a different one it is a
    ``Conflict``. ``prepayment`` (``SHORTER_TERM`` / ``SMALLER_INSTALLMENT``) sends what is
    left after everything due to principal; without it the rest is kept as credit balance.
    ``expected_version`` is optional: payments from partner systems rarely know it.
    """
    ensure_can_pay(principal)
    policy = policy or get_policy()
    if not isinstance(idempotency_key, str) or not _KEY.match(idempotency_key):
        raise ValidationFailed.on("idempotencyKey", "1 to 100 visible ASCII characters, no spaces")
    if pan.contains_pan(idempotency_key):
        raise ValidationFailed.on("idempotencyKey", pan.MESSAGE)
    credit = await records.lock_credit(session, credit_id)
    ensure_visible(principal, credit)
    p = Problems()
    money = _parse_payment_amount(amount, currency, p)
    existing = await _by_key(session, credit.id, idempotency_key)
    if existing is not None:
        p.raise_if_any()
        if money is not None and (existing.amount, existing.currency) == (
            money.amount,
            money.currency,
        ):
            return existing
        raise Conflict(
            f"idempotency key {idempotency_key!r} was already used on this credit for "
            f"another amount ({Money(existing.amount, existing.currency)})"
        )
    records.check_version(credit, expected_version)
    at = _parse_paid_at(paid_at, p)
    text = _clean_text(reference, "reference", MAX_REFERENCE, p)
    option = None
    if prepayment is not None:
        if prepayment not in {o.value for o in Prepayment}:
            allowed = ", ".join(o.value for o in Prepayment)
            p.add("prepayment", f"{prepayment!r} is not one of {allowed}")
        else:
            option = Prepayment(prepayment)
    if credit.status in _REFUSED:
        p.add("creditId", _REFUSED[CreditStatus(credit.status)])
    converts = money is not None and (credit.currency, money.currency) == ("CLF", "CLP")
    if money is not None and money.currency != credit.currency and not converts:
        accepted = "CLF or CLP" if credit.currency == "CLF" else credit.currency
        p.add("currency", f"this credit is in {credit.currency}; pay in {accepted}")
    p.raise_if_any()
    assert money is not None and at is not None
    paid_on = business_date(at, credit.timezone)
    header = await records.current_header(session, credit)
    if paid_on < header.start_date:
        what = "disbursed" if credit.schedule_no == 1 else "restructured"
        raise ValidationFailed.on(
            "paidAt", f"is before the credit was {what}, on {header.start_date.isoformat()}"
        )
    uf_value: Decimal | None = None
    credit_amount = money.amount
    if money.currency != credit.currency:
        uf_value = await uf.get_uf_value(session, paid_on, field="paidAt")
        credit_amount = uf.clp_to_uf(money, uf_value).amount
        if credit_amount <= 0:
            raise ValidationFailed.on("amount", "is less than the smallest amount of UF")
    latest = (
        await session.execute(
            sa.select(sa.func.max(col(Payment.paid_at))).where(
                col(Payment.credit_id) == credit.id,
                col(Payment.status) == PaymentStatus.BOOKED,
            )
        )
    ).scalar()
    payment = Payment(
        credit_id=credit.id,
        schedule_no=credit.schedule_no,
        amount=money.amount,
        currency=money.currency,
        credit_amount=credit_amount,
        uf_value=uf_value,
        paid_at=at,
        paid_on=paid_on,
        reference=text,
        idempotency_key=idempotency_key,
        prepayment=option,
        status=PaymentStatus.BOOKED,
        created_by=principal.subject,
    )
    session.add(payment)
    await session.flush()
    credit.version += 1
    credit.updated_at = utcnow()
    outcome = await ledger.replay(
        session,
        credit,
        as_of=max(today(credit.timezone), paid_on),
        policy=policy,
        actor=principal,
    )
    audit.record(
        session,
        principal=principal,
        action="payments.received",
        entity_type="Payment",
        entity_id=payment.id,
        after=_snapshot(payment),
    )
    records.emit(
        session,
        credit,
        "payments.received",
        _received_payload(
            payment,
            credit,
            backdated=latest is not None and ensure_utc(latest) > at,
            days_past_due=outcome.result.days_past_due,
        ),
    )
    return payment


def _received_payload(
    payment: Any, credit: Any, *, backdated: bool, days_past_due: int
) -> dict[str, Any]:
    """The topic's own fields of ``payments.received`` (the credit's come from
    ``records.emit``)."""
    return {
        **_payment_event(payment, credit),
        "backdated": backdated,
        "creditBalance": wire.money(credit.credit_balance, credit.currency),
        "outstandingPrincipal": wire.money(credit.outstanding_principal, credit.currency),
        "daysPastDue": days_past_due,
    }


async def reverse_payment(
    session: AsyncSession,
    *,
    principal: Principal,
    payment_id: uuid.UUID,
    reason: str,
    expected_version: int | None = None,
    policy: CreditPolicy | None = None,
) -> Payment:
    """Reverse a booked payment and replay the credit without it (a paid-off credit
    reopens). A payment made before a restructure, or whose kept balance was refunded,
    cannot be reversed (``Conflict``)."""
    ensure_can_pay(principal)
    policy = policy or get_policy()
    text = parse_reason(reason)
    payment = await session.get(Payment, payment_id)
    if payment is None:
        raise NotFound("Payment", payment_id)
    credit = await records.lock_credit(session, payment.credit_id)
    try:
        ensure_visible(principal, credit)
    except NotFound:
        raise NotFound("Payment", payment_id) from None
    records.check_version(credit, expected_version)
    if payment.status != PaymentStatus.BOOKED:
        raise InvalidTransition("Payment", payment.status, PaymentStatus.REVERSED)
    if credit.status in {CreditStatus.WRITTEN_OFF, CreditStatus.CANCELLED}:
        raise Conflict(f"credit {credit.reference} is {credit.status.lower().replace('_', ' ')}")
    if payment.schedule_no != credit.schedule_no:
        raise Conflict(
            f"credit {credit.reference} was restructured after this payment; it cannot be "
            "reversed any more"
        )
    before = _snapshot(payment)
    payment.status = PaymentStatus.REVERSED
    payment.reversed_at = utcnow()
    payment.reversal_reason = text
    payment.allocated_amount = payment.held_amount = payment.refunded_amount = 0
    await session.flush()
    credit.version += 1
    credit.updated_at = utcnow()
    outcome = await ledger.replay(
        session, credit, as_of=today(credit.timezone), policy=policy, actor=principal
    )
    audit.record(
        session,
        principal=principal,
        action="payments.reversed",
        entity_type="Payment",
        entity_id=payment.id,
        before=before,
        after=_snapshot(payment),
    )
    records.emit(
        session,
        credit,
        "payments.reversed",
        {
            "paymentId": wire.global_id("Payment", payment.id),
            "amount": wire.money(payment.amount, payment.currency),
            "creditAmount": wire.money(payment.credit_amount, credit.currency),
            "paidAt": wire.instant(payment.paid_at),
            "creditBalance": wire.money(credit.credit_balance, credit.currency),
            "outstandingPrincipal": wire.money(credit.outstanding_principal, credit.currency),
            "daysPastDue": outcome.result.days_past_due,
        },
    )
    return payment


async def refund_credit_balance(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    expected_version: int,
    reference: str,
    amount: AmountInput | None = None,
    policy: CreditPolicy | None = None,
) -> Refund:
    """Pay back (part of) the credit balance: all of it unless ``amount`` is given. The
    ledger is brought up to today first, so a balance already applied to an installment
    that fell due cannot be refunded."""
    ensure_can_write(principal)
    policy = policy or get_policy()
    credit = await records.lock_credit(session, credit_id)
    ensure_visible(principal, credit)
    records.check_version(credit, expected_version)
    p = Problems()
    text = _clean_text(reference, "reference", MAX_REFERENCE, p)
    if credit.status in {CreditStatus.APPROVED, CreditStatus.CANCELLED}:
        p.add("creditId", _REFUSED[CreditStatus(credit.status)])
    money = None
    if amount is not None:
        money = _parse_payment_amount(amount, credit.currency, p)
        if money is not None and money.currency != credit.currency:
            p.add("amount", f"a refund is in the credit's currency, {credit.currency}")
    p.raise_if_any()
    local_today = today(credit.timezone)
    await ledger.replay(session, credit, as_of=local_today, policy=policy, actor=principal)
    balance = credit.credit_balance
    value = balance if money is None else money.amount
    if balance <= 0:
        raise ValidationFailed.on("amount", "the credit has no balance to refund")
    if value > balance:
        raise ValidationFailed.on(
            "amount",
            f"is more than the credit balance of {Money(balance, credit.currency).format()}",
        )
    now = utcnow()
    refund = Refund(
        credit_id=credit.id,
        schedule_no=credit.schedule_no,
        amount=value,
        refunded_at=now,
        refunded_on=business_date(now, credit.timezone),
        reference=text,
        created_by=principal.subject,
    )
    session.add(refund)
    await session.flush()
    before = records.snapshot(credit)
    credit.version += 1
    credit.updated_at = now
    await ledger.replay(session, credit, as_of=refund.refunded_on, policy=policy, actor=principal)
    audit.record(
        session,
        principal=principal,
        action="credits.balance_refunded",
        entity_type="Credit",
        entity_id=credit.id,
        before=before,
        after={**records.snapshot(credit), "refund_id": refund.id, "refund_amount": value},
    )
    records.emit(
        session,
        credit,
        "credits.balance_refunded",
        {
            "refundId": str(refund.id),
            "amount": wire.money(value, credit.currency),
            "creditBalance": wire.money(credit.credit_balance, credit.currency),
        },
    )
    return refund


# --- reads ----------------------------------------------------------------------------------
async def allocation_totals(
    session: AsyncSession, credit_id: uuid.UUID
) -> dict[uuid.UUID, dict[str, int]]:
    """``{payment_id: {component: amount}}`` over every schedule of the credit, from the
    stored allocation rows (reversed payments have none). No access check: for services
    such as the investors' distributions that already hold the credit."""
    table = table_of(Allocation)
    rows = await session.execute(
        sa.select(table.c.payment_id, table.c.component, sa.func.sum(table.c.amount))
        .where(table.c.credit_id == credit_id)
        .group_by(table.c.payment_id, table.c.component)
    )
    out: dict[uuid.UUID, dict[str, int]] = {}
    for payment_id, component, amount in rows:
        out.setdefault(payment_id, {})[component] = int(amount or 0)
    return out


async def get_payment(
    session: AsyncSession, *, principal: Principal, payment_id: uuid.UUID
) -> Payment:
    ensure_can_read(principal)
    payment = await session.get(Payment, payment_id)
    if payment is None:
        raise NotFound("Payment", payment_id)
    credit = await session.get(Credit, payment.credit_id)
    if credit is None:
        raise NotFound("Payment", payment_id)
    try:
        ensure_visible(principal, credit)
    except NotFound:
        raise NotFound("Payment", payment_id) from None
    return payment


async def list_payments(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    limit: int,
    after: str | None = None,
    include_reversed: bool = True,
) -> Page[Payment]:
    """A credit's payments in ``(paid_at, id)`` order, the order they are allocated in."""
    credit = await get_credit(session, principal=principal, credit_id=credit_id)
    stmt = sa.select(Payment).where(col(Payment.credit_id) == credit.id)
    if not include_reversed:
        stmt = stmt.where(col(Payment.status) == PaymentStatus.BOOKED)
    if after:
        raw_at, raw_id = decode_cursor(after, _CURSOR_TAG, 2)
        try:
            last_at = datetime.fromisoformat(str(raw_at).replace("Z", "+00:00"))
            last_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        stmt = stmt.where(
            sa.or_(
                col(Payment.paid_at) > last_at,
                sa.and_(col(Payment.paid_at) == last_at, col(Payment.id) > last_id),
            )
        )
    stmt = stmt.order_by(col(Payment.paid_at), col(Payment.id)).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    items = rows[:limit]
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR_TAG, isoformat(r.paid_at), str(r.id)) for r in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
    )


async def list_allocations(
    session: AsyncSession, *, principal: Principal, payment_id: uuid.UUID
) -> list[Allocation]:
    payment = await get_payment(session, principal=principal, payment_id=payment_id)
    rows = await session.execute(
        sa.select(Allocation)
        .where(col(Allocation.payment_id) == payment.id)
        .order_by(col(Allocation.schedule_no), col(Allocation.installment_number))
    )
    return list(rows.scalars().all())


async def credit_position(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    as_of: date | None = None,
    policy: CreditPolicy | None = None,
) -> AllocationResult:
    """The live ledger of the schedule in force as of ``as_of`` (today by default): late
    interest to the day, amounts due, days past due. Computed, nothing written."""
    credit = await get_credit(session, principal=principal, credit_id=credit_id)
    if credit.status in {CreditStatus.APPROVED, CreditStatus.CANCELLED}:
        raise ValidationFailed.on("creditId", _REFUSED[CreditStatus(credit.status)])
    day = as_of or today(credit.timezone)
    result, _, _ = await ledger.compute(session, credit, as_of=day, policy=policy or get_policy())
    return result

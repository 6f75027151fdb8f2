"""Partial write-offs: part of what an installment owes forgiven, never cash.

A collections rule that takes several bank lines (or one) as paying an installment within a
tolerance for bank fees and withholdings may, by policy, write the difference off. That
difference is not money received: it is booked here, not as a payment, so a credit's
payments always add up to what the bank paid.

Ledger rules (``docs/credits-ledger.md`` §2b):

- A write-off names an installment of the schedule in force (or none: the oldest row not
  settled) and an amount in the credit's currency (a CLP amount on a UF credit is converted
  at the UF value of its business date, like a payment). It is replayed with the payments
  (``WriteOffEvent``) at its instant, after the payments of that same instant.
- It forgives what is **due**: each row in the *reverse* of the credit's allocation order
  (by default PRINCIPAL, then INTEREST, CHARGES, LATE_INTEREST: what cash would pay last
  goes first, so the cash that arrives keeps paying in the usual order), then the next due
  rows. A write-off dated before its installment falls due waits for the due date, like a
  credit balance does. What finds nothing owed is not applied: ``applied_amount`` says
  what it forgave, ``components`` how (per installment and component).
- It is refused (nothing written) when it would forgive more than the credit will owe from
  that installment on when it applies, given the payments booked so far.
- Idempotent per ``(credit, idempotency_key)``: the same key with the same amount returns
  the first write-off; with another amount it is a ``Conflict``. ``source`` names what
  asked for it (a bank line).
- Reversible (:func:`reverse_write_off`, e.g. when the bank lines are unmatched): the credit
  is replayed without it. Both are audited and on the outbox
  (``credits.shortfall_written_off``, ``credits.write_off_reversed``).

Write-offs are not allocations: the investors' distributions (cash paid to investors) and
the reports' cash figures never see them; positions, payoff quotes, delinquency and the
reports' outstanding and overdue figures do (they replay the ledger).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits import ledger, records, uf
from domain.credits.access import ensure_can_read, ensure_visible
from domain.credits.allocation import WriteOffEvent
from domain.credits.inputs import parse_reason
from domain.credits.models import Credit, Installment, WriteOff
from domain.credits.payments import (
    _KEY,
    FUTURE_TOLERANCE,
    MAX_AMOUNT,
    MAX_REFERENCE,
    _clean_text,
    ensure_can_pay,
)
from domain.credits.policy import CreditPolicy, business_date, get_policy, today
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
from domain.shared.money import CURRENCY_EXPONENTS, Money
from domain.shared.principal import Principal, Role, Scope
from domain.shared.time import ensure_utc, utcnow

__all__ = [
    "ensure_can_write_off",
    "get_write_off",
    "list_write_offs",
    "reverse_write_off",
    "write_off_shortfall",
]

_OPEN = {CreditStatus.ACTIVE, CreditStatus.DELINQUENT, CreditStatus.RESTRUCTURED}


def ensure_can_write_off(principal: Principal) -> None:
    """Supervisors and administrators, and the lender's systems (which apply the policies
    supervisors set, e.g. a collections rule set), with ``payments:write``."""
    if not principal.has_scope(Scope.PAYMENTS_WRITE) or not principal.has_role(
        Role.SUPERVISOR, Role.ADMIN, Role.PARTNER_SYSTEM
    ):
        raise Forbidden("only supervisors, administrators and the lender's systems write off")


def _snapshot(w: WriteOff) -> dict[str, Any]:
    return {
        "credit_id": w.credit_id,
        "installment_number": w.installment_number,
        "amount": w.amount,
        "currency": w.currency,
        "credit_amount": w.credit_amount,
        "uf_value": w.uf_value,
        "applied_amount": w.applied_amount,
        "components": w.components,
        "written_at": w.written_at,
        "reason": w.reason,
        "reference": w.reference,
        "source": w.source,
        "status": w.status,
    }


def _payload(w: WriteOff, credit: Credit, days_past_due: int) -> dict[str, Any]:
    return {
        "writeOffId": str(w.id),
        "installmentNumber": w.installment_number,
        "amount": wire.money(w.amount, w.currency),
        "creditAmount": wire.money(w.credit_amount, credit.currency),
        "appliedAmount": wire.money(w.applied_amount, credit.currency),
        "writtenAt": wire.instant(w.written_at),
        "writtenOn": wire.day(w.written_on),
        "source": w.source,
        "creditBalance": wire.money(credit.credit_balance, credit.currency),
        "outstandingPrincipal": wire.money(credit.outstanding_principal, credit.currency),
        "daysPastDue": days_past_due,
    }


def _parse_amount(amount: object, p: Problems) -> Money | None:
    if not isinstance(amount, Money):
        p.add("amount", "is a Money amount in minor units")
        return None
    if amount.currency not in CURRENCY_EXPONENTS:
        p.add("currency", f"{amount.currency!r} is not a known currency")
        return None
    if amount.amount <= 0:
        p.add("amount", "must be more than zero")
        return None
    if amount.amount >= MAX_AMOUNT:
        p.add("amount", "is too large")
        return None
    return amount


async def _by_key(session: AsyncSession, credit_id: uuid.UUID, key: str) -> WriteOff | None:
    return (
        (
            await session.execute(
                sa.select(WriteOff).where(
                    col(WriteOff.credit_id) == credit_id, col(WriteOff.idempotency_key) == key
                )
            )
        )
        .scalars()
        .first()
    )


async def write_off_shortfall(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    amount: Money,
    written_at: datetime,
    reason: str,
    reference: str,
    idempotency_key: str,
    installment_number: int | None = None,
    source: str | None = None,
    expected_version: int | None = None,
    policy: CreditPolicy | None = None,
) -> WriteOff:
    """Forgive ``amount`` of what the credit owes from ``installment_number`` on (module
    doc); replay the credit; audit and emit ``credits.shortfall_written_off``."""
    ensure_can_write_off(principal)
    policy = policy or get_policy()
    if not isinstance(idempotency_key, str) or not _KEY.match(idempotency_key):
        raise ValidationFailed.on("idempotencyKey", "1 to 100 visible ASCII characters, no spaces")
    if pan.contains_pan(idempotency_key):
        raise ValidationFailed.on("idempotencyKey", pan.MESSAGE)
    credit = await records.lock_credit(session, credit_id)
    ensure_visible(principal, credit)
    p = Problems()
    money = _parse_amount(amount, p)
    existing = await _by_key(session, credit.id, idempotency_key)
    if existing is not None:
        p.raise_if_any()
        assert money is not None
        if (existing.amount, existing.currency) == (money.amount, money.currency):
            return existing
        raise Conflict(
            f"idempotency key {idempotency_key!r} was already used on this credit for "
            f"another write-off ({Money(existing.amount, existing.currency)})"
        )
    records.check_version(credit, expected_version)
    text = ""
    try:
        text = parse_reason(reason)
    except ValidationFailed as exc:
        for problem in exc.problems:
            p.add(problem.field, problem.message)
    ref = _clean_text(reference, "reference", MAX_REFERENCE, p)
    src = None
    if source is not None:
        src = _clean_text(source, "source", 200, p)
    at: datetime | None = None
    if isinstance(written_at, datetime) and written_at.tzinfo is not None:
        at = ensure_utc(written_at)
    else:
        p.add("writtenAt", "is a date and time with its offset")
    if at is not None and at > utcnow() + FUTURE_TOLERANCE:
        p.add("writtenAt", "is in the future")
    if credit.status not in _OPEN:
        p.add(
            "creditId", f"credit {credit.reference} is {credit.status.lower()}: nothing to forgive"
        )
    converts = money is not None and (credit.currency, money.currency) == ("CLF", "CLP")
    if money is not None and money.currency != credit.currency and not converts:
        p.add("currency", f"this credit is in {credit.currency}")
    if installment_number is not None:
        found = (
            await session.execute(
                sa.select(col(Installment.due_date)).where(
                    col(Installment.credit_id) == credit.id,
                    col(Installment.schedule_no) == credit.schedule_no,
                    col(Installment.number) == installment_number,
                )
            )
        ).scalar()
        if found is None:
            p.add("installmentNumber", "is not an installment of the schedule in force")
    p.raise_if_any()
    assert money is not None and at is not None
    written_on = business_date(at, credit.timezone)
    header = await records.current_header(session, credit)
    if written_on < header.start_date:
        raise ValidationFailed.on(
            "writtenAt", f"is before the schedule in force started, on {header.start_date}"
        )
    uf_value: Decimal | None = None
    credit_amount = money.amount
    if money.currency != credit.currency:
        uf_value = await uf.get_uf_value(session, written_on, field="writtenAt")
        credit_amount = uf.clp_to_uf(money, uf_value).amount
        if credit_amount <= 0:
            raise ValidationFailed.on("amount", "is less than the smallest amount of UF")
    # What it would forgive when it applies (its installment's due date if later), with the
    # payments booked so far: refused, nothing written, if that is less than asked.
    probe_id = uuid.UUID(int=0)
    due = (
        await session.execute(
            sa.select(sa.func.max(col(Installment.due_date))).where(
                col(Installment.credit_id) == credit.id,
                col(Installment.schedule_no) == credit.schedule_no,
                col(Installment.number) == (installment_number or 0),
            )
        )
    ).scalar()
    as_of = max(today(credit.timezone), written_on, due or written_on)
    probe = WriteOffEvent(probe_id, at, written_on, credit_amount, installment_number)
    result, _, _ = await ledger.compute(
        session, credit, as_of=as_of, policy=policy, extra_write_offs=[probe]
    )
    forgiven = result.applied_by_write_off.get(probe_id, 0)
    if forgiven < credit_amount:
        owed = Money(forgiven, credit.currency).format()
        raise ValidationFailed.on(
            "amount", f"is more than is owed then from that installment on ({owed})"
        )
    write_off = WriteOff(
        credit_id=credit.id,
        schedule_no=credit.schedule_no,
        installment_number=installment_number,
        amount=money.amount,
        currency=money.currency,
        credit_amount=credit_amount,
        uf_value=uf_value,
        applied_amount=0,
        components=[],
        written_at=at,
        written_on=written_on,
        reason=text,
        reference=ref,
        idempotency_key=idempotency_key,
        source=src,
        status=PaymentStatus.BOOKED,
        created_by=principal.subject,
    )
    session.add(write_off)
    await session.flush()
    credit.version += 1
    credit.updated_at = utcnow()
    outcome = await ledger.replay(
        session,
        credit,
        as_of=max(today(credit.timezone), written_on),
        policy=policy,
        actor=principal,
    )
    await session.refresh(write_off)
    audit.record(
        session,
        principal=principal,
        action="credits.shortfall_written_off",
        entity_type="WriteOff",
        entity_id=write_off.id,
        after=_snapshot(write_off),
    )
    records.emit(
        session,
        credit,
        "credits.shortfall_written_off",
        _payload(write_off, credit, outcome.result.days_past_due),
    )
    return write_off


async def reverse_write_off(
    session: AsyncSession,
    *,
    principal: Principal,
    write_off_id: uuid.UUID,
    reason: str,
    expected_version: int | None = None,
    policy: CreditPolicy | None = None,
) -> WriteOff:
    """Undo a write-off: the credit is replayed without it (what it forgave is owed again).
    Whoever may reverse a payment may reverse a write-off (it forgives nothing: it restores
    what is owed, e.g. when the bank lines are unmatched). Refused once the credit was
    restructured after it, or written off or cancelled."""
    ensure_can_pay(principal)
    policy = policy or get_policy()
    text = parse_reason(reason)
    write_off = await session.get(WriteOff, write_off_id)
    if write_off is None:
        raise NotFound("WriteOff", write_off_id)
    credit = await records.lock_credit(session, write_off.credit_id)
    try:
        ensure_visible(principal, credit)
    except NotFound:
        raise NotFound("WriteOff", write_off_id) from None
    records.check_version(credit, expected_version)
    if write_off.status != PaymentStatus.BOOKED:
        raise InvalidTransition("WriteOff", write_off.status, PaymentStatus.REVERSED)
    if credit.status in {CreditStatus.WRITTEN_OFF, CreditStatus.CANCELLED}:
        raise Conflict(f"credit {credit.reference} is {credit.status.lower().replace('_', ' ')}")
    if write_off.schedule_no != credit.schedule_no:
        raise Conflict(
            f"credit {credit.reference} was restructured after this write-off; it cannot be "
            "reversed any more"
        )
    before = _snapshot(write_off)
    write_off.status = PaymentStatus.REVERSED
    write_off.reversed_at = utcnow()
    write_off.reversal_reason = text
    write_off.applied_amount = 0
    write_off.components = []
    await session.flush()
    credit.version += 1
    credit.updated_at = utcnow()
    outcome = await ledger.replay(
        session, credit, as_of=today(credit.timezone), policy=policy, actor=principal
    )
    audit.record(
        session,
        principal=principal,
        action="credits.write_off_reversed",
        entity_type="WriteOff",
        entity_id=write_off.id,
        before=before,
        after=_snapshot(write_off),
    )
    records.emit(
        session,
        credit,
        "credits.write_off_reversed",
        {
            **_payload(write_off, credit, outcome.result.days_past_due),
            "reason": text,
        },
    )
    return write_off


# --- reads ----------------------------------------------------------------------------------
async def get_write_off(
    session: AsyncSession, *, principal: Principal, write_off_id: uuid.UUID
) -> WriteOff:
    ensure_can_read(principal)
    write_off = await session.get(WriteOff, write_off_id)
    if write_off is None:
        raise NotFound("WriteOff", write_off_id)
    credit = await session.get(Credit, write_off.credit_id)
    if credit is None:
        raise NotFound("WriteOff", write_off_id)
    try:
        ensure_visible(principal, credit)
    except NotFound:
        raise NotFound("WriteOff", write_off_id) from None
    return write_off


async def list_write_offs(
    session: AsyncSession, *, principal: Principal, credit_id: uuid.UUID
) -> list[WriteOff]:
    """A credit's write-offs, booked and reversed, oldest first."""
    ensure_can_read(principal)
    credit = await session.get(Credit, credit_id)
    if credit is None:
        raise NotFound("Credit", credit_id)
    ensure_visible(principal, credit)
    rows = await session.execute(
        sa.select(WriteOff)
        .where(col(WriteOff.credit_id) == credit_id)
        .order_by(col(WriteOff.written_at), col(WriteOff.id))
    )
    return list(rows.scalars().all())

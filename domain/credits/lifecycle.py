"""Credit lifecycle after registration: disburse, cancel, write off, restructure.

Each locks the credit row, checks ``expected_version`` (``Conflict`` when stale), bumps the
version, writes an audit record and an outbox event (ids and amounts only), and leaves
commit to the edge. ``domain.credits.service`` re-exports these functions.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits import ledger, records
from domain.credits.access import ensure_can_write, ensure_supervisor
from domain.credits.calendar import DayCount, day_count
from domain.credits.inputs import build_checked, parse_date, parse_rate, parse_reason
from domain.credits.models import Credit, CreditSchedule, Installment, Payment, Refund
from domain.credits.policy import CreditPolicy, get_policy, today
from domain.credits.schedules import ScheduleRequest, round_fraction
from domain.credits.states import (
    OPEN_STATUSES,
    CreditStatus,
    PaymentStatus,
    ScheduleReason,
    ensure_transition,
)
from domain.shared import audit
from domain.shared import event_schemas as wire
from domain.shared.errors import InvalidTransition, Problems, ValidationFailed
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.principal import Principal
from domain.shared.time import utcnow

__all__ = [
    "cancel_credit",
    "disburse_credit",
    "restructure_credit",
    "write_off_credit",
]


async def disburse_credit(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    expected_version: int,
    disbursement_date: date | None = None,
    policy: CreditPolicy | None = None,
) -> Credit:
    """APPROVED → ACTIVE. The schedule is rebuilt from the actual disbursement date (today
    by default; a past date registers a credit disbursed earlier; never a future one)."""
    ensure_can_write(principal)
    policy = policy or get_policy()
    credit = await records.locked_for_write(session, principal, credit_id, expected_version)
    if credit.status != CreditStatus.APPROVED:  # DELINQUENT -> ACTIVE is a cure, not this
        raise InvalidTransition("Credit", credit.status, CreditStatus.ACTIVE)
    local_today = today(credit.timezone)
    day = local_today if disbursement_date is None else disbursement_date
    p = Problems()
    parse_date(day, "disbursementDate", p)
    p.raise_if_any()
    if day > local_today:
        raise ValidationFailed.on("disbursementDate", "cannot be in the future")
    before = records.snapshot(credit)
    header = await records.current_header(session, credit)
    if header.start_date != day:
        header.start_date = day
        schedule = build_checked(records.schedule_request(header, credit.currency))
        table = table_of(Installment)
        await session.execute(
            sa.delete(table).where(table.c.credit_id == credit.id, table.c.schedule_no == 1)
        )
        await records.store_installments(session, credit.id, 1, schedule)
    else:
        schedule = build_checked(records.schedule_request(header, credit.currency))
    credit.disbursement_date = day
    credit.status = CreditStatus.ACTIVE
    credit.version += 1
    credit.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="credits.disbursed",
        entity_type="Credit",
        entity_id=credit.id,
        before=before,
        after=records.snapshot(credit),
    )
    records.emit(
        session,
        credit,
        "credits.disbursed",
        {
            "disbursementDate": wire.day(day),
            "principal": wire.money(credit.principal, credit.currency),
            "financed": wire.money(schedule.financed.amount, credit.currency),
            "netDisbursed": wire.money(schedule.net_disbursed.amount, credit.currency),
        },
    )
    await ledger.replay(session, credit, as_of=local_today, policy=policy, actor=principal)
    return credit


async def cancel_credit(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    expected_version: int,
    reason: str,
) -> Credit:
    """APPROVED → CANCELLED (a disbursed credit is paid off, restructured or written off)."""
    ensure_can_write(principal)
    text = parse_reason(reason)
    credit = await records.locked_for_write(session, principal, credit_id, expected_version)
    ensure_transition(credit.status, CreditStatus.CANCELLED)
    before = records.snapshot(credit)
    credit.status = CreditStatus.CANCELLED
    credit.status_reason = text
    credit.closed_at = credit.updated_at = utcnow()
    credit.version += 1
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="credits.cancelled",
        entity_type="Credit",
        entity_id=credit.id,
        before=before,
        after=records.snapshot(credit),
    )
    records.emit(
        session,
        credit,
        "credits.cancelled",
        {"principal": wire.money(credit.principal, credit.currency)},
    )
    return credit


async def write_off_credit(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    expected_version: int,
    reason: str,
    policy: CreditPolicy | None = None,
) -> Credit:
    """ACTIVE / DELINQUENT / RESTRUCTURED → WRITTEN_OFF (supervisors and administrators).
    The ledger is brought up to today first; no payment is accepted afterwards."""
    ensure_can_write(principal)
    ensure_supervisor(principal, "write off a credit")
    policy = policy or get_policy()
    text = parse_reason(reason)
    credit = await records.locked_for_write(session, principal, credit_id, expected_version)
    ensure_transition(credit.status, CreditStatus.WRITTEN_OFF)
    outcome = await ledger.replay(
        session, credit, as_of=today(credit.timezone), policy=policy, actor=principal
    )
    ensure_transition(credit.status, CreditStatus.WRITTEN_OFF)  # the replay may have paid it off
    before = records.snapshot(credit)
    credit.status = CreditStatus.WRITTEN_OFF
    credit.status_reason = text
    credit.closed_at = credit.updated_at = utcnow()
    credit.version += 1
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="credits.written_off",
        entity_type="Credit",
        entity_id=credit.id,
        before=before,
        after=records.snapshot(credit),
    )
    records.emit(
        session,
        credit,
        "credits.written_off",
        {
            "outstandingPrincipal": wire.money(
                outcome.result.outstanding_principal, credit.currency
            ),
            "overdue": wire.money(outcome.result.overdue(), credit.currency),
            "daysPastDue": outcome.result.days_past_due,
        },
    )
    return credit


async def restructure_credit(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    expected_version: int,
    term_months: int,
    reason: str,
    annual_rate: Decimal | str | None = None,
    scheme: str | None = None,
    grace_months: int = 0,
    grace_kind: str | None = None,
    restructure_date: date | None = None,
    policy: CreditPolicy | None = None,
) -> Credit:
    """Replace the schedule in force by a new one built from the outstanding balance.

    As of ``restructure_date`` (today by default): the unpaid principal, plus the interest,
    charges and late interest due and unpaid, plus the interest accrued in the current
    period, become the principal of schedule ``n + 1`` starting that day (rate, scheme and
    day count of the old one unless given; same monthly charges; no opening fee). The old
    schedule is kept (its unpaid rows marked RESTRUCTURED); a credit balance is carried into
    the new one. Payments dated before the restructure can no longer be registered or
    reversed. Supervisors and administrators only.
    """
    ensure_can_write(principal)
    ensure_supervisor(principal, "restructure a credit")
    policy = policy or get_policy()
    text = parse_reason(reason)
    credit = await records.locked_for_write(session, principal, credit_id, expected_version)
    if credit.status not in OPEN_STATUSES:
        ensure_transition(credit.status, CreditStatus.RESTRUCTURED)
    local_today = today(credit.timezone)
    day = local_today if restructure_date is None else restructure_date
    p = Problems()
    parse_date(day, "restructureDate", p)
    rate = credit.annual_rate if annual_rate is None else parse_rate(annual_rate, "annualRate", p)
    if rate is not None and rate > policy.max_annual_rate:
        p.add("annualRate", f"{rate} is above the maximum annual rate {policy.max_annual_rate}")
    if (
        not isinstance(term_months, int)
        or isinstance(term_months, bool)
        or not (1 <= term_months <= policy.max_term_months)
    ):
        p.add("termMonths", f"must be a whole number of months from 1 to {policy.max_term_months}")
    p.raise_if_any()
    assert rate is not None
    header = await records.current_header(session, credit)
    if day > local_today:
        raise ValidationFailed.on("restructureDate", "cannot be in the future")
    if day < header.start_date:
        raise ValidationFailed.on(
            "restructureDate", f"is before the schedule in force started on {header.start_date}"
        )
    last_event = await _last_event_day(session, credit)
    if last_event is not None and day < last_event:
        raise ValidationFailed.on(
            "restructureDate", f"is before the last payment or refund, on {last_event}"
        )
    before = records.snapshot(credit)
    outcome = await ledger.replay(session, credit, as_of=day, policy=policy, actor=principal)
    if credit.status not in OPEN_STATUSES:  # the replay found it paid off
        ensure_transition(credit.status, CreditStatus.RESTRUCTURED)
    result = outcome.result
    carried = _carried_amounts(header, result, day)
    new_principal = sum(carried.values())
    if new_principal <= 0:
        raise ValidationFailed.on("creditId", "nothing is owed: there is nothing to restructure")
    request = ScheduleRequest(
        principal=Money(new_principal, credit.currency),
        annual_rate=rate,
        term_months=term_months,
        disbursement_date=day,
        scheme=scheme or header.scheme,  # type: ignore[arg-type]
        day_count=DayCount(header.day_count),
        grace_months=grace_months,
        grace_kind=grace_kind or header.grace_kind,  # type: ignore[arg-type]
        monthly_insurance=Money(header.monthly_insurance, credit.currency),
        monthly_charges=Money(header.monthly_charges, credit.currency),
        rounding=header.rounding,
        max_annual_rate=policy.max_annual_rate,
    )
    schedule = build_checked(request)
    await ledger.freeze_schedule(session, credit, day)
    number = credit.schedule_no + 1
    session.add(
        records.header_from(
            credit.id,
            number,
            ScheduleReason.RESTRUCTURE,
            schedule,
            carried_principal=carried["principal"],
            carried_interest=carried["interest"],
            carried_charges=carried["charges"],
            carried_late_interest=carried["late_interest"],
            carried_balance=[
                {"payment_id": str(c.payment_id), "amount": c.amount} for c in result.held
            ],
        )
    )
    source = credit.status
    ensure_transition(source, CreditStatus.RESTRUCTURED)
    credit.schedule_no = number
    credit.status = CreditStatus.RESTRUCTURED
    credit.status_reason = text
    credit.delinquent_since = None
    credit.version += 1
    credit.updated_at = utcnow()
    await session.flush()
    await records.store_installments(session, credit.id, number, schedule)
    audit.record(
        session,
        principal=principal,
        action="credits.restructured",
        entity_type="Credit",
        entity_id=credit.id,
        before=before,
        after=records.snapshot(credit),
    )
    records.emit(
        session,
        credit,
        "credits.restructured",
        {
            "previousStatus": source,
            "scheduleNo": number,
            "restructureDate": wire.day(day),
            "principal": wire.money(new_principal, credit.currency),
            "carriedPrincipal": wire.money(carried["principal"], credit.currency),
            "carriedInterest": wire.money(carried["interest"], credit.currency),
            "carriedCharges": wire.money(carried["charges"], credit.currency),
            "carriedLateInterest": wire.money(carried["late_interest"], credit.currency),
            "carriedBalance": wire.money(result.credit_balance, credit.currency),
            "termMonths": term_months,
            "annualRate": wire.decimal(rate),
        },
    )
    await ledger.replay(session, credit, as_of=local_today, policy=policy, actor=principal)
    return credit


def _carried_amounts(header: CreditSchedule, result: Any, day: date) -> dict[str, int]:
    """What a restructure on ``day`` capitalises, by component."""
    principal = interest = charges = late = 0
    current = None
    for row in result.installments:
        principal += row.principal - row.principal_paid - row.principal_written_off
        if row.due_date <= day:
            interest += row.interest_due - row.interest_paid - row.interest_written_off
            charges += row.charges - row.charges_paid - row.charges_written_off
            late += (
                row.late_interest_accrued - row.late_interest_paid - row.late_interest_written_off
            )
        elif current is None and row.paid_on is None:
            current = row
    if current is not None:  # interest accrued in the current period, to the day
        index = result.installments.index(current)
        start = result.installments[index - 1].due_date if index else header.start_date
        days, basis = day_count(DayCount(header.day_count), start, day)
        days = max(0, min(days, current.days))
        balance = current.opening_balance - current.principal_paid - current.principal_written_off
        exact = Fraction(header.annual_rate) * balance * days / basis
        interest += round_fraction(exact, header.rounding)
    return {"principal": principal, "interest": interest, "charges": charges, "late_interest": late}


async def _last_event_day(session: AsyncSession, credit: Credit) -> date | None:
    paid = (
        await session.execute(
            sa.select(sa.func.max(col(Payment.paid_on))).where(
                col(Payment.credit_id) == credit.id,
                col(Payment.schedule_no) == credit.schedule_no,
                col(Payment.status) == PaymentStatus.BOOKED,
            )
        )
    ).scalar()
    refunded = (
        await session.execute(
            sa.select(sa.func.max(col(Refund.refunded_on))).where(
                col(Refund.credit_id) == credit.id,
                col(Refund.schedule_no) == credit.schedule_no,
            )
        )
    ).scalar()
    days = [d for d in (paid, refunded) if d is not None]
    return max(days) if days else None

"""Stored records of a credit: locking, versions, snapshots, events, schedule headers and
their installment rows, references.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits.access import ensure_visible
from domain.credits.allocation import InstallmentState, Plan, PlanRow
from domain.credits.calendar import DayCount
from domain.credits.models import Credit, CreditReferenceCounter, CreditSchedule, Installment
from domain.credits.schedules import (
    DEFAULT_MAX_ANNUAL_RATE,
    FeeMode,
    GraceKind,
    Schedule,
    ScheduleRequest,
    Scheme,
    build_schedule,
)
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, NotFound
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.principal import Principal
from domain.shared.sql import for_update, insert_ignoring_conflicts

__all__ = [
    "build_plan",
    "check_version",
    "current_header",
    "emit",
    "event_body",
    "header_from",
    "header_of",
    "installment_values",
    "lock_credit",
    "locked_for_write",
    "next_reference",
    "schedule_request",
    "snapshot",
    "store_installments",
]


_SNAPSHOT_FIELDS = (
    "reference",
    "customer_id",
    "partner_id",
    "product_code",
    "currency",
    "principal",
    "annual_rate",
    "late_annual_rate",
    "term_months",
    "scheme",
    "day_count",
    "grace_months",
    "grace_kind",
    "opening_fee",
    "opening_fee_mode",
    "monthly_insurance",
    "monthly_charges",
    "allocation_order",
    "allocation_mode",
    "vehicle_ref",
    "planned_disbursement_date",
    "disbursement_date",
    "status",
    "status_reason",
    "schedule_no",
    "credit_balance",
    "outstanding_principal",
    "days_past_due",
    "paid_off_on",
    "version",
)


def snapshot(credit: Any) -> dict[str, Any]:
    """The credit's audited fields (a ``Credit`` or a stand-in with its attributes)."""
    return {name: getattr(credit, name) for name in _SNAPSHOT_FIELDS}


def event_body(credit: Any, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """The payload of an event about ``credit`` (a ``Credit`` or a stand-in with its
    attributes): the credit's fields every such event carries, then ``payload``."""
    body: dict[str, Any] = {
        "creditId": wire.global_id("Credit", credit.id),
        "reference": credit.reference,
        "partnerId": wire.global_id("Partner", credit.partner_id),
        "status": credit.status,
        "currency": credit.currency,
        "version": credit.version,
    }
    body.update(audit.jsonable(payload or {}))
    return body


def emit(
    session: AsyncSession,
    credit: Credit,
    topic: str,
    payload: dict[str, Any] | None = None,
) -> None:
    """An outbox event about ``credit``: ids and amounts only, never personal data, in the
    API's conventions (``payload`` too: see ``domain/credits/events.py``)."""
    outbox.add(
        session,
        topic,
        event_body(credit, payload),
        partner_ids=[credit.partner_id],
        key=wire.global_id("Credit", credit.id),
    )


async def lock_credit(session: AsyncSession, credit_id: uuid.UUID) -> Credit:
    """The credit, row-locked until the transaction ends (PostgreSQL)."""
    stmt = for_update(sa.select(Credit).where(col(Credit.id) == credit_id), session)
    credit = (await session.execute(stmt)).scalars().first()
    if credit is None:
        raise NotFound("Credit", credit_id)
    return credit


def check_version(credit: Credit, expected_version: int | None) -> None:
    if expected_version is not None and credit.version != expected_version:
        raise Conflict(
            f"credit changed since version {expected_version}; it is now at version "
            f"{credit.version}",
            current_version=credit.version,
        )


async def locked_for_write(
    session: AsyncSession,
    principal: Principal,
    credit_id: uuid.UUID,
    expected_version: int | None,
) -> Credit:
    credit = await lock_credit(session, credit_id)
    ensure_visible(principal, credit)
    check_version(credit, expected_version)
    return credit


async def current_header(session: AsyncSession, credit: Credit) -> CreditSchedule:
    return await header_of(session, credit.id, credit.schedule_no)


async def header_of(session: AsyncSession, credit_id: uuid.UUID, number: int) -> CreditSchedule:
    stmt = sa.select(CreditSchedule).where(
        col(CreditSchedule.credit_id) == credit_id, col(CreditSchedule.schedule_no) == number
    )
    header = (await session.execute(stmt)).scalars().first()
    if header is None:
        raise NotFound("CreditSchedule", f"{credit_id}#{number}")
    return header


def schedule_request(header: CreditSchedule, currency: str) -> ScheduleRequest:
    return ScheduleRequest(
        principal=Money(header.principal, currency),
        annual_rate=header.annual_rate,
        term_months=header.term_months,
        disbursement_date=header.start_date,
        scheme=Scheme(header.scheme),
        day_count=DayCount(header.day_count),
        grace_months=header.grace_months,
        grace_kind=GraceKind(header.grace_kind),
        opening_fee=Money(header.opening_fee, currency),
        opening_fee_mode=FeeMode(header.opening_fee_mode),
        monthly_insurance=Money(header.monthly_insurance, currency),
        monthly_charges=Money(header.monthly_charges, currency),
        rounding=header.rounding,
        # The terms were checked against the policy when they were stored.
        max_annual_rate=max(header.annual_rate, DEFAULT_MAX_ANNUAL_RATE),
    )


def build_plan(header: CreditSchedule, currency: str) -> tuple[Schedule, Plan]:
    schedule = build_schedule(schedule_request(header, currency))
    return schedule, Plan.from_schedule(schedule)


def installment_values(
    credit_id: uuid.UUID, schedule_no: int, state: Any, *, status: str | None = None
) -> dict[str, Any]:
    """Column values of one installment row from an ``InstallmentState``."""
    return {
        "credit_id": credit_id,
        "schedule_no": schedule_no,
        "number": state.number,
        "due_date": state.due_date,
        "days": state.days,
        "opening_balance": state.opening_balance,
        "interest": state.interest,
        "capitalised": state.capitalised,
        "principal": state.principal,
        "insurance": state.insurance,
        "other_charges": state.other_charges,
        "amount": state.amount,
        "closing_balance": state.closing_balance,
        "principal_paid": state.principal_paid,
        "interest_paid": state.interest_paid,
        "charges_paid": state.charges_paid,
        "late_interest_accrued": state.late_interest_accrued,
        "late_interest_paid": state.late_interest_paid,
        "principal_written_off": state.principal_written_off,
        "interest_written_off": state.interest_written_off,
        "charges_written_off": state.charges_written_off,
        "late_interest_written_off": state.late_interest_written_off,
        "status": status or state.status,
        "paid_on": state.paid_on,
    }


def header_from(
    credit_id: uuid.UUID, number: int, reason: str, schedule: Schedule, **carried: Any
) -> CreditSchedule:
    request = schedule.request
    return CreditSchedule(
        credit_id=credit_id,
        schedule_no=number,
        reason=reason,
        start_date=request.disbursement_date,
        principal=request.principal.amount,
        opening_fee=schedule.opening_fee.amount,
        opening_fee_mode=FeeMode(request.opening_fee_mode),
        annual_rate=request.annual_rate,
        term_months=request.term_months,
        scheme=Scheme(request.scheme),
        day_count=DayCount(request.day_count),
        grace_months=request.grace_months,
        grace_kind=GraceKind(request.grace_kind),
        monthly_insurance=schedule.rows[0].insurance.amount,
        monthly_charges=schedule.rows[0].other_charges.amount,
        rounding=schedule.rounding,
        **carried,
    )


async def store_installments(
    session: AsyncSession, credit_id: uuid.UUID, number: int, schedule: Schedule
) -> None:
    plan = Plan.from_schedule(schedule)
    table = table_of(Installment)
    rows = []
    for row in plan.rows:
        state = _state_of(row)
        rows.append({"id": uuid7(), **installment_values(credit_id, number, state)})
    await session.execute(sa.insert(table), rows)


def _state_of(row: PlanRow) -> InstallmentState:
    return InstallmentState(
        number=row.number,
        due_date=row.due_date,
        days=row.days,
        opening_balance=row.opening_balance,
        interest=row.interest,
        capitalised=row.capitalised,
        principal=row.principal,
        insurance=row.insurance,
        other_charges=row.other_charges,
    )


async def next_reference(session: AsyncSession, year: int) -> str:
    """``CR-<year>-<n>``, ``n`` counting up per year without gaps from 000001."""
    table = table_of(CreditReferenceCounter)
    await insert_ignoring_conflicts(
        session, table, [{"year": year, "last": 0}], index_elements=["year"]
    )
    number = (
        await session.execute(
            sa.update(table)
            .where(table.c.year == year)
            .values(last=table.c.last + 1)
            .returning(table.c.last)
        )
    ).scalar_one()
    return f"CR-{year}-{number:06d}"

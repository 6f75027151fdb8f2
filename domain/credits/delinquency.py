"""Delinquency: days past due, aging buckets, late interest, and the daily run.

- *Days past due* of a credit: days from the due date of its oldest installment not fully
  paid (late interest included) to the day looked at; 0 when nothing is overdue. An
  installment due today is not past due.
- *Aging buckets*: CURRENT, 1-30, 31-60, 61-90, 91-180, 180+ days past due.
- *Late interest* (interés moratorio) accrues per day on each installment's unpaid
  principal after its due date (and the policy's grace days), at the credit's late rate
  capped by the policy's maximum, over a 360-day year by default; the amount owed is the
  floor of the exact accrual. It is allocated like any other component (first, by default).
- :func:`run_delinquency` is the daily job: it replays every open credit with something due
  and unpaid (which also applies credit balances to installments that fell due), moving
  credits into DELINQUENT (``credits.delinquent``) and back out (``credits.cured``), each
  change audited; a credit balance applied to an installment that fell due is a change too
  (``credits.balance_applied``); days past due and the bucket are kept up to date.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits import ledger, records
from domain.credits.allocation import LateInterestPolicy
from domain.credits.models import Credit, Installment
from domain.credits.policy import CreditPolicy, get_policy
from domain.credits.states import (
    OPEN_STATUSES,
    AgingBucket,
    CreditStatus,
    InstallmentStatus,
    aging_bucket,
)
from domain.shared import audit, jobs
from domain.shared import event_schemas as wire
from domain.shared.jobs import ScheduledRun
from domain.shared.models import table_of
from domain.shared.principal import SYSTEM, Principal
from domain.shared.time import utcnow

__all__ = [
    "AgingBucket",
    "DelinquencyRun",
    "aging_bucket",
    "day_done",
    "days_past_due",
    "late_interest",
    "mark_day_done",
    "open_timezones",
    "run_delinquency",
]


def days_past_due(installments: Iterable[Installment], as_of: date) -> int:
    """Days past due of stored installments: from the oldest unpaid one due before
    ``as_of``."""
    overdue = [
        i.due_date
        for i in installments
        if i.status != InstallmentStatus.PAID and i.due_date < as_of
    ]
    return (as_of - min(overdue)).days if overdue else 0


def late_interest(overdue_principal: int, days: int, policy: LateInterestPolicy) -> int:
    """Late interest on ``overdue_principal`` minor units for ``days`` days: the floor of
    ``principal * min(rate, cap) * days / basis`` (what the allocator charges)."""
    if overdue_principal <= 0 or days <= 0:
        return 0
    exact = Fraction(policy.effective_rate) * overdue_principal * days / policy.basis
    return exact.numerator // exact.denominator


@dataclass
class DelinquencyRun:
    as_of: date
    examined: int = 0
    became_delinquent: list[uuid.UUID] = field(default_factory=list)
    cured: list[uuid.UUID] = field(default_factory=list)
    paid_off: list[uuid.UUID] = field(default_factory=list)
    allocations_changed: int = 0
    last_id: uuid.UUID | None = None  # pass as ``after_id`` to continue a limited run
    done: bool = True


async def _candidates(
    session: AsyncSession,
    as_of: date,
    after_id: uuid.UUID | None,
    limit: int | None,
    timezone: str | None = None,
) -> list[uuid.UUID]:
    """Open credits with an installment due by ``as_of`` and not paid in the stored state,
    and every DELINQUENT credit (it may have been cured or may age into another bucket)."""
    open_statuses = [s.value for s in OPEN_STATUSES]
    unpaid_due = (
        sa.select(col(Installment.credit_id))
        .join(Credit, col(Credit.id) == col(Installment.credit_id))
        .where(
            col(Installment.schedule_no) == col(Credit.schedule_no),
            col(Installment.status) != InstallmentStatus.PAID,
            col(Installment.due_date) <= as_of,
        )
    )
    stmt = sa.select(col(Credit.id)).where(
        col(Credit.status).in_(open_statuses),
        sa.or_(
            col(Credit.status) == CreditStatus.DELINQUENT,
            col(Credit.id).in_(unpaid_due),
        ),
    )
    if timezone is not None:
        stmt = stmt.where(col(Credit.timezone) == timezone)
    if after_id is not None:
        stmt = stmt.where(col(Credit.id) > after_id)
    stmt = stmt.order_by(col(Credit.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.execute(stmt)).scalars().all())


async def _record_applied_balance(
    session: AsyncSession,
    credit: Credit,
    before: dict[str, Any],
    actor: Principal,
    as_of: date,
) -> None:
    """Time alone changed the allocations: a kept credit balance paid installments that
    fell due. That is a change of the credit: new version, audit record, event."""
    credit.version += 1
    credit.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal=actor,
        action="credits.balance_applied",
        entity_type="Credit",
        entity_id=credit.id,
        before=before,
        after=records.snapshot(credit),
    )
    records.emit(
        session,
        credit,
        "credits.balance_applied",
        {
            "amount": wire.money(before["credit_balance"] - credit.credit_balance, credit.currency),
            "creditBalance": wire.money(credit.credit_balance, credit.currency),
            "asOf": wire.day(as_of),
        },
    )


async def run_delinquency(
    session: AsyncSession,
    *,
    as_of: date,
    policy: CreditPolicy | None = None,
    actor: Principal = SYSTEM,
    after_id: uuid.UUID | None = None,
    limit: int | None = None,
    timezone: str | None = None,
) -> DelinquencyRun:
    """Bring every open credit with something due up to ``as_of``: replay it (late
    interest, credit balances applied to installments that fell due), then move it into or
    out of DELINQUENT with an audited ``credits.delinquent`` / ``credits.cured`` event.

    Idempotent for a given ``as_of``. With ``limit``, processes that many credits in id
    order after ``after_id`` and reports ``last_id`` and ``done`` so a scheduler can
    continue in another transaction. With ``timezone``, only the credits whose business
    dates are kept in that timezone (``as_of`` is a business date: the daily job runs each
    timezone with its own today).
    """
    policy = policy or get_policy()
    run = DelinquencyRun(as_of=as_of)
    ids = await _candidates(session, as_of, after_id, limit, timezone)
    for credit_id in ids:
        credit = await records.lock_credit(session, credit_id)
        run.examined += 1
        run.last_id = credit_id
        if credit.status not in OPEN_STATUSES:
            continue  # changed since the candidates were read
        before = records.snapshot(credit)
        outcome = await ledger.replay(session, credit, as_of=as_of, policy=policy, actor=actor)
        if outcome.allocations_changed:
            run.allocations_changed += 1
            await _record_applied_balance(session, credit, before, actor, as_of)
        for source, target in outcome.status_changes:
            if target == CreditStatus.DELINQUENT:
                run.became_delinquent.append(credit_id)
            elif target == CreditStatus.PAID_OFF:
                run.paid_off.append(credit_id)
            elif source == CreditStatus.DELINQUENT:
                run.cured.append(credit_id)
    run.done = limit is None or len(ids) < limit
    return run


async def open_timezones(session: AsyncSession) -> list[str]:
    """The timezones of the credits a delinquency run may touch (open credits)."""
    stmt = (
        sa.select(col(Credit.timezone))
        .where(col(Credit.status).in_([s.value for s in OPEN_STATUSES]))
        .distinct()
        .order_by(col(Credit.timezone))
    )
    return list((await session.execute(stmt)).scalars().all())


def _run_key(timezone: str) -> str:
    return f"credits.delinquency:{timezone}"


async def day_done(session: AsyncSession, *, timezone: str, as_of: date) -> bool:
    """Has a complete run for the business day ``as_of`` of ``timezone`` been recorded?"""
    table = table_of(ScheduledRun)
    stmt = sa.select(table.c.tick).where(
        table.c.job == _run_key(timezone), table.c.tick == as_of.toordinal()
    )
    return (await session.execute(stmt)).first() is not None


async def mark_day_done(session: AsyncSession, *, timezone: str, as_of: date) -> None:
    """Record that every credit of ``timezone`` was brought up to ``as_of`` (idempotent)."""
    await jobs.claim_tick(session, job=_run_key(timezone), tick=as_of.toordinal())

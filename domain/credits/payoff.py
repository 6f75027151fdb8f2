"""What a customer owes next, and what pays the credit off by a date.

:func:`payoff_quote` answers "how much do I pay, by ``valid_until``, to close my credit?":
the credit's ledger is replayed with one more payment on ``valid_until`` — as large as
needed, with ``SHORTER_TERM`` prepayment — exactly as the allocator would book it, and what
that payment takes is the quote: every installment due by then (late interest accrued to
that day included), the principal not yet due, the interest it accrued in the current
period up to that day. The same rules as a real
payment (allocation order, late-interest cap and grace, rounding), so the figure is the
one the ledger will book, to the minor unit. Interest and late interest only grow with the
days, so the amount also pays the credit off on any earlier day (what is left over is kept
as credit balance and can be refunded). A credit balance held from earlier overpayments is
shown beside the quote: the ledger applies a balance to installments as they fall due, not
to a prepayment, so it is paid back once the credit is closed.

:func:`next_installment` is the first installment not fully paid (an overdue one first).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from domain.credits import ledger
from domain.credits.allocation import AllocationResult, Component, PaymentEvent, Prepayment
from domain.credits.models import Credit
from domain.credits.policy import CreditPolicy, get_policy, today
from domain.credits.service import get_credit
from domain.credits.states import OPEN_STATUSES, CreditStatus
from domain.shared.errors import ValidationFailed
from domain.shared.principal import Principal

__all__ = ["MAX_QUOTE_DAYS", "NextInstallment", "PayoffQuote", "next_installment", "payoff_quote"]

#: A quote is valid at most this many days ahead.
MAX_QUOTE_DAYS = 90
#: The quoting payment: larger than anything a credit can owe.
_UNBOUNDED = 10**18
_QUOTE_ID = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class PayoffQuote:
    credit_id: uuid.UUID
    currency: str
    quoted_on: date  # today in the lender's timezone
    valid_until: date
    #: Due by ``valid_until`` and unpaid, by component.
    principal_due: int
    interest_due: int
    charges_due: int
    late_interest: int
    #: Principal of installments not yet due, and its interest accrued to ``valid_until``.
    principal_not_due: int
    accrued_interest: int
    #: What to pay: the sum of the above.
    amount: int
    installments_due: int
    #: Credit balance held from earlier overpayments: it is not part of the payoff (the
    #: ledger applies a balance to installments as they fall due, never to a prepayment)
    #: and is paid back once the credit is paid off.
    credit_balance: int


@dataclass(frozen=True, slots=True)
class NextInstallment:
    number: int
    due_date: date
    amount: int  # the installment as scheduled (late interest aside)
    outstanding: int  # still owed on it, late interest to ``as_of`` included
    days_past_due: int  # of this installment (0 when not yet due)
    overdue_total: int  # everything past due on the credit
    as_of: date


def _end_of_day(day: date, timezone: str) -> datetime:
    """The last microsecond of ``day`` where the lender is, in UTC (after any payment of
    that day)."""
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))
    return (midnight - timedelta(microseconds=1)).astimezone(UTC)


def quote_from(
    credit: Credit, result: AllocationResult, quoted_on: date, valid_until: date
) -> PayoffQuote:
    """The quote, from the ledger replayed with the quoting payment (pure)."""
    taken = result.allocated_by_payment.get(_QUOTE_ID, 0)
    due_by_number = {i.number: i.due_date for i in result.installments}
    parts = {c: 0 for c in Component}
    not_due_principal = accrued = 0
    due_numbers: set[int] = set()
    for line in result.lines:
        if line.payment_id != _QUOTE_ID:
            continue
        due = due_by_number.get(line.installment)
        if due is not None and due <= valid_until:
            parts[line.component] += line.amount
            due_numbers.add(line.installment)
        elif line.component is Component.PRINCIPAL:
            not_due_principal += line.amount
        else:
            accrued += line.amount
    held_before = max(0, result.credit_balance - (_UNBOUNDED - taken))
    return PayoffQuote(
        credit_id=credit.id,
        currency=credit.currency,
        quoted_on=quoted_on,
        valid_until=valid_until,
        principal_due=parts[Component.PRINCIPAL],
        interest_due=parts[Component.INTEREST],
        charges_due=parts[Component.CHARGES],
        late_interest=parts[Component.LATE_INTEREST],
        principal_not_due=not_due_principal,
        accrued_interest=accrued,
        amount=taken,
        installments_due=len(due_numbers),
        credit_balance=held_before,
    )


async def payoff_quote(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    valid_until: date | None = None,
    policy: CreditPolicy | None = None,
) -> PayoffQuote:
    """What pays the credit off if paid by ``valid_until`` (today by default, at most
    :data:`MAX_QUOTE_DAYS` ahead). Computed, nothing written. The customer sees their own
    credits; staff their lender's."""
    credit = await get_credit(session, principal=principal, credit_id=credit_id)
    local_today = today(credit.timezone)
    day = valid_until or local_today
    if credit.status not in OPEN_STATUSES:
        reason = (
            "the credit is paid off; nothing is owed"
            if credit.status == CreditStatus.PAID_OFF
            else f"a {credit.status.lower().replace('_', ' ')} credit has no payoff"
        )
        raise ValidationFailed.on("creditId", reason)
    if day < local_today:
        raise ValidationFailed.on("validUntil", "must be today or later")
    if day > local_today + timedelta(days=MAX_QUOTE_DAYS):
        raise ValidationFailed.on("validUntil", f"at most {MAX_QUOTE_DAYS} days ahead")
    quoting = PaymentEvent(
        id=_QUOTE_ID,
        at=_end_of_day(day, credit.timezone),
        on=day,
        amount=_UNBOUNDED,
        prepayment=Prepayment.SHORTER_TERM,
    )
    result, _, _ = await ledger.compute(
        session, credit, as_of=day, policy=policy or get_policy(), extra_payments=[quoting]
    )
    return quote_from(credit, result, local_today, day)


def next_installment(result: AllocationResult) -> NextInstallment | None:
    """The first installment not fully paid, from a live position (None: all paid)."""
    for row in result.installments:
        if row.paid_on is None:
            overdue = (result.as_of - row.due_date).days if row.due_date < result.as_of else 0
            return NextInstallment(
                number=row.number,
                due_date=row.due_date,
                amount=row.amount,
                outstanding=max(0, row.outstanding),
                days_past_due=overdue,
                overdue_total=result.overdue(),
                as_of=result.as_of,
            )
    return None

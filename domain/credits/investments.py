"""Investor projections: what an investor who funds a credit receives, and its yield.

The investor's flows are the interest and principal of the credit's schedule (built by
:func:`domain.credits.schedules.build_schedule` with no fee, insurance or charges: those are
the customer's); the annualised yield is the XIRR of the investment and those flows.
``docs/credits-math.md`` §5 states the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from domain.credits.calendar import DayCount
from domain.credits.schedules import Schedule, ScheduleRequest, Scheme, build_schedule
from domain.shared.errors import FieldProblem, ValidationFailed
from domain.shared.money import Money
from domain.shared.xirr import CONTEXT, xirr

__all__ = ["InvestmentProjection", "InvestorFlow", "simulate_investment"]
_INVESTMENT_FIELDS = {
    "principal": "amount",
    "term_months": "term",
    "disbursement_date": "start_date",
}


@dataclass(frozen=True, slots=True)
class InvestorFlow:
    due_date: date
    interest: Money
    principal: Money
    amount: Money  # interest + principal received
    balance: Money  # outstanding principal after this flow


@dataclass(frozen=True, slots=True)
class InvestmentProjection:
    amount: Money
    annual_rate: Decimal
    term_months: int
    scheme: Scheme
    start_date: date
    flows: tuple[InvestorFlow, ...]
    total_interest: Money  # interest earned on the outstanding balance
    total_received: Money
    total_return: Money  # total_received - amount
    return_ratio: Decimal  # total_return / amount, 10 decimals
    annualised_yield: Decimal  # XIRR of -amount at start and the flows (ACT/365, effective)
    schedule: Schedule


def simulate_investment(
    amount: Money,
    annual_rate: Decimal,
    term: int,
    scheme: Scheme,
    start_date: date,
    *,
    day_count: DayCount = DayCount.THIRTY_360,
    max_amount: Money | None = None,
) -> InvestmentProjection:
    """An investor funds ``amount`` of a credit and receives its interest and principal.

    The credit carries no fee, insurance or charges (those are the customer's, not the
    investor's). ``max_amount`` is the largest credit it may be part of (the policy's
    maximum principal). ``ValidationFailed`` names this function's arguments (``amount``,
    ``term``…).
    """
    request = ScheduleRequest(
        principal=amount,
        annual_rate=annual_rate,
        term_months=term,
        disbursement_date=start_date,
        scheme=scheme,
        day_count=day_count,
        max_principal=max_amount,
    )
    try:
        schedule = build_schedule(request)
    except ValidationFailed as exc:
        raise ValidationFailed(
            [
                FieldProblem(_INVESTMENT_FIELDS.get(q.field, q.field), q.message)
                for q in exc.problems
            ]
        ) from None
    currency = amount.currency
    flows = tuple(
        InvestorFlow(
            due_date=row.due_date,
            interest=row.interest_due,
            principal=row.principal,
            amount=row.interest_due + row.principal,
            balance=row.closing_balance,
        )
        for row in schedule.rows
    )
    received = Money(sum(f.amount.amount for f in flows), currency)
    interest = schedule.totals.interest  # accrued; capitalised interest is repaid as principal
    gain = received - amount
    with localcontext(CONTEXT):
        ratio = (Decimal(gain.amount) / Decimal(amount.amount)).quantize(Decimal("1e-10"))
    yield_ = xirr(
        [(start_date, -amount.to_decimal())]
        + [(f.due_date, f.amount.to_decimal()) for f in flows if not f.amount.is_zero()]
    )
    return InvestmentProjection(
        amount=amount,
        annual_rate=annual_rate,
        term_months=term,
        scheme=schedule.scheme,
        start_date=start_date,
        flows=flows,
        total_interest=interest,
        total_received=received,
        total_return=gain,
        return_ratio=ratio,
        annualised_yield=yield_,
        schedule=schedule,
    )

"""The public calculators: pure computation, no database, rate-limited per caller.

The engine raises ``ValidationFailed`` with its own argument names; they are renamed here to
the paths of the GraphQL input (``termMonths``, ``principal.currency``) so the client sees
the field it sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TypeVar

from strawberry.types import Info

from domain.credits import cae, investments
from domain.credits.policy import calculator_today, get_policy
from domain.credits.schedules import ScheduleRequest, Scheme, compare_schemes, parse_money
from domain.shared.errors import FieldProblem, Problems, ValidationFailed
from domain.shared.money import Money
from resolvers.ratelimit import throttle
from schema.credits import (
    CompareCreditSchemesInput,
    CreditSchemeComparison,
    CreditSimulation,
    InvestmentProjection,
    SimulateCreditInput,
    SimulateInvestmentInput,
)
from schema.money import MoneyInput

T = TypeVar("T")

#: Engine names -> input paths, where the camelCase of the name is not the path.
_CREDIT_FIELDS = {"principal": "principal.amount", "currency": "principal.currency"}
_INVESTMENT_FIELDS = {
    "amount": "amount.amount",
    "currency": "amount.currency",
    "term": "termMonths",
    "start_date": "startDate",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def renamed(exc: ValidationFailed, names: Mapping[str, str]) -> ValidationFailed:
    return ValidationFailed(
        [FieldProblem(names.get(p.field) or _camel(p.field), p.message) for p in exc.problems]
    )


def money_from_input(value: MoneyInput | None, path: str, problems: Problems) -> Money | None:
    if value is None:
        return None
    try:
        amount = format(value.amount, "f")  # quoted as the client wrote it in messages
        return parse_money(amount, value.currency, field=f"{path}.amount")
    except ValidationFailed as exc:
        for p in exc.problems:
            problems.add(f"{path}.currency" if p.field == "currency" else p.field, p.message)
        return None


def _schedule_request(input: CompareCreditSchemesInput, scheme: Scheme) -> ScheduleRequest:
    problems = Problems()
    principal = money_from_input(input.principal, "principal", problems)
    fee = money_from_input(input.opening_fee, "openingFee", problems)
    insurance = money_from_input(input.monthly_insurance, "monthlyInsurance", problems)
    charges = money_from_input(input.monthly_charges, "monthlyCharges", problems)
    problems.raise_if_any()
    assert principal is not None
    return ScheduleRequest(
        principal=principal,
        annual_rate=input.annual_rate,
        term_months=input.term_months,
        disbursement_date=input.disbursement_date or calculator_today(principal.currency),
        scheme=scheme,
        day_count=input.day_count,
        grace_months=input.grace_months,
        grace_kind=input.grace_kind,
        opening_fee=fee,
        opening_fee_mode=input.opening_fee_mode,
        monthly_insurance=insurance,
        monthly_charges=charges,
        max_principal=get_policy().principal_limit(principal.currency),
    )


async def _compute(work: Callable[[], T], names: Mapping[str, str]) -> T:
    """Run the engine off the event loop (a 600-month schedule takes tens of ms)."""

    def run() -> T:
        try:
            return work()
        except ValidationFailed as exc:
            raise renamed(exc, names) from None

    return await asyncio.to_thread(run)


async def simulate_credit(info: Info, input: SimulateCreditInput) -> CreditSimulation:
    await throttle(info)
    request = _schedule_request(input, input.scheme)

    def work() -> CreditSimulation:
        result = cae.simulate_credit(request)
        return CreditSimulation.from_domain(result.schedule, result.cae)

    return await _compute(work, _CREDIT_FIELDS)


async def compare_credit_schemes(
    info: Info, input: CompareCreditSchemesInput
) -> CreditSchemeComparison:
    await throttle(info)
    request = _schedule_request(input, Scheme.FRENCH)

    def work() -> CreditSchemeComparison:
        return CreditSchemeComparison(
            simulations=[
                CreditSimulation.from_domain(schedule, cae.compute_cae(schedule))
                for schedule in compare_schemes(request)
            ]
        )

    return await _compute(work, _CREDIT_FIELDS)


async def simulate_investment(info: Info, input: SimulateInvestmentInput) -> InvestmentProjection:
    await throttle(info)
    problems = Problems()
    amount = money_from_input(input.amount, "amount", problems)
    problems.raise_if_any()
    assert amount is not None
    start = input.start_date or calculator_today(amount.currency)

    def work() -> InvestmentProjection:
        projection = investments.simulate_investment(
            amount,
            input.annual_rate,
            input.term_months,
            input.scheme,
            start,
            day_count=input.day_count,
            max_amount=get_policy().principal_limit(amount.currency),
        )
        return InvestmentProjection.from_domain(projection)

    return await _compute(work, _INVESTMENT_FIELDS)

"""Input parsing shared by the credit services: amounts, rates, dates, reasons, and the
schedule engine's field names mapped to the API's (camelCase).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from domain.credits.schedules import Schedule, ScheduleRequest, build_schedule, parse_money
from domain.shared import pan
from domain.shared.errors import FieldProblem, Problems, ValidationFailed
from domain.shared.money import Money

__all__ = [
    "MAX_REASON",
    "AmountInput",
    "build_checked",
    "parse_amount",
    "parse_date",
    "parse_rate",
    "parse_reason",
    "schedule_problems",
]


AmountInput = Money | str | Decimal | int

MAX_REASON = 300

_SCHEDULE_FIELDS = {
    "principal": "amount",
    "annual_rate": "annualRate",
    "max_annual_rate": "annualRate",
    "term_months": "termMonths",
    "grace_months": "graceMonths",
    "grace_kind": "graceKind",
    "disbursement_date": "disbursementDate",
    "day_count": "dayCount",
    "opening_fee": "openingFee",
    "opening_fee_mode": "openingFeeMode",
    "monthly_insurance": "monthlyInsurance",
    "monthly_charges": "monthlyCharges",
}


def parse_amount(
    value: object, currency: str, field: str, problems: Problems, *, optional: bool = False
) -> Money | None:
    if value is None:
        if not optional:
            problems.add(field, "is required")
        return None
    if isinstance(value, Money):
        if value.currency != currency:
            problems.add(field, f"is in {value.currency} but the credit is in {currency}")
            return None
        return value
    try:
        return parse_money(value, currency, field=field)
    except ValidationFailed as exc:
        problems.items.extend(exc.problems)
        return None


def parse_rate(value: object, field: str, problems: Problems) -> Decimal | None:
    if isinstance(value, float | bool) or not isinstance(value, Decimal | str | int):
        problems.add(field, "give the rate as a decimal such as '0.185', never a float")
        return None
    try:
        rate = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        problems.add(field, f"{value!r} is not a decimal rate")
        return None
    if not rate.is_finite():
        problems.add(field, "must be a finite decimal")
        return None
    if rate < 0:
        problems.add(field, "cannot be negative")
        return None
    if rate.as_tuple().exponent < -10:  # type: ignore[operator]
        problems.add(field, "at most 10 decimals")
        return None
    return rate


def parse_date(value: object, field: str, problems: Problems) -> date | None:
    if isinstance(value, datetime) or not isinstance(value, date):
        problems.add(field, "must be a calendar date")
        return None
    return value


def parse_reason(value: object, field: str = "reason") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.on(field, "is required")
    text = " ".join(value.split())
    if len(text) > MAX_REASON:
        raise ValidationFailed.on(field, f"at most {MAX_REASON} characters")
    if pan.contains_pan(text):
        raise ValidationFailed.on(field, pan.MESSAGE)
    return text


def schedule_problems(exc: ValidationFailed) -> list[FieldProblem]:
    return [FieldProblem(_SCHEDULE_FIELDS.get(p.field, p.field), p.message) for p in exc.problems]


def build_checked(request: ScheduleRequest) -> Schedule:
    try:
        return build_schedule(request)
    except ValidationFailed as exc:
        raise ValidationFailed(schedule_problems(exc)) from None

"""Repayment schedules of monthly credits: FRENCH, GERMAN and BULLET.

Every amount is an integer count of the currency's minor unit (``Money``); rates are
``Decimal``. Interest is computed exactly (rational arithmetic) and rounded once per row with
the request's rounding mode. The rules, stated once (``docs/credits-math.md`` explains them):

- Row ``k`` falls due ``k`` months after disbursement (see :mod:`domain.credits.calendar`).
- ``interest = round(opening balance * annual rate * days / basis)`` (day count of the period).
- ``installment = interest - capitalised + principal + charges``;
  ``closing = opening + capitalised - principal``.
- ``capitalised`` is interest added to the balance instead of being paid: every row of a
  capitalised grace period, and the rare FRENCH row whose interest exceeds the level
  installment. Without capitalisation the principal parts sum exactly to the financed
  amount; with it they sum to the financed amount plus the capitalised interest.
- Grace months come first. ``INTEREST_ONLY`` grace pays the interest; ``CAPITALISED`` grace
  pays only the charges and adds the interest to the balance. The remaining
  ``term - grace`` rows amortise the balance by the scheme.
- FRENCH: one level installment ``P`` (interest + principal, charges aside) for every
  amortising row but the last; ``P`` is the exact annuity for the period rates, rounded, and
  lowered by the smallest amount that keeps every row before the last from repaying more
  than the balance outstanding. GERMAN: principal ``floor(balance / n)`` per row. BULLET:
  interest only, principal in the last row. The LAST row always repays whatever balance is
  left, so the closing balance is exactly zero.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from enum import StrEnum
from fractions import Fraction
from math import gcd

from domain.credits.calendar import DayCount, day_count, due_dates, months_left
from domain.shared.errors import Problems, ValidationFailed
from domain.shared.money import CURRENCY_EXPONENTS, Money, MoneyError

__all__ = [
    "CURRENCY_ROUNDING",
    "DEFAULT_MAX_ANNUAL_RATE",
    "MAX_SCHEDULE_AMOUNT",
    "MAX_TERM_MONTHS",
    "FeeMode",
    "GraceKind",
    "Schedule",
    "ScheduleRequest",
    "ScheduleRow",
    "ScheduleTotals",
    "Scheme",
    "build_schedule",
    "compare_schemes",
    "french_tolerance",
    "parse_money",
    "round_fraction",
]

MAX_TERM_MONTHS = 600
#: No amount of a schedule (a balance, an installment, a total) reaches this many minor
#: units: far above any credit, and below what a 64-bit column holds (9.2 x 10^18).
MAX_SCHEDULE_AMOUNT = 10**18
#: Highest annual nominal rate accepted unless a request sets its own ``max_annual_rate``.
DEFAULT_MAX_ANNUAL_RATE = Decimal("1.5")
#: Default rounding mode of interest and installments, per currency (overridable per request).
CURRENCY_ROUNDING: dict[str, str] = dict.fromkeys(CURRENCY_EXPONENTS, ROUND_HALF_UP)
ROUNDING_MODES = frozenset(
    {ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_HALF_DOWN, ROUND_UP, ROUND_DOWN, ROUND_CEILING,
     ROUND_FLOOR}
)  # fmt: skip


class Scheme(StrEnum):
    FRENCH = "FRENCH"  # level installments, interest on the outstanding balance
    GERMAN = "GERMAN"  # level principal parts
    BULLET = "BULLET"  # interest only, principal at the end


class GraceKind(StrEnum):
    INTEREST_ONLY = "INTEREST_ONLY"  # grace rows pay the interest (and the charges)
    CAPITALISED = "CAPITALISED"  # grace rows pay the charges; interest joins the balance


class FeeMode(StrEnum):
    DEDUCTED = "DEDUCTED"  # the customer receives principal - fee; the schedule is on principal
    FINANCED = "FINANCED"  # the customer receives principal; the schedule is on principal + fee


@dataclass(frozen=True, slots=True)
class ScheduleRequest:
    principal: Money
    annual_rate: Decimal  # nominal, e.g. Decimal("0.18")
    term_months: int  # number of monthly installments, grace included
    disbursement_date: date
    scheme: Scheme = Scheme.FRENCH
    day_count: DayCount = DayCount.THIRTY_360
    grace_months: int = 0
    grace_kind: GraceKind = GraceKind.INTEREST_ONLY
    opening_fee: Money | None = None
    opening_fee_mode: FeeMode = FeeMode.DEDUCTED
    monthly_insurance: Money | None = None
    monthly_charges: Money | None = None  # other fixed monthly charges
    rounding: str | None = None  # a decimal ROUND_* mode; None: CURRENCY_ROUNDING[currency]
    max_annual_rate: Decimal | None = None  # None: DEFAULT_MAX_ANNUAL_RATE
    max_principal: Money | None = None  # the product's (or the calculator's) limit; None: none


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    number: int
    due_date: date
    days: int  # days of the period under the day count (30 for every 30/360 month)
    opening_balance: Money
    interest: Money  # accrued: round(opening * rate * days / basis)
    capitalised: Money  # part of ``interest`` added to the balance instead of paid
    principal: Money
    insurance: Money
    other_charges: Money
    charges: Money  # insurance + other_charges
    installment: Money  # interest - capitalised + principal + charges
    closing_balance: Money

    @property
    def interest_due(self) -> Money:
        return self.interest - self.capitalised


@dataclass(frozen=True, slots=True)
class ScheduleTotals:
    interest: Money
    capitalised: Money
    principal: Money
    insurance: Money
    other_charges: Money
    charges: Money
    installments: Money


@dataclass(frozen=True, slots=True)
class Schedule:
    request: ScheduleRequest
    scheme: Scheme
    principal: Money  # requested
    opening_fee: Money
    financed: Money  # amortised: principal (+ opening fee when FINANCED)
    net_disbursed: Money  # what the customer receives: principal (- fee when DEDUCTED)
    rounding: str
    level_installment: Money | None  # FRENCH: P, interest + principal of every row but the last
    rows: tuple[ScheduleRow, ...]
    totals: ScheduleTotals
    total_cost: Money  # CTC: every payment the customer makes (installments + a deducted fee)
    finance_charge: Money  # total_cost - principal: what the credit costs over the amount lent

    @property
    def currency(self) -> str:
        return self.principal.currency


# ---------------------------------------------------------------------------------------
# exact rounding
# ---------------------------------------------------------------------------------------


def round_fraction(value: Fraction, rounding: str) -> int:
    """Round an exact rational to an integer with a ``decimal`` rounding mode, once."""
    floor = value.numerator // value.denominator
    rest = value - floor  # 0 <= rest < 1
    if rest == 0:
        return floor
    positive = value > 0
    if rounding == ROUND_FLOOR:
        return floor
    if rounding == ROUND_CEILING:
        return floor + 1
    if rounding == ROUND_DOWN:
        return floor if positive else floor + 1
    if rounding == ROUND_UP:
        return floor + 1 if positive else floor
    half = Fraction(1, 2)
    if rest != half:
        return floor + 1 if rest > half else floor
    if rounding == ROUND_HALF_UP:
        return floor + 1 if positive else floor
    if rounding == ROUND_HALF_DOWN:
        return floor if positive else floor + 1
    if rounding == ROUND_HALF_EVEN:
        return floor if floor % 2 == 0 else floor + 1
    raise ValueError(f"unsupported rounding mode {rounding!r}")


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------


def parse_money(amount: object, currency: object, *, field: str) -> Money:
    """A ``Money`` from user input, refusing an unknown currency or a malformed amount."""
    if not isinstance(currency, str) or currency not in CURRENCY_EXPONENTS:
        known = ", ".join(sorted(CURRENCY_EXPONENTS))
        raise ValidationFailed.on("currency", f"{currency!r} is not a supported currency ({known})")
    if isinstance(amount, float | bool) or not isinstance(amount, str | int | Decimal):
        raise ValidationFailed.on(field, "give the amount as a decimal string or an integer")
    try:
        return Money.parse(amount, currency)
    except MoneyError as exc:
        raise ValidationFailed.on(field, str(exc)) from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_decimal(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def _enum(kind: type[StrEnum], value: object, field: str, problems: Problems) -> str:
    if isinstance(value, str) and value in {m.value for m in kind}:
        return kind(value)
    allowed = ", ".join(m.value for m in kind)
    problems.add(field, f"{value!r} is not one of {allowed}")
    return next(iter(kind))


def _validate(request: ScheduleRequest) -> None:
    p = Problems()
    principal = request.principal
    currency: str | None = None
    if not isinstance(principal, Money):
        p.add("principal", "must be an amount of money")
    elif principal.currency not in CURRENCY_EXPONENTS:
        p.add("currency", f"{principal.currency!r} is not a supported currency")
    else:
        currency = principal.currency
        if principal.amount <= 0:
            p.add("principal", "must be greater than zero")

    maximum = DEFAULT_MAX_ANNUAL_RATE
    if request.max_annual_rate is not None:
        if not _is_decimal(request.max_annual_rate) or request.max_annual_rate < 0:
            p.add("max_annual_rate", "must be a non-negative Decimal")
        else:
            maximum = request.max_annual_rate
    rate = request.annual_rate
    if not _is_decimal(rate):
        p.add("annual_rate", "must be a finite Decimal such as Decimal('0.18'), never a float")
    elif rate < 0:
        p.add("annual_rate", "cannot be negative")
    elif rate > maximum:
        p.add("annual_rate", f"{rate} is above the maximum annual rate {maximum}")

    term = request.term_months
    term_ok = _is_int(term) and 1 <= term <= MAX_TERM_MONTHS
    if not term_ok:
        p.add("term_months", f"must be a whole number of months from 1 to {MAX_TERM_MONTHS}")
    grace = request.grace_months
    if not _is_int(grace) or grace < 0:
        p.add("grace_months", "must be a whole number of months, zero or more")
    elif term_ok and grace >= term:
        p.add("grace_months", "must be shorter than the term (at least one amortising month)")
    day = request.disbursement_date
    if not isinstance(day, date) or isinstance(day, datetime):
        p.add("disbursement_date", "must be a calendar date")
    elif term_ok:
        left = months_left(day)
        if left < 1:
            p.add(
                "disbursement_date",
                f"the first installment would fall due after {date.max}, the calendar's last day",
            )
        elif term > left:
            p.add(
                "term_months",
                f"the last installment would fall due after {date.max}, the calendar's last "
                f"day: from {day} the term can be at most {left} months",
            )

    _enum(Scheme, request.scheme, "scheme", p)
    _enum(DayCount, request.day_count, "day_count", p)
    _enum(GraceKind, request.grace_kind, "grace_kind", p)
    fee_mode = _enum(FeeMode, request.opening_fee_mode, "opening_fee_mode", p)
    if request.rounding is not None and request.rounding not in ROUNDING_MODES:
        p.add("rounding", f"{request.rounding!r} is not a decimal rounding mode")

    for field in ("opening_fee", "monthly_insurance", "monthly_charges"):
        value = getattr(request, field)
        if value is None:
            continue
        if not isinstance(value, Money):
            p.add(field, "must be an amount of money")
        elif currency is not None and value.currency != currency:
            p.add(field, f"is in {value.currency} but the principal is in {currency}")
        elif value.amount < 0:
            p.add(field, "cannot be negative")
    limit = request.max_principal
    if limit is not None:
        if not isinstance(limit, Money) or (currency is not None and limit.currency != currency):
            p.add("max_principal", "must be an amount of money in the principal's currency")
        elif isinstance(principal, Money) and principal > limit:
            p.add("principal", f"{principal} is above the maximum principal {limit}")
    fee = request.opening_fee
    if (
        currency is not None
        and isinstance(fee, Money)
        and fee.currency == currency
        and fee_mode == FeeMode.DEDUCTED
        and fee.amount >= principal.amount > 0
    ):
        p.add("opening_fee", "a deducted fee must be smaller than the principal")
    p.raise_if_any()


# ---------------------------------------------------------------------------------------
# the engine (integers in minor units)
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    opening: int
    interest: int
    capitalised: int
    principal: int

    @property
    def closing(self) -> int:
        return self.opening + self.capitalised - self.principal


def _grace_rows(
    balance: int, accrue: Callable[[int, int], int], grace: int, kind: GraceKind
) -> list[_Row]:
    rows = []
    for k in range(grace):
        interest = accrue(k, balance)
        capitalised = interest if kind == GraceKind.CAPITALISED else 0
        rows.append(_Row(balance, interest, capitalised, 0))
        balance += capitalised
    return rows


def _french_exact(balance: int, rates: list[Fraction]) -> Fraction:
    """The exact level installment ``B * prod(1+r) / sum_j prod_{k>j}(1+r_k)``.

    Computed in integers: with a common denominator ``D`` every ``1 + r_k`` is ``N_k / D``,
    and the installment is ``B * prod(N) / sum_j (prod_{k>j} N_k) * D**j``.
    """
    denominator = 1
    for r in rates:
        denominator = denominator * r.denominator // gcd(denominator, r.denominator)
    numerators = [denominator + r.numerator * (denominator // r.denominator) for r in rates]
    suffix = 1  # prod of N_k for k > j
    power = denominator ** len(rates)  # D**j
    total = 0
    for n in reversed(numerators):
        total += suffix * power
        suffix *= n
        power //= denominator
    return Fraction(balance * suffix, total)


def _french_run(
    balance: int, first: int, count: int, accrue: Callable[[int, int], int], level: int
) -> list[_Row] | None:
    """Rows with level installment ``level``; None if a row before the last would repay more
    than the outstanding balance."""
    rows = []
    for j in range(count):
        interest = accrue(first + j, balance)
        if j == count - 1:
            rows.append(_Row(balance, interest, 0, balance))
            break
        if level < interest:  # the installment does not cover the interest: capitalise
            rows.append(_Row(balance, interest, interest - level, 0))
            balance += interest - level
            continue
        principal = level - interest
        if principal > balance:
            return None
        rows.append(_Row(balance, interest, 0, principal))
        balance -= principal
    return rows


def french_tolerance(level: int, count: int) -> int:
    """How far the last installment of a FRENCH schedule (its interest due + principal) may
    be from the level one: 1 % of the level installment, or two minor units per amortising
    month, whichever is larger (``docs/credits-math.md`` §3)."""
    return max(level // 100, 2 * count)


def _last_gap(rows: list[_Row], level: int) -> int:
    last = rows[-1]
    return last.interest - last.capitalised + last.principal - level


def _closest_level(
    balance: int, first: int, count: int, accrue: Callable[[int, int], int], start: int
) -> tuple[int, list[_Row]] | None:
    """The level installment that brings the last one closest to it, if that is within
    :func:`french_tolerance`; None when no level does (the installment cannot amortise).

    ``gap(level) = last installment - level`` falls by at least one unit per unit of level
    (a higher level leaves a lower balance at every row, so the last installment never
    rises), and the levels a schedule can take run from 0 up to a largest one (above it a
    row before the last would repay more than the balance). So a search from ``start``
    finds the largest level ``a`` whose gap is still >= 0, and the closest gap is at ``a``
    or ``a + 1``. If neither is within the tolerance, no level is: below ``a`` the gap only
    grows, and above ``a + 1`` its size grows by a unit per unit of level while the
    tolerance grows by at most that.
    """

    def run(level: int) -> list[_Row] | None:
        return _french_run(balance, first, count, accrue, level)

    def at_or_below(level: int) -> bool:  # the last installment is at least the level
        rows = run(level)
        return rows is not None and _last_gap(rows, level) >= 0

    # bracket: at_or_below(low) and not at_or_below(high); level 0 always qualifies
    step = 1
    if at_or_below(start):
        low, high = start, start + 1
        while at_or_below(high):
            low, step = high, step * 2
            high = low + step
    else:
        low, high = max(start - 1, 0), start
        while not at_or_below(low):
            high, step = low, step * 2
            low = max(high - step, 0)
    while high - low > 1:
        middle = (low + high) // 2
        if at_or_below(middle):
            low = middle
        else:
            high = middle
    best: tuple[int, int, list[_Row]] | None = None
    for level in (low, low + 1):
        rows = run(level)
        if rows is None:
            continue
        gap = abs(_last_gap(rows, level))
        if gap <= french_tolerance(level, count) and (best is None or gap < best[0]):
            best = (gap, level, rows)
    return None if best is None else (best[1], best[2])


def _french(
    balance: int, first: int, rates: list[Fraction], accrue: Callable[[int, int], int], mode: str
) -> tuple[int, list[_Row]]:
    """``(level, rows)``: the rounded annuity, or the level that brings the last installment
    within :func:`french_tolerance` when the rounded one does not. When no level does (see
    :func:`_amortises`) the rounded annuity's rows are returned: a new schedule is then
    refused, and a prepayment's recomputed rows keep them (a booked payment is never
    refused for it)."""
    count = len(rates)
    level = round_fraction(_french_exact(balance, rates), mode)
    rows = _french_run(balance, first, count, accrue, level)
    if rows is None:
        # Rounding made ``level`` repay more than the balance before the last row: take the
        # largest lower installment that does not. ``0`` never does, and a lower installment
        # leaves a higher balance at every row, so the search is monotone.
        low, high = 0, level - 1
        while low < high:
            middle = (low + high + 1) // 2
            if _french_run(balance, first, count, accrue, middle) is None:
                high = middle - 1
            else:
                low = middle
        level = low
        rows = _french_run(balance, first, count, accrue, level)
        assert rows is not None
    if _amortises(level, rows):
        return level, rows
    # The rounding left the last installment out of the bound (one unit of the level
    # installment moves the last one by ~S units, S growing with rate and term): take the
    # level that brings it closest, if one is close enough.
    closest = _closest_level(balance, first, count, accrue, level)
    return (level, rows) if closest is None else closest


def _amortises(level: int, rows: list[_Row]) -> bool:
    """Whether the last installment of FRENCH ``rows`` is within the bound of ``level``."""
    return abs(_last_gap(rows, level)) <= french_tolerance(level, len(rows))


def _german(balance: int, first: int, count: int, accrue: Callable[[int, int], int]) -> list[_Row]:
    part = balance // count  # rounded down: the last row takes the remainder (< count units)
    rows = []
    for j in range(count):
        principal = balance if j == count - 1 else part
        rows.append(_Row(balance, accrue(first + j, balance), 0, principal))
        balance -= principal
    return rows


def _bullet(balance: int, first: int, count: int, accrue: Callable[[int, int], int]) -> list[_Row]:
    rows = [_Row(balance, accrue(first + j, balance), 0, 0) for j in range(count - 1)]
    rows.append(_Row(balance, accrue(first + count - 1, balance), 0, balance))
    return rows


def build_schedule(request: ScheduleRequest) -> Schedule:
    """The full schedule of ``request``; raises ``ValidationFailed`` naming each bad field."""
    _validate(request)
    currency = request.principal.currency
    scheme = Scheme(request.scheme)
    convention = DayCount(request.day_count)
    grace_kind = GraceKind(request.grace_kind)
    fee_mode = FeeMode(request.opening_fee_mode)
    mode = request.rounding or CURRENCY_ROUNDING[currency]
    zero = Money.zero(currency)
    fee = request.opening_fee or zero
    insurance = request.monthly_insurance or zero
    other = request.monthly_charges or zero
    term, grace = request.term_months, request.grace_months

    start = request.disbursement_date
    dates = due_dates(start, term)
    periods = [
        day_count(convention, previous, due, anchor_day=start.day)
        for previous, due in zip([start, *dates[:-1]], dates, strict=True)
    ]
    annual = Fraction(request.annual_rate)
    rates = [annual * days / basis for days, basis in periods]

    def accrue(index: int, balance: int) -> int:
        return round_fraction(balance * rates[index], mode)

    financed = request.principal + fee if fee_mode == FeeMode.FINANCED else request.principal
    net = request.principal - fee if fee_mode == FeeMode.DEDUCTED else request.principal

    rows = _grace_rows(financed.amount, accrue, grace, grace_kind)
    balance = rows[-1].closing if rows else financed.amount
    count = term - grace
    level: int | None = None
    if scheme == Scheme.FRENCH:
        level, amortising = _french(balance, grace, rates[grace:], accrue, mode)
        if not _amortises(level, amortising):
            last = amortising[-1]
            raise ValidationFailed.on(
                "term_months",
                f"a level installment does not amortise {Money(balance, currency)} over "
                f"{count} months at {request.annual_rate} a year ({convention.value}): with "
                f"{level} a month the last installment would be "
                f"{last.interest - last.capitalised + last.principal}, and no level brings "
                f"it within {french_tolerance(level, count)} of the others (1 % of the "
                "installment, or two minor units per month); shorten the term or lower the rate",
            )
    elif scheme == Scheme.GERMAN:
        amortising = _german(balance, grace, count, accrue)
    else:
        amortising = _bullet(balance, grace, count, accrue)
    rows += amortising

    charges = insurance + other
    out = []
    for number, (row, due, (days, _basis)) in enumerate(
        zip(rows, dates, periods, strict=True), start=1
    ):
        installment = row.interest - row.capitalised + row.principal + charges.amount
        out.append(
            ScheduleRow(
                number=number,
                due_date=due,
                days=days,
                opening_balance=Money(row.opening, currency),
                interest=Money(row.interest, currency),
                capitalised=Money(row.capitalised, currency),
                principal=Money(row.principal, currency),
                insurance=insurance,
                other_charges=other,
                charges=charges,
                installment=Money(installment, currency),
                closing_balance=Money(row.closing, currency),
            )
        )

    def total(name: str) -> Money:
        return Money(sum(getattr(r, name).amount for r in out), currency)

    totals = ScheduleTotals(
        interest=total("interest"),
        capitalised=total("capitalised"),
        principal=total("principal"),
        insurance=total("insurance"),
        other_charges=total("other_charges"),
        charges=total("charges"),
        installments=total("installment"),
    )
    upfront = fee if fee_mode == FeeMode.DEDUCTED else zero
    total_cost = totals.installments + upfront
    largest = max(total_cost.amount, *(r.opening_balance.amount for r in out))
    if largest >= MAX_SCHEDULE_AMOUNT:
        grown = grace_kind == GraceKind.CAPITALISED and balance > financed.amount
        raise ValidationFailed.on(
            "grace_months" if grown else "principal",
            (
                f"{grace} months of capitalised grace"
                if grown
                else f"{financed} at this rate over {term} months"
            )
            + f" would make amounts of {Money(largest, currency)}, beyond any credit",
        )
    return Schedule(
        request=request,
        scheme=scheme,
        principal=request.principal,
        opening_fee=fee,
        financed=financed,
        net_disbursed=net,
        rounding=mode,
        level_installment=None if level is None else Money(level, currency),
        rows=tuple(out),
        totals=totals,
        total_cost=total_cost,
        finance_charge=total_cost - request.principal,
    )


def compare_schemes(request: ScheduleRequest) -> list[Schedule]:
    """The same amount, rate, term and charges under every scheme, in ``Scheme`` order."""
    return [build_schedule(dataclasses.replace(request, scheme=scheme)) for scheme in Scheme]

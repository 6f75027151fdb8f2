"""Schedules: calendar, known values, exactness properties over random credits, bad input."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    localcontext,
)
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.credits.calendar import (
    DayCount,
    act_360,
    act_365_fixed,
    add_months,
    day_count,
    due_dates,
    first_due_date,
    thirty_360,
)
from domain.credits.investments import simulate_investment
from domain.credits.schedules import (
    DEFAULT_MAX_ANNUAL_RATE,
    FeeMode,
    GraceKind,
    Schedule,
    ScheduleRequest,
    Scheme,
    build_schedule,
    compare_schemes,
    parse_money,
    round_fraction,
)
from domain.shared.errors import ValidationFailed
from domain.shared.money import CURRENCY_EXPONENTS, Money
from tests.domain.credits.test_schedule_bounds import gap_of

WIDE = Context(prec=120, Emax=10**6, Emin=-(10**6))
MODES = [
    ROUND_HALF_UP,
    ROUND_HALF_EVEN,
    ROUND_HALF_DOWN,
    ROUND_UP,
    ROUND_DOWN,
    ROUND_CEILING,
    ROUND_FLOOR,
]


def clp(amount: int) -> Money:
    return Money(amount, "CLP")


def request(**changes: Any) -> ScheduleRequest:
    base = ScheduleRequest(
        principal=clp(1_000_000),
        annual_rate=Decimal("0.12"),
        term_months=12,
        disbursement_date=date(2024, 1, 31),
    )
    return dataclasses.replace(base, **changes)


# ---------------------------------------------------------------------------------------
# calendar
# ---------------------------------------------------------------------------------------


def test_due_dates_clamp_to_month_end_and_keep_the_anchor_day() -> None:
    assert due_dates(date(2024, 1, 31), 5) == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
        date(2024, 6, 30),
    ]
    assert due_dates(date(2023, 1, 31), 2) == [date(2023, 2, 28), date(2023, 3, 31)]
    assert due_dates(date(2023, 12, 15), 2) == [date(2024, 1, 15), date(2024, 2, 15)]
    assert first_due_date(date(2024, 1, 31)) == date(2024, 2, 29)
    assert first_due_date(date(2024, 3, 10)) == date(2024, 4, 10)


def test_add_months_with_an_anchor_steps_from_a_clamped_date() -> None:
    assert add_months(date(2023, 2, 28), 1) == date(2023, 3, 28)
    assert add_months(date(2023, 2, 28), 1, anchor_day=31) == date(2023, 3, 31)
    assert add_months(date(2024, 11, 30), 3, anchor_day=30) == date(2025, 2, 28)
    with pytest.raises(ValueError):
        add_months(date(2024, 1, 1), 1, anchor_day=32)


def test_thirty_360_counts_whole_months_as_30_days() -> None:
    start = date(2024, 1, 31)
    grid = [start, *due_dates(start, 13)]
    for a, b in itertools.pairwise(grid):
        assert thirty_360(a, b, anchor_day=31) == (30, 360)
    assert thirty_360(date(2024, 1, 31), date(2024, 2, 29)) == (29, 360)  # 30E/360, no anchor
    assert thirty_360(date(2024, 1, 15), date(2025, 1, 15)) == (360, 360)
    assert thirty_360(date(2024, 3, 31), date(2024, 4, 30)) == (30, 360)


def test_actual_day_counts() -> None:
    assert act_365_fixed(date(2024, 1, 31), date(2024, 2, 29)) == (29, 365)
    assert act_365_fixed(date(2024, 1, 1), date(2025, 1, 1)) == (366, 365)
    assert act_360(date(2024, 1, 1), date(2024, 4, 1)) == (91, 360)
    assert day_count(DayCount.ACT_365_FIXED, date(2024, 1, 1), date(2024, 1, 2)) == (1, 365)
    with pytest.raises(ValueError):
        day_count(DayCount.ACT_360, date(2024, 2, 1), date(2024, 1, 1))


@pytest.mark.parametrize(
    ("value", "rounding", "expected"),
    [
        (Fraction(5, 2), ROUND_HALF_UP, 3),
        (Fraction(5, 2), ROUND_HALF_EVEN, 2),
        (Fraction(7, 2), ROUND_HALF_EVEN, 4),
        (Fraction(5, 2), ROUND_HALF_DOWN, 2),
        (Fraction(-5, 2), ROUND_HALF_UP, -3),
        (Fraction(-5, 2), ROUND_HALF_DOWN, -2),
        (Fraction(21, 10), ROUND_UP, 3),
        (Fraction(-21, 10), ROUND_UP, -3),
        (Fraction(29, 10), ROUND_DOWN, 2),
        (Fraction(-29, 10), ROUND_DOWN, -2),
        (Fraction(-21, 10), ROUND_CEILING, -2),
        (Fraction(-21, 10), ROUND_FLOOR, -3),
        (Fraction(4), ROUND_CEILING, 4),
    ],
)
def test_round_fraction(value: Fraction, rounding: str, expected: int) -> None:
    assert round_fraction(value, rounding) == expected


# ---------------------------------------------------------------------------------------
# known values
# ---------------------------------------------------------------------------------------


def annuity(principal: int, monthly: Decimal, months: int) -> Decimal:
    """Closed-form level installment ``B·i / (1 - (1 + i)^-n)``, computed in Decimal."""
    with localcontext(WIDE):
        if monthly == 0:
            return Decimal(principal) / months
        return Decimal(principal) * monthly / (1 - (1 + monthly) ** -months)


def test_clp_one_million_at_12_percent_over_12_months() -> None:
    schedule = build_schedule(request())
    expected = annuity(1_000_000, Decimal("0.01"), 12).quantize(Decimal(1), ROUND_HALF_UP)
    assert expected == 88_849  # 88,848.79 by the closed form
    assert schedule.level_installment == clp(88_849)
    first, last = schedule.rows[0], schedule.rows[-1]
    assert (first.interest, first.principal, first.closing_balance) == (
        clp(10_000),
        clp(78_849),
        clp(921_151),
    )
    assert [r.installment for r in schedule.rows[:-1]] == [clp(88_849)] * 11
    assert (last.opening_balance, last.interest, last.principal) == (
        clp(87_967),
        clp(880),
        clp(87_967),
    )
    assert last.installment == clp(88_847) and last.closing_balance == clp(0)
    assert schedule.totals.interest == clp(66_186)
    assert schedule.totals.installments == clp(1_066_186) == schedule.total_cost
    assert schedule.finance_charge == clp(66_186)
    assert [r.due_date for r in schedule.rows[:3]] == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]


def test_german_and_bullet_known_values() -> None:
    german = build_schedule(request(scheme=Scheme.GERMAN))
    assert {r.principal for r in german.rows[:-1]} == {clp(83_333)}
    assert german.rows[-1].principal == clp(83_337)  # 1,000,000 - 11 * 83,333
    assert german.rows[0].installment == clp(93_333)
    assert german.totals.interest == clp(65_000)
    bullet = build_schedule(request(scheme=Scheme.BULLET))
    assert {r.installment for r in bullet.rows[:-1]} == {clp(10_000)}
    assert bullet.rows[-1].installment == clp(1_010_000)
    assert bullet.totals.interest == clp(120_000)


def test_compare_schemes_same_amount_and_term() -> None:
    french, german, bullet = compare_schemes(request(monthly_insurance=clp(1_000)))
    assert [s.scheme for s in (french, german, bullet)] == list(Scheme)
    for s in (french, german, bullet):
        assert s.principal == clp(1_000_000) and len(s.rows) == 12
        assert s.totals.insurance == clp(12_000)
    assert german.totals.interest < french.totals.interest < bullet.totals.interest


def test_zero_rate_credits() -> None:
    french = build_schedule(request(annual_rate=Decimal(0), principal=clp(1_000_001)))
    assert french.level_installment == clp(83_333)
    assert french.rows[-1].installment == clp(83_338)
    assert french.totals.interest == clp(0)
    for scheme in Scheme:
        s = build_schedule(request(annual_rate=Decimal(0), scheme=scheme))
        assert s.totals.interest == clp(0) and s.totals.installments == clp(1_000_000)


def test_act_365_interest_follows_calendar_days() -> None:
    s = build_schedule(request(day_count=DayCount.ACT_365_FIXED))
    assert s.rows[0].days == 29  # 31 Jan → 29 Feb 2024
    assert s.rows[0].interest == clp(9_534)  # 1,000,000 * 0.12 * 29/365 = 9,534.2
    assert s.rows[1].days == 31
    installments = {r.installment for r in s.rows[:-1]}
    assert len(installments) == 1


def test_uf_credit_in_ten_thousandths() -> None:
    s = build_schedule(
        request(principal=Money.parse("500", "CLF"), annual_rate=Decimal("0.045"), term_months=60)
    )
    # 500 · 0.00375 / (1 - 1.00375^-60) = 9.32150962… UF, to the ten-thousandth
    assert annuity(5_000_000, Decimal("0.00375"), 60).quantize(Decimal(1), ROUND_HALF_UP) == 93215
    assert s.level_installment == Money.parse("9.3215", "CLF")
    assert s.rows[-1].closing_balance == Money(0, "CLF")


def test_interest_only_grace() -> None:
    s = build_schedule(request(grace_months=3, monthly_charges=clp(500)))
    for row in s.rows[:3]:
        assert row.principal == clp(0) and row.capitalised == clp(0)
        assert row.interest == clp(10_000) and row.installment == clp(10_500)
    expected = annuity(1_000_000, Decimal("0.01"), 9).quantize(Decimal(1), ROUND_HALF_UP)
    assert s.level_installment == clp(int(expected))


def test_capitalised_grace() -> None:
    s = build_schedule(
        request(grace_months=2, grace_kind=GraceKind.CAPITALISED, monthly_insurance=clp(700))
    )
    a, b = s.rows[0], s.rows[1]
    assert (a.interest, a.capitalised, a.installment, a.closing_balance) == (
        clp(10_000),
        clp(10_000),
        clp(700),
        clp(1_010_000),
    )
    assert (b.interest, b.capitalised, b.closing_balance) == (
        clp(10_100),
        clp(10_100),
        clp(1_020_100),
    )
    assert s.totals.principal == clp(1_020_100)
    assert s.totals.principal - s.totals.capitalised == s.financed


def test_opening_fee_deducted_or_financed() -> None:
    deducted = build_schedule(request(opening_fee=clp(20_000)))
    assert deducted.financed == clp(1_000_000) and deducted.net_disbursed == clp(980_000)
    assert deducted.total_cost == deducted.totals.installments + clp(20_000)
    financed = build_schedule(request(opening_fee=clp(20_000), opening_fee_mode=FeeMode.FINANCED))
    assert financed.financed == clp(1_020_000) and financed.net_disbursed == clp(1_000_000)
    assert financed.total_cost == financed.totals.installments
    assert financed.totals.principal == clp(1_020_000)


# ---------------------------------------------------------------------------------------
# properties over random credits
# ---------------------------------------------------------------------------------------


@st.composite
def credit_requests(draw: st.DrawFn) -> ScheduleRequest:
    currency = draw(st.sampled_from(sorted(CURRENCY_EXPONENTS)))
    term = draw(st.integers(min_value=1, max_value=360))
    grace = draw(st.integers(min_value=0, max_value=term - 1))

    def charge() -> Money | None:
        return draw(st.none() | st.integers(0, 10**6).map(lambda a: Money(a, currency)))

    principal = Money(draw(st.integers(min_value=1, max_value=10**12)), currency)
    fee_mode = draw(st.sampled_from(list(FeeMode)))
    fee = charge()
    if fee is not None and fee_mode == FeeMode.DEDUCTED and fee >= principal:
        fee = None
    return ScheduleRequest(
        principal=principal,
        annual_rate=Decimal(draw(st.integers(min_value=0, max_value=6000))).scaleb(-4),
        term_months=term,
        disbursement_date=draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2080, 12, 31))),
        scheme=draw(st.sampled_from(list(Scheme))),
        day_count=draw(st.sampled_from(list(DayCount))),
        grace_months=grace,
        grace_kind=draw(st.sampled_from(list(GraceKind))),
        opening_fee=fee,
        opening_fee_mode=fee_mode,
        monthly_insurance=charge(),
        monthly_charges=charge(),
        rounding=draw(st.none() | st.sampled_from(MODES)),
    )


def expected_interest(schedule: Schedule, index: int) -> int:
    """Independent: the period's rate * opening balance, rounded in a 120-digit context."""
    req = schedule.request
    row = schedule.rows[index]
    start = req.disbursement_date if index == 0 else schedule.rows[index - 1].due_date
    days, basis = day_count(
        req.day_count, start, row.due_date, anchor_day=req.disbursement_date.day
    )
    with localcontext(WIDE):
        exact = Decimal(row.opening_balance.amount) * req.annual_rate * days / basis
        return int(exact.quantize(Decimal(1), rounding=schedule.rounding))


def french_bound(schedule: Schedule) -> Decimal:
    """How far the last installment may drift from the level one (see docs/credits-math.md).

    With ``e = P - P_exact`` and per-row rounding errors ``|ε| < 1``, the last installment
    differs from ``P`` by ``Σₖ (εₖ - e)·Πⱼ>ₖ(1+rⱼ)``, so at most ``(|e| + 1)·S`` with
    ``S = Σₖ Πⱼ>ₖ(1+rⱼ)``.
    """
    req = schedule.request
    grace = req.grace_months
    start = req.disbursement_date
    dates = [start, *(r.due_date for r in schedule.rows)]
    with localcontext(WIDE):
        growth, s = Decimal(1), Decimal(0)
        for k in range(len(schedule.rows) - 1, grace - 1, -1):
            s += growth
            days, basis = day_count(req.day_count, dates[k], dates[k + 1], anchor_day=start.day)
            growth *= 1 + req.annual_rate * days / basis
        balance = schedule.rows[grace].opening_balance.amount
        exact = Decimal(balance) * growth / s
        assert schedule.level_installment is not None
        e = abs(schedule.level_installment.amount - exact)
        return (e + 1) * s + 1


@settings(max_examples=150, deadline=None)
@given(req=credit_requests())
def test_schedules_are_exact(req: ScheduleRequest) -> None:
    try:
        s = build_schedule(req)
    except ValidationFailed as exc:
        # a level installment that cannot amortise (test_schedule_bounds.py: none can)
        assert req.scheme == Scheme.FRENCH
        assert [p.field for p in exc.problems] == ["term_months"]
        return
    rows = s.rows
    currency = req.principal.currency
    zero = Money(0, currency)
    fee = req.opening_fee or zero
    assert len(rows) == req.term_months
    assert [r.number for r in rows] == list(range(1, req.term_months + 1))
    assert [r.due_date for r in rows] == due_dates(req.disbursement_date, req.term_months)

    # every amount is an integer count of minor units in the principal's currency
    for row in rows:
        for field in dataclasses.fields(row):
            value = getattr(row, field.name)
            if isinstance(value, Money):
                assert type(value.amount) is int and value.currency == currency

    # amounts financed and received
    financed = req.principal + fee if req.opening_fee_mode == FeeMode.FINANCED else req.principal
    assert s.financed == financed
    net = req.principal - fee if req.opening_fee_mode == FeeMode.DEDUCTED else req.principal
    assert s.net_disbursed == net

    # balances chain, the last closes at exactly zero, principal parts sum exactly
    assert rows[0].opening_balance == financed
    for a, b in itertools.pairwise(rows):
        assert a.closing_balance == b.opening_balance
    assert rows[-1].closing_balance == zero
    assert s.totals.principal - s.totals.capitalised == financed
    for i, row in enumerate(rows):
        assert row.principal.amount >= 0 and row.capitalised.amount >= 0
        assert row.closing_balance.amount >= 0
        assert row.closing_balance == row.opening_balance + row.capitalised - row.principal
        assert row.charges == row.insurance + row.other_charges
        assert row.installment == row.interest - row.capitalised + row.principal + row.charges
        assert row.interest.amount == expected_interest(s, i)
        assert row.capitalised <= row.interest

    # grace rows
    for row in rows[: req.grace_months]:
        assert row.principal == zero
        if req.grace_kind == GraceKind.CAPITALISED:
            assert row.capitalised == row.interest and row.installment == row.charges
        else:
            assert row.capitalised == zero
    amortising = rows[req.grace_months :]
    if req.grace_kind == GraceKind.INTEREST_ONLY and req.scheme != Scheme.FRENCH:
        assert s.totals.capitalised == zero
    no_capitalised_grace = req.grace_kind == GraceKind.INTEREST_ONLY or req.grace_months == 0
    if no_capitalised_grace and req.day_count == DayCount.THIRTY_360:
        # a constant rate: the level installment always covers the interest
        assert s.totals.principal == financed

    # scheme shapes
    if req.scheme == Scheme.FRENCH:
        assert s.level_installment is not None
        level = s.level_installment
        assert all(r.interest_due + r.principal == level for r in amortising[:-1])
        last = amortising[-1]
        assert abs((last.interest_due + last.principal - level).amount) <= french_bound(s)
    elif req.scheme == Scheme.GERMAN:
        part = amortising[0].opening_balance.amount // len(amortising)
        assert all(r.principal.amount == part for r in amortising[:-1])
        assert 0 <= amortising[-1].principal.amount - part < len(amortising)
    else:
        assert all(r.principal == zero for r in amortising[:-1])
        assert amortising[-1].principal == amortising[-1].opening_balance

    # totals are the sums of the rows; the total cost is every payment
    def total(name: str) -> Money:
        return Money(sum(getattr(r, name).amount for r in rows), currency)

    for name in ("interest", "capitalised", "principal", "insurance", "other_charges", "charges"):
        assert getattr(s.totals, name) == total(name)
    assert s.totals.installments == total("installment")
    upfront = fee if req.opening_fee_mode == FeeMode.DEDUCTED else zero
    assert s.total_cost == s.totals.installments + upfront
    assert s.finance_charge == s.total_cost - req.principal


@settings(max_examples=60, deadline=None)
@given(
    principal=st.integers(min_value=10**5, max_value=10**11),
    rate=st.integers(min_value=1, max_value=6000).map(lambda x: Decimal(x).scaleb(-4)),
    term=st.integers(min_value=1, max_value=360),
)
def test_french_30_360_matches_the_closed_form(principal: int, rate: Decimal, term: int) -> None:
    req = request(principal=clp(principal), annual_rate=rate, term_months=term, rounding=ROUND_DOWN)
    try:
        s = build_schedule(req)
    except ValidationFailed as exc:
        # no level installment amortises it (test_schedule_bounds.py checks that none can)
        assert [p.field for p in exc.problems] == ["term_months"]
        return
    exact = annuity(principal, rate / 12, term)
    assert s.level_installment is not None
    level = s.level_installment.amount
    # rounded down, and lowered only if rounding would repay the credit before the last row
    # (the oracle's own Decimal arithmetic may be off by ~1e-26 where the exact value is an
    # integer, e.g. a one-month term) ...
    if -Decimal("1e-18") < exact - level < 2:
        return
    # ... unless that left the last installment out of its bound: then the level is the one
    # that brings it within
    last = s.rows[-1]
    assert abs(last.interest.amount + last.principal.amount - level) <= max(level // 100, 2 * term)
    closed = int(exact.to_integral_value(ROUND_DOWN))
    gap = gap_of(principal, [rate / 12] * term, closed, ROUND_DOWN)
    assert gap is None or abs(gap) > max(closed // 100, 2 * term)


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"term_months": 0}, "term_months"),
        ({"term_months": 601}, "term_months"),
        ({"term_months": True}, "term_months"),
        ({"principal": clp(0)}, "principal"),
        ({"principal": clp(-5)}, "principal"),
        ({"annual_rate": Decimal("-0.01")}, "annual_rate"),
        ({"annual_rate": 0.12}, "annual_rate"),
        ({"annual_rate": Decimal("NaN")}, "annual_rate"),
        ({"annual_rate": DEFAULT_MAX_ANNUAL_RATE + Decimal("0.0001")}, "annual_rate"),
        ({"annual_rate": Decimal("0.40"), "max_annual_rate": Decimal("0.3")}, "annual_rate"),
        ({"max_annual_rate": Decimal(-1)}, "max_annual_rate"),
        ({"grace_months": 12}, "grace_months"),
        ({"grace_months": 13}, "grace_months"),
        ({"grace_months": -1}, "grace_months"),
        ({"opening_fee": Money(100, "USD")}, "opening_fee"),
        ({"monthly_insurance": Money(100, "CLF")}, "monthly_insurance"),
        ({"monthly_charges": Money(100, "ARS")}, "monthly_charges"),
        ({"monthly_charges": clp(-1)}, "monthly_charges"),
        ({"opening_fee": clp(1_000_000)}, "opening_fee"),
        ({"rounding": "ROUND_SOMETIMES"}, "rounding"),
        ({"scheme": "AMERICAN"}, "scheme"),
        ({"day_count": "ACT/ACT"}, "day_count"),
        ({"grace_kind": "SKIP"}, "grace_kind"),
        ({"opening_fee_mode": "LATER"}, "opening_fee_mode"),
        ({"disbursement_date": "2024-01-31"}, "disbursement_date"),
    ],
)
def test_bad_input_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build_schedule(request(**changes))
    assert [p.field for p in caught.value.problems] == [field]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        build_schedule(request(principal=clp(0), term_months=0, annual_rate=Decimal(-1)))
    assert {p.field for p in caught.value.problems} == {"principal", "term_months", "annual_rate"}


def test_a_financed_fee_may_exceed_the_principal() -> None:
    s = build_schedule(request(opening_fee=clp(2_000_000), opening_fee_mode=FeeMode.FINANCED))
    assert s.financed == clp(3_000_000)


def test_parse_money_refuses_unknown_currency_and_bad_amounts() -> None:
    assert parse_money("1500.50", "USD", field="principal") == Money(150050, "USD")
    with pytest.raises(ValidationFailed) as caught:
        parse_money("100", "XYZ", field="principal")
    assert caught.value.problems[0].field == "currency"
    for bad in ("1.5", "abc", 1.5):
        with pytest.raises(ValidationFailed) as caught:
            parse_money(bad, "CLP", field="principal")
        assert caught.value.problems[0].field == "principal"


# ---------------------------------------------------------------------------------------
# investment projection
# ---------------------------------------------------------------------------------------


def test_simulate_investment() -> None:
    p = simulate_investment(clp(1_000_000), Decimal("0.12"), 12, Scheme.FRENCH, date(2024, 1, 15))
    assert len(p.flows) == 12
    assert p.total_interest == clp(66_186)
    assert p.total_received == clp(1_066_186)
    assert p.total_return == p.total_interest
    assert p.return_ratio == Decimal("0.0661860000")
    assert p.flows[-1].balance == clp(0)
    assert sum(f.principal.amount for f in p.flows) == 1_000_000
    # 1% a month compounds to 12.68% a year; calendar months make ACT/365 differ a little
    assert abs(p.annualised_yield - Decimal("0.126825")) < Decimal("0.002")


def test_simulate_investment_bullet_and_zero_rate() -> None:
    bullet = simulate_investment(
        clp(1_000_000), Decimal("0.12"), 24, Scheme.BULLET, date(2024, 1, 15)
    )
    assert bullet.total_interest == clp(240_000)
    assert [f.principal for f in bullet.flows[:-1]] == [clp(0)] * 23
    flat = simulate_investment(clp(1_000_000), Decimal(0), 10, Scheme.GERMAN, date(2024, 1, 15))
    assert flat.annualised_yield == 0 and flat.total_return == clp(0)


def test_simulate_investment_names_its_own_arguments() -> None:
    with pytest.raises(ValidationFailed) as caught:
        simulate_investment(clp(0), Decimal("0.1"), 0, Scheme.FRENCH, date(2024, 1, 1))
    assert {p.field for p in caught.value.problems} == {"amount", "term"}

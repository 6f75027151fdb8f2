"""Schedules that cannot amortise are refused; every schedule that is built keeps its last
installment within the stated bound of the others (docs/credits-math.md §3, "The last
installment"), for every scheme, day count, grace kind, fee mode and rounding mode; dates
that would run past year 9999 are refused; the maximum principal is enforced.

The oracle here is independent of the engine: it restates the rows' rule (interest on the
opening balance, rounded once; a level installment; the last row repays what is left) in
120-digit ``Decimal`` arithmetic.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Context, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from domain.credits.calendar import DayCount, day_count
from domain.credits.investments import simulate_investment
from domain.credits.schedules import (
    FeeMode,
    GraceKind,
    Schedule,
    ScheduleRequest,
    Scheme,
    build_schedule,
    compare_schemes,
)
from domain.shared.errors import ValidationFailed
from domain.shared.money import CURRENCY_EXPONENTS, Money

WIDE = Context(prec=120, Emax=10**6, Emin=-(10**6))
MODES = [ROUND_HALF_UP, ROUND_DOWN, ROUND_UP, "ROUND_HALF_EVEN", "ROUND_CEILING", "ROUND_FLOOR"]


def clp(amount: int) -> Money:
    return Money(amount, "CLP")


def request(**changes: Any) -> ScheduleRequest:
    base = ScheduleRequest(
        principal=clp(1_000_000),
        annual_rate=Decimal("0.12"),
        term_months=12,
        disbursement_date=date(2024, 1, 15),
    )
    return dataclasses.replace(base, **changes)


def bound(level: int, count: int) -> int:
    """The stated bound: 1 % of the level installment, or two minor units per amortising
    month, whichever is larger."""
    return max(level // 100, 2 * count)


def refused_field(req: ScheduleRequest) -> tuple[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        build_schedule(req)
    (problem,) = caught.value.problems
    return problem.field, problem.message


# ---------------------------------------------------------------------------------------
# the two reported cases
# ---------------------------------------------------------------------------------------


def test_act_365_at_90_percent_over_600_months_is_refused() -> None:
    """Reported: a last installment of ~5 x 10^19 CLP (the level one is 75,018)."""
    req = request(
        annual_rate=Decimal("0.9"),
        term_months=600,
        day_count=DayCount.ACT_365_FIXED,
        disbursement_date=date(2024, 1, 15),
    )
    field, message = refused_field(req)
    assert field == "term_months"
    assert "does not amortise" in message and "600 months" in message


def test_30_360_at_60_percent_over_360_months_is_refused() -> None:
    """Reported: the level installment equals the first interest, so no row before the last
    repays any principal (the last one repays all of it)."""
    field, message = refused_field(request(annual_rate=Decimal("0.6"), term_months=360))
    assert field == "term_months"
    assert "does not amortise" in message


def test_every_scheme_is_refused_together_when_french_cannot_amortise() -> None:
    with pytest.raises(ValidationFailed) as caught:
        compare_schemes(request(annual_rate=Decimal("0.6"), term_months=360))
    assert [p.field for p in caught.value.problems] == ["term_months"]
    # GERMAN and BULLET at those terms are well defined on their own
    for scheme in (Scheme.GERMAN, Scheme.BULLET):
        built = build_schedule(request(annual_rate=Decimal("0.6"), term_months=360, scheme=scheme))
        assert built.rows[-1].closing_balance == clp(0)


def test_a_long_credit_at_a_sane_rate_is_kept_as_it_was() -> None:
    """Nothing changes where the rounded annuity already meets the bound."""
    s = build_schedule(request(annual_rate=Decimal("0.12"), term_months=12))
    assert s.level_installment == clp(88_849)
    assert s.rows[-1].installment == clp(88_847)
    uf = build_schedule(
        request(
            principal=Money(30_000_000, "CLF"),
            annual_rate=Decimal("0.045"),
            term_months=360,
            day_count=DayCount.ACT_365_FIXED,
        )
    )
    assert uf.level_installment is not None
    level = uf.level_installment.amount
    last = uf.rows[-1]
    assert abs(last.interest.amount + last.principal.amount - level) <= bound(level, 360)


def test_a_recomputed_level_brings_the_last_installment_within_the_bound() -> None:
    """Where the rounded annuity leaves the last installment out of the bound but another
    level does not, that level is taken (found by search, not refused). CLP 45,469 at
    77.9 % ACT/365F over 36 months: the rounded annuity 3,295 leaves a last installment 73
    below it (the bound is 72); 3,294 brings it within."""
    req = request(
        principal=clp(45_469),
        annual_rate=Decimal("0.779"),
        term_months=36,
        day_count=DayCount.ACT_365_FIXED,
    )
    s = build_schedule(req)
    assert rounded(exact_level(req, s), ROUND_HALF_UP) == 3_295
    rates = period_rates(req, [r.due_date for r in s.rows])
    assert gap_of(45_469, rates, 3_295, ROUND_HALF_UP) == -73
    assert s.level_installment == clp(3_294)
    last = s.rows[-1]
    gap = last.interest.amount + last.principal.amount - 3_294
    assert gap == gap_of(45_469, rates, 3_294, ROUND_HALF_UP)
    assert abs(gap) <= bound(3_294, 36) == 72


# ---------------------------------------------------------------------------------------
# the oracle
# ---------------------------------------------------------------------------------------


def period_rates(req: ScheduleRequest, schedule_dates: list[date]) -> list[Decimal]:
    start = req.disbursement_date
    out = []
    with localcontext(WIDE):
        for previous, due in zip([start, *schedule_dates[:-1]], schedule_dates, strict=True):
            days, basis = day_count(req.day_count, previous, due, anchor_day=start.day)
            out.append(req.annual_rate * days / basis)
    return out


def rounded(value: Decimal, mode: str) -> int:
    with localcontext(WIDE):
        return int(value.quantize(Decimal(1), rounding=mode))


def gap_of(balance: int, rates: list[Decimal], level: int, mode: str) -> int | None:
    """Last installment (interest + principal) minus the level one; None when a row before
    the last would repay more than the balance."""
    with localcontext(WIDE):
        for k, rate in enumerate(rates):
            interest = rounded(balance * rate, mode)
            if k == len(rates) - 1:
                return interest + balance - level
            if level < interest:
                balance += interest - level
            elif level - interest > balance:
                return None
            else:
                balance -= level - interest
    raise AssertionError("no rows")


def exact_level(req: ScheduleRequest, s: Schedule) -> Decimal:
    grace = req.grace_months
    rates = period_rates(req, [r.due_date for r in s.rows])[grace:]
    balance = s.rows[grace].opening_balance.amount
    with localcontext(WIDE):
        growth, total = Decimal(1), Decimal(0)
        for rate in reversed(rates):
            total += growth
            growth *= 1 + rate
        return balance * growth / total


def no_level_meets_the_bound(balance: int, rates: list[Decimal], mode: str) -> bool:
    """True when every level installment leaves the last one out of the bound.

    The last installment can only fall as the level rises, so ``gap`` falls by at least one
    unit per unit of level: find the largest level ``a`` whose gap is still >= 0; if neither
    ``a`` nor ``a + 1`` meets the bound, no level does (the bound grows by less than the
    gap's distance from zero)."""
    n = len(rates)

    def ok(level: int) -> bool:
        gap = gap_of(balance, rates, level, mode)
        return gap is not None and gap >= 0

    low, high = 0, 1
    while ok(high):
        high *= 2
    while high - low > 1:
        middle = (low + high) // 2
        if ok(middle):
            low = middle
        else:
            high = middle
    candidates = [low, low + 1]
    for level in candidates:
        gap = gap_of(balance, rates, level, mode)
        if gap is not None and abs(gap) <= bound(level, n):
            return False
    return True


# ---------------------------------------------------------------------------------------
# the property: built within the bound, or refused because no level can be
# ---------------------------------------------------------------------------------------


@st.composite
def any_requests(draw: st.DrawFn) -> ScheduleRequest:
    currency = draw(st.sampled_from(sorted(CURRENCY_EXPONENTS)))
    term = draw(st.integers(1, 600) | st.integers(120, 600))  # long terms: where drift grows
    grace = draw(st.integers(min_value=0, max_value=min(term - 1, 24)))

    def charge() -> Money | None:
        return draw(st.none() | st.integers(0, 10**6).map(lambda a: Money(a, currency)))

    principal = Money(draw(st.integers(min_value=1, max_value=10**12)), currency)
    fee_mode = draw(st.sampled_from(list(FeeMode)))
    fee = charge()
    if fee is not None and fee_mode == FeeMode.DEDUCTED and fee >= principal:
        fee = None
    return ScheduleRequest(
        principal=principal,
        annual_rate=Decimal(draw(st.integers(0, 15000) | st.integers(2000, 15000))).scaleb(-4),
        term_months=term,
        disbursement_date=draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2080, 12, 31))),
        scheme=draw(st.sampled_from([Scheme.FRENCH, *Scheme])),  # FRENCH twice as often
        day_count=draw(st.sampled_from(list(DayCount))),
        grace_months=grace,
        grace_kind=draw(st.sampled_from(list(GraceKind))),
        opening_fee=fee,
        opening_fee_mode=fee_mode,
        monthly_insurance=charge(),
        monthly_charges=charge(),
        rounding=draw(st.none() | st.sampled_from(MODES)),
    )


REPORTED_ACT = request(
    annual_rate=Decimal("0.9"), term_months=600, day_count=DayCount.ACT_365_FIXED
)
REPORTED_30_360 = request(annual_rate=Decimal("0.6"), term_months=360)


@settings(max_examples=120, deadline=None)
@given(req=any_requests())
@example(req=REPORTED_ACT)
@example(req=REPORTED_30_360)
@example(
    req=dataclasses.replace(REPORTED_30_360, grace_months=12, grace_kind=GraceKind.CAPITALISED)
)
@example(req=request(principal=clp(1), term_months=600, annual_rate=Decimal("1.5")))
@example(req=request(principal=clp(100), term_months=600, scheme=Scheme.GERMAN))
def test_the_last_installment_stays_within_the_bound(req: ScheduleRequest) -> None:
    try:
        s = build_schedule(req)
    except ValidationFailed as exc:
        (problem,) = exc.problems
        event(f"refused on {problem.field}")
        assert problem.field in {"term_months", "grace_months"}, problem
        if problem.field == "grace_months":  # amounts beyond what a credit can hold
            assert req.grace_kind == GraceKind.CAPITALISED and "grace" in problem.message
            return
        # only a FRENCH schedule is refused for not amortising, and only when no level can
        assert req.scheme == Scheme.FRENCH, problem
        assert "does not amortise" in problem.message
        french = build_schedule(dataclasses.replace(req, scheme=Scheme.BULLET))
        grace = req.grace_months
        rates = period_rates(req, [r.due_date for r in french.rows])[grace:]
        balance = french.rows[grace].opening_balance.amount
        mode = req.rounding or ROUND_HALF_UP
        assert no_level_meets_the_bound(balance, rates, mode)
        return

    event(f"built {req.scheme}")
    rows = s.rows
    zero = Money(0, req.principal.currency)
    assert rows[-1].closing_balance == zero
    assert s.totals.principal - s.totals.capitalised == s.financed
    amortising = rows[req.grace_months :]
    n = len(amortising)
    if req.scheme == Scheme.FRENCH:
        assert s.level_installment is not None
        level = s.level_installment.amount
        assert all((r.interest_due + r.principal).amount == level for r in amortising[:-1])
        last = amortising[-1]
        assert abs((last.interest_due + last.principal).amount - level) <= bound(level, n)
    elif req.scheme == Scheme.GERMAN:
        part = amortising[0].opening_balance.amount // n
        assert all(r.principal.amount == part for r in amortising[:-1])
        assert 0 <= amortising[-1].principal.amount - part < n
        # the last installment is never above the first amortising one by more than n units
        first, last = amortising[0], amortising[-1]
        assert (last.interest_due + last.principal).amount <= (
            first.interest_due + first.principal
        ).amount + n
    else:
        assert all(r.principal == zero for r in amortising[:-1])
        assert amortising[-1].principal == amortising[-1].opening_balance
        assert amortising[-1].opening_balance == amortising[0].opening_balance
    # nothing is beyond what a credit can store
    assert max(r.opening_balance.amount for r in rows) < 10**18
    assert s.totals.installments.amount < 10**18


# ---------------------------------------------------------------------------------------
# limits: year 9999, the largest amounts, the maximum principal
# ---------------------------------------------------------------------------------------


def test_a_disbursement_whose_first_due_date_is_past_9999_is_refused() -> None:
    field, message = refused_field(request(disbursement_date=date(9999, 12, 15), term_months=1))
    assert field == "disbursement_date" and "9999-12-31" in message


def test_a_term_running_past_9999_is_refused_naming_the_longest_term() -> None:
    field, message = refused_field(request(disbursement_date=date(9990, 1, 15), term_months=600))
    assert field == "term_months"
    assert "9999-12-31" in message and "119 months" in message
    # the longest term itself is accepted
    s = build_schedule(request(disbursement_date=date(9990, 1, 15), term_months=119))
    assert s.rows[-1].due_date == date(9999, 12, 15)


def test_an_investment_past_9999_names_its_own_argument() -> None:
    with pytest.raises(ValidationFailed) as caught:
        simulate_investment(clp(1_000_000), Decimal("0.12"), 12, Scheme.FRENCH, date(9999, 6, 1))
    assert [p.field for p in caught.value.problems] == ["term"]
    with pytest.raises(ValidationFailed) as caught:
        simulate_investment(clp(1_000_000), Decimal("0.12"), 12, Scheme.FRENCH, date(9999, 12, 2))
    assert [p.field for p in caught.value.problems] == ["start_date"]


def test_a_capitalised_grace_that_outgrows_any_credit_is_refused() -> None:
    field, message = refused_field(
        request(
            principal=clp(10**9),
            annual_rate=Decimal("1.5"),
            term_months=600,
            grace_months=599,
            grace_kind=GraceKind.CAPITALISED,
            scheme=Scheme.BULLET,
        )
    )
    assert field == "grace_months" and "grace" in message


def test_the_maximum_principal_of_a_request() -> None:
    limit = clp(2_000_000_000)
    assert build_schedule(request(principal=limit, max_principal=limit)).principal == limit
    field, message = refused_field(request(principal=limit + clp(1), max_principal=limit))
    assert field == "principal" and "2000000000" in message
    with pytest.raises(ValidationFailed) as caught:
        build_schedule(request(max_principal=Money(10, "USD")))
    assert [p.field for p in caught.value.problems] == ["max_principal"]

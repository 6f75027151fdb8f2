"""XIRR (ACT/365) and periodic IRR in Decimal: known values, recovery of a known rate, errors."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.shared.errors import ValidationFailed
from domain.shared.money import Money
from domain.shared.xirr import CONTEXT, irr, solve_rate, xirr

EXCEL_FLOWS = [
    (date(2008, 1, 1), Decimal(-10000)),
    (date(2008, 3, 1), Decimal(2750)),
    (date(2008, 10, 30), Decimal(4250)),
    (date(2009, 2, 15), Decimal(3250)),
    (date(2009, 4, 1), Decimal(2750)),
]


def npv_act365(rate: Decimal, flows: list[tuple[date, Decimal]]) -> Decimal:
    """Independent NPV: Σ a·(1+r)^(-days/365), with Decimal powers."""
    origin = flows[0][0]
    with localcontext(CONTEXT):
        return sum(
            (a * (1 + rate) ** (-Decimal((d - origin).days) / 365) for d, a in flows),
            Decimal(0),
        )


def test_excel_documentation_example() -> None:
    # Microsoft's XIRR documentation: these five flows give 0.373362535 (37.34%). Excel stops
    # iterating at a 0.000001% tolerance, so only the first eight decimals are comparable.
    rate = xirr(EXCEL_FLOWS)
    assert abs(rate - Decimal("0.373362535")) < Decimal("1e-8")
    assert abs(npv_act365(rate, EXCEL_FLOWS)) < Decimal("1e-10")


def test_flow_order_does_not_matter() -> None:
    assert xirr(list(reversed(EXCEL_FLOWS))) == xirr(EXCEL_FLOWS)


def test_one_year_of_365_days_is_exact() -> None:
    flows = [(date(2023, 1, 1), Decimal(-1000)), (date(2024, 1, 1), Decimal(1100))]
    assert xirr(flows) == Decimal("0.1")


def test_a_leap_year_counts_366_over_365() -> None:
    flows = [(date(2024, 1, 1), Decimal(-1000)), (date(2025, 1, 1), Decimal(1100))]
    with localcontext(CONTEXT):
        expected = Decimal("1.1") ** (Decimal(365) / Decimal(366)) - 1
    assert abs(xirr(flows) - expected) < Decimal("1e-15")


def test_money_flows_are_accepted() -> None:
    flows = [(date(2023, 1, 1), Money(-100000, "CLP")), (date(2024, 1, 1), Money(110000, "CLP"))]
    assert xirr(flows) == Decimal("0.1")


@pytest.mark.parametrize(
    ("amounts", "rate"),
    [
        ([Decimal(-100), Decimal(110)], Decimal("0.1")),
        ([Decimal(-1000), Decimal(0), Decimal(1210)], Decimal("0.1")),
        ([Decimal(100), Decimal(-50), Decimal(-50)], Decimal(0)),
        ([Decimal(-100), Decimal(50)], Decimal("-0.5")),
        ([-1, 3], Decimal(2)),
    ],
)
def test_periodic_irr_known_values(amounts: list[Decimal], rate: Decimal) -> None:
    assert irr(amounts) == rate


def test_zero_rate_is_found_exactly() -> None:
    flows = [(date(2024, 1, 15), Decimal(-300)), (date(2024, 2, 15), Decimal(100))]
    flows += [(date(2024, 3, 15), Decimal(100)), (date(2024, 4, 15), Decimal(100))]
    assert xirr(flows) == 0


@pytest.mark.parametrize(
    "amounts",
    [
        [Decimal(100), Decimal(50)],
        [Decimal(-100), Decimal(-50)],
        [Decimal(0), Decimal(0)],
        [Decimal(-100)],
        [],
    ],
)
def test_no_sign_change_is_a_clear_error(amounts: list[Decimal]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        irr(amounts)
    assert caught.value.problems[0].field == "flows"


def test_no_sign_change_error_explains_itself() -> None:
    with pytest.raises(ValidationFailed, match="never change sign"):
        xirr([(date(2024, 1, 1), Decimal(10)), (date(2025, 1, 1), Decimal(20))])


def test_floats_and_mixed_currencies_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="not floats"):
        irr([-100.0, 110.0])  # type: ignore[list-item]
    with pytest.raises(ValidationFailed, match="one currency"):
        irr([Money(-100, "CLP"), Money(110, "USD")])
    with pytest.raises(ValidationFailed):
        xirr([])


# ---------------------------------------------------------------------------------------
# properties: a rate used to build the flows is the rate recovered
# ---------------------------------------------------------------------------------------

rates = st.integers(min_value=-5000, max_value=30000).map(lambda x: Decimal(x).scaleb(-4))
payments = st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(rate=rates, pays=payments)
def test_irr_recovers_the_rate_of_an_annuity(rate: Decimal, pays: list[int]) -> None:
    with localcontext(CONTEXT):
        present = sum((p / (1 + rate) ** k for k, p in enumerate(pays, start=1)), Decimal(0))
    found = irr([-present, *map(Decimal, pays)], guess=Decimal("0.01"))
    assert abs(found - rate) < Decimal("1e-12")


@settings(max_examples=40, deadline=None)
@given(
    rate=st.integers(min_value=-3000, max_value=20000).map(lambda x: Decimal(x).scaleb(-4)),
    gaps=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=12),
    pays=st.lists(st.integers(min_value=1, max_value=10**7), min_size=12, max_size=12),
    start=st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 1, 1)),
)
def test_xirr_recovers_the_rate_of_dated_flows(
    rate: Decimal, gaps: list[int], pays: list[int], start: date
) -> None:
    days = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    flows = [(start + timedelta(days=d), Decimal(p)) for d, p in zip(days, pays, strict=False)]
    with localcontext(CONTEXT):
        present = sum(
            (a * (1 + rate) ** (-Decimal((d - start).days) / 365) for d, a in flows), Decimal(0)
        )
    found = xirr([(start, -present), *flows])
    assert abs(found - rate) < Decimal("1e-12")


def test_solver_is_deterministic_and_guess_independent() -> None:
    amounts = [Decimal(-1000), Decimal(300), Decimal(400), Decimal(500)]
    assert solve_rate(amounts) == solve_rate(amounts)
    results = [solve_rate(amounts, guess=g) for g in (None, Decimal("0.01"), Decimal(5))]
    assert max(results) - min(results) < Decimal("1e-15")

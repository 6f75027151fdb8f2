"""The split on its own: running-total largest remainder, fees, late fundings."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.investors.distributions import (
    FundingShare,
    PaymentParts,
    round_half_even,
    split_payments,
)
from domain.investors.models import LineComponent
from domain.shared.money import allocate_int


def test_split_payments_example() -> None:
    a = FundingShare(uuid.uuid4(), uuid.uuid4(), 250_000, 10_000, None)
    b = FundingShare(uuid.uuid4(), uuid.uuid4(), 333_333, 20_000, None)
    late = FundingShare(uuid.uuid4(), uuid.uuid4(), 100_000, 0, date(2026, 3, 1))
    first, second = uuid.uuid4(), uuid.uuid4()
    figures = split_payments(
        [
            PaymentParts(
                first,
                date(2026, 2, 15),
                {LineComponent.INTEREST: 180_001, LineComponent.PRINCIPAL: 1_000_000},
            ),
            PaymentParts(second, date(2026, 2, 20), {LineComponent.PRINCIPAL: 3}),
        ],
        [a, b, late],
    )
    lines = figures[first]
    assert all(k[1] != late.funding_id for k in lines)  # not in effect yet
    interest_a = lines[("INVESTOR", a.funding_id, "INTEREST")]
    interest_b = lines[("INVESTOR", b.funding_id, "INTEREST")]
    lender = lines[("LENDER", None, "INTEREST")]
    assert (interest_a, interest_b, lender) == (45_000, 60_000, 75_001)
    assert lines[("INVESTOR", a.funding_id, "SERVICING_FEE")] == -450
    assert lines[("INVESTOR", b.funding_id, "SERVICING_FEE")] == -1_200
    principal = [
        lines[("INVESTOR", a.funding_id, "PRINCIPAL")],
        lines[("INVESTOR", b.funding_id, "PRINCIPAL")],
        lines[("LENDER", None, "PRINCIPAL")],
    ]
    assert principal == [250_000, 333_333, 416_667]
    assert lines[("INVESTOR", a.funding_id, "LATE_INTEREST")] == 0
    # 3 more units of principal: the running total 1,000,003 splits 250,001 / 333,334 /
    # 416,668, so this payment gives one unit to each party (per payment, 3 * 0.25 would
    # have rounded to 1 for a every time and drifted)
    later = figures[second]
    assert [
        later[("INVESTOR", a.funding_id, "PRINCIPAL")],
        later[("INVESTOR", b.funding_id, "PRINCIPAL")],
        later[("LENDER", None, "PRINCIPAL")],
    ] == [1, 1, 1]
    only_late = split_payments(
        [PaymentParts(first, date(2026, 2, 1), {LineComponent.INTEREST: 5})], [late]
    )
    assert only_late == {}


def test_round_half_even() -> None:
    assert [round_half_even(n, 2) for n in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]
    assert round_half_even(1_499, 1_000) == 1 and round_half_even(1_501, 1_000) == 2
    with pytest.raises(ValueError):
        round_half_even(1, 0)


@given(
    totals=st.lists(st.integers(0, 10**9), min_size=1, max_size=12),
    shares=st.lists(st.integers(1, 400_000), max_size=5),
    fee=st.integers(0, 999_999),
)
def test_split_sums_exactly(totals: list[int], shares: list[int], fee: int) -> None:
    kept: list[int] = []
    for s in shares:
        if sum(kept) + s <= 1_000_000:
            kept.append(s)
    fundings = [FundingShare(uuid.uuid4(), uuid.uuid4(), s, fee, None) for s in kept]
    payments = [
        PaymentParts(
            uuid.uuid4(),
            date(2026, 1, 1) + timedelta(days=i),
            {LineComponent.INTEREST: t, LineComponent.PRINCIPAL: t // 3},
        )
        for i, t in enumerate(totals)
    ]
    figures = split_payments(payments, fundings)
    if not fundings:
        assert figures == {}
        return
    for payment in payments:
        lines = figures[payment.payment_id]
        t = payment.components[LineComponent.INTEREST]
        gross = sum(v for k, v in lines.items() if k[2] != "SERVICING_FEE")
        assert gross == t + t // 3
    weights = [*kept, 1_000_000 - sum(kept)]
    for component, whole in (
        ("INTEREST", sum(totals)),
        ("PRINCIPAL", sum(t // 3 for t in totals)),
    ):
        want = allocate_int(whole, weights) if whole else [0] * len(weights)
        got = [
            sum(figures[p.payment_id][("INVESTOR", f.funding_id, component)] for p in payments)
            for f in fundings
        ]
        got.append(sum(figures[p.payment_id][("LENDER", None, component)] for p in payments))
        assert got == want
    for f in fundings:
        gross_interest = sum(
            figures[p.payment_id][("INVESTOR", f.funding_id, "INTEREST")] for p in payments
        )
        fee_total = -sum(
            figures[p.payment_id][("INVESTOR", f.funding_id, "SERVICING_FEE")] for p in payments
        )
        assert fee_total == round_half_even(gross_interest * fee, 1_000_000)


@given(
    totals=st.lists(st.integers(0, 10**7), min_size=1, max_size=10),
    early=st.integers(1, 500_000),
    late=st.integers(1, 500_000),
    joins=st.integers(0, 10),
)
def test_split_with_a_funding_that_joins_later(
    totals: list[int], early: int, late: int, joins: int
) -> None:
    """Payments before a funding's effective day are split without it; each stretch of
    value dates sums exactly on its own."""
    first = FundingShare(uuid.uuid4(), uuid.uuid4(), early, 10_000, None)
    second = FundingShare(
        uuid.uuid4(), uuid.uuid4(), late, 0, date(2026, 1, 1) + timedelta(days=joins)
    )
    payments = [
        PaymentParts(
            uuid.uuid4(), date(2026, 1, 1) + timedelta(days=i), {LineComponent.PRINCIPAL: t}
        )
        for i, t in enumerate(totals)
    ]
    figures = split_payments(payments, [first, second])
    before = [p for p in payments if p.value_date < second.effective_on]  # type: ignore[operator]
    after = [p for p in payments if p not in before]
    for p in before:
        assert all(k[1] != second.funding_id for k in figures[p.payment_id])
    for group, weights in (
        (before, [early, 1_000_000 - early]),
        (after, [early, late, 1_000_000 - early - late]),
    ):
        whole = sum(p.components[LineComponent.PRINCIPAL] for p in group)
        want = allocate_int(whole, weights) if whole else [0] * len(weights)
        parties = [first.funding_id] + ([second.funding_id] if len(weights) == 3 else [])
        got = [
            sum(figures[p.payment_id][("INVESTOR", f, "PRINCIPAL")] for p in group) for f in parties
        ]
        got.append(sum(figures[p.payment_id][("LENDER", None, "PRINCIPAL")] for p in group))
        assert got == want
        for p in group:
            lines = figures[p.payment_id]
            assert (
                sum(v for k, v in lines.items() if k[2] == "PRINCIPAL")
                == p.components[LineComponent.PRINCIPAL]
            )

"""The split on its own: running-total largest remainder of interest, principal rounded
down from what each funding bought, fees, late fundings."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
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
    # funded on 28 February, after both payments were booked
    late = FundingShare(uuid.uuid4(), uuid.uuid4(), 100_000, 0, date(2026, 3, 1), 90_000, 1_000_003)
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
    # 3 more units of principal: each investor is owed its share of the running total
    # 1,000,003 rounded down, 250,000 and 333,333 (250,000.75 and 333,333.99...), so this
    # payment gives them nothing yet and the lender the 3 units (per payment, 3 * 0.25
    # rounded would have given a unit every time and drifted)
    later = figures[second]
    assert [
        later[("INVESTOR", a.funding_id, "PRINCIPAL")],
        later[("INVESTOR", b.funding_id, "PRINCIPAL")],
        later[("LENDER", None, "PRINCIPAL")],
    ] == [0, 0, 3]
    only_late = split_payments(
        [PaymentParts(first, date(2026, 2, 1), {LineComponent.INTEREST: 5})], [late]
    )
    assert only_late == {}


def test_round_half_even() -> None:
    assert [round_half_even(n, 2) for n in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]
    assert round_half_even(1_499, 1_000) == 1 and round_half_even(1_501, 1_000) == 2
    with pytest.raises(ValueError):
        round_half_even(1, 0)


@settings(deadline=None)
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
    whole = sum(totals)
    want = allocate_int(whole, weights) if whole else [0] * len(weights)
    got = [
        sum(figures[p.payment_id][("INVESTOR", f.funding_id, "INTEREST")] for p in payments)
        for f in fundings
    ]
    got.append(sum(figures[p.payment_id][("LENDER", None, "INTEREST")] for p in payments))
    assert got == want
    # principal: each investor's share of the whole, rounded down; the lender the rest
    whole = sum(t // 3 for t in totals)
    want = [whole * s // 1_000_000 for s in kept]
    want.append(whole - sum(want))
    got = [
        sum(figures[p.payment_id][("INVESTOR", f.funding_id, "PRINCIPAL")] for p in payments)
        for f in fundings
    ]
    got.append(sum(figures[p.payment_id][("LENDER", None, "PRINCIPAL")] for p in payments))
    assert got == want
    for f in fundings:
        gross_interest = sum(
            figures[p.payment_id][("INVESTOR", f.funding_id, "INTEREST")] for p in payments
        )
        fee_total = -sum(
            figures[p.payment_id][("INVESTOR", f.funding_id, "SERVICING_FEE")] for p in payments
        )
        assert fee_total == round_half_even(gross_interest * fee, 1_000_000)


@settings(deadline=None)
@given(
    totals=st.lists(st.integers(0, 10**7), min_size=1, max_size=10),
    early=st.integers(1, 500_000),
    late=st.integers(1, 500_000),
    joins=st.integers(0, 10),
)
def test_split_with_a_funding_that_joins_later(
    totals: list[int], early: int, late: int, joins: int
) -> None:
    """A funding made after some payments shares neither their interest (value dates
    before its effective day: each stretch of value dates sums exactly on its own) nor
    their principal (what the credit had repaid when it was made); it shares the principal
    repaid since, rounded down."""
    joined = date(2026, 1, 1) + timedelta(days=joins)
    payments = [
        PaymentParts(
            uuid.uuid4(),
            date(2026, 1, 1) + timedelta(days=i),
            {LineComponent.INTEREST: t, LineComponent.PRINCIPAL: t // 2},
        )
        for i, t in enumerate(totals)
    ]
    before = [p for p in payments if p.value_date < joined]
    after = [p for p in payments if p not in before]
    repaid = sum(p.components[LineComponent.PRINCIPAL] for p in before)
    first = FundingShare(uuid.uuid4(), uuid.uuid4(), early, 10_000, None)
    second = FundingShare(uuid.uuid4(), uuid.uuid4(), late, 0, joined, None, repaid)
    figures = split_payments(payments, [first, second])
    for p in before:
        assert all(k[1] != second.funding_id for k in figures[p.payment_id])
    for group, weights in (
        (before, [early, 1_000_000 - early]),
        (after, [early, late, 1_000_000 - early - late]),
    ):
        whole = sum(p.components[LineComponent.INTEREST] for p in group)
        want = allocate_int(whole, weights) if whole else [0] * len(weights)
        parties = [first.funding_id] + ([second.funding_id] if len(weights) == 3 else [])
        got = [
            sum(figures[p.payment_id][("INVESTOR", f, "INTEREST")] for p in group) for f in parties
        ]
        got.append(sum(figures[p.payment_id][("LENDER", None, "INTEREST")] for p in group))
        assert got == want
    everything = sum(p.components[LineComponent.PRINCIPAL] for p in payments)
    since = everything - repaid

    def principal_of(funding_id: uuid.UUID | None, party: str = "INVESTOR") -> int:
        return sum(figures[p.payment_id].get((party, funding_id, "PRINCIPAL"), 0) for p in payments)

    assert principal_of(first.funding_id) == everything * early // 1_000_000
    assert principal_of(second.funding_id) == since * late // 1_000_000
    for p in payments:
        lines = figures[p.payment_id]
        for component in (LineComponent.INTEREST, LineComponent.PRINCIPAL):
            assert (
                sum(v for k, v in lines.items() if k[2] == component.value)
                == p.components[component]
            )


def test_principal_past_the_invested_amount_is_paid_as_interest() -> None:
    """Interest capitalised into the principal (a capitalised grace, a restructure) is
    repaid as principal; an investor's share of it past the amount it put in is interest,
    with its servicing fee. Its principal stops at what it put in."""
    funding = FundingShare(uuid.uuid4(), uuid.uuid4(), 500_000, 100_000, None, 1_000, 0)
    payments = [
        PaymentParts(uuid.uuid4(), date(2026, 1, d), {LineComponent.PRINCIPAL: 1_500})
        for d in (1, 2)
    ]
    first, second = (split_payments(payments, [funding])[p.payment_id] for p in payments)
    me = ("INVESTOR", funding.funding_id)
    assert first[(*me, "PRINCIPAL")] == 750 and first.get((*me, "INTEREST"), 0) == 0
    assert second[(*me, "PRINCIPAL")] == 250  # 1,000 in all: what it put in
    assert second[(*me, "INTEREST")] == 500  # its share of the other 1,000 repaid
    assert second[(*me, "SERVICING_FEE")] == -50  # 10 % of that interest
    assert second[("LENDER", None, "PRINCIPAL")] == 1_500 - 250 - 500

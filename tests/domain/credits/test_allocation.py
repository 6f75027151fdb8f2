"""The pure allocator: worked examples, prepayments, refunds, and properties over random
credits and payment sequences (nothing created or lost, order of arrival irrelevant)."""

from __future__ import annotations

import dataclasses
import itertools
import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.credits.allocation import (
    AllocationMode,
    AllocationOrder,
    AllocationResult,
    Component,
    HeldChunk,
    LateInterestPolicy,
    PaymentEvent,
    Plan,
    Prepayment,
    RefundEvent,
    ReplayConflict,
    allocate,
)
from domain.credits.calendar import DayCount
from domain.credits.delinquency import late_interest
from domain.credits.schedules import (
    FeeMode,
    GraceKind,
    Schedule,
    ScheduleRequest,
    Scheme,
    build_schedule,
)
from domain.shared.errors import ValidationFailed
from domain.shared.money import Money

LATE = LateInterestPolicy(annual_rate=Decimal("0.30"), max_annual_rate=Decimal("0.50"))
START = date(2024, 1, 31)


def schedule(**changes: Any) -> Schedule:
    base = ScheduleRequest(
        principal=Money(1_000_000, "CLP"),
        annual_rate=Decimal("0.12"),
        term_months=12,
        disbursement_date=START,
    )
    return build_schedule(dataclasses.replace(base, **changes))


def pay(pid: Any, day: date, amount: int, option: Prepayment | None = None) -> PaymentEvent:
    return PaymentEvent(id=pid, at=day, on=day, amount=amount, prepayment=option)


def by_key(result: AllocationResult) -> dict[tuple[Any, int, str], int]:
    return {(x.payment_id, x.installment, x.component.value): x.amount for x in result.lines}


# ---------------------------------------------------------------------------------------
# worked examples
# ---------------------------------------------------------------------------------------


def test_paying_every_installment_on_its_due_date_pays_off_with_no_late_interest():
    s = schedule()
    plan = Plan.from_schedule(s)
    payments = [pay(r.number, r.due_date, r.installment.amount) for r in s.rows]
    result = allocate(plan, payments, as_of=date(2025, 6, 1), late=LATE)
    assert result.paid_off_on == s.rows[-1].due_date
    assert result.credit_balance == 0
    assert result.days_past_due == 0
    assert all(i.status == "PAID" and i.late_interest_accrued == 0 for i in result.installments)
    assert {x.component for x in result.lines} == {Component.INTEREST, Component.PRINCIPAL}
    assert result.outstanding_principal == 0


def test_a_late_partial_payment_pays_late_interest_then_interest_then_principal():
    plan = Plan.from_schedule(schedule())
    # installment 1 (due 29 Feb 2024: 10,000 interest + 78,849 principal) paid 15 days late
    result = allocate(
        plan, [pay("p", date(2024, 3, 15), 50_000)], as_of=date(2024, 3, 15), late=LATE
    )
    # 78,849 * 0.30 * 15 / 360 = 985.6 -> 985 (floor)
    assert by_key(result) == {
        ("p", 1, "LATE_INTEREST"): 985,
        ("p", 1, "INTEREST"): 10_000,
        ("p", 1, "PRINCIPAL"): 50_000 - 985 - 10_000,
    }
    first = result.installments[0]
    assert first.status == "PARTIAL" and first.paid_on is None
    assert result.days_past_due == 15
    assert late_interest(78_849, 15, LATE) == 985


def test_late_interest_runs_on_the_unpaid_principal_only_and_stops_when_it_is_paid():
    plan = Plan.from_schedule(schedule())
    payments = [pay("a", date(2024, 3, 15), 50_000), pay("b", date(2024, 3, 30), 100_000)]
    result = allocate(plan, payments, as_of=date(2024, 5, 1), late=LATE)
    first = result.installments[0]
    # 15 days on 78,849 then 15 days on the 39,834 left unpaid after payment "a"
    exact_a = Decimal(78_849) * Decimal("0.30") * 15 / 360
    exact_b = Decimal(78_849 - 39_015) * Decimal("0.30") * 15 / 360
    assert first.late_interest_accrued == int(exact_a + exact_b)
    assert first.status == "PAID" and first.paid_on == date(2024, 3, 30)


def test_the_late_rate_is_capped_and_grace_days_delay_it():
    plan = Plan.from_schedule(schedule())
    capped = LateInterestPolicy(Decimal("0.90"), Decimal("0.50"))
    result = allocate(plan, [], as_of=date(2024, 3, 30), late=capped)
    assert result.installments[0].late_interest_accrued == late_interest(
        78_849, 30, LateInterestPolicy(Decimal("0.50"), Decimal("0.50"))
    )
    graced = LateInterestPolicy(Decimal("0.30"), Decimal("0.50"), grace_days=5)
    result = allocate(plan, [], as_of=date(2024, 3, 30), late=graced)
    assert result.installments[0].late_interest_accrued == late_interest(78_849, 25, LATE)
    assert result.days_past_due == 30


def test_an_early_payment_is_held_then_applied_on_the_due_date():
    plan = Plan.from_schedule(schedule())
    early = [pay("p", date(2024, 2, 10), 100_000)]
    before = allocate(plan, early, as_of=date(2024, 2, 28), late=LATE)
    assert before.lines == [] and before.credit_balance == 100_000
    assert before.held == [HeldChunk("p", 100_000)]
    after = allocate(plan, early, as_of=date(2024, 2, 29), late=LATE)
    assert by_key(after) == {("p", 1, "INTEREST"): 10_000, ("p", 1, "PRINCIPAL"): 78_849}
    assert after.credit_balance == 100_000 - 88_849
    assert after.installments[0].paid_on == date(2024, 2, 29)
    # the rest goes to installment 2 when it falls due, still attributed to "p"
    later = allocate(plan, early, as_of=date(2024, 3, 31), late=LATE)
    assert later.credit_balance == 0
    assert sum(x.amount for x in later.lines if x.installment == 2) == 100_000 - 88_849
    assert later.allocated_by_payment == {"p": 100_000}


def test_refunds_take_the_balance_first_in_first_out_and_cannot_exceed_it():
    plan = Plan.from_schedule(schedule())
    payments = [pay("a", date(2024, 2, 1), 30_000), pay("b", date(2024, 2, 2), 30_000)]
    refund = RefundEvent("r", date(2024, 2, 3), date(2024, 2, 3), 40_000)
    result = allocate(plan, payments, refunds=[refund], as_of=date(2024, 2, 10), late=LATE)
    assert result.refunded_by_payment == {"a": 30_000, "b": 10_000}
    assert result.held_by_payment == {"b": 20_000}
    assert result.refund_sources["r"] == [HeldChunk("a", 30_000), HeldChunk("b", 10_000)]
    too_much = RefundEvent("r", date(2024, 2, 3), date(2024, 2, 3), 60_001)
    with pytest.raises(ReplayConflict):
        allocate(plan, payments, refunds=[too_much], as_of=date(2024, 2, 10), late=LATE)
    # once the balance has been applied to a due installment it cannot be refunded
    late_refund = RefundEvent("r", date(2024, 3, 1), date(2024, 3, 1), 1)
    with pytest.raises(ReplayConflict):
        allocate(plan, payments, refunds=[late_refund], as_of=date(2024, 3, 1), late=LATE)


def test_prepayment_shorter_term_keeps_the_installment_and_drops_rows():
    s = schedule()
    plan = Plan.from_schedule(s)
    payments = [
        pay(1, date(2024, 2, 29), 88_849),
        pay(2, date(2024, 3, 10), 300_000, Prepayment.SHORTER_TERM),
    ]
    result = allocate(plan, payments, as_of=date(2024, 3, 10), late=LATE)
    rows = result.installments
    assert len(rows) == 9
    assert result.credit_balance == 0
    # interest on the prepaid principal for the 11 days of March elapsed (30/360) is paid
    lines = by_key(result)
    prepaid = lines[(2, 2, "PRINCIPAL")]
    assert lines[(2, 2, "INTEREST")] == round(Decimal(prepaid) * Decimal("0.12") * 11 / 360)
    assert prepaid + lines[(2, 2, "INTEREST")] == 300_000
    # every later row still pays the level installment, the last one less
    assert s.level_installment is not None
    level = s.level_installment.amount
    assert [r.amount for r in rows[2:-1]] == [level] * (len(rows) - 3)
    assert rows[1].amount - 300_000 == level  # row 2 still owes one level installment
    assert rows[-1].amount < level
    _assert_exact_schedule(result, s)


def test_prepayment_smaller_installment_keeps_the_rows():
    s = schedule()
    plan = Plan.from_schedule(s)
    payments = [
        pay(1, date(2024, 2, 29), 88_849),
        pay(2, date(2024, 3, 10), 300_000, Prepayment.SMALLER_INSTALLMENT),
    ]
    result = allocate(plan, payments, as_of=date(2024, 3, 10), late=LATE)
    rows = result.installments
    assert len(rows) == 12
    assert rows[2].amount < 88_849 and rows[2].amount == rows[5].amount
    _assert_exact_schedule(result, s)


def test_a_prepayment_of_everything_pays_off_and_keeps_the_rest():
    s = schedule(monthly_insurance=Money(1_000, "CLP"))
    plan = Plan.from_schedule(s)
    payments = [
        pay(1, date(2024, 2, 29), s.rows[0].installment.amount),
        pay(2, date(2024, 3, 10), 2_000_000, Prepayment.SMALLER_INSTALLMENT),
    ]
    result = allocate(plan, payments, as_of=date(2024, 3, 10), late=LATE)
    assert len(result.installments) == 2
    assert result.paid_off_on == date(2024, 3, 10)
    assert result.installments[1].charges == 0  # no insurance for a month the credit is gone
    assert result.outstanding_principal == 0
    assert result.credit_balance == 2_000_000 - result.allocated_by_payment[2]
    _assert_exact_schedule(result, s)


def test_a_prepayment_with_nothing_left_to_prepay_is_held():
    s = schedule(term_months=1)
    plan = Plan.from_schedule(s)
    amount = s.rows[0].installment.amount
    payments = [pay(1, s.rows[0].due_date, amount + 500, Prepayment.SHORTER_TERM)]
    result = allocate(plan, payments, as_of=s.rows[0].due_date, late=LATE)
    assert result.paid_off_on == s.rows[0].due_date
    assert result.credit_balance == 500


def test_component_first_pays_each_component_across_installments_first():
    plan = Plan.from_schedule(schedule(monthly_insurance=Money(1_000, "CLP")))
    order = AllocationOrder(mode=AllocationMode.COMPONENT_FIRST)
    result = allocate(
        plan, [pay("p", date(2024, 4, 5), 20_000)], as_of=date(2024, 4, 5), late=LATE, order=order
    )
    lines = by_key(result)
    assert lines[("p", 1, "CHARGES")] == lines[("p", 2, "CHARGES")] == 1_000
    assert lines[("p", 1, "INTEREST")] == 10_000
    assert ("p", 1, "PRINCIPAL") not in lines  # the money ran out in INTEREST of row 2
    assert lines[("p", 1, "LATE_INTEREST")] > 0 and lines[("p", 2, "LATE_INTEREST")] > 0


def test_a_custom_order_principal_first():
    plan = Plan.from_schedule(schedule())
    order = AllocationOrder(
        (Component.PRINCIPAL, Component.INTEREST, Component.CHARGES, Component.LATE_INTEREST)
    )
    result = allocate(
        plan, [pay("p", date(2024, 3, 15), 80_000)], as_of=date(2024, 3, 15), late=LATE, order=order
    )
    assert by_key(result) == {("p", 1, "PRINCIPAL"): 78_849, ("p", 1, "INTEREST"): 1_151}


def test_rows_that_owe_nothing_are_paid_when_they_fall_due():
    s = schedule(scheme=Scheme.BULLET, annual_rate=Decimal("0"), term_months=3)
    result = allocate(Plan.from_schedule(s), [], as_of=date(2024, 4, 30), late=LATE)
    assert [i.status for i in result.installments] == ["PAID", "PAID", "PENDING"]
    assert result.days_past_due == 0


def test_a_carried_balance_pays_the_first_installment():
    plan = Plan.from_schedule(schedule())
    result = allocate(
        plan, [], as_of=date(2024, 2, 29), late=LATE, carried=[HeldChunk("old", 50_000)]
    )
    assert result.allocated_by_payment == {"old": 50_000}
    assert result.credit_balance == 0


def test_events_after_as_of_and_non_positive_amounts_are_programming_errors():
    plan = Plan.from_schedule(schedule())
    with pytest.raises(ValueError, match="after as_of"):
        allocate(plan, [pay(1, date(2024, 5, 1), 10)], as_of=date(2024, 4, 1), late=LATE)
    with pytest.raises(ValueError, match="non-positive"):
        allocate(plan, [pay(1, date(2024, 3, 1), 0)], as_of=date(2024, 4, 1), late=LATE)


def test_allocation_order_parsing_names_the_field():
    assert AllocationOrder.parse(None, None, field="f") == AllocationOrder()
    parsed = AllocationOrder.parse("PRINCIPAL,INTEREST,CHARGES,LATE_INTEREST", None, field="f")
    assert parsed.components[0] == Component.PRINCIPAL
    assert AllocationOrder.parse(parsed.encode(), "COMPONENT_FIRST", field="f").mode == (
        AllocationMode.COMPONENT_FIRST
    )
    for bad in ("PRINCIPAL", "PRINCIPAL,PRINCIPAL,INTEREST,CHARGES", "X,Y,Z,W"):
        with pytest.raises(ValidationFailed) as info:
            AllocationOrder.parse(bad, None, field="allocationOrder")
        assert info.value.problems[0].field == "allocationOrder"
    with pytest.raises(ValidationFailed) as info:
        AllocationOrder.parse(None, "SIDEWAYS", field="allocationOrder")
    assert info.value.problems[0].field == "allocationOrderMode"
    with pytest.raises(ValueError):
        AllocationOrder((Component.PRINCIPAL,))


# ---------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------


def _assert_exact_schedule(result: AllocationResult, s: Schedule) -> None:
    rows = result.installments
    principal = sum(r.principal for r in rows)
    capitalised = sum(r.capitalised for r in rows)
    assert principal - capitalised == s.financed.amount
    assert rows[-1].closing_balance == 0
    for before, after in itertools.pairwise(rows):
        assert before.closing_balance == after.opening_balance
        assert before.due_date < after.due_date


@st.composite
def credits(draw: st.DrawFn) -> Schedule:
    currency = draw(st.sampled_from(["CLP", "USD", "CLF"]))
    term = draw(st.integers(1, 30))
    grace = draw(st.integers(0, min(term - 1, 3)))
    amount = draw(st.integers(50_000, 50_000_000))
    fee_mode = draw(st.sampled_from(list(FeeMode)))
    fee = draw(st.integers(0, amount // 20))
    return build_schedule(
        ScheduleRequest(
            principal=Money(amount, currency),
            annual_rate=Decimal(draw(st.integers(0, 600))) / 1000,
            term_months=term,
            disbursement_date=date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 400))),
            scheme=draw(st.sampled_from(list(Scheme))),
            day_count=draw(st.sampled_from(list(DayCount))),
            grace_months=grace,
            grace_kind=draw(st.sampled_from(list(GraceKind))),
            opening_fee=Money(fee, currency),
            opening_fee_mode=fee_mode,
            monthly_insurance=Money(draw(st.integers(0, 3_000)), currency),
            monthly_charges=Money(draw(st.integers(0, 2_000)), currency),
        )
    )


@st.composite
def histories(draw: st.DrawFn) -> tuple[Schedule, list[PaymentEvent], date, AllocationOrder]:
    s = draw(credits())
    start = s.request.disbursement_date
    span = (s.rows[-1].due_date - start).days + 90
    typical = max(1, max(r.installment.amount for r in s.rows))
    count = draw(st.integers(0, 25))
    payments = []
    for n in range(count):
        day = start + timedelta(days=draw(st.integers(0, span)))
        amount = draw(st.integers(1, 2 * typical))
        option = draw(
            st.sampled_from(
                [None, None, None, Prepayment.SHORTER_TERM, Prepayment.SMALLER_INSTALLMENT]
            )
        )
        payments.append(PaymentEvent(id=n, at=day, on=day, amount=amount, prepayment=option))
    as_of = start + timedelta(days=span + draw(st.integers(0, 60)))
    components = draw(st.permutations(list(Component)))
    order = AllocationOrder(tuple(components), draw(st.sampled_from(list(AllocationMode))))
    return s, payments, as_of, order


def _check_invariants(
    s: Schedule, payments: list[PaymentEvent], result: AllocationResult, refunded: int = 0
) -> None:
    # nothing created or lost: payments = allocations + credit balance (+ refunds)
    total = sum(p.amount for p in payments)
    assert sum(x.amount for x in result.lines) + result.credit_balance + refunded == total
    for p in payments:
        parts = (
            result.allocated_by_payment.get(p.id, 0)
            + result.held_by_payment.get(p.id, 0)
            + result.refunded_by_payment.get(p.id, 0)
        )
        assert parts == sum(q.amount for q in payments if q.id == p.id)
    # the lines are exactly what each installment records as paid, never more than owed
    paid: dict[tuple[int, str], int] = {}
    for x in result.lines:
        assert x.amount > 0
        paid[(x.installment, x.component.value)] = (
            paid.get((x.installment, x.component.value), 0) + x.amount
        )
    for row in result.installments:
        assert paid.get((row.number, "PRINCIPAL"), 0) == row.principal_paid <= row.principal
        assert paid.get((row.number, "INTEREST"), 0) == row.interest_paid <= row.interest_due
        assert paid.get((row.number, "CHARGES"), 0) == row.charges_paid <= row.charges
        assert (
            paid.get((row.number, "LATE_INTEREST"), 0)
            == row.late_interest_paid
            <= row.late_interest_accrued
        )
        assert (row.paid_on is not None) == (row.outstanding == 0)
    # a balance is only held while nothing due is unpaid
    if result.credit_balance:
        assert all(r.paid_on is not None for r in result.installments if r.due_date <= result.as_of)
    if result.paid_off_on is not None:
        assert result.outstanding_principal == 0
    _assert_exact_schedule(result, s)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.randoms(use_true_random=False))
def test_property_nothing_created_or_lost_and_arrival_order_is_irrelevant(data, rnd):
    s, payments, as_of, order = data
    plan = Plan.from_schedule(s)
    result = allocate(plan, payments, as_of=as_of, late=LATE, order=order)
    _check_invariants(s, payments, result)
    shuffled = list(payments)
    rnd.shuffle(shuffled)
    again = allocate(plan, shuffled, as_of=as_of, late=LATE, order=order)
    assert again == result


@settings(max_examples=40, deadline=None)
@given(histories(), st.integers(0, 10**9))
def test_property_refunds_conserve_money(data, seed):
    s, payments, as_of, order = data
    plan = Plan.from_schedule(s)
    rnd = random.Random(seed)
    refunds: list[RefundEvent] = []
    # refund part of whatever is held at random points, as the service would
    for n in range(3):
        day = s.request.disbursement_date + timedelta(
            days=rnd.randint(0, (as_of - s.request.disbursement_date).days)
        )
        probe = allocate(
            plan,
            [p for p in payments if p.on <= day],
            as_of=day,
            late=LATE,
            order=order,
            refunds=[r for r in refunds if r.on <= day],
        )
        if probe.credit_balance and all(r.on <= day for r in refunds):
            amount = rnd.randint(1, probe.credit_balance)
            later = [p for p in payments if p.on == day]
            if not later:
                refunds.append(RefundEvent(f"r{n}", day, day, amount))
    result = allocate(plan, payments, as_of=as_of, late=LATE, order=order, refunds=refunds)
    _check_invariants(s, payments, result, refunded=sum(r.amount for r in refunds))


@settings(max_examples=30, deadline=None)
@given(credits())
def test_property_paying_each_installment_when_due_settles_everything(s):
    plan = Plan.from_schedule(s)
    payments = [
        pay(r.number, r.due_date, r.installment.amount) for r in s.rows if r.installment.amount
    ]
    result = allocate(plan, payments, as_of=s.rows[-1].due_date, late=LATE)
    assert result.paid_off_on is not None
    assert result.credit_balance == 0
    assert all(x.component != Component.LATE_INTEREST for x in result.lines)


def test_one_hundred_thousand_payments_replay():
    """Bulk sanity (no timing asserted): 100,000 payments on one long credit."""
    s = build_schedule(
        ScheduleRequest(
            principal=Money(10**12, "CLP"),
            annual_rate=Decimal("0.12"),
            term_months=600,
            disbursement_date=date(2000, 1, 31),
        )
    )
    start = date(2000, 2, 1)
    payments = [
        pay(n, start + timedelta(days=n * 18_250 // 100_000), 2_000_000) for n in range(100_000)
    ]
    result = allocate(Plan.from_schedule(s), payments, as_of=date(2050, 12, 31), late=LATE)
    assert sum(x.amount for x in result.lines) + result.credit_balance == 2_000_000 * 100_000

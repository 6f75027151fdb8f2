"""Partial write-offs: the allocator's rules (reverse allocation order, waiting for the due
date, never cash), properties over random histories, and the service (audit, outbox,
idempotency, refusals that write nothing, reversal, positions and payoff)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import read_session, transaction
from domain.credits import payments, payoff, write_offs
from domain.credits.allocation import (
    Component,
    LateInterestPolicy,
    PaymentEvent,
    Plan,
    WriteOffEvent,
    allocate,
)
from domain.credits.models import Allocation, Installment, WriteOff
from domain.credits.schedules import ScheduleRequest, build_schedule
from domain.credits.states import CreditStatus, PaymentStatus
from domain.shared.audit import AuditRecord
from domain.shared.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from domain.shared.money import Money
from domain.shared.principal import Role

from .conftest import at_noon, db_state, events, fields, local_today, principal, reload, rows_of

LATE = LateInterestPolicy(annual_rate=Decimal("0.30"), max_annual_rate=Decimal("0.50"))
START = date(2024, 1, 31)


def plan(**changes: Any) -> Plan:
    base = ScheduleRequest(
        principal=Money(1_000_000, "CLP"),
        annual_rate=Decimal("0.12"),
        term_months=12,
        disbursement_date=START,
    )
    return Plan.from_schedule(build_schedule(dataclasses.replace(base, **changes)))


def pay(pid: Any, day: date, amount: int) -> PaymentEvent:
    return PaymentEvent(id=pid, at=day, on=day, amount=amount)


def forgive(wid: Any, day: date, amount: int, installment: int | None = 1) -> WriteOffEvent:
    return WriteOffEvent(id=wid, at=day, on=day, amount=amount, installment=installment)


# --- the allocator ---------------------------------------------------------------------------
def test_a_shortfall_written_off_settles_the_installment_and_is_not_cash() -> None:
    p = plan()
    due = p.rows[0].due_date
    amount = p.rows[0].interest + p.rows[0].principal  # 88,849
    result = allocate(
        p, [pay("a", due, 60_000), pay("b", due, 28_000)], as_of=due, late=LATE,
        write_offs=[forgive("w", due, amount - 88_000)],
    )  # fmt: skip
    first = result.installments[0]
    assert first.paid == 88_000 and first.written_off == 849
    # cash paid interest first, so what is forgiven is principal (the reverse order)
    assert first.principal_written_off == 849 and first.interest_paid == first.interest
    assert first.status == "PAID" and first.paid_on == due and result.days_past_due == 0
    assert sum(line.amount for line in result.lines) == 88_000  # allocations are cash only
    assert result.applied_by_write_off == {"w": 849}
    assert [(x.installment, x.component, x.amount) for x in result.write_off_lines] == [
        (1, Component.PRINCIPAL, 849)
    ]
    assert result.outstanding_principal == 1_000_000 - first.principal_paid - 849


def test_a_write_off_before_its_due_date_waits_for_it_like_a_credit_balance() -> None:
    p = plan()
    due = p.rows[0].due_date
    early = due - timedelta(days=4)
    before = allocate(
        p, [pay("a", early, 88_000)], as_of=early, late=LATE,
        write_offs=[forgive("w", early, 849)],
    )  # fmt: skip
    assert before.applied_by_write_off == {} and before.credit_balance == 88_000
    after = allocate(
        p, [pay("a", early, 88_000)], as_of=due, late=LATE,
        write_offs=[forgive("w", early, 849)],
    )  # fmt: skip
    first = after.installments[0]
    assert (first.paid, first.written_off, first.paid_on) == (88_000, 849, due)
    assert after.credit_balance == 0


def test_a_write_off_forgives_in_reverse_allocation_order_and_only_what_is_owed() -> None:
    p = plan()
    due = p.rows[0].due_date
    row = p.rows[0]
    # nothing paid: principal goes first, then interest; the rest finds nothing owed there
    # and moves to the next due row (none), so it is not applied
    result = allocate(
        p, [], as_of=due, late=LATE, write_offs=[forgive("w", due, row.principal + 100)]
    )
    first = result.installments[0]
    assert first.principal_written_off == row.principal and first.interest_written_off == 100
    result = allocate(p, [], as_of=due, late=LATE, write_offs=[forgive("w", due, 10**9)])
    assert result.applied_by_write_off["w"] == row.principal + row.interest


AMOUNTS = st.integers(min_value=1, max_value=150_000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payments_=st.lists(st.tuples(st.integers(0, 200), AMOUNTS), max_size=8),
    write_offs_=st.lists(
        st.tuples(st.integers(0, 200), st.integers(1, 30_000), st.sampled_from([None, 1, 2, 3])),
        max_size=4,
    ),
)
def test_payments_and_write_offs_never_exceed_what_was_due(payments_, write_offs_) -> None:
    """Nothing created or lost: every row's paid + written off is at most what it owed; the
    cash allocated, held and refunded is exactly what was paid; a write-off forgives at
    most its amount; and the cash side does not depend on whether the write-offs exist
    except through what they forgave."""
    p = plan(term_months=6)
    evs = [pay(f"p{i}", START + timedelta(days=d), a) for i, (d, a) in enumerate(payments_)]
    wos = [
        forgive(f"w{i}", START + timedelta(days=d), a, n) for i, (d, a, n) in enumerate(write_offs_)
    ]
    as_of = START + timedelta(days=210)
    result = allocate(p, evs, as_of=as_of, late=LATE, write_offs=wos)
    for row in result.installments:
        assert row.principal_paid + row.principal_written_off <= row.principal
        assert row.interest_paid + row.interest_written_off <= row.interest_due
        assert row.charges_paid + row.charges_written_off <= row.charges
        assert row.late_interest_paid + row.late_interest_written_off <= row.late_interest_accrued
        assert row.outstanding >= 0
    paid = sum(e.amount for e in evs)
    assert sum(line.amount for line in result.lines) + result.credit_balance == paid
    for w in wos:
        assert 0 <= result.applied_by_write_off.get(w.id, 0) <= w.amount
    forgiven = sum(line.amount for line in result.write_off_lines)
    assert forgiven == sum(result.applied_by_write_off.values())
    assert forgiven == sum(row.written_off for row in result.installments)


# --- the service -----------------------------------------------------------------------------
async def _pay(actor, credit_id, amount: int, key: str, day: date):
    async with transaction() as session:
        return await payments.register_payment(
            session,
            principal=actor,
            credit_id=credit_id,
            amount=Money(amount, "CLP"),
            paid_at=at_noon(day),
            reference=f"ref {key}",
            idempotency_key=key,
        )


async def _write_off(actor, credit_id, amount: Any, key: str, day: date, **extra: Any):
    async with transaction() as session:
        return await write_offs.write_off_shortfall(
            session,
            principal=actor,
            credit_id=credit_id,
            amount=amount if not isinstance(amount, int) else Money(amount, "CLP"),
            written_at=at_noon(day),
            reason="Diferencia por comisión bancaria",
            reference=f"line {key}",
            idempotency_key=key,
            **extra,
        )


async def _first_row(credit_id) -> Installment:
    rows = await rows_of(Installment, credit_id=credit_id)
    return next(r for r in rows if r.number == 1)


async def test_a_shortfall_is_written_off_audited_on_the_outbox_and_idempotent(
    agent, supervisor, partner_system, make_credit, lender
):
    credit = await make_credit(disbursed_days_ago=31)  # installment 1 fell due yesterday
    today = local_today()
    paid = await _pay(partner_system, credit.id, 88_000, "line-1", today)
    async with read_session() as session:
        position = await payments.credit_position(session, principal=agent, credit_id=credit.id)
        quote_before = await payoff.payoff_quote(session, principal=agent, credit_id=credit.id)
    owed = position.installments[0].outstanding
    assert owed > 849  # the difference plus a day of late interest
    w = await _write_off(
        partner_system, credit.id, owed, "line-1-wo", today, installment_number=1,
        source="StatementLine:abc",
    )  # fmt: skip
    assert w.status == PaymentStatus.BOOKED and w.applied_amount == owed
    assert sum(c["amount"] for c in w.components) == owed
    row = await _first_row(credit.id)
    assert row.status == "PAID" and row.principal_written_off > 0
    assert row.principal_paid + row.interest_paid + row.late_interest_paid == 88_000
    assert (
        row.principal_written_off + row.interest_written_off + row.late_interest_written_off == owed
    )
    # cash is what was paid: one payment, its allocations sum to it; none for the write-off
    booked = [p for p in await rows_of(payments.Payment, credit_id=credit.id)]
    assert [p.amount for p in booked] == [88_000]
    allocations = await rows_of(Allocation, credit_id=credit.id)
    assert {a.payment_id for a in allocations} == {paid.id}
    after = await reload(credit.id)
    assert after.status == CreditStatus.ACTIVE and after.days_past_due == 0
    (event,) = await events("credits.shortfall_written_off")
    assert event.payload["appliedAmount"] == {"amount": str(owed), "currency": "CLP"}
    assert event.payload["installmentNumber"] == 1 and event.audience == f",{lender},"
    (record,) = await rows_of(AuditRecord, action="credits.shortfall_written_off")
    assert record.entity_id == str(w.id)
    # the same key again: the first write-off, nothing written
    before = await db_state()
    again = await _write_off(partner_system, credit.id, owed, "line-1-wo", today)
    assert again.id == w.id and await db_state() == before
    with pytest.raises(Conflict):
        await _write_off(supervisor, credit.id, owed + 1, "line-1-wo", today)
    # the position and payoff account for it
    async with read_session() as session:
        position = await payments.credit_position(session, principal=agent, credit_id=credit.id)
        quote = await payoff.payoff_quote(session, principal=agent, credit_id=credit.id)
    assert position.installments[0].outstanding == 0
    assert position.installments[0].written_off == owed
    assert quote_before.amount - quote.amount == owed


async def test_refused_write_offs_write_nothing(agent, supervisor, outsider, make_credit):
    credit = await make_credit(disbursed_days_ago=31)
    today = local_today()
    before = await db_state()
    with pytest.raises(Forbidden):
        await _write_off(agent, credit.id, 100, "k", today)
    with pytest.raises(ValidationFailed) as exc:
        await _write_off(supervisor, credit.id, 10**9, "k", today, installment_number=1)
    assert fields(exc.value) == ["amount"]  # more than is owed then
    with pytest.raises(ValidationFailed) as exc:
        await _write_off(supervisor, credit.id, Money(0, "CLP"), "k", today)
    assert "amount" in fields(exc.value)
    with pytest.raises(ValidationFailed) as exc:
        await _write_off(supervisor, credit.id, Money(100, "USD"), "k", today)
    assert "currency" in fields(exc.value)
    with pytest.raises(ValidationFailed) as exc:
        await _write_off(supervisor, credit.id, 100, "k", today, installment_number=99)
    assert "installmentNumber" in fields(exc.value)
    with pytest.raises(ValidationFailed):
        await _write_off(supervisor, credit.id, 100, "k", today + timedelta(days=3))
    with pytest.raises(ValidationFailed):
        await _write_off(supervisor, credit.id, 100, "has space", today)
    with pytest.raises(Exception) as exc_info:
        await _write_off(principal(Role.SUPERVISOR, outsider.partner_id), credit.id, 1, "k", today)
    assert type(exc_info.value).__name__ == "NotFound"
    assert await db_state() == before
    assert await rows_of(WriteOff, credit_id=credit.id) == []


async def test_an_early_write_off_applies_on_the_due_date_and_a_reversal_owes_it_again(
    agent, supervisor, partner_system, make_credit
):
    credit = await make_credit(disbursed_days_ago=26)  # installment 1 due in 4 days
    today = local_today()
    await _pay(partner_system, credit.id, 88_000, "early", today)
    w = await _write_off(partner_system, credit.id, 849, "early-wo", today, installment_number=1)
    assert w.applied_amount == 0  # waits for the due date, like the credit balance
    row = await _first_row(credit.id)
    due = row.due_date
    async with read_session() as session:
        on_due = await payments.credit_position(
            session, principal=agent, credit_id=credit.id, as_of=due
        )
    first = on_due.installments[0]
    assert (first.paid, first.written_off, first.paid_on) == (88_000, 849, due)
    async with transaction() as session:
        back = await write_offs.reverse_write_off(
            session, principal=supervisor, write_off_id=w.id, reason="Conciliación deshecha"
        )
    assert back.status == PaymentStatus.REVERSED and back.applied_amount == 0
    async with read_session() as session:
        on_due = await payments.credit_position(
            session, principal=agent, credit_id=credit.id, as_of=due
        )
    assert on_due.installments[0].written_off == 0
    assert on_due.installments[0].outstanding == 849
    (event,) = await events("credits.write_off_reversed")
    assert event.payload["reason"] == "Conciliación deshecha"
    with pytest.raises(InvalidTransition):
        async with transaction() as session:
            await write_offs.reverse_write_off(
                session, principal=supervisor, write_off_id=w.id, reason="otra vez"
            )

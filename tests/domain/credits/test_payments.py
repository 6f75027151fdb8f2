"""Payments through the service: allocation rows, idempotency, backdating and reversal
replays, credit balance and refunds, prepayments, UF conversion, bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.db import read_session, transaction
from domain.credits import payments, uf
from domain.credits.models import Allocation, Installment, Payment, Refund
from domain.credits.states import CreditStatus, PaymentStatus
from domain.shared.audit import AuditRecord
from domain.shared.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from domain.shared.event_schemas import global_id as gid
from domain.shared.money import Money
from domain.shared.principal import Role
from domain.shared.time import utcnow

from .conftest import (
    at_noon,
    db_state,
    events,
    fields,
    local_today,
    principal,
    reload,
    rows_of,
)


async def register(
    actor, credit_id, amount: Any, days_ago: int, key: str, *, minute: int = 0, **extra: Any
):
    async with transaction() as session:
        return await payments.register_payment(
            session,
            principal=actor,
            credit_id=credit_id,
            amount=amount if not isinstance(amount, int) else Money(amount, "CLP"),
            paid_at=at_noon(local_today() - timedelta(days=days_ago)) + timedelta(minutes=minute),
            reference=f"ref {key}",
            idempotency_key=key,
            **extra,
        )


async def ledger_state(credit_id) -> dict[str, Any]:
    """What a replay leaves behind, comparable between two credits (keyed by payment
    reference and installment number, not by ids)."""
    async with read_session() as session:
        credit = await session.get(payments.Credit, credit_id)
        assert credit is not None
    pays = {p.id: p for p in await rows_of(Payment, credit_id=credit_id)}
    allocations = sorted(
        (pays[a.payment_id].reference, a.schedule_no, a.installment_number, a.component, a.amount)
        for a in await rows_of(Allocation, credit_id=credit_id)
    )
    installments = sorted(
        (
            i.schedule_no,
            i.number,
            i.due_date,
            i.principal,
            i.interest,
            i.amount,
            i.principal_paid,
            i.interest_paid,
            i.charges_paid,
            i.late_interest_accrued,
            i.late_interest_paid,
            i.status,
            i.paid_on,
        )
        for i in await rows_of(Installment, credit_id=credit_id)
    )
    per_payment = sorted(
        (p.reference, p.status, p.allocated_amount, p.held_amount, p.refunded_amount)
        for p in pays.values()
    )
    return {
        "allocations": allocations,
        "installments": installments,
        "payments": per_payment,
        "credit": (
            credit.status,
            credit.credit_balance,
            credit.outstanding_principal,
            credit.days_past_due,
            credit.aging_bucket,
            credit.paid_off_on,
        ),
    }


async def test_an_on_time_payment_is_allocated_and_recorded(agent, make_credit, lender):
    credit = await make_credit(disbursed_days_ago=40)
    assert credit.status == CreditStatus.DELINQUENT  # installment 1 fell due 10 days ago
    payment = await register(agent, credit.id, 100_000, 0, "k1")
    assert payment.status == PaymentStatus.BOOKED
    assert payment.credit_amount == 100_000 and payment.paid_on == local_today()
    assert payment.allocated_amount + payment.held_amount == 100_000
    lines = await rows_of(Allocation, payment_id=payment.id)
    by_component = {a.component: a.amount for a in lines if a.installment_number == 1}
    assert by_component["INTEREST"] == 10_000 and by_component["PRINCIPAL"] == 78_849
    assert by_component["LATE_INTEREST"] > 0
    first = next(i for i in await rows_of(Installment, credit_id=credit.id) if i.number == 1)
    assert first.status == "PAID" and first.paid_on == local_today()
    after = await reload(credit.id)
    assert after.status == CreditStatus.ACTIVE and after.days_past_due == 0
    assert after.credit_balance == payment.held_amount
    topics = [e.topic for e in await events()]
    assert "credits.delinquent" in topics and "credits.cured" in topics
    (received,) = await events("payments.received")
    assert received.payload["paymentId"] == gid("Payment", payment.id)
    assert received.payload["amount"] == {"amount": "100000", "currency": "CLP"}
    assert received.audience == f",{lender},"
    (record,) = await rows_of(
        AuditRecord, action="payments.received", entity_id=str(payment.id)
    )  # the demo credits of the seed have records of their own
    assert record.entity_id == str(payment.id)
    async with read_session() as session:
        totals = await payments.allocation_totals(session, credit.id)
    assert totals == {payment.id: {a.component: a.amount for a in lines}}


async def test_the_same_idempotency_key_books_once(agent, partner_system, make_credit):
    credit = await make_credit(disbursed_days_ago=5)
    first = await register(partner_system, credit.id, 20_000, 0, "bank-123")
    before = await db_state()
    again = await register(partner_system, credit.id, 20_000, 1, "bank-123")
    assert again.id == first.id
    assert await db_state() == before
    with pytest.raises(Conflict):
        await register(agent, credit.id, 20_001, 0, "bank-123")
    with pytest.raises(Conflict):
        await register(agent, credit.id, Money(20_000, "USD"), 0, "bank-123")
    assert await db_state() == before
    other = await make_credit(disbursed_days_ago=5)
    elsewhere = await register(agent, other.id, 20_000, 0, "bank-123")  # unique per credit
    assert elsewhere.id != first.id


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": Money(0, "CLP")}, "amount"),
        ({"amount": Money(-100, "CLP")}, "amount"),
        ({"amount": "-100", "currency": "CLP"}, "amount"),
        ({"amount": "10.5", "currency": "CLP"}, "amount"),
        ({"amount": 10.5, "currency": "CLP"}, "amount"),
        ({"amount": "100", "currency": "XYZ"}, "currency"),
        ({"amount": "100", "currency": None}, "currency"),
        ({"amount": Money(100, "USD")}, "currency"),
        ({"amount": Money(10**15, "CLP")}, "amount"),
        ({"paid_at": utcnow() + timedelta(hours=1)}, "paidAt"),
        ({"paid_at": datetime(2026, 1, 1, 12, 0)}, "paidAt"),  # naive
        ({"paid_at": "2026-01-01"}, "paidAt"),
        ({"paid_at": at_noon(local_today() - timedelta(days=30))}, "paidAt"),  # before it existed
        ({"reference": "  "}, "reference"),
        ({"reference": "x" * 101}, "reference"),
        ({"prepayment": "LATER"}, "prepayment"),
        ({"idempotency_key": ""}, "idempotencyKey"),
        ({"idempotency_key": "has space"}, "idempotencyKey"),
        ({"idempotency_key": "k" * 101}, "idempotencyKey"),
    ],
)
async def test_bad_payments_are_refused_and_nothing_is_written(agent, make_credit, changes, field):
    credit = await make_credit(disbursed_days_ago=10)
    values: dict[str, Any] = {
        "amount": Money(1_000, "CLP"),
        "paid_at": at_noon(local_today()),
        "reference": "deposit",
        "idempotency_key": "key-1",
    }
    values.update(changes)
    before = await db_state()
    with pytest.raises(ValidationFailed) as info:
        async with transaction() as session:
            await payments.register_payment(session, principal=agent, credit_id=credit.id, **values)
    assert field in fields(info.value), info.value.problems
    assert await db_state() == before


async def test_payments_on_credits_that_do_not_run_are_refused(agent, make_credit):
    approved = await make_credit(disbursed_days_ago=None)
    cancelled = await make_credit(disbursed_days_ago=None)
    from domain.credits import service

    async with transaction() as session:
        await service.cancel_credit(
            session, principal=agent, credit_id=cancelled.id, expected_version=1, reason="x"
        )
    before = await db_state()
    for credit, message in ((approved, "not been disbursed"), (cancelled, "cancelled")):
        with pytest.raises(ValidationFailed) as info:
            await register(agent, credit.id, 1_000, 0, "k")
        assert fields(info.value) == ["creditId"]
        assert message in info.value.problems[0].message
    assert await db_state() == before


async def test_only_payment_writers_pay(make_credit, ids):
    credit = await make_credit(disbursed_days_ago=3)
    viewer = principal(Role.NETWORK_VIEWER)
    with pytest.raises(Forbidden):
        await register(viewer, credit.id, 1_000, 0, "k")


async def test_a_backdated_payment_replays_to_the_in_order_state(agent, make_credit):
    """Registering out of order ends exactly where registering in order ends."""
    plan = [(70, 60_000, "a"), (50, 95_000, "b"), (31, 40_000, "c"), (3, 150_000, "d")]
    in_order = await make_credit(disbursed_days_ago=95)
    for days_ago, amount, key in plan:
        await register(agent, in_order.id, amount, days_ago, key)
    shuffled = await make_credit(disbursed_days_ago=95)
    for days_ago, amount, key in [plan[3], plan[1], plan[0], plan[2]]:
        await register(agent, shuffled.id, amount, days_ago, key)
    assert await ledger_state(in_order.id) == await ledger_state(shuffled.id)
    backdated = [e for e in await events("payments.received") if e.payload["backdated"]]
    assert len(backdated) == 3  # b, a and c came after a later payment


async def test_a_reversal_replays_without_the_payment_and_reopens(agent, make_credit):
    credit = await make_credit(disbursed_days_ago=20, term_months=1)
    payoff = await register(agent, credit.id, 2_000_000, 0, "all")
    assert (await reload(credit.id)).status == CreditStatus.ACTIVE  # held until it falls due
    small = await make_credit(disbursed_days_ago=35, term_months=1)
    paid = await register(agent, small.id, 1_100_000, 0, "all")
    closed = await reload(small.id)
    assert closed.status == CreditStatus.PAID_OFF and closed.paid_off_on == local_today()
    assert closed.credit_balance == paid.held_amount > 0
    with pytest.raises(ValidationFailed):  # a paid-off credit takes no new payment
        await register(agent, small.id, 1_000, 0, "more")
    async with transaction() as session:
        reversed_ = await payments.reverse_payment(
            session, principal=agent, payment_id=paid.id, reason="cheque bounced"
        )
    assert reversed_.status == PaymentStatus.REVERSED and reversed_.allocated_amount == 0
    reopened = await reload(small.id)
    assert reopened.status == CreditStatus.DELINQUENT and reopened.credit_balance == 0
    assert await rows_of(Allocation, credit_id=small.id) == []
    topics = [e.topic for e in await events()]
    assert "credits.paid_off" in topics and "credits.reopened" in topics
    assert "payments.reversed" in topics
    with pytest.raises(InvalidTransition):
        async with transaction() as session:
            await payments.reverse_payment(
                session, principal=agent, payment_id=paid.id, reason="again"
            )
    with pytest.raises(ValidationFailed):
        async with transaction() as session:
            await payments.reverse_payment(
                session, principal=agent, payment_id=payoff.id, reason=""
            )


async def test_reversing_a_backdated_payment_restores_the_in_order_state(agent, make_credit):
    one = await make_credit(disbursed_days_ago=80)
    two = await make_credit(disbursed_days_ago=80)
    await register(agent, one.id, 90_000, 45, "a")
    await register(agent, one.id, 90_000, 10, "c")
    await register(agent, two.id, 90_000, 45, "a")
    wrong = await register(agent, two.id, 50_000, 30, "b")
    await register(agent, two.id, 90_000, 10, "c")
    async with transaction() as session:
        await payments.reverse_payment(session, principal=agent, payment_id=wrong.id, reason="x")
    left = await ledger_state(one.id)
    right = await ledger_state(two.id)
    right["payments"] = [p for p in right["payments"] if p[1] != "REVERSED"]
    assert left == right


async def test_an_overpayment_is_kept_then_applied_or_refunded(agent, make_credit):
    credit = await make_credit(disbursed_days_ago=25)
    payment = await register(agent, credit.id, 120_000, 0, "over")
    assert payment.held_amount == 120_000  # nothing is due yet
    current = await reload(credit.id)
    assert current.credit_balance == 120_000
    before = await db_state()
    for amount, field in ((Money(120_001, "CLP"), "amount"), (Money(0, "CLP"), "amount")):
        with pytest.raises(ValidationFailed) as info:
            async with transaction() as session:
                await payments.refund_credit_balance(
                    session,
                    principal=agent,
                    credit_id=credit.id,
                    expected_version=current.version,
                    reference="refund",
                    amount=amount,
                )
        assert fields(info.value) == [field]
    assert await db_state() == before
    async with transaction() as session:
        refund = await payments.refund_credit_balance(
            session,
            principal=agent,
            credit_id=credit.id,
            expected_version=current.version,
            reference="transfer 991",
            amount="20000",
        )
    assert refund.amount == 20_000
    after = await reload(credit.id)
    assert after.credit_balance == 100_000
    (stored,) = await rows_of(Payment, id=payment.id)
    assert (stored.held_amount, stored.refunded_amount) == (100_000, 20_000)
    (event,) = await events("credits.balance_refunded")
    assert event.payload["amount"] == {"amount": "20000", "currency": "CLP"}
    assert event.payload["creditBalance"] == {"amount": "100000", "currency": "CLP"}
    # a refund cannot be undone by reversing the payment it came from
    with pytest.raises(Conflict):
        async with transaction() as session:
            await payments.reverse_payment(
                session, principal=agent, payment_id=payment.id, reason="x"
            )
    async with transaction() as session:
        await payments.refund_credit_balance(
            session,
            principal=agent,
            credit_id=credit.id,
            expected_version=after.version,
            reference="rest",
        )
    assert (await reload(credit.id)).credit_balance == 0
    with pytest.raises(ValidationFailed):
        async with transaction() as session:
            await payments.refund_credit_balance(
                session,
                principal=agent,
                credit_id=credit.id,
                expected_version=after.version + 1,
                reference="nothing left",
            )
    assert len(await rows_of(Refund, credit_id=credit.id)) == 2


async def test_a_prepayment_shortens_the_stored_schedule(agent, make_credit):
    credit = await make_credit(disbursed_days_ago=40)
    await register(agent, credit.id, 500_000, 0, "pre", prepayment="SHORTER_TERM")
    rows = [i for i in await rows_of(Installment, credit_id=credit.id) if i.schedule_no == 1]
    assert len(rows) < 12
    assert sum(i.principal for i in rows) == 1_000_000
    after = await reload(credit.id)
    assert after.credit_balance == 0 and after.status == CreditStatus.ACTIVE
    assert after.outstanding_principal < 1_000_000 - 400_000


async def test_a_peso_payment_on_a_uf_credit_converts_at_that_days_value(agent, admin, make_credit):
    day = local_today()
    csv_text = f"{(day - timedelta(days=1)).isoformat()},39990.00\n{day.isoformat()},40000.00\n"
    async with transaction() as session:
        await uf.load_uf_csv(session, principal=admin, csv_text=csv_text)
    credit = await make_credit(disbursed_days_ago=3, currency="CLF", amount="500")
    payment = await register(agent, credit.id, Money(1_000_000, "CLP"), 0, "pesos")
    assert payment.currency == "CLP" and payment.amount == 1_000_000
    assert payment.uf_value == Decimal("40000.00")
    assert payment.credit_amount == 250_000  # 25.0000 UF
    in_uf = await register(agent, credit.id, Money(12_345, "CLF"), 0, "uf")
    assert in_uf.credit_amount == 12_345 and in_uf.uf_value is None
    before = await db_state()
    with pytest.raises(ValidationFailed) as info:  # no UF value three days ago
        await register(agent, credit.id, Money(1_000, "CLP"), 2, "old")
    assert fields(info.value) == ["paidAt"]
    assert "no UF value" in info.value.problems[0].message
    with pytest.raises(ValidationFailed) as info:
        await register(agent, credit.id, Money(1_000, "USD"), 0, "usd")
    assert fields(info.value) == ["currency"]
    assert await db_state() == before


async def test_list_payments_and_position(agent, outsider, make_credit):
    credit = await make_credit(disbursed_days_ago=65)
    made = [await register(agent, credit.id, 10_000, d, f"p{d}") for d in (30, 10, 20, 5)]
    async with read_session() as session:
        page = await payments.list_payments(session, principal=agent, credit_id=credit.id, limit=3)
        rest = await payments.list_payments(
            session, principal=agent, credit_id=credit.id, limit=3, after=page.cursors[-1]
        )
        order = [p.reference for p in page.items + rest.items]
        lines = await payments.list_allocations(session, principal=agent, payment_id=made[0].id)
        position = await payments.credit_position(session, principal=agent, credit_id=credit.id)
        with pytest.raises(payments.NotFound):
            await payments.get_payment(session, principal=outsider, payment_id=made[0].id)
    assert order == ["ref p30", "ref p20", "ref p10", "ref p5"]
    assert sum(a.amount for a in lines) == 10_000
    assert position.days_past_due > 0 and position.overdue() > 0

"""The payoff quote and the next installment a customer sees (domain/credits/payoff.py).

The property: over random payment histories and validity dates, paying exactly the quoted
amount on the last day of validity (with SHORTER_TERM, as a payoff is booked) leaves the
credit PAID_OFF with only the balance held before (refundable); one minor unit less does
not pay it off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import read_session, transaction
from domain.credits import payoff
from domain.credits.models import Credit
from domain.credits.payments import credit_position
from domain.shared.errors import ValidationFailed
from domain.shared.principal import SYSTEM
from domain.shared.time import clock_at, utcnow
from tests.domain.collections_work.conftest import pay, rows, today


async def _quote(credit_id, days=0):
    async with read_session() as session:
        return await payoff.payoff_quote(
            session,
            principal=SYSTEM,
            credit_id=credit_id,
            valid_until=today() + timedelta(days=days),
        )


async def _credit(credit_id):
    async with read_session() as session:
        return await session.get(Credit, credit_id)


async def test_a_quote_adds_up_and_pays_off_exactly(make_credit):
    credit = await make_credit(disbursed_days_ago=70)  # two installments overdue
    quote = await _quote(credit.id, days=10)
    installments = await rows(credit.id)
    overdue_principal = installments[0].principal + installments[1].principal
    assert quote.principal_due == overdue_principal
    assert quote.principal_due + quote.principal_not_due == credit.principal
    assert quote.late_interest > 0 and quote.accrued_interest > 0
    assert quote.installments_due == 2 and quote.credit_balance == 0
    assert quote.amount == sum(
        (
            quote.principal_due,
            quote.interest_due,
            quote.charges_due,
            quote.late_interest,
            quote.principal_not_due,
            quote.accrued_interest,
        )
    )
    sooner = await _quote(credit.id, days=0)
    assert sooner.amount < quote.amount  # interest grows with the days
    with clock_at(utcnow() + timedelta(days=10)):
        await pay(credit.id, quote.amount, prepayment="SHORTER_TERM")
        paid = await _credit(credit.id)
    assert (paid.status, paid.credit_balance, paid.outstanding_principal) == ("PAID_OFF", 0, 0)


async def test_the_quote_is_refused_where_it_makes_no_sense(make_credit):
    credit = await make_credit(disbursed_days_ago=10)
    for days, message in [(-1, "today or later"), (91, "at most 90 days")]:
        with pytest.raises(ValidationFailed) as refused:
            await _quote(credit.id, days)
        assert refused.value.problems[0].field == "validUntil"
        assert message in refused.value.problems[0].message
    quote = await _quote(credit.id)
    await pay(credit.id, quote.amount, prepayment="SHORTER_TERM")
    with pytest.raises(ValidationFailed) as refused:
        await _quote(credit.id)
    assert refused.value.problems[0].message == "the credit is paid off; nothing is owed"


async def test_the_next_installment_is_the_oldest_unpaid(make_credit):
    credit = await make_credit(disbursed_days_ago=70)
    async with read_session() as session:
        position = await credit_position(session, principal=SYSTEM, credit_id=credit.id)
    upcoming = payoff.next_installment(position)
    assert upcoming is not None
    assert (upcoming.number, upcoming.days_past_due) == (1, 40)
    assert upcoming.outstanding > upcoming.amount  # late interest to today
    assert upcoming.overdue_total == position.overdue()


histories = st.lists(
    st.tuples(st.integers(0, 120), st.integers(1, 300_000)), min_size=0, max_size=4
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories, ahead=st.integers(0, 45), balance=st.booleans())
async def test_property_paying_the_quote_on_its_last_day_pays_off_exactly(
    make_credit, history, ahead, balance
):
    credit = await make_credit(disbursed_days_ago=130)
    for days_ago, amount in sorted(history, reverse=True):
        await pay(credit.id, amount, today() - timedelta(days=days_ago))
    if balance:  # an overpayment held as credit balance stays aside, refundable
        await pay(credit.id, 300_000)
    quote = await _quote(credit.id, ahead)
    assert quote.credit_balance <= (await _credit(credit.id)).credit_balance
    with clock_at(utcnow() + timedelta(days=ahead)):
        if quote.amount > 1:
            short = await pay(credit.id, quote.amount - 1, prepayment="SHORTER_TERM")
            assert (await _credit(credit.id)).status != "PAID_OFF"
            from domain.credits import payments

            async with transaction() as session:
                await payments.reverse_payment(
                    session, principal=SYSTEM, payment_id=short.id, reason="prueba"
                )
        await pay(credit.id, quote.amount, prepayment="SHORTER_TERM")
        after = await _credit(credit.id)
    assert after.status == "PAID_OFF"
    assert after.outstanding_principal == 0
    assert after.credit_balance == quote.credit_balance  # the held balance, to refund

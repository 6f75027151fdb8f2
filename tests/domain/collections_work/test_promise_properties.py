"""Property: a promise's decision depends on the payments booked, never on the order or
the repetition of the events that announced them. Payments (some reversed) arrive in any
order, backdated, with the credit's promises judged after each; the decision is always the
one computed from the final set of booked payments."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import read_session, transaction
from domain.collections import promises
from domain.collections.work_models import Promise
from domain.credits import payments
from domain.credits.models import Payment
from domain.shared.money import Money
from domain.shared.principal import SYSTEM
from domain.shared.time import clock_at, utcnow
from tests.domain.collections_work.conftest import pay, refresh, today

scenarios = st.lists(
    st.tuples(
        st.integers(-2, 7),  # paid this many days after the promise was made
        st.integers(1, 60_000),  # amount
        st.booleans(),  # reversed later
    ),
    min_size=0,
    max_size=4,
)


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=scenarios,
    amount=st.integers(10_000, 120_000),
    days=st.integers(0, 3),
    order=st.randoms(use_true_random=False),
)
async def test_property_the_decision_is_the_payments_not_the_events(
    make_credit, agent, history, amount, days, order
):
    credit = await make_credit(disbursed_days_ago=70)
    made_on = today()
    async with transaction() as session:
        promise = await promises.make_promise(
            session,
            principal=agent,
            credit_id=credit.id,
            amount=Money(amount, "CLP"),
            promised_date=made_on + timedelta(days=days),
        )
    later = utcnow() + timedelta(days=10)  # every payment is recorded afterwards, backdated
    arrivals = list(enumerate(history))
    order.shuffle(arrivals)
    with clock_at(later):
        booked = {}
        for n, (offset, value, _) in arrivals:
            booked[n] = await pay(credit.id, value, made_on + timedelta(days=offset), key=f"p{n}")
            await refresh(credit.id)
        for n, (_, _, reverse) in arrivals:
            if reverse:
                async with transaction() as session:
                    await payments.reverse_payment(
                        session, principal=SYSTEM, payment_id=booked[n].id, reason="rechazado"
                    )
                await refresh(credit.id)
        await refresh(credit.id)  # the daily run after the deadline
        await refresh(credit.id)  # and an event delivered again
        async with read_session() as session:
            final = await session.get(Promise, promise.id)
            rows = [
                p
                for p in (await session.execute(Payment.__table__.select())).all()  # type: ignore[attr-defined]
                if p.credit_id == credit.id and p.status == "BOOKED"
            ]
    assert final is not None
    end = promise.promised_date + timedelta(days=promise.grace_days)
    paid, decided = 0, None
    for p in sorted(rows, key=lambda r: (r.paid_at, r.id)):
        if made_on <= p.paid_on <= end:
            paid += p.credit_amount
            if paid >= amount and decided is None:
                decided = p.paid_on
    if decided is not None:
        expected = ("KEPT", decided)
    else:
        expected = ("PARTIALLY_KEPT" if paid else "BROKEN", end + timedelta(days=1))
    assert (final.status, final.decided_on) == expected
    if final.status != "KEPT":
        assert final.paid_amount == paid

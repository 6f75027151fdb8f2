"""Properties of the stored ledger over random payment histories (hypothesis, on the
database): registering payments in any arrival order, with reversals, ends in the state of
in-order arrival; no amount is created or lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import transaction
from domain.credits import payments
from domain.credits.models import Allocation, Payment

from .conftest import local_today, reload, rows_of
from .test_payments import ledger_state, register

DISBURSED_DAYS_AGO = 130

histories = st.lists(
    st.tuples(
        st.integers(0, DISBURSED_DAYS_AGO),  # days ago
        st.integers(1, 250_000),  # amount
        st.sampled_from([None, None, None, "SHORTER_TERM", "SMALLER_INSTALLMENT"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories, order=st.randoms(use_true_random=False), reverse=st.booleans())
async def test_property_any_arrival_order_ends_in_the_in_order_state(
    agent, make_credit, history, order, reverse
):
    # Each payment has its own instant (minutes apart on a day): at one same instant only the
    # arrival order can rank two payments, and the ledger documents that tie-break.
    keyed = [(days, amount, option, f"p{n}") for n, (days, amount, option) in enumerate(history)]
    in_order = await make_credit(disbursed_days_ago=DISBURSED_DAYS_AGO)
    arrival = await make_credit(disbursed_days_ago=DISBURSED_DAYS_AGO)
    chronological = sorted(keyed, key=lambda h: (-h[0], h[3]))
    dropped = chronological[0][3] if reverse else None
    for days, amount, option, key in chronological:
        if key != dropped:
            await register(
                agent, in_order.id, amount, days, key, minute=int(key[1:]), prepayment=option
            )
    shuffled = list(keyed)
    order.shuffle(shuffled)
    made: dict[str, Any] = {}
    for days, amount, option, key in shuffled:
        made[key] = await register(
            agent, arrival.id, amount, days, key, minute=int(key[1:]), prepayment=option
        )
    if dropped is not None:
        async with transaction() as session:
            await payments.reverse_payment(
                session, principal=agent, payment_id=made[dropped].id, reason="bounced"
            )
    left = await ledger_state(in_order.id)
    right = await ledger_state(arrival.id)
    right["payments"] = [p for p in right["payments"] if p[1] != "REVERSED"]
    assert left == right
    # nothing created or lost: booked payments = allocations + credit balance
    credit = await reload(arrival.id)
    booked = [p for p in await rows_of(Payment, credit_id=arrival.id) if p.status == "BOOKED"]
    allocated = sum(a.amount for a in await rows_of(Allocation, credit_id=arrival.id))
    assert sum(p.credit_amount for p in booked) == allocated + credit.credit_balance
    for p in booked:
        assert p.allocated_amount + p.held_amount + p.refunded_amount == p.credit_amount
        assert p.refunded_amount == 0
    assert local_today() - timedelta(days=DISBURSED_DAYS_AGO) == credit.disbursement_date

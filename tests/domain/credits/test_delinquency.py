"""Delinquency: days past due, aging buckets, late interest and the daily run."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.db import transaction
from domain.credits import delinquency
from domain.credits.allocation import LateInterestPolicy
from domain.credits.models import Installment
from domain.credits.states import AgingBucket, CreditStatus

from .conftest import events, local_today, reload, rows_of


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-3, AgingBucket.CURRENT),
        (0, AgingBucket.CURRENT),
        (1, AgingBucket.D1_30),
        (30, AgingBucket.D1_30),
        (31, AgingBucket.D31_60),
        (60, AgingBucket.D31_60),
        (61, AgingBucket.D61_90),
        (90, AgingBucket.D61_90),
        (91, AgingBucket.D91_180),
        (180, AgingBucket.D91_180),
        (181, AgingBucket.D180_PLUS),
        (5_000, AgingBucket.D180_PLUS),
    ],
)
def test_aging_buckets(days, bucket):
    assert delinquency.aging_bucket(days) == bucket


def test_days_past_due_of_stored_rows():
    def row(due: date, status: str) -> Installment:
        return Installment(due_date=due, status=status)  # type: ignore[call-arg]

    rows = [
        row(date(2026, 1, 10), "PAID"),
        row(date(2026, 2, 10), "PARTIAL"),
        row(date(2026, 3, 10), "PENDING"),
    ]
    assert delinquency.days_past_due(rows, date(2026, 2, 10)) == 0  # due today is not late
    assert delinquency.days_past_due(rows, date(2026, 2, 11)) == 1
    assert delinquency.days_past_due(rows, date(2026, 3, 20)) == 38
    assert delinquency.days_past_due([], date(2026, 3, 20)) == 0


def test_late_interest_is_floored_and_capped():
    policy = LateInterestPolicy(Decimal("0.30"), Decimal("0.50"))
    assert delinquency.late_interest(78_849, 15, policy) == 985
    assert delinquency.late_interest(0, 15, policy) == 0
    assert delinquency.late_interest(78_849, 0, policy) == 0
    capped = LateInterestPolicy(Decimal("0.80"), Decimal("0.50"))
    assert delinquency.late_interest(360_000, 10, capped) == 5_000  # 360,000 * 0.5 * 10/360


async def test_the_daily_run_moves_credits_in_and_out_and_is_idempotent(agent, make_credit):
    fresh = await make_credit(disbursed_days_ago=20)  # first installment due in ~10 days
    assert fresh.status == CreditStatus.ACTIVE
    due = next(i for i in await rows_of(Installment, credit_id=fresh.id) if i.number == 1).due_date
    async with transaction() as session:
        on_due = await delinquency.run_delinquency(session, as_of=due)
    assert on_due.became_delinquent == []  # due today is not past due
    assert on_due.examined == 1 and on_due.done
    later = due + timedelta(days=35)
    async with transaction() as session:
        run = await delinquency.run_delinquency(session, as_of=later)
    assert run.became_delinquent == [fresh.id]
    stored = await reload(fresh.id)
    assert stored.status == CreditStatus.DELINQUENT
    assert stored.days_past_due == 35 and stored.aging_bucket == AgingBucket.D31_60
    assert stored.delinquent_since == due + timedelta(days=1)
    first = next(i for i in await rows_of(Installment, credit_id=fresh.id) if i.number == 1)
    assert first.late_interest_accrued == delinquency.late_interest(
        78_849, 35, LateInterestPolicy(Decimal("0.30"), Decimal("0.50"))
    )
    (event,) = await events("credits.delinquent")
    assert event.payload["daysPastDue"] == 35 and event.payload["agingBucket"] == "DAYS_31_60"
    async with transaction() as session:
        again = await delinquency.run_delinquency(session, as_of=later)
    assert again.became_delinquent == [] and again.allocations_changed == 0
    assert len(await events("credits.delinquent")) == 1
    # aging on: the bucket follows without a new status event
    async with transaction() as session:
        await delinquency.run_delinquency(session, as_of=later + timedelta(days=30))
    aged = await reload(fresh.id)
    assert aged.aging_bucket == AgingBucket.D61_90 and aged.days_past_due == 65
    assert len(await events("credits.delinquent")) == 1


async def test_a_credit_balance_is_applied_by_the_run_when_an_installment_falls_due(
    agent, make_credit
):
    from .test_payments import register

    credit = await make_credit(disbursed_days_ago=20)
    payment = await register(agent, credit.id, 100_000, 0, "early")
    assert payment.held_amount == 100_000
    due = next(i for i in await rows_of(Installment, credit_id=credit.id) if i.number == 1).due_date
    version = (await reload(credit.id)).version
    async with transaction() as session:
        run = await delinquency.run_delinquency(session, as_of=due + timedelta(days=1))
    assert run.allocations_changed == 1 and run.became_delinquent == []
    stored = await reload(credit.id)
    (applied,) = await events("credits.balance_applied")
    assert applied.payload["amount"] == {"amount": "88849", "currency": "CLP"}
    assert applied.payload["version"] == stored.version
    assert stored.version == version + 1
    assert stored.credit_balance == 100_000 - 88_849 and stored.status == CreditStatus.ACTIVE
    first = next(i for i in await rows_of(Installment, credit_id=credit.id) if i.number == 1)
    assert first.status == "PAID" and first.paid_on == due


async def test_a_limited_run_continues_where_it_stopped(make_credit):
    made = [(await make_credit(disbursed_days_ago=45)).id for _ in range(3)]
    as_of = local_today() + timedelta(days=1)
    examined = 0
    after = None
    batches = 0
    while True:
        async with transaction() as session:
            run = await delinquency.run_delinquency(session, as_of=as_of, after_id=after, limit=2)
        examined += run.examined
        batches += 1
        after = run.last_id
        if run.done:
            break
    assert examined == 3 and batches == 2
    for credit_id in made:
        stored = await reload(credit_id)
        rows = await rows_of(Installment, credit_id=credit_id)
        due = min(i.due_date for i in rows)
        assert stored.ledger_as_of == as_of and stored.days_past_due == (as_of - due).days

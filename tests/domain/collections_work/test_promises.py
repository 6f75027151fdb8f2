"""Promises to pay: made (alone or with a contact), decided by the payments that arrive —
kept, reopened by a reversal, partly kept or broken at the deadline — and the queue that
follows them; every wrong input refused with nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.collections import contacts, promises
from domain.collections.work_models import Contact, Promise, QueueItem
from domain.credits import payments
from domain.shared.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from domain.shared.money import Money
from domain.shared.principal import SYSTEM
from domain.shared.time import clock_at, utcnow
from tests.domain.collections_work.conftest import all_rows, pay, refresh, run_day, today, topics


async def _promise(credit_id, principal, amount=100_000, days=3, **extra):
    async with transaction() as session:
        return await promises.make_promise(
            session,
            principal=principal,
            credit_id=credit_id,
            amount=Money(amount, "CLP"),
            promised_date=today() + timedelta(days=days),
            **extra,
        )


async def _state(promise_id):
    async with read_session() as session:
        return await session.get(Promise, promise_id)


async def test_payments_keep_reopen_and_break_a_promise(make_credit, team, agent):
    credit = await make_credit(disbursed_days_ago=70)
    await run_day()
    promise = await _promise(credit.id, agent, note="Paga el viernes con el sueldo")
    assert (promise.status, promise.collector_id, promise.grace_days) == ("OPEN", team["agent"], 1)
    item = (await all_rows(QueueItem, credit_id=credit.id, kind="PAST_DUE"))[0]
    assert item.promise_id == promise.id

    await pay(credit.id, 60_000)
    await refresh(credit.id)
    assert ((await _state(promise.id)).status, (await _state(promise.id)).paid_amount) == (
        "OPEN",
        60_000,
    )
    second = await pay(credit.id, 40_000)
    await refresh(credit.id)
    await refresh(credit.id)  # a repeated event changes nothing
    kept = await _state(promise.id)
    assert (kept.status, kept.paid_amount, kept.decided_on) == ("KEPT", 100_000, today())

    async with transaction() as session:
        await payments.reverse_payment(
            session, principal=SYSTEM, payment_id=second.id, reason="Transferencia rechazada"
        )
    await refresh(credit.id)
    reopened = await _state(promise.id)
    assert (reopened.status, reopened.paid_amount, reopened.decided_on) == ("OPEN", 60_000, None)

    with clock_at(utcnow() + timedelta(days=5)):  # past promised date + 1 grace day
        totals = await run_day()
        broken = await _state(promise.id)
        assert (broken.status, broken.decided_on) == (
            "PARTIALLY_KEPT",
            promise.promised_date + timedelta(days=2),
        )
        assert totals.promises_decided == 1
        queue = {i.kind: i for i in await all_rows(QueueItem, credit_id=credit.id, status="OPEN")}
        assert set(queue) == {"PAST_DUE", "BROKEN_PROMISE"}
        assert queue["BROKEN_PROMISE"].priority < queue["PAST_DUE"].priority
        newer = await _promise(credit.id, agent, amount=50_000, days=2)
        resolved = (await all_rows(QueueItem, credit_id=credit.id, kind="BROKEN_PROMISE"))[0]
        assert (resolved.status, resolved.resolution) == ("RESOLVED", "PROMISE_MADE")
        assert (await _state(newer.id)).status == "OPEN"
    assert [e.topic.rpartition(".")[2] for e in await topics("collections.promise")] == [
        "promise_made",
        "promise_kept",
        "promise_reopened",
        "promise_partially_kept",
        "promise_made",
    ]


async def test_a_promise_with_nothing_paid_breaks_and_past_due_steps_wait_for_it(
    make_credit, team, agent
):
    credit = await make_credit(disbursed_days_ago=34)  # 3 days late: no step yet
    promise = await _promise(credit.id, agent, days=1)
    with clock_at(utcnow() + timedelta(days=2)):  # 5 days late, promise still open (grace)
        await run_day()
        assert await topics("collections.step_triggered") == []
    with clock_at(utcnow() + timedelta(days=3)):
        await run_day()
        assert (await _state(promise.id)).status == "BROKEN"
        fired = await topics("collections.step_triggered")
        assert [e.payload["stepCode"] for e in fired] == ["LLAMADA"]


async def test_a_contact_with_a_promise_records_both(make_credit, team, agent):
    credit = await make_credit(disbursed_days_ago=70)
    await run_day()
    async with transaction() as session:
        logged = await contacts.log_contact(
            session,
            principal=agent,
            credit_id=credit.id,
            channel="PHONE",
            outcome="PROMISE_TO_PAY",
            note="Cliente se compromete a pagar la cuota atrasada",
            promise=contacts.PromiseInput(Money(150_000, "CLP"), today() + timedelta(days=7)),
        )
    assert logged.promise is not None and logged.contact.promise_id == logged.promise.id
    assert logged.contact.collector_id == team["agent"]
    item = (await all_rows(QueueItem, credit_id=credit.id))[0]
    assert (item.contact_count, item.promise_id) == (1, logged.promise.id)
    event = (await topics("collections.contact_logged"))[0]
    assert "note" not in event.payload and event.payload["outcome"] == "PROMISE_TO_PAY"


async def _nothing_written(work) -> None:
    async with read_session() as session:
        before = [
            (await session.execute(sa.select(sa.func.count()).select_from(m))).scalar()
            for m in (Promise, Contact)
        ]
    with pytest.raises((ValidationFailed, Conflict, NotFound, InvalidTransition)) as refused:
        await work()
    async with read_session() as session:
        after = [
            (await session.execute(sa.select(sa.func.count()).select_from(m))).scalar()
            for m in (Promise, Contact)
        ]
    assert before == after
    return refused.value


async def test_wrong_promises_and_contacts_are_refused_with_nothing_written(
    make_credit, agent, outsider
):
    credit = await make_credit(disbursed_days_ago=70)

    async def too_much():
        await _promise(credit.id, agent, amount=90_000_000)

    async def past():
        await _promise(credit.id, agent, days=-1)

    async def far():
        await _promise(credit.id, agent, days=61)

    async def card_in_note():
        await _promise(credit.id, agent, note="tarjeta 4111 1111 1111 1111")

    async def other_lender():
        await _promise(credit.id, outsider)

    async def no_promise():
        async with transaction() as session:
            await contacts.log_contact(
                session,
                principal=agent,
                credit_id=credit.id,
                channel="PHONE",
                outcome="PROMISE_TO_PAY",
            )

    async def bad_enums():
        async with transaction() as session:
            await contacts.log_contact(
                session,
                principal=agent,
                credit_id=credit.id,
                channel="FAX",
                outcome="MAYBE",
            )

    fields = {}
    for name, work in [
        ("too_much", too_much),
        ("past", past),
        ("far", far),
        ("card", card_in_note),
        ("no_promise", no_promise),
        ("enums", bad_enums),
    ]:
        error = await _nothing_written(work)
        fields[name] = [p.field for p in error.problems]
    assert fields == {
        "too_much": ["amount.amount"],
        "past": ["promisedDate"],
        "far": ["promisedDate"],
        "card": ["note"],
        "no_promise": ["promise"],
        "enums": ["channel", "outcome"],
    }
    error = await _nothing_written(other_lender)
    assert isinstance(error, NotFound)
    first = await _promise(credit.id, agent)

    async def second_open():
        await _promise(credit.id, agent, amount=10_000)

    assert isinstance(await _nothing_written(second_open), Conflict)
    async with transaction() as session:
        cancelled = await promises.cancel_promise(
            session,
            principal=agent,
            promise_id=first.id,
            reason="Registrada por error",
            expected_version=first.version,
        )
    assert cancelled.status == "CANCELLED"

    async def cancel_again():
        async with transaction() as session:
            await promises.cancel_promise(
                session,
                principal=agent,
                promise_id=first.id,
                reason="otra vez",
                expected_version=cancelled.version,
            )

    assert isinstance(await _nothing_written(cancel_again), InvalidTransition)

"""The collections matching actors as the worker runs them: ``collections.reconcile`` (a
consumer of ``statements.ingested``), ``collections.reconcile_sweep``,
``collections.open_unidentified_cases`` and ``collections.apply_case_resolution`` (a
consumer of ``cases.resolved``).

A consumer is run through the very function the broker declares for it
(``workers.broker._consumer_actor``: the delivery claimed and the work done in one
transaction), a job through ``_job_actor``; one test runs the reconciliation through the
running backbone (relay, Dramatiq worker threads, retries, the dead-letter list). Each
checks what a redelivery does (nothing twice) and what a failed attempt leaves (nothing: the
next attempt does the work once)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.cases import service as cases
from domain.cases.models import Case
from domain.collections import matching
from domain.collections.matching_models import LineCase, LineDecision
from domain.collections.models import LineState
from domain.credits import payment_batches
from domain.shared import event_schemas as wire
from domain.shared import outbox
from domain.shared.jobs import FailedJob
from domain.shared.outbox import EventDelivery
from tests.domain.collections.conftest import lender as lender
from tests.domain.collections.conftest import make_account as make_account
from tests.domain.collections.matching_support import (
    applications,
    customers_with_rut,
    line,
    line_row,
    make_credit,
    owed,
    payments_of,
    statement,
    today,
)
from tests.workers.conftest import eventually
from workers import broker as worker_broker
from workers.actors import collections_matching as actors
from workers.registry import REGISTRY, PermanentError, RetryPolicy, load_modules

RECONCILE = "collections.reconcile"
RESOLUTION = "collections.apply_case_resolution"


def _rut_line(amount: int, rut: str, **values: object) -> dict[str, object]:
    return line(
        amount, counterparty_national_id_type="CL_RUT", counterparty_national_id=rut, **values
    )


def as_worker(consumer: str) -> Callable[[str], Awaitable[None]]:
    """What a worker thread runs for a delivery of ``consumer``."""
    load_modules()
    return worker_broker._consumer_actor(REGISTRY.consumers[consumer])


def job_as_worker(name: str) -> Callable[..., Awaitable[None]]:
    load_modules()
    return worker_broker._job_actor(REGISTRY.jobs[name])


async def relay(consumer: str, topic: str) -> list[Any]:
    """Relay what is in the outbox as the relay does, with deliveries to ``consumer`` only
    (for events of ``topic``); those events."""
    async with transaction() as session:
        batch = await outbox.relay_batch(
            session, consumers_for=lambda t: [consumer] if t == topic else [], limit=10_000
        )
    return [e for e in batch.events if e.topic == topic]


def ingested_payload(
    statement_id: uuid.UUID, partner_id: uuid.UUID, account_id: uuid.UUID, lines: int
) -> dict[str, Any]:
    """``statements.ingested`` as ingestion writes it (domain/collections/ingestion.py)."""
    return {
        "statementId": wire.global_id("BankStatement", statement_id),
        "accountId": wire.global_id("CollectionAccount", account_id),
        "partnerId": wire.global_id("Partner", partner_id),
        "kind": "MT940",
        "interim": False,
        "lineCount": lines,
        "newLineCount": lines,
        "confirmedLineCount": 0,
        "integrity": "UNCHECKED",
        "fromDate": None,
        "toDate": None,
        "closingBalance": None,
    }


async def forget(*event_ids: uuid.UUID) -> None:
    """Remove events a test wrote on purpose against the contract (a partner system's bad
    event), once their handling is checked: the suite checks every event left."""
    async with transaction() as session:
        await session.execute(
            sa.delete(EventDelivery).where(EventDelivery.event_id.in_(event_ids))  # type: ignore[attr-defined]
        )
        await session.execute(
            sa.delete(outbox.OutboxEvent).where(outbox.OutboxEvent.id.in_(event_ids))  # type: ignore[attr-defined]
        )


async def ingested(
    statement_id: uuid.UUID, partner_id: uuid.UUID, account_id: uuid.UUID
) -> uuid.UUID:
    """The ``statements.ingested`` event ingestion writes (its ids), relayed."""
    async with transaction() as session:
        event = outbox.add(
            session,
            "statements.ingested",
            ingested_payload(statement_id, partner_id, account_id, 1),
            partner_ids=[partner_id],
            key=wire.global_id("BankStatement", statement_id),
        )
        event_id = event.id
    assert event_id in {e.id for e in await relay(RECONCILE, "statements.ingested")}
    return event_id


async def delivery(event_id: uuid.UUID, consumer: str) -> EventDelivery:
    async with read_session() as session:
        row = (
            await session.execute(
                sa.select(EventDelivery).where(
                    EventDelivery.event_id == event_id,  # type: ignore[arg-type]
                    EventDelivery.consumer == consumer,  # type: ignore[arg-type]
                )
            )
        ).scalar_one()
        return row


async def decisions_of(line_id: uuid.UUID) -> int:
    async with read_session() as session:
        return (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(LineDecision)
                .where(LineDecision.line_id == line_id)  # type: ignore[arg-type]
            )
        ).scalar_one()


def fail_once(
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    name: str,
    when: Callable[[dict[str, Any]], bool] | None = None,
) -> list[int]:
    """``owner.name`` runs, then raises the first time (as a database or network failure
    after the work was done would): the attempt's transaction must roll it all back. With
    ``when``, only the calls it picks (by keyword arguments) count and may fail (other
    actors of a running backbone call the same function)."""
    real = getattr(owner, name)
    calls: list[int] = []

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        if when is not None and not when(kwargs):
            return result
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionResetError("the connection to the database was lost")
        return result

    monkeypatch.setattr(owner, name, flaky)
    return calls


def test_the_actors_are_declared_with_their_retries() -> None:
    load_modules()
    assert RECONCILE in REGISTRY.consumers_for("statements.ingested")
    assert RESOLUTION in REGISTRY.consumers_for("cases.resolved")
    assert {"collections.reconcile_sweep", "collections.open_unidentified_cases"} <= set(
        REGISTRY.jobs
    )
    spec = REGISTRY.consumers[RECONCILE]
    assert spec.retry.max_retries == 5 and spec.retry.time_limit_ms == 15 * 60_000
    assert PermanentError in spec.retry.throws  # a bad event is not retried


# --- collections.reconcile ---------------------------------------------------------------------
async def test_reconcile_books_once_whatever_the_deliveries(
    lender, make_account, monkeypatch
) -> None:
    account = await make_account()
    ((customer, rut),) = await customers_with_rut(1)
    credit = await make_credit(lender, customer, days_ago=40)
    due = await owed(credit.id)
    statement_id, (line_id,) = await statement(account.id, lender, [_rut_line(due, rut)])
    event_id = await ingested(statement_id, lender, account.id)
    run = as_worker(RECONCILE)

    # the first attempt fails after booking: the rollback leaves the line NEW, nothing
    # booked and the delivery pending for the retry
    calls = fail_once(monkeypatch, payment_batches, "register_payments")
    with pytest.raises(ConnectionResetError):
        await run(str(event_id))
    assert calls == [1]
    assert (await line_row(line_id)).state == LineState.NEW
    assert await payments_of(credit.id) == [] and await decisions_of(line_id) == 0
    assert (await delivery(event_id, RECONCILE)).status == "pending"

    # the retry does the work once
    await run(str(event_id))
    row = await line_row(line_id)
    assert row.state == LineState.AUTO_MATCHED and row.version == 2
    (payment,) = await payments_of(credit.id)
    assert payment.amount == due
    done = await delivery(event_id, RECONCILE)
    assert done.status == "done"

    # redelivered (a message sent twice, the sweep resending it): nothing twice
    await run(str(event_id))
    await run(str(event_id))
    assert len(await payments_of(credit.id)) == 1 and await decisions_of(line_id) == 1
    assert (await line_row(line_id)).version == 2
    assert (await delivery(event_id, RECONCILE)).attempts == done.attempts


async def test_reconcile_refuses_an_event_without_ids_for_good(lender) -> None:
    async with transaction() as session:
        event = outbox.add(
            session, "statements.ingested", {"statementId": None}, partner_ids=[lender]
        )
        event_id = event.id
    assert event_id in {e.id for e in await relay(RECONCILE, "statements.ingested")}
    with pytest.raises(PermanentError):
        await as_worker(RECONCILE)(str(event_id))
    # rolled back: the dead-letter middleware records it (see the backbone test)
    assert (await delivery(event_id, RECONCILE)).status == "pending"
    await forget(event_id)


async def test_reconcile_through_the_running_worker_retries_and_dead_letters(
    lender, make_account, start_backbone, monkeypatch
) -> None:
    """The backbone relays the event, a Dramatiq worker thread runs the actor; the first
    attempt fails and is retried (with the policy's backoff, shortened here); an event that
    cannot be processed lands in ``failed_jobs`` without retries."""
    load_modules()
    spec = REGISTRY.consumers[RECONCILE]
    fast = RetryPolicy(max_retries=3, min_backoff_ms=20, max_backoff_ms=50)
    monkeypatch.setitem(REGISTRY.consumers, RECONCILE, dataclasses.replace(spec, retry=fast))
    account = await make_account()
    ((customer, rut),) = await customers_with_rut(1)
    credit = await make_credit(lender, customer, days_ago=40)
    due = await owed(credit.id)
    statement_id, (line_id,) = await statement(account.id, lender, [_rut_line(due, rut)])
    calls = fail_once(
        monkeypatch,
        payment_batches,
        "register_payments",
        when=lambda kw: any(r.credit_id == credit.id for r in kw.get("requests", [])),
    )
    await start_backbone()
    async with transaction() as session:
        event = outbox.add(
            session,
            "statements.ingested",
            ingested_payload(statement_id, lender, account.id, 1),
            partner_ids=[lender],
        )
        bad = outbox.add(session, "statements.ingested", {"partnerId": None})
    event_id, bad_id = event.id, bad.id
    try:
        await _through_the_worker(credit.id, line_id, due, event_id, bad_id, calls)
    finally:
        await forget(bad_id)


async def _through_the_worker(
    credit_id: uuid.UUID,
    line_id: uuid.UUID,
    due: int,
    event_id: uuid.UUID,
    bad_id: uuid.UUID,
    calls: list[int],
) -> None:
    async def matched() -> bool:
        return (await line_row(line_id)).state == LineState.AUTO_MATCHED

    await eventually(matched, timeout=60)
    assert len(calls) == 2  # failed once, then booked
    (payment,) = await payments_of(credit_id)
    assert payment.amount == due
    await eventually(
        lambda: _status_is(event_id, RECONCILE, "done"),
        timeout=30,
    )

    async def dead_lettered() -> bool:
        async with read_session() as session:
            rows = (
                await session.execute(
                    sa.select(FailedJob).where(FailedJob.actor == RECONCILE)  # type: ignore[arg-type]
                )
            ).scalars()
            return any(str(bad_id) in str(r.job_args) for r in rows)

    await eventually(dead_lettered, timeout=30)
    failed = await delivery(bad_id, RECONCILE)
    assert failed.status == "failed" and failed.attempts == 1  # not retried


async def _status_is(event_id: uuid.UUID, consumer: str, status: str) -> bool:
    return (await delivery(event_id, consumer)).status == status


# --- collections.reconcile_sweep ---------------------------------------------------------------
async def test_the_sweep_decides_lines_no_event_brought_once(
    lender, make_account, monkeypatch
) -> None:
    account = await make_account()
    ((customer, rut),) = await customers_with_rut(1)
    credit = await make_credit(lender, customer, days_ago=40)
    due = await owed(credit.id)
    _, (line_id,) = await statement(account.id, lender, [_rut_line(due, rut)])
    sweep = job_as_worker("collections.reconcile_sweep")
    assert REGISTRY.jobs["collections.reconcile_sweep"].transactional is False

    # lines stored less than the age asked for are left to their event
    assert await actors.reconcile_sweep(older_than_seconds=3600) == {}
    assert (await line_row(line_id)).state == LineState.NEW

    calls = fail_once(monkeypatch, matching, "reconcile")
    with pytest.raises(ConnectionResetError):
        await sweep(older_than_seconds=0)
    assert calls == [1] and (await line_row(line_id)).state == LineState.NEW
    assert await payments_of(credit.id) == []

    done = await actors.reconcile_sweep(older_than_seconds=0)  # the retry
    assert done[str(lender)]["payments"] >= 1
    assert (await line_row(line_id)).state == LineState.AUTO_MATCHED
    assert [p.amount for p in await payments_of(credit.id)] == [due]
    again = await actors.reconcile_sweep(older_than_seconds=0)
    assert str(lender) not in again  # nothing NEW left: nothing twice
    assert len(await payments_of(credit.id)) == 1


# --- unidentified payments: the hourly job and the case resolution consumer ----------------------
async def _unmatched_line(lender, make_account) -> tuple[Any, uuid.UUID]:
    account = await make_account()
    (c1, _), (_, rut2) = await customers_with_rut(2)
    credit = await make_credit(lender, c1)
    statement_id, (line_id,) = await statement(
        account.id,
        lender,
        [_rut_line(45_678, rut2, remittance_info="ABONO")],
        day=today() - timedelta(days=12),
    )
    async with transaction() as session:
        await matching.reconcile(session, partner_id=lender, statement_id=statement_id)
    assert (await line_row(line_id)).state == LineState.UNMATCHED
    return credit, line_id


async def _link(line_id: uuid.UUID) -> LineCase | None:
    async with read_session() as session:
        return (
            await session.execute(
                sa.select(LineCase).where(LineCase.line_id == line_id)  # type: ignore[arg-type]
            )
        ).scalar_one_or_none()


async def test_the_hourly_job_opens_one_case_per_unidentified_payment(
    lender, make_account, monkeypatch
) -> None:
    _, line_id = await _unmatched_line(lender, make_account)
    job = job_as_worker("collections.open_unidentified_cases")

    calls = fail_once(monkeypatch, cases, "open_case")
    with pytest.raises(ConnectionResetError):
        await job()
    assert calls == [1] and await _link(line_id) is None  # rolled back whole

    first = await actors.open_unidentified_cases()  # the retry
    assert first["opened"] >= 1
    link = await _link(line_id)
    assert link is not None and link.case_id is not None and link.status == "OPEN"
    again = await actors.open_unidentified_cases()
    assert again["opened"] == 0  # once per line
    async with read_session() as session:
        count = (
            await session.execute(
                sa.select(sa.func.count()).select_from(LineCase).where(LineCase.line_id == line_id)  # type: ignore[arg-type]
            )
        ).scalar_one()
    assert count == 1


async def test_a_resolved_case_books_its_line_once_whatever_the_deliveries(
    lender, make_account, monkeypatch
) -> None:
    credit, line_id = await _unmatched_line(lender, make_account)
    await actors.open_unidentified_cases()
    link = await _link(line_id)
    assert link is not None and link.case_id is not None
    async with read_session() as session:
        case = await session.get(Case, link.case_id)
        assert case is not None
    async with transaction() as session:
        await cases.resolve_case(
            session,
            principal=matching.worker_principal(lender),
            case_id=case.id,
            expected_version=case.version,
            code="INFORMATION_PROVIDED",
            note=f"El cliente pagó el crédito {credit.reference} de su hermano",
        )
    (event_id,) = [
        e.id
        for e in await relay(RESOLUTION, "cases.resolved")
        if e.payload.get("caseId") == wire.global_id("Case", case.id)
    ]
    run = as_worker(RESOLUTION)

    calls = fail_once(monkeypatch, payment_batches, "register_payments")
    with pytest.raises(ConnectionResetError):
        await run(str(event_id))
    assert calls == [1]
    assert (await line_row(line_id)).state == LineState.UNMATCHED
    assert await payments_of(credit.id) == []
    assert (await delivery(event_id, RESOLUTION)).status == "pending"

    await run(str(event_id))  # the retry
    assert (await line_row(line_id)).state == LineState.AUTO_MATCHED
    (payment,) = await payments_of(credit.id)
    assert payment.amount == 45_678
    assert [a.kind for a in await applications(line_id)] == ["PAYMENT"]
    link = await _link(line_id)
    assert link is not None and link.status == "APPLIED"

    await run(str(event_id))  # redelivered: nothing twice
    assert len(await payments_of(credit.id)) == 1
    assert (await delivery(event_id, RESOLUTION)).status == "done"


async def test_a_resolution_of_another_case_or_without_a_case_id_does_nothing(lender) -> None:
    async with transaction() as session:
        events = [
            outbox.add(session, "cases.resolved", {"caseId": None}, partner_ids=[lender]),
            outbox.add(
                session,
                "cases.resolved",
                {"caseId": wire.global_id("Case", uuid.uuid4())},
                partner_ids=[lender],
            ),
        ]
        ids = [e.id for e in events]
    assert set(ids) <= {e.id for e in await relay(RESOLUTION, "cases.resolved")}
    run = as_worker(RESOLUTION)
    for event_id in ids:
        await run(str(event_id))
        assert (await delivery(event_id, RESOLUTION)).status == "done"
    await forget(*ids)  # a partner system's bad events, against the contract on purpose

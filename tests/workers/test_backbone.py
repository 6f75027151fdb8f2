"""The event backbone running in the test process: relay → Dramatiq actors, retries, the
dead-letter list through GraphQL, the scheduler, the fan-out hub."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import Database, read_session, transaction
from app.runtime import Runtime
from domain.shared import outbox
from domain.shared.models import table_of
from domain.shared.time import utcnow
from tests.conftest import GraphQLClient
from tests.workers.conftest import Recorder, eventually
from workers.backbone import Backbone
from workers.fanout import Hub, SlowConsumer
from workers.registry import REGISTRY, JobSpec, RetryPolicy
from workers.scheduler import Scheduler

Start = Callable[..., Awaitable[Backbone]]
MakeRecorder = Callable[..., Recorder]


async def emit(topic: str, count: int = 1, **payload: Any) -> list[uuid.UUID]:
    ids = []
    async with transaction() as session:
        for n in range(count):
            ids.append(outbox.add(session, topic, {"n": n, **payload}).id)
    return ids


async def delivery_status(event_id: uuid.UUID, consumer: str) -> str | None:
    table = table_of(outbox.EventDelivery)
    async with read_session() as session:
        value = (
            await session.execute(
                sa.select(table.c.status).where(
                    table.c.event_id == event_id, table.c.consumer == consumer
                )
            )
        ).scalar()
    return str(value) if value is not None else None


async def test_every_event_reaches_its_consumer_once(
    start_backbone: Start, recorder: MakeRecorder
) -> None:
    rec = recorder("tests.record", "tests.*")
    await start_backbone()
    ids = await emit("tests.happened", 25)
    await emit("other.happened", 3)  # no consumer wants these
    await eventually(lambda: len(rec.seen) >= 25)
    await asyncio.sleep(0.3)  # anything extra would show up now
    assert sorted(i for i, _ in rec.seen) == sorted(ids)
    for event_id in ids[:3]:
        assert await delivery_status(event_id, "tests.record") == "done"


async def test_a_failing_consumer_is_retried_with_backoff(
    start_backbone: Start, recorder: MakeRecorder
) -> None:
    rec = recorder("tests.flaky", "tests.*", max_retries=5)
    rec.failures_left = 2
    await start_backbone()
    (event_id,) = await emit("tests.happened")
    await eventually(lambda: len(rec.seen) == 1)
    assert rec.seen == [(event_id, "tests.happened")]
    table = table_of(outbox.EventDelivery)
    async with read_session() as session:
        row = (await session.execute(sa.select(table).where(table.c.event_id == event_id))).one()
    assert row.status == "done"
    # Two failed attempts, then the one that worked. A failure is noted after Dramatiq has
    # scheduled the retry, so a fast retry may win the race and the note of the last
    # failure is dropped (a done delivery is never touched again): 2 or 3.
    assert row.attempts in (2, 3)
    assert row.last_error is not None and "partner platform is down" in row.last_error


async def test_a_lost_message_is_sent_again_and_handled_once(
    start_backbone: Start, recorder: MakeRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = recorder("tests.record", "tests.*")
    backbone = await start_backbone()
    assert backbone.broker is not None and backbone.relay is not None
    # what the seed left unrelayed (payments other domains' workers follow) goes out first:
    # the message lost below is this test's own
    await backbone.relay.drain()
    real_send = backbone.broker.send_deliveries
    lost: list[Any] = []

    def lose_once(deliveries: list[Any]) -> None:
        mine = [d for d in deliveries if d[1] == "tests.record"]
        if mine and not lost:
            others = [d for d in deliveries if d[1] != "tests.record"]
            if others:
                real_send(others)
            lost.extend(mine)  # the process "crashed" after the relay's commit
            raise ConnectionError("broker unreachable")
        real_send(deliveries)

    monkeypatch.setattr(backbone.broker, "send_deliveries", lose_once)
    (event_id,) = await emit("tests.happened")
    await eventually(lambda: bool(lost))
    await asyncio.sleep(0.3)
    assert rec.seen == []
    # After redeliver_after (1 s in these settings) the sweep sends it again.
    await asyncio.sleep(1.1)
    # (the seed's deliveries still being worked may be sent again too: their inbox absorbs it)
    assert await backbone.relay.redeliver() >= 1
    await eventually(lambda: len(rec.seen) == 1)
    # And a duplicate message (the original turning up late) changes nothing.
    real_send([(event_id, "tests.record")])
    await asyncio.sleep(0.5)
    assert rec.seen == [(event_id, "tests.happened")]


FAILED_JOBS = """
query Failed($status: FailedJobStatus) {
  failedJobs(status: $status, first: 10) {
    totalCount
    edges { node { id actor queue error errorType attempts status arguments } }
  }
}
"""
RETRY = """
mutation Retry($id: ID!) {
  retryFailedJob(id: $id) {
    __typename
    ... on RetryFailedJobSuccess { job { status resolvedBy } }
    ... on UserError { code message }
  }
}
"""
DISCARD = """
mutation Discard($id: ID!) {
  discardFailedJob(id: $id) {
    __typename
    ... on DiscardFailedJobSuccess { job { status } }
    ... on UserError { code message }
  }
}
"""


async def test_exhausted_jobs_are_listed_retried_and_discarded_by_admins(
    start_backbone: Start,
    recorder: MakeRecorder,
    runtime: Runtime,
    gql: GraphQLClient,
    token: Callable[..., str],
) -> None:
    rec = recorder("tests.doomed", "tests.*", max_retries=1)
    rec.always_fail = True
    backbone = await start_backbone()
    runtime.backbone = backbone
    first, second = await emit("tests.happened", 2)
    admin = token("admin")

    async def failed() -> list[dict[str, Any]]:
        body = await gql(FAILED_JOBS, token=admin)
        return [e["node"] for e in body["data"]["failedJobs"]["edges"]]

    async def two_failed() -> bool:
        return len(await failed()) == 2

    await eventually(two_failed)
    jobs = await failed()
    assert {j["actor"] for j in jobs} == {"tests.doomed"}
    assert all(j["errorType"] == "RuntimeError" for j in jobs)
    assert all("partner platform is down" in j["error"] for j in jobs)
    assert all(j["attempts"] == 2 for j in jobs)  # the first try and one retry
    assert {j["arguments"]["args"][0] for j in jobs} == {str(first), str(second)}
    assert await delivery_status(first, "tests.doomed") == "failed"

    # Only admins see or touch the list.
    agent = token("agent", partner="BANCO_ANDINO")
    body = await gql(FAILED_JOBS, token=agent)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    by_arg = {j["arguments"]["args"][0]: j["id"] for j in jobs}
    body = await gql(RETRY, {"id": by_arg[str(first)]}, token=agent)
    assert body["data"]["retryFailedJob"]["code"] == "FORBIDDEN"

    # The platform is back: a retry delivers the event.
    rec.always_fail = False
    body = await gql(RETRY, {"id": by_arg[str(first)]}, token=admin)
    assert body["data"]["retryFailedJob"]["__typename"] == "RetryFailedJobSuccess", body
    assert body["data"]["retryFailedJob"]["job"]["status"] == "RETRIED"
    await eventually(lambda: len(rec.seen) == 1)
    assert rec.seen == [(first, "tests.happened")]
    assert await delivery_status(first, "tests.doomed") == "done"

    body = await gql(DISCARD, {"id": by_arg[str(second)]}, token=admin)
    assert body["data"]["discardFailedJob"]["job"]["status"] == "DISCARDED"
    assert await delivery_status(second, "tests.doomed") == "discarded"
    # Neither can be handled twice.
    body = await gql(RETRY, {"id": by_arg[str(second)]}, token=admin)
    assert body["data"]["retryFailedJob"]["code"] == "CONFLICT"
    body = await gql(RETRY, {"id": str(uuid.uuid4())}, token=admin)
    assert body["data"]["retryFailedJob"]["code"] == "NOT_FOUND"
    assert (await gql(FAILED_JOBS, {"status": "FAILED"}, token=admin))["data"]["failedJobs"][
        "totalCount"
    ] == 0

    # Both decisions are in the audit trail.
    from domain.shared import audit

    async with read_session() as session:
        table = table_of(audit.AuditRecord)
        actions = (
            (await session.execute(sa.select(table.c.action).where(table.c.action.like("jobs.%"))))
            .scalars()
            .all()
        )
    assert sorted(actions) == ["jobs.discard", "jobs.retry"]


async def test_only_one_scheduler_fires_each_tick(
    start_backbone: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[float] = []

    async def tick_job() -> None:
        runs.append(time.time())

    REGISTRY.jobs["tests.tick"] = JobSpec(
        "tests.tick", tick_job, timedelta(seconds=3600), RetryPolicy(), "default"
    )
    try:
        backbone = await start_backbone()
        assert backbone.broker is not None
        machines = [Scheduler(backbone.broker) for _ in range(3)]
        now = time.time()
        fired = [await s.tick(now) for s in machines]
        assert sum("tests.tick" in f for f in fired) == 1
        # The same machine does not fire a tick twice either.
        assert "tests.tick" not in await machines[0].tick(now + 1)
        await eventually(lambda: len(runs) == 1)
        # The next tick fires again, once.
        later = [await s.tick(now + 3600) for s in machines]
        assert sum("tests.tick" in f for f in later) == 1
        await eventually(lambda: len(runs) == 2)
    finally:
        REGISTRY.remove("tests.tick")


async def test_the_hub_fills_gaps_from_the_log_in_order(db: Database) -> None:
    hub = Hub(poll_interval=3600)
    await hub.start()
    try:
        sub = hub.subscribe(outbox.EventScope(None), ("tests.*",), capacity=100)
        await emit("tests.happened", 5)
        from tests.workers.test_outbox_relay import relay_all

        relayed = [e for e in await relay_all() if e.topic == "tests.happened"]
        assert len(relayed) == 5
        # Only the last event arrives (the others were lost on the way): the hub reads the
        # missing ones from the log and delivers all five in order.
        await hub.receive([relayed[-1]])
        got = [await asyncio.wait_for(sub.next(), 2) for _ in range(5)]
        assert [e.position for e in got] == [e.position for e in relayed]
        # Late duplicates are ignored.
        await hub.receive(relayed[:2])
        assert sub.queue.empty()
    finally:
        await hub.stop()


async def test_a_subscriber_that_does_not_read_is_cut_off(db: Database) -> None:
    hub = Hub(poll_interval=3600)
    await hub.start()
    try:
        slow = hub.subscribe(outbox.EventScope(None), None, capacity=3)
        start = hub.last_position
        events = [
            outbox.Event(uuid.uuid4(), start + n, "tests.happened", None, {}, frozenset(), utcnow())
            for n in range(1, 6)
        ]
        hub._dispatch_all = None  # type: ignore[attr-defined]
        for event in events:
            hub._dispatch(event)
        assert slow.overflowed.is_set()
        assert slow.queue.qsize() == 3  # bounded: never more than its buffer
        with pytest.raises(SlowConsumer):
            await slow.next()
    finally:
        await hub.stop()


async def test_a_transactional_job_does_its_work_once_per_message(start_backbone: Start) -> None:
    runs: list[int] = []

    async def work(session: Any, n: int) -> None:
        runs.append(n)

    REGISTRY.jobs["tests.once"] = JobSpec(
        "tests.once", work, None, RetryPolicy(), "default", transactional=True
    )
    try:
        backbone = await start_backbone()
        assert backbone.broker is not None
        actor = backbone.broker.actors["tests.once"]
        message = actor.message_with_options(kwargs={"n": 7})
        # The same message delivered twice (a worker died before acknowledging it).
        backbone.broker.broker.enqueue(message)
        backbone.broker.broker.enqueue(message)
        other = actor.message_with_options(kwargs={"n": 8})
        backbone.broker.broker.enqueue(other)
        await eventually(lambda: len(runs) >= 2)
        await asyncio.sleep(0.5)
        assert sorted(runs) == [7, 8]
    finally:
        REGISTRY.remove("tests.once")

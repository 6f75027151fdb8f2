"""The event backbone under faults, with real processes (issue 3, "Proof under faults").

On PostgreSQL + Redis (TRAMA_TEST_DATABASE_URL and TRAMA_TEST_REDIS_URL): several
``trama serve`` and ``trama worker`` processes on one database; workers killed with
SIGKILL, API processes and Redis restarted. On the SQLite defaults those tests skip and the
embedded-mode ones (``trama serve`` alone, no Redis) run; they also run on PostgreSQL.

Every process loads ``tests.e2e.recording_consumer``, which counts each delivery in a
scratch table inside the delivery's transaction: an event delivered twice shows ``n = 2``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from gql import GraphQLRequest

from tests.e2e.conftest import TEST_REDIS_URL
from tests.e2e.event_clients import (
    CUSTOMER_CHANGED,
    Follower,
    active_subscriptions,
    collect,
    create_customers,
    ready_status,
    update_email,
    ws_client,
)
from tests.e2e.processes import Api, Cluster, PrivateRedis, Probe, customer_event, eventually

IS_POSTGRES = os.environ.get("TRAMA_TEST_DATABASE_URL", "").startswith("postgresql")
MULTI_PROCESS = pytest.mark.skipif(
    not (TEST_REDIS_URL and IS_POSTGRES),
    reason="multi-process backbone tests need PostgreSQL and Redis: set "
    "TRAMA_TEST_DATABASE_URL=postgresql+asyncpg://… and TRAMA_TEST_REDIS_URL=redis://…",
)
#: Deliveries whose message was lost wait for the sweep (every 30 s) and TRAMA_REDELIVER_AFTER.
REDELIVERY_WAIT = 75.0


@pytest.fixture
async def probe(database_url: str) -> AsyncIterator[Probe]:
    probe = Probe(database_url)
    await probe.start()
    try:
        yield probe
    finally:
        await probe.close()


@pytest.fixture
async def clusters(database_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., Cluster]]:
    """``clusters(redis_url=…, TRAMA_X="…")``: the test's processes, all stopped at the end."""
    made: list[Cluster] = []

    def make(*, redis_url: str | None, **env: str) -> Cluster:
        cluster = Cluster(
            database_url, tmp_path / f"cluster{len(made)}", redis_url=redis_url, env=env
        )
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            await cluster.stop_all()
            cluster.forget_redis_keys()
            print(cluster.logs())  # shown by pytest only when the test failed


async def _recorded_at_least(probe: Probe, count: int) -> bool:
    return len(await probe.recorded()) >= count


def _assert_each_once(recorded: dict[str, int], events: list[tuple[str, int | None]]) -> None:
    twice = {e: n for e, n in recorded.items() if n != 1}
    assert not twice, f"delivered more than once: {twice}"
    assert set(recorded) == {e for e, _ in events}, "every event delivered, nothing else"


# --- Postgres + Redis, several processes ----------------------------------------------------
@MULTI_PROCESS
async def test_a_change_made_through_one_api_reaches_subscribers_on_another(
    clusters: Callable[..., Cluster], probe: Probe
) -> None:
    async with asyncio.timeout(90):
        # The log poll is slowed down: only Redis pub/sub can bring the event in time.
        cluster = clusters(redis_url=TEST_REDIS_URL, TRAMA_FANOUT_POLL_INTERVAL="60")
        api1, api2, worker = cluster.api(), cluster.api(), cluster.worker("--threads", "2")
        await asyncio.gather(api1.start(), api2.start(), worker.start())
        agent, admin = await asyncio.gather(
            cluster.token("agent", "--partner", "BANCO_ANDINO"), cluster.token("admin")
        )

        await eventually(probe.all_relayed, timeout=15, what="the seed's events relayed")
        follower = Follower(api2, admin, topics=["customers.*"])  # live only, no replay
        follower.start()

        async def subscribed(count: int) -> bool:
            return await active_subscriptions(api2) >= count

        await eventually(lambda: subscribed(1), timeout=10, what="events subscription on API 2")
        started = time.monotonic()
        [customer_id] = await create_customers(api1, agent, [40_000_001])
        await follower.wait_for(1, timeout=10)
        latency = time.monotonic() - started
        assert follower.events[0]["topic"] == "customers.created"
        log = await probe.customer_events()
        assert follower.positions == [p for _, p in log][-1:]

        # customerChanged on API 2 follows an update made through API 1.
        async def first_change() -> dict[str, object]:
            async with ws_client(api2, agent) as session:
                request = GraphQLRequest(CUSTOMER_CHANGED, variable_values={"id": customer_id})
                async for item in session.subscribe(request):
                    return dict(item["customerChanged"])
            raise AssertionError("customerChanged ended without a change")

        changed = asyncio.create_task(first_change())
        await eventually(lambda: subscribed(2), timeout=10, what="customerChanged on API 2")
        await update_email(api1, agent, customer_id, 1, "eva.rojas@example.com")
        change = await asyncio.wait_for(changed, 10)
        assert change == {"id": customer_id, "version": 2, "email": "eva.rojas@example.com"}
        await follower.wait_for(2, timeout=10)
        assert [e["topic"] for e in follower.events] == ["customers.created", "customers.updated"]
        await follower.stop()

        # The worker process ran the consumer for both events, once each.
        await eventually(lambda: probe.all_delivered(2), timeout=15, what="both events recorded")
        _assert_each_once(await probe.recorded(), await probe.customer_events())
        print(f"API 1 -> API 2 subscriber: {latency * 1000:.0f} ms")


@MULTI_PROCESS
async def test_a_worker_killed_mid_flight_loses_nothing_and_repeats_nothing(
    clusters: Callable[..., Cluster], probe: Probe
) -> None:
    total = 50
    async with asyncio.timeout(150):
        # A slow consumer on two threads: most events are queued or running at the kill.
        cluster = clusters(redis_url=TEST_REDIS_URL, RECORDING_CONSUMER_DELAY="0.1")
        api, worker = cluster.api(), cluster.worker("--threads", "2")
        await asyncio.gather(api.start(), worker.start())
        agent = await cluster.token("agent", "--partner", "BANCO_ANDINO")

        creating = asyncio.create_task(
            create_customers(api, agent, range(40_100_000, 40_100_000 + total))
        )
        await eventually(
            lambda: _recorded_at_least(probe, probe.baseline + 6),
            timeout=30,
            what="the worker under way",
        )
        await worker.kill()  # SIGKILL, whole process group
        at_kill = len(await probe.recorded())
        await creating
        pending = await probe.delivery_statuses()
        assert at_kill < probe.baseline + total, "the kill should land while events are in flight"

        replacement = cluster.worker("--threads", "4")
        await replacement.start()
        started = time.monotonic()
        await eventually(
            lambda: probe.all_delivered(total),
            timeout=REDELIVERY_WAIT,
            what=f"all {total} events delivered after the restart",
        )
        _assert_each_once(await probe.recorded(), await probe.customer_events())
        assert await probe.delivery_statuses() == {"done": probe.baseline + total}
        print(
            f"killed with {at_kill}/{probe.baseline + total} recorded, deliveries then {pending}; "
            f"all delivered {time.monotonic() - started:.1f}s after the new worker started"
        )


@MULTI_PROCESS
async def test_a_subscriber_resumes_by_cursor_across_a_restart_of_its_api(
    clusters: Callable[..., Cluster], probe: Probe
) -> None:
    async with asyncio.timeout(90):
        cluster = clusters(redis_url=TEST_REDIS_URL)
        api1, api2, worker = cluster.api(), cluster.api(), cluster.worker("--threads", "2")
        await asyncio.gather(api1.start(), api2.start(), worker.start())
        agent, admin = await asyncio.gather(
            cluster.token("agent", "--partner", "BANCO_ANDINO"), cluster.token("admin")
        )
        follower = Follower(api2, admin, topics=["customers.*"], after="0")
        follower.start()
        await create_customers(api1, agent, range(40_200_000, 40_200_003))
        await follower.wait_for(probe.baseline + 3, timeout=15)

        await api2.stop()  # SIGTERM: the subscriber's API goes away
        await eventually(
            lambda: _false(follower.connected.is_set()), timeout=10, what="subscriber cut off"
        )
        # Committed through API 1 while API 2 is down: the subscriber must get these.
        await create_customers(api1, agent, range(40_200_003, 40_200_008))
        await api2.start()  # same port
        await create_customers(api1, agent, range(40_200_008, 40_200_010))
        await follower.wait_for(probe.baseline + 10, timeout=20)
        await asyncio.sleep(0.5)  # a duplicate would arrive now
        await follower.stop()

        log = [p for _, p in await probe.customer_events()]
        assert len(log) == probe.baseline + 10
        assert follower.positions == log, "no gap, no duplicate, in order"
        assert follower.connections >= 2


async def _false(value: bool) -> bool:
    return not value


# --- both configurations --------------------------------------------------------------------
async def test_transactions_committing_out_of_order_are_each_seen_once(
    clusters: Callable[..., Cluster], probe: Probe
) -> None:
    """The event created first commits last. On PostgreSQL both transactions are open at
    once (the early one has written its row); SQLite has one writer, so there the early
    event is built first and written last."""
    redis_url = TEST_REDIS_URL if (TEST_REDIS_URL and IS_POSTGRES) else None
    async with asyncio.timeout(90):
        cluster = clusters(redis_url=redis_url)
        api = cluster.api()
        starting = [api.start()]
        if redis_url:
            starting.append(cluster.worker("--threads", "2").start())
        await asyncio.gather(*starting)
        admin = await cluster.token("admin")
        await eventually(probe.all_relayed, timeout=15, what="the seed's events relayed")
        head = await probe.head()
        follower = Follower(api, admin, topics=["customers.*"], after=str(head))
        follower.start()

        sessions = probe.database.sessionmaker
        async with sessions() as early, sessions() as late:
            first = customer_event(early)  # created first ...
            if IS_POSTGRES:
                await early.flush()  # ... written, not committed
            second = customer_event(late)
            await late.commit()  # created second, committed first
            await eventually(
                lambda: _relayed(probe, second.id), timeout=15, what="the later event relayed"
            )
            assert await probe.position_of(first.id) is None
            # A consumer reads up to the event committed first, then goes away.
            # (customers' events only: the server's own scheduled jobs may add others)
            [seen] = await asyncio.wait_for(
                collect(api, admin, 1, topics=["customers.*"], after=str(head)), 15
            )
            assert seen["key"] == second.key
            await early.commit()
        await eventually(
            lambda: _relayed(probe, first.id), timeout=15, what="the earlier event relayed"
        )
        first_position = await probe.position_of(first.id)
        second_position = await probe.position_of(second.id)
        assert first_position is not None and second_position is not None
        assert first_position > second_position

        # Resuming after what it saw, the consumer gets the late commit, once.
        [resumed] = await asyncio.wait_for(
            collect(api, admin, 1, topics=["customers.*"], after=seen["cursor"]), 15
        )
        assert resumed["key"] == first.key
        assert int(resumed["position"]) == first_position

        # A subscriber that stayed connected saw both, each once, in position order.
        await follower.wait_for(2, timeout=15)
        await asyncio.sleep(0.5)
        await follower.stop()
        assert [e["key"] for e in follower.events] == [second.key, first.key]

        # So did the consumer (in the worker, or in `trama serve`'s threads when embedded).
        await eventually(
            lambda: probe.all_delivered(2), timeout=REDELIVERY_WAIT, what="both recorded"
        )
        _assert_each_once(await probe.recorded(), await probe.customer_events())


async def _relayed(probe: Probe, event_id: uuid.UUID) -> bool:
    return await probe.position_of(event_id) is not None


@MULTI_PROCESS
@pytest.mark.skipif(not PrivateRedis.available(), reason="redis-server is not installed")
async def test_workers_and_fanout_reconnect_on_their_own_after_redis_restarts(
    clusters: Callable[..., Cluster], probe: Probe, tmp_path: Path
) -> None:
    """On a Redis of the test's own (the machine's is shared): killed, then started again
    on the same port, empty, as a Redis without persistence comes back."""
    redis_server = PrivateRedis(tmp_path)
    # The log poll is slowed down: the fan-out must reconnect to Redis by itself.
    cluster = clusters(redis_url=redis_server.url, TRAMA_FANOUT_POLL_INTERVAL="60")
    await redis_server.start()
    try:
        async with asyncio.timeout(150):
            api1, api2, worker = cluster.api(), cluster.api(), cluster.worker("--threads", "2")
            await asyncio.gather(api1.start(), api2.start(), worker.start())
            agent, admin = await asyncio.gather(
                cluster.token("agent", "--partner", "BANCO_ANDINO"), cluster.token("admin")
            )
            follower = Follower(api2, admin, topics=["customers.*"], after="0")
            follower.start()
            await create_customers(api1, agent, range(40_300_000, 40_300_003))
            await follower.wait_for(probe.baseline + 3, timeout=15)
            await eventually(lambda: probe.all_delivered(3), timeout=15, what="3 recorded")

            await redis_server.kill()
            await eventually(
                lambda: _status_is(api1, 503), timeout=10, what="API 1 not ready without Redis"
            )
            # Mutations still commit; their events wait in the outbox and the log.
            await create_customers(api1, agent, range(40_300_003, 40_300_006))

            await redis_server.start()
            outage_over = time.monotonic()
            for api in (api1, api2):
                await eventually(
                    functools.partial(_status_is, api, 200), timeout=20, what="ready again"
                )
            await create_customers(api1, agent, range(40_300_006, 40_300_009))
            await follower.wait_for(probe.baseline + 9, timeout=20)
            await eventually(
                lambda: probe.all_delivered(9),
                timeout=REDELIVERY_WAIT,
                what="all 9 events delivered after Redis came back",
            )
            await follower.stop()
            log = await probe.customer_events()
            assert follower.positions == [p for _, p in log], "no gap, no duplicate"
            assert follower.connections == 1, "the subscriber's connection survived the outage"
            _assert_each_once(await probe.recorded(), log)
            print(f"all delivered {time.monotonic() - outage_over:.1f}s after Redis came back")
    finally:
        await cluster.stop_all()  # before Redis goes, or they log its absence
        await redis_server.kill()


async def _status_is(api: Api, status: int) -> bool:
    return await ready_status(api) == status


async def test_an_embedded_server_killed_right_after_commits_loses_nothing(
    clusters: Callable[..., Cluster], probe: Probe
) -> None:
    """``trama serve`` alone (in-process broker and workers), SIGKILLed while deliveries
    are queued in its memory, then started again: every event reaches the consumer once,
    and a subscriber resuming by cursor gets what it missed."""
    created, burst = 10, 30
    async with asyncio.timeout(150):
        cluster = clusters(
            redis_url=None,
            RECORDING_CONSUMER_DELAY="0.1",
            TRAMA_EMBEDDED_WORKER_THREADS="1",
        )
        api = cluster.api()
        await api.start()
        agent, admin = await asyncio.gather(
            cluster.token("agent", "--partner", "BANCO_ANDINO"), cluster.token("admin")
        )
        follower = Follower(api, admin, topics=["customers.*"], after="0")
        follower.start()
        await create_customers(api, agent, range(40_400_000, 40_400_000 + created))
        # A burst committed at once (another process's bulk import): its deliveries queue
        # up in the server's memory behind the slow consumer.
        await probe.add_events(burst)
        await eventually(probe.all_relayed, timeout=15, what="the burst relayed")
        await api.kill()  # SIGKILL: the queued messages die with the process
        at_kill = len(await probe.recorded())
        in_flight = probe.baseline + created + burst - at_kill
        assert in_flight >= 10, f"the kill should land mid-flight ({at_kill} recorded)"
        # Committed while no server runs: relayed when it starts.
        await probe.add_events(3)

        await api.start()  # same port, same database
        await create_customers(api, agent, range(40_400_100, 40_400_102))
        total = created + burst + 3 + 2
        await follower.wait_for(probe.baseline + total, timeout=30)
        started = time.monotonic()
        await eventually(
            lambda: probe.all_delivered(total),
            timeout=REDELIVERY_WAIT,
            what=f"all {total} events delivered after the restart",
        )
        await follower.stop()
        log = await probe.customer_events()
        assert follower.positions == [p for _, p in log], "no gap, no duplicate"
        assert follower.connections >= 2
        _assert_each_once(await probe.recorded(), log)
        print(
            f"killed with {in_flight} deliveries queued; all delivered "
            f"{time.monotonic() - started:.1f}s after the subscriber caught up"
        )

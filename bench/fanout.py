"""Fan-out: many WebSocket subscribers on one API process; latency from commit to delivery.

    python -m bench.fanout [--subscribers 1000] [--rate 20] [--seconds 15]
                           [--client-processes 1] [--sweep-interval 0.1]

One ``trama serve`` (one process): on PostgreSQL + Redis when TRAMA_BENCH_DATABASE_URL and
TRAMA_BENCH_REDIS_URL are set (a dedicated database; its ``bench.*`` events are deleted
first), embedded otherwise (SQLite in a temp dir, in-process broker and fan-out).

The subscribers are raw ``websockets`` clients speaking ``graphql-transport-ws`` (no
compression), each subscribed to ``events(topics: ["bench.*"])`` with an admin token, spread
over ``--client-processes`` child processes. The benchmark process commits ``--rate`` events
a second for ``--seconds`` straight into the database (``outbox.add``), each carrying its
commit wall-clock time; every subscriber computes receive time minus commit time.

Who relays the benchmark's commits: with Redis, the benchmark process runs a relay woken by
its own commits and publishing to Redis, as a second API process that took the mutations
would — so this measures the multi-process path (commit on API 1, subscriber on API 2).
Embedded, the server's relay finds commits made by another process on its sweep
(``--sweep-interval``); the time to that pickup is reported apart (``commit_to_relay``) and
``relay_to_subscriber`` is the fan-out alone.

Reports latency percentiles over every (subscriber, event) pair, deliveries per second,
events lost (each subscriber must receive each event), and the server's resident memory:
before subscribers, with the subscribers idle, and at peak under load. Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import resource
import sys
import time
import uuid
from array import array
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import orjson
import sqlalchemy as sa

from bench.harness import (
    Environment,
    Server,
    cpu_seconds,
    environment,
    forget_redis_namespace,
    load_average,
    memory_mib,
    percentile,
    server,
)

QUERY = 'subscription Bench { events(topics: ["bench.*"]) { cursor topic payload } }'
WARMUP = "bench.warmup"
TICK = "bench.tick"


# --- the subscribers (child processes) ------------------------------------------------------
class Clients:
    def __init__(self, count: int) -> None:
        self.count = count
        self.connected = 0
        self.failed: list[str] = []
        self.warm = [False] * count
        #: per subscriber: the sequence numbers received and when (wall clock)
        self.seqs: list[array[int]] = [array("l") for _ in range(count)]
        self.times: list[array[float]] = [array("d") for _ in range(count)]
        self.closed: dict[str, int] = {}
        self.received = 0


async def _subscriber(
    index: int,
    url: str,
    token: str,
    state: Clients,
    connected: asyncio.Event,
    opening: asyncio.Semaphore,
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    seqs = state.seqs[index]
    times = state.times[index]
    counted = False
    await opening.acquire()
    try:
        async with connect(
            url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            compression=None,
            proxy=None,
            ping_interval=None,
            open_timeout=60,
            close_timeout=2,
        ) as socket:
            await socket.send(
                orjson.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                ).decode()
            )
            ack = orjson.loads(await socket.recv())
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"no ack: {ack}")
            await socket.send(
                orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}).decode()
            )
            state.connected += 1
            counted = True
            opening.release()
            if state.connected + len(state.failed) == state.count:
                connected.set()
            try:
                async for raw in socket:
                    now = time.time()
                    message = orjson.loads(raw)
                    kind = message.get("type")
                    if kind == "next":
                        event = message["payload"]["data"]["events"]
                        payload = event["payload"]
                        if event["topic"] == TICK:
                            seqs.append(payload["seq"])
                            times.append(now)
                            state.received += 1
                        else:
                            state.warm[index] = True
                    elif kind == "ping":
                        await socket.send('{"type":"pong"}')
                    elif kind in ("error", "complete"):
                        key = f"{kind}: {str(message.get('payload'))[:80]}"
                        state.closed[key] = state.closed.get(key, 0) + 1
                        return
            except ConnectionClosed as exc:
                key = f"closed {exc.rcvd.code if exc.rcvd else None}"
                if exc.rcvd is not None and exc.rcvd.code != 1000:
                    key += f" {exc.rcvd.reason[:60]}"
                state.closed[key] = state.closed.get(key, 0) + 1
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
        if counted:
            state.closed[error] = state.closed.get(error, 0) + 1
        else:
            opening.release()
            state.failed.append(error)
            if state.connected + len(state.failed) == state.count:
                connected.set()


async def _clients(url: str, token: str, count: int, conn: Connection) -> None:
    state = Clients(count)
    connected = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    # At most a hundred connections opening at a time, so the accept queue never overflows.
    opening = asyncio.Semaphore(100)
    for index in range(count):
        tasks.append(asyncio.create_task(_subscriber(index, url, token, state, connected, opening)))
    await connected.wait()
    conn.send(("connected", state.connected, state.failed[:5], time.perf_counter() - started))
    while not conn.poll():
        conn.send(("status", sum(state.warm), state.received, time.process_time()))
        await asyncio.sleep(0.25)
    conn.recv()
    cpu = time.process_time()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    conn.send(
        (
            "result",
            {
                "seqs": [s.tobytes() for s in state.seqs],
                "times": [t.tobytes() for t in state.times],
                "closed": state.closed,
                "failed": len(state.failed),
                "cpu": cpu,
            },
        )
    )


def client_process(url: str, token: str, count: int, conn: Connection) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 1024)), hard))
    asyncio.run(_clients(url, token, count, conn))


# --- the benchmark process ------------------------------------------------------------------
def raise_file_limit(needed: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(f"need {needed} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class ClientGroup:
    def __init__(self, url: str, token: str, subscribers: int, processes: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        share, extra = divmod(subscribers, processes)
        for index in range(processes):
            parent, child = ctx.Pipe()
            count = share + (1 if index < extra else 0)
            proc = ctx.Process(target=client_process, args=(url, token, count, child))
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
        self.status: list[tuple[int, int, float]] = [(0, 0, 0.0)] * processes

    async def expect(self, kind: str, within: float) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...] | None] = [None] * len(self.pipes)
        deadline = time.monotonic() + within
        while any(o is None for o in out):
            if time.monotonic() > deadline:
                raise TimeoutError(f"client processes did not send {kind!r}")
            for index, pipe in enumerate(self.pipes):
                while out[index] is None and pipe.poll():
                    message = pipe.recv()
                    if message[0] == "status":
                        self.status[index] = message[1:]
                    elif message[0] == kind:
                        out[index] = message
            await asyncio.sleep(0.05)
        return [o for o in out if o is not None]

    def refresh(self) -> None:
        for index, pipe in enumerate(self.pipes):
            while pipe.poll():
                message = pipe.recv()
                if message[0] == "status":
                    self.status[index] = message[1:]

    @property
    def warm(self) -> int:
        return sum(s[0] for s in self.status)

    @property
    def received(self) -> int:
        return sum(s[1] for s in self.status)

    @property
    def cpu(self) -> float:
        return sum(s[2] for s in self.status)

    async def stop(self) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send("stop")
        results = await self.expect("result", within=120)
        for proc in self.procs:
            proc.join(timeout=10)
        return [r[1] for r in results]

    def kill(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()


async def commit(topic: str, payload: dict[str, Any]) -> None:
    from app.db import transaction
    from domain.shared import outbox

    async with transaction() as session:
        outbox.add(session, topic, {**payload, "t": time.time()})


async def delete_bench_events() -> None:
    from app.db import transaction
    from domain.shared.models import table_of
    from domain.shared.outbox import EventDelivery, OutboxEvent

    events = table_of(OutboxEvent)
    deliveries = table_of(EventDelivery)
    async with transaction() as session:
        bench = sa.select(events.c.id).where(events.c.topic.like("bench.%"))
        await session.execute(deliveries.delete().where(deliveries.c.event_id.in_(bench)))
        await session.execute(events.delete().where(events.c.topic.like("bench.%")))


async def relay_times() -> dict[int, tuple[float, float]]:
    """seq -> (commit time from the payload, relayed_at) of the measured events."""
    from app.db import read_session
    from domain.shared.models import table_of
    from domain.shared.outbox import OutboxEvent

    events = table_of(OutboxEvent)
    async with read_session() as session:
        rows = (
            await session.execute(
                sa.select(events.c.payload, events.c.relayed_at).where(events.c.topic == TICK)
            )
        ).all()
    out: dict[int, tuple[float, float]] = {}
    for payload, relayed_at in rows:
        if relayed_at is not None:
            assert isinstance(relayed_at, datetime)
            out[int(payload["seq"])] = (float(payload["t"]), relayed_at.timestamp())
    return out


def _ms(values: list[float] | array[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {
        "p50": round(percentile(ordered, 50) * 1000, 1),
        "p95": round(percentile(ordered, 95) * 1000, 1),
        "p99": round(percentile(ordered, 99) * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


async def run(args: argparse.Namespace, env: Environment, running: Server) -> dict[str, Any]:
    from app.db import close_database, init_database, on_events_committed

    report: dict[str, Any] = {}
    init_database(env.database_url, pool_size=4)
    relay: Any = None
    publisher: Any = None
    unhook: Any = None
    if args.redis_url:
        from workers.broker import Broker
        from workers.fanout import RedisPublisher
        from workers.registry import load_modules
        from workers.relay import Relay

        load_modules()
        publisher = RedisPublisher(args.redis_url, f"{args.namespace}:events")
        relay = Relay(Broker(args.redis_url, namespace=args.namespace), publisher=publisher)
        await relay.start()
        unhook = on_events_committed(relay.wake)

    pid = running.pid
    await asyncio.sleep(1)
    report["server_memory_mib"] = {"before_subscribers": memory_mib(pid)["VmRSS"]}
    token = env.run("token", "--role", "admin", "--ttl", "7200")
    clients = ClientGroup(running.ws_url, token, args.subscribers, args.client_processes)
    try:
        connected = await clients.expect("connected", within=180)
        report["subscribers"] = {
            "connected": sum(c[1] for c in connected),
            "failed": [f for c in connected for f in c[2]],
            "connect_seconds": round(max(c[3] for c in connected), 1),
        }
        # Every subscription is live once it has received a warm-up event.
        deadline = time.monotonic() + 120
        while clients.warm < report["subscribers"]["connected"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {clients.warm} subscriptions became live")
            await commit(WARMUP, {})
            await asyncio.sleep(0.5)
            clients.refresh()
        idle_cpu0, idle_t0 = cpu_seconds(pid), time.perf_counter()
        await asyncio.sleep(3)
        idle_cpu = (cpu_seconds(pid) - idle_cpu0) / (time.perf_counter() - idle_t0)
        idle = memory_mib(pid)
        report["server_memory_mib"]["idle_subscribers"] = idle["VmRSS"]

        # --- load ---------------------------------------------------------------------------
        total = int(args.rate * args.seconds)
        peak = idle["VmRSS"]
        sampling = True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, memory_mib(pid)["VmRSS"])
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        clients.refresh()
        client_cpu0 = clients.cpu
        server_cpu0 = cpu_seconds(pid)
        own_cpu0 = time.process_time()
        load_before = load_average()
        started = time.perf_counter()
        for seq in range(total):
            target = started + seq / args.rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await commit(TICK, {"seq": seq})
        commit_end = time.perf_counter()
        expected = total * report["subscribers"]["connected"]
        last, last_change = -1, time.monotonic()
        while clients.received < expected and time.monotonic() - last_change < args.drain:
            await asyncio.sleep(0.25)
            clients.refresh()
            if clients.received != last:
                last, last_change = clients.received, time.monotonic()
        drained = time.perf_counter()
        server_cpu = cpu_seconds(pid) - server_cpu0
        own_cpu = time.process_time() - own_cpu0
        clients.refresh()
        client_cpu = clients.cpu - client_cpu0
        sampling = False
        await sampler
        after = memory_mib(pid)
        report["server_memory_mib"]["peak_under_load"] = max(peak, after["VmRSS"])
        report["server_memory_mib"]["after_load"] = after["VmRSS"]
        report["server_memory_mib"]["high_water_mark"] = after["VmHWM"]
        results = await clients.stop()
    finally:
        clients.kill()
        if unhook is not None:
            unhook()
        if relay is not None:
            await relay.stop()
            relay.broker.close()
        if publisher is not None:
            await publisher.close()

    # --- figures ----------------------------------------------------------------------------
    times = await relay_times()
    await close_database()
    latencies: list[float] = []
    fanout: list[float] = []
    missing = duplicates = subscribers_missing = unknown = 0
    closed: dict[str, int] = {}
    wanted = set(range(total))
    for result in results:
        for key, value in result["closed"].items():
            closed[key] = closed.get(key, 0) + value
        for raw_seqs, raw_times in zip(result["seqs"], result["times"], strict=True):
            seqs: array[int] = array("l")
            seqs.frombytes(raw_seqs)
            received: array[float] = array("d")
            received.frombytes(raw_times)
            unique = set(seqs)
            duplicates += len(seqs) - len(unique)
            lost = len(wanted - unique)
            missing += lost
            subscribers_missing += lost > 0
            for seq, at in zip(seqs, received, strict=True):
                known = times.get(seq)
                if known is None:
                    unknown += 1
                    continue
                latencies.append(at - known[0])
                fanout.append(at - known[1])
    # The relay's pickup, once per event.
    pickup = [relayed - committed for committed, relayed in times.values()]
    load_seconds = drained - started
    report["load"] = {
        "events_committed": total,
        "rate_per_second": args.rate,
        "seconds": args.seconds,
        "commit_seconds": round(commit_end - started, 2),
        "deliveries_expected": expected,
        "deliveries": len(latencies),
        "deliveries_per_second": round(len(latencies) / load_seconds, 1),
        "events_lost": missing,
        "subscribers_missing_events": subscribers_missing,
        "duplicates": duplicates,
        "deliveries_of_unrelayed_events": unknown,
        "connections_closed": closed,
        "load_average_at_start": load_before,
    }
    report["latency_ms"] = {
        "commit_to_subscriber": _ms(latencies),
        "commit_to_relay": _ms(pickup),
        "relay_to_subscriber": _ms(fanout),
    }
    report["server_cpu_share_idle_subscribers"] = round(idle_cpu, 3)
    report["cpu_seconds_during_load"] = {
        "wall": round(load_seconds, 1),
        "server": round(server_cpu, 1),
        "clients": round(client_cpu, 1),
        "benchmark_process": round(own_cpu, 1),
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20, help="events committed per second")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument(
        "--sweep-interval",
        type=float,
        default=0.1,
        help="embedded: the server relay's sweep (it finds other processes' commits so)",
    )
    parser.add_argument(
        "--drain", type=float, default=15, help="seconds without progress before giving up"
    )
    args = parser.parse_args(argv)
    args.redis_url = os.environ.get("TRAMA_BENCH_REDIS_URL", "").strip() or None
    args.namespace = f"bench-{uuid.uuid4().hex[:10]}"
    database = os.environ.get("TRAMA_BENCH_DATABASE_URL")
    if bool(database) != bool(args.redis_url):
        parser.error("set both TRAMA_BENCH_DATABASE_URL and TRAMA_BENCH_REDIS_URL, or neither")
    limit = raise_file_limit(args.subscribers + 1024)
    load_before = load_average()
    server_env = {"TRAMA_LOG_LEVEL": "WARNING"}
    if args.redis_url:
        server_env |= {"TRAMA_REDIS_URL": args.redis_url, "TRAMA_REDIS_NAMESPACE": args.namespace}
    else:
        server_env["TRAMA_RELAY_SWEEP_INTERVAL"] = str(args.sweep_interval)
    with environment(0) as env:
        if database:
            asyncio.run(_clean(env))
        with server(env, env=server_env) as running:
            result = asyncio.run(run(args, env, running))
    if args.redis_url:
        forget_redis_namespace(args.redis_url, args.namespace)
    report = {
        "benchmark": "fan-out to WebSocket subscribers",
        "database": env.database_url.split("://")[0],
        "mode": "redis" if args.redis_url else "embedded",
        "subscribers": args.subscribers,
        "client_processes": args.client_processes,
        "relay": "benchmark process (woken by its commits)"
        if args.redis_url
        else f"server, sweep every {args.sweep_interval}s",
        "open_files_limit": limit[0],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": load_before,
        **result,
    }
    print(json.dumps(report, indent=2))
    connected = result["subscribers"]["connected"]
    ok = result["load"]["events_lost"] == 0 and connected == args.subscribers
    return 0 if ok else 1


async def _clean(env: Environment) -> None:
    from app.db import close_database, init_database

    init_database(env.database_url)
    await delete_bench_events()
    await close_database()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())

"""Relay throughput: events per second from commit to actor.

    python -m bench.relay_throughput [--events 10000] [--batch 100] [--mode redis|embedded]
                                     [--processes 1] [--threads 8] [--phases backlog,live]

Needs TRAMA_BENCH_DATABASE_URL (an empty PostgreSQL database dedicated to benchmarks: it is
migrated, seeded with partners, and its ``bench.*`` events are deleted at the start); with
TRAMA_BENCH_REDIS_URL the default mode is ``redis``, otherwise ``embedded``.

One consumer actor, ``bench.count`` (``bench/consumers.py``), subscribes to ``bench.*`` and
does nothing beyond the inbox claim every consumer pays. Every event gives one delivery.

- ``redis``: ``trama worker --processes P --threads T`` runs the actors (subprocess, its own
  Redis namespace). The benchmark process plays the API process that commits: it runs a
  relay woken by its own commits (as ``trama serve`` does), sending to the Redis broker.
  The workers' relays only sweep (TRAMA_RELAY_SWEEP_INTERVAL=3600 for them) so the figures
  are those of one relay.
- ``embedded``: the benchmark process runs the whole backbone of an embedded ``trama serve``
  (in-process broker, ``--threads`` worker threads, relay, hub, scheduler).

Phases (each with its own ``--events``):

- ``backlog``: the events are committed while no relay runs, then the relay starts: the
  relay's own rate (positions assigned per second) and the actors' rate on a full queue.
- ``live``: the relay and the actors run while the events are committed, ``--batch`` per
  transaction, as fast as one writer goes: events per second end to end (first commit until
  every delivery is done) and the latency from commit to actor.

Timestamps come from the database rows (``created_at`` at ``outbox.add``, ``relayed_at``
set by the relay, ``done_at`` by the actor's claim), all on this machine's clock.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.harness import (
    ROOT,
    TRAMA,
    Environment,
    cpu_seconds,
    environment,
    forget_redis_namespace,
    load_average,
    percentile,
)

CONSUMER_MODULE = "bench.consumers"


# --- the machine ----------------------------------------------------------------------------
def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return float(sum(fields) - idle), float(sum(fields))


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the worker's child processes)."""
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        with contextlib.suppress(OSError):
            total += cpu_seconds(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pids.extend(int(c) for c in children)
    return total


# --- instrumenting the relay (timing only, the backbone's code is unchanged) -----------------
class RelayTimer:
    def __init__(self) -> None:
        self.passes = 0
        self.pass_seconds = 0.0
        self.batch_seconds = 0.0
        self.send_seconds = 0.0
        self.messages = 0
        self._lock = threading.Lock()

    def install(self) -> None:
        from domain.shared import outbox
        from workers.broker import Broker
        from workers.relay import Relay

        timer = self
        relay_batch = outbox.relay_batch
        relay_once = Relay.relay_once
        send_deliveries = Broker.send_deliveries

        @functools.wraps(relay_batch)
        async def timed_batch(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await relay_batch(*args, **kwargs)
            finally:
                timer.batch_seconds += time.perf_counter() - started

        @functools.wraps(relay_once)
        async def timed_once(self: Any) -> int:
            started = time.perf_counter()
            try:
                return await relay_once(self)
            finally:
                timer.passes += 1
                timer.pass_seconds += time.perf_counter() - started

        @functools.wraps(send_deliveries)
        def timed_send(self: Any, deliveries: list[tuple[uuid.UUID, str]]) -> None:
            started = time.perf_counter()
            try:
                send_deliveries(self, deliveries)
            finally:
                with timer._lock:
                    timer.send_seconds += time.perf_counter() - started
                    timer.messages += len(deliveries)

        outbox.relay_batch = timed_batch
        Relay.relay_once = timed_once  # type: ignore[method-assign]
        Broker.send_deliveries = timed_send  # type: ignore[method-assign]

    def snapshot(self) -> dict[str, float]:
        return {
            "passes": self.passes,
            "pass_seconds": self.pass_seconds,
            "batch_seconds": self.batch_seconds,
            "send_seconds": self.send_seconds,
            "messages": self.messages,
        }

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
        d = {k: after[k] - before[k] for k in after}
        return {
            "passes": int(d["passes"]),
            "seconds_in_passes": round(d["pass_seconds"], 2),
            "seconds_assigning_positions": round(d["batch_seconds"], 2),
            "seconds_sending_to_broker": round(d["send_seconds"], 2),
            "messages_sent": int(d["messages"]),
            "broker_sends_per_second": round(d["messages"] / d["send_seconds"], 1)
            if d["send_seconds"]
            else None,
        }


# --- worker subprocess ----------------------------------------------------------------------
@contextlib.contextmanager
def worker_processes(
    env: Environment, *, redis_url: str, namespace: str, processes: int, threads: int
) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [TRAMA, "worker", "--processes", str(processes), "--threads", str(threads)],
        env={
            **env.env,
            "TRAMA_REDIS_URL": redis_url,
            "TRAMA_REDIS_NAMESPACE": namespace,
            "TRAMA_WORKER_MODULES": CONSUMER_MODULE,
            "TRAMA_RELAY_SWEEP_INTERVAL": "3600",
            # the console script does not put the checkout on sys.path; bench.consumers is there
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ready = threading.Semaphore(0)

    def follow() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if "ready" in line:
                ready.release()

    threading.Thread(target=follow, daemon=True).start()
    try:
        for _ in range(processes):
            if not ready.acquire(timeout=60):
                raise RuntimeError("trama worker did not become ready")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- committing and watching ----------------------------------------------------------------
async def commit_events(topic: str, count: int, batch: int, rate: float = 0) -> float:
    """Commit ``count`` events, ``batch`` per transaction, as fast as possible or ``rate``
    events a second. Returns the seconds it took."""
    from app.db import transaction
    from domain.shared import outbox

    started = time.perf_counter()
    for start in range(0, count, batch):
        if rate > 0:
            delay = started + start / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        async with transaction() as session:
            for n in range(start, min(count, start + batch)):
                outbox.add(session, topic, {"n": n}, key=str(n))
    return time.perf_counter() - started


async def _counts(topic: str) -> tuple[int, int]:
    """(events without a position, deliveries done) of ``topic``."""
    from app.db import read_session
    from domain.shared.models import table_of
    from domain.shared.outbox import EventDelivery, OutboxEvent

    events = table_of(OutboxEvent)
    deliveries = table_of(EventDelivery)
    async with read_session() as session:
        unrelayed = (
            await session.execute(
                sa.select(sa.func.count()).where(
                    events.c.topic == topic, events.c.position.is_(None)
                )
            )
        ).scalar_one()
        done = (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(deliveries.join(events, events.c.id == deliveries.c.event_id))
                .where(events.c.topic == topic, deliveries.c.status == "done")
            )
        ).scalar_one()
    return int(unrelayed), int(done)


async def wait_done(topic: str, count: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        unrelayed, done = await _counts(topic)
        if unrelayed == 0 and done >= count:
            return True
        await asyncio.sleep(0.2)
    return False


async def timings(topic: str) -> list[tuple[datetime, datetime | None, datetime | None]]:
    from app.db import read_session
    from domain.shared.models import table_of
    from domain.shared.outbox import EventDelivery, OutboxEvent

    events = table_of(OutboxEvent)
    deliveries = table_of(EventDelivery)
    async with read_session() as session:
        rows = (
            await session.execute(
                sa.select(events.c.created_at, events.c.relayed_at, deliveries.c.done_at)
                .select_from(events.outerjoin(deliveries, events.c.id == deliveries.c.event_id))
                .where(events.c.topic == topic)
            )
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


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


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def summarize(
    rows: list[tuple[datetime, datetime | None, datetime | None]],
    *,
    started: datetime,
    live: bool,
) -> dict[str, Any]:
    relayed = [r[1] for r in rows if r[1] is not None]
    done = [r[2] for r in rows if r[2] is not None]
    n = len(rows)
    out: dict[str, Any] = {"events": n, "relayed": len(relayed), "delivered": len(done)}
    if relayed:
        relay_s = (max(relayed) - started).total_seconds()
        out["relay_seconds"] = round(relay_s, 2)
        out["relay_events_per_second"] = round(len(relayed) / relay_s, 1)
    if done:
        e2e = (max(done) - started).total_seconds()
        out["end_to_end_seconds"] = round(e2e, 2)
        out["events_per_second"] = round(len(done) / e2e, 1)
    if live and done:
        to_relay = [(r[1] - r[0]).total_seconds() for r in rows if r[1] is not None]
        to_actor = [(r[2] - r[0]).total_seconds() for r in rows if r[2] is not None]
        out["commit_to_relay_ms"] = {
            "p50": _ms(percentile(to_relay, 50)),
            "p99": _ms(percentile(to_relay, 99)),
            "max": _ms(max(to_relay)),
        }
        out["commit_to_actor_ms"] = {
            "p50": _ms(percentile(to_actor, 50)),
            "p99": _ms(percentile(to_actor, 99)),
            "max": _ms(max(to_actor)),
        }
    return out


# --- the run --------------------------------------------------------------------------------
async def run(args: argparse.Namespace, env: Environment) -> dict[str, Any]:
    from app.db import close_database, init_database, on_events_committed
    from app.settings import Settings
    from workers.registry import load_modules

    init_database(env.database_url, pool_size=10)
    await delete_bench_events()
    load_modules([CONSUMER_MODULE])
    timer = RelayTimer()
    timer.install()
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    settings = Settings(
        database_url=env.database_url,
        redis_url=args.redis_url if args.mode == "redis" else None,
        redis_namespace=namespace,
        worker_modules=[CONSUMER_MODULE],
        embedded_worker_threads=args.threads,
        var_dir=env.var_dir,
    )
    results: dict[str, Any] = {}
    stack = contextlib.ExitStack()
    worker: subprocess.Popen[str] | None = None
    relay: Any = None
    backbone: Any = None
    publisher: Any = None
    unhook: Any = None

    async def start_relay() -> None:
        nonlocal relay, backbone, publisher, unhook
        if args.mode == "redis":
            from workers.broker import Broker
            from workers.fanout import RedisPublisher
            from workers.relay import Relay

            publisher = RedisPublisher(args.redis_url, f"{namespace}:events")
            relay = Relay(Broker(args.redis_url, namespace=namespace), publisher=publisher)
            await relay.start()
            unhook = on_events_committed(relay.wake)
            relay.wake()
        else:
            from workers.backbone import Backbone

            backbone = Backbone(settings, role="api")
            await backbone.start()

    try:
        if args.mode == "redis":
            worker = stack.enter_context(
                worker_processes(
                    env,
                    redis_url=args.redis_url,
                    namespace=namespace,
                    processes=args.processes,
                    threads=args.threads,
                )
            )
        for phase in args.phases:
            topic = f"bench.{phase}"
            commit_s = 0.0
            if phase == "backlog":
                if relay is not None or backbone is not None:
                    raise SystemExit("the backlog phase must come first")
                commit_s = await commit_events(topic, args.events, args.batch)
            cpu0, wall0 = _cpu_times()
            own0 = time.process_time()
            worker0 = _tree_cpu(worker.pid) if worker is not None else 0.0
            timer0 = timer.snapshot()
            started = datetime.now(UTC)
            t0 = time.perf_counter()
            if phase == "backlog":
                await start_relay()
            else:
                if relay is None and backbone is None:
                    await start_relay()
                started = datetime.now(UTC)
                t0 = time.perf_counter()
                commit_s = await commit_events(topic, args.events, args.batch, args.live_rate)
            finished = await wait_done(topic, args.events, args.timeout)
            elapsed = time.perf_counter() - t0
            cpu1, wall1 = _cpu_times()
            summary = summarize(await timings(topic), started=started, live=phase == "live")
            summary["complete"] = finished
            summary["commit_seconds"] = round(commit_s, 2)
            summary["commit_events_per_second"] = round(args.events / commit_s, 1)
            summary["relay_timing"] = RelayTimer.delta(timer0, timer.snapshot())
            summary["cpu_seconds"] = {
                "benchmark_process": round(time.process_time() - own0, 1),
                "workers": round(_tree_cpu(worker.pid) - worker0, 1) if worker else None,
                "wall": round(elapsed, 1),
            }
            summary["machine_cpu_busy_fraction"] = round((cpu1 - cpu0) / max(1.0, wall1 - wall0), 2)
            results[phase] = summary
    finally:
        if unhook is not None:
            unhook()
        if relay is not None:
            await relay.stop()
            relay.broker.close()
        if publisher is not None:
            await publisher.close()
        if backbone is not None:
            await backbone.stop()
        stack.close()
        await close_database()
        if args.mode == "redis":
            forget_redis_namespace(args.redis_url, namespace)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    redis_url = os.environ.get("TRAMA_BENCH_REDIS_URL", "").strip() or None
    parser.add_argument("--events", type=int, default=10_000, help="events per phase")
    parser.add_argument("--batch", type=int, default=100, help="events per transaction")
    parser.add_argument(
        "--mode", choices=["redis", "embedded"], default="redis" if redis_url else "embedded"
    )
    parser.add_argument("--processes", type=int, default=1, help="worker processes (redis)")
    parser.add_argument(
        "--threads", type=int, default=8, help="worker threads per process (embedded: threads)"
    )
    parser.add_argument("--phases", default="backlog,live")
    parser.add_argument(
        "--live-rate",
        type=float,
        default=0,
        help="live phase: events committed per second (default 0: as fast as one writer goes)",
    )
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args(argv)
    args.redis_url = redis_url
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not set(args.phases) <= {"backlog", "live"}:
        parser.error("--phases: backlog and/or live")
    if args.mode == "redis" and not redis_url:
        parser.error("--mode redis needs TRAMA_BENCH_REDIS_URL")
    if not os.environ.get("TRAMA_BENCH_DATABASE_URL"):
        print("note: no TRAMA_BENCH_DATABASE_URL, using SQLite", file=sys.stderr)
    load_before = load_average()
    with environment(0) as env:
        results = asyncio.run(run(args, env))
    report = {
        "benchmark": "relay throughput (commit to actor)",
        "database": env.database_url.split("://")[0],
        "mode": args.mode,
        "worker_processes": args.processes if args.mode == "redis" else 0,
        "worker_threads": args.threads,
        "events_per_phase": args.events,
        "events_per_transaction": args.batch,
        "live_commit_rate": args.live_rate or "unpaced",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": load_before,
        **results,
    }
    print(json.dumps(report, indent=2))
    return 0 if all(r.get("complete") for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Real processes for the event backbone's fault tests (tests/e2e/test_backbone_processes.py).

- :class:`Cluster`: the ``trama serve`` and ``trama worker`` processes of one test, sharing
  one database, one var dir (one signing key set, so a token works on every API) and one
  environment; each process in its own process group, all stopped at the end.
- :class:`PrivateRedis`: a ``redis-server`` of the test's own on a free loopback port (the
  machine's Redis is shared, so a test that restarts Redis never touches it).
- :class:`Probe`: the test's own look at the database (the outbox, the consumer's records).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from app.auth.keys import KeyStore
from app.db import Database
from domain.shared import outbox
from domain.shared.event_schemas import global_id as gid
from domain.shared.models import table_of
from tests.e2e.conftest import STOP_TIMEOUT, Server, free_port, server_env, trama_executable

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDING_MODULE = "tests.e2e.recording_consumer"
RECORDING_CONSUMER = "tests.record"
READY_TIMEOUT = 30.0


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float, what: str, interval: float = 0.1
) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        await asyncio.sleep(interval)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # start_new_session: group id == pid


async def _terminate(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL whatever is left of the group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    _kill_group(process)
    if process.poll() is None:
        process.wait(timeout=5)


async def _hard_kill(process: subprocess.Popen[bytes]) -> None:
    _kill_group(process)
    deadline = time.monotonic() + 5
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def _tail(path: Path, size: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except FileNotFoundError:
        return ""


class Api(Server):
    """``trama serve`` (the harness's :class:`Server`), which can also be SIGKILLed."""

    async def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            await _hard_kill(process)


@dataclass
class Worker:
    """``trama worker``: ready once it prints ``trama worker <pid> ready``."""

    env: dict[str, str]
    cwd: Path
    log_path: Path
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return _tail(self.log_path)

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [trama_executable(), "worker", *self.args],
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        ready = f"trama worker {self.process.pid} ready"
        deadline = time.monotonic() + READY_TIMEOUT
        while ready not in _tail(self.log_path, 100_000):
            if self.process.poll() is not None:
                raise AssertionError(
                    f"trama worker exited with {self.process.returncode}:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"trama worker not ready within {READY_TIMEOUT}s:\n{self.log()}"
                )
            await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL the worker's whole process group: no shutdown, messages in flight."""
        process, self.process = self.process, None
        if process is not None:
            await _hard_kill(process)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            await _terminate(process)


@dataclass
class PrivateRedis:
    """A throwaway ``redis-server`` without persistence: a restart loses every key, as a
    crashed Redis without AOF would."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.directory / f"redis-{self.port}.log"

    def log(self) -> str:
        return _tail(self.log_path)

    async def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable, "redis-server is not installed"
        options = {
            "--port": str(self.port),
            "--bind": "127.0.0.1",
            "--save": "",
            "--appendonly": "no",
            "--daemonize": "no",
            "--dir": str(self.directory),
        }
        argv = [executable, *(part for pair in options.items() for part in pair)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(f"redis-server exited:\n{self.log()}")
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                if time.monotonic() > deadline:
                    raise AssertionError(f"redis-server not up within {READY_TIMEOUT}s")
                await asyncio.sleep(0.05)
        finally:
            client.close()

    async def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            await _hard_kill(process)


class Cluster:
    """The processes of one test. ``redis_url=None``: embedded mode (no Redis at all)."""

    def __init__(
        self,
        database_url: str,
        directory: Path,
        *,
        redis_url: str | None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.var_dir = directory / "var"
        self.var_dir.mkdir(parents=True, exist_ok=True)
        # One key set for every process, made before any of them starts (they would race).
        KeyStore.load_or_create(self.var_dir / "keys")
        base = server_env(database_url, self.var_dir)
        base.pop("TRAMA_REDIS_URL", None)
        if redis_url:
            base["TRAMA_REDIS_URL"] = redis_url
            base.setdefault("TRAMA_REDIS_NAMESPACE", f"t{uuid.uuid4().hex[:12]}")
        else:
            base.pop("TRAMA_REDIS_NAMESPACE", None)
        base.update(
            PYTHONPATH=os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
            # Every process loads the same consumers (the relay makes deliveries for those
            # loaded where it runs).
            TRAMA_WORKER_MODULES=RECORDING_MODULE,
            TRAMA_RELAY_SWEEP_INTERVAL="0.5",
            TRAMA_FANOUT_POLL_INTERVAL="1",
            # A lost message is sent again at the next sweep (every 2 s) once its delivery
            # is this old; short, so messages still queued are sometimes sent twice too,
            # which the consumer's inbox must absorb.
            TRAMA_REDELIVER_AFTER="1",
            TRAMA_SWEEP_INTERVAL="2",
            RECORDING_CONSUMER_DELAY="0.05",
        )
        base.update(env or {})
        self.env = base
        self.redis_url = redis_url
        self.apis: list[Api] = []
        self.workers: list[Worker] = []

    @property
    def namespace(self) -> str | None:
        return self.env.get("TRAMA_REDIS_NAMESPACE") if self.redis_url else None

    def api(self) -> Api:
        api = Api(
            env=self.env,
            var_dir=self.var_dir,
            log_path=self.directory / f"api{len(self.apis)}.log",
        )
        self.apis.append(api)
        return api

    def worker(self, *args: str) -> Worker:
        worker = Worker(
            env=self.env,
            cwd=self.directory,
            log_path=self.directory / f"worker{len(self.workers)}.log",
            args=args,
        )
        self.workers.append(worker)
        return worker

    async def token(self, role: str, *extra: str) -> str:
        process = await asyncio.create_subprocess_exec(
            trama_executable(), "token", "--role", role, *extra,
            env=self.env,
            cwd=self.directory,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        return out.decode().strip()

    async def stop_all(self) -> None:
        for api in self.apis:
            await api.stop()
        for worker in self.workers:
            await worker.stop()

    def logs(self) -> str:
        parts = [f"--- {a.log_path.name} (port {a.port}) ---\n{a.log()}" for a in self.apis]
        parts += [f"--- {w.log_path.name} ---\n{w.log()}" for w in self.workers]
        return "\n".join(parts)

    def forget_redis_keys(self) -> None:
        """Drop this test's keys from a shared Redis (its namespace is its own)."""
        namespace = self.namespace
        if not self.redis_url or not namespace:
            return
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=1)
            try:
                keys = list(client.scan_iter(match=f"{namespace}*", count=500))
                if keys:
                    client.delete(*keys)
            finally:
                client.close()


# --- the test's own look at the database ----------------------------------------------------
class Probe:
    """Reads (and a few writes) straight on the test's database, outside every process."""

    def __init__(self, database_url: str) -> None:
        self.database = Database(database_url, pool_size=2)
        #: customers.* events already in the database (the seed's imports) when it started.
        self.baseline = 0

    async def start(self) -> None:
        await self.execute(
            "CREATE TABLE IF NOT EXISTS test_deliveries "
            "(event_id varchar(36) PRIMARY KEY, n integer NOT NULL)"
        )
        self.baseline = len(await self.customer_events())

    async def close(self) -> None:
        await self.database.dispose()

    async def execute(self, statement: str, **params: Any) -> None:
        async with self.database.sessionmaker() as session:
            await session.execute(sa.text(statement), params)
            await session.commit()

    async def recorded(self) -> dict[str, int]:
        """event id -> how many times the recording consumer handled it."""
        async with self.database.sessionmaker() as session:
            rows = (await session.execute(sa.text("SELECT event_id, n FROM test_deliveries"))).all()
        return {str(r.event_id): int(r.n) for r in rows}

    async def customer_events(self) -> list[tuple[str, int | None]]:
        """(id, position) of every customers.* event, relayed ones in position order."""
        table = table_of(outbox.OutboxEvent)
        async with self.database.sessionmaker() as session:
            rows = (
                await session.execute(
                    sa.select(table.c.id, table.c.position)
                    .where(table.c.topic.like("customers.%"))
                    .order_by(table.c.position.is_(None), table.c.position)
                )
            ).all()
        return [(str(r.id), r.position) for r in rows]

    async def delivery_statuses(self) -> dict[str, int]:
        table = table_of(outbox.EventDelivery)
        async with self.database.sessionmaker() as session:
            rows = (
                await session.execute(
                    sa.select(table.c.status, sa.func.count())
                    .where(table.c.consumer == RECORDING_CONSUMER)
                    .group_by(table.c.status)
                )
            ).all()
        return {str(r[0]): int(r[1]) for r in rows}

    async def position_of(self, event_id: uuid.UUID) -> int | None:
        table = table_of(outbox.OutboxEvent)
        async with self.database.sessionmaker() as session:
            value = (
                await session.execute(sa.select(table.c.position).where(table.c.id == event_id))
            ).scalar()
        return int(value) if value is not None else None

    async def all_relayed(self) -> bool:
        return all(position is not None for _, position in await self.customer_events())

    async def head(self) -> int:
        async with self.database.sessionmaker() as session:
            return await outbox.last_position(session)

    async def add_events(self, count: int) -> list[uuid.UUID]:
        """Commit ``count`` customers.updated events the way another process's service would."""
        async with self.database.sessionmaker() as session:
            ids = [customer_event(session).id for _ in range(count)]
            await session.commit()
        return ids

    async def all_delivered(self, created: int) -> bool:
        """The baseline's and ``created`` more customers.* events are all recorded."""
        events = await self.customer_events()
        recorded = await self.recorded()
        return len(events) == self.baseline + created and set(recorded) == {e for e, _ in events}


def customer_event(session: Any) -> outbox.OutboxEvent:
    customer = uuid.uuid4()
    return outbox.add(
        session,
        "customers.updated",
        {
            "customerId": gid("Customer", customer),
            "homePartnerId": gid("Partner", uuid.uuid4()),
            "version": 2,
            "changed": ["email"],
        },
        key=gid("Customer", customer),
    )

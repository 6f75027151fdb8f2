"""Test harness: every test gets its own database, copied from a migrated, seeded template.

SQLite (the default) copies a file; with ``TRAMA_TEST_DATABASE_URL`` set to a Postgres
database, that database becomes the template and each test gets ``CREATE DATABASE …
TEMPLATE``. ``TRAMA_TEST_REDIS_URL`` points the Redis-backed parts at a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from app import runtime as app_runtime
from app.auth.keys import KeyStore
from app.cli import migrate
from app.compiled import compiled_read
from app.db import Database, close_database, init_database
from app.main import create_app
from app.runtime import Runtime, build_runtime
from app.settings import Settings
from schema import TramaSchema
from schema.cost import CostPolicy
from tests import clock as test_clock
from tests.event_contract import OutboxAudit
from tests.event_contract import report as event_report

# The business clock of this process: a fixed start, never the machine's date.
test_clock.install()

_build_schema = app_runtime.create_schema
_SCHEMAS: dict[tuple[Any, ...], TramaSchema] = {}


def _shared_schema(**arguments: Any) -> TramaSchema:
    """``create_schema`` once per distinct set of arguments in this process.

    The schema is made from settings alone (limits, introspection, the cost policy) and
    keeps no state between requests (its extensions are made per operation), but building
    it takes ~0.5 s of CPU: done by every test's runtime, that was a third of the suite.
    """
    key = tuple(
        sorted(
            (
                name,
                (
                    value.limit,
                    tuple(sorted(value.role_limits.items())),
                    value.default_page_size,
                    value.max_page_size,
                ),
            )
            if isinstance(value, CostPolicy)
            else (name, value)
            for name, value in arguments.items()
        )
    )
    schema = _SCHEMAS.get(key)
    if schema is None:
        schema = _SCHEMAS[key] = _build_schema(**arguments)
    return schema


app_runtime.create_schema = _shared_schema  # type: ignore[assignment]

pytest_plugins = ["tests.compiled_shadow"]

# The partner platforms of the tests are fakes on this machine: the test settings allow
# connectors to reach loopback, explicitly (every other internal address stays refused;
# tests/workers/test_connector_guard.py turns this off).
os.environ["TRAMA_CONNECTOR_ALLOWED_NETWORKS"] = "127.0.0.0/8,::1/128"

TEST_DB_URL = os.environ.get("TRAMA_TEST_DATABASE_URL", "").strip()
TEST_REDIS_URL = os.environ.get("TRAMA_TEST_REDIS_URL", "").strip()
IS_POSTGRES = TEST_DB_URL.startswith("postgresql")
SEED_CUSTOMERS = 60


def _pg_admin_dsn(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), parsed.database or ""


#: pytest-xdist runs the suite in several processes: each gets a template of its own.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


async def _fresh_database(url: str, name: str, template: str | None = None) -> str:
    """``url`` naming the database ``name``, dropped if it was there and created again
    (empty, or a copy of ``template``)."""
    admin, _ = _pg_admin_dsn(url)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        copy = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return str(make_url(url).set(database=name).render_as_string(hide_password=False))


async def _build_template(url: str, var_dir: Path) -> None:
    """Migrate and seed the database at ``url`` (the seed's client secrets go to
    ``var_dir``)."""
    from app import seed

    await asyncio.to_thread(migrate, url)
    init_database(url)
    try:
        await seed.seed(customers_count=SEED_CUSTOMERS, var_dir=var_dir)
    finally:
        await close_database()


@contextlib.asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive lock on ``path`` among the processes of the run (waited for in a
    thread: the loop goes on)."""
    with path.open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class DatabaseFactory:
    """Makes a fresh copy of the template database for each test.

    On PostgreSQL a copy costs ~0.1 s to create and ~0.7 s to drop (the drop waits on the
    server, it hardly works), which made the copies most of the suite's time. So copies are
    made ahead, a few at a time while tests run, and dropped in the background; the session
    waits for the last drops at its end.
    """

    #: Copies kept ready ahead of the tests that will take them.
    AHEAD = 2
    #: Drops running at once.
    DROPS = 4

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.template_url = ""
        self._ready: list[asyncio.Task[str]] = []
        self._drops: set[asyncio.Task[None]] = set()
        self._create_lock: asyncio.Lock | None = None
        self._drop_slots: asyncio.Semaphore | None = None
        self._admin: asyncpg.Connection | None = None
        #: Checks each copy's events against the event contract (tests/event_contract.py).
        self.events = OutboxAudit()
        self.template_event_problems: list[str] = []

    async def prepare(self, shared: Path) -> None:
        """Make this process's template: migrated and seeded, or, under pytest-xdist, a copy
        of the template the first worker of the run made in ``shared`` (the directory the
        run's workers share). Migrating and seeding take seconds of CPU; every worker did
        it before."""
        if not XDIST_WORKER:
            if IS_POSTGRES:
                self.template_url = TEST_DB_URL
            else:
                self.template_url = f"sqlite+aiosqlite:///{self.tmp / 'template.db'}"
            await _build_template(self.template_url, self.tmp)
        else:
            # The workers' templates are ``<name>_<worker>``, copies of ``<name>_shared``
            # (CI drops ``<name>_*`` at the end). Nothing connects to the shared one once
            # it is made, so the workers copy it at the same time.
            if IS_POSTGRES:
                base = make_url(TEST_DB_URL).database or ""
                shared_url = str(
                    make_url(TEST_DB_URL)
                    .set(database=f"{base}_shared")
                    .render_as_string(hide_password=False)
                )
            else:
                shared_url = f"sqlite+aiosqlite:///{shared / 'template.db'}"
            done = shared / "template.done"
            async with _file_lock(shared / "template.lock"):
                if not done.exists():
                    if IS_POSTGRES:
                        await _fresh_database(TEST_DB_URL, f"{base}_shared")
                    (shared / "var").mkdir(exist_ok=True)
                    await _build_template(shared_url, shared / "var")
                    done.touch()
            if IS_POSTGRES:
                self.template_url = await _fresh_database(
                    TEST_DB_URL, f"{base}_{XDIST_WORKER}", template=f"{base}_shared"
                )
            else:
                self.template_url = f"sqlite+aiosqlite:///{self.tmp / 'template.db'}"
                shutil.copyfile(shared / "template.db", self.tmp / "template.db")
            # what the seed wrote beside the database (demo clients' secrets, histories)
            shutil.copytree(shared / "var", self.tmp, dirs_exist_ok=True)
        self.template_event_problems = await self.events.remember_template(self.template_url)

    # PostgreSQL ---------------------------------------------------------------------------
    async def _pg_create(self) -> str:
        if self._create_lock is None:
            self._create_lock = asyncio.Lock()
        admin, template = _pg_admin_dsn(self.template_url)
        name = f"{template}_t_{uuid.uuid4().hex[:12]}"
        async with self._create_lock:  # one copy of the template at a time
            if self._admin is None or self._admin.is_closed():
                self._admin = await asyncpg.connect(admin)
            await self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return str(make_url(self.template_url).set(database=name).render_as_string(False))

    async def _pg_drop(self, url: str) -> None:
        if self._drop_slots is None:
            self._drop_slots = asyncio.Semaphore(self.DROPS)
        admin, _ = _pg_admin_dsn(url)
        async with self._drop_slots:
            conn = await asyncpg.connect(admin)
            try:
                await conn.execute(
                    f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'
                )
            finally:
                await conn.close()

    def _top_up(self) -> None:
        while len(self._ready) < self.AHEAD:
            self._ready.append(asyncio.ensure_future(self._pg_create()))

    # -------------------------------------------------------------------------------------
    async def create(self) -> str:
        if IS_POSTGRES:
            self._top_up()
            url = await self._ready.pop(0)
            self._top_up()
            return url
        name = f"t_{uuid.uuid4().hex[:12]}"
        path = self.tmp / f"{name}.db"
        shutil.copyfile(self.tmp / "template.db", path)
        return f"sqlite+aiosqlite:///{path}"

    async def drop(self, url: str) -> None:
        if IS_POSTGRES:
            task = asyncio.ensure_future(self._pg_drop(url))
            self._drops.add(task)
            task.add_done_callback(self._drops.discard)
        else:
            path = Path(make_url(url).database or "")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    async def close(self) -> None:
        """Drop the copies made ahead and wait for every drop (the end of the session)."""
        ready, self._ready = self._ready, []
        for task in ready:
            with contextlib.suppress(Exception):
                await self.drop(await task)
        while self._drops:
            await asyncio.gather(*list(self._drops), return_exceptions=True)
        if self._admin is not None:
            await self._admin.close()
            self._admin = None


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trama")


@pytest.fixture(scope="session")
def keys(session_tmp: Path) -> KeyStore:
    return KeyStore.load_or_create(session_tmp / "keys")


def make_settings(var_dir: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "var_dir": var_dir,
        "database_url": database_url,
        "issuer": "http://trama.test",
        "redis_url": TEST_REDIS_URL or None,
        # Keys and channels of one test process: parallel workers never share a bucket.
        "redis_namespace": f"trama-test-{os.getpid()}",
        "log_format": "text",
        # Compiled reads answer beside the normal path, which must agree (compiled_shadow).
        "compiled_reads": os.environ.get("TRAMA_COMPILED_READS", "shadow"),
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
async def db_factory(
    session_tmp: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(session_tmp)
    # pytest-xdist's workers each have a base directory under the run's one
    shared = tmp_path_factory.getbasetemp().parent if XDIST_WORKER else session_tmp
    await factory.prepare(shared)
    yield factory
    await factory.close()


@pytest.fixture
async def database_url(db_factory: DatabaseFactory) -> AsyncIterator[str]:
    url = await db_factory.create()
    yield url
    # Every event the test produced (in this process or a server it started) must match
    # its topic's schema: tests/event_contract.py.
    problems = await db_factory.events.problems(url)
    await db_factory.drop(url)
    if problems:
        pytest.fail(event_report(problems), pytrace=False)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = init_database(database_url)
    yield database
    await close_database()


@pytest.fixture
def settings(session_tmp: Path, database_url: str) -> Settings:
    return make_settings(session_tmp, database_url)


@pytest.fixture
def runtime(settings: Settings, keys: KeyStore, db: Database) -> Runtime:
    return build_runtime(settings)


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime.settings, runtime=runtime, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as http:
        yield http


@pytest.fixture
def token(runtime: Runtime) -> Callable[..., str]:
    """``token("agent", partner="BANCO_ANDINO")`` — a valid token signed by Trama."""
    from domain.shared.principal import Role, allowed_scopes

    def make(
        role: str,
        *,
        partner: str | None = None,
        subject: str | None = None,
        scopes: list[str] | None = None,
        ttl: int | None = None,
        now: int | None = None,
        **extra: Any,
    ) -> str:
        roles = [role]
        if scopes is None:
            scopes = sorted(s.value for s in allowed_scopes(frozenset({Role(role)})))
        issued, _ = runtime.tokens.issue(
            subject=subject or f"test:{role}@{partner or 'network'}",
            roles=roles,
            scopes=scopes,
            partner=partner,
            ttl=ttl,
            now=now,
        )
        return issued

    return make


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        accept: str = "application/json",
        expect_status: int | None = 200,
    ) -> dict[str, Any]:
        headers = {"accept": accept}
        if token:
            headers["authorization"] = f"Bearer {token}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        if expect_status is not None:
            assert response.status_code == expect_status, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if compiled_read.get():
            return  # shadow mode's second answer (app/compiled): not the path under test
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def sql_counter(db: Database) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    event.listen(db.engine.sync_engine, "before_cursor_execute", counter)
    yield counter
    event.remove(db.engine.sync_engine, "before_cursor_execute", counter)

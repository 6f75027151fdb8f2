"""Database engine, sessions and the ``transaction()`` edge.

Transactions open only at the edges (mutation resolvers, actors, CLI commands). Reads use
short sessions of their own: never share one ``AsyncSession`` between concurrent tasks.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState

from domain.shared import audit, outbox

log = logging.getLogger("trama.db")

_WRITE = "trama_write"


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions are off).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front, so two writers never deadlock on upgrade.
        if connection.get_execution_options().get(_WRITE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = make_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.url.get_backend_name() == "postgresql":
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_recycle=1800,
                # JIT compilation costs more than it saves on Trama's short OLTP queries
                # (measured: +15 to 490 ms on case searches over 100,000 cases).
                connect_args={"server_settings": {"application_name": "trama", "jit": "off"}},
            )
        else:
            kwargs.update(connect_args={"timeout": 30})
        self.engine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        #: PostgreSQL: the same pool, connections in autocommit for the API's reads (no
        #: BEGIN and ROLLBACK round trips; see :func:`request_reads`).
        self.read_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else None
        )

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    async def dispose(self) -> None:
        await self.engine.dispose()


@dataclass(frozen=True)
class _Config:
    url: str
    pool_size: int
    echo: bool


#: How to build an engine; every event loop that needs the database gets its own engine
#: from it (the API's loop, a Dramatiq worker's loop), since pooled connections are bound to
#: the loop that opened them.
_config: _Config | None = None
_by_loop: dict[int, tuple[asyncio.AbstractEventLoop, Database]] = {}
_lock = threading.Lock()
_commit_hooks: list[Callable[[], None]] = []


def configure_database(url: str, *, pool_size: int = 10, echo: bool = False) -> None:
    """Remember how to connect, without connecting (engines are made per event loop)."""
    global _config
    _config = _Config(url, pool_size, echo)


def init_database(url: str, *, pool_size: int = 10, echo: bool = False) -> Database:
    """Configure and create the engine of the running (or current) event loop."""
    configure_database(url, pool_size=pool_size, echo=echo)
    loop = _current_loop()
    database = Database(url, pool_size=pool_size, echo=echo)
    with _lock:
        _by_loop[id(loop)] = (loop, database)
    return database


def _current_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


def get_database() -> Database:
    """The database of the running event loop, created on first use from the configuration."""
    loop = _current_loop()
    with _lock:
        entry = _by_loop.get(id(loop))
        if entry is not None and entry[0] is loop:
            return entry[1]
        if _config is None:
            raise RuntimeError("the database is not initialised (call init_database first)")
        database = Database(_config.url, pool_size=_config.pool_size, echo=_config.echo)
        _by_loop[id(loop)] = (loop, database)
        return database


def database_configured() -> bool:
    return _config is not None


async def close_database() -> None:
    """Dispose of this event loop's engine and forget the configuration."""
    global _config
    loop = _current_loop()
    with _lock:
        entry = _by_loop.pop(id(loop), None)
        others = list(_by_loop.values())
        _by_loop.clear()
        _config = None
    if entry is not None:
        await entry[1].dispose()
    for other_loop, database in others:
        # Engines of other loops are disposed on their own loop when it still runs.
        if other_loop.is_running() and not other_loop.is_closed():
            asyncio.run_coroutine_threadsafe(database.dispose(), other_loop)


async def close_loop_database() -> None:
    """Dispose of the running loop's engine only (a worker's loop shutting down)."""
    loop = _current_loop()
    with _lock:
        entry = _by_loop.pop(id(loop), None)
    if entry is not None:
        await entry[1].dispose()


def on_events_committed(hook: Callable[[], None]) -> Callable[[], None]:
    """Call ``hook`` (thread-safe, non-blocking) after each commit that added outbox
    events. Returns a function that removes it."""
    _commit_hooks.append(hook)

    def remove() -> None:
        if hook in _commit_hooks:
            _commit_hooks.remove(hook)

    return remove


def _events_committed() -> None:
    for hook in list(_commit_hooks):
        try:
            hook()
        except Exception:  # a wake-up is a hint; the relay's sweep catches up anyway
            log.exception("outbox commit hook failed")


@asynccontextmanager
async def transaction() -> AsyncIterator[AsyncSession]:
    """All or nothing: commit when the block ends, roll back on any exception.

    Audit records queued by services are chained and written just before commit.
    """
    async with get_database().sessionmaker() as session:
        await session.connection(execution_options={_WRITE: True})
        try:
            yield session
            await audit.seal(session)
            added_events = session.info.pop(outbox.ADDED_FLAG, False)
            await session.commit()
        except BaseException:
            session.info.pop(outbox.ADDED_FLAG, None)
            audit.discard_pending(session)
            await session.rollback()
            raise
        if added_events:
            _events_committed()


class ReadSessionWrote(RuntimeError):
    """A statement other than a read ran in an API request's read session."""


class _RequestReads:
    """The reads of one API request: one pooled connection, in autocommit, lent to one
    read session at a time."""

    __slots__ = ("busy", "connection", "database")

    def __init__(self, database: Database) -> None:
        self.database = database
        self.connection: AsyncConnection | None = None
        self.busy = False


_request_reads: ContextVar[_RequestReads | None] = ContextVar("trama_request_reads", default=None)


def _refuse_writes(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadSessionWrote("a read session of a query request ran an INSERT, UPDATE or DELETE")


@asynccontextmanager
async def request_reads() -> AsyncIterator[None]:
    """The read sessions of one API request (a GraphQL query) share a connection.

    On PostgreSQL each read session otherwise checks a connection out of the pool, sends
    ``BEGIN``, its statements, ``ROLLBACK`` and checks it in: two round trips and the pool's
    bookkeeping per session, several sessions per request (the root field, each DataLoader
    batch). Inside this block the first read session checks out one connection in
    autocommit — under READ COMMITTED every statement takes its own snapshot anyway, so a
    read sees exactly what it saw in a transaction — and the following ones reuse it. A
    read session opened while that connection is lent (DataLoader batches run
    concurrently) gets a pooled autocommit connection of its own: one session is never
    shared between tasks. Read sessions in here refuse INSERT, UPDATE and DELETE
    (autocommit would keep a write that a rolled-back read session used to discard).
    SQLite: unchanged (a local BEGIN costs nothing and gives multi-statement reads one
    snapshot).
    """
    database = get_database()
    if database.read_engine is None:
        yield
        return
    holder = _RequestReads(database)
    token = _request_reads.set(holder)
    try:
        yield
    finally:
        _request_reads.reset(token)
        if holder.connection is not None:
            connection, holder.connection = holder.connection, None
            await connection.close()


@asynccontextmanager
async def read_session() -> AsyncIterator[AsyncSession]:
    """A short unit of work for reads. Closing it returns the connection, whose
    transaction the pool rolls back; loaded objects stay readable (detached, not expired).
    Inside :func:`request_reads` (PostgreSQL), the request's connection in autocommit."""
    holder = _request_reads.get()
    if holder is None:
        async with get_database().sessionmaker() as session:
            yield session
        return
    read_engine = holder.database.read_engine
    assert read_engine is not None
    if holder.busy:
        async with AsyncSession(read_engine, expire_on_commit=False) as session:
            event.listen(session.sync_session, "do_orm_execute", _refuse_writes)
            yield session
        return
    holder.busy = True
    try:
        if holder.connection is None:
            holder.connection = await read_engine.connect()
        async with AsyncSession(holder.connection, expire_on_commit=False) as session:
            event.listen(session.sync_session, "do_orm_execute", _refuse_writes)
            yield session
    except BaseException:
        # A failed statement leaves an autocommit connection usable, but a broken one would
        # not be: the next session of the request checks out another.
        if holder.connection is not None:
            connection, holder.connection = holder.connection, None
            await connection.close()
        raise
    finally:
        holder.busy = False

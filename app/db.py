"""Database engine, sessions and the ``transaction()`` edge.

Transactions open only at the edges (mutation resolvers, actors, CLI commands). Reads use
short sessions of their own: never share one ``AsyncSession`` between concurrent tasks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from domain.shared import audit

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
                connect_args={"server_settings": {"application_name": "trama"}},
            )
        else:
            kwargs.update(connect_args={"timeout": 30})
        self.engine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    async def dispose(self) -> None:
        await self.engine.dispose()


_database: Database | None = None


def init_database(url: str, *, pool_size: int = 10, echo: bool = False) -> Database:
    global _database
    _database = Database(url, pool_size=pool_size, echo=echo)
    return _database


def get_database() -> Database:
    if _database is None:
        raise RuntimeError("the database is not initialised (call init_database first)")
    return _database


async def close_database() -> None:
    global _database
    if _database is not None:
        await _database.dispose()
        _database = None


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
            await session.commit()
        except BaseException:
            audit.discard_pending(session)
            await session.rollback()
            raise


@asynccontextmanager
async def read_session() -> AsyncIterator[AsyncSession]:
    """A short unit of work for reads. Closing it returns the connection, whose
    transaction the pool rolls back; loaded objects stay readable (detached, not expired)."""
    async with get_database().sessionmaker() as session:
        yield session

"""The read sessions of one query request (app/db.py ``request_reads``): on PostgreSQL one
pooled connection in autocommit, lent to one session at a time; SQLite unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app.db import Database, ReadSessionWrote, read_session, request_reads
from app.main import create_app
from app.runtime import build_runtime
from app.settings import Settings
from domain.partners.models import Partner
from tests.conftest import IS_POSTGRES


class Checkouts:
    def __init__(self, database: Database) -> None:
        self.count = 0
        self.engine = database.engine.sync_engine
        event.listen(self.engine, "checkout", self)

    def __call__(self, *args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "checkout", self)


async def connection_id(session: Any) -> int:
    return id((await session.connection()).sync_connection.connection.dbapi_connection)


async def test_a_request_reuses_one_connection(db: Database) -> None:
    checkouts = Checkouts(db)
    try:
        async with request_reads():
            async with read_session() as one:
                first = await connection_id(one)
                await one.execute(sa.select(Partner.code))
            async with read_session() as two:
                second = await connection_id(two)
                await two.execute(sa.select(Partner.code))
    finally:
        checkouts.close()
    if IS_POSTGRES:
        assert first == second and checkouts.count == 1
    else:
        assert checkouts.count == 2  # SQLite: a session per read, as outside requests


@pytest.mark.skipif(not IS_POSTGRES, reason="autocommit reads are PostgreSQL's")
async def test_reads_run_in_autocommit(db: Database) -> None:
    statement = sa.text("SELECT txid_current()")
    async with read_session() as outside:
        # One transaction for the session: both statements see the same transaction id.
        first = (await outside.execute(statement)).scalar()
        assert (await outside.execute(statement)).scalar() == first
    async with request_reads(), read_session() as inside:
        # In autocommit every statement is a transaction of its own (no BEGIN, no ROLLBACK).
        first = (await inside.execute(statement)).scalar()
        assert (await inside.execute(statement)).scalar() != first


async def test_concurrent_reads_never_share_a_session(db: Database) -> None:
    seen: list[int] = []
    release = asyncio.Event()

    async def read() -> None:
        async with read_session() as session:
            seen.append(await connection_id(session))
            await session.execute(sa.select(Partner.code))
            if len(seen) == 2:
                release.set()
            await asyncio.wait_for(release.wait(), 5)

    async with request_reads():
        await asyncio.gather(read(), read())
    assert len(set(seen)) == 2


async def test_read_sessions_of_a_request_refuse_writes(db: Database) -> None:
    if not IS_POSTGRES:
        pytest.skip("SQLite read sessions keep their transaction (rolled back at close)")
    async with request_reads():
        with pytest.raises(ReadSessionWrote):
            async with read_session() as session:
                await session.execute(
                    sa.update(Partner).where(Partner.code == "BANCO_ANDINO").values(name="X")
                )
        # The request goes on with a fresh connection.
        async with read_session() as session:
            names = (await session.execute(sa.select(Partner.name))).scalars().all()
    assert "X" not in names


# Shadow mode (tests' default once compiled reads exist) answers a request twice on purpose;
# what a served request costs is measured with each path that serves: the normal one, and
# the compiled one where this Trama has it.
CUSTOMERS_WITH_PARTNERS = "{ customers(first: 20) { edges { node { id homePartner { code } } } } }"
SERVED_PATHS = ["off", "on"] if "compiled_reads" in Settings.model_fields else [None]


@pytest.mark.parametrize("compiled", SERVED_PATHS)
async def test_a_query_request_checks_out_once(
    settings: Settings, db: Database, token: Callable[..., str], compiled: str | None
) -> None:
    """A customers page with each home partner: the root field's read and the partners'
    DataLoader batch, one connection (PostgreSQL)."""
    if compiled is not None:
        settings = Settings(**(settings.model_dump() | {"compiled_reads": compiled}))
    app = create_app(settings, runtime=build_runtime(settings), manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as client:
        checkouts = Checkouts(db)
        try:
            response = await client.post(
                "/graphql",
                json={"query": CUSTOMERS_WITH_PARTNERS},
                headers={"authorization": f"Bearer {token('admin')}"},
            )
        finally:
            checkouts.close()
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    if IS_POSTGRES:
        assert checkouts.count == 1

"""What a query request costs on the wire to PostgreSQL (README, "Serving"): once the
process is warm, only its reads — no ``BEGIN``/``ROLLBACK``, no connection reset (asyncpg's
``RESET ALL``/``UNLISTEN``… of its own pools, or a ``ROLLBACK`` at check-in), no ``SET`` —
and each statement prepared once per connection (asyncpg's statement cache behind
SQLAlchemy's compiled cache), then only bound and executed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event

from app.db import Database
from tests.conftest import IS_POSTGRES

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="asyncpg's protocol: PostgreSQL")

CUSTOMERS = (
    "{ customers(first: 20) { edges { node { id givenNames email homePartner { code } } } } }"
)


async def test_a_warm_query_request_sends_only_its_prepared_reads(
    client: httpx.AsyncClient,
    db: Database,
    token: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = {"authorization": f"Bearer {token('agent', partner='BANCO_ANDINO')}"}

    async def ask() -> None:
        response = await client.post("/graphql", json={"query": CUSTOMERS}, headers=headers)
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        assert body["data"]["customers"]["edges"]

    await ask()  # warm: the partner directory, the pool's connections, the caches

    simple: list[str] = []
    prepared: list[tuple[int, str]] = []
    executed = 0
    execute = asyncpg.connection.Connection.execute
    prepare = asyncpg.connection.Connection.prepare

    async def counted_execute(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        simple.append(query)  # asyncpg's transactions and resets go through here
        return await execute(self, query, *args, **kw)

    async def counted_prepare(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        prepared.append((id(self), query))
        return await prepare(self, query, *args, **kw)

    def counted(*_: Any) -> None:
        nonlocal executed
        executed += 1

    monkeypatch.setattr(asyncpg.connection.Connection, "execute", counted_execute)
    monkeypatch.setattr(asyncpg.connection.Connection, "prepare", counted_prepare)
    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        for _ in range(8):
            await ask()
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    assert simple == [], simple
    assert executed >= 8
    # Each statement prepared at most once on a connection, and fewer prepares than
    # executions: the cache is what answered the rest.
    assert len(prepared) == len(set(prepared)), prepared
    assert len(prepared) < executed

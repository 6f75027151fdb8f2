"""Persisted queries (app/persisted_queries.py): Apollo's APQ protocol as Apollo Client's
persisted-query link speaks it, GET with the hash for CDNs, and the allow-list mode."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from app.db import transaction
from app.main import create_app
from app.persisted_queries import MemoryStore, PersistedQueries, RedisStore
from app.runtime import build_runtime
from app.settings import Settings
from domain.customers.models import Customer
from domain.persisted_queries import service
from domain.shared.principal import SYSTEM
from tests.conftest import TEST_REDIS_URL

VIEWER = "query Me { viewer { subject roles } }"
SIMULATE = (
    "query Simulate($input: SimulateCreditInput!) "
    "{ simulateCredit(input: $input) { cae { percent } } }"
)
SIMULATION_INPUT = {
    "principal": {"amount": "1000000", "currency": "CLP"},
    "annualRate": "0.12",
    "termMonths": 12,
    "disbursementDate": "2024-01-15",
}
CREATE = (
    "mutation New($n: String!) { createCustomer(input: {nationalId: {type: CL_RUT, "
    'number: $n}, givenNames: "Ana", familyNames: "Allow"}) { __typename } }'
)
JSON = {"accept": "application/json"}


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def extension(document: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha(document)}}


async def served(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    # A Redis namespace of its own: documents registered by other tests are not there.
    namespace = f"{settings.redis_namespace}-{uuid.uuid4().hex[:8]}"
    custom = Settings(**(settings.model_dump() | {"redis_namespace": namespace} | overrides))
    runtime = build_runtime(custom)
    app = create_app(custom, runtime=runtime, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as http:
            http.runtime = runtime  # type: ignore[attr-defined]
            yield http
    finally:
        await runtime.persisted_queries.close()


@pytest.fixture
async def apq(settings: Settings, db: Any) -> AsyncIterator[httpx.AsyncClient]:
    async for http in served(settings, persisted_queries="apq"):
        yield http


@pytest.fixture
async def allowlist(settings: Settings, db: Any) -> AsyncIterator[httpx.AsyncClient]:
    async for http in served(settings, persisted_queries="allowlist"):
        yield http


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **JSON}


def only_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    return dict(error)


async def test_apollo_client_sequence(apq: httpx.AsyncClient, token: Callable[..., str]) -> None:
    """What apollo-link-persisted-queries sends: the hash alone; on PersistedQueryNotFound
    the hash with the document; from then on the hash alone works."""
    headers = auth(token("agent", partner="BANCO_ANDINO"))
    hashed = {"operationName": "Me", "variables": {}, "extensions": extension(VIEWER)}

    first = await apq.post("/graphql", json=hashed, headers=headers)
    assert first.status_code == 200  # as Apollo Server: not an HTTP failure
    assert only_error(first) == {
        "message": "PersistedQueryNotFound",
        "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
    }
    assert first.headers["cache-control"] == "private, no-cache, must-revalidate"

    second = await apq.post("/graphql", json={**hashed, "query": VIEWER}, headers=headers)
    assert second.status_code == 200
    assert second.json()["data"]["viewer"]["roles"] == ["agent"]
    assert second.headers["cache-control"] == "no-store"

    third = await apq.post("/graphql", json=hashed, headers=headers)
    assert third.json() == second.json()
    # The graphql-response+json media type gets the same protocol.
    fourth = await apq.post(
        "/graphql",
        json=hashed,
        headers={**headers, "accept": "application/graphql-response+json"},
    )
    assert fourth.status_code == 200 and fourth.json() == second.json()


async def test_bad_persisted_query_requests(
    apq: httpx.AsyncClient, token: Callable[..., str]
) -> None:
    headers = auth(token("admin"))
    cases = [
        (
            {"query": VIEWER, "extensions": extension(VIEWER + " ")},
            "provided sha does not match query",
        ),
        ({"extensions": extension(VIEWER, version=2)}, "Unsupported persisted query version"),
        ({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "xyz"}}}, "hex SHA-256"),
        ({"extensions": {"persistedQuery": "abc"}}, "must be an object"),
        ({"query": 12, "extensions": extension(VIEWER)}, "must be a string"),
    ]
    for body, message in cases:
        response = await apq.post("/graphql", json=body, headers=headers)
        assert response.status_code == 400, response.text
        error = only_error(response)
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert message in error["message"]
    # None of them registered anything.
    again = await apq.post("/graphql", json={"extensions": extension(VIEWER)}, headers=headers)
    assert only_error(again)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # A document that does not validate is answered with its errors and not kept.
    broken = "query Broken { viewer { nope } }"
    response = await apq.post(
        "/graphql", json={"query": broken, "extensions": extension(broken)}, headers=headers
    )
    assert only_error(response)["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    response = await apq.post("/graphql", json={"extensions": extension(broken)}, headers=headers)
    assert only_error(response)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_get_with_the_hash_is_cacheable_for_public_queries_only(
    apq: httpx.AsyncClient, token: Callable[..., str]
) -> None:
    params = {
        "operationName": "Simulate",
        "variables": orjson.dumps({"input": SIMULATION_INPUT}).decode(),
        "extensions": orjson.dumps(extension(SIMULATE)).decode(),
    }
    missing = await apq.get("/graphql", params=params, headers=JSON)
    assert only_error(missing)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert missing.headers["cache-control"] == "private, no-cache, must-revalidate"
    # Registered over GET too (Apollo Client retries with POST; both work).
    registered = await apq.get("/graphql", params={**params, "query": SIMULATE}, headers=JSON)
    assert registered.status_code == 200, registered.text

    response = await apq.get("/graphql", params=params, headers=JSON)
    assert response.status_code == 200
    assert float(response.json()["data"]["simulateCredit"]["cae"]["percent"]) > 0
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["vary"] == "Accept, Authorization"

    # The same URL with a token is the caller's own answer: never cached.
    signed = await apq.get("/graphql", params=params, headers=auth(token("admin")))
    assert signed.status_code == 200 and signed.headers["cache-control"] == "no-store"
    # An answer with errors is not cached either.
    bad = {
        **params,
        "variables": orjson.dumps({"input": {**SIMULATION_INPUT, "termMonths": 0}}).decode(),
    }
    failed = await apq.get("/graphql", params=bad, headers=JSON)
    assert "errors" in failed.json() and failed.headers["cache-control"] == "no-store"
    # Nor a query that is not public (anonymous, it is refused anyway).
    await apq.post(
        "/graphql",
        json={"query": VIEWER, "extensions": extension(VIEWER)},
        headers=auth(token("admin")),
    )
    private = await apq.get(
        "/graphql",
        params={"extensions": orjson.dumps(extension(VIEWER)).decode()},
        headers=auth(token("admin")),
    )
    assert private.json()["data"]["viewer"]["roles"] == ["admin"]
    assert private.headers["cache-control"] == "no-store"
    # Mutations by hash over GET are refused like any GET mutation.
    await apq.post(
        "/graphql",
        json={"query": CREATE, "variables": {"n": "11.111.111-1"}, "extensions": extension(CREATE)},
        headers=auth(token("agent", partner="BANCO_ANDINO")),
    )
    mutation = await apq.get(
        "/graphql",
        params={
            "extensions": orjson.dumps(extension(CREATE)).decode(),
            "variables": '{"n":"5.126.663-3"}',
        },
        headers=auth(token("agent", partner="BANCO_ANDINO")),
    )
    assert mutation.status_code == 405


async def test_off_says_not_supported(
    settings: Settings, db: Any, token: Callable[..., str]
) -> None:
    async for http in served(settings, persisted_queries="off"):
        headers = auth(token("admin"))
        response = await http.post(
            "/graphql", json={"query": VIEWER, "extensions": extension(VIEWER)}, headers=headers
        )
        assert only_error(response) == {
            "message": "PersistedQueryNotSupported",
            "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
        }
        # Without the extension, documents run as usual.
        plain = await http.post("/graphql", json={"query": VIEWER}, headers=headers)
        assert plain.json()["data"]["viewer"]["roles"] == ["admin"]


async def register(*documents: str) -> None:
    async with transaction() as session:
        await service.add_documents(
            session,
            principal=SYSTEM,
            documents=[service.NewDocument(d, ["x"], source="test") for d in documents],
        )


async def customers_named_allow() -> int:
    async with transaction() as session:
        found = await session.execute(
            sa.select(sa.func.count()).select_from(Customer).where(Customer.family_names == "Allow")
        )
        return int(found.scalar_one())


async def test_allowlist_runs_registered_documents_only(
    allowlist: httpx.AsyncClient, token: Callable[..., str]
) -> None:
    headers = auth(token("agent", partner="BANCO_ANDINO"))
    # Not registered: refused with a clear code, whole document or by hash, and nothing runs.
    refused = await allowlist.post(
        "/graphql", json={"query": CREATE, "variables": {"n": "11.111.111-1"}}, headers=headers
    )
    assert refused.status_code == 403
    error = only_error(refused)
    assert error["extensions"] == {"code": "PERSISTED_QUERY_NOT_IN_LIST"}
    assert sha(CREATE) in error["message"]
    assert await customers_named_allow() == 0
    by_hash = await allowlist.post(
        "/graphql", json={"extensions": extension(VIEWER)}, headers=headers
    )
    assert only_error(by_hash)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # The client's APQ retry (hash and document) cannot register it here.
    retry = await allowlist.post(
        "/graphql", json={"query": VIEWER, "extensions": extension(VIEWER)}, headers=headers
    )
    assert only_error(retry)["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
    # A registered document runs, sent whole or by hash; a copy that differs is refused.
    await register(VIEWER, CREATE)
    # (An API process reads the list again on a miss at most every 2 s: a client that asked
    # for this very document a moment ago waits that long; here, no waiting.)
    allowlist.runtime.persisted_queries.allow_list.invalidate()  # type: ignore[attr-defined]
    whole = await allowlist.post("/graphql", json={"query": VIEWER}, headers=headers)
    assert whole.json()["data"]["viewer"]["roles"] == ["agent"]
    hashed = await allowlist.post(
        "/graphql", json={"extensions": extension(VIEWER)}, headers=headers
    )
    assert hashed.json() == whole.json()
    other = await allowlist.post("/graphql", json={"query": VIEWER + " "}, headers=headers)
    assert only_error(other)["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
    created = await allowlist.post(
        "/graphql", json={"query": CREATE, "variables": {"n": "11.111.111-1"}}, headers=headers
    )
    assert created.json()["data"]["createCustomer"]["__typename"] == "CreateCustomerSuccess"
    assert await customers_named_allow() == 1


async def test_router_clients_are_exempt_from_the_allowlist(
    settings: Settings, db: Any, keys: Any
) -> None:
    async for http in served(
        settings, persisted_queries="allowlist", federation_router_clients=["router-1"]
    ):
        runtime = build_runtime(settings)
        router, _ = runtime.tokens.issue(subject="router-1", roles=["admin"], client_id="router-1")
        other, _ = runtime.tokens.issue(subject="other", roles=["admin"], client_id="other")
        ok = await http.post("/graphql", json={"query": VIEWER}, headers=auth(router))
        assert ok.json()["data"]["viewer"]["roles"] == ["admin"]
        no = await http.post("/graphql", json={"query": VIEWER}, headers=auth(other))
        assert only_error(no)["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"


class FakeRedis:
    """get/set/aclose of redis.asyncio, in memory (when no TRAMA_TEST_REDIS_URL)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.ttls: dict[str, int] = {}

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    async def set(self, key: str, value: bytes, ex: int) -> None:
        self.data[key], self.ttls[key] = value, ex

    async def aclose(self) -> None:
        return None


async def test_documents_are_shared_through_redis(settings: Settings, db: Any) -> None:
    """Two API processes: a document registered on one is found by hash on the other."""
    namespace = f"trama-test-apq-{uuid.uuid4().hex[:8]}"
    fake = None if TEST_REDIS_URL else FakeRedis()

    def process() -> PersistedQueries:
        store = RedisStore(TEST_REDIS_URL or "redis://unused", namespace, 600, client=fake)
        return PersistedQueries(settings, build_runtime(settings).schema._schema, store=store)

    one, two = process(), process()
    try:
        await one.resolve({"query": VIEWER, "extensions": extension(VIEWER)})
        found = await two.resolve({"extensions": extension(VIEWER)})
        assert found["query"] == VIEWER
        # A value in Redis that is not the hash's document is never run.
        assert two.store is not None
        await two.store.put(sha(SIMULATE), VIEWER)
        assert await two.store.get(sha(SIMULATE)) is None
    finally:
        if TEST_REDIS_URL:
            await one.store.redis.delete(
                f"{namespace}:apq:{sha(VIEWER)}", f"{namespace}:apq:{sha(SIMULATE)}"
            )  # type: ignore[union-attr]
        await one.close()
        await two.close()


def test_the_memory_store_is_bounded() -> None:
    store = MemoryStore(max_entries=2, max_chars=30)
    store.put_now("a", "x" * 10)
    store.put_now("b", "y" * 10)
    store.get_now("a")  # recent
    store.put_now("c", "z" * 10)
    assert store.get_now("b") is None and store.get_now("a") and store.get_now("c")
    store.put_now("d", "w" * 25)  # over the characters: the oldest go first
    assert store.get_now("a") is None and store.get_now("c") is None
    store.put_now("e", "v" * 31)  # larger than the whole store: not kept
    assert store.get_now("e") is None and store.get_now("d")


def test_the_allowlist_holds_on_websockets_too(settings: Settings) -> None:
    """Operations over WebSocket (both protocols) are held to the list as on HTTP: an
    unregistered document is refused with the same code and nothing runs; a registered one
    runs."""
    from tests.api.test_websocket import (
        LEGACY_WS,
        TestClient,
        issue,
        legacy_messages,
        run_transport_ws,
    )

    namespace = f"{settings.redis_namespace}-{uuid.uuid4().hex[:8]}"
    custom = Settings(
        **(settings.model_dump() | {"persisted_queries": "allowlist", "redis_namespace": namespace})
    )
    runtime = build_runtime(custom)
    app = create_app(custom, runtime=runtime, manage_database=True)
    with TestClient(app, base_url="http://trama.test") as client:
        auth = {"Authorization": f"Bearer {issue(runtime)}"}
        [error] = run_transport_ws(client, auth, VIEWER)
        assert error["id"] == "op-1" and error["type"] == "error"
        assert [e["extensions"]["code"] for e in error["payload"]] == [
            "PERSISTED_QUERY_NOT_IN_LIST"
        ]
        assert sha(VIEWER) in error["payload"][0]["message"]
        # The legacy protocol too, before its own checks (it would otherwise answer that
        # queries are not allowed there).
        with client.websocket_connect("/graphql", subprotocols=[LEGACY_WS]) as ws:
            ws.send_json({"type": "connection_init", "payload": auth})
            incoming = legacy_messages(ws)
            assert next(incoming)["type"] == "connection_ack"
            ws.send_json({"id": "1", "type": "start", "payload": {"query": VIEWER}})
            answer = next(incoming)
            assert answer["id"] == "1" and answer["type"] == "error"
            assert answer["payload"]["extensions"] == {"code": "PERSISTED_QUERY_NOT_IN_LIST"}
        # Registered: it runs.
        client.portal.call(register, VIEWER)  # type: ignore[union-attr]
        runtime.persisted_queries.allow_list.invalidate()  # type: ignore[attr-defined]
        messages = run_transport_ws(client, auth, VIEWER)
        assert [m["type"] for m in messages] == ["next", "complete"], messages
        assert messages[0]["payload"]["data"]["viewer"]["roles"] == ["agent"]

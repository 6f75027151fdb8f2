"""Edges of the API a client or an attacker reaches: federation's `_entities` and
`_service`, field suggestions, the subscription limit, bad variables, and clients that hang
up mid-stream — each answered with a code, none logged as our failure."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
import websockets
from starlette.exceptions import StarletteDeprecationWarning
from stdnum.cl import rut
from strawberry import relay
from strawberry.asgi import ASGIWebSocketAdapter

from app.auth.keys import KeyStore
from app.db import Database, read_session
from app.main import create_app
from app.runtime import Runtime, build_runtime
from app.settings import Settings
from domain.customers.models import Customer as CustomerRow
from tests.conftest import GraphQLClient, StatementCounter, make_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


def gid(type_name: str, key: uuid.UUID | str) -> str:
    return str(relay.GlobalID(type_name, str(key)))


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def trouble(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records that would page someone: errors, or anything with a stack trace."""
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


MakeApp = Callable[..., Awaitable[tuple[GraphQLClient, Runtime]]]


@pytest.fixture
async def make_app(
    session_tmp: Path, database_url: str, keys: KeyStore, db: Database
) -> AsyncIterator[MakeApp]:
    made: list[tuple[httpx.AsyncClient, Runtime]] = []

    async def make(**overrides: Any) -> tuple[GraphQLClient, Runtime]:
        runtime = build_runtime(make_settings(session_tmp, database_url, **overrides))
        app = create_app(runtime.settings, runtime=runtime, manage_database=False)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://trama.test"
        )
        made.append((http, runtime))
        return GraphQLClient(http), runtime

    yield make
    for http, runtime in made:
        await http.aclose()
        if runtime.rate_limiter is not None:
            await runtime.rate_limiter.close()


def issue(runtime: Runtime, role: str, partner: str | None = None, **extra: Any) -> str:
    token, _ = runtime.tokens.issue(
        subject=f"edges:{role}@{partner}", roles=[role], partner=partner, **extra
    )
    return token


async def some_customers(count: int) -> list[CustomerRow]:
    async with read_session() as session:
        stmt = sa.select(CustomerRow).order_by(CustomerRow.national_id).limit(count)  # type: ignore[arg-type]
        return list((await session.execute(stmt)).scalars().all())


# --- _entities ------------------------------------------------------------------------------
ENTITIES = """
query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Customer { id givenNames }
    ... on Partner { id code }
  }
}
"""


async def test_entities_are_capped_like_nodes(
    gql: GraphQLClient, token: Callable[..., str], sql_counter: StatementCounter
) -> None:
    agent = token("agent", partner="BANCO_ANDINO")
    (customer,) = await some_customers(1)
    representation = {"__typename": "Customer", "id": gid("Customer", customer.id)}

    sql_counter.reset()
    bare = {"__typename": "Customer", "id": str(customer.id)}  # 12,000 fit in a request body
    body = await gql(ENTITIES, {"representations": [bare] * 12_000}, token=agent)
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "VALIDATION"
    assert error["extensions"]["field"] == "representations"
    assert "at most 100" in error["message"]
    assert not [s for s in sql_counter.statements if "FROM customers" in s]

    assert codes(await gql(ENTITIES, {"representations": [representation] * 101}, token=agent))
    body = await gql(ENTITIES, {"representations": [representation] * 100}, token=agent)
    assert "errors" not in body, body
    assert {e["givenNames"] for e in body["data"]["_entities"]} == {customer.given_names}


async def test_entities_that_name_no_entity_type_are_the_clients_mistake(
    gql: GraphQLClient, token: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    agent = token("agent", partner="BANCO_ANDINO")
    (customer,) = await some_customers(1)
    representations: list[Any] = [
        {"__typename": "Customer", "id": gid("Customer", customer.id)},
        {"__typename": "Nope", "id": "1"},  # no such type
        {"__typename": "AuditRecord", "id": "1"},  # a type, not an entity
        {"__typename": "Query"},
        {"id": gid("Customer", customer.id)},  # no __typename
        {"__typename": 7},
        "Customer",  # not an object
        {"__typename": "Customer", "id": gid("Customer", customer.id)},
    ]
    caplog.set_level(logging.INFO)
    body = await gql(ENTITIES, {"representations": representations}, token=agent)
    entities = body["data"]["_entities"]
    assert [e and e["givenNames"] for e in entities] == [customer.given_names] + [None] * 6 + [
        customer.given_names
    ]
    errors = {e["path"][1]: e for e in body["errors"]}
    assert sorted(errors) == [1, 2, 3, 4, 5, 6]
    for index, error in errors.items():
        assert error["extensions"]["code"] == "VALIDATION", error
        assert error["extensions"]["field"] == f"representations[{index}].__typename"
    assert "'Nope' is not an entity type" in errors[1]["message"]
    assert "'AuditRecord' is not an entity type" in errors[2]["message"]
    assert "`__typename` is required" in errors[4]["message"]
    assert trouble(caplog) == []


# --- _service and suggestions when introspection is off (production) -------------------------
SDL = "{ _service { sdl } }"


def test_production_turns_introspection_off(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, env="production", public_url="https://api.trama.test")
    assert settings.introspection_enabled is False
    assert Settings(var_dir=tmp_path).introspection_enabled is True


async def test_service_sdl_is_for_the_router_when_introspection_is_off(make_app: MakeApp) -> None:
    gql, runtime = await make_app(introspection=False, federation_router_clients="apollo-router")
    router = issue(runtime, "network_viewer", client_id="apollo-router")
    body = await gql(SDL, token=router)
    assert "errors" not in body, body
    assert "union _Entity" in body["data"]["_service"]["sdl"]

    refused = {
        "an agent": issue(runtime, "agent", partner="BANCO_ANDINO"),
        "an admin": issue(runtime, "admin"),
        "another client": issue(runtime, "network_viewer", client_id="someone-else"),
    }
    for who, token in refused.items():
        body = await gql(SDL, token=token)
        assert codes(body) == ["FORBIDDEN"], who
        assert body.get("data") is None
        # Not through a fragment or an alias either.
        sneaky = "query { ...S } fragment S on Query { s: _service { sdl } }"
        assert codes(await gql(sneaky, token=token)) == ["FORBIDDEN"], who
    assert codes(await gql(SDL)) == ["UNAUTHENTICATED"]

    # Nobody is the router when none is configured.
    gql, runtime = await make_app(introspection=False)
    assert codes(await gql(SDL, token=issue(runtime, "admin", client_id="apollo-router"))) == [
        "FORBIDDEN"
    ]


async def test_service_sdl_stays_open_where_introspection_is_on(make_app: MakeApp) -> None:
    gql, runtime = await make_app(introspection=True)
    body = await gql(SDL, token=issue(runtime, "agent", partner="BANCO_ANDINO"))
    assert "errors" not in body


MISTAKES: dict[str, tuple[str, dict[str, Any]]] = {
    "unknown field": ("{ partnerz { code } }", {}),
    "unknown field of an object": ("{ partners { cod } }", {}),
    "unknown argument": ("{ partners(activOnly: true) { code } }", {}),
    "unknown enum value": (
        "{ cases(view: ECOSYSTM, first: 1) { totalCount } }",
        {},
    ),
    "unknown input field in a variable": (
        "query($input: SimulateCreditInput!) { simulateCredit(input: $input) { cae { percent } } }",
        {
            "input": {
                "principal": {"amount": "1000", "currency": "CLP"},
                "annualRate": "0.1",
                "termMonth": 12,
            }
        },
    ),
    "unknown type": ("query($v: CaseVeiw) { cases(view: $v, first: 1) { totalCount } }", {}),
}


@pytest.mark.parametrize("introspection", [True, False])
async def test_suggestions_only_where_introspection_is_on(
    make_app: MakeApp, introspection: bool
) -> None:
    gql, runtime = await make_app(introspection=introspection)
    agent = issue(runtime, "agent", partner="BANCO_ANDINO")
    suggested = 0
    for what, (query, variables) in MISTAKES.items():
        body = await gql(query, variables, token=agent)
        assert body["errors"], what
        messages = " ".join(e["message"] for e in body["errors"])
        assert all(e["extensions"]["code"] for e in body["errors"])
        if introspection:
            suggested += "Did you mean" in messages
        else:
            assert "Did you mean" not in messages, (what, messages)
    if introspection:
        assert suggested >= 5  # the test would see them


# --- variables that do not coerce ---------------------------------------------------------
BAD_VARIABLES: dict[str, tuple[str, dict[str, Any]]] = {
    "Int": ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": "ten"}),
    "Int too big": ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": 2**40}),
    "enum": ("query($v: CaseView) { cases(view: $v, first: 1) { totalCount } }", {"v": "ALL"}),
    "Date": (
        "query($i: SimulateInvestmentInput!) { simulateInvestment(input: $i) { termMonths } }",
        {
            "i": {
                "amount": {"amount": "1000", "currency": "CLP"},
                "annualRate": "0.1",
                "termMonths": 2,
                "startDate": "2026-02-30",
            }
        },
    ),
    "Decimal": (
        "query($i: SimulateCreditInput!) { simulateCredit(input: $i) { cae { percent } } }",
        {
            "i": {
                "principal": {"amount": "1000", "currency": "CLP"},
                "annualRate": "a lot",
                "termMonths": 12,
            }
        },
    ),
    "missing": ("query($id: ID!) { customer(id: $id) { id } }", {}),
    "null for non-null": ("query($id: ID!) { customer(id: $id) { id } }", {"id": None}),
    "object for a list": ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": {"a": 1}}),
}


async def test_variables_that_do_not_coerce_are_not_logged_as_our_errors(
    gql: GraphQLClient, token: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    agent = token("agent", partner="BANCO_ANDINO")
    caplog.set_level(logging.INFO)
    for what, (query, variables) in BAD_VARIABLES.items():
        body = await gql(query, variables, token=agent)
        assert codes(body) and set(codes(body)) == {"BAD_USER_INPUT"}, (what, body)
        assert "data" not in body or body["data"] is None, what
    assert trouble(caplog) == [], [r.getMessage() for r in trouble(caplog)]


# --- WebSockets: the subscription limit -------------------------------------------------------
@pytest.fixture
def ws_app(
    session_tmp: Path, database_url: str, keys: KeyStore
) -> Iterator[Callable[..., tuple[TestClient, Runtime]]]:
    """A TestClient (its own event loop, the app's lifespan opens the test database)."""
    stack = contextlib.ExitStack()

    def make(**overrides: Any) -> tuple[TestClient, Runtime]:
        runtime = build_runtime(make_settings(session_tmp, database_url, **overrides))
        app = create_app(runtime.settings, runtime=runtime, manage_database=True)
        client = stack.enter_context(TestClient(app, base_url="http://trama.test"))
        return client, runtime

    with stack:
        yield make


EVENTS = "subscription { events { cursor topic } }"


def next_message(ws: Any) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = ws.receive_json()
        if message["type"] not in ("ping", "ka"):
            return message
        if message["type"] == "ping":
            ws.send_json({"type": "pong"})


def test_the_subscription_limit_answers_with_a_code(
    ws_app: Callable[..., tuple[TestClient, Runtime]],
) -> None:
    client, runtime = ws_app(max_subscriptions_per_connection=2)
    auth = {"Authorization": f"Bearer {issue(runtime, 'admin')}"}

    with client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json({"type": "connection_init", "payload": auth})
        assert next_message(ws)["type"] == "connection_ack"
        for n in range(3):
            ws.send_json({"id": f"s{n}", "type": "subscribe", "payload": {"query": EVENTS}})
        error = next_message(ws)
        assert error["id"] == "s2" and error["type"] == "error", error
        (payload,) = error["payload"]
        assert payload["extensions"]["code"] == "BAD_REQUEST"
        assert "at most 2" in payload["message"]
        # Completing one makes room for another.
        ws.send_json({"id": "s0", "type": "complete"})
        ws.send_json(
            {"id": "s3", "type": "subscribe", "payload": {"query": "{ viewer { roles } }"}}
        )
        answer = next_message(ws)
        assert answer == {
            "id": "s3",
            "type": "next",
            "payload": {"data": {"viewer": {"roles": ["admin"]}}},
        }
        ws.close()

    with client.websocket_connect("/graphql", subprotocols=[LEGACY_WS]) as ws:
        ws.send_json({"type": "connection_init", "payload": auth})
        assert next_message(ws)["type"] == "connection_ack"
        for n in range(3):
            ws.send_json({"id": f"s{n}", "type": "start", "payload": {"query": EVENTS}})
        error = next_message(ws)
        assert error["id"] == "s2" and error["type"] == "error", error
        assert error["payload"]["extensions"]["code"] == "BAD_REQUEST"
        assert "at most 2" in error["payload"]["message"]
        ws.close()


def test_subscriptions_are_costed_too(
    ws_app: Callable[..., tuple[TestClient, Runtime]],
) -> None:
    client, runtime = ws_app(query_cost_limit=3)
    auth = {"Authorization": f"Bearer {issue(runtime, 'admin')}"}
    query = "subscription { events { cursor topic key } }"  # 1 + 3
    with client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json({"type": "connection_init", "payload": auth})
        assert next_message(ws)["type"] == "connection_ack"
        ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": query}})
        error = next_message(ws)
        assert error["type"] == "error", error
        assert error["payload"][0]["extensions"] == {
            "code": "GRAPHQL_VALIDATION_FAILED",
            "cost": 4,
            "costLimit": 3,
        }
        ws.close()
    with client.websocket_connect("/graphql", subprotocols=[LEGACY_WS]) as ws:
        ws.send_json({"type": "connection_init", "payload": auth})
        assert next_message(ws)["type"] == "connection_ack"
        ws.send_json({"id": "s", "type": "start", "payload": {"query": query}})
        error = next_message(ws)
        assert error["type"] == "error", error
        assert error["payload"]["extensions"]["cost"] == 4
        ws.close()


# --- WebSockets: a client that hangs up mid-stream ------------------------------------------
@pytest.fixture
async def live_server(runtime: Runtime) -> AsyncIterator[str]:
    """The app on a real socket (uvicorn, this event loop), with its event backbone."""
    app = create_app(runtime.settings, runtime=runtime, manage_database=False, manage_backbone=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="info", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)


CREATE = """
mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) { __typename ... on UserError { message } }
}
"""


async def make_event(base: str, token: str, n: int) -> None:
    number = str(17_000_000 + n)
    variables = {
        "input": {
            "nationalId": {"type": "CL_RUT", "number": f"{number}-{rut.calc_check_digit(number)}"},
            "givenNames": "Eva",
            "familyNames": f"Soto {'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[n]}",
        }
    }
    async with httpx.AsyncClient(base_url=f"http://{base}") as http:
        response = await http.post(
            "/graphql",
            json={"query": CREATE, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
    created = response.json()["data"]["createCustomer"]
    assert created["__typename"] == "CreateCustomerSuccess", created


async def receive(ws: Any) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        elif message["type"] != "ka":
            return message


async def follow(base: str, token: str, protocol: str) -> Any:
    """A client following customer events."""
    ws = await websockets.connect(f"ws://{base}/graphql", subprotocols=[protocol])  # type: ignore[list-item]
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    assert (await receive(ws))["type"] == "connection_ack"
    query = 'subscription { events(topics: ["customers.created"]) { cursor topic } }'
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    await ws.send(json.dumps({"id": "1", "type": start, "payload": {"query": query}}))
    await asyncio.sleep(0.2)  # the subscription is registered with the hub
    return ws


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_client_hanging_up_mid_stream_is_not_an_error(
    live_server: str,
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    protocol: str,
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="trama.ws")
    admin = issue(runtime, "admin")
    agent = issue(runtime, "agent", partner="BANCO_ANDINO")
    events = iter(range(100))

    async def hang_up(ws: Any, how: str) -> None:
        await make_event(live_server, agent, next(events))
        message = await receive(ws)
        assert message["type"] in ("next", "data"), message
        assert message["payload"]["data"]["events"]["topic"] == "customers.created"
        if how == "complete":  # ends the subscription, then the connection
            stop = "complete" if protocol == TRANSPORT_WS else "stop"
            await ws.send(json.dumps({"id": "1", "type": stop}))
            await asyncio.sleep(0.1)
            await ws.close()
        elif how == "close":
            await ws.close()
        else:
            ws.transport.abort()  # no close frame: the network went away
        # Events keep coming: the fan-out meets a subscriber that is leaving, or gone.
        await make_event(live_server, agent, next(events))
        await make_event(live_server, agent, next(events))
        await asyncio.sleep(0.3)

    for how in ("complete", "close", "drop"):
        await hang_up(await follow(live_server, admin, protocol), how)

    # Under load the connection's reader learns of the close after an operation has tried
    # to send to the client: make the reader late, so that the send always finds it gone.
    original = ASGIWebSocketAdapter.iter_json

    async def late_reader(self: Any, *, ignore_parsing_errors: bool = False) -> Any:
        async for message in original(self, ignore_parsing_errors=ignore_parsing_errors):
            yield message
        await asyncio.sleep(1.0)

    monkeypatch.setattr(ASGIWebSocketAdapter, "iter_json", late_reader)
    for how in ("close", "drop"):
        await hang_up(await follow(live_server, admin, protocol), how)
    await asyncio.sleep(1.0)
    gc.collect()  # an exception left in a finished task is reported when it is collected
    await asyncio.sleep(0.1)

    assert trouble(caplog) == [], [(r.name, r.getMessage(), r.exc_text) for r in trouble(caplog)]
    gone = [r for r in caplog.records if r.name == "trama.ws" and "client gone" in r.getMessage()]
    assert gone and all(r.levelno == logging.DEBUG for r in gone)  # the late reader was hit

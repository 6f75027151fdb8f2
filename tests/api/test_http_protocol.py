"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/) and the protection limits.

``application/graphql-response+json`` clients get the spec's status codes; legacy
``application/json`` clients get 200 for every well-formed request. Problems with the
transport itself (a body that is not JSON, a method we do not serve …) are 4xx for everyone.
Every error a client can see carries ``extensions.code``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest

import domain.partners.service as partners_service
from app.main import create_app
from app.runtime import build_runtime
from app.settings import Settings

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
# Accept values a legacy client may send: all of them mean "application/json".
LEGACY_ACCEPTS = [JSON, None, "*/*"]

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


# --- helpers --------------------------------------------------------------------------------
async def post(
    client: httpx.AsyncClient,
    body: Any,
    *,
    accept: str | None = GRAPHQL_RESPONSE,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST ``body`` (any JSON value, or raw bytes) to /graphql."""
    sent = {"content-type": JSON, **(headers or {})}
    if accept is not None:
        sent["accept"] = accept
    if token:
        sent["authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return await client.post("/graphql", content=content, headers=sent)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def error_codes(response: httpx.Response) -> list[str]:
    """The codes of every error in the body; fails if an error has none."""
    body = response.json()
    assert body.get("errors"), body
    codes = []
    for error in body["errors"]:
        assert isinstance(error.get("message"), str) and error["message"], error
        code = (error.get("extensions") or {}).get("code")
        assert isinstance(code, str) and code, f"error without extensions.code: {error}"
        codes.append(code)
    return codes


def expect_error(
    response: httpx.Response, status: int, code: str, media: str = GRAPHQL_RESPONSE
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert media_type(response) == media
    assert set(error_codes(response)) == {code}, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def make_client(settings: Settings, db: Any) -> ClientFactory:
    """An app built with some settings changed: ``async with make_client(max_depth=3)``."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        custom = Settings(**(settings.model_dump() | overrides))
        runtime = build_runtime(custom)
        app = create_app(custom, runtime=runtime, manage_database=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as http:
            yield http

    return make


@pytest.fixture
def agent(token: Callable[..., str]) -> str:
    return token("agent", partner="BANCO_ANDINO")


# --- request errors: the spec's status codes and their legacy equivalents ------------------
# (name, body, needs a token, code) — each fails before execution starts.
REQUEST_ERRORS = [
    ("parse", {"query": "{ viewer { subject "}, True, "GRAPHQL_PARSE_FAILED"),
    ("validation", {"query": "{ viewer { noSuchField } }"}, True, "GRAPHQL_VALIDATION_FAILED"),
    (
        "variable coercion",
        {
            "query": "query Q($first: Int) { customers(first: $first) { totalCount } }",
            "variables": {"first": "not a number"},
        },
        True,
        "BAD_USER_INPUT",
    ),
    (
        "missing variable",
        {"query": "query Q($first: Int!) { customers(first: $first) { totalCount } }"},
        True,
        "BAD_USER_INPUT",
    ),
    ("anonymous", {"query": "{ viewer { subject } }"}, False, "UNAUTHENTICATED"),
]
STATUS = {
    "GRAPHQL_PARSE_FAILED": 400,
    "GRAPHQL_VALIDATION_FAILED": 400,
    "BAD_USER_INPUT": 400,
    "UNAUTHENTICATED": 401,
}


async def test_request_errors_status_by_media_type(client: httpx.AsyncClient, agent: str) -> None:
    for case, body, needs_token, code in REQUEST_ERRORS:
        token = agent if needs_token else None
        response = await post(client, body, token=token)
        answer = expect_error(response, STATUS[code], code)
        assert "data" not in answer, f"{case}: a request error has no data entry"
        if code == "UNAUTHENTICATED":
            assert response.headers["www-authenticate"].startswith("Bearer")
        else:
            assert "www-authenticate" not in response.headers, case

        # The same request from a legacy client is a 200 with the same error.
        for accept in LEGACY_ACCEPTS:
            legacy = await post(client, body, token=token, accept=accept)
            expect_error(legacy, 200, code, media=JSON)
            assert "data" not in legacy.json(), case


async def test_accept_negotiation_prefers_graphql_response_json(
    client: httpx.AsyncClient,
) -> None:
    body = {"query": "{ __typename }"}
    cases = {
        f"{GRAPHQL_RESPONSE}, {JSON}": GRAPHQL_RESPONSE,
        f"{JSON}, {GRAPHQL_RESPONSE}": GRAPHQL_RESPONSE,  # a tie: the spec's type wins
        f"{JSON}, {GRAPHQL_RESPONSE};q=0.5": JSON,
        f"{GRAPHQL_RESPONSE};q=0, */*": JSON,
        "application/*": JSON,
        "text/html;q=0.9, */*;q=0.1": JSON,
    }
    for accept, expected in cases.items():
        response = await post(client, body, accept=accept)
        assert response.status_code == 200, (accept, response.text)
        assert media_type(response) == expected, accept
        assert response.json() == {"data": {"__typename": "Query"}}


async def test_executed_requests_are_200_in_the_negotiated_type(
    client: httpx.AsyncClient, agent: str
) -> None:
    for accept, media in [(GRAPHQL_RESPONSE, GRAPHQL_RESPONSE), (JSON, JSON), (None, JSON)]:
        response = await post(client, {"query": "{ viewer { roles } }"}, token=agent, accept=accept)
        assert response.status_code == 200
        assert media_type(response) == media
        assert response.json() == {"data": {"viewer": {"roles": ["agent"]}}}

    # Field errors keep the 200 and the data that could be computed.
    query = '{ viewer { subject } customerByNationalId(type: CL_RUT, number: "1") { id } }'
    for accept in (GRAPHQL_RESPONSE, JSON):
        response = await post(client, {"query": query}, token=agent, accept=accept)
        assert response.status_code == 200, response.text
        assert media_type(response) == accept
        body = response.json()
        assert body["data"]["viewer"]["subject"] == "test:agent@BANCO_ANDINO"
        assert body["data"]["customerByNationalId"] is None
        assert error_codes(response) == ["VALIDATION"]
        assert body["errors"][0]["path"] == ["customerByNationalId"]


# --- transport problems: 4xx whatever the client accepts -----------------------------------
MALFORMED = [
    (b'{"query": "{ __typename }"', "not valid JSON"),
    (b"", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b'"{ __typename }"', "JSON object"),
    (b"42", "JSON object"),
    (b"null", "JSON object"),
    (b'[{"query": "{ __typename }"}]', "batched"),
    (b"{}", "`query`"),
    (b'{"query": ""}', "`query`"),
    (b'{"query": "   "}', "`query`"),
    (b'{"query": 7}', "`query`"),
    (b'{"query": null}', "`query`"),
    (b'{"query": "{ __typename }", "variables": [1]}', "`variables`"),
    (b'{"query": "{ __typename }", "variables": "{}"}', "`variables`"),
    (b'{"query": "{ __typename }", "extensions": 3}', "`extensions`"),
    (b'{"query": "{ __typename }", "operationName": 3}', "`operationName`"),
]


async def test_malformed_requests_are_400_bad_request(client: httpx.AsyncClient) -> None:
    for body, message in MALFORMED:
        for accept in (GRAPHQL_RESPONSE, JSON):
            response = await post(client, body, accept=accept)
            answer = expect_error(response, 400, "BAD_REQUEST", media=accept)
            assert message in answer["errors"][0]["message"], body


async def test_unsupported_content_type_method_or_accept(client: httpx.AsyncClient) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        response = await client.post(
            "/graphql",
            content=b'{"query": "{ __typename }"}',
            headers={"content-type": content_type, "accept": GRAPHQL_RESPONSE},
        )
        expect_error(response, 415, "BAD_REQUEST")
    # The parameters of a JSON content type do not matter.
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}

    for method in ("PUT", "DELETE", "PATCH"):
        response = await client.request(
            method,
            "/graphql",
            content=b'{"query": "{ __typename }"}',
            headers={"content-type": JSON, "accept": GRAPHQL_RESPONSE},
        )
        expect_error(response, 405, "BAD_REQUEST")
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert allowed == {"GET", "POST"}, method

    for accept in ("text/plain", "application/xml, text/csv", f"{JSON};q=0"):
        response = await post(client, {"query": "{ __typename }"}, accept=accept)
        expect_error(response, 406, "BAD_REQUEST", media=JSON)


async def test_get_runs_queries(client: httpx.AsyncClient, agent: str) -> None:
    response = await client.get(
        "/graphql",
        params={
            "query": "query Who($n: Int) { viewer { roles } customers(first: $n) { totalCount } }",
            "variables": '{"n": 1}',
            "operationName": "Who",
        },
        headers={"accept": GRAPHQL_RESPONSE, "authorization": f"Bearer {agent}"},
    )
    assert response.status_code == 200, response.text
    assert media_type(response) == GRAPHQL_RESPONSE
    data = response.json()["data"]
    assert data["viewer"]["roles"] == ["agent"]
    assert data["customers"]["totalCount"] > 0

    # A query string wins over an HTML Accept: this is an API call, not the IDE.
    response = await client.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"accept": "text/html, */*"}
    )
    assert response.json() == {"data": {"__typename": "Query"}}

    # Variables in a GET must be JSON too.
    response = await client.get(
        "/graphql", params={"query": "{ __typename }", "variables": "{nope"}
    )
    expect_error(response, 400, "BAD_REQUEST", media=JSON)


async def test_get_refuses_mutations_with_405_allow_post(
    client: httpx.AsyncClient, agent: str
) -> None:
    mutation = (
        'mutation { setOAuthClientActive(input: {clientId: "x", active: false}) { __typename } }'
    )
    for accept in (GRAPHQL_RESPONSE, JSON):
        response = await client.get(
            "/graphql",
            params={"query": mutation},
            headers={"accept": accept, "authorization": f"Bearer {agent}"},
        )
        expect_error(response, 405, "BAD_REQUEST", media=accept)
        assert response.headers["allow"] == "POST"


async def test_operation_names(client: httpx.AsyncClient, agent: str) -> None:
    document = "query A { __typename } query B { viewer { subject } }"
    for accept in (GRAPHQL_RESPONSE, JSON):
        response = await post(
            client, {"query": document, "operationName": "C"}, token=agent, accept=accept
        )
        expect_error(response, 400, "BAD_REQUEST", media=accept)
    response = await post(client, {"query": document, "operationName": "B"}, token=agent)
    assert response.json() == {"data": {"viewer": {"subject": "test:agent@BANCO_ANDINO"}}}
    response = await post(client, {"query": document, "operationName": "A"})
    assert response.json() == {"data": {"__typename": "Query"}}

    # GraphQL spec, GetOperation: without a name, several operations are a request error
    # (not silently the first one).
    for token in (agent, None):
        response = await post(client, {"query": document}, token=token)
        body = expect_error(response, 400, "BAD_REQUEST")
        assert "operationName" in body["errors"][0]["message"]
        assert "data" not in body
        legacy = await post(client, {"query": document}, token=token, accept=JSON)
        expect_error(legacy, 200, "BAD_REQUEST", media=JSON)
    # One operation needs no name.
    response = await post(client, {"query": "query A { __typename }"})
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_bodies_over_the_limit_are_413(make_client: ClientFactory) -> None:
    query = "{ __typename }"
    async with make_client(max_body_bytes=256) as http:
        small = await post(http, {"query": query})
        assert small.status_code == 200
        big = orjson.dumps({"query": query + " " * 300})
        expect_error(await post(http, big), 413, "PAYLOAD_TOO_LARGE")

        # A body streamed without Content-Length is cut off too.
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(big), 64):
                yield big[i : i + 64]

        response = await http.post(
            "/graphql",
            content=chunks(),
            headers={"content-type": JSON, "accept": GRAPHQL_RESPONSE},
        )
        assert "content-length" not in response.request.headers
        expect_error(response, 413, "PAYLOAD_TOO_LARGE")


# --- request ids and masked failures -------------------------------------------------------
async def test_request_id_is_echoed_reused_or_replaced(client: httpx.AsyncClient) -> None:
    body = {"query": "{ __typename }"}
    generated = (await post(client, body)).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert (await post(client, body)).headers["x-request-id"] != generated

    sane = "req-42.abc:XYZ_1"
    response = await post(client, body, headers={"x-request-id": sane})
    assert response.headers["x-request-id"] == sane

    for insane in ("has spaces in it", "<script>", "x" * 101, "\u00e9-accent", "a/b", "a\tb"):
        raw = {"x-request-id": insane.encode()}
        response = await client.post(
            "/graphql",
            json=body,
            headers=raw,  # type: ignore[arg-type]
        )
        replaced = response.headers["x-request-id"]
        assert replaced != insane
        assert re.fullmatch(r"[0-9a-f]{32}", replaced)

    # Every route echoes it, error answers included.
    for response in (
        await client.get("/healthz"),
        await client.put("/graphql"),
        await client.get("/nowhere"),
    ):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_unexpected_exceptions_are_masked_and_logged_with_the_request_id(
    client: httpx.AsyncClient,
    agent: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "connection string postgres://admin:hunter2@db"

    async def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(secret)

    monkeypatch.setattr(partners_service, "list_partners", explode)
    caplog.set_level(logging.ERROR, logger="trama")
    for accept in (GRAPHQL_RESPONSE, JSON):
        caplog.clear()
        await check_masked(client, agent, accept, caplog, secret)

    # An incoming request id is the one the client sees and the log names.
    response = await post(
        client, {"query": "{ partners { code } }"}, token=agent, headers={"x-request-id": "trace-1"}
    )
    assert response.headers["x-request-id"] == "trace-1"
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "trace-1"}
    assert "trace-1" in error["message"]
    assert [getattr(r, "request_id", None) for r in caplog.records][-1] == "trace-1"


async def check_masked(
    client: httpx.AsyncClient,
    agent: str,
    accept: str,
    caplog: pytest.LogCaptureFixture,
    secret: str,
) -> None:
    response = await post(
        client,
        {"query": "query P { viewer { subject } partners { code } }"},
        token=agent,
        accept=accept,
    )
    # Execution started, so it is a 200 with `data` (null: `partners` is non-null).
    assert response.status_code == 200, response.text
    assert media_type(response) == accept
    request_id = response.headers["x-request-id"]
    body = response.json()
    assert "data" in body
    assert body["data"] is None
    assert error_codes(response) == ["INTERNAL"]
    error = body["errors"][0]
    assert request_id in error["message"]
    assert error["extensions"]["requestId"] == request_id
    assert error["path"] == ["partners"]
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text

    logged = [r for r in caplog.records if r.exc_info and getattr(r, "request_id", None)]
    assert len(logged) == 1, caplog.records
    record = logged[0]
    assert record.request_id == request_id
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
    assert secret in caplog.text  # the full traceback is in the log
    assert "Traceback" in caplog.text


# --- limits --------------------------------------------------------------------------------
async def test_depth_limit(make_client: ClientFactory, token: Callable[..., str]) -> None:
    agent = token("agent", partner="BANCO_ANDINO")
    deep = "{ customers { edges { node { homePartner { code } } } } }"  # depth 4
    async with make_client(max_depth=3) as http:
        response = await post(http, {"query": deep}, token=agent)
        body = expect_error(response, 400, "GRAPHQL_VALIDATION_FAILED")
        assert "depth" in body["errors"][0]["message"]
        # Anonymous callers get the same answer: validation comes first.
        expect_error(await post(http, {"query": deep}), 400, "GRAPHQL_VALIDATION_FAILED")
        # Fragments count too.
        fragmented = (
            "query { customers { ...C } } fragment C on CustomerConnection "
            "{ edges { node { homePartner { code } } } }"
        )
        expect_error(
            await post(http, {"query": fragmented}, token=agent), 400, "GRAPHQL_VALIDATION_FAILED"
        )
        shallow = "{ customers { edges { node { piiMasked } } } }"
        assert (await post(http, {"query": shallow}, token=agent)).status_code == 200


async def test_alias_and_token_limits(client: httpx.AsyncClient, settings: Settings) -> None:
    def aliases(n: int) -> str:
        return "{ " + " ".join(f"a{i}: __typename" for i in range(n)) + " }"

    ok = await post(client, {"query": aliases(settings.max_aliases)})
    assert ok.status_code == 200
    assert len(ok.json()["data"]) == settings.max_aliases
    response = await post(client, {"query": aliases(settings.max_aliases + 1)})
    body = expect_error(response, 400, "GRAPHQL_VALIDATION_FAILED")
    assert "aliases" in body["errors"][0]["message"]

    query = "{ " + "__typename " * settings.max_tokens + "}"
    response = await post(client, {"query": query})
    body = expect_error(response, 400, "GRAPHQL_PARSE_FAILED")
    assert "tokens" in body["errors"][0]["message"]
    legacy = await post(client, {"query": query}, accept=JSON)
    expect_error(legacy, 200, "GRAPHQL_PARSE_FAILED", media=JSON)


INTROSPECTION = "{ __schema { queryType { name } } }"
TYPE_QUERY = '{ __type(name: "Customer") { name } }'


async def test_introspection_in_development_works_anonymously(
    make_client: ClientFactory,
) -> None:
    async with make_client(env="development") as http:
        response = await post(http, {"query": INTROSPECTION})
        assert response.status_code == 200, response.text
        assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
        response = await post(http, {"query": TYPE_QUERY})
        assert response.json() == {"data": {"__type": {"name": "Customer"}}}


async def test_introspection_is_refused_in_production(
    make_client: ClientFactory, token: Callable[..., str]
) -> None:
    admin = token("admin")
    async with make_client(env="production") as http:
        for query in (INTROSPECTION, TYPE_QUERY):
            for bearer in (None, admin):
                response = await post(http, {"query": query}, token=bearer)
                expect_error(response, 400, "GRAPHQL_VALIDATION_FAILED")
        # __typename is not introspection.
        response = await post(http, {"query": "{ __typename }"})
        assert response.json() == {"data": {"__typename": "Query"}}
    async with make_client(env="production", introspection=True) as http:
        response = await post(http, {"query": INTROSPECTION})
        assert response.status_code == 200, response.text
        assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_typename_works_anonymously(client: httpx.AsyncClient) -> None:
    for accept in (GRAPHQL_RESPONSE, JSON):
        response = await post(client, {"query": "{ __typename }"}, accept=accept)
        assert response.status_code == 200
        assert response.json() == {"data": {"__typename": "Query"}}
    # But nothing else: a public field next to a private one is refused as a whole.
    response = await post(client, {"query": "{ __typename viewer { subject } }"})
    expect_error(response, 401, "UNAUTHENTICATED")

"""Operations endpoints: health, readiness, metrics, and the GraphiQL page."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import app.db as app_db
from app import metrics
from app.db import Database, close_database, init_database
from app.graphiql import SCRIPTS, STYLES
from app.main import create_app
from app.runtime import Runtime, build_runtime
from app.settings import Settings
from tests.conftest import make_settings
from workers.backbone import Backbone

ClientFactory = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, Runtime]]]
URL_RE = re.compile(r"https?://", re.IGNORECASE)


@pytest.fixture
def make_client(settings: Settings, db: Database) -> ClientFactory:
    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
        custom = Settings(**(settings.model_dump() | overrides))
        runtime = build_runtime(custom)
        app = create_app(custom, runtime=runtime, manage_database=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as http:
            yield http, runtime

    return make


# --- health and readiness -------------------------------------------------------------------
async def test_healthz_and_readyz(
    client: httpx.AsyncClient, db: Database, runtime: Runtime
) -> None:
    expected = {"database": "ok"}
    backbone = None
    if runtime.settings.redis_url:  # with Redis configured, readiness includes the broker
        backbone = Backbone(runtime.settings, role="api", run_workers=False)
        await backbone.start()
        runtime.backbone = backbone
        expected["broker"] = "ok"
    try:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": expected}

        if db.dialect == "postgresql":
            bad_url = "postgresql+asyncpg://nobody@127.0.0.1:1/nowhere"  # nothing listens on 1
        else:
            bad_url = f"sqlite+aiosqlite:///{Path('/nonexistent-dir') / 'trama.db'}"
        saved = (app_db._config, dict(app_db._by_loop))
        init_database(bad_url)
        try:
            response = await client.get("/readyz")
        finally:
            await close_database()
            app_db._config = saved[0]  # back to the test's database
            app_db._by_loop.update(saved[1])
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"].startswith("error: ")
        assert "nobody" not in response.text  # no connection details leak

        response = await client.get("/readyz")
        assert response.status_code == 200
    finally:
        if backbone is not None:
            runtime.backbone = None
            await backbone.stop()


async def test_readyz_reports_an_unreachable_broker(
    session_tmp: Path, database_url: str, db: Database, keys: Any
) -> None:
    settings = make_settings(session_tmp, database_url, redis_url="redis://127.0.0.1:1/0")
    runtime = build_runtime(settings)
    backbone = Backbone(settings, role="api", run_workers=False)
    await backbone.start()
    runtime.backbone = backbone
    app = create_app(settings, runtime=runtime, manage_database=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://trama.test"
        ) as http:
            response = await http.get("/readyz")
    finally:
        runtime.backbone = None
        await backbone.stop()
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")


# --- metrics --------------------------------------------------------------------------------
def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def graphql(client: httpx.AsyncClient, name: str | None) -> httpx.Response:
    query = f"query {name} {{ __typename }}" if name else "{ __typename }"
    body: dict[str, Any] = {"query": query}
    if name:
        body["operationName"] = name
    return await client.post("/graphql", json=body)


async def test_metrics_count_requests_and_operations(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    for _ in range(3):
        assert (await graphql(client, "OpsProbe")).status_code == 200
    await graphql(client, None)
    await client.get("/healthz")
    await client.get("/no/such/route")
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("trama_graphql_operations_total", operation="OpsProbe", type="http") == 3
    assert delta("trama_graphql_operations_total", operation="anonymous", type="http") == 1
    assert delta("trama_http_requests_total", method="POST", route="/graphql", status="200") == 4
    assert delta("trama_http_requests_total", method="GET", route="/healthz", status="200") == 1
    assert delta("trama_http_requests_total", method="GET", route="unmatched", status="404") == 1
    # Latency histograms.
    assert delta("trama_graphql_operation_duration_seconds_count", operation="OpsProbe") == 3
    assert (
        delta("trama_graphql_operation_duration_seconds_bucket", operation="OpsProbe", le="+Inf")
        == 3
    )
    assert delta("trama_http_request_duration_seconds_count", method="POST", route="/graphql") == 4
    assert "# TYPE trama_graphql_operation_duration_seconds histogram" in after
    assert "# TYPE trama_http_request_duration_seconds histogram" in after


async def test_operation_names_beyond_the_cap_become_other(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend the label set is almost full: two more names fit, then "other".
    monkeypatch.setattr(metrics, "_seen_names", set(metrics._seen_names))
    monkeypatch.setattr(metrics, "_MAX_NAMES", len(metrics._seen_names) + 2)
    names = ["CapFirst", "CapSecond", "CapThird", "CapFourth"]
    before = await scrape(client)
    for name in names:
        assert (await graphql(client, name)).status_code == 200
    await graphql(client, "CapFirst")  # known names keep their label
    after = await scrape(client)

    def delta(operation: str) -> float:
        labels = {"operation": operation, "type": "http"}
        return value(after, "trama_graphql_operations_total", **labels) - value(
            before, "trama_graphql_operations_total", **labels
        )

    assert delta("CapFirst") == 2
    assert delta("CapSecond") == 1
    assert delta("CapThird") == delta("CapFourth") == 0
    assert delta("other") == 2
    assert 'operation="CapThird"' not in after
    assert 'operation="CapFourth"' not in after


# --- GraphiQL -------------------------------------------------------------------------------
@pytest.fixture
def fake_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small installed-assets directory (the real ones may not be installed here)."""
    directory = tmp_path / "graphiql-assets"
    directory.mkdir()
    files = {}
    for name in STYLES + SCRIPTS:
        data = f"/* {name} */\n".encode()
        (directory / name).write_bytes(data)
        digest = base64.b64encode(hashlib.sha384(data).digest()).decode()
        files[name] = {"integrity": f"sha384-{digest}"}
    (directory / "manifest.json").write_text(json.dumps({"packages": {}, "files": files}))
    monkeypatch.setenv("TRAMA_ASSETS_DIR", str(directory))
    return directory


def headers_literal(page: str) -> Any:
    literal = re.search(r"const headers = (.*);\n", page)
    assert literal, "the page defines no headers"
    inner = json.loads(literal.group(1))
    return None if inner is None else json.loads(inner)


async def test_graphiql_page_is_served_without_external_urls(
    client: httpx.AsyncClient, fake_assets: Path
) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "GraphiQL.createFetcher" in page
    assert not URL_RE.search(page), "the page must not load anything from the internet"
    for ref in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert ref.startswith("/_trama/graphiql/") or ref == "data:,", ref
    asset = re.search(r'src="(/_trama/graphiql/[^"]+)"', page)
    assert asset
    assert (await client.get(asset.group(1).replace("&amp;", "&"))).status_code == 200
    # Outside development nobody's token is put on the page.
    assert headers_literal(page) is None
    assert "Bearer" not in page

    # A browser's usual Accept gets the page; "/" leads to it.
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert (await client.get("/graphql", headers={"accept": browser})).text == page
    index = await client.get("/")
    assert index.status_code == 307
    assert index.headers["location"] == "/graphql"


async def test_graphiql_in_development_has_a_demo_agent_token(
    make_client: ClientFactory, fake_assets: Path
) -> None:
    async with make_client(env="development") as (http, runtime):
        page = (await http.get("/graphql", headers={"accept": "text/html"})).text
        assert not URL_RE.search(page)
        headers = headers_literal(page)
        assert set(headers) == {"Authorization"}
        scheme, _, token = headers["Authorization"].partition(" ")
        assert scheme == "Bearer"
        claims, own = await runtime.tokens.validate(token)
        assert own
        assert claims["roles"] == ["agent"]
        assert claims["partner"]
        # And the header works.
        response = await http.post(
            "/graphql",
            json={"query": "{ viewer { subject roles partner { code } } }"},
            headers=headers,
        )
        viewer = response.json()["data"]["viewer"]
        assert viewer["roles"] == ["agent"]
        assert viewer["subject"].startswith("agent@")
        assert viewer["partner"] == {"code": claims["partner"]}


async def test_graphiql_is_disabled_in_production(
    make_client: ClientFactory, fake_assets: Path
) -> None:
    async with make_client(env="production") as (http, _):
        response = await http.get("/graphql", headers={"accept": "text/html"})
        assert response.status_code == 404
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert "GraphiQL" not in response.text or "disabled" in response.text
        # The API itself still answers GET queries.
        response = await http.get("/graphql", params={"query": "{ __typename }"})
        assert response.json() == {"data": {"__typename": "Query"}}
    async with make_client(env="production", graphiql=True) as (http, _):
        response = await http.get("/graphql", headers={"accept": "text/html"})
        assert response.status_code == 200
        assert headers_literal(response.text) is None  # never a token in production

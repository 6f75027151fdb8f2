"""Links are made from TRAMA_PUBLIC_URL, never from the request's Host; unknown hosts are
refused (TRAMA_ALLOWED_HOSTS; in production always); production needs TRAMA_PUBLIC_URL."""

from __future__ import annotations

import asyncio
import os
import shutil
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

from app.hosts import check_public_url, host_allowed, production_problems
from app.main import create_app
from app.runtime import build_runtime
from app.settings import Settings
from tests.api.attachment_support import LIST, gid, open_case, payload, upload
from tests.conftest import make_settings
from tests.domain.cases import attachment_files as files

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PUBLIC = "https://api.trama.example"
EVIL = "evil.example"


@pytest.fixture
def settings(tmp_path: Path, session_tmp: Path, keys: Any, database_url: str) -> Settings:
    shutil.copytree(session_tmp / "keys", tmp_path / "keys")
    return make_settings(tmp_path, database_url)


@asynccontextmanager
async def app_client(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    custom = Settings(**(settings.model_dump() | overrides))
    runtime = build_runtime(custom)
    app = create_app(custom, runtime=runtime, manage_database=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.trama.example"
    ) as http:
        yield http


async def attach_and_list(http: httpx.AsyncClient, token: str, host: str) -> str:
    """Upload a file with a forged Host, then list it (forged again): the download URL."""
    case = await open_case()
    http.headers["host"] = host
    result = payload(
        await upload(
            http,
            token=token,
            case_id=gid("Case", case.id),
            version=1,
            content=files.CSV,
            file_name="movimientos.csv",
            content_type="text/csv",
        )
    )
    assert result["__typename"] == "AttachCaseFileSuccess", result
    response = await http.post(
        "/graphql",
        json={"query": LIST, "variables": {"caseId": gid("Case", case.id)}},
        headers={"authorization": f"Bearer {token}", "host": host},
    )
    [item] = response.json()["data"]["caseAttachments"]
    url: str = item["downloadUrl"]
    return url


async def test_download_links_use_the_public_url_whatever_the_host(
    settings: Settings, db: Any, token: Callable[..., str]
) -> None:
    agent = token("agent", partner="BANCO_ANDINO")
    async with app_client(settings, public_url=PUBLIC + "/") as http:
        url = await attach_and_list(http, agent, EVIL)
        assert url.startswith(f"{PUBLIC}/attachments/"), url
        assert EVIL not in url
        # The link works (through the real address).
        http.headers["host"] = "api.trama.example"
        response = await http.get(urlsplit(url).path + "?" + urlsplit(url).query,
                                  headers={"authorization": f"Bearer {agent}"})  # fmt: skip
        assert response.status_code == 200 and response.content == files.CSV


async def test_discovery_names_the_public_url_whatever_the_host(
    settings: Settings, db: Any
) -> None:
    async with app_client(settings, public_url=PUBLIC) as http:
        response = await http.get("/.well-known/openid-configuration", headers={"host": EVIL})
        document = response.json()
        assert document["jwks_uri"] == f"{PUBLIC}/.well-known/jwks.json"
        assert document["token_endpoint"] == f"{PUBLIC}/oauth/token"


async def test_unknown_hosts_are_refused(
    settings: Settings, db: Any, token: Callable[..., str]
) -> None:
    allowed = ["api.trama.example", "*.trama.example"]
    async with app_client(settings, public_url=PUBLIC, allowed_hosts=allowed) as http:
        ok = await http.post("/graphql", json={"query": "{ __typename }"})
        assert ok.status_code == 200
        for host in ("api.trama.example:443", "eu.trama.example", "API.TRAMA.EXAMPLE"):
            response = await http.post(
                "/graphql", json={"query": "{ __typename }"}, headers={"host": host}
            )
            assert response.status_code == 200, host
        for host in (EVIL, "api.trama.example.evil.example", "trama.example", "", "[::1]:80"):
            response = await http.post(
                "/graphql", json={"query": "{ __typename }"}, headers={"host": host}
            )
            assert response.status_code == 400, host
            [error] = response.json()["errors"]
            assert error["extensions"] == {"code": "BAD_REQUEST"}
            assert "does not answer for that host" in error["message"]
            # The attachment route and discovery are refused the same way.
            for path in ("/.well-known/openid-configuration", "/attachments/x"):
                assert (await http.get(path, headers={"host": host})).status_code == 400
        # Load balancers and Prometheus probe instances by their own address.
        for path in ("/healthz", "/metrics"):
            response = await http.get(path, headers={"host": "10.0.3.17:8000"})
            assert response.status_code == 200, path
        # (Ready or not: no event backbone runs in this test when Redis is configured.)
        response = await http.get("/readyz", headers={"host": "10.0.3.17:8000"})
        assert response.status_code in (200, 503) and "checks" in response.json()


def test_a_websocket_for_an_unknown_host_is_refused(
    settings: Settings, db: Any, token: Callable[..., str]
) -> None:
    custom = Settings(**(settings.model_dump() | {"allowed_hosts": ["api.trama.example"]}))
    app = create_app(custom, runtime=build_runtime(custom), manage_database=False)
    with TestClient(app, base_url="http://api.trama.example") as client:
        with client.websocket_connect(
            "ws://api.trama.example/graphql", subprotocols=["graphql-transport-ws"]
        ) as ws:
            ws.send_json({"type": "connection_init", "payload": {"token": token("admin")}})
            assert ws.receive_json()["type"] == "connection_ack"
        with pytest.raises(WebSocketDisconnect) as refused:  # noqa: SIM117
            with client.websocket_connect(
                "ws://api.trama.example/graphql",
                subprotocols=["graphql-transport-ws"],
                headers={"host": EVIL},
            ):
                pass
        assert refused.value.code == 1008


async def test_production_derives_the_allowed_host_from_the_public_url(
    settings: Settings, db: Any
) -> None:
    async with app_client(settings, env="production", public_url=PUBLIC) as http:
        response = await http.get("/graphql", params={"query": "{ __typename }"})
        assert response.status_code == 200
        forged = await http.get(
            "/graphql", params={"query": "{ __typename }"}, headers={"host": EVIL}
        )
        assert forged.status_code == 400


def test_production_needs_a_public_url() -> None:
    problems = production_problems(Settings(env="production"))
    assert problems and "TRAMA_PUBLIC_URL is required in production" in problems[0]
    assert production_problems(Settings(env="production", public_url="http://a.example"))
    assert production_problems(Settings(env="production", public_url=PUBLIC)) == []
    # plain http only where nothing leaves the machine
    for local in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        assert production_problems(Settings(env="production", public_url=local)) == []
    assert production_problems(Settings(env="production", public_url="http://10.0.0.5"))
    assert production_problems(Settings(env="development")) == []
    for bad in ("api.trama.example", "ftp://a.example", "https://a.example/?x=1", "https://u:p@a"):
        with pytest.raises(ValueError, match="TRAMA_PUBLIC_URL"):
            check_public_url(bad)
    assert check_public_url("https://a.example/trama/") == "https://a.example/trama"
    assert host_allowed("a.b.example", ["*.b.example"]) and not host_allowed(
        "b.example", ["*.b.example"]
    )


async def test_trama_serve_refuses_to_start_in_production_without_a_public_url(
    tmp_path: Path,
) -> None:
    from tests.e2e.conftest import trama_executable

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAMA_")}
    env.update(TRAMA_ENV="production", TRAMA_VAR_DIR=str(tmp_path / "var"), TRAMA_LOG_FORMAT="text")
    process = await asyncio.create_subprocess_exec(
        trama_executable(), "serve", "--host", "127.0.0.1", "--port", "1",
        env=env, cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2, (out, err)
    assert b"TRAMA_PUBLIC_URL is required in production" in err
    assert b"Traceback" not in err

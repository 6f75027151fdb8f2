"""Partners signing in with Entra ID, end to end: ``trama serve`` on a loopback port trusts a
fake Entra ID (tests/fake_entra.py, another loopback port); the ``gql`` client calls it over
HTTP and WebSockets with the tokens Entra issued."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from gql import Client
from gql.transport.exceptions import TransportClosed, TransportConnectionFailed
from gql.transport.websockets import WebsocketsTransport

from tests.api.test_entra import (
    API_CLIENT_ID,
    APP_ID_URI,
    APP_ROLES,
    TENANT_ANDINO,
    TENANT_NETWORK,
    TENANT_STRANGER,
    TENANT_SUR,
)
from tests.e2e.conftest import Server
from tests.e2e.test_service_e2e import (
    CUSTOMERS,
    E2E_TIMEOUT,
    VIEWER,
    close_frame,
    http_client,
    ws_transport,
)
from tests.fake_entra import V1_ISSUER, V2_ISSUER, FakeEntra, running

GRAPHQL_TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL


@pytest.fixture
def entra() -> Iterator[FakeEntra]:
    yield from running(api_client_id=API_CLIENT_ID, app_id_uri=APP_ID_URI)


@pytest.fixture
async def entra_server(start_server: Callable[..., Awaitable[Server]], entra: FakeEntra) -> Server:
    issuer = {
        "issuer": [V2_ISSUER, V1_ISSUER],
        "discovery_url": entra.discovery_url("organizations"),
        "audience": [API_CLIENT_ID, APP_ID_URI],
        "tenants": {TENANT_ANDINO: "BANCO_ANDINO", TENANT_SUR: "RETAIL_SUR", TENANT_NETWORK: None},
        "app_roles": APP_ROLES,
        "scopes": {"access_as_user": ["*"]},
    }
    return await start_server(
        env={
            "TRAMA_TRUSTED_ISSUERS": json.dumps([issuer]),
            "TRAMA_JWKS_MIN_REFRESH_INTERVAL": "1",
        }
    )


async def test_partners_sign_in_with_entra_over_http_and_websocket(
    entra_server: Server, entra: FakeEntra
) -> None:
    server = entra_server
    async with asyncio.timeout(E2E_TIMEOUT):
        # An agent of Banco Andino, v2 token, over HTTP.
        agent = entra.user_token(
            tenant=TENANT_ANDINO, username="ana@bancoandino.example", roles=["Trama.Agent"]
        )
        async with http_client(server, agent) as session:
            viewer = (await session.execute(VIEWER))["viewer"]
            assert viewer["partner"] == {"code": "BANCO_ANDINO"}
            assert viewer["roles"] == ["agent"] and viewer["kind"] == "user"
            page = (await session.execute(CUSTOMERS))["customers"]
            assert len(page["edges"]) == 5

        # A supervisor of Retail Sur, v1 token, over graphql-transport-ws.
        supervisor = entra.user_token(
            tenant=TENANT_SUR,
            username="sofia@retailsur.example",
            roles=["Trama.Supervisor"],
            version=1,
        )
        transport = ws_transport(
            server, {"Authorization": f"Bearer {supervisor}"}, GRAPHQL_TRANSPORT_WS
        )
        async with Client(transport=transport, execute_timeout=10) as session:
            viewer = (await session.execute(VIEWER))["viewer"]
            assert viewer["partner"] == {"code": "RETAIL_SUR"}
            assert viewer["roles"] == ["supervisor"]

        # Retail Sur's own system, with a client-credentials token from Entra.
        app = entra.register_app(tenant=TENANT_SUR, roles=["Trama.PartnerSystem"])
        async with httpx.AsyncClient(base_url=entra.base_url, timeout=10) as http:
            response = await http.post(
                f"/{TENANT_SUR}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": app.client_id,
                    "client_secret": app.secret,
                    "scope": f"{APP_ID_URI}/.default",
                },
            )
        assert response.status_code == 200, response.text
        async with http_client(server, response.json()["access_token"]) as session:
            viewer = (await session.execute(VIEWER))["viewer"]
            assert viewer["kind"] == "client" and viewer["roles"] == ["partner_system"]
            assert viewer["partner"] == {"code": "RETAIL_SUR"}

        # Entra rotates its signing key: the server learns the new kid (once the minimum
        # refresh interval since its last fetch has passed) and keeps accepting old tokens.
        fetched = entra.served("/keys")
        entra.rotate()
        await asyncio.sleep(1.2)
        rotated = entra.user_token(
            tenant=TENANT_ANDINO, username="ana@bancoandino.example", roles=["Trama.Agent"]
        )
        async with http_client(server, rotated) as session:
            assert (await session.execute(VIEWER))["viewer"]["roles"] == ["agent"]
        assert entra.served("/keys") == fetched + 1
        async with http_client(server, agent) as session:
            assert (await session.execute(VIEWER))["viewer"]["roles"] == ["agent"]


async def test_an_unmapped_tenant_is_refused_over_http_and_websocket(
    entra_server: Server, entra: FakeEntra
) -> None:
    server = entra_server
    async with asyncio.timeout(E2E_TIMEOUT):
        stranger = entra.user_token(
            tenant=TENANT_STRANGER, username="eve@elsewhere.example", roles=["Trama.Agent"]
        )
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            response = await http.post(
                "/graphql",
                json={"query": "{ viewer { subject } }"},
                headers={"authorization": f"Bearer {stranger}"},
            )
        assert response.status_code == 401
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "is not a member of the Trama network" in error["message"]

        transport = ws_transport(
            server, {"Authorization": f"Bearer {stranger}"}, GRAPHQL_TRANSPORT_WS
        )
        with pytest.raises((TransportClosed, TransportConnectionFailed)) as refused:
            async with Client(transport=transport, execute_timeout=10) as session:
                await session.execute(VIEWER)
        close = close_frame(refused.value)
        assert close is not None and close.code == 4403
        assert "not a member" in close.reason

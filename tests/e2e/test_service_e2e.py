"""Trama as a partner system sees it: ``trama serve`` on a loopback port, the ``gql`` client
over HTTP and WebSockets, a token from ``POST /oauth/token``."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import (
    TransportClosed,
    TransportConnectionFailed,
    TransportQueryError,
)
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from prometheus_client.mmap_dict import MmapedDict
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

if TYPE_CHECKING:
    from tests.e2e.conftest import Server

#: Hard limit for one scenario: a hang fails the test instead of blocking CI.
E2E_TIMEOUT = 60.0

Trama = Callable[..., Awaitable[tuple[int, str, str]]]

VIEWER = gql("query Viewer { viewer { subject kind roles scopes partner { code } } }")
CUSTOMERS = gql(
    """
    query FirstCustomers {
      customers(first: 5) {
        edges { cursor node { id givenNames nationalId { type number } homePartner { code } } }
        pageInfo { hasNextPage endCursor }
        totalCount
      }
    }
    """
)
CREATE_CUSTOMER = gql(
    """
    mutation Create($input: CreateCustomerInput!) {
      createCustomer(input: $input) {
        __typename
        ... on CreateCustomerSuccess {
          customer { id version givenNames email nationalId { type number } homePartner { code } }
        }
        ... on UserError { message code }
      }
    }
    """
)
UPDATE_CUSTOMER = gql(
    """
    mutation Update($input: UpdateCustomerInput!) {
      updateCustomer(input: $input) {
        __typename
        ... on UpdateCustomerSuccess { customer { id version email givenNames } }
        ... on ConflictError { currentVersion }
        ... on UserError { message code }
      }
    }
    """
)


def rut(body: int) -> str:
    """A Chilean RUT with its modulo-11 check digit: ``12345678-5``."""
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(str(body))))
    check = 11 - total % 11
    return f"{body}-{ {10: 'K', 11: '0'}.get(check, str(check)) }"


def test_rut_check_digit() -> None:
    assert rut(12_345_678) == "12345678-5"
    assert rut(11_111_111) == "11111111-1"
    assert rut(6) == "6-K"


async def partner_token(server: Server, trama: Trama, partner: str = "BANCO_ANDINO") -> str:
    """Register a partner system with the CLI, then obtain a token as that system would."""
    code, out, err = await trama(
        server, "client", "create", "--name", "E2E", "--partner", partner,
        "--role", "partner_system",
    )  # fmt: skip
    assert code == 0, err
    created = json.loads(out)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        response = await http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": created["client_id"],
                "client_secret": created["client_secret"],
            },
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    token: str = body["access_token"]
    return token


async def execute(session: Any, document: GraphQLRequest, **variables: Any) -> dict[str, Any]:
    """Run ``document`` and return its single root field's value."""
    result = await session.execute(GraphQLRequest(document, variable_values=variables))
    (value,) = result.values()
    return dict(value)


def http_client(server: Server, token: str) -> Client:
    transport = HTTPXAsyncTransport(
        url=f"{server.base_url}/graphql",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return Client(transport=transport, fetch_schema_from_transport=False, execute_timeout=10)


def ws_transport(server: Server, init_payload: dict[str, Any], subprotocol: str) -> Any:
    return WebsocketsTransport(
        url=server.ws_url,
        init_payload=init_payload,
        subprotocols=[subprotocol],
        connect_timeout=10,
        close_timeout=5,
        ack_timeout=10,
    )


async def test_partner_system_over_http_and_websocket(server: Server, trama: Trama) -> None:
    async with asyncio.timeout(E2E_TIMEOUT):
        token = await partner_token(server, trama)

        async with http_client(server, token) as session:
            viewer = (await session.execute(VIEWER))["viewer"]
            assert viewer["kind"] == "client"
            assert viewer["roles"] == ["partner_system"]
            assert viewer["partner"] == {"code": "BANCO_ANDINO"}
            assert "customers:write" in viewer["scopes"]

            page = (await session.execute(CUSTOMERS))["customers"]
            assert len(page["edges"]) == 5
            assert page["pageInfo"]["hasNextPage"] is True
            assert page["totalCount"] >= 5
            assert all(e["node"]["id"] and e["cursor"] for e in page["edges"])

            national_id = rut(23_456_789)
            created = await execute(
                session,
                CREATE_CUSTOMER,
                input={
                    "nationalId": {"type": "CL_RUT", "number": national_id},
                    "givenNames": "Ana María",
                    "familyNames": "Pérez Soto",
                    "email": "ana.perez@example.com",
                    "phone": "+56987654321",
                    "consentDataSharing": True,
                },
            )
            assert created["__typename"] == "CreateCustomerSuccess", created
            customer = created["customer"]
            assert customer["version"] == 1
            assert customer["homePartner"] == {"code": "BANCO_ANDINO"}  # the caller's partner
            assert customer["nationalId"]["type"] == "CL_RUT"
            printed = re.sub(r"[^0-9K]", "", customer["nationalId"]["number"].upper())
            assert printed == national_id.replace("-", "")

            change = {"id": customer["id"], "version": customer["version"]}
            updated = await execute(
                session, UPDATE_CUSTOMER, input={**change, "email": "ana.maria@example.com"}
            )
            assert updated["__typename"] == "UpdateCustomerSuccess", updated
            assert updated["customer"]["version"] == customer["version"] + 1
            assert updated["customer"]["email"] == "ana.maria@example.com"
            assert updated["customer"]["givenNames"] == "Ana María"  # left out: unchanged

            # The version just used is stale now: a second writer gets a conflict.
            stale = await execute(
                session, UPDATE_CUSTOMER, input={**change, "email": "someone.else@example.com"}
            )
            assert stale["__typename"] == "ConflictError", stale
            assert stale["currentVersion"] == customer["version"] + 1

        # The same token authenticates a WebSocket in connection_init.
        graphql_transport_ws = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL
        transport = ws_transport(server, {"Authorization": f"Bearer {token}"}, graphql_transport_ws)
        async with Client(transport=transport, execute_timeout=10) as session:
            assert transport.subprotocol == "graphql-transport-ws"
            viewer = (await session.execute(VIEWER))["viewer"]
            assert viewer["partner"] == {"code": "BANCO_ANDINO"}
            assert viewer["kind"] == "client"
            page = (await session.execute(CUSTOMERS))["customers"]
            assert len(page["edges"]) == 5

        # The legacy graphql-ws protocol authenticates the same way; it streams subscriptions
        # only, and says so with a coded error when sent a query.
        legacy = ws_transport(
            server, {"Authorization": f"Bearer {token}"}, WebsocketsTransport.APOLLO_SUBPROTOCOL
        )
        async with Client(transport=legacy, execute_timeout=10) as session:
            assert legacy.subprotocol == "graphql-ws"
            with pytest.raises(TransportQueryError) as refused:
                await session.execute(VIEWER)
            assert refused.value.errors
            assert refused.value.errors[0]["extensions"]["code"] == "BAD_REQUEST"

        # The audit chain the mutations extended still verifies.
        code, out, err = await trama(server, "audit", "verify")
        assert (code, out.strip()) == (0, "ok"), err


REFUSALS = [
    ({}, "send 'Authorization: Bearer <token>' in connection_init"),
    ({"Authorization": "Bearer not.a.token"}, "malformed"),
    ({"Authorization": 42}, "send 'Authorization: Bearer <token>' in connection_init"),
]


async def test_websocket_without_a_valid_token_is_refused(server: Server) -> None:
    async with asyncio.timeout(E2E_TIMEOUT):
        for init_payload, reason in REFUSALS:
            transport = ws_transport(
                server, init_payload, WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL
            )
            with pytest.raises((TransportClosed, TransportConnectionFailed)) as refused:
                async with Client(transport=transport, execute_timeout=10) as session:
                    await session.execute(VIEWER)
            close = close_frame(refused.value)
            assert close is not None, f"{init_payload}: no close frame in {refused.value!r}"
            assert close.code == 4403, init_payload
            assert close.reason.startswith("Forbidden: "), close.reason
            assert reason in close.reason, close.reason


def close_frame(error: BaseException) -> Close | None:
    """The close frame the server sent, found along the chain of exceptions gql raised."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionClosed) and seen.rcvd is not None:
            return seen.rcvd
        seen = seen.__cause__ or seen.__context__
    return None


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics.splitlines():
        if line.startswith("#") or not line.startswith(name + "{"):
            continue
        sample, _, value = line.rpartition(" ")
        found = ",".join(sorted(sample[len(name) + 1 : -1].split(",")))
        if found == want:
            return float(value)
    return 0.0


def counts_by_process(metrics_dir: Path, route: str) -> dict[str, float]:
    """Each worker's own count of GET ``route`` requests, read from its multiprocess file."""
    out: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        total = 0.0
        for item in MmapedDict.read_all_values_from_file(str(path)):
            _, name, labels, _ = json.loads(item[0])
            if name == "trama_http_requests_total" and labels.get("route") == route:
                total += item[1]
        out[path.stem.removeprefix("counter_")] = total
    return out


async def test_several_workers_serve_and_share_metrics(
    start_server: Callable[..., Awaitable[Server]],
) -> None:
    async with asyncio.timeout(E2E_TIMEOUT):
        server = await start_server("--workers", "2")
        metrics_dir = server.var_dir / "metrics"
        route = "/.well-known/jwks.json"
        labels = {"method": "GET", "route": route, "status": "200"}

        # Requests on new connections, a few at a time, until both workers have served some
        # (/healthz answered as soon as one was up; the other may still be starting).
        sent = 0
        while sum(1 for n in counts_by_process(metrics_dir, route).values() if n) < 2:
            async with asyncio.TaskGroup() as group:
                for _ in range(8):
                    group.create_task(_get_fresh(server, route))
            sent += 8

        # Whichever worker answers /metrics, it reports the sum over all of them.
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            for _ in range(4):
                response = await http.get("/metrics")
                assert response.status_code == 200
                assert _sample(response.text, "trama_http_requests_total", **labels) == sent
        per_process = counts_by_process(metrics_dir, route)
        assert sum(per_process.values()) == sent
        assert len([n for n in per_process.values() if n]) == 2, per_process


async def _get_fresh(server: Server, path: str) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        response = await http.get(path)
        assert response.status_code == 200

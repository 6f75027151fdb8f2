"""Clients of the backbone fault tests: a subscriber that resumes by cursor, one-shot
subscriptions, the mutations that make events, and the probes of ``/metrics`` and
``/readyz``."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import httpx
from gql import Client, GraphQLRequest, gql
from gql.transport.websockets import WebsocketsTransport

from tests.e2e.processes import eventually
from tests.e2e.test_service_e2e import CREATE_CUSTOMER, UPDATE_CUSTOMER, execute, http_client, rut

if TYPE_CHECKING:
    from tests.e2e.conftest import Server

EVENTS = gql(
    """
    subscription Follow($topics: [String!], $after: String) {
      events(topics: $topics, after: $after) { cursor position topic key }
    }
    """
)
CUSTOMER_CHANGED = gql(
    """
    subscription Changed($id: ID!) { customerChanged(id: $id) { id version email } }
    """
)


# --- clients --------------------------------------------------------------------------------
def ws_client(api: Server, token: str) -> Client:
    transport = WebsocketsTransport(
        url=api.ws_url,
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        connect_timeout=5,
        close_timeout=1,
        ack_timeout=5,
    )
    return Client(transport=transport, execute_timeout=10)


class Follower:
    """Follows ``events`` on one API, reconnecting with its last cursor whenever the
    connection ends (server restarted, network gone), as a partner's client would."""

    def __init__(
        self,
        api: Server,
        token: str,
        *,
        topics: list[str] | None = None,
        after: str | None = None,
    ) -> None:
        self.api = api
        self.token = token
        self.topics = topics
        self.after = after
        self.events: list[dict[str, Any]] = []
        self.connections = 0
        self.errors: list[str] = []
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def positions(self) -> list[int]:
        return [int(e["position"]) for e in self.events]

    async def _run(self) -> None:
        while True:
            try:
                async with ws_client(self.api, self.token) as session:
                    self.connections += 1
                    variables: dict[str, Any] = {"topics": self.topics, "after": self.after}
                    stream = session.subscribe(GraphQLRequest(EVENTS, variable_values=variables))
                    self.connected.set()
                    async for item in stream:
                        event = item["events"]
                        self.events.append(event)
                        self.after = event["cursor"]
                    self.errors.append("the stream ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any break: reconnect with the last cursor
                self.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                self.connected.clear()
            await asyncio.sleep(0.2)

    async def wait_for(self, count: int, *, timeout: float) -> None:
        async def enough() -> bool:
            return len(self.events) >= count

        try:
            await eventually(enough, timeout=timeout, what=f"{count} events on the subscription")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; got {len(self.events)} after {self.connections} connections, "
                f"errors: {self.errors[-5:]}"
            ) from None


async def active_subscriptions(api: Server) -> float:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=5) as http:
        response = await http.get("/metrics")
    for line in response.text.splitlines():
        if line.startswith("trama_active_subscriptions "):
            return float(line.split()[1])
    return 0.0


async def ready_status(api: Server) -> int:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=5) as http:
        try:
            return (await http.get("/readyz")).status_code
        except httpx.TransportError:
            return 0


async def create_customers(api: Server, token: str, bodies: range | list[int]) -> list[str]:
    ids: list[str] = []
    async with http_client(api, token) as session:
        for body in bodies:
            created = await execute(
                session,
                CREATE_CUSTOMER,
                input={
                    "nationalId": {"type": "CL_RUT", "number": rut(body)},
                    "givenNames": "Eva",
                    "familyNames": "Rojas",
                },
            )
            assert created["__typename"] == "CreateCustomerSuccess", created
            ids.append(created["customer"]["id"])
    return ids


async def update_email(api: Server, token: str, customer_id: str, version: int, email: str) -> None:
    async with http_client(api, token) as session:
        updated = await execute(
            session, UPDATE_CUSTOMER, input={"id": customer_id, "version": version, "email": email}
        )
    assert updated["__typename"] == "UpdateCustomerSuccess", updated


async def collect(api: Server, token: str, count: int, **variables: Any) -> list[dict[str, Any]]:
    """Subscribe to ``events`` and return the first ``count`` events."""
    out: list[dict[str, Any]] = []
    async with ws_client(api, token) as session:
        request = GraphQLRequest(EVENTS, variable_values=variables)
        async for item in session.subscribe(request):
            out.append(item["events"])
            if len(out) >= count:
                break
    return out

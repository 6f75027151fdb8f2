"""The partner event stream through real clients: ``trama serve`` on a loopback port and
the ``gql`` client over WebSockets. Runs embedded (SQLite, in-process broker) or on
Postgres + Redis, as the suite is configured."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.websockets import WebsocketsTransport

from app.db import Database, transaction
from domain.partners import service as partners
from domain.shared import outbox
from domain.shared.event_schemas import global_id as gid
from tests.e2e.test_service_e2e import CREATE_CUSTOMER, UPDATE_CUSTOMER, execute, http_client, rut

if TYPE_CHECKING:
    from tests.e2e.conftest import Server

Trama = Callable[..., Awaitable[tuple[int, str, str]]]
TIMEOUT = 60.0

EVENTS = gql(
    """
    subscription Follow($topics: [String!], $after: String) {
      events(topics: $topics, after: $after) { cursor position topic key payload occurredAt }
    }
    """
)


async def token_for(trama: Trama, server: Server, role: str, *extra: str) -> str:
    code, out, err = await trama(server, "token", "--role", role, *extra)
    assert code == 0, err
    return out.strip()


def ws(server: Server, token: str) -> Client:
    transport = WebsocketsTransport(
        url=server.ws_url,
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        connect_timeout=10,
        close_timeout=1,  # gql waits this long for the server's close frame after a break
        ack_timeout=10,
    )
    return Client(transport=transport, execute_timeout=20)


async def collect(
    server: Server, token: str, count: int, ready: asyncio.Event, **variables: Any
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with ws(server, token) as session:
        stream = session.subscribe(GraphQLRequest(EVENTS, variable_values=variables))
        ready.set()
        async for item in stream:
            out.append(item["events"])
            if len(out) >= count:
                break
    return out


async def create_customers(server: Server, token: str, bodies: list[int]) -> list[str]:
    ids: list[str] = []
    async with http_client(server, token) as session:
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


async def test_a_partner_follows_its_events_then_resumes_by_cursor(
    server: Server, trama: Trama
) -> None:
    async with asyncio.timeout(TIMEOUT):
        andino = await token_for(trama, server, "agent", "--partner", "BANCO_ANDINO")
        other = await token_for(trama, server, "agent", "--partner", "RETAIL_SUR")
        admin = await token_for(trama, server, "admin")

        ready = asyncio.Event()
        mine = asyncio.create_task(collect(server, andino, 3, ready, topics=["customers.*"]))
        await ready.wait()
        await asyncio.sleep(0.5)  # the subscription is registered once the stream started
        ids = await create_customers(server, andino, [30_100_001, 30_100_002])
        # Another partner's change is not Andino's business.
        await create_customers(server, other, [30_100_003])
        async with http_client(server, andino) as session:
            updated = await execute(
                session, UPDATE_CUSTOMER, input={"id": ids[0], "version": 1, "email": "e@x.cl"}
            )
            assert updated["__typename"] == "UpdateCustomerSuccess", updated
        seen = await mine
        assert [e["topic"] for e in seen] == [
            "customers.created",
            "customers.created",
            "customers.updated",
        ]
        positions = [int(e["cursor"]) for e in seen]
        assert positions == sorted(positions)
        assert seen[2]["payload"]["changed"] == ["email"]
        assert "e@x.cl" not in str(seen)  # no personal data in events

        # Resuming after the first event replays exactly what came after it.
        ready = asyncio.Event()
        replay = await collect(server, andino, 2, ready, after=seen[0]["cursor"])
        assert [e["cursor"] for e in replay] == [e["cursor"] for e in seen[1:]]

        # An admin sees every partner's events, in one gap-free sequence.
        ready = asyncio.Event()
        everything = await collect(
            server,
            admin,
            4,
            ready,
            after=str(positions[0] - 1),
            topics=["customers.created", "customers.updated"],
        )
        cursors = [int(e["cursor"]) for e in everything]
        assert cursors == sorted(cursors)
        assert {e["topic"] for e in everything} == {"customers.created", "customers.updated"}


CUSTOMER_CHANGED = gql(
    """
    subscription Follow($id: ID!) {
      customerChanged(id: $id) { id version email givenNames }
    }
    """
)


async def test_customer_changed_streams_the_current_state(server: Server, trama: Trama) -> None:
    async with asyncio.timeout(TIMEOUT):
        agent = await token_for(trama, server, "agent", "--partner", "BANCO_ANDINO")
        (customer_id,) = await create_customers(server, agent, [30_200_001])
        (other_id,) = await create_customers(server, agent, [30_200_002])
        states: list[dict[str, Any]] = []
        ready = asyncio.Event()

        async def follow() -> None:
            async with ws(server, agent) as session:
                stream = session.subscribe(
                    GraphQLRequest(CUSTOMER_CHANGED, variable_values={"id": customer_id})
                )
                ready.set()
                async for item in stream:
                    state = item["customerChanged"]
                    if state["version"] == 1:
                        # the creation, relayed after the subscription started (a server
                        # busy with its scheduled jobs at start): not one of the changes
                        continue
                    states.append(state)
                    if len(states) == 2:
                        return

        task = asyncio.create_task(follow())
        await ready.wait()
        await asyncio.sleep(0.5)
        async with http_client(server, agent) as session:
            for target, version, email in [
                (other_id, 1, "o@x.cl"),  # another customer: not followed
                (customer_id, 1, "a@x.cl"),
                (customer_id, 2, "b@x.cl"),
            ]:
                changed = await execute(
                    session,
                    UPDATE_CUSTOMER,
                    input={"id": target, "version": version, "email": email},
                )
                assert changed["__typename"] == "UpdateCustomerSuccess", changed
                if target == customer_id:
                    # one state per change when they do not land together
                    while len(states) < version:
                        await asyncio.sleep(0.05)
        await task
        assert [(s["id"], s["version"], s["email"]) for s in states] == [
            (customer_id, 2, "a@x.cl"),
            (customer_id, 3, "b@x.cl"),
        ]


async def test_a_token_that_expires_ends_the_subscription_with_a_reason(
    server: Server, trama: Trama
) -> None:
    async with asyncio.timeout(TIMEOUT):
        short = await token_for(trama, server, "agent", "--partner", "BANCO_ANDINO", "--ttl", "3")
        import websockets

        async with websockets.connect(
            server.ws_url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        ) as socket:
            import json

            await socket.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {short}"}}
                )
            )
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            await socket.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": "subscription { events { cursor } }"},
                    }
                )
            )
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    message = json.loads(await asyncio.wait_for(socket.recv(), 10))
                    assert message["type"] in ("ping", "pong", "next"), message
            assert socket.close_code == 4401
            assert "token expired" in (socket.close_reason or "")


async def test_a_subscriber_that_does_not_read_is_disconnected_and_resumes(
    start_server: Callable[..., Awaitable[Server]], trama: Trama, db: Database
) -> None:
    async with asyncio.timeout(TIMEOUT):
        server = await start_server(env={"TRAMA_SUBSCRIPTION_BUFFER": "2"})
        agent = await token_for(trama, server, "agent", "--partner", "BANCO_ANDINO")
        import json

        import websockets

        async with websockets.connect(
            server.ws_url,
            subprotocols=["graphql-transport-ws"],
            max_queue=1,  # type: ignore[list-item]
        ) as socket:
            await socket.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {agent}"}}
                )
            )
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            query = 'subscription { events(topics: ["customers.created"]) { cursor } }'
            await socket.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}})
            )
            await asyncio.sleep(0.5)
            # Forty events commit at once (one relay batch) while the client stops reading:
            # the server's buffer for it (2 events) fills and it is cut off.
            async with transaction() as session:
                andino = await partners.find_by_code(session, "BANCO_ANDINO")
                assert andino is not None
                for _ in range(40):
                    customer = gid("Customer", uuid.uuid4())
                    payload = {
                        "customerId": customer,
                        "homePartnerId": gid("Partner", andino.id),
                        "version": 1,
                    }
                    outbox.add(
                        session, "customers.created", payload, partner_ids=[andino.id], key=customer
                    )
            received: list[str] = []
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    message = json.loads(await asyncio.wait_for(socket.recv(), 10))
                    if message["type"] == "next":
                        received.append(message["payload"]["data"]["events"]["cursor"])
            assert socket.close_code == 4008
            reason = socket.close_reason or ""
            assert reason.startswith("slow consumer: resume with after=")
        # It resumes from the cursor the server named and gets the rest, in order.
        resume_after = reason.rsplit("=", 1)[1]
        if received:
            assert resume_after == received[-1]
        ready = asyncio.Event()
        rest = await collect(
            server, agent, 40 - len(received), ready,
            topics=["customers.created"], after=resume_after,
        )  # fmt: skip
        cursors = [int(c) for c in received] + [int(e["cursor"]) for e in rest]
        assert cursors == sorted(set(cursors)) and len(cursors) == 40

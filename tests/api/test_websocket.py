"""GraphQL over WebSocket: ``graphql-transport-ws`` and the legacy ``graphql-ws``.

Starlette's TestClient runs the app on an event loop of its own (in a thread), so these
tests are synchronous and let the app's lifespan open and close the test database there.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

from app.main import create_app
from app.runtime import Runtime, build_runtime
from app.settings import Settings

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with `httpx2`; `httpx` still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
VIEWER = "{ viewer { subject roles partner { code } } }"


@pytest.fixture
def ws_runtime(settings: Settings) -> Runtime:
    return build_runtime(settings)


@pytest.fixture
def ws_client(ws_runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(ws_runtime.settings, runtime=ws_runtime, manage_database=True)
    with TestClient(app, base_url="http://trama.test") as client:
        yield client


def issue(
    runtime: Runtime, role: str = "agent", partner: str | None = "BANCO_ANDINO", **kw: Any
) -> str:
    token, _ = runtime.tokens.issue(
        subject=f"ws:{role}@{partner}", roles=[role], partner=partner, **kw
    )
    return token


def refused(ws: Any) -> WebSocketDisconnect:
    """The close that ends a refused connection (any message first fails the test)."""
    with pytest.raises(WebSocketDisconnect) as closed:
        message = ws.receive_json()
        pytest.fail(f"expected the connection to close, got {message}")
    return closed.value


# --- graphql-transport-ws -------------------------------------------------------------------
def test_connection_init_without_a_token_is_refused(ws_client: TestClient) -> None:
    for payload in ({}, {"Authorization": None}, {"other": "x"}):
        with ws_client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
            assert ws.accepted_subprotocol == TRANSPORT_WS
            ws.send_json({"type": "connection_init", "payload": payload})
            closed = refused(ws)
            assert closed.code == 4403
            assert "token" in closed.reason
            assert "Authorization" in closed.reason

    # Nor can a client skip connection_init.
    with ws_client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": VIEWER}})
        assert refused(ws).code == 4401  # Unauthorized


def test_connection_init_with_a_bad_token_is_refused(
    ws_client: TestClient, ws_runtime: Runtime
) -> None:
    expired = issue(ws_runtime, ttl=60, now=int(time.time()) - 3600)
    cases = [
        (f"Bearer {expired}", "the token has expired"),
        ("Bearer not-a-token", "the token is malformed"),
        ("Basic dXNlcjpwYXNz", "use the Bearer scheme"),
        (f"Bearer {issue(ws_runtime, partner=None)}", "act for a partner"),
    ]
    for authorization, reason in cases:
        with ws_client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"Authorization": authorization}})
            closed = refused(ws)
        assert closed.code == 4403
        assert reason in closed.reason
        assert closed.reason.startswith("Forbidden")


def run_transport_ws(
    client: TestClient, payload: dict[str, Any], query: str
) -> list[dict[str, Any]]:
    """connection_init with ``payload``, then one operation; the messages it got back."""
    with client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json({"type": "connection_init", "payload": payload})
        ack = ws.receive_json()
        assert ack["type"] == "connection_ack", ack
        ws.send_json({"id": "op-1", "type": "subscribe", "payload": {"query": query}})
        messages = []
        while True:
            message = ws.receive_json()
            if message["type"] == "ping":
                ws.send_json({"type": "pong"})
                continue
            messages.append(message)
            if message["type"] in ("complete", "error"):
                break
        ws.close()
    return messages


def test_a_valid_token_is_acknowledged_and_queries_run(
    ws_client: TestClient, ws_runtime: Runtime
) -> None:
    token = issue(ws_runtime)
    messages = run_transport_ws(ws_client, {"Authorization": f"Bearer {token}"}, VIEWER)
    assert messages == [
        {
            "id": "op-1",
            "type": "next",
            "payload": {
                "data": {
                    "viewer": {
                        "subject": "ws:agent@BANCO_ANDINO",
                        "roles": ["agent"],
                        "partner": {"code": "BANCO_ANDINO"},
                    }
                }
            },
        },
        {"id": "op-1", "type": "complete"},
    ]


def test_other_spellings_of_the_token(ws_client: TestClient, ws_runtime: Runtime) -> None:
    token = issue(ws_runtime, role="admin", partner=None)
    for payload in ({"authorization": f"Bearer {token}"}, {"token": token}):
        [message, _complete] = run_transport_ws(ws_client, payload, "{ viewer { roles } }")
        assert message["payload"] == {"data": {"viewer": {"roles": ["admin"]}}}


def test_errors_over_the_socket_carry_codes(ws_client: TestClient, ws_runtime: Runtime) -> None:
    token = issue(ws_runtime)
    auth = {"Authorization": f"Bearer {token}"}
    [error] = run_transport_ws(ws_client, auth, "{ viewer { nope } }")
    assert error["type"] == "error"
    assert [e["extensions"]["code"] for e in error["payload"]] == ["GRAPHQL_VALIDATION_FAILED"]

    query = '{ customerByNationalId(type: CL_RUT, number: "1") { id } }'
    [result, _complete] = run_transport_ws(ws_client, auth, query)
    assert result["payload"]["data"] == {"customerByNationalId": None}
    assert [e["extensions"]["code"] for e in result["payload"]["errors"]] == ["VALIDATION"]


# --- legacy graphql-ws ----------------------------------------------------------------------
def legacy_messages(ws: Any) -> Iterator[dict[str, Any]]:
    while True:
        message = ws.receive_json()
        if message["type"] != "ka":  # keep-alives
            yield message


def test_legacy_protocol_authenticates_and_answers(
    ws_client: TestClient, ws_runtime: Runtime
) -> None:
    token = issue(ws_runtime, role="supervisor", partner="RETAIL_SUR")
    with ws_client.websocket_connect("/graphql", subprotocols=[LEGACY_WS]) as ws:
        assert ws.accepted_subprotocol == LEGACY_WS
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        incoming = legacy_messages(ws)
        assert next(incoming) == {
            "type": "connection_ack",
            "payload": {"subject": "ws:supervisor@RETAIL_SUR"},
        }
        # The legacy protocol streams subscriptions only (queries go over HTTP or
        # graphql-transport-ws): a query is answered with a coded client error.
        ws.send_json({"id": "1", "type": "start", "payload": {"query": VIEWER}})
        answer = next(incoming)
        assert answer["id"] == "1"
        assert answer["type"] == "error"
        assert answer["payload"]["extensions"] == {"code": "BAD_REQUEST"}
        assert "queries are not allowed" in answer["payload"]["message"]
        # Invalid documents are answered with their codes as well.
        ws.send_json({"id": "2", "type": "start", "payload": {"query": "subscription { nope }"}})
        answer = next(incoming)
        assert answer["id"] == "2"
        assert answer["type"] == "error"
        assert answer["payload"]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        ws.send_json({"type": "connection_terminate"})
        assert refused(ws).code == 1000


def test_legacy_protocol_refuses_without_a_valid_token(ws_client: TestClient) -> None:
    for payload in ({}, {"Authorization": "Bearer nope"}):
        with ws_client.websocket_connect("/graphql", subprotocols=[LEGACY_WS]) as ws:
            ws.send_json({"type": "connection_init", "payload": payload})
            assert ws.receive_json()["type"] == "connection_error"
            closed = refused(ws)
        assert closed.code != 1000


# --- negotiation ----------------------------------------------------------------------------
def test_unknown_subprotocols_are_refused(ws_client: TestClient) -> None:
    for subprotocols in (["graphql-sse"], ["chat", "mqtt"], []):
        with ws_client.websocket_connect("/graphql", subprotocols=subprotocols) as ws:
            assert ws.accepted_subprotocol is None
            closed = refused(ws)
        assert closed.code == 4406
        assert "Subprotocol" in closed.reason


def test_the_preferred_known_subprotocol_is_chosen(ws_client: TestClient) -> None:
    with ws_client.websocket_connect(
        "/graphql", subprotocols=["chat", TRANSPORT_WS, LEGACY_WS]
    ) as ws:
        assert ws.accepted_subprotocol == TRANSPORT_WS
        ws.close()


CREATE_CUSTOMER = """
mutation {
  createCustomer(input: {nationalId: {type: CL_RUT, number: "%s"},
                         givenNames: "Inés", familyNames: "Araya"}) {
    __typename ... on CreateCustomerSuccess { customer { id } }
  }
}
"""
TRAIL = "query($id: ID!) { auditTrail(entityId: $id) { edges { node { requestId } } } }"


@pytest.mark.parametrize(
    ("header", "kept", "rut_base"),
    [
        ("ws-req-42", True, 15000001),
        ("4111 1111 1111 1111", False, 15000002),  # a card number never becomes a request id
        ("4111111111111111", False, 15000003),
        ("<script>alert(1)</script>", False, 15000004),
    ],
)
def test_a_websocket_request_id_is_taken_only_when_sane(
    ws_client: TestClient, ws_runtime: Runtime, header: str, kept: bool, rut_base: int
) -> None:
    from stdnum.cl import rut

    number = f"{rut_base}-{rut.calc_check_digit(str(rut_base))}"
    token = issue(ws_runtime)
    with ws_client.websocket_connect(
        "/graphql", subprotocols=[TRANSPORT_WS], headers={"x-request-id": header}
    ) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        query = CREATE_CUSTOMER % number
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
        result = ws.receive_json()
        ws.close()
    created = result["payload"]["data"]["createCustomer"]
    assert created["__typename"] == "CreateCustomerSuccess", result
    admin = issue(ws_runtime, role="admin", partner=None)
    trail = ws_client.post(
        "/graphql",
        json={"query": TRAIL, "variables": {"id": created["customer"]["id"]}},
        headers={"authorization": f"Bearer {admin}"},
    ).json()
    [record] = [e["node"] for e in trail["data"]["auditTrail"]["edges"]]
    if kept:
        assert record["requestId"] == header
    else:
        assert record["requestId"] != header and "1111" not in record["requestId"]
        assert len(record["requestId"]) == 32  # one made up for the connection

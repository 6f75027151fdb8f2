"""Following a mass resolution over a WebSocket (``bulkResolutionProgress``), in process.

This process runs no event backbone, so the subscription follows the job by reading its
row; the test plays the worker, one batch at a time, on the app's own event loop. (With a
hub, the job's ``cases.bulk_progress`` events wake the subscription instead: see
``tests/e2e/test_cases_e2e.py``.)

Starlette's TestClient runs the app on an event loop of its own, so the test is synchronous.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning
from strawberry import relay

from app.db import transaction
from app.main import create_app
from app.runtime import Runtime, build_runtime
from app.settings import Settings
from domain.cases import bulk
from resolvers import case_streams

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

TRANSPORT_WS = "graphql-transport-ws"


@pytest.fixture
def ws_runtime(settings: Settings) -> Runtime:
    return build_runtime(settings)


@pytest.fixture
def ws_client(ws_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(case_streams, "PROGRESS_POLL_SECONDS", 0.05)
    app = create_app(
        ws_runtime.settings, runtime=ws_runtime, manage_database=True, manage_backbone=False
    )
    with TestClient(app, base_url="http://trama.test") as client:
        yield client


def issue(runtime: Runtime, role: str, partner: str) -> str:
    token, _ = runtime.tokens.issue(subject=f"ws:{role}@{partner}", roles=[role], partner=partner)
    return token


def graphql(client: TestClient, token: str, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


OPEN = """
mutation Open($input: OpenCaseInput!) {
  openCase(input: $input) { __typename ... on OpenCaseSuccess { case { id } } }
}
"""
RESOLVE_CASES = """
mutation Bulk($input: ResolveCasesInput!) {
  resolveCases(input: $input) {
    __typename ... on ResolveCasesSuccess { job { id status } } ... on UserError { message }
  }
}
"""
PROGRESS = """
subscription Progress($id: ID!) {
  bulkResolutionProgress(id: $id) { id status processed resolvedCount progress }
}
"""


def test_bulk_progress_streams_each_step_until_the_job_is_done(
    ws_client: TestClient, ws_runtime: Runtime
) -> None:
    agent = issue(ws_runtime, "agent", "BANCO_ANDINO")
    supervisor = issue(ws_runtime, "supervisor", "BANCO_ANDINO")
    edges = graphql(ws_client, agent, "{ customers(first: 2) { edges { node { id } } } }")
    case_ids = []
    for edge in edges["customers"]["edges"]:
        opened = graphql(
            ws_client,
            agent,
            OPEN,
            input={
                "customerId": edge["node"]["id"],
                "typologyCode": "RECLAMO",
                "channel": "APP",
                "description": "Reclamo.",
            },
        )
        case_ids.append(opened["openCase"]["case"]["id"])
    requested = graphql(
        ws_client,
        supervisor,
        RESOLVE_CASES,
        input={"ids": case_ids, "code": "INFORMATION_PROVIDED", "note": "Respondido."},
    )["resolveCases"]
    assert requested["__typename"] == "ResolveCasesSuccess", requested
    job_id = requested["job"]["id"]
    key = uuid.UUID(relay.GlobalID.from_id(job_id).node_id)

    async def one_batch() -> None:
        async with transaction() as session:
            await bulk.process_bulk_batch(session, bulk_id=key, batch_size=1)

    assert ws_client.portal is not None
    with ws_client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {supervisor}"}}
        )
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": PROGRESS, "variables": {"id": job_id}},
            }
        )

        def next_state() -> dict[str, Any]:
            while True:
                message = ws.receive_json()
                if message["type"] == "ping":
                    ws.send_json({"type": "pong"})
                    continue
                assert message["type"] == "next", message
                state: dict[str, Any] = message["payload"]["data"]["bulkResolutionProgress"]
                return state

        states = [next_state()]
        for _ in range(3):  # one case, the other, then the batch that finds none left
            ws_client.portal.call(one_batch)
            states.append(next_state())
        assert [(s["status"], s["processed"]) for s in states] == [
            ("PENDING", 0),
            ("RUNNING", 1),
            ("RUNNING", 2),
            ("DONE", 2),
        ]
        assert states[-1]["resolvedCount"] == 2 and states[-1]["progress"] == 1
        assert {s["id"] for s in states} == {job_id}
        assert ws.receive_json() == {"id": "1", "type": "complete"}

        # Someone who may not read the job gets an error, not its progress.
        other = issue(ws_runtime, "supervisor", "RETAIL_SUR")
    with ws_client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {other}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {
                "id": "2",
                "type": "subscribe",
                "payload": {"query": PROGRESS, "variables": {"id": job_id}},
            }
        )
        message = ws.receive_json()
        assert message["type"] in ("next", "error"), message
        errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
        assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]

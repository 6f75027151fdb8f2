"""A small fake partner platform for the sync tests: a Starlette app served by uvicorn on a
free loopback port of the test process.

It checks every request's signature (its own HMAC, not Trama's code), records what it
receives, keeps the latest state of each case (by version), fails on demand (an HTTP
status, an answer slower than Trama waits, or no answer at all when stopped), and reports
its own statuses back through Trama's GraphQL API as a ``partner_system`` client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.shared.time import utcnow

GraphQL = Callable[..., Awaitable[dict[str, Any]]]

REPORT = """
mutation Report($input: ReportPartnerCaseStatusInput!) {
  reportPartnerCaseStatus(input: $input) {
    __typename
    ... on ReportPartnerCaseStatusSuccess {
      outcome caseReference caseStatus caseVersion canonicalStatus
    }
    ... on UserError { message code }
    ... on ValidationError { field }
    ... on InvalidTransitionError { fromState toState }
  }
}
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    key: str
    version: int
    reference: str
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]
    duplicate: bool
    #: An older version than one this platform already accepted for the case.
    regressed: bool


@dataclass
class FakePlatform:
    name: str
    secret: str
    #: What an ``Authorization`` header must be, when set.
    expect_authorization: str | None = None
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    #: Requests refused for a bad or missing signature or authorization.
    refused: int = 0
    #: Requests answered with ``fail_status``.
    failed: int = 0
    fail_status: int | None = None
    #: Seconds to wait before answering (longer than the connector's timeout: a timeout).
    delay: float = 0.0
    #: Latest case state by network reference.
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Our own version counter per case, for reports back to Trama.
    external_versions: dict[str, int] = field(default_factory=dict)
    token_requests: int = 0
    #: Requests being answered now, and the most ever at once, per case.
    in_flight: dict[str, int] = field(default_factory=dict)
    most_in_flight: dict[str, int] = field(default_factory=dict)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/trama/cases"

    # --- the HTTP side ----------------------------------------------------------------
    def _signed(self, request: Request, body: bytes) -> bool:
        timestamp = request.headers.get("x-trama-timestamp", "")
        signature = request.headers.get("x-trama-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(f"sha256={expected}", signature)

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        if not self._signed(request, body):
            self.refused += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if (
            self.expect_authorization is not None
            and request.headers.get("authorization") != self.expect_authorization
        ):
            self.refused += 1
            return JSONResponse({"error": "bad credentials"}, status_code=401)
        data = json.loads(body)
        case = data["case"]
        reference = case["reference"]
        self.in_flight[reference] = self.in_flight.get(reference, 0) + 1
        self.most_in_flight[reference] = max(
            self.most_in_flight.get(reference, 0), self.in_flight[reference]
        )
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight[reference] -= 1
        if self.fail_status is not None:
            self.failed += 1
            return JSONResponse({"error": "down"}, status_code=self.fail_status)
        key = request.headers.get("idempotency-key", "")
        duplicate = any(r.key == key for r in self.received)
        latest = self.state.get(case["reference"])
        regressed = latest is not None and case["version"] < latest["version"]
        self.received.append(
            Received(
                key=key,
                version=case["version"],
                reference=case["reference"],
                body=data,
                raw=body,
                headers=dict(request.headers),
                duplicate=duplicate,
                regressed=regressed,
            )
        )
        if latest is None or case["version"] > latest["version"]:
            self.state[case["reference"]] = case
        return JSONResponse({"ok": True, "duplicate": duplicate})

    async def _token(self, request: Request) -> Response:
        self.token_requests += 1
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        return JSONResponse({"access_token": f"tok-{self.name}", "expires_in": 3600})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/trama/cases", self._receive, methods=["POST"]),
                Route("/oauth/token", self._token, methods=["POST"]),
            ]
        )

    # --- running ----------------------------------------------------------------------
    async def start(self) -> FakePlatform:
        config = uvicorn.Config(
            self.app(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + 10
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start
            if time.monotonic() > deadline:
                raise RuntimeError(f"fake platform {self.name} did not start")
            await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        """Stop answering: connections are refused until :meth:`start` again."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=10)
        self._server = None
        self._task = None

    # --- what it saw ------------------------------------------------------------------
    def accepted(self, reference: str | None = None) -> list[Received]:
        return [r for r in self.received if reference is None or r.reference == reference]

    def versions(self, reference: str) -> list[int]:
        return [r.version for r in self.accepted(reference)]

    def latest(self, reference: str) -> dict[str, Any] | None:
        return self.state.get(reference)

    # --- reporting back ---------------------------------------------------------------
    async def report(
        self,
        gql: GraphQL,
        token: str,
        status: str,
        *,
        case_ref: str | None = None,
        external_ref: str | None = None,
        version: int | None = None,
        occurred_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Report our status of a case to Trama; ``version`` defaults to our next one."""
        counter_key = case_ref or external_ref or ""
        if version is None:
            version = self.external_versions.get(counter_key, 0) + 1
        self.external_versions[counter_key] = max(
            version, self.external_versions.get(counter_key, 0)
        )
        variables = {
            "input": {
                "caseRef": case_ref,
                "externalRef": external_ref,
                "partnerStatus": status,
                "occurredAt": (occurred_at or utcnow()).isoformat(),
                "externalVersion": version,
            }
        }
        response = await gql(REPORT, variables, token=token)
        assert "errors" not in response, response
        payload: dict[str, Any] = response["data"]["reportPartnerCaseStatus"]
        return payload

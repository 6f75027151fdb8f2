"""A fake credit bureau: a Starlette app served by uvicorn on a free loopback port of the
test process. It checks each request's API key and HMAC signature with its own code,
answers from a table of subjects, and misbehaves on demand: a 5xx, an answer that is not
its format, or no answer until released (slower than the client waits)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_KEY = "bureau-test-key"
SECRET = "bureau-test-secret"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FakeBureau:
    port: int = field(default_factory=free_port)
    #: national id → (score, open debts, delinquencies, inquiries)
    subjects: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    #: "ok" | "error" (503) | "malformed" | "hang" (waits for ``release``)
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _report(self, request: Request) -> Response:
        body = await request.body()
        timestamp = request.headers.get("x-timestamp", "")
        expected = hmac.new(
            SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        if request.headers.get("x-api-key") != API_KEY or not hmac.compare_digest(
            expected, request.headers.get("x-signature", "")
        ):
            self.refused += 1
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        data = json.loads(body)
        self.requests.append(data)
        if self.mode == "error":
            return JSONResponse({"error": "maintenance"}, status_code=503)
        if self.mode == "hang":
            await self.release.wait()
        if self.mode == "malformed":
            return JSONResponse({"requestId": data["requestId"], "score": "high"})
        national_id = data["subject"]["nationalId"]
        score, debts, delinquencies, inquiries = self.subjects.get(national_id, (610, 1, 0, 1))
        return JSONResponse(
            {
                "requestId": data["requestId"],
                "reportId": f"BR-{len(self.requests):06d}",
                "score": score,
                "openDebts": {
                    "count": debts,
                    "balance": {"amount": str(debts * 1_250_000), "currency": "CLP"},
                },
                "delinquencies": {
                    "last24Months": delinquencies,
                    "worstDaysPastDue": 45 if delinquencies else 0,
                },
                "inquiries": {"last6Months": inquiries},
                "reportedAt": "2026-12-02T18:00:00Z",
            }
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/reports", self._report, methods=["POST"])])

    async def start(self) -> FakeBureau:
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
                self._task.result()
            if time.monotonic() > deadline:
                raise RuntimeError("fake bureau did not start")
            await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=10)
        self._server = None
        self._task = None

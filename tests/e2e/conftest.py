"""End-to-end harness: the real ``trama serve`` on a free loopback port.

Each server gets a fresh copy of the seeded template database (``database_url`` from the
root conftest) and its own ``TRAMA_VAR_DIR``. It listens on 127.0.0.1 only, runs in its own
process group, and is always stopped at the end of the test: terminate, wait, then kill the
group if anything is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from domain.shared.time import utcnow

TEST_REDIS_URL = os.environ.get("TRAMA_TEST_REDIS_URL", "").strip()
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def trama_executable() -> str:
    beside = Path(sys.executable).parent / "trama"
    if beside.exists():
        return str(beside)
    import shutil

    found = shutil.which("trama")
    assert found, "the trama console script is not installed (pip install -e .)"
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, var_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TRAMA_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        TRAMA_DATABASE_URL=database_url,
        TRAMA_VAR_DIR=str(var_dir),
        TRAMA_ENV="test",
        TRAMA_LOG_FORMAT="text",
        TRAMA_LOG_LEVEL="WARNING",
        # the servers' business clock goes on from the test's (tests/clock.py)
        TRAMA_CLOCK_START=utcnow().isoformat(),
    )
    if TEST_REDIS_URL:
        env["TRAMA_REDIS_URL"] = TEST_REDIS_URL
        # Servers of one test share a namespace; other tests' events never reach them.
        env["TRAMA_REDIS_NAMESPACE"] = "t" + hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return env


@dataclass
class Server:
    """A running ``trama serve``; ``base_url`` is http://127.0.0.1:<port>."""

    env: dict[str, str]
    var_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    async def start(self, *extra: str) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    trama_executable(),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *extra,
                ],
                env=self.env,
                cwd=self.var_dir.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: uvicorn workers included
            )
        await self.wait_healthy()

    async def wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as http:
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"trama serve exited with {self.process.returncode}:\n{self.log()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    response = await http.get("/healthz")
                    if response.status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"trama serve was not healthy within {STARTUP_TIMEOUT}s:\n{self.log()}"
                    )
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        process = self.process
        if process is None:
            return
        self.process = None
        group = process.pid  # start_new_session: the group id is the server's pid
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        # Whatever is left of this server's group (a hung server, orphaned workers) is killed.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
        if process.poll() is None:
            process.wait(timeout=5)


@pytest.fixture
async def start_server(
    database_url: str, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    """``await start_server("--workers", "2", env={"TRAMA_X": "1"})``: a server on a fresh
    seeded database."""
    started: list[Server] = []

    async def start(*extra: str, env: dict[str, str] | None = None) -> Server:
        var_dir = tmp_path / f"var{len(started)}"
        var_dir.mkdir()
        server = Server(
            env={**server_env(database_url, var_dir), **(env or {})},
            var_dir=var_dir,
            log_path=tmp_path / f"server{len(started)}.log",
        )
        started.append(server)
        await server.start(*extra)
        return server

    try:
        yield start
    finally:
        for server in started:
            await server.stop()
            # Shown by pytest only when the test failed.
            print(f"--- {server.log_path.name} (port {server.port}) ---\n{server.log()}")


@pytest.fixture
async def server(start_server: Callable[..., Awaitable[Server]]) -> Server:
    return await start_server()


async def _run_trama(server: Server, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        trama_executable(),
        *args,
        env=server.env,
        cwd=server.var_dir.parent,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def trama() -> Callable[..., Awaitable[tuple[int, str, str]]]:
    """``await trama(server, "client", "create", …)``: the CLI with the server's environment
    (same database, same var dir); returns ``(exit code, stdout, stderr)``."""
    return _run_trama

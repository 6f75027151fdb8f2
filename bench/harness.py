"""Shared pieces of the benchmarks: a served Trama on a loopback port, a load loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TRAMA = str(Path(sys.executable).parent / "trama")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Environment:
    database_url: str
    var_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str) -> str:
        out = subprocess.run(
            [TRAMA, *args], env=self.env, check=True, capture_output=True, text=True, cwd=ROOT
        )
        return out.stdout.strip()


@contextlib.contextmanager
def environment(customers: int) -> Iterator[Environment]:
    """A migrated, seeded database: SQLite in a temp dir, or TRAMA_BENCH_DATABASE_URL."""
    tmp = Path(tempfile.mkdtemp(prefix="trama-bench-"))
    url = os.environ.get("TRAMA_BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    env = {
        **os.environ,
        "TRAMA_DATABASE_URL": url,
        "TRAMA_VAR_DIR": str(tmp),
        "TRAMA_ENV": "production",
        "TRAMA_LOG_LEVEL": "WARNING",
    }
    environment = Environment(url, tmp, env)
    try:
        environment.run("migrate")
        environment.run("seed", "--customers", str(customers))
        yield environment
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Server:
    """A running ``trama serve``: its base URL and the process (for memory and CPU)."""

    base: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://", 1) + "/graphql"


@contextlib.contextmanager
def server(
    environment: Environment, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """``trama serve`` on a free loopback port, ready; ``env`` adds settings for it."""
    port = free_port()
    process = subprocess.Popen(
        [TRAMA, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env={
            **environment.env,
            # production refuses to start without the address clients reach it at
            "TRAMA_PUBLIC_URL": f"http://127.0.0.1:{port}",
            **(env or {}),
            "TRAMA_PORT": str(port),
        },
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode() if process.stderr else "died")
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not become ready")
        yield Server(base, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def served(environment: Environment, workers: int = 1) -> Iterator[str]:
    with server(environment, workers) as running:
        yield running.base


def memory_mib(pid: int) -> dict[str, float]:
    """Resident memory of a process from /proc (Linux): now (VmRSS) and peak (VmHWM), MiB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = round(int(value.split()[0]) / 1024, 1)  # kB
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc (Linux)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def forget_redis_namespace(redis_url: str, namespace: str) -> None:
    """Delete a benchmark run's Redis keys (queues, dead letters) under ``namespace``."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def load(
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
) -> dict[str, Any]:
    """Closed loop: ``concurrency`` clients send requests back to back."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        stop_warmup = time.perf_counter() + warmup
        stop = stop_warmup + seconds
        measuring_from = stop_warmup

        async def worker() -> None:
            nonlocal errors
            while True:
                started = time.perf_counter()
                if started >= stop:
                    return
                response = await http.post(url, json=payload, headers=headers)
                ended = time.perf_counter()
                ok = response.status_code == 200 and "errors" not in response.json()
                if started >= measuring_from:
                    if ok:
                        latencies.append(ended - started)
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": seconds,
        "requests_per_second": round(len(latencies) / seconds, 1),
        "latency_ms": {
            "p50": round(percentile(latencies, 50) * 1000, 2),
            "p95": round(percentile(latencies, 95) * 1000, 2),
            "p99": round(percentile(latencies, 99) * 1000, 2),
            "mean": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0,
        },
    }

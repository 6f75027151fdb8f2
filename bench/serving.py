"""What each serving change of issue 14 buys, measured one at a time.

    TRAMA_BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/trama_bench \\
        .venv/bin/python -m bench.serving [--requests 400] [--part tokens,reads,balance]

- ``tokens``: ``TokenService.verify`` of one RS256 token, the cache off
  (TRAMA_TOKEN_CACHE_SIZE=0) and on: CPU µs per verification.
- ``reads``: a GraphQL query request in process (ASGI, no network: a customers page of 50
  with each home partner, and a case with its timeline) with each read session on its own
  pooled connection in a transaction (before), and with :func:`app.db.request_reads` (one
  autocommit connection per request): CPU ms per request, pool checkouts per request.
- ``balance``: ``trama serve --workers 2`` with one shared socket (uvicorn's way,
  TRAMA_REUSE_PORT=false) and with a SO_REUSEPORT socket per process: how 40 kept-alive
  connections spread over the two processes, and each process's share of the CPU while
  autocannon (bench/peers) sends a customers page over 10 connections.

The database must be a migrated, seeded benchmark database (bench/read_mix.py makes one).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CUSTOMERS = (
    "{ customers(first: 50) { edges { node { id givenNames familyNames email phone "
    "homePartner { code name } } } pageInfo { hasNextPage endCursor } } }"
)


def _settings(url: str, var_dir: Path, **overrides: Any) -> Any:
    from app.settings import Settings

    return Settings(
        env="production",
        database_url=url,
        var_dir=var_dir,
        public_url="http://127.0.0.1:8000",
        log_level="WARNING",
        **overrides,
    )


async def tokens_part(var_dir: Path, count: int) -> dict[str, Any]:
    from app.auth.keys import KeyStore
    from app.auth.tokens import TokenService

    keys = KeyStore.load_or_create(var_dir / "keys")
    out: dict[str, Any] = {}
    for label, size in (("cache_off", 0), ("cache_on", 10_000)):
        service = TokenService(_settings("", var_dir, token_cache_size=size), keys)
        token, _ = service.issue(subject="bench", roles=["admin"])
        await service.verify(token)
        started = time.process_time()
        for _ in range(count):
            await service.verify(token)
        out[label] = round((time.process_time() - started) / count * 1e6, 1)
    return {"cpu_us_per_verify": out}


@contextlib.asynccontextmanager
async def _no_request_reads() -> AsyncIterator[None]:
    yield


async def reads_part(url: str, var_dir: Path, count: int, rounds: int) -> dict[str, Any]:
    import httpx
    from sqlalchemy import event

    import app.graphql_http as graphql_http
    from app.db import close_database, get_database, init_database
    from app.main import create_app
    from app.runtime import build_runtime
    from app.settings import Settings

    # The normal path (the compiled reads, when this Trama has them, read differently).
    off = {"compiled_reads": "off"} if "compiled_reads" in Settings.model_fields else {}
    settings = _settings(url, var_dir, authenticated_rate_limit="off", **off)
    init_database(url)
    runtime = build_runtime(settings)
    token, _ = runtime.tokens.issue(subject="bench", roles=["admin"], ttl=3600)
    app = create_app(settings, runtime=runtime, manage_database=False)
    checkouts = 0

    def counted(*_: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    engine = get_database().engine.sync_engine
    event.listen(engine, "checkout", counted)
    headers = {"authorization": f"Bearer {token}"}
    results: dict[str, Any] = {}
    original = graphql_http.request_reads
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
        ) as http:
            case_id = await _a_case(http, headers)
            timeline = (
                f'{{ case(id: "{case_id}") {{ reference status timeline(first: 50) '
                "{ edges { node { seq at kind note } } } } }"
            )
            variants = (("session_per_read", _no_request_reads), ("request_reads", original))
            for query_name, query in (("customers", CUSTOMERS), ("case_timeline", timeline)):
                samples: dict[str, list[tuple[float, float, float]]] = {}
                for _round in range(rounds):
                    # Alternate the two ways in every round: the machine's load drifts.
                    for label, reads in variants:
                        graphql_http.request_reads = reads
                        for _ in range(10):  # warm-up: caches, pool
                            await http.post("/graphql", json={"query": query}, headers=headers)
                        checkouts = 0
                        started_cpu, started = time.process_time(), time.perf_counter()
                        for _ in range(count):
                            response = await http.post(
                                "/graphql", json={"query": query}, headers=headers
                            )
                            assert response.status_code == 200
                            assert "errors" not in response.json()
                        samples.setdefault(label, []).append(
                            (
                                (time.process_time() - started_cpu) / count * 1000,
                                (time.perf_counter() - started) / count * 1000,
                                checkouts / count,
                            )
                        )
                for label, values in samples.items():
                    results.setdefault(query_name, {})[label] = {
                        "cpu_ms_per_request": round(statistics.median(v[0] for v in values), 3),
                        "wall_ms_per_request": round(statistics.median(v[1] for v in values), 3),
                        "checkouts_per_request": round(values[0][2], 2),
                        "cpu_ms_per_round": [round(v[0], 3) for v in values],
                    }
    finally:
        graphql_http.request_reads = original
        event.remove(engine, "checkout", counted)
        await close_database()
    return results


async def _a_case(http: Any, headers: dict[str, str]) -> str:
    found = await http.post(
        "/graphql",
        json={"query": "{ cases(view: NETWORK, first: 1) { edges { node { id } } } }"},
        headers=headers,
    )
    body = found.json()
    if "data" not in body:
        raise SystemExit(f"cannot read a case: {body}")
    return str(body["data"]["cases"]["edges"][0]["node"]["id"])


# --- balance ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _workers(pid: int, port: int) -> dict[int, dict[str, int]]:
    states: dict[int, str] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            states[int(fields[9])] = fields[3]
    out: dict[int, dict[str, int]] = {}
    for path in Path("/proc").iterdir():
        entry = path.name
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[1]) != pid:
                continue
            inodes = set()
            for fd in Path(f"/proc/{entry}/fd").iterdir():
                target = str(fd.readlink())
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
            mine = [states[i] for i in inodes if i in states]
            if "0A" in mine:
                out[int(entry)] = {"established": mine.count("01")}
    return out


def _cpu(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def balance_part(url: str, var_dir: Path, seconds: float) -> dict[str, Any]:
    peers = ROOT / "bench" / "peers" / "node_modules"
    out: dict[str, Any] = {}
    for label, reuse in (("shared_socket", "false"), ("so_reuseport", "true")):
        port = _free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TRAMA_DATABASE_URL": url,
            "TRAMA_VAR_DIR": str(var_dir),
            "TRAMA_ENV": "production",
            "TRAMA_LOG_LEVEL": "WARNING",
            "TRAMA_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "TRAMA_REUSE_PORT": reuse,
            "TRAMA_AUTHENTICATED_RATE_LIMIT": "off",
        }
        token = subprocess.run(
            [sys.executable, "-m", "app.cli", "token", "--role", "admin"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while len(_workers(process.pid, port)) < 2:
                assert time.monotonic() < deadline, "workers did not start"
                time.sleep(0.2)
            time.sleep(2)
            held = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
            time.sleep(1)
            spread = sorted(w["established"] for w in _workers(process.pid, port).values())
            for conn in held:
                conn.close()
            pids = list(_workers(process.pid, port))
            before = {p: _cpu(p) for p in pids}
            body = json.dumps({"query": CUSTOMERS})
            cannon = subprocess.run(
                [
                    str(peers / ".bin" / "node"),
                    str(peers / "autocannon" / "autocannon.js"),
                    "--json",
                    "-c",
                    "10",
                    "-d",
                    str(seconds),
                    "-m",
                    "POST",
                    "-b",
                    body,
                    "-H",
                    "content-type=application/json",
                    "-H",
                    f"authorization=Bearer {token}",
                    f"http://127.0.0.1:{port}/graphql",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            report = json.loads(cannon.stdout)
            cpu = sorted(round(_cpu(p) - before[p], 2) for p in pids)
            out[label] = {
                "connections_per_process_of_40": spread,
                "cpu_seconds_per_process_under_load": cpu,
                "requests_per_second": round(report["2xx"] / report["duration"], 1),
                "p99_ms": report["latency"]["p99"],
            }
        finally:
            import signal

            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--part", default="tokens,reads,balance")
    args = parser.parse_args(argv)
    url = os.environ.get("TRAMA_BENCH_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        raise SystemExit("set TRAMA_BENCH_DATABASE_URL to a seeded PostgreSQL benchmark database")
    parts = set(args.part.split(","))
    var_dir = Path(tempfile.mkdtemp(prefix="trama-serving-"))
    report: dict[str, Any] = {
        "benchmark": "serving changes of issue 14, one at a time",
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    if "tokens" in parts:
        report["tokens"] = asyncio.run(tokens_part(var_dir, args.requests * 5))
    if "reads" in parts:
        report["reads"] = asyncio.run(reads_part(url, var_dir, args.requests, args.rounds))
    if "balance" in parts:
        report["balance"] = balance_part(url, var_dir, args.seconds)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

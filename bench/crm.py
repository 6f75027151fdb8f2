"""CRM: ``captureLead`` sustained, and a customer timeline of 5,000 items paged by 50.

    python -m bench.crm [--customers 200] [--concurrency 8] [--seconds 15] [--items 5000]

Serves Trama on a loopback port over SQLite in a temp dir (or TRAMA_BENCH_DATABASE_URL, an
empty dedicated database: it is migrated and seeded). The form's minimum time and rate limit
are off for the run (they would refuse a benchmark as they refuse a script); every request
is a new person (distinct e-mail and phone), so each one writes a lead, its opportunity,
first-contact task, timeline items, audit and events. The timeline part writes 5,000 items
on one customer (a mix of kinds and partners) and reads it page by page (first: 50) as the
lender's advisor: p50/p99 per page. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import harness
from bench.harness import environment, load_average, percentile

CAPTURE = """
mutation Capture($input: CaptureLeadInput!) {
  captureLead(input: $input) { __typename ... on CaptureLeadSuccess { receipt { received } } }
}"""
TOKEN = 'query { leadFormToken(lender: "AUTOCREDITO") { token } }'
TIMELINE = """
query Timeline($id: ID!, $after: String) {
  node(id: $id) {
    ... on Customer {
      timeline(first: 50, after: $after) {
        edges { cursor node { __typename ... on TimelineItem { id kind occurredAt data } } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}"""


async def capture_load(
    base: str, *, concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    counter = itertools.count(1)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(timeout=30) as http:
        form = (await http.post(f"{base}/graphql", json={"query": TOKEN})).json()
        token = form["data"]["leadFormToken"]["token"]
        start_measuring = time.perf_counter() + warmup
        stop = start_measuring + seconds

        async def client() -> None:
            nonlocal errors
            while (started := time.perf_counter()) < stop:
                n = next(counter)
                variables = {
                    "input": {
                        "lender": "AUTOCREDITO",
                        "formToken": token,
                        "name": "Persona Prueba",
                        "email": f"bench{n}@example.cl",
                        "phone": f"+5698{n % 10_000_000:07d}",
                        "amount": {"amount": "9000000", "currency": "CLP"},
                        "simulation": {
                            "inputs": {"termMonths": 36},
                            "result": {"installment": "300000"},
                        },
                        "consent": True,
                        "consentTextVersion": "2026-11",
                        "utmSource": "google",
                        "utmMedium": "cpc",
                        "utmCampaign": "bench",
                    }
                }
                try:
                    response = await http.post(
                        f"{base}/graphql", json={"query": CAPTURE, "variables": variables}
                    )
                    ok = response.status_code == 200 and "errors" not in response.json()
                except httpx.HTTPError:
                    ok = False
                ended = time.perf_counter()
                if started >= start_measuring:
                    if ok:
                        latencies.append(ended - started)
                    else:
                        errors += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return {
        "requests": len(latencies),
        "errors": errors,
        "req_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }


async def fill_timeline(database_url: str, items: int) -> tuple[str, Any]:
    """Write ``items`` timeline items on the first customer of AutoCrédito's country."""
    import sqlalchemy as sa

    from app.db import close_database, init_database, transaction
    from domain.crm.models import CrmTimelineItem, TimelineKind
    from domain.customers.models import Customer
    from domain.partners.models import Partner
    from domain.shared.ids import uuid7
    from domain.shared.models import table_of
    from domain.shared.outbox import audience_of

    init_database(database_url)
    try:
        async with transaction() as session:
            lender = (
                await session.execute(sa.select(Partner).where(Partner.code == "AUTOCREDITO"))  # type: ignore[arg-type]
            ).scalar_one()
            other = (
                await session.execute(sa.select(Partner).where(Partner.id != lender.id).limit(1))  # type: ignore[arg-type]
            ).scalar_one()
            customer = (await session.execute(sa.select(Customer).limit(1))).scalar_one()
            kinds = list(TimelineKind)
            start = datetime(2025, 1, 1, tzinfo=UTC)
            rows = [
                {
                    "id": uuid7(),
                    "lead_id": None,
                    "customer_id": customer.id,
                    "kind": kinds[i % len(kinds)].value,
                    "occurred_at": start + timedelta(minutes=37 * i),
                    "partner_id": lender.id if i % 5 else other.id,
                    "audience": audience_of([lender.id if i % 5 else other.id]),
                    "visible_to_customer": i % 2 == 0,
                    "payload": {"topic": "bench", "text": f"item {i}"},
                    "source_ref": f"bench:{customer.id}:{i}",
                    "created_at": start,
                }
                for i in range(items)
            ]
            table = table_of(CrmTimelineItem)
            for chunk in range(0, len(rows), 1000):
                await session.execute(table.insert(), rows[chunk : chunk + 1000])
            return str(customer.id), lender.code
    finally:
        await close_database()


async def timeline_pages(base: str, customer_gid: str, token: str, rounds: int) -> dict[str, Any]:
    latencies: list[float] = []
    pages = 0
    async with httpx.AsyncClient(timeout=30) as http:
        headers = {"authorization": f"Bearer {token}"}
        for _ in range(rounds):
            after = None
            while True:
                started = time.perf_counter()
                response = await http.post(
                    f"{base}/graphql",
                    json={"query": TIMELINE, "variables": {"id": customer_gid, "after": after}},
                    headers=headers,
                )
                latencies.append(time.perf_counter() - started)
                body = response.json()
                assert "errors" not in body, body
                page = body["data"]["node"]["timeline"]
                pages += 1
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
    return {
        "pages": pages,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }


@contextlib.contextmanager
def _serve(env: Any, settings: dict[str, str], *, ready_within: float = 180) -> Iterator[str]:
    """``trama serve`` on a free loopback port like the harness's, but waiting up to
    ``ready_within`` seconds: on a loaded machine the embedded workers first relay the
    seed's events, which may take longer than the harness's 30 s."""
    port = harness.free_port()
    process = subprocess.Popen(
        [harness.TRAMA, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env={
            **env.env,
            "TRAMA_PUBLIC_URL": f"http://127.0.0.1:{port}",
            **settings,
            "TRAMA_PORT": str(port),
        },
        cwd=harness.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_within
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError("trama serve exited")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from strawberry import relay

    with environment(args.customers) as env:
        customer_id, _ = asyncio.run(fill_timeline(env.database_url, args.items))
        token = env.run("token", "--role", "advisor", "--partner", "AUTOCREDITO", "--ttl", "3600")
        settings = {"TRAMA_LEAD_FORM_MIN_SECONDS": "0", "TRAMA_LEAD_CAPTURE_RATE_LIMIT": "off"}
        load_before = load_average()
        with _serve(env, settings) as base:
            capture = asyncio.run(
                capture_load(
                    base, concurrency=args.concurrency, seconds=args.seconds, warmup=args.warmup
                )
            )
            gid = str(relay.GlobalID("Customer", customer_id))
            timeline = asyncio.run(timeline_pages(base, gid, token, args.rounds))
        print(
            json.dumps(
                {
                    "benchmark": "crm",
                    "database": env.database_url.split(":")[0],
                    "python": platform.python_version(),
                    "capture_lead": {
                        "concurrency": args.concurrency,
                        "seconds": args.seconds,
                        **capture,
                    },
                    "timeline": {"items": args.items, "page": 50, **timeline},
                    "load_average": {"before": load_before, "after": load_average()},
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

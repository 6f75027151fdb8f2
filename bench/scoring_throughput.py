"""Applications scored per second by the worker's path, in one process.

    python -m bench.scoring_throughput [--applications 2000] [--concurrency 16]

A migrated, seeded database (SQLite in a temp dir, or TRAMA_BENCH_DATABASE_URL; the seed
activates AutoCrédito's reference scorecard); a fake credit bureau in its own process on
a loopback port (signed requests checked, JSON reports); ``--applications`` submitted
applications of the seed's Chilean customers inserted at once; then
``scoring.score_application`` — the job the Dramatiq actor runs: facts from the database,
the bureau over HTTP outside any transaction, the engine, the decision stored and handed to
origination's ``apply_decision`` in one transaction — for every application, at most
``--concurrency`` at a time on one event loop. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from typing import Any

from bench.harness import environment, free_port, load_average

KEY = "bench-key"
SECRET = "bench-secret"


def serve_bureau(port: int) -> None:
    """The fake bureau (run in a child process)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def report(request: Request) -> Response:
        body = await request.body()
        stamp = request.headers.get("x-timestamp", "")
        expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        if request.headers.get("x-api-key") != KEY or not hmac.compare_digest(
            expected.hexdigest(), request.headers.get("x-signature", "")
        ):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        data = json.loads(body)
        seed = int(hashlib.sha256(data["subject"]["nationalId"].encode()).hexdigest()[:6], 16)
        return JSONResponse(
            {
                "requestId": data["requestId"],
                "reportId": f"BR-{seed:08d}",
                "score": 450 + seed % 450,
                "openDebts": {"count": seed % 4, "balance": {"amount": "0", "currency": "CLP"}},
                "delinquencies": {"last24Months": seed % 3, "worstDaysPastDue": 0},
                "inquiries": {"last6Months": seed % 7},
                "reportedAt": "2026-12-07T12:00:00Z",
            }
        )

    app = Starlette(routes=[Route("/v1/reports", report, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _insert(n: int) -> list[uuid.UUID]:
    import sqlalchemy as sa
    from sqlmodel import col

    from app.db import transaction
    from domain.customers.models import Customer
    from domain.origination.models import ApplicationState, CreditApplication
    from domain.partners.models import Partner
    from domain.shared.time import utcnow

    ids: list[uuid.UUID] = []
    async with transaction() as session:
        lender = (
            await session.execute(sa.select(Partner).where(col(Partner.code) == "AUTOCREDITO"))
        ).scalar_one()
        customers = list(
            (
                await session.execute(
                    sa.select(col(Customer.id)).where(col(Customer.national_id_type) == "CL_RUT")
                )
            ).scalars()
        )
        now = utcnow()
        for i in range(n):
            app_id = uuid.uuid4()
            ids.append(app_id)
            session.add(
                CreditApplication(
                    id=app_id,
                    reference=f"AP-2026-{800000 + i:06d}",
                    lender_id=lender.id,
                    customer_id=customers[i % len(customers)],
                    requested_principal=6_000_000 + (i % 20) * 250_000,
                    down_payment=1_500_000 + (i % 7) * 200_000,
                    currency="CLP",
                    term_months=24 + (i % 4) * 12,
                    monthly_income=900_000 + (i % 11) * 150_000,
                    employment_type=["EMPLOYED", "SELF_EMPLOYED", "FIXED_TERM"][i % 3],
                    employment_months=i % 120,
                    declared_obligations=(i % 9) * 40_000,
                    state=ApplicationState.SUBMITTED.value,
                    submitted_at=now,
                    created_by="bench",
                )
            )
    return ids


async def _noop_decision(session: Any, **kwargs: Any) -> None:
    return None


async def _run(url: str, n: int, concurrency: int, *, origination: bool) -> dict[str, Any]:
    from app.db import close_database, init_database

    init_database(url)
    try:
        ids = await _insert(n)
        from workers.actors import scoring

        if not origination:  # diagnostic: scoring's part alone, the application left SUBMITTED
            scoring.apply_decision = lambda: _noop_decision
        gate = asyncio.Semaphore(concurrency)
        outcomes: dict[str, int] = {}

        async def one(app_id: uuid.UUID) -> None:
            async with gate:
                result = await scoring.score_application(application_id=str(app_id))
                key = f"{result['status']}:{result['outcome']}"
                outcomes[key] = outcomes.get(key, 0) + 1

        await one(ids[0])  # warm up (imports, pools, the card parsed once)
        started = time.perf_counter()
        cpu = time.process_time()
        await asyncio.gather(*(one(i) for i in ids[1:]))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        return {
            "scored": n - 1,
            "seconds": round(elapsed, 3),
            "applications_per_second": round((n - 1) / elapsed, 1),
            "cpu_seconds": round(cpu, 3),
            "outcomes": outcomes,
        }
    finally:
        await close_database()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--applications", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument(
        "--without-origination",
        action="store_true",
        help="diagnostic: skip origination's apply_decision (scoring's own cost)",
    )
    parser.add_argument("--serve-bureau", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bureau:
        serve_bureau(args.serve_bureau)
        return
    port = free_port()
    bureau = subprocess.Popen(
        [sys.executable, "-m", "bench.scoring_throughput", "--serve-bureau", str(port)]
    )
    try:
        with environment(args.customers) as env:
            os.environ.update(
                TRAMA_DATABASE_URL=env.database_url,
                TRAMA_VAR_DIR=str(env.var_dir),
                TRAMA_BUREAU_URL=f"http://127.0.0.1:{port}",
                TRAMA_BUREAU_API_KEY=KEY,
                TRAMA_BUREAU_SECRET=SECRET,
                TRAMA_LOG_LEVEL="WARNING",
            )
            before = load_average()
            result = asyncio.run(
                _run(
                    env.database_url,
                    args.applications,
                    args.concurrency,
                    origination=not args.without_origination,
                )
            )
            print(
                json.dumps(
                    {
                        "bench": "scoring_throughput",
                        "database": env.database_url.split(":")[0],
                        "concurrency": args.concurrency,
                        "origination": not args.without_origination,
                        **result,
                        "load_before": before,
                        "load_after": load_average(),
                        "python": platform.python_version(),
                    }
                )
            )
    finally:
        bureau.terminate()
        bureau.wait(timeout=10)


if __name__ == "__main__":
    main()

"""Throughput of mass resolution: 50,000 cases resolved by one request, through the job
function (``cases.resolve_bulk``: one transaction per batch, set-based).

    python -m bench.cases_bulk [--resolve 50000] [--cases 100000] [--customers 10000]
                               [--batch-size 500]

Uses the database in TRAMA_BENCH_DATABASE_URL (an empty database dedicated to the
benchmark: it is migrated, seeded with ``--cases`` demo cases, and ``--resolve`` of them
are resolved), or SQLite in a temp dir. The request is an administrator's filter over the
NETWORK view: the RESOLVABLE cases not waiting for a derivation, the oldest first up to
``--resolve`` of them (a created-before bound). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from datetime import timedelta
from typing import Any

from bench.cases_search import environment
from bench.harness import load_average


async def run(url: str, resolve: int, batch_size: int) -> dict[str, Any]:
    import sqlalchemy as sa

    from app.db import close_database, init_database, read_session, transaction
    from domain.cases import bulk
    from domain.cases.models import Case, CaseEvent
    from domain.cases.search import CaseFilter
    from domain.cases.states import RESOLVABLE
    from domain.shared.models import table_of
    from domain.shared.outbox import OutboxEvent
    from domain.shared.principal import SYSTEM
    from workers.actors import cases as case_jobs

    init_database(url)
    try:
        cases = table_of(Case)
        statuses = sorted(s.value for s in RESOLVABLE)
        async with read_session() as session:
            available = (
                await session.execute(
                    sa.select(sa.func.count()).where(
                        cases.c.status.in_(statuses), cases.c.pending_derivation_to.is_(None)
                    )
                )
            ).scalar_one()
            if available < resolve:
                raise SystemExit(f"only {available} resolvable cases; seed more (--cases)")
            bound = (
                await session.execute(
                    sa.select(cases.c.created_at)
                    .where(cases.c.status.in_(statuses), cases.c.pending_derivation_to.is_(None))
                    .order_by(cases.c.created_at, cases.c.id)
                    .offset(resolve - 1)
                    .limit(1)
                )
            ).scalar_one()
            events_before = (
                await session.execute(sa.select(sa.func.count()).select_from(table_of(OutboxEvent)))
            ).scalar_one()
        started = time.perf_counter()
        async with transaction() as session:
            job = await bulk.request_bulk_resolution(
                session,
                principal=SYSTEM,
                code="INFORMATION_PROVIDED",
                note="Cierre masivo de casos informativos (benchmark).",
                filter=CaseFilter(
                    statuses=statuses,
                    pending_derivation=False,
                    created_to=bound + timedelta(microseconds=1),
                ),
                view="NETWORK",
            )
        requested = time.perf_counter()
        result = await case_jobs.resolve_bulk(bulk_id=str(job.id), batch_size=batch_size)
        finished = time.perf_counter()
        async with read_session() as session:
            timeline = (
                await session.execute(
                    sa.select(sa.func.count()).where(table_of(CaseEvent).c.kind == "BULK_RESOLVED")
                )
            ).scalar_one()
            events = (
                await session.execute(sa.select(sa.func.count()).select_from(table_of(OutboxEvent)))
            ).scalar_one() - events_before
    finally:
        await close_database()
    seconds = finished - requested
    return {
        "requested_cases": job.total,
        "request_seconds": round(requested - started, 3),
        "job": result,
        "job_seconds": round(seconds, 2),
        "cases_per_second": round(result["resolved"] / seconds, 1),
        "batches": -(-result["processed"] // batch_size),
        "timeline_entries": timeline,
        "outbox_events": events,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resolve", type=int, default=50_000)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    with environment(args.customers, args.cases) as env:
        load_before = load_average()
        result = asyncio.run(run(env.database_url, args.resolve, args.batch_size))
    report = {
        "benchmark": "mass resolution through cases.resolve_bulk",
        "database": env.database_url.split("://")[0],
        "cases": args.cases,
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_before": load_before,
        "load_after": load_average(),
        **result,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Latency of the unified case search ``cases(view:, filter:, orderBy:, first: 50)`` over
100,000 cases, through GraphQL against a served Trama.

    python -m bench.cases_search [--cases 100000] [--customers 10000] [--workers 1]
                                 [--concurrency 10] [--seconds 15] [--warmup 3]

Uses the database in TRAMA_BENCH_DATABASE_URL (an empty database dedicated to the
benchmark: it is migrated and seeded; seeding is additive, so a database seeded by an
earlier run is reused as is), or SQLite in a temp dir. Each scenario is a closed loop of
``--concurrency`` clients for ``--seconds``. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import Environment, load, load_average, served

FIELDS = """
    totalCount
    facets { byStatus { status count } byTypology { code count } }
    edges {
      cursor
      node {
        id reference status priority slaState slaDueAt createdAt updatedAt typologyCode
        description piiMasked
        customer { name nationalId { type number } }
        handlingPartner { code }
        originatingPartner { code }
      }
    }
    pageInfo { hasNextPage endCursor }
"""


def query(name: str, arguments: str) -> str:
    return f"query {name} {{ cases({arguments}, first: 50) {{ {FIELDS} }} }}"


#: (name, role, partner, GraphQL arguments)
SCENARIOS: list[tuple[str, str, str | None, str]] = [
    ("own_newest", "agent", "BANCO_ANDINO", "view: OWN"),
    (
        "ecosystem_active_by_sla",
        "supervisor",
        "BANCO_ANDINO",
        "view: ECOSYSTEM, filter: {statuses: [OPEN, IN_PROGRESS, WAITING_PARTNER]}, "
        "orderBy: SLA_DUE_AT_ASC",
    ),
    ("network_text_name", "admin", None, 'view: NETWORK, filter: {text: "gonzalez"}'),
    (
        "network_masked_breached",
        "network_viewer",
        None,
        "view: NETWORK, filter: {slaStates: [BREACHED]}, orderBy: SLA_DUE_AT_ASC",
    ),
]


@contextlib.contextmanager
def environment(customers: int, cases: int) -> Iterator[Environment]:
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
        environment.run("seed", "--customers", str(customers), "--cases", str(cases))
        yield environment
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


#: The same scenarios for the domain function in process (``--path domain``).
DOMAIN_SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "own_newest": ("OWN", {}),
    "ecosystem_active_by_sla": (
        "ECOSYSTEM",
        {
            "filter": {"statuses": ["OPEN", "IN_PROGRESS", "WAITING_PARTNER"]},
            "order_by": "SLA_DUE_AT_ASC",
        },
    ),
    "network_text_name": ("NETWORK", {"filter": {"text": "gonzalez"}}),
    "network_masked_breached": (
        "NETWORK",
        {"filter": {"sla_states": ["BREACHED"]}, "order_by": "SLA_DUE_AT_ASC"},
    ),
}


async def domain_load(
    url: str,
    name: str,
    role: str,
    partner: str | None,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
) -> dict[str, Any]:
    """Closed loop on ``search_cases`` itself (no HTTP, no GraphQL): what the domain and
    the database cost."""
    import statistics
    import time

    import sqlalchemy as sa

    from app.db import close_database, init_database, read_session
    from bench.harness import percentile
    from domain.cases import search
    from domain.partners.models import Partner
    from domain.shared.principal import ROLE_SCOPES, Principal, Role

    init_database(url, pool_size=concurrency)
    try:
        partner_id = None
        if partner:
            async with read_session() as session:
                partner_id = (
                    await session.execute(
                        sa.select(Partner.id).where(Partner.code == partner)  # type: ignore[arg-type]
                    )
                ).scalar_one()
        who = Principal(
            subject=f"bench:{role}",
            roles=frozenset({Role(role)}),
            scopes=ROLE_SCOPES[Role(role)],
            partner_id=partner_id,
        )
        view, options = DOMAIN_SCENARIOS[name]
        kwargs = dict(options)
        if "filter" in kwargs:
            kwargs["filter"] = search.CaseFilter(**kwargs["filter"])
        latencies: list[float] = []
        measuring_from = time.perf_counter() + warmup
        stop = measuring_from + seconds

        async def worker() -> None:
            while (started := time.perf_counter()) < stop:
                async with read_session() as session:
                    await search.search_cases(
                        session,
                        principal=who,
                        view=view,
                        first=50,
                        with_total=True,
                        with_facets=True,
                        **kwargs,
                    )
                if started >= measuring_from:
                    latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await close_database()
    return {
        "requests": len(latencies),
        "errors": 0,
        "seconds": seconds,
        "requests_per_second": round(len(latencies) / seconds, 1),
        "latency_ms": {
            "p50": round(percentile(latencies, 50) * 1000, 2),
            "p95": round(percentile(latencies, 95) * 1000, 2),
            "p99": round(percentile(latencies, 99) * 1000, 2),
            "mean": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0,
        },
    }


def token(env: Environment, role: str, partner: str | None) -> str:
    args = ["token", "--role", role, "--ttl", "3600"]
    if partner:
        args += ["--partner", partner]
    return env.run(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument(
        "--path",
        choices=("graphql", "domain"),
        default="graphql",
        help="graphql: through a served Trama (default); domain: search_cases in process",
    )
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    results: dict[str, Any] = {}
    with environment(args.customers, args.cases) as env:
        if args.path == "domain":
            for name, role, partner, arguments in SCENARIOS:
                if wanted and name not in wanted:
                    continue
                results[name] = {
                    "role": role,
                    "arguments": arguments,
                    "load_before": load_average(),
                    **asyncio.run(
                        domain_load(
                            env.database_url,
                            name,
                            role,
                            partner,
                            concurrency=args.concurrency,
                            seconds=args.seconds,
                            warmup=args.warmup,
                        )
                    ),
                }
        else:
            tokens = {(r, p): token(env, r, p) for _, r, p, _ in SCENARIOS}
            with served(env, workers=args.workers) as base:
                for name, role, partner, arguments in SCENARIOS:
                    if wanted and name not in wanted:
                        continue
                    results[name] = {
                        "role": role,
                        "arguments": arguments,
                        "load_before": load_average(),
                        **asyncio.run(
                            load(
                                f"{base}/graphql",
                                {"query": query(name, arguments), "operationName": name},
                                {
                                    "authorization": f"Bearer {tokens[(role, partner)]}",
                                    "content-type": "application/json",
                                },
                                concurrency=args.concurrency,
                                seconds=args.seconds,
                                warmup=args.warmup,
                            )
                        ),
                    }
    report = {
        "benchmark": "cases(view, filter, orderBy, first: 50) with totalCount and facets",
        "path": "GraphQL over HTTP (trama serve)"
        if args.path == "graphql"
        else "search_cases in process (no HTTP, no GraphQL)",
        "database": env.database_url.split("://")[0],
        "cases": args.cases,
        "customers": args.customers,
        "api_processes": args.workers,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "scenarios": results,
    }
    print(json.dumps(report, indent=2))
    return 0 if all(r["errors"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

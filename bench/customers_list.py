"""Requests per second of ``customers(first: 50)`` against a served Trama.

    python -m bench.customers_list [--customers 10000] [--workers 1] [--concurrency 16]
                                   [--seconds 15]

Uses SQLite in a temp dir, or the database in TRAMA_BENCH_DATABASE_URL (an empty,
dedicated database: it is migrated and seeded). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys

from bench.harness import environment, load, served

QUERY = """
query CustomersPage {
  customers(first: 50) {
    totalCount
    edges {
      cursor
      node {
        id
        givenNames
        familyNames
        nationalId { type number }
        email
        phone
        version
        homePartner { code name }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    args = parser.parse_args(argv)
    with environment(args.customers) as env:
        token = env.run("token", "--role", "agent", "--partner", "BANCO_ANDINO", "--ttl", "3600")
        with served(env, workers=args.workers) as base:
            result = asyncio.run(
                load(
                    f"{base}/graphql",
                    {"query": QUERY, "operationName": "CustomersPage"},
                    {"authorization": f"Bearer {token}", "content-type": "application/json"},
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    warmup=args.warmup,
                )
            )
    report = {
        "benchmark": "customers(first: 50)",
        "database": env.database_url.split("://")[0],
        "customers": args.customers,
        "api_processes": args.workers,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        **result,
    }
    print(json.dumps(report, indent=2))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

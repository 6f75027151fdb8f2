"""Latency of ``vehicles(affordableFor:)`` over 100,000 vehicles, at concurrency 10.

    python -m bench.vehicles_affordable [--vehicles 100000] [--concurrency 10]
                                        [--seconds 20] [--workers 1]

Needs an empty, dedicated PostgreSQL database in TRAMA_BENCH_DATABASE_URL (SQLite works
too, for a try). It is migrated and seeded; the vehicles arrive as dealers' feeds through
``domain.marketplace.feeds`` (four dealers, 25,000 rows each: the feed import is timed
too); a demo customer is pre-qualified at AutoCrédito by origination's own
``prequalify``; then a customer token asks, back to back from ``--concurrency`` clients,
for the first page (20) of what they can afford, most expensive first, with each
vehicle's monthly installment and the total. Prints one JSON object (p50/p95/p99).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bench.harness import Environment, environment, load, load_average, server

QUERY = """
query Affordable($customer: ID!) {
  vehicles(affordableFor: $customer, orderBy: PRICE_DESC, first: 20) {
    totalCount
    affordability { grade maxPrice { amount } }
    edges {
      cursor
      node {
        id make model trim year kilometres fuel status
        price { amount currency }
        monthlyInstallment { amount }
        financedAmount { amount }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MAKES = {
    "Toyota": ["Yaris", "Corolla", "RAV4", "Hilux"],
    "Kia": ["Morning", "Rio", "Sportage"],
    "Hyundai": ["Accent", "Tucson", "Creta"],
    "Chevrolet": ["Sail", "Groove", "Tracker"],
    "Suzuki": ["Swift", "Vitara"],
    "Mazda": ["Mazda2", "CX-5"],
    "Nissan": ["Versa", "Kicks"],
    "Peugeot": ["208", "2008"],
}
HEADER = "stock_id;marca;modelo;version;año;km;combustible;transmision;color;precio"


def feed(code: str, count: int, this_year: int) -> bytes:
    rng = random.Random(f"bench-{code}")
    lines = [HEADER]
    for n in range(count):
        make = rng.choice(sorted(MAKES))
        model = rng.choice(MAKES[make])
        year = this_year - rng.randint(0, 14)
        price = rng.randint(300, 4_500) * 10_000
        fuel = rng.choice(["Bencina", "Bencina", "Diésel", "Híbrido"])
        lines.append(
            f"{code}-{n:06d};{make};{model};GL;{year};{rng.randint(0, 250_000)};{fuel};"
            f"Manual;Gris;{price}"
        )
    return ("\n".join(lines) + "\n").encode()


async def prepare(env: Environment, vehicles: int) -> dict[str, Any]:
    os.environ["TRAMA_DATABASE_URL"] = env.database_url
    import sqlalchemy as sa

    from app.db import close_database, init_database, transaction
    from domain.customers.models import Customer
    from domain.marketplace import feeds
    from domain.origination import prequalification
    from domain.origination.errors import GradeTermsUnavailable
    from domain.origination.models import Prequalification
    from domain.partners.models import Partner, PartnerKind
    from domain.shared.principal import SYSTEM
    from domain.shared.time import utcnow

    init_database(env.database_url)
    try:
        per_dealer = 25_000
        dealers = (vehicles + per_dealer - 1) // per_dealer
        timings = []
        for index in range(dealers):
            count = min(per_dealer, vehicles - index * per_dealer)
            async with transaction() as session:
                dealer = Partner(
                    code=f"BENCH_DEALER_{index}",
                    name=f"Bench dealer {index}",
                    country="CL",
                    kind=PartnerKind.DEALER,
                )
                session.add(dealer)
                await session.flush()
                started = time.perf_counter()
                result = await feeds.import_feed(
                    session,
                    principal=SYSTEM,
                    dealer_id=dealer.id,
                    content=feed(dealer.code, count, utcnow().year),
                    file_name="bench.csv",
                    full=True,
                )
            timings.append(round(time.perf_counter() - started, 2))
            assert result.feed.created == count
        async with transaction() as session:
            lender = (
                await session.execute(sa.select(Partner).where(Partner.code == "AUTOCREDITO"))
            ).scalar_one()
            customer = (
                await session.execute(
                    sa.select(Customer.id)
                    .where(Customer.home_partner_id == lender.id)
                    .order_by(Customer.id)
                    .limit(1)
                )
            ).scalar_one()
            how = "prequalify"
            try:
                async with session.begin_nested():
                    await prequalification.prequalify(
                        session,
                        principal=SYSTEM,
                        customer_id=customer,
                        lender_id=lender.id,
                        monthly_income=2_400_000,
                        down_payment=3_000_000,
                        currency="CLP",
                    )
            except GradeTermsUnavailable:
                # No active scorecard at the lender in this seed: store the pre-qualification
                # origination would have stored for a grade B customer (18 %, 48 months).
                how = "stored row (no active scorecard)"
                session.add(
                    Prequalification(
                        customer_id=customer,
                        lender_id=lender.id,
                        currency="CLP",
                        monthly_income=2_400_000,
                        declared_obligations=0,
                        trama_obligations=0,
                        dti_limit=Decimal("0.35"),
                        max_installment=840_000,
                        max_principal=15_000_000,
                        down_payment=3_000_000,
                        annual_rate=Decimal("0.18"),
                        term_months=48,
                        grade="B",
                        valid_until=utcnow() + timedelta(days=30),
                        created_by=SYSTEM.subject,
                    )
                )
        if env.database_url.startswith("postgresql"):
            # What autovacuum does soon after a bulk load: planner statistics and the
            # visibility map (index-only counts).
            import asyncpg

            conn = await asyncpg.connect(env.database_url.replace("+asyncpg", "", 1))
            try:
                await conn.execute("VACUUM ANALYZE vehicles")
            finally:
                await conn.close()
        async with transaction() as session:
            terms = await prequalification.current_terms(session, customer_id=customer)
            assert terms is not None
            total = (await session.execute(sa.text("SELECT count(*) FROM vehicles"))).scalar_one()
        return {
            "customer": str(customer),
            "feed_import_seconds_per_25000_rows": timings,
            "vehicles_in_catalogue": int(total),
            "terms": {
                "grade": terms.grade,
                "max_principal": terms.max_principal,
                "down_payment": terms.down_payment,
                "annual_rate": str(Decimal(terms.annual_rate)),
                "term_months": terms.term_months,
            },
            "prequalification": how,
        }
    finally:
        await close_database()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vehicles", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    args = parser.parse_args(argv)
    with environment(args.customers) as env:
        prepared = asyncio.run(prepare(env, args.vehicles))
        token = env.run(
            "token", "--role", "customer", "--customer", prepared["customer"], "--ttl", "3600"
        )
        import uuid

        from resolvers.ids import encode_node_id

        variables = {"customer": encode_node_id("Customer", uuid.UUID(prepared["customer"]))}
        quiet = {"TRAMA_AUTHENTICATED_RATE_LIMIT": "off", "TRAMA_PUBLIC_RATE_LIMIT": "off"}
        with server(env, workers=args.workers, env=quiet) as running:
            result = asyncio.run(
                load(
                    f"{running.base}/graphql",
                    {"query": QUERY, "operationName": "Affordable", "variables": variables},
                    {"authorization": f"Bearer {token}", "content-type": "application/json"},
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    warmup=args.warmup,
                )
            )
    report = {
        "benchmark": "vehicles(affordableFor:, orderBy: PRICE_DESC, first: 20) + totalCount",
        "database": env.database_url.split("://")[0],
        **prepared,
        "api_processes": args.workers,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "load_average": load_average(),
        "python": platform.python_version(),
        **result,
    }
    print(json.dumps(report, indent=2))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

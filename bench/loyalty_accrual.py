"""Accrual throughput of the ``loyalty.accrue`` worker: received purchases per second.

    python -m bench.loyalty_accrual [--members 5000] [--purchases 100000] [--refunds 0.05]
                                    [--batch 500] [--processes 1,2] [--customers 200]

Uses TRAMA_BENCH_DATABASE_URL (an empty database dedicated to benchmarks; migrated and
seeded here) or SQLite in a temporary directory. Prints one JSON object.

Data (not measured): a program with the demo's rules (a rate per MCC, tier multipliers,
daily and monthly caps, tiers over a 365-day window, a weekend promotion) and
``--members`` members (customers and accounts written set-wise); ``--purchases`` purchases
of the last 60 days spread over the members (MCC, channel and card product mixed), of which
``--refunds`` are followed by a refund of a part of them, all RECEIVED as
``recordPurchases`` leaves them.

Measured, for each count of worker processes in ``--processes`` (the queue is filled again
before each run): ``accrual.accrue_all`` in each process — batches of ``--batch`` claimed
with SKIP LOCKED, accounts locked, open lots and cap counters loaded, the rule set in force
evaluated per purchase, entries/lots/moves written with COPY, purchases updated, one outbox
event per accrual, tier upgrades — until the queue is empty. Then ``trama loyalty verify``'s
proof over the program (timed too) must find no difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import environment, load_average

MCCS = ["5411", "5412", "5812", "5814", "5541", "5732", "5912", "4111", "5999", "5311"]
CHANNELS = ["POS", "POS", "POS", "ECOMMERCE", "CONTACTLESS"]
PRODUCTS = ["VISA_CLASICA", "VISA_GOLD", "MASTER_BLACK"]


async def _insert(table: Any, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    import sqlalchemy as sa

    from app.db import transaction

    for start in range(0, len(rows), chunk):
        async with transaction() as session:
            await session.execute(sa.insert(table), rows[start : start + chunk])


async def build(args: argparse.Namespace) -> dict[str, Any]:
    """The program, its members; returns ids for the runs."""
    import sqlalchemy as sa

    from app.db import transaction
    from app.seed_loyalty import rules
    from domain.customers.models import Customer
    from domain.loyalty import accounts, bulk, rulesets
    from domain.partners.models import Partner
    from domain.shared.models import table_of
    from domain.shared.principal import SYSTEM
    from domain.shared.time import local_today, utcnow

    async with transaction() as session:
        bank = (
            await session.execute(sa.select(Partner).where(Partner.code == "BANCO_PAMPA"))  # type: ignore[arg-type]
        ).scalar_one()
        program = await accounts.create_program(
            session,
            SYSTEM,
            partner_id=bank.id,
            code=f"BENCH_{uuid.uuid4().hex[:6].upper()}",
            settings=accounts.ProgramSettings(
                name="Bench",
                unit_name="puntos",
                point_value="0.35",
                currency="ARS",
                timezone="America/Argentina/Buenos_Aires",
                expiry_policy="AFTER_DAYS",
                expiry_count=365,
                pending_days=10,
            ),
        )
        today = local_today(program.timezone)
        await rulesets.create_rule_set(
            session,
            SYSTEM,
            program_id=program.id,
            name="Bench",
            effective_from=today - timedelta(days=400),
            effective_until=None,
            document=rules(2),
        )
    now = utcnow()
    customers = [
        {
            "id": uuid.uuid4(),
            "national_id_type": "AR_DNI",
            "national_id": f"9{i:07d}{uuid.uuid4().hex[:6]}",  # never a real DNI
            "given_names": "Bench",
            "family_names": f"Member {i}",
            "home_partner_id": bank.id,
            "sort_name": f"member {i:08d} bench",
            "consent_marketing": False,
            "consent_data_sharing": False,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for i in range(args.members)
    ]
    await _insert(table_of(Customer), customers)
    async with transaction() as session:
        program = await accounts.get_program(session, program.id)
        ids = await bulk.create_accounts(
            session,
            program=program,
            rows=[
                bulk.NewAccount(customer_id=c["id"], tier_code="ORO" if i % 10 == 0 else None)
                for i, c in enumerate(customers)
            ],
        )
    return {"program_id": program.id, "accounts": list(ids.values())}


async def fill(
    args: argparse.Namespace, program_id: uuid.UUID, accounts: list[uuid.UUID], tag: str
) -> int:
    from domain.loyalty.models import LoyaltyPurchase
    from domain.shared.models import table_of
    from domain.shared.time import utcnow

    rng = random.Random(7)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    refunds: list[dict[str, Any]] = []
    for i in range(args.purchases):
        account = accounts[rng.randrange(len(accounts))]
        occurred = now - timedelta(days=rng.uniform(0.5, 60))
        amount = rng.choice([150_000, 420_000, 890_000, 1_500_000, 2_300_000, 12_000_000])
        row = {
            "id": uuid.uuid4(),
            "program_id": program_id,
            "account_id": account,
            "external_id": f"{tag}-{i}",
            "kind": "PURCHASE",
            "refund_of_id": None,
            "event_type": None,
            "amount": amount,
            "currency": "ARS",
            "mcc": rng.choice(MCCS),
            "merchant_partner": None,
            "merchant_name": None,
            "channel": rng.choice(CHANNELS),
            "card_product": rng.choice(PRODUCTS),
            "occurred_at": occurred,
            "received_at": now,
            "status": "RECEIVED",
        }
        rows.append(row)
        if rng.random() < args.refunds:
            refunds.append(
                {
                    **row,
                    "id": uuid.uuid4(),
                    "external_id": f"{tag}-{i}-R",
                    "kind": "REFUND",
                    "refund_of_id": row["id"],
                    "amount": amount // 2,
                    "mcc": None,
                    "occurred_at": occurred + timedelta(hours=6),
                    "received_at": now + timedelta(seconds=1),
                }
            )
    await _insert(table_of(LoyaltyPurchase), rows + refunds)
    await analyze()
    return len(rows) + len(refunds)


async def analyze() -> None:
    """Fresh statistics on PostgreSQL, as autovacuum keeps them in production (it may be off
    on a test server: then the planner guesses and scans whole tables)."""
    import sqlalchemy as sa

    from app.db import transaction
    from domain.shared.sql import dialect_of

    async with transaction() as session:
        if dialect_of(session) == "postgresql":
            await session.execute(
                sa.text(
                    "ANALYZE loyalty_purchases, loyalty_entries, loyalty_lots, loyalty_lot_moves,"
                    " loyalty_accounts, loyalty_tier_changes"
                )
            )


def _worker(url: str, batch: int, queue: Any) -> None:
    async def run() -> dict[str, Any]:
        from app.db import close_database, init_database, transaction
        from domain.loyalty import accrual

        init_database(url)
        try:
            start = time.perf_counter()
            cpu = time.process_time()
            report = await accrual.accrue_all(transaction, batch=batch)
            return {
                "seconds": round(time.perf_counter() - start, 2),
                "cpu_seconds": round(time.process_time() - cpu, 2),
                "claimed": report.claimed,
                "accrued": report.accrued,
                "refunds": report.refunds,
                "deferred": report.deferred,
                "tier_changes": report.tier_changes,
            }
        finally:
            await close_database()

    queue.put(asyncio.run(run()))


def run_processes(url: str, batch: int, processes: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    start = time.perf_counter()
    workers = [context.Process(target=_worker, args=(url, batch, queue)) for _ in range(processes)]
    for w in workers:
        w.start()
    results = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    claimed = sum(r["claimed"] for r in results)
    accruing = max(r["seconds"] for r in results)
    cpu = sum(r["cpu_seconds"] for r in results)
    return {
        "processes": processes,
        "purchases": claimed,
        # from the start of the processes (interpreter, imports, connection) to the last one
        "wall_seconds": round(wall, 2),
        "purchases_per_second": round(claimed / max(wall, 1e-9), 1),
        # accrue_all alone, from the first batch to an empty queue (the slowest process)
        "accrual_seconds": accruing,
        "purchases_per_second_accruing": round(claimed / max(accruing, 1e-9), 1),
        # the workers' own CPU (Python) per purchase; the rest is PostgreSQL and waiting
        "worker_cpu_ms_per_purchase": round(1000 * cpu / max(claimed, 1), 3),
        "per_process": results,
    }


async def remaining(program_id: uuid.UUID) -> int:
    import sqlalchemy as sa

    from app.db import read_session
    from domain.loyalty.models import LoyaltyPurchase
    from domain.shared.models import table_of

    t = table_of(LoyaltyPurchase)
    async with read_session() as session:
        return int(
            await session.scalar(
                sa.select(sa.func.count()).where(
                    t.c.program_id == program_id, t.c.status == "RECEIVED"
                )
            )
            or 0
        )


async def prove(program_id: uuid.UUID) -> dict[str, Any]:
    from app.db import read_session
    from domain.loyalty import verify

    start = time.perf_counter()
    async with read_session() as session:
        report = await verify.verify_program(session, program_id=program_id)
    return {
        "ok": report.ok,
        "accounts": report.accounts,
        "entries": report.entries,
        "lots": report.lots,
        "seconds": round(time.perf_counter() - start, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--purchases", type=int, default=100_000)
    parser.add_argument("--refunds", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--customers", type=int, default=200)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "loyalty_accrual",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_start": load_average(),
        "members": args.members,
        "batch": args.batch,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with environment(customers=args.customers) as env:
        from app.db import close_database, init_database

        result["database"] = env.database_url.split(":", 1)[0]

        async def setup() -> dict[str, Any]:
            init_database(env.database_url)
            try:
                return await build(args)
            finally:
                await close_database()

        built = asyncio.run(setup())
        runs = []
        for n in [int(x) for x in args.processes.split(",") if x]:

            async def load(tag: str = f"R{n}") -> int:
                init_database(env.database_url)
                try:
                    return await fill(args, built["program_id"], built["accounts"], tag)
                finally:
                    await close_database()

            queued = asyncio.run(load())
            run = run_processes(env.database_url, args.batch, n)
            run["queued"] = queued

            async def left() -> int:
                init_database(env.database_url)
                try:
                    return await remaining(built["program_id"])
                finally:
                    await close_database()

            run["left_in_queue"] = asyncio.run(left())
            run["load_average_after"] = load_average()
            runs.append(run)
        result["runs"] = runs

        async def proof() -> dict[str, Any]:
            init_database(env.database_url)
            try:
                return await prove(built["program_id"])
            finally:
                await close_database()

        result["verify"] = asyncio.run(proof())
    result["load_average_end"] = load_average()
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()

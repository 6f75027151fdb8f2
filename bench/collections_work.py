"""Collections work over many credits: the daily run, its rerun, the queues following a
payment, and the reports.

    python -m bench.collections_work [--credits 5000] [--batch 200]

Uses TRAMA_BENCH_DATABASE_URL (an empty database dedicated to benchmarks: migrated and
seeded) or SQLite in a temporary directory. In process, no HTTP:

1. Data (not measured): a dozen credits of the demo lender registered and disbursed
   through the credits service at different dates (current, due in two days, 5 to 250 days
   late), then cloned set-wise (credit, schedule header, installments, and the audit
   record of the disbursement reports count a credit from) to ``--credits``;
   two collectors; the network's default strategy.
2. ``run``: the day's collections run over every open credit, ``--batch`` credits per
   transaction (positions, queue items, assignment, strategy steps and their messages).
3. ``rerun``: the same day again (idempotent: nothing changes, everything is read again).
4. ``refresh``: what the worker following ``payments.*`` does for one credit.
5. ``aging`` / ``portfolio`` / ``collections``: last month's reports, computed from dated
   facts (every credit replayed to two days), rendered to CSV and XLSX, kept.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from app.db import close_database, init_database, read_session, transaction
from app.storage import LocalFileStore
from bench.harness import environment, load_average
from domain.collections import collectors, work
from domain.collections.reports import service as reports
from domain.collections.work_models import Notification, QueueItem
from domain.credits import service as credits
from domain.credits.models import Credit, CreditSchedule, Installment
from domain.credits.policy import today
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared import audit
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.principal import SYSTEM

TIMEZONE = "America/Santiago"
#: Days since disbursement of the template credits (first installment a month later).
AGES = (10, 28, 31, 36, 45, 70, 100, 130, 160, 200, 250, 300)


async def build(count: int) -> dict[str, Any]:
    day = today(TIMEZONE)
    async with read_session() as session:
        lender = (
            await session.execute(
                sa.select(col(Partner.id)).where(col(Partner.code) == "AUTOCREDITO")
            )
        ).scalar_one()
        customer_ids = list(
            (await session.execute(sa.select(Customer.id).limit(200))).scalars()  # type: ignore[call-overload]
        )
    templates = []
    for n, age in enumerate(AGES):
        async with transaction() as session:
            credit = await credits.create_credit(
                session,
                principal=SYSTEM,
                customer_id=customer_ids[n % len(customer_ids)],
                product_code="AUTO",
                currency="CLP",
                amount=Money(6_000_000, "CLP"),
                annual_rate=Decimal("0.24"),
                term_months=36,
                disbursement_date=day,
                partner_id=lender,
            )
            credit = await credits.disburse_credit(
                session,
                principal=SYSTEM,
                credit_id=credit.id,
                expected_version=credit.version,
                disbursement_date=day - timedelta(days=age),
            )
            templates.append(credit.id)
    credit_table, header_table, row_table = (
        table_of(Credit),
        table_of(CreditSchedule),
        table_of(Installment),
    )
    async with read_session() as session:
        bases = {
            r["id"]: dict(r)
            for r in (
                await session.execute(
                    sa.select(credit_table).where(credit_table.c.id.in_(templates))
                )
            ).mappings()
        }
        headers = {
            r["credit_id"]: dict(r)
            for r in (
                await session.execute(
                    sa.select(header_table).where(header_table.c.credit_id.in_(templates))
                )
            ).mappings()
        }
        rows: dict[Any, list[dict[str, Any]]] = {t: [] for t in templates}
        for r in (
            await session.execute(sa.select(row_table).where(row_table.c.credit_id.in_(templates)))
        ).mappings():
            rows[r["credit_id"]].append(dict(r))
    clones: list[dict[str, Any]] = []
    clone_headers: list[dict[str, Any]] = []
    clone_rows: list[dict[str, Any]] = []
    for i in range(count - len(templates)):
        source = templates[i % len(templates)]
        key = uuid7()
        clones.append(
            {
                **bases[source],
                "id": key,
                "reference": f"CW-{i:08d}",
                "customer_id": customer_ids[i % len(customer_ids)],
            }
        )
        clone_headers.append({**headers[source], "id": uuid7(), "credit_id": key})
        clone_rows.extend({**r, "id": uuid7(), "credit_id": key} for r in rows[source])
    for table, data in (
        (credit_table, clones),
        (header_table, clone_headers),
        (row_table, clone_rows),
    ):
        for start in range(0, len(data), 2000):
            async with transaction() as session:
                await session.execute(sa.insert(table), data[start : start + 2000])
    # Reports count a credit from its recorded disbursement (the audit trail): each clone
    # gets its own record, chained like any other.
    for start in range(0, len(clones), 2000):
        async with transaction() as session:
            for clone in clones[start : start + 2000]:
                audit.record(
                    session,
                    principal=SYSTEM,
                    action="credits.disbursed",
                    entity_type="Credit",
                    entity_id=clone["id"],
                    after={"reference": clone["reference"], "status": clone["status"]},
                )
    async with transaction() as session:
        for subject in ("agent@autocredito", "supervisor@autocredito"):
            await collectors.enroll_collector(
                session, principal=SYSTEM, lender_id=lender, subject=subject
            )
    return {"lender": lender, "day": day, "some_credit": templates[5]}


async def run_day(day: Any, batch: int) -> tuple[float, work.RunTotals]:
    totals = work.RunTotals(as_of=day)
    after = None
    started = time.perf_counter()
    while True:
        async with transaction() as session:
            part = await work.run_collections(
                session, as_of=day, timezone=TIMEZONE, after_id=after, limit=batch
            )
        totals.add(part)
        if part.done or part.last_id is None:
            break
        after = part.last_id
    return time.perf_counter() - started, totals


async def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    data = await build(args.credits)
    out: dict[str, Any] = {"credits": args.credits, "batch": args.batch}
    seconds, totals = await run_day(data["day"], args.batch)
    out["run"] = {
        "seconds": round(seconds, 2),
        "credits_per_s": round(totals.examined / seconds, 1),
        **{k: v for k, v in totals.as_dict().items() if k != "as_of"},
    }
    seconds, totals = await run_day(data["day"], args.batch)
    out["rerun"] = {
        "seconds": round(seconds, 2),
        "credits_per_s": round(totals.examined / seconds, 1),
        "opened": totals.opened,
        "steps_fired": totals.steps_fired,
    }
    started = time.perf_counter()
    for _ in range(20):
        async with transaction() as session:
            await work.refresh_credit(session, credit_id=data["some_credit"])
    out["refresh_ms"] = round((time.perf_counter() - started) / 20 * 1000, 1)
    async with read_session() as session:
        out["open_items"] = (
            await session.execute(
                sa.select(sa.func.count()).select_from(QueueItem).where(QueueItem.status == "OPEN")  # type: ignore[arg-type]
            )
        ).scalar_one()
        out["notifications"] = (
            await session.execute(sa.select(sa.func.count()).select_from(Notification))
        ).scalar_one()
    store = LocalFileStore(tmp / "files")
    month = (data["day"].replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    for kind in ("AGING", "PORTFOLIO", "COLLECTIONS"):
        started = time.perf_counter()
        async with transaction() as session:
            report = await reports.generate_report(
                session,
                principal=SYSTEM,
                store=store,
                lender_id=data["lender"],
                kind=kind,
                period=month,
            )
        summary = {f["key"]: f["value"] for f in report.data["summary"]}
        out[kind.lower()] = {
            "seconds": round(time.perf_counter() - started, 2),
            "csv_bytes": report.csv_size,
            "xlsx_bytes": report.xlsx_size,
            **({"open_credits": summary.get("openCredits")} if kind == "AGING" else {}),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credits", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    with environment(customers=200) as env:
        before = load_average()
        result = asyncio.run(_run(args, env.database_url, env.var_dir))
    result.update(
        database=env.database_url.split(":", 1)[0],
        python=platform.python_version(),
        load_before=before,
        load_after=load_average(),
    )
    print(json.dumps(result, default=str))


async def _run(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    init_database(url)
    try:
        return await measure(args, tmp)
    finally:
        await close_database()


if __name__ == "__main__":
    main()

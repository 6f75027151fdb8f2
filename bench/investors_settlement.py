"""Investor distributions and a settlement run over many investors.

    python -m bench.investors_settlement [--investors 10000] [--per-investor 3]
                                         [--per-credit 10] [--payments 6]

Uses TRAMA_BENCH_DATABASE_URL (an empty database dedicated to benchmarks: migrated and
seeded) or SQLite in a temporary directory. In process, no HTTP:

1. Data: ``--investors`` verified investors, each funding ``--per-investor`` credits with
   ``--per-credit`` investors per credit (5 % each); every credit has ``--payments`` booked
   payments with interest, principal and charges allocations. Investors, credits (clones of
   one credit registered through the credits service), fundings, payments and allocations
   are inserted set-wise: this part is not measured.
2. ``distributions``: ``sync_credit`` for every credit, 200 credits per transaction — the
   work the credits service triggers after each payment, here for all payments at once.
3. ``settlement``: one ``run_settlement`` over a period covering every payment — one
   statement per investor.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from stdnum.cl import rut

from app.db import close_database, init_database, read_session, transaction
from bench.harness import environment
from domain.credits import service as credits
from domain.credits.models import Allocation, Credit, Payment
from domain.customers.models import Customer
from domain.investors import distributions, settlements
from domain.investors.models import CreditFunding, DistributionLine, Investor
from domain.partners.models import Partner
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.principal import SYSTEM

BATCH = 2000


async def _insert(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        async with transaction() as session:
            await session.execute(sa.insert(table), rows[start : start + BATCH])


async def build(args: argparse.Namespace) -> dict[str, Any]:
    now = datetime.now(UTC)
    first_day = date.today() - timedelta(days=30 * args.payments + 20)
    async with read_session() as session:
        lender = (
            await session.execute(sa.select(Partner.id).where(Partner.code == "AUTOCREDITO"))  # type: ignore[arg-type]
        ).scalar_one()
        customer = (await session.execute(sa.select(Customer.id).limit(1))).scalar_one()  # type: ignore[call-overload]
    async with transaction() as session:
        template = await credits.create_credit(
            session,
            principal=SYSTEM,
            customer_id=customer,
            product_code="AUTO",
            currency="CLP",
            amount=Money(10_000_000, "CLP"),
            annual_rate=Decimal("0.18"),
            term_months=24,
            disbursement_date=first_day,
            partner_id=lender,
        )
    credit_table = table_of(Credit)
    async with read_session() as session:
        base = dict(
            (await session.execute(sa.select(credit_table).where(credit_table.c.id == template.id)))
            .mappings()
            .one()
        )
    n_credits = args.investors * args.per_investor // args.per_credit
    credit_rows = []
    for i in range(n_credits):
        credit_rows.append(
            {
                **base,
                "id": uuid7(),
                "reference": f"CB-{i:08d}",
                "status": "ACTIVE",
                "disbursement_date": first_day,
                "outstanding_principal": 5_000_000,
            }
        )
    await _insert(credit_table, credit_rows)

    investor_rows = []
    for i in range(args.investors):
        body = 30_000_000 + i
        investor_rows.append(
            {
                "id": uuid7(),
                "kind": "PERSON",
                "legal_name": f"Inversionista {i}",
                "sort_name": f"inversionista {i}",
                "national_id_type": "CL_RUT",
                "national_id": f"{body}{rut.calc_check_digit(str(body))}",
                "country": "CL",
                "email": None,
                "bank_code": "012",
                "bank_account_type": "VISTA",
                "bank_account_number": f"{10_000_000 + i}",
                "kyc_status": "VERIFIED",
                "kyc_note": None,
                "kyc_updated_at": now,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
    await _insert(table_of(Investor), investor_rows)

    share = 1_000_000 // (args.per_credit * 2)  # half of each credit is funded
    funding_rows = []
    slots = [c["id"] for c in credit_rows for _ in range(args.per_credit)]
    for index, credit_id in enumerate(slots):
        investor = investor_rows[index % args.investors]
        funding_rows.append(
            {
                "id": uuid7(),
                "credit_id": credit_id,
                "investor_id": investor["id"],
                "share_ppm": share,
                "servicing_fee_ppm": 10_000,
                "amount": 10_000_000 * share // 1_000_000,
                "currency": "CLP",
                "effective_on": None,
                "funded_at": now,
                "funded_by": "bench",
            }
        )
    await _insert(table_of(CreditFunding), funding_rows)

    payment_rows = []
    allocation_rows = []
    for credit in credit_rows:
        for k in range(args.payments):
            day = first_day + timedelta(days=30 * (k + 1))
            payment_id = uuid7()
            interest, principal, charges = 150_000 - 5_000 * k, 350_000 + 5_000 * k, 12_345
            payment_rows.append(
                {
                    "id": payment_id,
                    "credit_id": credit["id"],
                    "schedule_no": 1,
                    "amount": interest + principal + charges,
                    "currency": "CLP",
                    "credit_amount": interest + principal + charges,
                    "uf_value": None,
                    "paid_at": datetime(day.year, day.month, day.day, 15, tzinfo=UTC),
                    "paid_on": day,
                    "reference": f"b{k}",
                    "idempotency_key": f"b{k}",
                    "prepayment": None,
                    "status": "BOOKED",
                    "allocated_amount": interest + principal + charges,
                    "held_amount": 0,
                    "refunded_amount": 0,
                    "reversed_at": None,
                    "reversal_reason": None,
                    "created_by": "bench",
                    "created_at": now,
                }
            )
            for component, amount in (
                ("INTEREST", interest),
                ("PRINCIPAL", principal),
                ("CHARGES", charges),
            ):
                allocation_rows.append(
                    {
                        "id": uuid7(),
                        "credit_id": credit["id"],
                        "payment_id": payment_id,
                        "schedule_no": 1,
                        "installment_number": k + 1,
                        "component": component,
                        "amount": amount,
                    }
                )
    await _insert(table_of(Payment), payment_rows)
    await _insert(table_of(Allocation), allocation_rows)
    return {
        "credits": [c["id"] for c in credit_rows],
        "first_day": first_day,
        "counts": {
            "investors": len(investor_rows),
            "credits": len(credit_rows),
            "fundings": len(funding_rows),
            "payments": len(payment_rows),
        },
    }


async def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    init_database(url)
    try:
        data = await build(args)
        started = time.perf_counter()
        ids = data["credits"]
        for start in range(0, len(ids), 200):
            async with transaction() as session:
                for credit_id in ids[start : start + 200]:
                    await distributions.sync_credit(session, credit_id=credit_id)
        sync_seconds = time.perf_counter() - started
        async with read_session() as session:
            lines = (
                await session.execute(sa.select(sa.func.count()).select_from(DistributionLine))
            ).scalar_one()
        started = time.perf_counter()
        async with transaction() as session:
            run = await settlements.run_settlement(
                session,
                principal=SYSTEM,
                period_start=data["first_day"],
                period_end=date.today(),
            )
        settle_seconds = time.perf_counter() - started
        payments = data["counts"]["payments"]
        return {
            "benchmark": "investors_settlement",
            "database": url.split(":", 1)[0],
            "python": platform.python_version(),
            **data["counts"],
            "distribution_lines": lines,
            "distributions": {
                "seconds": round(sync_seconds, 2),
                "payments_per_s": round(payments / sync_seconds, 1),
                "lines_per_s": round(lines / sync_seconds, 1),
            },
            "settlement": {
                "seconds": round(settle_seconds, 2),
                "statements": run.statement_count,
                "lines": run.line_count,
                "statements_per_s": round(run.statement_count / settle_seconds, 1),
                "lines_per_s": round(run.line_count / settle_seconds, 1),
            },
        }
    finally:
        await close_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=10_000)
    parser.add_argument("--per-investor", type=int, default=3)
    parser.add_argument("--per-credit", type=int, default=10)
    parser.add_argument("--payments", type=int, default=6)
    args = parser.parse_args()
    with environment(customers=20) as env:
        result = asyncio.run(measure(args, env.database_url))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

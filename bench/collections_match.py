"""Matching and application of statement lines (issue 10): N lines against M credits.

    TRAMA_BENCH_DATABASE_URL=postgresql+asyncpg://... python -m bench.collections_match \\
        [--credits 100000] [--lines 1000000] [--templates 300] [--chunk 1000] \\
        [--match-budget 300] [--apply-lines 20000] [--profile 0]

Needs an empty PostgreSQL database dedicated to benchmarks (migrated and seeded here).
Prints one JSON object.

Data (not measured):

- ``--templates`` CLP credits of the ``bench.credits_schedules`` mix (12-36 months)
  created and disbursed through the credits service 20 to 29 days ago (70 %: the first
  installment falls due in the coming days) or 31 to 75 days ago (in arrears), cloned
  set-wise (credit, schedule header, installment rows; COPY) into ``--credits`` ACTIVE
  credits with references ``CR-2019-000000``...; 0.8 x ``--credits`` customers with
  valid RUTs (a fifth of them hold two credits).
- ``--lines`` statement lines of one collection account (statements of 100,000 lines,
  COPY), all NEW, dated today, each for a random credit: 47 % its credit reference in the
  remittance text with the first unpaid installment's amount (a third of them half of it:
  a partial payment), 5 % the reference cut by a line break, 15 % the payer's RUT in the
  file with the installment's amount, 5 % the RUT written in the text, 3 % one transfer
  for both credits of a customer (RUT + the sum), 2 % only an installment's amount, 10 %
  bank fees (debits), 10 % text naming nothing and a random amount, 3 % a reference to a
  credit that does not exist.

1. ``matching``: the lines in id order, ``--chunk`` at a time (the worker's chunk), each
   chunk read as the worker reads it, then the worker's ``matching._decide``: indexes
   built (``matching_index.build_index``: the credits referenced, the payers' credits,
   payer accounts, duplicates; installments of about a line's amount only for the lines
   the other rules leave) and every line decided (``matching_engine.decide``) with the
   default rules — nothing written. Runs until ``--match-budget`` seconds have passed (or
   all lines are done); the rate is over the lines done.
2. ``application``: ``--apply-lines`` further lines through ``matching.reconcile`` — the
   worker's whole path: lines locked, decided, AUTO_MATCHED lines booked through
   ``payment_batches.register_payments`` (allocation, late interest, audit, events), the
   decisions, applications and line states written — one transaction per chunk. Payments
   applied per second (over the whole path, matching included) and lines per second.

``--profile N``: N more lines decided under cProfile (not part of the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import json
import os
import platform
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from bench.credits_schedules import credit_mix, database_backends_cpu, profile_summary
from bench.harness import environment, load_average
from bench.payments_apply import payable

PER_STATEMENT = 100_000


def _url() -> str:
    return os.environ["TRAMA_BENCH_DATABASE_URL"]


def _rut(body: int) -> str:
    digits = list(map(int, reversed(str(body))))
    total = sum(d * (2 + i % 6) for i, d in enumerate(digits))
    check = 11 - total % 11
    return f"{body}-" + {10: "K", 11: "0"}.get(check, str(check))


@dataclass(slots=True)
class BenchCredit:
    id: uuid.UUID
    reference: str
    customer: int  # index into the customers
    first_due: int  # what the first installment asks (minor units)
    first_due_date: date


def _asyncpg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


async def _copy(url: str, table: Any, rows: list[dict[str, Any]]) -> None:
    """COPY ``rows`` into ``table`` (every column of the table, absent ones NULL)."""
    import asyncpg

    columns = [c.name for c in table.columns]
    conn = await asyncpg.connect(_asyncpg_url(url))
    try:
        for start in range(0, len(rows), 50_000):
            await conn.copy_records_to_table(
                table.name,
                records=[
                    tuple(_value(r.get(c)) for c in columns) for r in rows[start : start + 50_000]
                ],
                columns=columns,
            )
    finally:
        await conn.close()


async def build(args: argparse.Namespace, url: str) -> dict[str, Any]:
    import sqlalchemy as sa

    from app.db import read_session, transaction
    from bench.credits_schedules import _context
    from domain.collections import accounts
    from domain.collections.models import BankStatement, StatementFile, StatementLine
    from domain.credits import service
    from domain.credits.models import Credit, CreditSchedule, Installment
    from domain.customers.models import Customer
    from domain.shared.ids import uuid7
    from domain.shared.models import table_of
    from domain.shared.principal import SYSTEM
    from domain.shared.time import utcnow

    rng = random.Random(23)
    lender, customers = await _context()
    async with transaction() as session:
        account = await accounts.register_bank_account(
            session,
            principal=SYSTEM,
            partner_id=lender,
            data=accounts.AccountInput(
                country="CL",
                bank_code="012",
                bank_name="Banco del Estado de Chile",
                number_kind="LOCAL",
                account_number="000987654321",
                currency="CLP",
                label="Recaudación bench",
                statement_identifier=None,
                column_mapping=None,
                refuse_broken=None,
            ),
        )
    today = date.today()
    mix = [t for t in credit_mix(args.templates * 3, seed=29) if t.currency == "CLP"]
    templates = []
    for index, terms in enumerate(mix[: args.templates]):
        # most first installments fall due in the coming days, some are a month or two late
        disbursed = today - timedelta(
            days=rng.randint(20, 29) if rng.random() < 0.7 else rng.randint(31, 75)
        )
        terms = payable(replace(terms, term_months=min(terms.term_months, 36)), disbursed, 10)
        async with transaction() as session:
            credit = await service.create_credit(
                session,
                principal=SYSTEM,
                customer_id=customers[index % len(customers)],
                product_code="AUTO",
                partner_id=lender,
                **terms.create_kwargs(),
            )
            await service.disburse_credit(
                session,
                principal=SYSTEM,
                credit_id=credit.id,
                expected_version=credit.version,
                disbursement_date=disbursed,
            )
        templates.append(credit.id)

    credits_t, headers_t, rows_t = table_of(Credit), table_of(CreditSchedule), table_of(Installment)
    customers_t = table_of(Customer)
    async with read_session() as session:
        base = {
            r["id"]: dict(r)
            for r in (
                await session.execute(sa.select(credits_t).where(credits_t.c.id.in_(templates)))
            ).mappings()
        }
        headers = {
            r["credit_id"]: dict(r)
            for r in (
                await session.execute(
                    sa.select(headers_t).where(headers_t.c.credit_id.in_(templates))
                )
            ).mappings()
        }
        installments: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for r in (
            await session.execute(
                sa.select(rows_t)
                .where(rows_t.c.credit_id.in_(templates))
                .order_by(rows_t.c.credit_id, rows_t.c.number)
            )
        ).mappings():
            installments[r["credit_id"]].append(dict(r))
        customer_template = dict(
            (await session.execute(sa.select(customers_t).where(customers_t.c.id == customers[0])))
            .mappings()
            .one()
        )

    # customers with valid RUTs of their own
    n_customers = max(2, args.credits * 4 // 5)
    if n_customers % len(templates) == 0:
        n_customers += 1  # a customer's two credits clone different templates
    bodies = rng.sample(range(30_000_000, 60_000_000), n_customers)
    customer_rows, customer_ids, ruts = [], [], []
    for i, body in enumerate(bodies):
        new_id = uuid7()
        rut = _rut(body)
        customer_rows.append(
            {
                **customer_template,
                "id": new_id,
                "national_id_type": "CL_RUT",
                "national_id": rut,
                "given_names": f"Cliente {i}",
                "family_names": "Bench",
                "sort_name": f"bench cliente {i}",
                "email": None,
                "phone": None,
            }
        )
        customer_ids.append(new_id)
        ruts.append(rut)

    credit_rows, header_rows, installment_rows = [], [], []
    made: list[BenchCredit] = []
    for i in range(args.credits):
        template = templates[i % len(templates)]
        new_id = uuid7()
        reference = f"CR-2019-{i:06d}"
        customer = i % n_customers
        credit_rows.append(
            {
                **base[template],
                "id": new_id,
                "reference": reference,
                "customer_id": customer_ids[customer],
            }
        )
        header_rows.append({**headers[template], "id": uuid7(), "credit_id": new_id})
        for row in installments[template]:
            installment_rows.append({**row, "id": uuid7(), "credit_id": new_id})
        first = installments[template][0]
        made.append(BenchCredit(new_id, reference, customer, first["amount"], first["due_date"]))
    await _copy(url, customers_t, customer_rows)
    await _copy(url, credits_t, credit_rows)
    await _copy(url, headers_t, header_rows)
    await _copy(url, rows_t, installment_rows)
    del credit_rows, header_rows, installment_rows, customer_rows

    # the lines
    two_credits = [c for c in made if c.customer + n_customers < args.credits]
    by_customer: dict[int, list[BenchCredit]] = defaultdict(list)
    for c in made:
        by_customer[c.customer].append(c)
    now = utcnow()
    kinds: Counter[str] = Counter()
    line_rows: list[dict[str, Any]] = []
    statements: list[tuple[uuid.UUID, int, int, int]] = []
    ids: list[uuid.UUID] = []

    async def flush() -> None:
        """Store the statement being written (file, statement, lines), then forget it."""
        if not statements or not line_rows:
            return
        sid, count, credit_total, debit_total = statements[-1]
        file_id = uuid7()
        async with transaction() as session:
            await session.execute(
                sa.insert(table_of(StatementFile)),
                [
                    {
                        "id": file_id,
                        "partner_id": lender,
                        "sha256": hashlib.sha256(file_id.bytes).hexdigest(),
                        "file_name": "bench.sta",
                        "size": 1,
                        "kind": "MT940",
                        "channel": "CLI",
                        "received_by": "bench",
                        "received_at": now,
                        "statement_count": 1,
                        "line_count": count,
                        "new_line_count": count,
                    }
                ],
            )
            await session.execute(
                sa.insert(table_of(BankStatement)),
                [
                    {
                        "id": sid,
                        "file_id": file_id,
                        "account_id": account.id,
                        "partner_id": lender,
                        "kind": "MT940",
                        "statement_ref": f"B{sid.hex[:12]}",
                        "currency": "CLP",
                        "credit_total": credit_total,
                        "debit_total": debit_total,
                        "line_count": count,
                        "new_line_count": count,
                        "interim": False,
                        "integrity": "UNCHECKED",
                        "schema_status": "NOT_APPLICABLE",
                        "problems": [],
                        "received_at": now,
                    }
                ],
            )
        await _copy(url, table_of(StatementLine), line_rows)
        ids.extend(r["id"] for r in line_rows)
        line_rows.clear()

    statement_id = uuid7()
    for n in range(args.lines + args.apply_lines + args.profile):
        if n % PER_STATEMENT == 0:
            await flush()
            statement_id = uuid7()
            statements.append((statement_id, 0, 0, 0))
        c = made[rng.randrange(len(made))]
        roll = rng.random()
        values: dict[str, Any] = {}
        amount = c.first_due
        if roll < 0.47:
            kind = "reference"
            if rng.random() < 1 / 3:
                kind, amount = "reference_partial", amount // 2
            values["remittance_info"] = f"PAGO CUOTA {c.reference} GRACIAS"
        elif roll < 0.52:
            kind = "reference_cut"
            values["remittance_info"] = f"PAGO {c.reference[:9]}\n{c.reference[9:]}"
        elif roll < 0.67:
            kind = "rut_in_file"
            values["counterparty_national_id_type"] = "CL_RUT"
            values["counterparty_national_id"] = ruts[c.customer]
            values["counterparty_name"] = f"CLIENTE {c.customer}"
        elif roll < 0.72:
            kind = "rut_in_text"
            body, dv = ruts[c.customer].split("-")
            dotted = f"{int(body):,}".replace(",", ".")
            values["remittance_info"] = f"TRANSF DE {dotted}-{dv} CUOTA"
        elif roll < 0.75:
            kind = "two_credits"
            c = two_credits[rng.randrange(len(two_credits))]
            pair = by_customer[c.customer]
            amount = sum(x.first_due for x in pair)
            values["counterparty_national_id_type"] = "CL_RUT"
            values["counterparty_national_id"] = ruts[c.customer]
        elif roll < 0.77:
            kind = "amount_only"
            values["remittance_info"] = "TRANSFERENCIA ELECTRONICA"
        elif roll < 0.87:
            kind, amount = "bank_fee", -rng.randint(500, 5_000)
            values["remittance_info"] = "COMISION MANTENCION CUENTA"
        elif roll < 0.97:
            kind, amount = "nothing", rng.randint(1_000, 3_000_000)
            values["remittance_info"] = f"TRANSFERENCIA {rng.randint(10**6, 10**7)}"
        else:
            kind = "unknown_reference"
            values["remittance_info"] = f"PAGO CR-2018-{rng.randint(0, 999_999):06d}"
        kinds[kind] += 1
        line_id = uuid7()
        sid, count, credit_total, debit_total = statements[-1]
        statements[-1] = (
            sid,
            count + 1,
            credit_total + max(amount, 0),
            debit_total + min(amount, 0),
        )
        line_rows.append(
            {
                **values,
                "id": line_id,
                "statement_id": sid,
                "booked_statement_id": sid,
                "account_id": account.id,
                "partner_id": lender,
                "identity_key": f"h:{hashlib.sha256(line_id.bytes).hexdigest()[:32]}",
                "position": count + 1,
                "booking_date": today,
                "value_date": today,
                "amount": amount,
                "currency": "CLP",
                "direction": "CREDIT" if amount > 0 else "DEBIT",
                "is_reversal": False,
                "state": "NEW",
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    await flush()
    ids.sort()  # the phases take ranges of ids, as the worker does
    async with transaction() as session:
        await session.execute(sa.text("analyze"))
    return {
        "lender": lender,
        "match_ids": ids[: args.lines],
        "apply_ids": ids[args.lines : args.lines + args.apply_lines],
        "profile_ids": ids[args.lines + args.apply_lines :],
        "line_kinds": dict(kinds),
        "templates": len(templates),
        "customers": n_customers,
        "installment_rows": sum(len(installments[t]) for t in templates)
        * args.credits
        // len(templates),
    }


async def _lines(session: Any, lender: uuid.UUID, ids: list[uuid.UUID]) -> list[Any]:
    """The lines as the worker reads them (its columns, NEW, in id order; no lock)."""
    import sqlalchemy as sa

    from domain.collections.matching_index import LINE_COLUMNS, line_views
    from domain.collections.models import StatementLine
    from domain.shared.models import table_of

    table = table_of(StatementLine)
    stmt = (
        sa.select(*(table.c[name] for name in LINE_COLUMNS))
        .where(
            table.c.partner_id == lender,
            table.c.state == "NEW",
            table.c.id >= ids[0],
            table.c.id <= ids[-1],
        )
        .order_by(table.c.id)
    )
    return line_views((await session.execute(stmt)).all())


async def measure_matching(
    lender: uuid.UUID, ids: list[uuid.UUID], chunk: int, budget: float
) -> dict[str, Any]:
    from app.db import read_session
    from domain.collections import matching
    from domain.credits.policy import get_policy
    from domain.shared.time import utcnow

    policy = get_policy()
    states: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    times = {"read": 0.0, "index_and_decide": 0.0}
    done = 0
    before = load_average()
    db_cpu = await database_backends_cpu(_url())
    cpu = time.process_time()
    started = time.perf_counter()
    async with read_session() as session:
        country, _ = await matching._lender(session, lender)
        rule_set = await matching.rule_set_in_force(session, lender, utcnow())
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        async with read_session() as session:
            t0 = time.perf_counter()
            lines = await _lines(session, lender, part)
            t1 = time.perf_counter()
            # the worker's own step: indexes (amount candidates only for the lines the
            # other rules leave), decisions, exact payoffs where a line needs one
            decisions, _ = await matching._decide(
                session,
                partner_id=lender,
                country=country,
                lines=lines,
                rule_set=rule_set,
                policy=policy,
            )
            t2 = time.perf_counter()
        times["read"] += t1 - t0
        times["index_and_decide"] += t2 - t1
        done += len(decisions)
        states.update(d.state.value for d in decisions)
        rules.update(d.rule_code or "-" for d in decisions)
        if time.perf_counter() - started >= budget:
            break
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    db_cpu = await database_backends_cpu(_url()) - db_cpu
    return {
        "chunk": chunk,
        "lines": done,
        "complete": done == len(ids),
        "seconds": round(wall, 2),
        "lines_per_s": round(done / wall, 1),
        "python_cpu_s": round(cpu, 2),
        "postgres_cpu_s": round(db_cpu, 2) if db_cpu >= 0 else None,
        "lines_per_cpu_s": round(done / (cpu + max(db_cpu, 0.0)), 1),
        "seconds_by_phase": {k: round(v, 2) for k, v in times.items()},
        "by_state": dict(states),
        "by_rule": dict(rules),
        "load_average_before": before,
        "load_average_after": load_average(),
    }


async def measure_application(
    lender: uuid.UUID, ids: list[uuid.UUID], chunk: int
) -> dict[str, Any]:
    from app.db import transaction
    from domain.collections import matching

    states: Counter[str] = Counter()
    payments = 0
    before = load_average()
    db_cpu = await database_backends_cpu(_url())
    cpu = time.process_time()
    started = time.perf_counter()
    for start in range(0, len(ids), chunk):
        async with transaction() as session:
            result = await matching.reconcile(
                session, partner_id=lender, line_ids=ids[start : start + chunk], chunk=chunk
            )
        payments += result.payments
        states.update(result.by_state)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    db_cpu = await database_backends_cpu(_url()) - db_cpu
    return {
        "chunk": chunk,
        "lines": sum(states.values()),
        "payments": payments,
        "seconds": round(wall, 2),
        "lines_per_s": round(sum(states.values()) / wall, 1),
        "payments_per_s": round(payments / wall, 1),
        "python_cpu_s": round(cpu, 2),
        # None when the pool's backends changed meanwhile (their counters went with them)
        "postgres_cpu_s": round(db_cpu, 2) if db_cpu >= 0 else None,
        "payments_per_cpu_s": round(payments / (cpu + max(db_cpu, 0.0)), 1),
        "by_state": dict(states),
        "load_average_before": before,
        "load_average_after": load_average(),
    }


async def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from app.db import close_database, init_database

    init_database(url)
    try:
        t0 = time.perf_counter()
        data = await build(args, url)
        out: dict[str, Any] = {
            "setup_seconds": round(time.perf_counter() - t0, 1),
            "credits": args.credits,
            "customers": data["customers"],
            "templates": data["templates"],
            "installment_rows": data["installment_rows"],
            "lines_stored": args.lines + args.apply_lines + args.profile,
            "line_kinds": data["line_kinds"],
        }
        if data["match_ids"]:
            out["matching"] = await measure_matching(
                data["lender"], data["match_ids"], args.chunk, args.match_budget
            )
        if data["apply_ids"]:
            out["application"] = await measure_application(
                data["lender"], data["apply_ids"], args.chunk
            )
        if data["profile_ids"]:
            profile = cProfile.Profile()
            profile.enable()
            await measure_matching(data["lender"], data["profile_ids"], args.chunk, 1e9)
            profile.disable()
            out["profile"] = {"lines": len(data["profile_ids"]), **profile_summary(profile)}
        return out
    finally:
        await close_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credits", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines matched")
    parser.add_argument("--templates", type=int, default=300)
    parser.add_argument("--chunk", type=int, default=1000, help="lines per worker chunk")
    parser.add_argument("--match-budget", type=float, default=300.0, help="seconds")
    parser.add_argument("--apply-lines", type=int, default=20_000, help="lines reconciled")
    parser.add_argument("--profile", type=int, default=0, help="lines under cProfile")
    args = parser.parse_args()
    url = os.environ.get("TRAMA_BENCH_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        parser.error("TRAMA_BENCH_DATABASE_URL: an empty PostgreSQL database")
    result: dict[str, Any] = {
        "benchmark": "collections_match",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_start": load_average(),
    }
    with environment(customers=200) as env:
        result.update(asyncio.run(measure(args, env.database_url)))
    result["load_average_end"] = load_average()
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()

"""100,000 payments applied: ``register_payment`` in process, with and without replays, and
the pure allocator as a reference.

    python -m bench.payments_apply [--credits 500] [--payments 10] [--batch 100]
                                   [--replay-credits 200] [--pure-credits 10000]
                                   [--budget 90] [--breakdown 0] [--profile 0]

Uses TRAMA_BENCH_DATABASE_URL (an empty database dedicated to benchmarks: migrated and
seeded) or SQLite in a temporary directory. Prints one JSON object.

Data (not measured): 20 template credits of the ``bench.credits_schedules`` mix (FRENCH /
GERMAN / BULLET, 12-72 months, some with grace and charges, CLP and CLF) are created and
disbursed through the credits service 310 days ago (so their 10th installment fell due a few
days ago and the 11th has not), then cloned set-wise (credit, schedule header, installment
rows) into ``--credits`` + ``--replay-credits`` ACTIVE credits. Each credit gets
``--payments`` payments, one per installment, dated on its due date at 15:00 UTC: 80 % pay
the installment exactly, 10 % pay it 3 days late (late interest, a little left unpaid for
the next payment), 10 % pay 5 % more (a credit balance applied at the next due date); on
CLF credits half the payments are in pesos, converted at the day's UF value.

1. ``in_order``: the payments of every credit in date order — all credits' 1st payment,
   then all 2nd, … — ``--batch`` payments per transaction, through
   ``domain.credits.payments.register_payment`` (lock, idempotency check, replay of the
   credit's schedule, persisted difference, audit record, ``payments.received`` event,
   the investors' sync). As of today every credit is in arrears until its 10th payment,
   so each credit goes DELINQUENT at its 1st payment and is cured at its last.
2. ``backdated``: ``--replay-credits`` other credits get the same payments newest first,
   so the k-th registered payment lands before k-1 booked ones and the replay moves all of
   their allocations.
3. ``allocator``: the pure ``allocation.allocate`` over ``--pure-credits`` plans with the
   same payments (one replay per credit with all its payments), then the service's
   pattern (a replay after every payment, plan rebuilt each time as
   ``ledger.allocate_loaded`` does), then one credit with 100,000 payments.

Each DB phase stops after the round that crosses ``--budget`` seconds (all of the phase's
time) and the figures say how long 100,000 payments would take at the measured rates.
``--breakdown N``: 2N more credits, N in order and N newest first, with every statement
and a few phases timed;
``--profile N``: N more under cProfile (neither is part of the measured figures).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import platform
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bench.credits_schedules import (
    Clock,
    PhaseTimer,
    SqlMeter,
    Terms,
    credit_mix,
    database_backends_cpu,
    profile_summary,
)
from bench.harness import environment, load_average

TEMPLATES = 20
TARGET = 100_000
PAID_HOUR = dtime(15, 0, tzinfo=UTC)  # mid-morning in Santiago: same business date


def payable(terms: Terms, disbursed: date, payments: int) -> Terms:
    """``terms`` disbursed on ``disbursed``, with more rows than ``payments`` and no row
    of zero (a capitalised grace month without charges asks nothing: give it insurance)."""
    terms = replace(terms, disbursement_date=disbursed)
    if terms.term_months <= payments:
        terms = replace(terms, term_months=24)
    if terms.grace_months and terms.grace_kind == "CAPITALISED" and not terms.monthly_insurance:
        terms = replace(terms, monthly_insurance=5000 if terms.currency == "CLP" else 2000)
    return terms


@dataclass(frozen=True, slots=True)
class PlannedPayment:
    number: int  # the installment it is meant for, 1-based: the order of its date
    day: date
    amount: int  # minor units of ``currency``
    currency: str


def planned_payments(
    rng: random.Random,
    currency: str,
    dues: list[tuple[date, int]],
    count: int,
    uf_values: dict[date, Decimal] | None = None,
) -> list[PlannedPayment]:
    """The ``count`` payments of one credit from its (due date, installment amount) rows."""
    out = []
    for k, (due, amount) in enumerate(dues[:count], start=1):
        roll = rng.random()
        day = due
        if roll < 0.1:
            day = due + timedelta(days=3)  # late: late interest eats into it
        elif roll < 0.2:
            amount = amount * 105 // 100  # a little more: credit balance
        pay_currency = currency
        if currency == "CLF" and uf_values is not None and rng.random() < 0.5:
            pesos = Decimal(amount) / 10_000 * uf_values[day]
            amount = int(pesos.quantize(Decimal(1), rounding=ROUND_HALF_UP)) + 1
            pay_currency = "CLP"
        out.append(PlannedPayment(k, day, amount, pay_currency))
    return out


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------


async def _copy(table: Any, rows: list[dict[str, Any]]) -> None:
    import sqlalchemy as sa

    from app.db import transaction

    for start in range(0, len(rows), 2000):
        async with transaction() as session:
            await session.execute(sa.insert(table), rows[start : start + 2000])


@dataclass
class BenchCredit:
    id: uuid.UUID
    payments: list[PlannedPayment]


async def build(args: argparse.Namespace, disbursed: date) -> dict[str, Any]:
    """Templates through the service, clones set-wise; the payments each credit will get."""
    import sqlalchemy as sa

    from app.db import get_database, read_session, transaction
    from bench.credits_schedules import _context
    from domain.credits import service, uf
    from domain.credits.models import Credit, CreditSchedule, Installment
    from domain.shared.ids import uuid7
    from domain.shared.models import table_of
    from domain.shared.principal import SYSTEM

    lender, customers = await _context()
    mix = [payable(t, disbursed, args.payments) for t in credit_mix(TEMPLATES, seed=11)]
    templates = []
    for index, terms in enumerate(mix):
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

    credits_t, headers_t, rows_t = (
        table_of(Credit),
        table_of(CreditSchedule),
        table_of(Installment),
    )
    days = [disbursed + timedelta(days=n) for n in range((date.today() - disbursed).days + 1)]
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
        uf_values = await uf.get_uf_values(session, days)

    rng = random.Random(17)
    total = (
        args.credits
        + args.replay_credits
        + 2 * args.breakdown
        + args.profile
        + args.batched_credits
        + args.batched_backdated
    )
    credit_rows, header_rows, installment_rows, made = [], [], [], []
    for i in range(total):
        template = templates[i % TEMPLATES]
        new_id = uuid7()
        credit_rows.append({**base[template], "id": new_id, "reference": f"PB-{i:08d}"})
        header_rows.append({**headers[template], "id": uuid7(), "credit_id": new_id})
        for row in installments[template]:
            installment_rows.append({**row, "id": uuid7(), "credit_id": new_id})
        dues = [(r["due_date"], r["amount"]) for r in installments[template]]
        currency = base[template]["currency"]
        made.append(
            BenchCredit(new_id, planned_payments(rng, currency, dues, args.payments, uf_values))
        )
    await _copy(credits_t, credit_rows)
    await _copy(headers_t, header_rows)
    await _copy(rows_t, installment_rows)
    if get_database().dialect == "postgresql":
        async with transaction() as session:
            await session.execute(sa.text("analyze"))  # the planner sees the bulk load
    cut = [
        args.credits,
        args.replay_credits,
        2 * args.breakdown,
        args.profile,
        args.batched_credits,
        args.batched_backdated,
    ]
    parts, start = [], 0
    for size in cut:
        parts.append(made[start : start + size])
        start += size
    return {
        "in_order": parts[0],
        "backdated": parts[1],
        "breakdown": parts[2],
        "profile": parts[3],
        "batched": parts[4],
        "batched_backdated": parts[5],
        "templates": {
            "count": len(templates),
            "schemes": sorted({base[t]["scheme"] for t in templates}),
            "currencies": sorted({base[t]["currency"] for t in templates}),
            "installments": sum(len(installments[t]) for t in templates),
        },
    }


# ---------------------------------------------------------------------------------------
# the service path
# ---------------------------------------------------------------------------------------


def _register_batch(counter: dict[str, int]) -> Any:
    from app.db import transaction
    from domain.credits import payments
    from domain.shared.money import Money
    from domain.shared.principal import SYSTEM

    async def register(batch: list[tuple[BenchCredit, PlannedPayment]]) -> int:
        async with transaction() as session:
            for credit, planned in batch:
                await payments.register_payment(
                    session,
                    principal=SYSTEM,
                    credit_id=credit.id,
                    amount=Money(planned.amount, planned.currency),
                    paid_at=datetime.combine(planned.day, PAID_HOUR),
                    reference=f"bench {planned.number}",
                    idempotency_key=f"bench-{planned.number}",
                )
                counter["payments"] += 1
        return len(batch)

    return register


async def run_rounds(
    url: str,
    credits: list[BenchCredit],
    order: list[int],
    batch_size: int,
    budget: float,
) -> dict[str, Any]:
    """Round r registers payment ``order[r]`` of every credit. Stops after the round that
    crosses ``budget``. Per round: seconds and ms per payment."""
    counter = {"payments": 0}
    register = _register_batch(counter)
    clock = Clock(url)
    rounds = []
    before = load_average()
    await clock.start()
    started = time.perf_counter()
    for position, index in enumerate(order, start=1):
        t0 = time.perf_counter()
        items = [(c, c.payments[index]) for c in credits if index < len(c.payments)]
        for start in range(0, len(items), batch_size):
            await register(items[start : start + batch_size])
        elapsed = time.perf_counter() - t0
        rounds.append(
            {
                "round": position,
                "installment": index + 1,
                "booked_before": position - 1,
                "payments": len(items),
                "seconds": round(elapsed, 2),
                "ms_per_payment": round(1000 * elapsed / max(len(items), 1), 3),
            }
        )
        if time.perf_counter() - started >= budget:
            break
    await clock.stop()
    done = counter["payments"]
    seconds = clock.wall
    return {
        "credits": len(credits),
        "payments": done,
        "complete": len(rounds) == len(order),
        "seconds": round(seconds, 2),
        "payments_per_s": round(done / seconds, 1),
        "per_payment_ms": clock.per_item_ms(done),
        "rounds": rounds,
        "load_average_before": before,
        "load_average_after": load_average(),
    }


def _register_batched(counter: dict[str, int]) -> Any:
    """``payment_batches.register_payments``: the whole batch in one call."""
    from app.db import transaction
    from domain.credits import payment_batches
    from domain.shared.money import Money
    from domain.shared.principal import SYSTEM

    async def register(batch: list[tuple[BenchCredit, PlannedPayment]]) -> int:
        requests = [
            payment_batches.PaymentRequest(
                credit_id=credit.id,
                amount=Money(planned.amount, planned.currency),
                paid_at=datetime.combine(planned.day, PAID_HOUR),
                reference=f"bench {planned.number}",
                idempotency_key=f"bench-{planned.number}",
            )
            for credit, planned in batch
        ]
        async with transaction() as session:
            outcomes = await payment_batches.register_payments(
                session, principal=SYSTEM, requests=requests
            )
        failed = [o.error for o in outcomes if o.error is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} payments refused, the first: {failed[0]}")
        counter["payments"] += len(batch)
        return len(batch)

    return register


async def run_batched(
    url: str,
    credits: list[BenchCredit],
    order: list[int],
    batch_size: int,
    budget: float,
    meter: Any = None,
) -> dict[str, Any]:
    """Round r books payment ``order[r]`` of every credit through the batched path,
    ``batch_size`` payments per call and transaction."""
    counter = {"payments": 0}
    register = _register_batched(counter)
    clock = Clock(url)
    rounds = []
    before = load_average()
    if meter is not None:
        meter.attach()
    await clock.start()
    started = time.perf_counter()
    try:
        for position, index in enumerate(order, start=1):
            t0 = time.perf_counter()
            items = [(c, c.payments[index]) for c in credits if index < len(c.payments)]
            for start in range(0, len(items), batch_size):
                await register(items[start : start + batch_size])
            elapsed = time.perf_counter() - t0
            rounds.append(
                {
                    "round": position,
                    "installment": index + 1,
                    "payments": len(items),
                    "seconds": round(elapsed, 2),
                    "payments_per_s": round(len(items) / elapsed, 1),
                }
            )
            if time.perf_counter() - started >= budget:
                break
    finally:
        await clock.stop()
        if meter is not None:
            meter.detach()
    done = counter["payments"]
    out = {
        "credits": len(credits),
        "batch": batch_size,
        "payments": done,
        "complete": len(rounds) == len(order),
        "seconds": round(clock.wall, 2),
        "payments_per_s": round(done / clock.wall, 1),
        "per_payment_ms": clock.per_item_ms(done),
        "rounds": rounds,
        "load_average_before": before,
        "load_average_after": load_average(),
    }
    if meter is not None:
        out["sql"] = meter.summary(done)
    return out


def extrapolate(result: dict[str, Any], per_credit: int) -> dict[str, Any]:
    """100,000 payments as TARGET / per_credit credits through every round, at the ms per
    payment of each round measured (rounds not reached: the last measured one's)."""
    ms = [r["ms_per_payment"] for r in result["rounds"]]
    ms += [ms[-1]] * (per_credit - len(ms))
    credits = TARGET // per_credit
    seconds = sum(credits * m / 1000 for m in ms[:per_credit])
    return {
        "payments": TARGET,
        "credits": credits,
        "seconds": round(seconds, 1),
        "minutes": round(seconds / 60, 1),
        "payments_per_s": round(TARGET / seconds, 1),
    }


async def breakdown(
    url: str, credits: list[BenchCredit], order: list[int], batch_size: int
) -> dict[str, Any]:
    """Payments of ``credits`` in ``order`` with every statement and a few phases timed."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from domain.credits import ledger, payments, records
    from domain.investors import distributions
    from domain.shared import audit

    meter = SqlMeter()
    phases = PhaseTimer(
        [
            (records, "lock_credit"),
            (payments, "_by_key"),
            (ledger, "compute"),
            (ledger, "build_plan"),
            (ledger, "allocate"),
            (ledger, "_persist_allocations"),
            (ledger, "_persist_installments"),
            (ledger, "_persist_payments"),
            (ledger, "settle_status"),
            (distributions, "sync_credit"),
            (audit, "seal"),
            (AsyncSession, "commit"),
        ]
    )
    meter.attach()
    try:
        with phases:
            result = await run_rounds(url, credits, order, batch_size, 1e9)
    finally:
        meter.detach()
    done = result["payments"]
    return {
        "credits": len(credits),
        "payments": done,
        "payments_per_s": result["payments_per_s"],
        "per_payment_ms": result["per_payment_ms"],
        "sql": meter.summary(done),
        "phases_inclusive": phases.summary(done),
    }


async def measure_db(args: argparse.Namespace, url: str, disbursed: date) -> dict[str, Any]:
    import sqlalchemy as sa
    from sqlmodel import col

    from app.db import close_database, init_database, read_session
    from domain.credits.models import Allocation, Credit

    init_database(url)
    try:
        t0 = time.perf_counter()
        data = await build(args, disbursed)
        out: dict[str, Any] = {
            "setup_seconds": round(time.perf_counter() - t0, 1),
            "templates": data["templates"],
        }
        n = args.payments
        if args.credits:
            result = await run_rounds(
                url, data["in_order"], list(range(n)), args.batch, args.budget
            )
            out["in_order"] = {**result, "extrapolated": extrapolate(result, n)}
        if args.replay_credits:
            result = await run_rounds(
                url, data["backdated"], list(reversed(range(n))), args.batch, args.budget
            )
            out["backdated"] = {**result, "extrapolated": extrapolate(result, n)}
        if args.batched_credits:
            out["batched_in_order"] = await run_batched(
                url,
                data["batched"],
                list(range(n)),
                args.batched_size,
                args.budget,
                SqlMeter() if args.batched_sql else None,
            )
        if args.batched_backdated:
            out["batched_backdated"] = await run_batched(
                url,
                data["batched_backdated"],
                list(reversed(range(n))),
                args.batched_size,
                args.budget,
                SqlMeter() if args.batched_sql else None,
            )
        if args.breakdown:
            half = data["breakdown"][: args.breakdown], data["breakdown"][args.breakdown :]
            out["breakdown"] = {
                "in_order": await breakdown(url, half[0], list(range(n)), args.batch),
                "backdated": await breakdown(url, half[1], list(reversed(range(n))), args.batch),
            }
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            await run_rounds(url, data["profile"], list(range(n)), args.batch, 1e9)
            profile.disable()
            out["profile"] = {
                "credits": args.profile,
                "payments": args.profile * n,
                **profile_summary(profile),
            }
        async with read_session() as session:
            rows = await session.execute(
                sa.select(col(Credit.status), sa.func.count())
                .where(col(Credit.reference).like("PB-%"))
                .group_by(col(Credit.status))
            )
            statuses = {status: int(count) for status, count in rows.all()}
            allocations = (
                await session.execute(sa.select(sa.func.count()).select_from(Allocation))
            ).scalar_one()
        out["bench_credits_by_status"] = statuses
        out["allocation_rows"] = allocations
        out["postgres_backends_cpu_s"] = round(await database_backends_cpu(url), 1)
        return out
    finally:
        await close_database()


# ---------------------------------------------------------------------------------------
# the pure allocator
# ---------------------------------------------------------------------------------------


def measure_allocator(count: int, per_credit: int, disbursed: date) -> dict[str, Any]:
    from domain.credits.allocation import LateInterestPolicy, PaymentEvent, Plan, allocate
    from domain.credits.schedules import build_schedule

    late = LateInterestPolicy(annual_rate=Decimal("0.30"), max_annual_rate=Decimal("0.50"))
    mix = [payable(t, disbursed, per_credit) for t in credit_mix(count, seed=13)]
    rng = random.Random(19)
    plans, events, requests = [], [], []
    for i, terms in enumerate(mix):
        request = terms.request()
        plan = Plan.from_schedule(build_schedule(request))
        dues = [
            (r.due_date, r.interest - r.capitalised + r.principal + r.insurance + r.other_charges)
            for r in plan.rows
        ]
        payments = planned_payments(rng, terms.currency, dues, per_credit)
        plans.append(plan)
        requests.append(request)
        events.append(
            [
                PaymentEvent(
                    id=uuid.UUID(int=i * 100 + p.number),
                    at=datetime.combine(p.day, PAID_HOUR),
                    on=p.day,
                    amount=p.amount,
                )
                for p in payments
            ]
        )
    as_of = date.today()
    total = sum(len(e) for e in events)

    started = time.perf_counter()
    for plan, evs in zip(plans, events, strict=True):
        allocate(plan, evs, as_of=as_of, late=late)
    once = time.perf_counter() - started

    # The service's pattern: a replay after each payment, the plan rebuilt every time.
    subset = max(1, count // 10)
    started = time.perf_counter()
    replays = 0
    for request, evs in zip(requests[:subset], events[:subset], strict=True):
        for k in range(1, len(evs) + 1):
            plan = Plan.from_schedule(build_schedule(request))
            allocate(plan, evs[:k], as_of=as_of, late=late)
            replays += 1
    incremental = time.perf_counter() - started
    incremental_payments = sum(len(e) for e in events[:subset])

    # One long credit with 100,000 payments (the docs' claim: under a second).
    long_plan = Plan.from_schedule(
        build_schedule(
            replace(
                mix[0],
                term_months=600,
                amount=10**12,
                currency="CLP",
                disbursement_date=as_of - timedelta(days=365 * 50),
                opening_fee=None,
                monthly_insurance=None,
                monthly_charges=None,
                grace_months=0,
            ).request()
        )
    )
    first = long_plan.start_date
    many = [
        PaymentEvent(
            id=uuid.UUID(int=i),
            at=datetime.combine(first + timedelta(days=1 + i * 18250 // TARGET), PAID_HOUR),
            on=first + timedelta(days=1 + i * 18250 // TARGET),
            amount=400_000 + i % 1000,
        )
        for i in range(TARGET)
    ]
    started = time.perf_counter()
    long_result = allocate(long_plan, many, as_of=as_of, late=late)
    long_seconds = time.perf_counter() - started

    return {
        "credits": count,
        "payments": total,
        "one_replay_per_credit": {
            "seconds": round(once, 2),
            "payments_per_s": round(total / once, 1),
            "ms_per_credit": round(1000 * once / count, 3),
        },
        "replay_after_each_payment_with_plan_rebuild": {
            "credits": subset,
            "payments": incremental_payments,
            "replays": replays,
            "seconds": round(incremental, 2),
            "payments_per_s": round(incremental_payments / incremental, 1),
            "ms_per_replay": round(1000 * incremental / replays, 3),
        },
        "one_credit_100000_payments": {
            "installments": len(long_plan.rows),
            "allocation_lines": len(long_result.lines),
            "seconds": round(long_seconds, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credits", type=int, default=500, help="in-order credits")
    parser.add_argument("--payments", type=int, default=10, help="payments per credit")
    parser.add_argument("--batch", type=int, default=100, help="payments per transaction")
    parser.add_argument("--replay-credits", type=int, default=200, help="backdated credits")
    parser.add_argument("--pure-credits", type=int, default=10_000, help="allocator credits")
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per DB phase")
    parser.add_argument("--breakdown", type=int, default=0, help="credits with SQL timed")
    parser.add_argument("--profile", type=int, default=0, help="credits under cProfile")
    parser.add_argument(
        "--batched-credits", type=int, default=2000, help="credits through the batched path"
    )
    parser.add_argument(
        "--batched-backdated", type=int, default=500, help="batched, newest payment first"
    )
    parser.add_argument("--batched-size", type=int, default=500, help="payments per batch")
    parser.add_argument("--batched-sql", type=int, default=0, help="count the batched SQL")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--skip-db", action="store_true")
    args = parser.parse_args()
    if args.payments > 10:
        parser.error("--payments: at most 10 (the credits are disbursed 310 days ago)")
    disbursed = date.today() - timedelta(days=310)
    result: dict[str, Any] = {
        "benchmark": "payments_apply",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_start": load_average(),
        "batch": args.batch,
    }
    if not args.skip_db:
        with environment(customers=args.customers) as env:
            result["database"] = env.database_url.split(":", 1)[0]
            result.update(asyncio.run(measure_db(args, env.database_url, disbursed)))
    if args.pure_credits:
        result["allocator"] = measure_allocator(args.pure_credits, args.payments, disbursed)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()

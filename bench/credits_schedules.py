"""Schedules for 100,000 credits: the pure engine, then the registry path.

    python -m bench.credits_schedules [--schedules 100000] [--create 100000]
                                      [--batch 100] [--budget 60] [--breakdown 1000]
                                      [--profile 0]

1. ``engine``: ``build_schedule`` for ``--schedules`` varied requests (FRENCH / GERMAN /
   BULLET, terms 12-72 months, rates 2-36 %, some with grace, an opening fee, insurance or
   other charges, CLP and CLF, three day counts), single process, nothing else timed (the
   requests are made beforehand).
2. ``registry``: ``domain.credits.service.create_credit`` for up to ``--create`` credits of
   the same mix (each stored with its schedule header and installment rows, an audit record
   and a ``credits.created`` outbox event), ``--batch`` credits per transaction, in
   process. It stops after the batch that crosses ``--budget`` seconds and then says how
   long all of ``--create`` would take at the rate measured (``extrapolated``), with the
   rate of each tenth of the run so a slowdown as the tables grow would show.
   ``--profile N`` then creates N more credits under cProfile and reports the top costs
   (not part of the measured figures).

Uses TRAMA_BENCH_DATABASE_URL (an empty database dedicated to benchmarks: it is migrated
and seeded) or SQLite in a temporary directory. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import platform
import pstats
import random
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.harness import cpu_seconds, environment, load_average
from domain.credits.calendar import DayCount
from domain.credits.schedules import FeeMode, GraceKind, ScheduleRequest, Scheme, build_schedule
from domain.shared.money import Money

# ---------------------------------------------------------------------------------------
# the credit mix
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Terms:
    """One credit's terms, usable for ``ScheduleRequest`` and ``create_credit`` alike."""

    currency: str
    amount: int  # minor units
    annual_rate: Decimal
    term_months: int
    disbursement_date: date
    scheme: Scheme
    day_count: DayCount
    grace_months: int
    grace_kind: GraceKind
    opening_fee: int | None
    opening_fee_mode: FeeMode
    monthly_insurance: int | None
    monthly_charges: int | None

    def money(self, amount: int | None) -> Money | None:
        return None if amount is None else Money(amount, self.currency)

    def request(self) -> ScheduleRequest:
        return ScheduleRequest(
            principal=Money(self.amount, self.currency),
            annual_rate=self.annual_rate,
            term_months=self.term_months,
            disbursement_date=self.disbursement_date,
            scheme=self.scheme,
            day_count=self.day_count,
            grace_months=self.grace_months,
            grace_kind=self.grace_kind,
            opening_fee=self.money(self.opening_fee),
            opening_fee_mode=self.opening_fee_mode,
            monthly_insurance=self.money(self.monthly_insurance),
            monthly_charges=self.money(self.monthly_charges),
        )

    def create_kwargs(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "amount": Money(self.amount, self.currency),
            "annual_rate": self.annual_rate,
            "term_months": self.term_months,
            "disbursement_date": self.disbursement_date,
            "scheme": self.scheme,
            "day_count": self.day_count,
            "grace_months": self.grace_months,
            "grace_kind": self.grace_kind,
            "opening_fee": self.money(self.opening_fee),
            "opening_fee_mode": self.opening_fee_mode,
            "monthly_insurance": self.money(self.monthly_insurance),
            "monthly_charges": self.money(self.monthly_charges),
        }


def credit_mix(count: int, seed: int = 5, *, first_day: date = date(2024, 1, 1)) -> list[Terms]:
    """``count`` varied credits, the same for the same ``seed``: 80 % CLP (2-40 million
    pesos, 8-36 %) and 20 % CLF (200-2,000 UF, 2-9 %); 70 % FRENCH, 20 % GERMAN, 10 %
    BULLET; terms 12-72; 15 % with 1-3 grace months; 30 % with an opening fee; 40 % with
    insurance, 20 % with other charges; 80 % 30/360, 10 % ACT/365, 10 % ACT/360; disbursed on
    any day of the 700 days from ``first_day`` (month ends included)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        clf = rng.random() < 0.2
        if clf:
            currency, amount = "CLF", rng.randint(200, 2000) * 10_000 + rng.randint(0, 9999)
            rate = Decimal(rng.randint(200, 900)) / 10_000
            insurance, charges = rng.randint(1000, 8000), rng.randint(500, 3000)
        else:
            currency, amount = "CLP", rng.randrange(2_000_000, 40_000_000, 1000)
            rate = Decimal(rng.randint(800, 3600)) / 10_000
            insurance, charges = rng.randint(5000, 25_000), rng.randint(1000, 9000)
        term = rng.randint(12, 72)
        grace = rng.randint(1, 3) if rng.random() < 0.15 else 0
        fee = amount * rng.randint(100, 300) // 10_000 if rng.random() < 0.3 else None
        out.append(
            Terms(
                currency=currency,
                amount=amount,
                annual_rate=rate,
                term_months=term,
                disbursement_date=first_day + timedelta(days=rng.randint(0, 699)),
                scheme=rng.choices(list(Scheme), weights=(70, 20, 10))[0],
                day_count=rng.choices(list(DayCount), weights=(80, 10, 10))[0],
                grace_months=grace,
                grace_kind=rng.choice(list(GraceKind)),
                opening_fee=fee,
                opening_fee_mode=rng.choice(list(FeeMode)),
                monthly_insurance=insurance if rng.random() < 0.4 else None,
                monthly_charges=charges if rng.random() < 0.2 else None,
            )
        )
    return out


# ---------------------------------------------------------------------------------------
# measuring helpers (also used by bench.payments_apply)
# ---------------------------------------------------------------------------------------

#: Where a profiled function's own time is counted, by the path of its file.
_GROUPS = (
    ("waiting for the database (event loop idle)", ("selectors.py", "select.epoll")),
    ("asyncpg", ("asyncpg",)),
    ("sqlalchemy (with its greenlet bridge)", ("sqlalchemy", "greenlet")),
    ("sqlmodel / pydantic", ("sqlmodel", "pydantic")),
    ("fractions (exact arithmetic)", ("fractions.py",)),
    ("domain.credits", ("domain/credits",)),
    ("domain.investors", ("domain/investors",)),
    ("domain.shared (audit, outbox, money, ids)", ("domain/shared",)),
    ("asyncio", ("asyncio",)),
    ("json / orjson / hashing", ("orjson", "json", "hashlib", "sha256")),
    ("uuid", ("uuid.py",)),
    ("socket send / recv (includes being descheduled)", ("_socket.socket",)),
)


def _group(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for label, needles in _GROUPS:
        if any(n in where for n in needles):
            return label
    return "other"


def profile_summary(profile: cProfile.Profile, top: int = 15) -> dict[str, Any]:
    """Own time by group, and the functions with the most own and cumulative time."""
    stats = pstats.Stats(profile)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0
    groups: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        groups[_group(filename, name)] += tottime

    def label(key: tuple[str, int, str]) -> str:
        filename, line, name = key
        parts = Path(filename).parts
        short = "/".join(parts[-2:]) if len(parts) >= 2 else filename
        return f"{short}:{line}({name})" if line else name

    own = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    cumulative = sorted(
        (kv for kv in raw.items() if "domain" in kv[0][0] or "sqlalchemy" in kv[0][0]),
        key=lambda kv: kv[1][3],
        reverse=True,
    )[:top]
    return {
        "profiled_seconds": round(total, 2),
        "own_time_by_group_pct": {
            k: round(100 * v / total, 1) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])
        },
        "top_own_time": [
            {"function": label(k), "calls": v[1], "own_s": round(v[2], 3)} for k, v in own
        ],
        "top_cumulative": [
            {"function": label(k), "calls": v[1], "cumulative_s": round(v[3], 3)}
            for k, v in cumulative
        ],
    }


async def database_backends_cpu(url: str) -> float:
    """CPU seconds used so far by PostgreSQL's backends serving this database (Linux, same
    machine); 0 elsewhere. Backends that exited since are not counted."""
    if not url.startswith("postgresql"):
        return 0.0
    import sqlalchemy as sa

    from app.db import read_session

    async with read_session() as session:
        pids = (
            await session.execute(
                sa.text(
                    "select pid from pg_stat_activity where datname = current_database() "
                    "and backend_type = 'client backend'"
                )
            )
        ).scalars()
        total = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(pid))
    return total


@dataclass
class Clock:
    """Wall time, this process's CPU and the database backends' CPU over a block."""

    url: str
    wall: float = 0.0
    cpu: float = 0.0
    db_cpu: float = 0.0

    async def start(self) -> None:
        self.db_cpu = -await database_backends_cpu(self.url)
        self.cpu = -time.process_time()
        self.wall = -time.perf_counter()

    async def stop(self) -> None:
        self.wall += time.perf_counter()
        self.cpu += time.process_time()
        self.db_cpu += await database_backends_cpu(self.url)

    def per_item_ms(self, count: int) -> dict[str, float]:
        count = max(count, 1)
        return {
            "wall": round(1000 * self.wall / count, 3),
            "python_cpu": round(1000 * self.cpu / count, 3),
            "postgres_cpu": round(1000 * self.db_cpu / count, 3),
        }


class SqlMeter:
    """Statements sent and the time spent inside the driver's execute (round trip: send,
    PostgreSQL's work, receive), by statement kind, from SQLAlchemy's cursor events."""

    def __init__(self) -> None:
        self.count: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.rows = 0
        self._started: list[float] = []
        self._engine: Any = None

    @staticmethod
    def kind(statement: str) -> str:
        words = statement.lstrip().split(None, 4)
        verb = words[0].upper() if words else "?"
        if verb == "SELECT" and "pg_advisory" in statement:
            return "SELECT pg_advisory_xact_lock"
        if verb in {"INSERT", "UPDATE", "DELETE"}:
            table = next((w for w in words[1:] if w.upper() not in {"INTO", "FROM"}), "?")
            return f"{verb} {table.strip(chr(34))}"
        if verb == "SELECT":
            found = re.search(r"\bFROM\s+([\w.\"]+)", statement, re.IGNORECASE)
            return f"SELECT {found.group(1).strip(chr(34)) if found else '(no table)'}"
        return verb

    def _before(self, *args: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(
        self, conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool
    ) -> None:
        elapsed = time.perf_counter() - self._started.pop()
        key = self.kind(statement)
        self.count[key] += 1
        self.seconds[key] += elapsed
        if many and isinstance(params, list | tuple):
            self.rows += len(params)

    def attach(self) -> None:
        from sqlalchemy import event

        from app.db import get_database

        self._engine = get_database().engine.sync_engine
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)

    def detach(self) -> None:
        from sqlalchemy import event

        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)

    def summary(self, items: int) -> dict[str, Any]:
        items = max(items, 1)
        total = sum(self.count.values())
        seconds = sum(self.seconds.values())
        ordered = sorted(self.count, key=lambda k: -self.seconds[k])
        return {
            "statements_per_item": round(total / items, 2),
            "executemany_rows_per_item": round(self.rows / items, 2),
            "round_trip_ms_per_item": round(1000 * seconds / items, 3),
            "by_statement": {
                k: {
                    "per_item": round(self.count[k] / items, 2),
                    "ms_per_item": round(1000 * self.seconds[k] / items, 3),
                }
                for k in ordered
            },
        }


class PhaseTimer:
    """Wall time spent in chosen functions (sync or async), by wrapping module attributes
    for the duration of a block. Inclusive: a phase's time includes its SQL round trips."""

    def __init__(self, targets: list[tuple[Any, str]]) -> None:
        self.targets = targets
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._saved: list[tuple[Any, str, Any]] = []

    def _wrap(self, label: str, function: Any) -> Any:
        import functools
        import inspect

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    self.seconds[label] += time.perf_counter() - t0
                    self.calls[label] += 1

            return timed_async

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - t0
                self.calls[label] += 1

        return timed

    def __enter__(self) -> PhaseTimer:
        for owner, name in self.targets:
            original = getattr(owner, name)
            label = f"{getattr(owner, '__name__', owner)}.{name}"
            self._saved.append((owner, name, original))
            setattr(owner, name, self._wrap(label, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def summary(self, items: int) -> dict[str, Any]:
        items = max(items, 1)
        return {
            label: {
                "calls_per_item": round(self.calls[label] / items, 2),
                "ms_per_item": round(1000 * seconds / items, 3),
            }
            for label, seconds in sorted(self.seconds.items(), key=lambda kv: -kv[1])
        }


async def run_budgeted(
    batches: list[Any],
    do_batch: Callable[[Any], Awaitable[int]],
    budget: float,
    *,
    slices: int = 10,
) -> tuple[int, float, list[float]]:
    """Run batches until all are done or ``budget`` seconds have passed (the batch that
    crosses it finishes). Returns (items done, seconds, items/s of each ``slices``-th)."""
    done = 0
    started = time.perf_counter()
    marks: list[tuple[int, float]] = []
    for batch in batches:
        done += await do_batch(batch)
        marks.append((done, time.perf_counter() - started))
        if marks[-1][1] >= budget:
            break
    seconds = marks[-1][1] if marks else 0.0
    rates = []
    step = max(1, len(marks) // slices)
    previous = (0, 0.0)
    for index in range(step - 1, len(marks), step):
        count, at = marks[index]
        if at > previous[1]:
            rates.append(round((count - previous[0]) / (at - previous[1]), 1))
        previous = (count, at)
    return done, seconds, rates


# ---------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------


def measure_engine(mix: list[Terms]) -> dict[str, Any]:
    requests = [t.request() for t in mix]
    by_scheme: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    rows = 0
    clock = time.perf_counter
    started, cpu = clock(), time.process_time()
    for request in requests:
        t0 = clock()
        schedule = build_schedule(request)
        elapsed = clock() - t0
        n = len(schedule.rows)
        rows += n
        entry = by_scheme[schedule.scheme]
        entry[0] += 1
        entry[1] += n
        entry[2] += elapsed
    seconds = clock() - started
    cpu = time.process_time() - cpu
    return {
        "schedules": len(requests),
        "rows": rows,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "schedules_per_s": round(len(requests) / seconds, 1),
        "rows_per_s": round(rows / seconds, 1),
        "by_scheme": {
            scheme: {
                "schedules": int(n),
                "schedules_per_s": round(n / s, 1),
                "rows_per_s": round(r / s, 1),
                "ms_per_schedule": round(1000 * s / n, 3),
            }
            for scheme, (n, r, s) in sorted(by_scheme.items())
        },
    }


async def _context() -> tuple[Any, list[Any]]:
    import sqlalchemy as sa
    from sqlmodel import col

    from app.db import read_session
    from domain.customers.models import Customer
    from domain.partners.models import Partner

    async with read_session() as session:
        lender = (
            await session.execute(
                sa.select(col(Partner.id)).where(col(Partner.code) == "AUTOCREDITO")
            )
        ).scalar_one()
        customers = list((await session.execute(sa.select(col(Customer.id)).limit(500))).scalars())
    return lender, customers


def _creator(lender: Any, customers: list[Any]) -> Callable[[list[Terms]], Awaitable[int]]:
    from app.db import transaction
    from domain.credits import service
    from domain.shared.principal import SYSTEM

    counter = 0

    async def create_batch(batch: list[Terms]) -> int:
        nonlocal counter
        async with transaction() as session:
            for terms in batch:
                await service.create_credit(
                    session,
                    principal=SYSTEM,
                    customer_id=customers[counter % len(customers)],
                    product_code="AUTO",
                    partner_id=lender,
                    **terms.create_kwargs(),
                )
                counter += 1
        return len(batch)

    return create_batch


async def _breakdown(
    url: str, create_batch: Callable[[list[Terms]], Awaitable[int]], count: int, batch_size: int
) -> dict[str, Any]:
    """``count`` more credits with every SQL statement and a few phases timed."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from domain.credits import records, service
    from domain.shared import audit

    extra = credit_mix(count, seed=98)
    meter = SqlMeter()
    phases = PhaseTimer(
        [
            (service, "build_schedule"),
            (service, "_lender"),
            (records, "next_reference"),
            (records, "header_from"),
            (records, "store_installments"),
            (records, "emit"),
            (audit, "seal"),
            (AsyncSession, "commit"),
        ]
    )
    clock = Clock(url)
    meter.attach()
    try:
        with phases:
            await clock.start()
            for start in range(0, len(extra), batch_size):
                await create_batch(extra[start : start + batch_size])
            await clock.stop()
    finally:
        meter.detach()
    return {
        "credits": count,
        "per_credit_ms": clock.per_item_ms(count),
        "sql": meter.summary(count),
        "phases_inclusive": phases.summary(count),
    }


async def measure_registry(
    url: str,
    mix: list[Terms],
    batch_size: int,
    budget: float,
    profile_count: int,
    breakdown_count: int,
) -> dict[str, Any]:
    import sqlalchemy as sa

    from app.db import close_database, init_database, read_session
    from domain.credits.models import Credit, Installment

    init_database(url)
    try:
        lender, customers = await _context()
        create_batch = _creator(lender, customers)
        # Warm-up (imports, statement caches, pool): 2 batches, not measured.
        await create_batch(mix[:batch_size])
        await create_batch(mix[batch_size : 2 * batch_size])
        work = mix[2 * batch_size :]
        batches = [work[i : i + batch_size] for i in range(0, len(work), batch_size)]
        async with read_session() as session:
            rows_before = (
                await session.execute(sa.select(sa.func.count()).select_from(Installment))
            ).scalar_one()
        clock = Clock(url)
        before = load_average()
        await clock.start()
        done, seconds, rates = await run_budgeted(batches, create_batch, budget)
        await clock.stop()
        async with read_session() as session:
            credits_total = (
                await session.execute(sa.select(sa.func.count()).select_from(Credit))
            ).scalar_one()
            rows = (
                await session.execute(sa.select(sa.func.count()).select_from(Installment))
            ).scalar_one() - rows_before
        target = len(work)
        rate = done / seconds
        out: dict[str, Any] = {
            "batch": batch_size,
            "credits": done,
            "complete": done >= len(work),
            "installment_rows": rows,
            "seconds": round(seconds, 2),
            "credits_per_s": round(rate, 1),
            "rows_per_s": round(rows / seconds, 1),
            "per_credit_ms": clock.per_item_ms(done),
            "rate_by_tenth": rates,
            "extrapolated": {
                "credits": target,
                "seconds": round(target / rate, 1),
                "minutes": round(target / rate / 60, 1),
            },
            "credits_in_database": credits_total,
            "load_average_before": before,
            "load_average_after": load_average(),
        }
        if breakdown_count:
            out["breakdown"] = await _breakdown(url, create_batch, breakdown_count, batch_size)
        if profile_count:
            extra = credit_mix(profile_count, seed=99)
            profile = cProfile.Profile()
            profile.enable()
            for start in range(0, len(extra), batch_size):
                await create_batch(extra[start : start + batch_size])
            profile.disable()
            out["profile"] = {"credits": profile_count, **profile_summary(profile)}
        return out
    finally:
        await close_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=100_000, help="engine: schedules")
    parser.add_argument("--create", type=int, default=100_000, help="registry: credits")
    parser.add_argument("--batch", type=int, default=100, help="registry: per transaction")
    parser.add_argument("--budget", type=float, default=60.0, help="registry: seconds at most")
    parser.add_argument(
        "--breakdown", type=int, default=1000, help="registry: credits with SQL and phases timed"
    )
    parser.add_argument("--profile", type=int, default=0, help="registry: credits profiled")
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--skip-registry", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "credits_schedules",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_start": load_average(),
    }
    if not args.skip_engine:
        result["engine"] = measure_engine(credit_mix(args.schedules))
    if not args.skip_registry:
        with environment(customers=args.customers) as env:
            result["database"] = env.database_url.split(":", 1)[0]
            result["registry"] = asyncio.run(
                measure_registry(
                    env.database_url,
                    credit_mix(args.create + 2 * args.batch, seed=7),
                    args.batch,
                    args.budget,
                    args.profile,
                    args.breakdown,
                )
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Credit jobs: the daily delinquency run.

Due dates, days past due and late interest are *business dates* of each credit's lender
(``credits.timezone``). So the run is made per timezone with that timezone's today: the job
fires every hour, and for each timezone of open credits it runs once per business day — the
first hour after local midnight — recorded by a marker written only when every batch of
that day is done (a run cut short is simply done again; it is idempotent per day).

Each batch of credits is its own transaction (locks are held briefly, a failure loses at
most one batch of work, which the next attempt redoes).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from app.db import read_session, transaction
from domain.credits import delinquency
from domain.credits.policy import today
from workers.registry import RetryPolicy, job

log = logging.getLogger("trama.workers.credits")

#: Credits per transaction.
BATCH_SIZE = 200


async def run_day(
    timezone: str, as_of: date, *, batch_size: int = BATCH_SIZE, record: bool = True
) -> dict[str, Any]:
    """Bring every open credit of ``timezone`` up to the business day ``as_of``, batch by
    batch, then (``record``) record the day as done."""
    totals: dict[str, Any] = {
        "timezone": timezone,
        "as_of": as_of.isoformat(),
        "batches": 0,
        "examined": 0,
        "became_delinquent": 0,
        "cured": 0,
        "paid_off": 0,
        "balances_applied": 0,
    }
    after = None
    while True:
        async with transaction() as session:
            run = await delinquency.run_delinquency(
                session, as_of=as_of, timezone=timezone, after_id=after, limit=batch_size
            )
        totals["batches"] += 1
        totals["examined"] += run.examined
        totals["became_delinquent"] += len(run.became_delinquent)
        totals["cured"] += len(run.cured)
        totals["paid_off"] += len(run.paid_off)
        totals["balances_applied"] += run.allocations_changed
        if run.done or run.last_id is None:
            break
        after = run.last_id
    if record:
        async with transaction() as session:
            await delinquency.mark_day_done(session, timezone=timezone, as_of=as_of)
    return totals


@job(
    "credits.run_delinquency",
    every=timedelta(hours=1),
    retry=RetryPolicy(max_retries=3, time_limit_ms=30 * 60_000),
    transactional=False,
)
async def run_delinquency(
    *, as_of: str | None = None, batch_size: int = BATCH_SIZE
) -> list[dict[str, Any]]:
    """For each timezone of open credits whose business day has not been run yet, run it.

    ``as_of`` (an ISO date, for a manual run) forces that business day in every timezone,
    even one already recorded as done (and records nothing: the scheduled runs go on).
    """
    forced = date.fromisoformat(as_of) if as_of else None
    async with read_session() as session:
        timezones = await delinquency.open_timezones(session)
        pending: list[tuple[str, date]] = []
        for timezone in timezones:
            day = forced or today(timezone)
            if forced is None and await delinquency.day_done(session, timezone=timezone, as_of=day):
                continue
            pending.append((timezone, day))
    runs = []
    for timezone, day in pending:
        totals = await run_day(timezone, day, batch_size=batch_size, record=forced is None)
        log.info("delinquency run: %s", totals)
        runs.append(totals)
    return runs

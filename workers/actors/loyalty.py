"""Loyalty jobs: accrual of received purchases, points for Trama's events, the daily
expiry and tier review per program timezone.

- ``loyalty.accrue``: processes the waiting purchases batch by batch (each its own
  transaction; rows claimed with SKIP LOCKED, so several workers share the queue). Sent when
  a batch is recorded (``loyalty.purchases_recorded``) and every 30 s as a sweep.
- ``loyalty.reward_payments``: a payment that leaves its credit current
  (``payments.received`` with ``daysPastDue`` 0, not backdated) earns the points of the
  ``credit_payment_on_time`` event in the programs whose rules say so.
- ``loyalty.expire``: hourly; for each program whose local day has not been run, expires
  the points whose last day passed and reviews the tiers (downgrades), batch by batch,
  then records the day (a run cut short is done again; both steps are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db import read_session, transaction
from domain.credits import service as credits_service
from domain.loyalty import accrual, expiry, purchases, rulesets, tiers
from domain.loyalty.models import LoyaltyProgram
from domain.shared.event_schemas import parse_global_id
from domain.shared.models import table_of
from domain.shared.outbox import Event
from domain.shared.time import ensure_utc, local_today
from workers.registry import PermanentError, RetryPolicy, consumer, job

log = logging.getLogger("trama.workers.loyalty")

BATCH = accrual.BATCH


@job(
    "loyalty.accrue",
    every=timedelta(seconds=30),
    retry=RetryPolicy(max_retries=5, time_limit_ms=30 * 60_000),
)
async def accrue(*, batch: int = BATCH) -> dict[str, Any]:
    report = await accrual.accrue_all(transaction, batch=batch)
    if report.claimed:
        log.info(
            "loyalty accrual: %d purchases, %d accrued, %d points",
            report.claimed,
            report.accrued,
            report.points,
        )
    return {
        "claimed": report.claimed,
        "accrued": report.accrued,
        "refunds": report.refunds,
        "rejected": report.rejected,
        "deferred": report.deferred,
        "points": report.points,
    }


def _send_accrue() -> None:
    from workers.backbone import current_backbone

    backbone = current_backbone()
    if backbone is None or backbone.broker is None:
        raise RuntimeError("no broker in this process to send loyalty.accrue to")
    backbone.broker.send_job("loyalty.accrue", {})


@consumer("loyalty.accrue_recorded", "loyalty.purchases_recorded")
async def accrue_recorded(session: Any, event: Event) -> None:
    """A batch of purchases was recorded: start the accrual now rather than at the sweep."""
    if int(event.payload.get("accepted") or 0) > 0:
        await asyncio.to_thread(_send_accrue)


@consumer("loyalty.reward_payments", "payments.received")
async def reward_payments(session: Any, event: Event) -> None:
    payload = event.payload
    if payload.get("backdated") or int(payload.get("daysPastDue") or 0) != 0:
        return
    allocated = payload.get("allocatedAmount") or {}
    if str(allocated.get("amount", "0")).strip("0.") == "":
        return  # nothing went to the credit (held entirely)
    credit_id = parse_global_id(payload.get("creditId"), "Credit")
    payment_id = parse_global_id(payload.get("paymentId"), "Payment")
    if credit_id is None or payment_id is None:
        raise PermanentError(f"event {event.id} names no credit or payment")
    credit = (await credits_service.get_many(session, [credit_id])).get(credit_id)
    if credit is None:
        return
    paid_at = ensure_utc(datetime.fromisoformat(str(payload["paidAt"]).replace("Z", "+00:00")))
    ids = await purchases.record_event(
        session,
        customer_id=credit.customer_id,
        event_type=purchases.EVENT_CREDIT_PAYMENT_ON_TIME,
        source_id=str(payment_id),
        occurred_at=paid_at,
        currency=credit.currency,
    )
    if ids:
        await accrual.accrue_batch(session, purchase_ids=ids)


async def run_program_day(program_id: Any, *, batch: int = 500) -> dict[str, Any]:
    """Expire and review one program up to its local today, then record the day."""
    async with read_session() as session:
        program = await session.get(LoyaltyProgram, program_id)
        assert program is not None
        today = local_today(program.timezone)
        calendar = await rulesets.calendar(session, program.id)
    totals: dict[str, Any] = {"program": program.code, "day": today.isoformat()}
    expired_entries = expired_points = skipped = 0
    after = None
    while True:
        async with transaction() as session:
            done = await expiry.expire_batch(
                session, program=program, today=today, after=after, limit=batch
            )
        expired_entries += done.entries
        expired_points += done.points
        skipped += done.skipped
        if done.done or done.last_account is None:
            break
        after = done.last_account
    changed = 0
    cursor = None
    while True:
        async with transaction() as session:
            moves, cursor = await tiers.sweep_tiers(
                session,
                program=program,
                calendar=calendar,
                today=today,
                after=cursor,
                limit=batch,
            )
        changed += len(moves)
        if cursor is None:
            break
    if not skipped:
        async with transaction() as session:
            await expiry.mark_expired_through(
                session, program_id=program.id, day=today - timedelta(days=1)
            )
    totals.update(
        expired_entries=expired_entries,
        expired_points=expired_points,
        skipped_accounts=skipped,
        tier_changes=changed,
    )
    return totals


@job(
    "loyalty.expire",
    every=timedelta(hours=1),
    retry=RetryPolicy(max_retries=3, time_limit_ms=60 * 60_000),
)
async def expire(*, force: bool = False) -> list[dict[str, Any]]:
    """Each program whose local yesterday is not recorded as done (or all, ``force``)."""
    programs = table_of(LoyaltyProgram)
    async with read_session() as session:
        rows = (
            await session.execute(
                sa.select(programs.c.id, programs.c.timezone, programs.c.expired_through).where(
                    programs.c.active.is_(True)
                )
            )
        ).all()
    runs = []
    for program_id, timezone, through in rows:
        yesterday = local_today(timezone) - timedelta(days=1)
        if not force and through is not None and through >= yesterday:
            continue
        totals = await run_program_day(program_id)
        log.info("loyalty day: %s", totals)
        runs.append(totals)
    return runs

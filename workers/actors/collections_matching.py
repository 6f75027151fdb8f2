"""The reconciliation in the background.

``collections.reconcile`` (consumer of ``statements.ingested``)
    Decides and books the statement's NEW lines (``domain.collections.matching.reconcile``)
    in the transaction that marks the delivery done: a delivery seen twice, or retried
    after a failure (everything rolled back), decides each line once and books each
    payment once (keys derived from the line). Retries: 5, backoff 2 s to 5 min, 15 minutes
    at most per delivery (a large statement); a lender or statement that no longer exists
    is not retried.

``collections.reconcile_sweep`` (every ``TRAMA_RECONCILE_SWEEP_INTERVAL``)
    The same for NEW lines stored more than that long ago that no event brought (a
    delivery discarded by an administrator, lines stored before the worker ran).

``collections.open_unidentified_cases`` (every hour)
    Payments still unmatched after ``TRAMA_UNIDENTIFIED_PAYMENT_BUSINESS_DAYS`` business
    days open an "unidentified payment" case (once per line).

``collections.apply_case_resolution`` (consumer of ``cases.resolved``)
    A resolved "unidentified payment" case whose note names a credit books the line to it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import read_session, transaction
from app.settings import get_settings
from domain.collections import matching, matching_cases
from domain.shared.event_schemas import parse_global_id
from domain.shared.outbox import Event
from domain.shared.time import utcnow
from workers.registry import PermanentError, RetryPolicy, consumer, job

log = logging.getLogger("trama.workers.reconcile")

_settings = get_settings()

RECONCILE_RETRY = RetryPolicy(
    max_retries=5, min_backoff_ms=2_000, max_backoff_ms=300_000, time_limit_ms=15 * 60_000
)


@consumer("collections.reconcile", "statements.ingested", retry=RECONCILE_RETRY)
async def reconcile(session: AsyncSession, event: Event) -> None:
    statement_id = parse_global_id(event.payload.get("statementId"), "BankStatement")
    partner_id = parse_global_id(event.payload.get("partnerId"), "Partner")
    if statement_id is None or partner_id is None:
        raise PermanentError("statements.ingested without a statement or partner id")
    result = await matching.reconcile(
        session,
        partner_id=partner_id,
        statement_id=statement_id,
        chunk=get_settings().reconcile_chunk,
    )
    log.info(
        "statement %s reconciled: %d lines %s, %d payments",
        statement_id,
        result.lines,
        dict(result.by_state),
        result.payments,
    )


@job(
    "collections.reconcile_sweep",
    every=timedelta(seconds=_settings.reconcile_sweep_interval),
    retry=RECONCILE_RETRY,
)
async def reconcile_sweep(*, older_than_seconds: float | None = None) -> dict[str, Any]:
    settings = get_settings()
    age = (
        older_than_seconds if older_than_seconds is not None else settings.reconcile_sweep_interval
    )
    async with read_session() as session:
        lenders = await matching.lenders_with_new_lines(
            session, created_before=utcnow() - timedelta(seconds=age)
        )
    done: dict[str, Any] = {}
    for lender in lenders:
        async with transaction() as session:
            result = await matching.reconcile(
                session, partner_id=lender, chunk=settings.reconcile_chunk
            )
        done[str(lender)] = {"lines": result.lines, "payments": result.payments}
    return done


@job(
    "collections.open_unidentified_cases",
    every=timedelta(hours=1),
    retry=RetryPolicy(max_retries=3, time_limit_ms=10 * 60_000),
)
async def open_unidentified_cases() -> dict[str, int]:
    async with transaction() as session:
        run = await matching_cases.open_unidentified_cases(
            session, business_days=get_settings().unidentified_payment_business_days
        )
    return {"examined": run.examined, "opened": run.opened, "noCustomer": run.without_customer}


@consumer(
    "collections.apply_case_resolution",
    "cases.resolved",
    retry=RetryPolicy(max_retries=5, min_backoff_ms=2_000, max_backoff_ms=300_000),
)
async def apply_case_resolution(session: AsyncSession, event: Event) -> None:
    case_id = parse_global_id(event.payload.get("caseId"), "Case")
    if case_id is None:
        return
    await matching_cases.apply_resolved_case(session, case_id=case_id)

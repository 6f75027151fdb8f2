"""Origination jobs: the 24-hour promise's sweep and the time-to-decision metric.

- ``origination.sweep_clock``: every 5 minutes, flags undecided applications at risk or
  breached (once per flag) and emits ``applications.escalated`` for each
  (``domain.origination.service.sweep_clock``).
- ``origination.decision_time``: on the first decision of an application (from SCORED to
  pre-approved, referred or rejected) observes the time from submission to decision in
  ``trama_application_decision_seconds`` (by outcome).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from app import metrics
from app.db import transaction
from domain.origination import service
from domain.origination.models import CreditApplication
from domain.shared.event_schemas import parse_global_id
from domain.shared.outbox import Event
from workers.registry import RetryPolicy, consumer, job

log = logging.getLogger("trama.workers.origination")


@job(
    "origination.sweep_clock",
    every=timedelta(minutes=5),
    retry=RetryPolicy(max_retries=3, time_limit_ms=5 * 60_000),
)
async def sweep_clock() -> dict[str, Any]:
    async with transaction() as session:
        sweep = await service.sweep_clock(session)
    if sweep.at_risk or sweep.breached:
        log.info(
            "application clock: %d at risk, %d breached", len(sweep.at_risk), len(sweep.breached)
        )
    return {"at_risk": len(sweep.at_risk), "breached": len(sweep.breached)}


@consumer(
    "origination.decision_time",
    "applications.pre_approved",
    "applications.referred",
    "applications.rejected",
    retry=RetryPolicy(max_retries=3, time_limit_ms=30_000),
)
async def decision_time(session: Any, event: Event) -> None:
    if event.payload.get("fromState") != "SCORED":
        return
    key = parse_global_id(event.payload.get("applicationId"), "CreditApplication")
    if key is None:
        return
    app = await session.get(CreditApplication, key)
    if app is None:
        return
    elapsed = service.time_to_decision(app)
    if elapsed is not None:
        outcome = str(event.payload.get("outcome") or event.topic.rsplit(".", 1)[1])
        metrics.APPLICATION_DECISION_SECONDS.labels(outcome).observe(elapsed.total_seconds())

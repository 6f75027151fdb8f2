"""Case jobs: mass resolutions and the SLA sweep.

A mass resolution is asked for in a mutation's transaction
(:func:`domain.cases.bulk.request_bulk_resolution`), which commits a
``cases.bulk_resolution_requested`` event with it. The consumer below turns that event into
a ``cases.resolve_bulk`` job, which resolves the cases batch by batch, each batch its own
transaction, each with a ``cases.bulk_progress`` event (what subscriptions stream). A job
that dies part-way resumes where its last committed batch ended — from a retry, a repeated
message, or the ``cases.resume_bulk`` sweep that picks up jobs with no progress for a while —
and a finished job is never done again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from app.db import read_session, transaction
from domain.cases import bulk, sla
from domain.shared.event_schemas import parse_global_id
from domain.shared.outbox import Event
from domain.shared.time import utcnow
from workers.registry import PermanentError, RetryPolicy, consumer, job

log = logging.getLogger("trama.workers.cases")

#: Cases per transaction of a mass resolution.
BULK_BATCH_SIZE = 500
#: A job with no progress for this long is taken up again by the sweep.
BULK_IDLE = timedelta(minutes=5)


async def run_bulk_resolution(
    bulk_id: uuid.UUID, *, batch_size: int = BULK_BATCH_SIZE
) -> bulk.BulkProgress:
    """Process a mass resolution to the end, one transaction per batch."""
    while True:
        async with transaction() as session:
            progress = await bulk.process_bulk_batch(
                session, bulk_id=bulk_id, batch_size=batch_size
            )
        if progress.finished:
            return progress


@job(
    "cases.resolve_bulk",
    retry=RetryPolicy(max_retries=10, min_backoff_ms=1_000, time_limit_ms=60 * 60_000),
)
async def resolve_bulk(*, bulk_id: str, batch_size: int = BULK_BATCH_SIZE) -> dict[str, Any]:
    progress = await run_bulk_resolution(uuid.UUID(bulk_id), batch_size=batch_size)
    return progress.to_json()


def _send_resolve(bulk_id: str) -> None:
    from workers.backbone import current_backbone

    backbone = current_backbone()
    if backbone is None or backbone.broker is None:
        raise RuntimeError("no broker in this process to send cases.resolve_bulk to")
    backbone.broker.send_job("cases.resolve_bulk", {"bulk_id": bulk_id})


@consumer("cases.start_bulk", bulk.REQUESTED_TOPIC)
async def start_bulk(session: Any, event: Event) -> None:
    """A mass resolution was asked for: start its job. (Sending it twice is harmless: a
    batch locks the job, and a finished job does nothing.)"""
    bulk_id = parse_global_id(event.payload.get("bulkId"), "BulkResolution")
    if bulk_id is None:
        raise PermanentError(f"event {event.id} names no mass resolution")
    await asyncio.to_thread(_send_resolve, str(bulk_id))


@job("cases.resume_bulk", every=timedelta(minutes=1))
async def resume_bulk() -> int:
    """Send again the jobs of mass resolutions that made no progress for a while."""
    async with read_session() as session:
        stalled = await bulk.stalled_bulks(session, idle_since=utcnow() - BULK_IDLE)
    for bulk_id in stalled:
        log.warning("mass resolution %s made no progress for %s; resuming it", bulk_id, BULK_IDLE)
        await asyncio.to_thread(_send_resolve, str(bulk_id))
    return len(stalled)


@job("cases.evaluate_sla", every=timedelta(minutes=5), retry=RetryPolicy(max_retries=3))
async def evaluate_sla() -> dict[str, int]:
    """Flag cases at risk and breached (escalating the breached ones)."""
    async with transaction() as session:
        sweep = await sla.evaluate_sla(session, now=utcnow())
    if sweep.at_risk or sweep.breached:
        log.info("SLA sweep: %d at risk, %d breached", len(sweep.at_risk), len(sweep.breached))
    return {"at_risk": len(sweep.at_risk), "breached": len(sweep.breached)}

"""Marketplace jobs.

- ``marketplace.release_lapsed_holds``: every minute, vehicles whose hold for a credit
  application ended are made AVAILABLE again (``vehicles.released`` with ``lapsed``), in
  batches, each its own transaction; the rows are locked with SKIP LOCKED so several
  workers share the work, and a vehicle released already is not touched again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from app.db import transaction
from domain.marketplace import service
from workers.registry import RetryPolicy, job

log = logging.getLogger("trama.workers.marketplace")

BATCH = 500


@job(
    "marketplace.release_lapsed_holds",
    every=timedelta(minutes=1),
    retry=RetryPolicy(max_retries=3, time_limit_ms=10 * 60_000),
)
async def release_lapsed_holds(*, batch: int = BATCH) -> dict[str, Any]:
    released = 0
    while True:
        async with transaction() as session:
            count = await service.release_lapsed_holds(session, limit=batch)
        released += count
        if count < batch:
            break
    if released:
        log.info("marketplace: %d lapsed vehicle holds released", released)
    return {"released": released}

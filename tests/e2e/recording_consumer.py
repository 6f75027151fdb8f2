"""A consumer for the backbone fault tests, loaded into servers and workers with
``TRAMA_WORKER_MODULES=tests.e2e.recording_consumer`` (never imported by the test process:
its registry would then create deliveries nobody handles).

Each delivery adds 1 to its event's row in ``test_deliveries`` (a scratch table the test
creates), in the delivery's own transaction: an event delivered twice would show ``n = 2``.
``RECORDING_CONSUMER_DELAY`` (seconds, default 0.05) keeps events in flight long enough for
a process to be killed among them.
"""

from __future__ import annotations

import asyncio
import os

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.shared.outbox import Event
from workers.registry import RetryPolicy, consumer

DELAY = float(os.environ.get("RECORDING_CONSUMER_DELAY", "0.05"))

_RECORD = sa.text(
    "INSERT INTO test_deliveries (event_id, n) VALUES (:event_id, 1) "
    "ON CONFLICT (event_id) DO UPDATE SET n = test_deliveries.n + 1"
)


@consumer(
    "tests.record",
    "customers.*",
    retry=RetryPolicy(max_retries=20, min_backoff_ms=100, max_backoff_ms=1_000),
)
async def record(session: AsyncSession, event: Event) -> None:
    await asyncio.sleep(DELAY)
    await session.execute(_RECORD, {"event_id": str(event.id)})

"""Event-log housekeeping: retention purge, stale delivery sweep, old scheduler ticks."""

from __future__ import annotations

import logging
from datetime import timedelta

from app.db import transaction
from app.settings import get_settings
from domain.shared import jobs, outbox
from workers.registry import job

log = logging.getLogger("trama.workers.events")


@job("events.purge", every=timedelta(hours=1))
async def purge() -> int:
    """Drop relayed events past the retention (TRAMA_EVENT_RETENTION_DAYS) whose deliveries
    are settled, and scheduler ticks older than a day."""
    retention = timedelta(days=get_settings().event_retention_days)
    async with transaction() as session:
        removed = await outbox.purge(session, older_than=retention)
        await jobs.forget_ticks(session, older_than=timedelta(days=1))
        await jobs.forget_messages(session, older_than=timedelta(days=7))
    if removed:
        log.info("purged %d events older than %s", removed, retention)
    return removed


@job("events.sweep", every=timedelta(seconds=get_settings().sweep_interval))
async def sweep() -> int:
    """Send again the deliveries whose message was lost (one process per tick does it)."""
    from workers.backbone import current_backbone

    backbone = current_backbone()
    if backbone is None or backbone.relay is None:
        return 0
    await backbone.relay.drain()
    return await backbone.relay.redeliver()

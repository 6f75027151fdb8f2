"""The webhook inbox's workers (DESIGN §6; ``domain/webhooks/service.py``).

``webhooks.dispatch`` (consumer of ``webhooks.received``)
    Sends ``webhooks.process`` for the stored delivery. It only hands the delivery on, so
    the processing gets its own transactions (a failed attempt is written on the delivery
    after its work is rolled back).
``webhooks.process`` (job, ``delivery_id``)
    Runs the source's processor over the stored delivery in one transaction. On failure the
    work is rolled back, the delivery is marked ``failed`` with the error and its attempts
    (its own transaction) and Dramatiq retries with backoff; after the last retry (or at
    once for a delivery the processor rejects) it lands in ``failed_jobs`` where admins see
    it and retry it (``retryFailedJob``). A delivery already processed is left alone, so a
    message delivered twice does nothing twice.
``webhooks.sweep`` (every 5 minutes)
    Sends ``webhooks.process`` again for deliveries still ``received`` after 10 minutes
    (a message lost on its way); processing is idempotent.

The processors are registered here from the settings (:func:`register_processors`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from app.db import read_session, transaction
from app.settings import get_settings
from domain.crm import calcom
from domain.shared.models import table_of
from domain.shared.outbox import Event
from domain.shared.time import utcnow
from domain.webhooks import service
from domain.webhooks.errors import DeliveryRejected
from domain.webhooks.models import WebhookDelivery, WebhookStatus
from workers.registry import PermanentError, RetryPolicy, consumer, job

log = logging.getLogger("trama.workers.webhooks")


def register_processors() -> None:
    """The processors of every source, configured from the settings."""
    settings = get_settings()
    secret = settings.calcom_webhook_secret
    calcom.register(
        calcom.CalcomConfig(
            secret=secret.get_secret_value() if secret is not None else None,
            lenders={
                k.strip().lower() if "@" in k else k.strip(): v
                for k, v in settings.calcom_lenders.items()
            },
            default_lender=settings.calcom_default_lender,
        )
    )


register_processors()

PROCESS_JOB = "webhooks.process"
#: A delivery still ``received`` this long after it came in is sent again by the sweep.
STUCK_AFTER = timedelta(minutes=10)


def _send_process(delivery_id: str) -> None:
    from workers.backbone import current_backbone

    backbone = current_backbone()
    if backbone is None or backbone.broker is None:
        raise RuntimeError(f"no broker in this process to send {PROCESS_JOB} to")
    backbone.broker.send_job(PROCESS_JOB, {"delivery_id": delivery_id})


@consumer("webhooks.dispatch", "webhooks.received")
async def dispatch(session: Any, event: Event) -> None:
    delivery_id = str(event.payload.get("deliveryId") or "")
    try:
        uuid.UUID(delivery_id)
    except ValueError:
        raise PermanentError(f"event {event.id} names no webhook delivery") from None
    await asyncio.to_thread(_send_process, delivery_id)


@job(
    PROCESS_JOB,
    retry=RetryPolicy(
        max_retries=8,
        min_backoff_ms=2_000,
        max_backoff_ms=10 * 60_000,
        time_limit_ms=2 * 60_000,
    ),
)
async def process(*, delivery_id: str) -> dict[str, Any] | None:
    key = uuid.UUID(delivery_id)
    try:
        async with transaction() as session:
            outcome = await service.process_delivery(session, delivery_id=key)
    except Exception as exc:
        async with transaction() as session:
            await service.note_failure(session, delivery_id=key, error=exc)
        log.warning("webhook delivery %s failed: %s", delivery_id, exc)
        if isinstance(exc, DeliveryRejected):
            raise PermanentError(str(exc)) from exc
        raise
    if not outcome.ran:
        return None
    return {"delivery": delivery_id, "status": outcome.status.value, "outcome": outcome.outcome}


@job("webhooks.sweep", every=timedelta(minutes=5), retry=RetryPolicy(max_retries=0))
async def sweep(*, limit: int = 500) -> int:
    table = table_of(WebhookDelivery)
    async with read_session() as session:
        ids = (
            (
                await session.execute(
                    sa.select(table.c.id)
                    .where(
                        table.c.status == WebhookStatus.RECEIVED.value,
                        table.c.received_at < utcnow() - STUCK_AFTER,
                    )
                    .order_by(table.c.received_at)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
    for delivery_id in ids:
        await asyncio.to_thread(_send_process, str(delivery_id))
    return len(ids)

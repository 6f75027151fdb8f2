"""The webhook inbox (DESIGN §6): store the raw delivery, process it later, once.

The HTTP edge (``app/webhooks.py``) verifies the sender's signature on the raw body, then
calls :func:`record_delivery` in a short transaction and answers 2xx at once. A new delivery
writes ``webhooks.received`` to the outbox in the same transaction; the worker
``webhooks.process`` (``workers/actors/webhooks.py``) then calls :func:`process_delivery`,
which hands the stored delivery to the processor registered for its source
(:func:`register_processor`).

Deduplication: ``(source, dedup_key)`` is unique, so a delivery sent twice (a replay, a
sender's retry, two concurrent requests) is stored and processed once; the second answer
says ``duplicate``. Order: a processor must never let a late or replayed event move a
record backwards; it compares the event's own times with what the record already holds
(see ``domain/crm/calcom.py``).

Processors are async ``fn(session, delivery) -> WebhookStatus | str | None`` run in the
worker's transaction: ``None`` or a string (an outcome note) marks the delivery processed,
``WebhookStatus.IGNORED`` or ``Ignored("why")`` stored-and-acknowledged. Raising
:class:`DeliveryRejected` fails it for good; any other exception rolls the work back and the
worker retries with backoff.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.shared import audit, outbox
from domain.shared.errors import Forbidden, NotFound, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import SYSTEM, Principal
from domain.shared.sql import for_update, insert_ignoring_conflicts
from domain.shared.time import utcnow
from domain.webhooks import events
from domain.webhooks.errors import DeliveryRejected
from domain.webhooks.models import (
    MAX_DEDUP_KEY_LENGTH,
    MAX_SOURCE_LENGTH,
    WebhookDelivery,
    WebhookStatus,
)


class Ignored(str):
    """A processor's answer: stored and acknowledged, nothing to do, and why."""

    __slots__ = ()


ProcessorResult = WebhookStatus | str | None
ProcessorFn = Callable[[AsyncSession, WebhookDelivery], Awaitable[ProcessorResult]]

_PROCESSORS: dict[str, ProcessorFn] = {}
_CURSOR_TAG = "webhook_deliveries.v1"


def register_processor(source: str, fn: ProcessorFn) -> ProcessorFn:
    """Declare what processes ``source``'s deliveries (one processor per source; the
    same function registered again is fine, a different one is a mistake)."""
    _check_source(source)
    current = _PROCESSORS.get(source)
    if current is not None and current is not fn:
        raise ValueError(f"webhook source {source!r} has a processor already")
    _PROCESSORS[source] = fn
    return fn


def unregister_processor(source: str) -> None:
    """Tests only: forget a source's processor."""
    _PROCESSORS.pop(source, None)


def processor_for(source: str) -> ProcessorFn | None:
    return _PROCESSORS.get(source)


def _check_source(source: str) -> None:
    if (
        not source
        or len(source) > MAX_SOURCE_LENGTH
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in source)
        or source.lower() != source
    ):
        raise ValueError(f"bad webhook source name {source!r}")


def body_digest(body: bytes) -> str:
    """The body's SHA-256, hex: part of the key of senders that give no event id."""
    return hashlib.sha256(body).hexdigest()


async def record_delivery(
    session: AsyncSession,
    *,
    source: str,
    dedup_key: str,
    body: bytes,
    headers: Mapping[str, str],
) -> tuple[WebhookDelivery, bool]:
    """Store a verified delivery unless ``(source, dedup_key)`` is stored already.

    Returns the stored delivery and whether it is new. A new one writes
    ``webhooks.received`` (and an audit record) in the caller's transaction; a duplicate
    writes nothing."""
    _check_source(source)
    if not dedup_key or len(dedup_key) > MAX_DEDUP_KEY_LENGTH:
        raise ValidationFailed.on("dedupKey", f"must be 1 to {MAX_DEDUP_KEY_LENGTH} characters")
    table = table_of(WebhookDelivery)
    delivery_id = uuid7()
    row = {
        "id": delivery_id,
        "source": source,
        "dedup_key": dedup_key,
        "body": bytes(body),
        "headers": {str(k).lower(): str(v) for k, v in headers.items()},
        "received_at": utcnow(),
        "status": WebhookStatus.RECEIVED.value,
        "attempts": 0,
        "last_error": None,
        "processed_at": None,
        "outcome": None,
    }
    inserted = await insert_ignoring_conflicts(
        session, table, [row], index_elements=["source", "dedup_key"]
    )
    if not inserted:
        existing = (
            await session.execute(
                sa.select(WebhookDelivery).where(
                    WebhookDelivery.source == source,  # type: ignore[arg-type]
                    WebhookDelivery.dedup_key == dedup_key,  # type: ignore[arg-type]
                )
            )
        ).scalar_one()
        return existing, False
    delivery = await session.get(WebhookDelivery, delivery_id)
    assert delivery is not None
    outbox.add(
        session,
        events.RECEIVED,
        {"deliveryId": str(delivery_id), "source": source},
        key=str(delivery_id),
    )
    audit.record(
        session,
        principal=SYSTEM,
        action="webhook.received",
        entity_type="WebhookDelivery",
        entity_id=delivery_id,
        after={
            "source": source,
            "dedupKey": dedup_key,
            "bytes": len(body),
            "sha256": body_digest(body),
        },
    )
    return delivery, True


@dataclass(frozen=True)
class ProcessOutcome:
    delivery_id: uuid.UUID
    status: WebhookStatus
    outcome: str | None
    #: False when the delivery was already processed or ignored (nothing done again).
    ran: bool


async def process_delivery(session: AsyncSession, *, delivery_id: uuid.UUID) -> ProcessOutcome:
    """Run the source's processor over a stored delivery, in the caller's transaction.

    A delivery already processed or ignored is left alone (a redelivered message does
    nothing twice). A source without a processor marks it ignored. Exceptions propagate
    (the caller's transaction rolls back; see :func:`note_failure`)."""
    query = for_update(sa.select(WebhookDelivery).where(WebhookDelivery.id == delivery_id), session)  # type: ignore[arg-type]
    delivery = (await session.execute(query)).scalar_one_or_none()
    if delivery is None:
        raise NotFound("WebhookDelivery", delivery_id)
    status = WebhookStatus(delivery.status)
    if status in (WebhookStatus.PROCESSED, WebhookStatus.IGNORED):
        return ProcessOutcome(delivery.id, status, delivery.outcome, ran=False)
    processor = _PROCESSORS.get(delivery.source)
    before = {"status": delivery.status, "attempts": delivery.attempts}
    if processor is None:
        result: ProcessorResult = WebhookStatus.IGNORED
        note: str | None = "no processor for this source"
    else:
        result = await processor(session, delivery)
        note = result if isinstance(result, str) and not isinstance(result, WebhookStatus) else None
    ignored = result is WebhookStatus.IGNORED or isinstance(result, Ignored)
    final = WebhookStatus.IGNORED if ignored else WebhookStatus.PROCESSED
    if final is WebhookStatus.IGNORED and note is None:
        note = "nothing to do"
    delivery.status = final.value
    delivery.attempts += 1
    delivery.processed_at = utcnow()
    delivery.last_error = None
    delivery.outcome = (note or None) and note[:200]
    session.add(delivery)
    await session.flush()
    audit.record(
        session,
        principal=SYSTEM,
        action=f"webhook.{final.value}",
        entity_type="WebhookDelivery",
        entity_id=delivery.id,
        before=before,
        after={"status": final.value, "attempts": delivery.attempts, "outcome": delivery.outcome},
    )
    return ProcessOutcome(delivery.id, final, delivery.outcome, ran=True)


async def note_failure(
    session: AsyncSession, *, delivery_id: uuid.UUID, error: BaseException | str
) -> None:
    """Record a failed attempt (its own transaction, after the attempt's rolled back):
    status ``failed``, attempts + 1, the error. A later retry that succeeds clears it."""
    table = table_of(WebhookDelivery)
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    await session.execute(
        table.update()
        .where(
            table.c.id == delivery_id,
            table.c.status.in_([WebhookStatus.RECEIVED.value, WebhookStatus.FAILED.value]),
        )
        .values(
            status=WebhookStatus.FAILED.value,
            attempts=table.c.attempts + 1,
            last_error=text[:2000],
        )
    )


async def retry_delivery(
    session: AsyncSession, *, principal: Principal, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Process a failed delivery again (an admin's decision): back to ``received`` and a new
    ``webhooks.received`` event. Audited."""
    if not principal.is_admin:
        raise Forbidden("only an admin may retry webhook deliveries")
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound("WebhookDelivery", delivery_id)
    if delivery.status != WebhookStatus.FAILED.value:
        raise ValidationFailed.on("deliveryId", f"the delivery is {delivery.status}, not failed")
    delivery.status = WebhookStatus.RECEIVED.value
    session.add(delivery)
    outbox.add(
        session,
        events.RECEIVED,
        {"deliveryId": str(delivery.id), "source": delivery.source},
        key=str(delivery.id),
    )
    audit.record(
        session,
        principal=principal,
        action="webhook.retried",
        entity_type="WebhookDelivery",
        entity_id=delivery.id,
        before={"status": WebhookStatus.FAILED.value},
        after={"status": WebhookStatus.RECEIVED.value},
    )
    await session.flush()
    return delivery


async def list_deliveries(
    session: AsyncSession,
    *,
    source: str | None = None,
    statuses: Sequence[WebhookStatus] | None = None,
    first: int = 50,
    after: str | None = None,
) -> Page[WebhookDelivery]:
    """Newest first, keyset on (received_at, id)."""
    table = table_of(WebhookDelivery)
    query = sa.select(WebhookDelivery)
    if source is not None:
        query = query.where(table.c.source == source)
    if statuses:
        query = query.where(table.c.status.in_([s.value for s in statuses]))
    if after:
        at_text, id_text = decode_cursor(after, _CURSOR_TAG, 2)
        try:
            at = datetime.fromisoformat(str(at_text))
            last_id = uuid.UUID(str(id_text))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        query = query.where(
            sa.or_(
                table.c.received_at < at,
                sa.and_(table.c.received_at == at, table.c.id < last_id),
            )
        )
    rows = list(
        (
            await session.execute(
                query.order_by(table.c.received_at.desc(), table.c.id.desc()).limit(first + 1)
            )
        )
        .scalars()
        .all()
    )
    more = len(rows) > first
    rows = rows[:first]
    cursors = [encode_cursor(_CURSOR_TAG, r.received_at.isoformat(), str(r.id)) for r in rows]
    return Page(items=rows, cursors=cursors, has_next=more, has_previous=after is not None)


def parse_json_body(delivery: WebhookDelivery) -> Any:
    """The stored body as JSON, or :class:`DeliveryRejected` (retrying cannot help)."""
    try:
        return json.loads(delivery.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeliveryRejected(f"the body is not JSON: {exc}") from exc


__all__ = [
    "Ignored",
    "ProcessOutcome",
    "ProcessorFn",
    "body_digest",
    "list_deliveries",
    "note_failure",
    "parse_json_body",
    "process_delivery",
    "record_delivery",
    "register_processor",
    "retry_delivery",
]

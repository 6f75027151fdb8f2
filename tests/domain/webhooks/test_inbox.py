"""The webhook inbox: a delivery stored once per sender's key, processed once by its
source's processor, failures recorded on the delivery and retried, nothing moved twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.shared.audit import AuditRecord
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import SYSTEM, Principal, Role
from domain.webhooks import service
from domain.webhooks.errors import DeliveryRejected
from domain.webhooks.models import WebhookDelivery, WebhookStatus
from workers.actors import webhooks as actors
from workers.registry import REGISTRY, PermanentError, load_modules

SOURCE = "tests-inbox"


class Processor:
    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.fail_with: BaseException | None = None
        self.result: Any = None

    async def __call__(self, session: Any, delivery: WebhookDelivery) -> Any:
        if self.fail_with is not None:
            raise self.fail_with
        self.seen.append(delivery.body)
        return self.result


@pytest.fixture
def processor() -> Iterator[Processor]:
    fn = Processor()
    service.register_processor(SOURCE, fn)
    yield fn
    service.unregister_processor(SOURCE)


async def _record(key: str, body: bytes = b'{"a": 1}') -> tuple[WebhookDelivery, bool]:
    async with transaction() as session:
        return await service.record_delivery(
            session, source=SOURCE, dedup_key=key, body=body, headers={"X-Sig": "abc"}
        )


async def _events(delivery_id: uuid.UUID) -> list[dict[str, Any]]:
    async with read_session() as session:
        rows = (
            await session.execute(
                sa.select(OutboxEvent.payload).where(OutboxEvent.topic == "webhooks.received")
            )
        ).scalars()
        return [p for p in rows if p["deliveryId"] == str(delivery_id)]


def test_the_workers_are_loaded() -> None:
    load_modules()
    assert "webhooks.dispatch" in REGISTRY.consumers_for("webhooks.received")
    assert {"webhooks.process", "webhooks.sweep"} <= set(REGISTRY.jobs)


async def test_a_delivery_is_stored_raw_once_per_key(db: Any) -> None:
    body = b'{"triggerEvent": "X",  "raw": "kept byte for byte"}\n'
    first, new = await _record("k-1", body)
    again, new_again = await _record("k-1", b"{}")
    assert new and not new_again
    assert again.id == first.id
    assert again.body == body  # the first body stays; the replay wrote nothing
    assert first.headers == {"x-sig": "abc"}
    assert first.status == WebhookStatus.RECEIVED.value
    assert await _events(first.id) == [{"deliveryId": str(first.id), "source": SOURCE}]
    other, other_new = await _record("k-2", body)
    assert other_new and other.id != first.id
    async with read_session() as session:
        audited = (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(AuditRecord)
                .where(AuditRecord.entity_id == str(first.id))
            )
        ).scalar_one()
    assert audited == 1


async def test_bad_keys_and_sources_are_refused(db: Any) -> None:
    async with transaction() as session:
        with pytest.raises(ValidationFailed):
            await service.record_delivery(
                session, source=SOURCE, dedup_key="", body=b"{}", headers={}
            )
        with pytest.raises(ValidationFailed):
            await service.record_delivery(
                session, source=SOURCE, dedup_key="x" * 301, body=b"{}", headers={}
            )
        with pytest.raises(ValueError):
            await service.record_delivery(
                session, source="Bad Source", dedup_key="k", body=b"{}", headers={}
            )
    async with read_session() as session:
        count = (
            await session.execute(sa.select(sa.func.count()).select_from(WebhookDelivery))
        ).scalar_one()
    assert count == 0


async def test_processed_once_even_when_the_message_comes_twice(
    db: Any, processor: Processor
) -> None:
    delivery, _ = await _record("k-once")
    processor.result = "did it"
    first = await actors.process(delivery_id=str(delivery.id))
    second = await actors.process(delivery_id=str(delivery.id))
    assert first == {"delivery": str(delivery.id), "status": "processed", "outcome": "did it"}
    assert second is None
    assert len(processor.seen) == 1
    async with read_session() as session:
        stored = await session.get(WebhookDelivery, delivery.id)
    assert stored is not None
    assert stored.status == "processed" and stored.attempts == 1
    assert stored.processed_at is not None and stored.outcome == "did it"


async def test_ignored_and_unprocessed_sources(db: Any, processor: Processor) -> None:
    processor.result = WebhookStatus.IGNORED
    delivery, _ = await _record("k-ignored")
    assert (await actors.process(delivery_id=str(delivery.id)) or {})["status"] == "ignored"
    async with transaction() as session:
        orphan, _ = await service.record_delivery(
            session, source="tests-nobody", dedup_key="k", body=b"{}", headers={}
        )
    outcome = await actors.process(delivery_id=str(orphan.id))
    assert outcome is not None and outcome["status"] == "ignored"


async def test_a_failure_is_rolled_back_recorded_and_retried(db: Any, processor: Processor) -> None:
    delivery, _ = await _record("k-fail")

    async def writes_then_fails(session: Any, d: WebhookDelivery) -> None:
        d.outcome = "half done"  # work of the failed attempt: must not stay
        session.add(d)
        await session.flush()
        raise RuntimeError("the CRM is down")

    service.unregister_processor(SOURCE)
    service.register_processor(SOURCE, writes_then_fails)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="the CRM is down"):
            await actors.process(delivery_id=str(delivery.id))
    async with read_session() as session:
        failed = await session.get(WebhookDelivery, delivery.id)
    assert failed is not None
    assert failed.status == "failed" and failed.attempts == 2
    assert failed.last_error == "RuntimeError: the CRM is down"
    assert failed.outcome is None
    service.unregister_processor(SOURCE)
    service.register_processor(SOURCE, processor)
    done = await actors.process(delivery_id=str(delivery.id))  # Dramatiq's next retry
    assert done is not None and done["status"] == "processed"
    async with read_session() as session:
        ok = await session.get(WebhookDelivery, delivery.id)
    assert ok is not None and ok.status == "processed" and ok.attempts == 3
    assert ok.last_error is None


async def test_a_rejected_delivery_fails_for_good(db: Any, processor: Processor) -> None:
    delivery, _ = await _record("k-rejected", b"not json")
    processor.fail_with = DeliveryRejected("the body is not JSON")
    with pytest.raises(PermanentError):
        await actors.process(delivery_id=str(delivery.id))
    async with read_session() as session:
        stored = await session.get(WebhookDelivery, delivery.id)
    assert stored is not None and stored.status == "failed"


async def test_an_admin_retries_a_failed_delivery(db: Any, processor: Processor) -> None:
    delivery, _ = await _record("k-retry")
    processor.fail_with = RuntimeError("down")
    with pytest.raises(RuntimeError):
        await actors.process(delivery_id=str(delivery.id))
    async with transaction() as session:
        with pytest.raises(Forbidden):
            await service.retry_delivery(
                session,
                principal=Principal("agent-1", roles=frozenset({Role.AGENT})),
                delivery_id=delivery.id,
            )
    async with transaction() as session:
        again = await service.retry_delivery(session, principal=SYSTEM, delivery_id=delivery.id)
    assert again.status == "received"
    assert len(await _events(delivery.id)) == 2
    async with transaction() as session:
        with pytest.raises(ValidationFailed):  # only a failed one
            await service.retry_delivery(session, principal=SYSTEM, delivery_id=delivery.id)
    processor.fail_with = None
    assert (await actors.process(delivery_id=str(delivery.id)) or {})["status"] == "processed"


async def test_deliveries_are_listed_newest_first_by_keyset(db: Any) -> None:
    ids = [(await _record(f"k-list-{i}"))[0].id for i in range(5)]
    seen: list[uuid.UUID] = []
    after = None
    async with read_session() as session:
        while True:
            page = await service.list_deliveries(session, source=SOURCE, first=2, after=after)
            seen += [d.id for d in page.items]
            if not page.has_next:
                break
            after = page.cursors[-1]
        failed = await service.list_deliveries(session, statuses=[WebhookStatus.FAILED])
    assert seen == list(reversed(ids))
    assert failed.items == []

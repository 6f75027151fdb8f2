"""The partner event stream (subscriptions) and the dead-letter list (admin)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app import metrics
from app.db import read_session
from domain.customers import service as customers
from domain.shared import jobs, outbox
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.pagination import clamp_page_size
from resolvers.context import principal_of
from resolvers.errors import mutate
from resolvers.ids import decode_node_id, encode_node_id, require_node_id
from resolvers.pagination import to_connection
from schema.customers import Customer
from schema.events import (
    DiscardFailedJobPayload,
    DiscardFailedJobSuccess,
    Event,
    FailedJob,
    FailedJobConnection,
    FailedJobStatus,
    RetryFailedJobPayload,
    RetryFailedJobSuccess,
)

log = logging.getLogger("trama.subscriptions")

#: WebSocket close code for a subscriber that did not keep up (it may resume by cursor).
SLOW_CONSUMER_CLOSE = 4008
_REPLAY_BATCH = 500


class Unavailable(GraphQLError):
    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "UNAVAILABLE"})


def _event(event: outbox.Event) -> Event:
    return Event(
        cursor=str(event.position),
        position=event.position,  # type: ignore[arg-type]
        topic=event.topic,
        key=event.key,
        occurred_at=event.created_at,
        payload=event.payload,  # type: ignore[arg-type]
    )


def _parse_after(after: str | None) -> int | None:
    if after is None:
        return None
    text = after.strip()
    if not text.isdigit() or len(text) > 19:
        raise ValidationFailed.on("after", "is not an event cursor (use an event's `cursor`)")
    return int(text)


def _hub(info: Info) -> Any:
    backbone = info.context.backbone
    if backbone is None or backbone.hub is None:
        raise Unavailable("event subscriptions are not available in this process")
    return backbone.hub


async def _close(info: Info, code: int, reason: str) -> None:
    websocket = info.context.request
    close = getattr(websocket, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close(code=code, reason=reason[:120])


async def _stream(
    info: Info,
    *,
    scope: outbox.EventScope,
    topics: tuple[str, ...] | None,
    after: int | None,
    key: str | None = None,
) -> AsyncGenerator[outbox.Event, None]:
    """Replay from the log after ``after``, then continue live: no gap, no duplicate.

    The live subscription starts *before* the replay reads the log, so an event relayed
    during the replay is either in the replay or in the live buffer; positions already
    yielded are skipped.
    """
    hub = _hub(info)
    subscriber = hub.subscribe(scope, topics, key=key)
    metrics.ACTIVE_SUBSCRIPTIONS.inc()
    last = hub.last_position if after is None else after
    try:
        if after is not None:
            async with read_session() as session:
                oldest = await outbox.oldest_retained_position(session)
            if oldest is not None and after < oldest - 1:
                raise ValidationFailed.on(
                    "after",
                    f"events before position {oldest} are no longer kept; "
                    "resume from a newer cursor",
                )
            while True:
                async with read_session() as session:
                    batch = await outbox.read_log(
                        session, scope=scope, after=last, topics=topics, limit=_REPLAY_BATCH
                    )
                for event in batch:
                    if key is None or event.key == key:
                        yield event
                    last = event.position
                if len(batch) < _REPLAY_BATCH:
                    break
        from workers.fanout import SlowConsumer

        while True:
            try:
                event = await subscriber.next()
            except SlowConsumer:
                await _close(
                    info,
                    SLOW_CONSUMER_CLOSE,
                    f"slow consumer: resume with after={last}",
                )
                return
            if event.position <= last:
                continue
            last = event.position
            yield event
    finally:
        hub.unsubscribe(subscriber)
        metrics.ACTIVE_SUBSCRIPTIONS.dec()


async def events(
    info: Info,
    topics: list[str] | None = None,
    after: str | None = None,
) -> AsyncGenerator[Event, None]:
    principal = principal_of(info)
    scope = outbox.scope_for(principal)
    wanted = outbox.validate_topics(topics)
    position = _parse_after(after)
    async for event in _stream(info, scope=scope, topics=wanted, after=position):
        yield _event(event)


async def customer_changed(info: Info, id: strawberry.ID) -> AsyncGenerator[Customer, None]:
    """The customer's current state each time it changes."""
    principal = principal_of(info)
    customers.ensure_can_read(principal)
    key = decode_node_id(id, "Customer")
    if key is None:
        raise ValidationFailed.on("id", "is not the id of a Customer")
    async with read_session() as session:
        await customers.read_customer(session, principal=principal, customer_id=key)
    # Any reader of the customer may follow it: the events carry no data, the state comes
    # from the same read path (and masking) as the `customer` query. Changes that land
    # together are sent once, as the state after the last of them.
    last_version = 0
    async for _ in _stream(
        info,
        scope=outbox.EventScope(None),
        topics=("customers.*",),
        after=None,
        key=encode_node_id("Customer", key),
    ):
        async with read_session() as session:
            try:
                view = await customers.read_customer(session, principal=principal, customer_id=key)
            except NotFound:
                return
        if view.version <= last_version:
            continue
        last_version = view.version
        yield Customer.from_view(view)


# --- failed jobs ----------------------------------------------------------------------------
def _failed_job(job: jobs.FailedJob) -> FailedJob:
    return FailedJob(
        id=strawberry.ID(str(job.id)),
        actor=job.actor,
        queue=job.queue,
        message_id=job.message_id,
        arguments={"args": job.job_args, "kwargs": job.job_kwargs},  # type: ignore[arg-type]
        error_type=job.error_type,
        error=job.error,
        attempts=job.attempts,
        failed_at=job.failed_at,
        status=FailedJobStatus(job.status),
        resolved_at=job.resolved_at,
        resolved_by=job.resolved_by,
    )


async def failed_jobs(
    info: Info,
    status: FailedJobStatus | None = FailedJobStatus.FAILED,
    actor: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> FailedJobConnection:
    principal = principal_of(info)
    jobs.ensure_admin(principal)
    settings = info.context.settings
    size = clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )
    async with read_session() as session:
        page = await jobs.list_failed(
            session,
            principal=principal,
            status=jobs.FailedJobStatus(status.value) if status is not None else None,
            actor=actor,
            first=size,
            after=after,
        )
    return to_connection(page, _failed_job)


def _job_id(value: strawberry.ID) -> Any:
    key = decode_node_id(value, "FailedJob")
    return key if key is not None else require_node_id(value, "FailedJob", "id")


async def retry_failed_job(info: Info, id: strawberry.ID) -> RetryFailedJobPayload:
    principal = principal_of(info)
    backbone = info.context.backbone

    async def work(session: Any) -> RetryFailedJobSuccess:
        jobs.ensure_admin(principal)
        job = await jobs.retry(session, principal=principal, job_id=_job_id(id))
        if backbone is None or backbone.broker is None:
            raise Unavailable("the job broker is not running in this process")
        args, kwargs = jobs.job_arguments(job)
        # Sent before the commit: if the commit fails, the job runs once more than
        # recorded (jobs are idempotent), never zero times.
        await asyncio.to_thread(backbone.broker.resend, job.actor, args, kwargs)
        return RetryFailedJobSuccess(job=_failed_job(job))

    return await mutate(RetryFailedJobPayload, work)


async def discard_failed_job(info: Info, id: strawberry.ID) -> DiscardFailedJobPayload:
    principal = principal_of(info)

    async def work(session: Any) -> DiscardFailedJobSuccess:
        job = await jobs.discard(session, principal=principal, job_id=_job_id(id))
        return DiscardFailedJobSuccess(job=_failed_job(job))

    return await mutate(DiscardFailedJobPayload, work)

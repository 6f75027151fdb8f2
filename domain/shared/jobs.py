"""Background jobs' records: the dead-letter list and the scheduler's ticks.

A job that exhausts its retries (or raises a non-retryable error) lands in ``failed_jobs``
with its arguments and error, where admins see it (``failedJobs``) and retry or discard it;
both are audited. ``scheduled_runs`` holds one row per periodic job and tick: the process
that inserts it fires the tick, so several schedulers never fire the same tick twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from domain.shared import audit, outbox
from domain.shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.sql import insert_ignoring_conflicts
from domain.shared.time import utcnow
from domain.shared.types import JSONType, UTCDateTime, UUIDType

_CURSOR_TAG = "failed_jobs.v1"


class FailedJobStatus(StrEnum):
    FAILED = "FAILED"
    RETRIED = "RETRIED"
    DISCARDED = "DISCARDED"


class FailedJob(SQLModel, table=True):
    __tablename__ = "failed_jobs"
    __table_args__ = (sa.Index("ix_failed_jobs_status_failed_at", "status", "failed_at"),)

    id: uuid.UUID = Field(default_factory=uuid7, sa_type=UUIDType, primary_key=True)
    actor: str = Field(max_length=100, index=True)
    queue: str = Field(max_length=100)
    message_id: str = Field(max_length=100, unique=True)
    job_args: list[Any] = Field(default_factory=list, sa_type=JSONType)
    job_kwargs: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    error_type: str = Field(max_length=200)
    error: str = Field(max_length=4000)
    attempts: int = 0
    failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: str = Field(default=FailedJobStatus.FAILED.value, max_length=16)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: str | None = Field(default=None, max_length=200)


class JobInbox(SQLModel, table=True):
    """Messages a transactional job has handled: a message delivered twice (a worker that
    died before acknowledging it) finds its row and does nothing."""

    __tablename__ = "job_inbox"

    message_id: str = Field(max_length=100, primary_key=True)
    actor: str = Field(max_length=100)
    done_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class ScheduledRun(SQLModel, table=True):
    __tablename__ = "scheduled_runs"

    job: str = Field(max_length=100, primary_key=True)
    tick: int = Field(sa_type=sa.BigInteger, primary_key=True)
    fired_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def ensure_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("only admins can see and handle failed jobs")


# --- writing (workers) ----------------------------------------------------------------------
async def record_failure(
    session: AsyncSession,
    *,
    actor: str,
    queue: str,
    message_id: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    error: BaseException,
    attempts: int,
) -> None:
    """Put a job in the dead-letter list (once per message id)."""
    await insert_ignoring_conflicts(
        session,
        table_of(FailedJob),
        [
            {
                "id": uuid7(),
                "actor": actor,
                "queue": queue,
                "message_id": message_id,
                "job_args": list(args),
                "job_kwargs": dict(kwargs),
                "error_type": type(error).__name__[:200],
                "error": (str(error) or type(error).__name__)[:4000],
                "attempts": attempts,
                "failed_at": utcnow(),
                "status": FailedJobStatus.FAILED.value,
            }
        ],
        index_elements=["message_id"],
    )


# --- admin ----------------------------------------------------------------------------------
async def list_failed(
    session: AsyncSession,
    *,
    principal: Principal,
    status: FailedJobStatus | None = FailedJobStatus.FAILED,
    actor: str | None = None,
    first: int = 20,
    after: str | None = None,
) -> Page[FailedJob]:
    ensure_admin(principal)
    query = sa.select(FailedJob)
    if status is not None:
        query = query.where(col(FailedJob.status) == status.value)
    if actor:
        query = query.where(col(FailedJob.actor) == actor)
    total = (
        await session.execute(sa.select(sa.func.count()).select_from(query.subquery()))
    ).scalar_one()
    if after:
        key = decode_cursor(after, _CURSOR_TAG, 1)
        try:
            last = uuid.UUID(str(key[0]))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        query = query.where(col(FailedJob.id) < last)
    rows = list(
        (await session.execute(query.order_by(col(FailedJob.id).desc()).limit(first + 1)))
        .scalars()
        .all()
    )
    has_next = len(rows) > first
    rows = rows[:first]
    return Page(
        items=rows,
        cursors=[encode_cursor(_CURSOR_TAG, str(r.id)) for r in rows],
        has_next=has_next,
        has_previous=after is not None,
        total=int(total),
    )


async def _open_failure(session: AsyncSession, job_id: uuid.UUID) -> FailedJob:
    job = await session.get(FailedJob, job_id, with_for_update=True)
    if job is None:
        raise NotFound("FailedJob", job_id)
    if job.status != FailedJobStatus.FAILED.value:
        raise Conflict(f"this job was already {job.status.lower()}")
    return job


async def _set_delivery(
    session: AsyncSession, job: FailedJob, status: outbox.DeliveryStatus
) -> None:
    """A dead-lettered event delivery follows its job: pending again, or discarded."""
    args = job.job_args or []
    if len(args) != 1:
        return
    try:
        event_id = uuid.UUID(str(args[0]))
    except ValueError:
        return
    await outbox.set_delivery_status(session, event_id=event_id, consumer=job.actor, status=status)


async def retry(session: AsyncSession, *, principal: Principal, job_id: uuid.UUID) -> FailedJob:
    """Mark a failed job retried (audited). The caller sends its message again after commit."""
    ensure_admin(principal)
    job = await _open_failure(session, job_id)
    job.status = FailedJobStatus.RETRIED.value
    job.resolved_at = utcnow()
    job.resolved_by = principal.subject
    await _set_delivery(session, job, outbox.DeliveryStatus.PENDING)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="jobs.retry",
        entity_type="FailedJob",
        entity_id=job.id,
        after={"actor": job.actor, "message_id": job.message_id},
    )
    return job


async def discard(session: AsyncSession, *, principal: Principal, job_id: uuid.UUID) -> FailedJob:
    ensure_admin(principal)
    job = await _open_failure(session, job_id)
    job.status = FailedJobStatus.DISCARDED.value
    job.resolved_at = utcnow()
    job.resolved_by = principal.subject
    await _set_delivery(session, job, outbox.DeliveryStatus.DISCARDED)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="jobs.discard",
        entity_type="FailedJob",
        entity_id=job.id,
        after={"actor": job.actor, "message_id": job.message_id},
    )
    return job


async def claim_message(session: AsyncSession, *, message_id: str, actor: str) -> bool:
    """True the first time a message is handled, in the caller's transaction (a rollback
    releases the claim with the work)."""
    inserted = await insert_ignoring_conflicts(
        session,
        table_of(JobInbox),
        [{"message_id": message_id, "actor": actor, "done_at": utcnow()}],
        index_elements=["message_id"],
    )
    return inserted == 1


async def forget_messages(session: AsyncSession, *, older_than: timedelta) -> int:
    table = table_of(JobInbox)
    result = await session.execute(table.delete().where(table.c.done_at < utcnow() - older_than))
    return int(getattr(result, "rowcount", 0) or 0)


# --- scheduler ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Tick:
    job: str
    tick: int


async def claim_tick(session: AsyncSession, *, job: str, tick: int) -> bool:
    """True for exactly one caller per (job, tick), whichever machine it runs on."""
    inserted = await insert_ignoring_conflicts(
        session,
        table_of(ScheduledRun),
        [{"job": job, "tick": tick, "fired_at": utcnow()}],
        index_elements=["job", "tick"],
    )
    return inserted == 1


async def forget_ticks(session: AsyncSession, *, older_than: timedelta) -> int:
    table = table_of(ScheduledRun)
    result = await session.execute(table.delete().where(table.c.fired_at < utcnow() - older_than))
    return int(getattr(result, "rowcount", 0) or 0)


def job_arguments(job: FailedJob) -> tuple[list[Any], dict[str, Any]]:
    return list(job.job_args or []), dict(job.job_kwargs or {})

"""The transactional outbox and the event log (DESIGN §7).

A service that changes state calls :func:`add` in the caller's transaction: the event is
committed with the change or not at all. The relay (``workers/relay.py``) later gives each
committed event a gap-free delivery ``position`` in one serialized step (:func:`relay_batch`)
and, in the same transaction, one :class:`EventDelivery` row per consumer subscribed to its
topic. A consumer's delivery row is its inbox: claiming it and doing the consumer's work
happen in one transaction (:func:`claim_delivery`), so a redelivered message does nothing
twice.

Events are kept ``retention`` days as the log partners replay from (:func:`read_log`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import Principal, Role
from domain.shared.sql import advisory_xact_lock, insert_ignoring_conflicts
from domain.shared.time import utcnow
from domain.shared.types import JSONType, UTCDateTime, UUIDType

#: Key of the advisory lock that serializes position assignment on PostgreSQL.
RELAY_LOCK_KEY = 7_461_001
MAX_TOPIC_LENGTH = 100

#: Session ``info`` flag: this transaction added events (the app wakes the relay on commit).
ADDED_FLAG = "trama.outbox.added"


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_events"
    __table_args__ = (
        sa.Index(
            "ix_outbox_events_unrelayed",
            "created_at",
            sqlite_where=sa.text("position IS NULL"),
            postgresql_where=sa.text("position IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, sa_type=UUIDType, primary_key=True)
    topic: str = Field(max_length=MAX_TOPIC_LENGTH, index=True)
    key: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    #: Partners the event concerns, as ``,<uuid>,<uuid>,`` so a scope is one LIKE (portable).
    audience: str = Field(default=",", max_length=4000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: Gap-free delivery position, NULL until the relay assigns it.
    position: int | None = Field(default=None, sa_type=sa.BigInteger, unique=True)
    relayed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    DISCARDED = "discarded"


class EventDelivery(SQLModel, table=True):
    """One consumer's inbox row for one event."""

    __tablename__ = "event_deliveries"
    __table_args__ = (sa.Index("ix_event_deliveries_status_enqueued", "status", "enqueued_at"),)

    event_id: uuid.UUID = Field(
        sa_type=UUIDType, foreign_key="outbox_events.id", primary_key=True, ondelete="CASCADE"
    )
    consumer: str = Field(max_length=100, primary_key=True)
    status: str = Field(default=DeliveryStatus.PENDING.value, max_length=16)
    attempts: int = 0
    enqueued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=2000)


@dataclass(frozen=True, slots=True)
class Event:
    """A relayed event as consumers and subscribers see it."""

    id: uuid.UUID
    position: int
    topic: str
    key: str | None
    payload: dict[str, Any]
    partner_ids: frozenset[str]
    created_at: datetime

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "position": self.position,
            "topic": self.topic,
            "key": self.key,
            "payload": self.payload,
            "partner_ids": sorted(self.partner_ids),
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Event:
        return cls(
            id=uuid.UUID(data["id"]),
            position=int(data["position"]),
            topic=data["topic"],
            key=data.get("key"),
            payload=data.get("payload") or {},
            partner_ids=frozenset(data.get("partner_ids") or ()),
            created_at=datetime.fromisoformat(data["created_at"]),
        )


def audience_of(partner_ids: Iterable[uuid.UUID | str]) -> str:
    ids = sorted({str(uuid.UUID(str(p))) for p in partner_ids})
    return "," + "".join(f"{p}," for p in ids)


def _partners_of(audience: str) -> frozenset[str]:
    return frozenset(p for p in audience.split(",") if p)


def _event_of(row: Any) -> Event:
    return Event(
        id=row.id,
        position=int(row.position),
        topic=row.topic,
        key=row.key,
        payload=row.payload or {},
        partner_ids=_partners_of(row.audience),
        created_at=row.created_at,
    )


# --- writing --------------------------------------------------------------------------------
def add(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    partner_ids: Iterable[uuid.UUID | str] = (),
    key: str | None = None,
) -> OutboxEvent:
    """Record an event in the caller's transaction. ``partner_ids``: who may see it."""
    if not topic or len(topic) > MAX_TOPIC_LENGTH or "." not in topic:
        raise ValueError(f"bad event topic {topic!r}: use '<domain>.<past tense verb>'")
    event = OutboxEvent(topic=topic, key=key, payload=payload, audience=audience_of(partner_ids))
    session.add(event)
    session.info[ADDED_FLAG] = True
    return event


async def add_many(
    session: AsyncSession,
    events: Sequence[tuple[str, dict[str, Any], Iterable[uuid.UUID | str], str | None]],
) -> int:
    """Record many events at once in the caller's transaction: ``(topic, payload,
    partner_ids, key)`` each, the same rows as :func:`add`, written with one INSERT per
    1,000 — for batch work with an event per row, where an ORM object per event costs more
    than the work itself. They keep their order (one ``created_at``, increasing ids)."""
    if not events:
        return 0
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for topic, payload, partner_ids, key in events:
        if not topic or len(topic) > MAX_TOPIC_LENGTH or "." not in topic:
            raise ValueError(f"bad event topic {topic!r}: use '<domain>.<past tense verb>'")
        rows.append(
            {
                "id": uuid7(),
                "topic": topic,
                "key": key,
                "payload": payload,
                "audience": audience_of(partner_ids),
                "created_at": now,
                "position": None,
                "relayed_at": None,
            }
        )
    table = table_of(OutboxEvent)
    for start in range(0, len(rows), 1000):
        await session.execute(table.insert(), rows[start : start + 1000])
    session.info[ADDED_FLAG] = True
    return len(rows)


# --- relaying -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RelayedBatch:
    events: list[Event]
    #: (event id, consumer) of every delivery created for these events.
    deliveries: list[tuple[uuid.UUID, str]]


async def relay_batch(
    session: AsyncSession,
    *,
    consumers_for: Any,
    limit: int = 500,
) -> RelayedBatch:
    """Give the oldest unrelayed committed events consecutive positions, in one serialized
    step, and create a delivery row for each consumer of their topics.

    ``consumers_for(topic) -> list[str]`` names the consumers. The caller commits.
    """
    await advisory_xact_lock(session, RELAY_LOCK_KEY)
    events = table_of(OutboxEvent)
    pending = (
        await session.execute(
            sa.select(events.c.id, events.c.topic)
            .where(events.c.position.is_(None))
            .order_by(events.c.created_at, events.c.id)
            .limit(limit)
        )
    ).all()
    if not pending:
        return RelayedBatch([], [])
    top = (await session.execute(sa.select(sa.func.max(events.c.position)))).scalar()
    next_position = int(top or 0) + 1
    now = utcnow()
    params = [
        {"b_id": row.id, "b_position": next_position + index} for index, row in enumerate(pending)
    ]
    await session.execute(
        events.update()
        .where(events.c.id == sa.bindparam("b_id"))
        .values(position=sa.bindparam("b_position"), relayed_at=now),
        params,
        execution_options={"synchronize_session": False},
    )
    deliveries: list[tuple[uuid.UUID, str]] = []
    for row in pending:
        for consumer in consumers_for(row.topic):
            deliveries.append((row.id, consumer))
    if deliveries:
        await insert_ignoring_conflicts(
            session,
            table_of(EventDelivery),
            [
                {
                    "event_id": event_id,
                    "consumer": consumer,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "enqueued_at": now,
                }
                for event_id, consumer in deliveries
            ],
            index_elements=["event_id", "consumer"],
        )
    ids = [row.id for row in pending]
    rows = (
        await session.execute(
            sa.select(events).where(events.c.id.in_(ids)).order_by(events.c.position)
        )
    ).all()
    return RelayedBatch([_event_of(r) for r in rows], deliveries)


async def stale_deliveries(
    session: AsyncSession, *, older_than: timedelta, limit: int = 1000
) -> list[tuple[uuid.UUID, str]]:
    """Pending deliveries enqueued longer ago than ``older_than`` (their message may have
    been lost between the relay's commit and the broker): the relay sends them again and
    bumps ``enqueued_at``."""
    table = table_of(EventDelivery)
    cutoff = utcnow() - older_than
    rows = (
        await session.execute(
            sa.select(table.c.event_id, table.c.consumer)
            .where(table.c.status == DeliveryStatus.PENDING.value, table.c.enqueued_at < cutoff)
            .order_by(table.c.enqueued_at)
            .limit(limit)
        )
    ).all()
    found = [(r.event_id, r.consumer) for r in rows]
    if found:
        await session.execute(
            table.update()
            .where(
                table.c.event_id == sa.bindparam("b_event"),
                table.c.consumer == sa.bindparam("b_consumer"),
                table.c.status == DeliveryStatus.PENDING.value,
            )
            .values(enqueued_at=utcnow()),
            [{"b_event": e, "b_consumer": c} for e, c in found],
            execution_options={"synchronize_session": False},
        )
    return found


# --- consuming ------------------------------------------------------------------------------
async def claim_delivery(
    session: AsyncSession, *, event_id: uuid.UUID, consumer: str
) -> Event | None:
    """Mark a delivery done in the caller's transaction and return its event, or None when
    it was already done (or discarded). The consumer's work joins the same transaction:
    when it fails, the rollback makes the delivery pending again."""
    table = table_of(EventDelivery)
    claimed = (
        await session.execute(
            table.update()
            .where(
                table.c.event_id == event_id,
                table.c.consumer == consumer,
                table.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]),
            )
            .values(
                status=DeliveryStatus.DONE.value,
                done_at=utcnow(),
                attempts=table.c.attempts + 1,
            )
            .returning(table.c.event_id)
        )
    ).first()
    if claimed is None:
        return None
    events = table_of(OutboxEvent)
    row = (await session.execute(sa.select(events).where(events.c.id == event_id))).first()
    return _event_of(row) if row is not None else None


async def note_failed_attempt(
    session: AsyncSession, *, event_id: uuid.UUID, consumer: str, error: str, final: bool
) -> None:
    table = table_of(EventDelivery)
    await session.execute(
        table.update()
        .where(
            table.c.event_id == event_id,
            table.c.consumer == consumer,
            table.c.status != DeliveryStatus.DONE.value,
        )
        .values(
            attempts=table.c.attempts + 1,
            last_error=error[:2000],
            status=DeliveryStatus.FAILED.value if final else DeliveryStatus.PENDING.value,
            # A retry is on its way: the sweep must not start a second chain of them.
            enqueued_at=utcnow(),
        )
    )


async def set_delivery_status(
    session: AsyncSession, *, event_id: uuid.UUID, consumer: str, status: DeliveryStatus
) -> None:
    table = table_of(EventDelivery)
    values: dict[str, Any] = {"status": status.value}
    if status is DeliveryStatus.PENDING:
        values["enqueued_at"] = utcnow()
    await session.execute(
        table.update()
        .where(
            table.c.event_id == event_id,
            table.c.consumer == consumer,
            table.c.status != DeliveryStatus.DONE.value,
        )
        .values(**values)
    )


# --- reading the log ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventScope:
    """Which events a reader may see: all (admin) or those of one partner."""

    partner_id: str | None  # None: every event

    def allows(self, event: Event) -> bool:
        return self.partner_id is None or self.partner_id in event.partner_ids

    def clause(self) -> sa.ColumnElement[bool]:
        if self.partner_id is None:
            return sa.true()
        return col(OutboxEvent.audience).contains(f",{self.partner_id},", autoescape=True)


def scope_for(principal: Principal) -> EventScope:
    """Admins see every event; partner users and systems see their partner's events."""
    if principal.is_admin:
        return EventScope(None)
    if principal.partner_id is None:
        raise Forbidden("only partner users, partner systems and admins can follow events")
    if not principal.has_role(Role.AGENT, Role.SUPERVISOR, Role.PARTNER_SYSTEM):
        raise Forbidden("your role cannot follow events")
    return EventScope(str(principal.partner_id))


def validate_topics(topics: Sequence[str] | None) -> tuple[str, ...] | None:
    """Topic filters: exact topics (``customers.created``) or a domain (``customers.*``)."""
    if topics is None:
        return None
    out: list[str] = []
    for index, topic in enumerate(topics):
        text = topic.strip()
        if (
            not text
            or len(text) > MAX_TOPIC_LENGTH
            or text.count("*") > 1
            or ("*" in text and not text.endswith(".*"))
        ):
            raise ValidationFailed.on(
                f"topics[{index}]", "use a topic like 'customers.created' or 'customers.*'"
            )
        out.append(text)
    return tuple(out)


def matches_topics(topic: str, topics: tuple[str, ...] | None) -> bool:
    if topics is None:
        return True
    for wanted in topics:
        if wanted.endswith(".*"):
            if topic.startswith(wanted[:-1]):
                return True
        elif topic == wanted:
            return True
    return False


def _topics_clause(topics: tuple[str, ...] | None) -> sa.ColumnElement[bool]:
    if topics is None:
        return sa.true()
    column = col(OutboxEvent.topic)
    parts: list[sa.ColumnElement[bool]] = []
    for wanted in topics:
        if wanted.endswith(".*"):
            parts.append(column.startswith(wanted[:-1], autoescape=True))
        else:
            parts.append(column == wanted)
    return sa.or_(*parts)


async def read_log(
    session: AsyncSession,
    *,
    scope: EventScope,
    after: int,
    topics: tuple[str, ...] | None = None,
    limit: int = 500,
    up_to: int | None = None,
) -> list[Event]:
    """Relayed events after position ``after`` (exclusive) the scope allows, in order."""
    table = table_of(OutboxEvent)
    query = (
        sa.select(table)
        .where(
            table.c.position.is_not(None),
            table.c.position > after,
            scope.clause(),
            _topics_clause(topics),
        )
        .order_by(table.c.position)
        .limit(limit)
    )
    if up_to is not None:
        query = query.where(table.c.position <= up_to)
    return [_event_of(r) for r in (await session.execute(query)).all()]


async def events_between(session: AsyncSession, *, after: int, up_to: int) -> list[Event]:
    """Every relayed event with ``after < position <= up_to`` (the fan-out fills gaps)."""
    table = table_of(OutboxEvent)
    rows = (
        await session.execute(
            sa.select(table)
            .where(table.c.position > after, table.c.position <= up_to)
            .order_by(table.c.position)
        )
    ).all()
    return [_event_of(r) for r in rows]


async def last_position(session: AsyncSession) -> int:
    table = table_of(OutboxEvent)
    return int((await session.execute(sa.select(sa.func.max(table.c.position)))).scalar() or 0)


async def oldest_retained_position(session: AsyncSession) -> int | None:
    table = table_of(OutboxEvent)
    value = (await session.execute(sa.select(sa.func.min(table.c.position)))).scalar()
    return int(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class Backlog:
    unrelayed: int
    oldest_unrelayed_age: float  # seconds, 0 when none
    pending_deliveries: int
    oldest_pending_age: float


async def backlog(session: AsyncSession) -> Backlog:
    events = table_of(OutboxEvent)
    deliveries = table_of(EventDelivery)
    now = utcnow()
    unrelayed, oldest = (
        await session.execute(
            sa.select(sa.func.count(), sa.func.min(events.c.created_at)).where(
                events.c.position.is_(None)
            )
        )
    ).one()
    pending, oldest_pending = (
        await session.execute(
            sa.select(sa.func.count(), sa.func.min(deliveries.c.enqueued_at)).where(
                deliveries.c.status == DeliveryStatus.PENDING.value
            )
        )
    ).one()

    def age(value: datetime | None) -> float:
        # min() keeps the column's type, so values come back as aware UTC datetimes
        return 0.0 if value is None else max(0.0, (now - value).total_seconds())

    return Backlog(int(unrelayed), age(oldest), int(pending), age(oldest_pending))


async def purge(session: AsyncSession, *, older_than: timedelta) -> int:
    """Delete relayed events older than the retention whose deliveries are all settled."""
    events = table_of(OutboxEvent)
    deliveries = table_of(EventDelivery)
    cutoff = utcnow() - older_than
    open_delivery = (
        sa.select(deliveries.c.event_id)
        .where(
            deliveries.c.event_id == events.c.id,
            deliveries.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]),
        )
        .exists()
    )
    result = await session.execute(
        events.delete().where(
            events.c.position.is_not(None), events.c.created_at < cutoff, ~open_delivery
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)

"""The work queues as people read and change them: a lender's open items in the order they
should be worked, a collector's own list, and a supervisor's reassignment.

Items are built by the daily run (``domain.collections.work``); this module also holds the
small writes both share: recording a change of hands (with its dated ``Assignment`` row
and event) and resolving items whose condition went away.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.collections import work_access as access
from domain.collections.collectors import collector_for_subject
from domain.collections.work_models import (
    Assignment,
    Collector,
    QueueItem,
    QueueKind,
    QueueStatus,
)
from domain.credits.states import AgingBucket
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.sql import for_update
from domain.shared.time import utcnow

__all__ = [
    "assign",
    "get_item",
    "list_queue",
    "open_items_of",
    "reassign_item",
    "resolve_items",
    "write_assignments",
]

_CURSOR_TAG = "queue.v1"


def assign(
    session: AsyncSession,
    item: QueueItem,
    collector_id: uuid.UUID | None,
    *,
    how: str,
    rule_name: str | None,
    at: datetime,
) -> None:
    """Give ``item`` to ``collector_id`` (None: nobody): end the previous assignment, start
    the new one, and tell the lender. The caller flushes."""
    previous = item.collector_id
    if previous == collector_id:
        return
    item.collector_id = collector_id
    item.assigned_at = at if collector_id is not None else None
    item.assigned_how = how if collector_id is not None else None
    item.version += 1
    item.updated_at = at
    session.info.setdefault(_PENDING, []).append(
        (item.id, item.partner_id, item.credit_id, previous, collector_id, how, rule_name, at)
    )
    outbox.add(
        session,
        "collections.item_assigned",
        {
            "creditId": wire.global_id("Credit", item.credit_id),
            "customerId": wire.global_id("Customer", item.customer_id),
            "partnerId": wire.global_id("Partner", item.partner_id),
            "itemId": str(item.id),
            "queue": item.kind,
            "collectorId": str(collector_id) if collector_id else None,
            "previousCollectorId": str(previous) if previous else None,
            "how": how if how in {"RULE", "DEFAULT", "KEPT", "MANUAL"} else "RULE",
            "version": item.version,
        },
        partner_ids=[item.partner_id],
        key=wire.global_id("Credit", item.credit_id),
    )


_PENDING = "trama.collections.assignments"


async def write_assignments(session: AsyncSession) -> None:
    """Write the dated assignment rows :func:`assign` queued (one statement each way)."""
    pending = session.info.pop(_PENDING, [])
    if not pending:
        return
    table = table_of(Assignment)
    ending = [(item_id, at) for item_id, _, _, previous, _, _, _, at in pending if previous]
    for item_id, at in ending:
        await session.execute(
            table.update()
            .where(table.c.item_id == item_id, table.c.ended_at.is_(None))
            .values(ended_at=at)
        )
    rows = [
        {
            "id": uuid7(),
            "item_id": item_id,
            "partner_id": partner_id,
            "credit_id": credit_id,
            "collector_id": collector_id,
            "how": how,
            "rule_name": rule_name,
            "assigned_at": at,
            "ended_at": None,
        }
        for item_id, partner_id, credit_id, _, collector_id, how, rule_name, at in pending
        if collector_id is not None
    ]
    if rows:
        await session.execute(sa.insert(table), rows)


async def resolve_items(
    session: AsyncSession,
    items: Sequence[QueueItem],
    *,
    resolution: str,
    on: date,
) -> int:
    """Close open items whose condition went away (their assignment ends too)."""
    now = utcnow()
    count = 0
    for item in items:
        if item.status != QueueStatus.OPEN:
            continue
        item.status = QueueStatus.RESOLVED
        item.resolution = resolution[:20]
        item.resolved_on = on
        item.version += 1
        item.updated_at = now
        count += 1
    if count:
        await session.flush()
        table = table_of(Assignment)
        ids = [i.id for i in items]
        await session.execute(
            table.update()
            .where(table.c.item_id.in_(ids), table.c.ended_at.is_(None))
            .values(ended_at=now)
        )
    return count


async def open_items_of(
    session: AsyncSession, credit_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, QueueItem]]:
    """Open items by credit and kind."""
    out: dict[uuid.UUID, dict[str, QueueItem]] = {c: {} for c in credit_ids}
    if not credit_ids:
        return out
    rows = await session.execute(
        sa.select(QueueItem).where(
            col(QueueItem.credit_id).in_(list(credit_ids)),
            col(QueueItem.status) == QueueStatus.OPEN,
        )
    )
    for item in rows.scalars():
        out[item.credit_id][item.kind] = item
    return out


# --- reading --------------------------------------------------------------------------------
async def get_item(session: AsyncSession, *, principal: Principal, item_id: uuid.UUID) -> QueueItem:
    access.ensure_can_read(principal)
    item = await session.get(QueueItem, item_id)
    if item is None:
        raise NotFound("CollectionQueueItem", item_id)
    access.ensure_same_lender(principal, item.partner_id, "CollectionQueueItem", item_id)
    return item


async def list_queue(
    session: AsyncSession,
    *,
    principal: Principal,
    lender_id: uuid.UUID | None,
    limit: int,
    after: str | None = None,
    kinds: Sequence[str] | None = None,
    buckets: Sequence[str] | None = None,
    collector_id: uuid.UUID | None = None,
    assigned_to_me: bool = False,
    unassigned: bool = False,
    status: str = QueueStatus.OPEN,
    with_total: bool = False,
) -> Page[QueueItem]:
    """A lender's queue items in working order (priority, then id)."""
    partner_id = access.lender_for(principal, lender_id)
    conditions: list[sa.ColumnElement[bool]] = [
        col(QueueItem.partner_id) == partner_id,
        col(QueueItem.status) == status,
    ]
    if status not in {s.value for s in QueueStatus}:
        raise ValidationFailed.on("status", f"unknown status {status!r}")
    if kinds:
        known = {k.value for k in QueueKind}
        bad = [k for k in kinds if k not in known]
        if bad:
            raise ValidationFailed.on("queue", f"unknown queue {bad[0]!r}")
        conditions.append(col(QueueItem.kind).in_(list(kinds)))
    if buckets:
        known = {b.value for b in AgingBucket}
        bad = [b for b in buckets if b not in known]
        if bad:
            raise ValidationFailed.on("bucket", f"unknown bucket {bad[0]!r}")
        conditions.append(col(QueueItem.bucket).in_(list(buckets)))
    if assigned_to_me:
        me = await collector_for_subject(session, partner_id, principal.subject)
        if me is None:
            raise ValidationFailed.on("assignedToMe", "you are not a collector of this lender")
        conditions.append(col(QueueItem.collector_id) == me.id)
    elif collector_id is not None:
        conditions.append(col(QueueItem.collector_id) == collector_id)
    elif unassigned:
        conditions.append(col(QueueItem.collector_id).is_(None))
    stmt = sa.select(QueueItem).where(*conditions)
    if after:
        raw_priority, raw_id = decode_cursor(after, _CURSOR_TAG, 2)
        try:
            last_priority = int(str(raw_priority))
            last_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        stmt = stmt.where(
            sa.or_(
                col(QueueItem.priority) > last_priority,
                sa.and_(col(QueueItem.priority) == last_priority, col(QueueItem.id) > last_id),
            )
        )
    stmt = stmt.order_by(col(QueueItem.priority), col(QueueItem.id)).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    items = rows[:limit]
    total = None
    if with_total:
        count = sa.select(sa.func.count()).select_from(QueueItem).where(*conditions)
        total = int((await session.execute(count)).scalar_one())
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR_TAG, i.priority, str(i.id)) for i in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
        total=total,
    )


async def reassign_item(
    session: AsyncSession,
    *,
    principal: Principal,
    item_id: uuid.UUID,
    collector_id: uuid.UUID | None,
    expected_version: int,
) -> QueueItem:
    """A supervisor gives an open item to a collector (kept by later runs while that
    collector is active), or takes it back (None: the next run assigns it by the rules)."""
    access.ensure_can_manage(principal)
    item = (
        (
            await session.execute(
                for_update(sa.select(QueueItem).where(col(QueueItem.id) == item_id), session)
            )
        )
        .scalars()
        .first()
    )
    if item is None:
        raise NotFound("CollectionQueueItem", item_id)
    access.ensure_same_lender(principal, item.partner_id, "CollectionQueueItem", item_id)
    if item.version != expected_version:
        raise Conflict(
            f"the item changed since version {expected_version}; it is now at version "
            f"{item.version}",
            current_version=item.version,
        )
    if item.status != QueueStatus.OPEN:
        raise InvalidTransition("CollectionQueueItem", item.status, "REASSIGNED")
    if collector_id is not None:
        collector = await session.get(Collector, collector_id)
        if collector is None or collector.partner_id != item.partner_id:
            raise ValidationFailed.on("collectorId", "is not a collector of this lender")
        if not collector.active:
            raise ValidationFailed.on("collectorId", "this collector is switched off")
    before = {"collector_id": item.collector_id, "version": item.version}
    if collector_id == item.collector_id:
        if collector_id is not None and item.assigned_how != "MANUAL":
            item.assigned_how = "MANUAL"
            item.version += 1
            await session.flush()
        return item
    assign(session, item, collector_id, how="MANUAL", rule_name=None, at=utcnow())
    await session.flush()
    await write_assignments(session)
    audit.record(
        session,
        principal=principal,
        action="collections.item_assigned",
        entity_type="CollectionQueueItem",
        entity_id=item.id,
        before=before,
        after={"collector_id": item.collector_id, "version": item.version},
    )
    return item

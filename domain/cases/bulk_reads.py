"""Reading mass resolutions: a job's progress and its per-case outcomes (for its
requester, its partner's supervisors and administrators), and the jobs that stalled."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.cases import scopes
from domain.cases.models import BulkOutcome, BulkResolution, BulkResolutionItem, BulkStatus, Case
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.models import table_of
from domain.shared.pagination import Page, clamp_page_size, decode_cursor, encode_cursor
from domain.shared.principal import Principal, Scope
from domain.shared.types import UUIDType

_ITEMS_CURSOR = "cases.bulk_items.v1"


# --- reading ----------------------------------------------------------------------------------
def _may_read(principal: Principal, bulk: BulkResolution) -> bool:
    if principal.is_admin or principal.subject == bulk.requested_by:
        return True
    return (
        bulk.requested_by_partner_id is not None
        and principal.partner_id == bulk.requested_by_partner_id
        and principal.has_scope(Scope.CASES_RESOLVE_BULK)
    )


async def get_bulk_resolution(
    session: AsyncSession, *, principal: Principal, bulk_id: uuid.UUID
) -> BulkResolution:
    """A mass resolution its requester, its partner's supervisors or an admin may see."""
    scopes.ensure_can_read(principal)
    bulk = await session.get(BulkResolution, bulk_id, populate_existing=True)
    if bulk is None or not _may_read(principal, bulk):
        raise NotFound("BulkResolution", bulk_id)
    return bulk


@dataclass(frozen=True, slots=True)
class BulkItemView:
    """One case's outcome. ``reference`` is None for NOT_FOUND (the requester may not
    learn whether such a case exists)."""

    case_id: uuid.UUID
    reference: str | None
    outcome: BulkOutcome
    message: str | None
    processed_at: datetime


async def list_bulk_items(
    session: AsyncSession,
    *,
    principal: Principal,
    bulk_id: uuid.UUID,
    outcome: BulkOutcome | str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[BulkItemView]:
    """A job's per-case outcomes, by case id (keyset)."""
    await get_bulk_resolution(session, principal=principal, bulk_id=bulk_id)
    limit = clamp_page_size(first, default=50, maximum=500)
    items = table_of(BulkResolutionItem)
    cases = table_of(Case)
    stmt = (
        sa.select(items, cases.c.reference)
        .select_from(items.outerjoin(cases, cases.c.id == items.c.case_id))
        .where(items.c.bulk_id == bulk_id)
    )
    if outcome is not None:
        try:
            stmt = stmt.where(items.c.outcome == BulkOutcome(outcome).value)
        except ValueError:
            names = ", ".join(o.value for o in BulkOutcome)
            raise ValidationFailed.on("outcome", f"must be one of {names}") from None
    if after:
        (raw,) = decode_cursor(after, _ITEMS_CURSOR, 1)
        try:
            last = uuid.UUID(str(raw))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        stmt = stmt.where(items.c.case_id > sa.literal(last, type_=UUIDType))
    rows = (await session.execute(stmt.order_by(items.c.case_id).limit(limit + 1))).all()
    views = [
        BulkItemView(
            case_id=r.case_id,
            reference=None if r.outcome == BulkOutcome.NOT_FOUND.value else r.reference,
            outcome=BulkOutcome(r.outcome),
            message=r.message,
            processed_at=r.processed_at,
        )
        for r in rows[:limit]
    ]
    return Page(
        items=views,
        cursors=[encode_cursor(_ITEMS_CURSOR, str(v.case_id)) for v in views],
        has_next=len(rows) > limit,
        has_previous=after is not None,
    )


# --- maintenance ------------------------------------------------------------------------------
async def stalled_bulks(session: AsyncSession, *, idle_since: datetime) -> list[uuid.UUID]:
    """Unfinished jobs with no progress since ``idle_since`` (their worker died or their
    message was lost): the worker resumes them."""
    bulks = table_of(BulkResolution)
    items = table_of(BulkResolutionItem)
    last_item = (
        sa.select(sa.func.max(items.c.processed_at))
        .where(items.c.bulk_id == bulks.c.id)
        .scalar_subquery()
    )
    activity = sa.func.coalesce(last_item, bulks.c.started_at, bulks.c.created_at)
    stmt = (
        sa.select(bulks.c.id)
        .where(
            bulks.c.status.in_([BulkStatus.PENDING.value, BulkStatus.RUNNING.value]),
            activity < idle_since,
        )
        .order_by(bulks.c.created_at)
        .limit(100)
    )
    return list((await session.execute(stmt)).scalars().all())

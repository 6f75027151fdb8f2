"""Reading cases: one case, many cases, a case's timeline and partner statuses.

Every read applies :func:`domain.cases.scopes.visible_to` in its SQL; a case outside the
principal's views is :class:`CaseNotFound`. (The unified search lives apart.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import references, scopes
from domain.cases.errors import CaseNotFound
from domain.cases.models import Case, CaseEvent, CasePartnerStatus, Visibility
from domain.cases.scopes import CaseView
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal

_TIMELINE_CURSOR = "cases.timeline.v1"


# --- reads ------------------------------------------------------------------------------
async def get_case(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    view: CaseView | None = None,
) -> Case:
    """A case the principal may see in ``view`` (its widest view by default)."""
    condition = scopes.visible_to(principal, view or scopes.widest_view(principal))
    stmt = sa.select(Case).where(col(Case.id) == case_id, condition)
    case = (await session.execute(stmt)).scalars().first()
    if case is None:
        raise CaseNotFound(case_id)
    return case


async def get_case_by_reference(
    session: AsyncSession,
    *,
    principal: Principal,
    reference: str,
    view: CaseView | None = None,
) -> Case:
    condition = scopes.visible_to(principal, view or scopes.widest_view(principal))
    normal = references.normalise(reference)
    if normal is None:
        raise CaseNotFound(reference[:30])
    stmt = sa.select(Case).where(col(Case.reference) == normal, condition)
    case = (await session.execute(stmt)).scalars().first()
    if case is None:
        raise CaseNotFound(normal)
    return case


async def get_many(
    session: AsyncSession,
    ids: Sequence[uuid.UUID],
    *,
    principal: Principal,
    view: CaseView | None = None,
) -> dict[uuid.UUID, Case]:
    """The cases among ``ids`` the principal may see (for DataLoaders: one query)."""
    if not ids:
        return {}
    condition = scopes.visible_to(principal, view or scopes.widest_view(principal))
    rows = await session.execute(sa.select(Case).where(col(Case.id).in_(list(ids)), condition))
    return {c.id: c for c in rows.scalars().all()}


async def get_many_shown(
    session: AsyncSession,
    ids: Sequence[uuid.UUID],
    *,
    principal: Principal,
    view: CaseView | None = None,
) -> dict[uuid.UUID, tuple[Case, bool]]:
    """:func:`get_many`, each case with whether its personal data is shown to the
    principal (:func:`scopes.pii_visible`, selected in the same statement)."""
    if not ids:
        return {}
    condition = scopes.visible_to(principal, view or scopes.widest_view(principal))
    stmt = sa.select(Case, scopes.pii_visible(principal).label("pii_visible")).where(
        col(Case.id).in_(list(ids)), condition
    )
    rows = (await session.execute(stmt)).all()
    return {case.id: (case, bool(shown)) for case, shown in rows}


async def list_timeline(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    limit: int,
    after: str | None = None,
    customer_visible_only: bool = False,
) -> Page[CaseEvent]:
    """A case's timeline, oldest first (keyset on the entry number)."""
    await get_case(session, principal=principal, case_id=case_id)
    stmt = sa.select(CaseEvent).where(col(CaseEvent.case_id) == case_id)
    if customer_visible_only:
        stmt = stmt.where(col(CaseEvent.visibility) == Visibility.CUSTOMER.value)
    if after:
        (seq,) = decode_cursor(after, _TIMELINE_CURSOR, 1)
        if not isinstance(seq, int):
            raise ValidationFailed.on("after", "this cursor is not valid")
        stmt = stmt.where(col(CaseEvent.seq) > seq)
    stmt = stmt.order_by(col(CaseEvent.seq)).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    items = rows[:limit]
    return Page(
        items=items,
        cursors=[encode_cursor(_TIMELINE_CURSOR, e.seq) for e in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
    )


async def list_partner_statuses(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID
) -> list[CasePartnerStatus]:
    """Each involved partner's own status and sync state for a case."""
    await get_case(session, principal=principal, case_id=case_id)
    stmt = (
        sa.select(CasePartnerStatus)
        .where(col(CasePartnerStatus.case_id) == case_id)
        .order_by(col(CasePartnerStatus.involved_since))
    )
    return list((await session.execute(stmt)).scalars().all())

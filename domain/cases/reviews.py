"""The review queue of refused inbound reports (see :mod:`domain.cases.reports`).

Case administrators see every review and close them; the staff of the partner whose
platform sent a report see their partner's reviews (to fix their platform or ask for a
homologation change).
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import rules, scopes
from domain.cases.models import InboundReportReview, ReviewStatus
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, Forbidden, NotFound, Problems, ValidationFailed
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal, Scope
from domain.shared.sql import for_update
from domain.shared.time import utcnow

_CURSOR = "cases.reviews.v1"


def _reader_filter(principal: Principal) -> sa.ColumnElement[bool]:
    if principal.has_scope(Scope.CASES_ADMIN):
        return sa.true()
    if principal.partner_id is not None and scopes.may_use_view(principal, scopes.CaseView.OWN):
        return col(InboundReportReview.partner_id) == principal.partner_id
    raise Forbidden("you cannot read the review queue")


async def list_reviews(
    session: AsyncSession,
    *,
    principal: Principal,
    limit: int,
    after: str | None = None,
    status: ReviewStatus | str | None = ReviewStatus.PENDING,
    partner_id: uuid.UUID | None = None,
) -> Page[InboundReportReview]:
    """Refused reports, oldest first (keyset on reception time and id)."""
    stmt = sa.select(InboundReportReview).where(_reader_filter(principal))
    if status is not None:
        try:
            wanted = ReviewStatus(status)
        except ValueError:
            raise ValidationFailed.on(
                "status", f"must be one of {', '.join(s.value for s in ReviewStatus)}"
            ) from None
        stmt = stmt.where(col(InboundReportReview.status) == wanted.value)
    if partner_id is not None:
        stmt = stmt.where(col(InboundReportReview.partner_id) == partner_id)
    if after:
        at_text, raw_id = decode_cursor(after, _CURSOR, 2)
        try:
            at = datetime.fromisoformat(str(at_text))
            last_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        stmt = stmt.where(
            sa.or_(
                col(InboundReportReview.received_at) > at,
                sa.and_(
                    col(InboundReportReview.received_at) == at,
                    col(InboundReportReview.id) > last_id,
                ),
            )
        )
    stmt = stmt.order_by(col(InboundReportReview.received_at), col(InboundReportReview.id)).limit(
        limit + 1
    )
    rows = list((await session.execute(stmt)).scalars().all())
    items = rows[:limit]
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR, r.received_at.isoformat(), str(r.id)) for r in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
    )


async def close_review(
    session: AsyncSession,
    *,
    principal: Principal,
    review_id: uuid.UUID,
    status: ReviewStatus | str,
    note: str,
) -> InboundReportReview:
    """Mark a review DISMISSED (nothing to do) or RESOLVED (fixed by hand), with a note."""
    scopes.ensure_can_administer(principal)
    problems = Problems()
    outcome: ReviewStatus | None = None
    with contextlib.suppress(ValueError):
        outcome = ReviewStatus(status)
    if outcome not in (ReviewStatus.DISMISSED, ReviewStatus.RESOLVED):
        problems.add("status", "must be DISMISSED or RESOLVED")
    clean_note = rules.text(problems, "note", note, max_len=1000)
    problems.raise_if_any()
    assert outcome is not None
    stmt = for_update(
        sa.select(InboundReportReview).where(col(InboundReportReview.id) == review_id), session
    )
    review = (await session.execute(stmt)).scalars().first()
    if review is None:
        raise NotFound("InboundReportReview", review_id)
    if review.status != ReviewStatus.PENDING.value:
        raise Conflict(f"this review is already {review.status}")
    review.status = outcome.value
    review.reviewed_by = principal.subject
    review.reviewed_at = utcnow()
    review.review_note = clean_note
    audit.record(
        session,
        principal=principal,
        action="cases.inbound_review_closed",
        entity_type="InboundReportReview",
        entity_id=review.id,
        before={"status": ReviewStatus.PENDING.value},
        after={"status": outcome.value, "note": clean_note},
    )
    outbox.add(
        session,
        "cases.inbound_review_closed",
        {
            "reviewId": str(review.id),
            "caseId": wire.maybe_global_id("Case", review.case_id),
            "status": outcome.value,
        },
        partner_ids=[review.partner_id],
        key=str(review.id),
    )
    return review

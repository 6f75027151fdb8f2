"""Comments on a case: internal notes between the involved partners, or messages the
customer may see. Staff of every involved partner may comment (the originator keeps
collaborating after handing the case over); a comment is a change of the case, so it
takes the version the caller read."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import journal, rules, scopes
from domain.cases.models import CaseComment, TimelineKind, Visibility
from domain.cases.reads import get_case
from domain.shared.errors import Forbidden, Problems, ValidationFailed
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.time import utcnow

_CURSOR = "cases.comments.v1"


async def add_comment(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    expected_version: int,
    body: str,
    visibility: Visibility | str = Visibility.INTERNAL,
) -> CaseComment:
    problems = Problems()
    clean_body = rules.text(problems, "body", body, max_len=rules.COMMENT_MAX)
    clean_visibility = rules.visibility(problems, "visibility", visibility)
    problems.raise_if_any()
    assert clean_body is not None and clean_visibility is not None
    case = await journal.load_for_change(session, principal=principal, case_id=case_id)
    if not await scopes.can_comment(session, principal, case):
        raise Forbidden(f"only the partners involved in case {case.reference} can comment on it")
    journal.ensure_version(case, expected_version)
    now = utcnow()
    comment = CaseComment(
        case_id=case.id,
        author_subject=principal.subject,
        author_name=principal.display_name,
        author_partner_id=principal.partner_id,
        visibility=clean_visibility.value,
        body=clean_body,
        created_at=now,
    )
    session.add(comment)
    case.version += 1
    case.updated_at = now
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=TimelineKind.COMMENTED,
        topic="cases.commented",
        after={"comment_id": comment.id, "visibility": clean_visibility.value},
        visibility=clean_visibility,
        audit_after={
            "comment_id": comment.id,
            "visibility": clean_visibility.value,
            "body": clean_body,
        },
        payload={"commentId": str(comment.id), "visibility": clean_visibility.value},
    )
    return comment


async def list_comments(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    limit: int,
    after: str | None = None,
    customer_visible_only: bool = False,
) -> Page[CaseComment]:
    """A case's comments, oldest first (keyset on creation time and id)."""
    await get_case(session, principal=principal, case_id=case_id)
    stmt = sa.select(CaseComment).where(col(CaseComment.case_id) == case_id)
    if customer_visible_only:
        stmt = stmt.where(col(CaseComment.visibility) == Visibility.CUSTOMER.value)
    if after:
        at_text, raw_id = decode_cursor(after, _CURSOR, 2)
        try:
            at = datetime.fromisoformat(str(at_text))
            last_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        stmt = stmt.where(
            sa.or_(
                col(CaseComment.created_at) > at,
                sa.and_(col(CaseComment.created_at) == at, col(CaseComment.id) > last_id),
            )
        )
    stmt = stmt.order_by(col(CaseComment.created_at), col(CaseComment.id)).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    items = rows[:limit]
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR, c.created_at.isoformat(), str(c.id)) for c in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
    )

"""Batched reads of many cases at once, for the API's DataLoaders.

Each function runs one statement whatever the number of cases, and checks no access:
callers pass ids of cases the request already read through a checked path
(:mod:`domain.cases.reads`, the search). Nested pages (a timeline, comments) of many cases
are cut per case in SQL with ``row_number()``, so a page of cases with their last entries
is still one statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.cases.models import CaseComment, CaseEvent, CasePartnerStatus, CaseTypology, Visibility
from domain.shared.errors import ValidationFailed
from domain.shared.models import table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.reads import NestedQuery

__all__ = [
    "COMMENT_CURSOR",
    "TIMELINE_CURSOR",
    "NestedPage",
    "comment_cursor",
    "comments_of",
    "comments_query",
    "partner_statuses_of",
    "partner_statuses_query",
    "timeline_cursor",
    "timeline_query",
    "timelines_of",
    "typologies_by_code",
]

#: The cursor tags of :func:`domain.cases.reads.list_timeline` and
#: :func:`domain.cases.comments.list_comments`: cursors are interchangeable.
TIMELINE_CURSOR = "cases.timeline.v1"
COMMENT_CURSOR = "cases.comments.v1"


def timeline_cursor(entry: CaseEvent) -> str:
    return _timeline_cursor(entry.seq)


def comment_cursor(comment: CaseComment) -> str:
    return _comment_cursor(comment.created_at, comment.id)


def _timeline_cursor(seq: int) -> str:
    return encode_cursor(TIMELINE_CURSOR, seq)


def _comment_cursor(created_at: datetime, comment_id: uuid.UUID) -> str:
    return encode_cursor(COMMENT_CURSOR, created_at.isoformat(), str(comment_id))


@dataclass(frozen=True, slots=True)
class NestedPage:
    """What a page of a case's list is asked for: the same arguments for every case of a
    batch."""

    limit: int
    after: str | None = None
    customer_visible_only: bool = False


def partner_statuses_query(
    case_ids: Sequence[uuid.UUID],
) -> tuple[sa.FromClause, list[sa.ColumnElement[bool]], list[sa.ColumnElement[object]]]:
    """The status rows of ``case_ids``, in the order their partners became involved:
    ``(table, conditions, order_by)`` for any read path."""
    table = table_of(CasePartnerStatus)
    return (
        table,
        [table.c.case_id.in_(list(dict.fromkeys(case_ids)))],
        [table.c.involved_since, table.c.partner_id],
    )


async def partner_statuses_of(
    session: AsyncSession, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[CasePartnerStatus]]:
    """Each case's involved partners' statuses, in the order they became involved."""
    out: dict[uuid.UUID, list[CasePartnerStatus]] = {i: [] for i in case_ids}
    if not case_ids:
        return out
    _, conditions, order_by = partner_statuses_query(case_ids)
    stmt = sa.select(CasePartnerStatus).where(*conditions).order_by(*order_by)
    for row in (await session.execute(stmt)).scalars():
        out[row.case_id].append(row)
    return out


async def typologies_by_code(
    session: AsyncSession, codes: Sequence[str]
) -> dict[str, CaseTypology]:
    """Typologies by code, active or not (a case keeps the one it was opened with)."""
    if not codes:
        return {}
    stmt = sa.select(CaseTypology).where(
        table_of(CaseTypology).c.code.in_(list(dict.fromkeys(codes)))
    )
    return {t.code: t for t in (await session.execute(stmt)).scalars()}


def _after_seq(after: str | None) -> int | None:
    if not after:
        return None
    (seq,) = decode_cursor(after, TIMELINE_CURSOR, 1)
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValidationFailed.on("after", "this cursor is not valid")
    return seq


def _after_comment(after: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not after:
        return None
    at_text, raw_id = decode_cursor(after, COMMENT_CURSOR, 2)
    try:
        return datetime.fromisoformat(str(at_text)), uuid.UUID(str(raw_id))
    except ValueError:
        raise ValidationFailed.on("after", "this cursor is not valid") from None


def _pages(
    rows: Sequence[tuple[uuid.UUID, object]],
    case_ids: Sequence[uuid.UUID],
    page: NestedPage,
    cursor: object,
) -> dict[uuid.UUID, Page[object]]:
    grouped: dict[uuid.UUID, list[object]] = {i: [] for i in case_ids}
    for case_id, item in rows:
        grouped[case_id].append(item)
    out: dict[uuid.UUID, Page[object]] = {}
    for case_id, items in grouped.items():
        kept = items[: page.limit]
        out[case_id] = Page(
            items=kept,
            cursors=[cursor(i) for i in kept],  # type: ignore[operator]
            has_next=len(items) > page.limit,
            has_previous=page.after is not None,
        )
    return out


def timeline_query(case_ids: Sequence[uuid.UUID], page: NestedPage) -> NestedQuery:
    """A page of each case's timeline, oldest first, for any read path."""
    after = _after_seq(page.after)
    table = table_of(CaseEvent)
    conditions: list[sa.ColumnElement[bool]] = [table.c.case_id.in_(list(dict.fromkeys(case_ids)))]
    if page.customer_visible_only:
        conditions.append(table.c.visibility == Visibility.CUSTOMER.value)
    if after is not None:
        conditions.append(table.c.seq > after)
    return NestedQuery(
        table=table,
        parent=table.c.case_id,
        parent_ids=tuple(case_ids),
        conditions=tuple(conditions),
        order_by=(table.c.seq,),
        limit=page.limit,
        after=page.after,
        cursor_keys=("seq",),
        cursor=_timeline_cursor,
        skip_empty=True,
    )


def comments_query(case_ids: Sequence[uuid.UUID], page: NestedPage) -> NestedQuery:
    """A page of each case's comments, oldest first, for any read path."""
    after = _after_comment(page.after)
    table = table_of(CaseComment)
    conditions: list[sa.ColumnElement[bool]] = [table.c.case_id.in_(list(dict.fromkeys(case_ids)))]
    if page.customer_visible_only:
        conditions.append(table.c.visibility == Visibility.CUSTOMER.value)
    if after is not None:
        at, last_id = after
        conditions.append(
            sa.or_(
                table.c.created_at > at,
                sa.and_(table.c.created_at == at, table.c.id > last_id),
            )
        )
    return NestedQuery(
        table=table,
        parent=table.c.case_id,
        parent_ids=tuple(case_ids),
        conditions=tuple(conditions),
        order_by=(table.c.created_at, table.c.id),
        limit=page.limit,
        after=page.after,
        cursor_keys=("created_at", "id"),
        cursor=_comment_cursor,
        skip_empty=True,
    )


async def timelines_of(
    session: AsyncSession, case_ids: Sequence[uuid.UUID], page: NestedPage
) -> dict[uuid.UUID, Page[CaseEvent]]:
    """A page of each case's timeline, oldest first (one statement)."""
    query = timeline_query(case_ids, page)
    if not query.reads_rows:
        return {i: Page([], [], False, query.has_previous) for i in case_ids}
    sub = query.subquery(CaseEvent)
    entry = aliased(CaseEvent, sub)
    rows = [(e.case_id, e) for e in (await session.execute(query.outer(sub, entry))).scalars()]
    return _pages(rows, case_ids, page, timeline_cursor)  # type: ignore[return-value]


async def comments_of(
    session: AsyncSession, case_ids: Sequence[uuid.UUID], page: NestedPage
) -> dict[uuid.UUID, Page[CaseComment]]:
    """A page of each case's comments, oldest first (one statement)."""
    query = comments_query(case_ids, page)
    if not query.reads_rows:
        return {i: Page([], [], False, query.has_previous) for i in case_ids}
    sub = query.subquery(CaseComment)
    comment = aliased(CaseComment, sub)
    rows = [(c.case_id, c) for c in (await session.execute(query.outer(sub, comment))).scalars()]
    return _pages(rows, case_ids, page, comment_cursor)  # type: ignore[return-value]

"""Unified case search: one query language over the three views (DESIGN §6, §10).

:func:`search_cases` returns a keyset page of cases, the total and facet counts (by status
and by typology) for the same filter, the customers and partners the page names, and
whether personal data must be masked — in a constant number of SQL statements whatever
the page size: the page, one ``GROUP BY status, typology`` that gives the total and both
facets, the page's customers, the page's partners.

The view's scope (:func:`domain.cases.scopes.visible_to`) is ANDed into every statement,
so no filter can reach a case outside the view: naming another partner in a filter only
narrows what the view already allows.

The filter, its validation and free text are in :mod:`domain.cases.search_filter`
(re-exported here).

Orderings are keyset-paginated on indexed columns (see :class:`CaseOrder`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.cases import scopes
from domain.cases.models import Case
from domain.cases.scopes import CaseView
from domain.cases.search_filter import (
    MAX_FILTER_VALUES,
    MAX_TEXT,
    CaseFilter,
    filter_conditions,
    validate_filter,
)
from domain.customers import service as customers_service
from domain.customers.views import CustomerView
from domain.partners.models import Partner
from domain.shared.errors import ValidationFailed
from domain.shared.models import table_of
from domain.shared.pagination import Page, clamp_page_size, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.reads import KeysetQuery
from domain.shared.sql import dialect_of
from domain.shared.time import NaiveDatetimeError, ensure_utc, isoformat
from domain.shared.types import UTCDateTime, UUIDType

__all__ = [
    "MAX_FILTER_VALUES",
    "MAX_TEXT",
    "CaseFilter",
    "CaseOrder",
    "CaseSearchResult",
    "case_list",
    "count_facets",
    "cursor_of",
    "filter_conditions",
    "scoped_conditions",
    "search_cases",
    "validate_filter",
]

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class CaseOrder(StrEnum):
    """Orderings, each backed by an index ending in ``id`` (the tie-breaker)."""

    CREATED_AT_DESC = "CREATED_AT_DESC"  # newest first (default): ix_cases_created
    CREATED_AT_ASC = "CREATED_AT_ASC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"  # ix_cases_updated
    UPDATED_AT_ASC = "UPDATED_AT_ASC"
    SLA_DUE_AT_ASC = "SLA_DUE_AT_ASC"  # most urgent first: ix_cases_sla_due


_ORDER_COLUMN = {
    CaseOrder.CREATED_AT_DESC: ("created_at", True),
    CaseOrder.CREATED_AT_ASC: ("created_at", False),
    CaseOrder.UPDATED_AT_DESC: ("updated_at", True),
    CaseOrder.UPDATED_AT_ASC: ("updated_at", False),
    CaseOrder.SLA_DUE_AT_ASC: ("sla_due_at", False),
}


@dataclass(frozen=True)
class CaseSearchResult:
    """A page of cases and what a client shows beside it.

    ``visible``: the cases of the page whose personal data (customer name, national ID and
    contact data, card digits, description, comments, timeline before/after) is shown in
    clear — :func:`scopes.pii_visible`, selected with the page; the others are masked.
    ``customers``: the page's customers as the principal sees them (the same rule).
    """

    page: Page[Case]
    view: CaseView
    visible: frozenset[uuid.UUID] = frozenset()
    total: int | None = None
    by_status: dict[str, int] | None = None
    by_typology: dict[str, int] | None = None
    customers: dict[uuid.UUID, CustomerView] = field(default_factory=dict)
    partners: dict[uuid.UUID, Partner] = field(default_factory=dict)

    def masked(self, case: Case) -> bool:
        return case.id not in self.visible


def scoped_conditions(
    principal: Principal, view: CaseView | str, f: CaseFilter | None, *, dialect: str
) -> tuple[list[sa.ColumnElement[bool]], CaseView]:
    """The view's scope AND the validated filter, and the view. (:class:`Forbidden` for a
    view the principal may not use.)"""
    try:
        chosen = CaseView(view)
    except ValueError:
        raise ValidationFailed.on("view", "must be OWN, ECOSYSTEM or NETWORK") from None
    scope = scopes.visible_to(principal, chosen)
    clean = validate_filter(f)
    return [scope, *filter_conditions(clean, principal=principal, dialect=dialect)], chosen


# --- keyset ---------------------------------------------------------------------------------
def _cursor_tag(order: CaseOrder) -> str:
    return f"cases.search.{order.value}.v1"


def _keyset(order: CaseOrder, after: str) -> sa.ColumnElement[bool]:
    cases = table_of(Case)
    name, descending = _ORDER_COLUMN[order]
    raw_value, raw_id = decode_cursor(after, _cursor_tag(order), 2)
    try:
        last_id = uuid.UUID(str(raw_id))
        value = (
            None
            if raw_value is None
            else ensure_utc(datetime.fromisoformat(str(raw_value).replace("Z", "+00:00")))
        )
    except (ValueError, NaiveDatetimeError):
        raise ValidationFailed.on("after", "this cursor is not valid") from None
    key = cases.c[name]
    id_literal = sa.literal(last_id, type_=UUIDType)
    if value is None:
        if name != "sla_due_at":
            raise ValidationFailed.on("after", "this cursor is not valid")
        # NULLs sort last: after a NULL key come only NULL keys with a greater id.
        return sa.and_(key.is_(None), cases.c.id > id_literal)
    pair = sa.tuple_(key, cases.c.id)
    bound = sa.tuple_(sa.literal(value, type_=UTCDateTime()), id_literal)
    if descending:
        return pair < bound
    condition = pair > bound
    if name == "sla_due_at":
        condition = sa.or_(condition, key.is_(None))
    return condition


def _order_by(order: CaseOrder) -> list[sa.ColumnElement[Any]]:
    cases = table_of(Case)
    name, descending = _ORDER_COLUMN[order]
    key = cases.c[name]
    if descending:
        return [key.desc(), cases.c.id.desc()]
    if name == "sla_due_at":
        return [key.asc().nulls_last(), cases.c.id.asc()]
    return [key.asc(), cases.c.id.asc()]


def cursor_of(case: Case, order: CaseOrder) -> str:
    name, _ = _ORDER_COLUMN[order]
    value = getattr(case, name)
    return encode_cursor(
        _cursor_tag(order), isoformat(value) if value is not None else None, str(case.id)
    )


# --- the search -----------------------------------------------------------------------------
async def _facets(
    session: AsyncSession, conditions: Sequence[sa.ColumnElement[bool]]
) -> tuple[int, dict[str, int], dict[str, int]]:
    """Total and both facets from one ``GROUP BY status, typology`` (at most
    statuses x typologies rows)."""
    cases = table_of(Case)
    stmt = (
        sa.select(cases.c.status, cases.c.typology_code, sa.func.count())
        .where(*conditions)
        .group_by(cases.c.status, cases.c.typology_code)
    )
    total = 0
    by_status: dict[str, int] = {}
    by_typology: dict[str, int] = {}
    for status, typology, count in (await session.execute(stmt)).all():
        total += count
        by_status[status] = by_status.get(status, 0) + count
        by_typology[typology] = by_typology.get(typology, 0) + count
    return total, by_status, by_typology


def _partner_ids(items: Iterable[Case]) -> set[uuid.UUID]:
    out: set[uuid.UUID] = set()
    for case in items:
        out.add(case.originating_partner_id)
        out.add(case.handling_partner_id)
        if case.pending_derivation_to is not None:
            out.add(case.pending_derivation_to)
        if case.escalated_to is not None:
            out.add(case.escalated_to)
    return out


def case_list(
    principal: Principal,
    *,
    view: CaseView | str,
    filter: CaseFilter | None = None,
    order_by: CaseOrder | str = CaseOrder.CREATED_AT_DESC,
    first: int | None = None,
    after: str | None = None,
    dialect: str,
) -> tuple[KeysetQuery, CaseView]:
    """The page of cases ``principal`` sees in ``view`` that match ``filter``: the query
    every read path selects from (:func:`search_cases`, compiled reads), and the view.

    Raises :class:`Forbidden` for a view the principal may not use and
    :class:`ValidationFailed` for a bad filter, ordering, page size or cursor."""
    try:
        order = CaseOrder(order_by)
    except ValueError:
        names = ", ".join(o.value for o in CaseOrder)
        raise ValidationFailed.on("orderBy", f"must be one of {names}") from None
    limit = clamp_page_size(first, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
    conditions, chosen = scoped_conditions(principal, view, filter, dialect=dialect)
    name, _ = _ORDER_COLUMN[order]
    tag = _cursor_tag(order)

    def cursor(value: datetime | None, case_id: uuid.UUID) -> str:
        return encode_cursor(tag, isoformat(value) if value is not None else None, str(case_id))

    query = KeysetQuery(
        table=table_of(Case),
        conditions=tuple(conditions),
        keyset=(_keyset(order, after),) if after else (),
        order_by=tuple(_order_by(order)),
        limit=limit,
        after=after,
        cursor_keys=(name, "id"),
        cursor=cursor,
        skip_empty=True,
    )
    return query, chosen


count_facets = _facets


async def search_cases(
    session: AsyncSession,
    *,
    principal: Principal,
    view: CaseView | str,
    filter: CaseFilter | None = None,
    order_by: CaseOrder | str = CaseOrder.CREATED_AT_DESC,
    first: int | None = None,
    after: str | None = None,
    with_total: bool = False,
    with_facets: bool = False,
    with_related: bool = True,
) -> CaseSearchResult:
    """A page of the cases ``principal`` sees in ``view`` that match ``filter``
    (:func:`case_list`, read whole).

    ``with_total`` / ``with_facets``: the total and the counts by status and by typology
    (one extra statement for both). ``with_related``: the customers and partners the page
    names (one statement each). Raises :class:`Forbidden` for a view the principal may not
    use and :class:`ValidationFailed` for a bad filter, ordering, page size or cursor.
    """
    query, chosen = case_list(
        principal,
        view=view,
        filter=filter,
        order_by=order_by,
        first=first,
        after=after,
        dialect=dialect_of(session),
    )
    items: list[Case] = []
    visible: set[uuid.UUID] = set()
    has_next = False
    if query.reads_rows:
        stmt = query.statement(Case, scopes.pii_visible(principal).label("pii_visible"))
        rows, has_next = query.cut(list((await session.execute(stmt)).all()))
        items = [case for case, _ in rows]
        visible = {case.id for case, shown in rows if shown}
    total = by_status = by_typology = None
    if with_total or with_facets:
        count, statuses, typologies = await _facets(session, query.conditions)
        total = count if with_total else None
        if with_facets:
            by_status, by_typology = statuses, typologies
    customers: dict[uuid.UUID, CustomerView] = {}
    partners: dict[uuid.UUID, Partner] = {}
    if with_related and items:
        customers = await customers_service.read_customers(
            session, principal=principal, ids=sorted({c.customer_id for c in items})
        )
        rows_p = await session.execute(
            sa.select(Partner).where(table_of(Partner).c.id.in_(sorted(_partner_ids(items))))
        )
        partners = {p.id: p for p in rows_p.scalars().all()}
    page = Page(
        items=items,
        cursors=[query.cursor_of(c) for c in items],
        has_next=has_next,
        has_previous=query.has_previous,
        total=total,
    )
    return CaseSearchResult(
        page=page,
        view=chosen,
        visible=frozenset(visible),
        total=total,
        by_status=by_status,
        by_typology=by_typology,
        customers=customers,
        partners=partners,
    )

"""Reading cases: by id, by reference, the unified search, the typology catalog and the
homologation tables. (Changes are in ``resolvers.case_mutations``; mass resolution and the
case event stream in ``resolvers.case_streams``.)

Permission is checked before any argument is judged, so an answer never depends on an
argument the caller had no right to send. Which cases are visible, and what of them is
masked, is decided by the domain (``domain.cases.scopes``, ``domain.cases.presenters``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay
from strawberry.types import Info

from app.db import read_session
from domain.cases import homologation, scopes, search, typologies
from domain.cases import service as cases
from domain.cases.models import Case as CaseModel
from domain.customers import service as customers
from domain.shared.errors import NotFound, Problems
from domain.shared.principal import Principal
from resolvers.context import principal_of
from resolvers.ids import decode_node_id
from resolvers.pagination import selects
from schema.case_homologation import StatusMappingTable, StatusMappingVersion
from schema.case_search import (
    CaseConnection,
    CaseFacets,
    CaseFilter,
    CaseOrder,
    CaseStatusCount,
    CaseTypologyCount,
)
from schema.cases import Case, CaseStatus, CaseTypology, CaseView
from schema.common import Edge


async def present_in(
    info: Info, session: AsyncSession, principal: Principal, model: CaseModel
) -> Case:
    """A case as the caller sees it, decided in ``session`` (a mutation's own transaction:
    what holds once it commits, e.g. the partner that just opened a case is involved)."""
    visible = await scopes.pii_visible_cases(session, principal, [model.id])
    loaders = info.context.loaders
    loaders.cases.visible(principal).prime(model.id, model, force=True)
    loaders.cases.pii_visible(principal).prime(model.id, model.id in visible, force=True)
    shown = await customers.read_customers(session, principal=principal, ids=[model.customer_id])
    loaders.prime_customers(principal, shown.values())
    return Case.from_model(model, principal=principal, masked=model.id not in visible)


async def case(info: Info, id: strawberry.ID) -> Case | None:
    principal = principal_of(info)
    scopes.ensure_can_read(principal)  # before the id, so the answer never depends on it
    key = decode_node_id(id, "Case")
    if key is None:
        return None
    async with read_session() as session:
        try:
            model = await cases.get_case(session, principal=principal, case_id=key)
        except NotFound:
            return None
        return await present_in(info, session, principal, model)


async def case_by_reference(info: Info, reference: str) -> Case | None:
    principal = principal_of(info)
    scopes.ensure_can_read(principal)
    async with read_session() as session:
        try:
            model = await cases.get_case_by_reference(
                session, principal=principal, reference=reference
            )
        except NotFound:
            return None
        return await present_in(info, session, principal, model)


async def case_typologies(info: Info, include_inactive: bool = False) -> list[CaseTypology]:
    principal_of(info)  # any signed-in caller: the catalog holds no personal data
    async with read_session() as session:
        rows = await typologies.list_typologies(session, active_only=not include_inactive)
    for row in rows:
        info.context.loaders.cases.typology.prime(row.code, row)
    return [CaseTypology.from_model(r) for r in rows]


# --- homologation -----------------------------------------------------------------------
async def status_mappings(
    info: Info,
    partner_id: strawberry.ID,
    version: int | None = None,
    at: datetime | None = None,
) -> StatusMappingTable | None:
    principal = principal_of(info)
    scopes.ensure_can_read(principal)
    key = decode_node_id(partner_id, "Partner")
    if key is None:
        return None
    async with read_session() as session:
        try:
            table = await homologation.get_mapping(
                session, principal=principal, partner_id=key, version=version, at=at
            )
        except NotFound:
            return None
    return StatusMappingTable.from_domain(table)


async def status_mapping_versions(
    info: Info, partner_id: strawberry.ID
) -> list[StatusMappingVersion]:
    principal = principal_of(info)
    scopes.ensure_can_read(principal)
    key = decode_node_id(partner_id, "Partner")
    if key is None:
        return []
    async with read_session() as session:
        try:
            versions = await homologation.list_versions(
                session, principal=principal, partner_id=key
            )
        except NotFound:
            return []
    return [StatusMappingVersion.from_domain(v) for v in versions]


# --- search -----------------------------------------------------------------------------
def _ids(problems: Problems, field: str, values: Sequence[str] | None) -> list[uuid.UUID] | None:
    if values is None:
        return None
    out: list[uuid.UUID] = []
    for value in values:
        key = decode_node_id(value, "Partner")
        if key is None:
            problems.add(field, "is not the id of a Partner")
            return None
        out.append(key)
    return out


def to_domain_filter(value: CaseFilter | None) -> search.CaseFilter | None:
    """The GraphQL filter as the domain's (ids decoded; every value checked there)."""
    if value is None:
        return None
    problems = Problems()
    customer = None
    if value.customer_id is not None:
        customer = decode_node_id(value.customer_id, "Customer")
        if customer is None:
            problems.add("filter.customerId", "is not the id of a Customer")
    originating = _ids(problems, "filter.originatingPartnerIds", value.originating_partner_ids)
    handling = _ids(problems, "filter.handlingPartnerIds", value.handling_partner_ids)
    problems.raise_if_any()
    return search.CaseFilter(
        statuses=list(value.statuses) if value.statuses is not None else None,
        typologies=value.typologies,
        originating_partner_ids=originating,
        handling_partner_ids=handling,
        priorities=list(value.priorities) if value.priorities is not None else None,
        sla_states=list(value.sla_states) if value.sla_states is not None else None,
        created_from=value.created_from,
        created_to=value.created_to,
        updated_from=value.updated_from,
        updated_to=value.updated_to,
        customer_id=customer,
        pending_derivation=value.pending_derivation,
        text=value.text,
    )


def _facets(result: search.CaseSearchResult) -> CaseFacets | None:
    if result.by_status is None or result.by_typology is None:
        return None
    return CaseFacets(
        by_status=[
            CaseStatusCount(status=CaseStatus(s), count=n)
            for s, n in sorted(result.by_status.items())
        ],
        by_typology=[
            CaseTypologyCount(code=c, count=n) for c, n in sorted(result.by_typology.items())
        ],
    )


async def cases_search(
    info: Info,
    view: CaseView = CaseView.OWN,
    filter: CaseFilter | None = None,
    order_by: CaseOrder = CaseOrder.CREATED_AT_DESC,
    first: int | None = None,
    after: str | None = None,
) -> CaseConnection:
    principal = principal_of(info)
    scopes.ensure_can_search(principal)  # before any argument is judged
    domain_filter = to_domain_filter(filter)
    return await _search(info, principal, view, domain_filter, order_by, first, after)


async def my_cases(
    info: Info, first: int | None = None, after: str | None = None
) -> CaseConnection:
    """The calling customer's own cases, newest first (customer tokens)."""
    principal = principal_of(info)
    scopes.ensure_customer(principal)
    return await _search(
        info, principal, CaseView.OWN, None, CaseOrder.CREATED_AT_DESC, first, after
    )


async def _search(
    info: Info,
    principal: Principal,
    view: CaseView,
    domain_filter: search.CaseFilter | None,
    order_by: CaseOrder,
    first: int | None,
    after: str | None,
) -> CaseConnection:
    async with read_session() as session:
        result = await search.search_cases(
            session,
            principal=principal,
            view=view,
            filter=domain_filter,
            order_by=order_by,
            first=first,
            after=after,
            with_total=selects(info, "totalCount"),
            with_facets=selects(info, "facets"),
        )
    loaders = info.context.loaders
    loaders.prime_customers(principal, result.customers.values())
    for key, partner in result.partners.items():
        loaders.partner.prime(key, partner)
    page = result.page
    edges = [
        Edge(cursor=c, node=Case.from_model(m, principal=principal, masked=result.masked(m)))
        for m, c in zip(page.items, page.cursors, strict=True)
    ]
    return CaseConnection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        total_count=result.total,
        facets=_facets(result),
    )

"""The unified case search: filter, ordering, and a connection with facet counts."""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import strawberry
from strawberry import relay

from domain.cases.search import CaseOrder as CaseOrderEnum
from schema.cases import Case, CasePriority, CaseSlaState, CaseStatus
from schema.common import Edge

strawberry.enum(
    CaseOrderEnum,
    name="CaseOrder",
    description="Orderings, each on an index: newest first by default; SLA_DUE_AT_ASC puts "
    "the most urgent first.",
)
CaseOrder: TypeAlias = CaseOrderEnum


@strawberry.input(
    description="Every field is optional; fields combine with AND, the values of one list "
    "with OR. Ranges include `…From` and exclude `…To`. The filter narrows the view, never "
    "widens it."
)
class CaseFilter:
    statuses: list[CaseStatus] | None = None
    typologies: list[str] | None = strawberry.field(default=None, description="Typology codes.")
    originating_partner_ids: list[strawberry.ID] | None = None
    handling_partner_ids: list[strawberry.ID] | None = None
    priorities: list[CasePriority] | None = None
    sla_states: list[CaseSlaState] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    customer_id: strawberry.ID | None = None
    pending_derivation: bool | None = strawberry.field(
        default=None,
        description="true: only cases waiting for a partner to accept them; false: the others.",
    )
    text: str | None = strawberry.field(
        default=None,
        description="Network reference, customer name, national ID or description words "
        "(the reference only when personal data is masked for you).",
    )


@strawberry.type
class CaseStatusCount:
    status: CaseStatus
    count: int


@strawberry.type
class CaseTypologyCount:
    code: str
    count: int


@strawberry.type(description="How many cases match the same filter, by status and typology.")
class CaseFacets:
    by_status: list[CaseStatusCount]
    by_typology: list[CaseTypologyCount]


@strawberry.type(description="A page of cases, with keyset cursors.")
class CaseConnection:
    edges: list[Edge[Case]]
    page_info: relay.PageInfo
    total_count: int | None = strawberry.field(
        description="How many cases match, counted only when you ask for it."
    )
    facets: CaseFacets | None = strawberry.field(
        description="Counted only when you ask for it (with totalCount: one statement)."
    )

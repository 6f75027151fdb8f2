"""Cases: the search (every view, filter, ordering, facets, totalCount), ``myCases``, one
case by id or reference, ``node``; the case's customer, typology, partners, partner
statuses, timeline and comments. Visibility is :func:`domain.cases.scopes.visible_to`,
masking :func:`domain.cases.scopes.pii_visible` and :mod:`domain.cases.presenters`."""

from __future__ import annotations

import operator
from collections import namedtuple
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.compiled.catalog import CATALOG
from app.compiled.catalog.common import money
from app.compiled.catalog.customers import NATIONAL_ID_BIND
from app.compiled.catalog.customers import pii_visible as customer_pii_visible
from app.compiled.plan import global_id
from app.compiled.roots import NODES, ROOTS, ListRoot, NodeRule, OneRoot
from app.compiled.spec import (
    PRINCIPAL,
    SELF,
    Derived,
    Items,
    Many,
    Obj,
    One,
    Pages,
    TypeSpec,
    Up,
    Val,
    computed,
)
from domain.cases import batches, journal, presenters, references, scopes, search
from domain.cases.batches import NestedPage
from domain.cases.models import Case, CaseComment, CaseEvent, CasePartnerStatus, CaseTypology
from domain.cases.scopes import CaseView
from domain.cases.search import CaseOrder
from domain.customers import views
from domain.customers.models import Customer
from domain.shared.models import table_of
from domain.shared.pagination import clamp_page_size
from domain.shared.reads import KeysetQuery, NestedQuery
from domain.shared.sql import dialect_of
from resolvers.cases import to_domain_filter
from resolvers.ids import decode_node_id

CASES = table_of(Case)


def case_pii_visible(req: Any, table: sa.FromClause) -> sa.ColumnElement[bool]:
    """Whether the case row's personal data is shown (the customers' rule on its customer)."""
    return scopes.pii_visible(req.principal)


def _is_set(value: object) -> bool:
    return value is not None


#: The case is masked for the caller (inputs of a case row).
MASKED = computed(operator.not_, "pii")
#: The same, from a row under the case (its timeline entries and comments).
CASE_MASKED = computed(operator.not_, Up("pii"))

CASE = TypeSpec(
    "Case",
    table=CASES,
    derived={"pii": Derived(case_pii_visible, base_only=True)},
    fields={
        "id": Val("id", global_id("Case")),
        "reference": Val("reference"),
        "cardLast4": Val(computed(presenters.card_last4, "card_last4", MASKED)),
        "typologyCode": Val("typology_code"),
        "channel": Val("channel"),
        "priority": Val("priority"),
        "status": Val("status"),
        "statusChangedAt": Val("status_changed_at"),
        "description": Val(computed(presenters.required_text, "description", MASKED)),
        "amountInDispute": money("amount_in_dispute_minor", "amount_in_dispute_currency"),
        "pendingDerivation": Obj("PendingDerivation", null_if="pending_derivation_to"),
        "slaStartedAt": Val("sla_started_at"),
        "slaDueAt": Val("sla_due_at"),
        "slaState": Val("sla_state"),
        "slaPaused": Val(computed(_is_set, "sla_paused_at")),
        "escalated": Val(computed(_is_set, "escalated_at")),
        "escalatedAt": Val("escalated_at"),
        "resolution": Obj("CaseResolution", null_if="resolution_code"),
        "version": Val("version"),
        "createdAt": Val("created_at"),
        "updatedAt": Val("updated_at"),
        "resolvedAt": Val("resolved_at"),
        "closedAt": Val("closed_at"),
        "piiMasked": Val(MASKED),
        "viewerCanAct": Val(computed(scopes.can_act_for, PRINCIPAL, "handling_partner_id")),
        "viewerCanAnswerDerivation": Val(
            computed(scopes.can_answer_derivation_to, PRINCIPAL, "pending_derivation_to")
        ),
        "customer": One("CaseCustomer", key="customer_id"),
        "typology": One("CaseTypology", key="typology_code"),
        "originatingPartner": One("Partner", key="originating_partner_id"),
        "handlingPartner": One("Partner", key="handling_partner_id"),
        "pendingDerivationTo": One("Partner", key="pending_derivation_to"),
        "escalatedTo": One("Partner", key="escalated_to"),
        "partnerStatuses": Many(
            "CasePartnerStatus", key="id", parent="case_id", query=lambda *a: _statuses(*a)
        ),
        "timeline": Pages(
            "CaseTimelineConnection",
            node="CaseTimelineEntry",
            key="id",
            parent="case_id",
            needs=("originating_partner_id", "handling_partner_id", "pending_derivation_to"),
            query=lambda *a: _nested(batches.timeline_query, *a),
            cursor_keys=("seq",),
        ),
        "comments": Pages(
            "CaseCommentConnection",
            node="CaseComment",
            key="id",
            parent="case_id",
            needs=("originating_partner_id", "handling_partner_id", "pending_derivation_to"),
            query=lambda *a: _nested(batches.comments_query, *a),
            cursor_keys=("created_at", "id"),
        ),
    },
)

PENDING_DERIVATION = TypeSpec(
    "PendingDerivation",
    fields={
        "reason": Val(computed(presenters.text, "pending_derivation_reason", MASKED)),
        "requestedAt": Val("pending_derivation_at"),
        "to": One("Partner", key="pending_derivation_to"),
    },
)

RESOLUTION = TypeSpec(
    "CaseResolution",
    fields={
        "code": Val("resolution_code"),
        "note": Val(computed(presenters.text, "resolution_note", MASKED)),
        "amountRefunded": money("resolution_refund_minor", "resolution_refund_currency"),
        "resolvedAt": Val("resolved_at"),
    },
)

CASE_CUSTOMER = TypeSpec(
    "CaseCustomer",
    table=table_of(Customer),
    derived={"pii": Derived(customer_pii_visible)},
    fields={
        "id": Val("id", global_id("Customer")),
        "name": Val(computed(views.shown_full_name, "given_names", "family_names", "pii")),
        "nationalId": Obj("NationalId", NATIONAL_ID_BIND),
        "piiMasked": Val(computed(operator.not_, "pii")),
    },
)

TYPOLOGY = TypeSpec(
    "CaseTypology",
    table=table_of(CaseTypology),
    key="code",
    fields={
        "code": Val("code"),
        "name": Val("name"),
        "description": Val("description"),
        "defaultPriority": Val("default_priority"),
        "slaBusinessDays": Val("sla_business_days"),
        "slaHours": Val("sla_hours"),
        "requiresAmount": Val("requires_amount"),
        "requiresCard": Val("requires_card"),
        "active": Val("active"),
    },
)

PARTNER_STATUS = TypeSpec(
    "CasePartnerStatus",
    table=table_of(CasePartnerStatus),
    fields={
        "partnerStatusCode": Val("partner_status_code"),
        "externalRef": Val("external_ref"),
        "lastExternalVersion": Val("last_external_version"),
        "lastReportedAt": Val("last_reported_at"),
        "lastSyncedVersion": Val("last_synced_version"),
        "lastSyncedAt": Val("last_synced_at"),
        "lastSyncAttemptAt": Val("last_sync_attempt_at"),
        "lastSyncError": Val("last_sync_error"),
        "involvedSince": Val("involved_since"),
        "partner": One("Partner", key="partner_id"),
    },
)

TIMELINE_ENTRY = TypeSpec(
    "CaseTimelineEntry",
    table=table_of(CaseEvent),
    fields={
        "seq": Val("seq"),
        "at": Val("at"),
        "kind": Val("kind"),
        "actor": Val(computed(presenters.hidden, "actor_subject", CASE_MASKED)),
        "visibility": Val("visibility"),
        "before": Val(computed(presenters.changes, "before", CASE_MASKED)),
        "after": Val(computed(presenters.changes, "after", CASE_MASKED)),
        "note": Val(computed(presenters.text, "note", CASE_MASKED)),
        "actorPartner": One("Partner", key="actor_partner_id"),
    },
)

COMMENT = TypeSpec(
    "CaseComment",
    table=table_of(CaseComment),
    fields={
        "id": Val("id", str),
        "authorName": Val(computed(presenters.hidden, "author_name", CASE_MASKED)),
        "visibility": Val("visibility"),
        "body": Val(computed(presenters.required_text, "body", CASE_MASKED)),
        "createdAt": Val("created_at"),
        "authorPartner": One("Partner", key="author_partner_id"),
    },
)

#: Facet counts (object-backed: the search's counts, in the resolver's order).
Count = namedtuple("Count", "key count")
FacetsValue = namedtuple("FacetsValue", "by_status by_typology")

CONNECTION = TypeSpec("CaseConnection", fields={"facets": Obj("CaseFacets", null_if=SELF)})
FACETS = TypeSpec(
    "CaseFacets",
    fields={
        "byStatus": Items("CaseStatusCount", "by_status"),
        "byTypology": Items("CaseTypologyCount", "by_typology"),
    },
)
STATUS_COUNT = TypeSpec("CaseStatusCount", fields={"status": Val("key"), "count": Val("count")})
TYPOLOGY_COUNT = TypeSpec("CaseTypologyCount", fields={"code": Val("key"), "count": Val("count")})

CATALOG.add(
    CASE,
    PENDING_DERIVATION,
    RESOLUTION,
    CASE_CUSTOMER,
    TYPOLOGY,
    PARTNER_STATUS,
    TIMELINE_ENTRY,
    COMMENT,
    CONNECTION,
    FACETS,
    STATUS_COUNT,
    TYPOLOGY_COUNT,
)


# --- lists under a case ---------------------------------------------------------------------
def _statuses(req: Any, case_ids: list[Any], args: dict[str, Any]) -> Any:
    if scopes.is_customer_only(req.principal):
        return None  # staff only: empty for a customer reading their own case
    return batches.partner_statuses_query(case_ids)


@dataclass
class Involvement:
    """The partners a case row names (what :func:`presenters.involved_partners` reads)."""

    originating_partner_id: Any
    handling_partner_id: Any
    pending_derivation_to: Any


async def _nested(
    build: Any, req: Any, args: dict[str, Any], parents: dict[Any, tuple[Any, ...]]
) -> list[NestedQuery]:
    """Pages of a case's timeline or comments: internal entries only for the involved
    partners' staff (:func:`presenters.sees_internal`), decided per case."""
    settings = req.settings
    limit = clamp_page_size(
        args.get("first"), default=settings.default_page_size, maximum=settings.max_page_size
    )
    after = args.get("after")
    principal = req.principal
    groups: dict[bool, list[Any]] = {}
    if principal.is_admin:
        groups[False] = list(parents)
    else:
        statuses = await journal.involved_partners_of(req.session, list(parents))
        for case_id, values in parents.items():
            involved = presenters.involved_partners(Involvement(*values), statuses[case_id])
            hidden = not presenters.sees_internal(principal, involved)
            groups.setdefault(hidden, []).append(case_id)
    return [build(ids, NestedPage(limit, after, hidden)) for hidden, ids in groups.items()]


# --- roots ----------------------------------------------------------------------------------
def _search(
    req: Any,
    view: Any,
    domain_filter: Any,
    order_by: Any,
    first: int | None,
    after: str | None,
) -> KeysetQuery:
    query, _ = search.case_list(
        req.principal,
        view=view,
        filter=domain_filter,
        order_by=order_by,
        first=first,
        after=after,
        dialect=dialect_of(req.session),
    )
    return query


def _cases(req: Any, args: dict[str, Any]) -> KeysetQuery:
    scopes.ensure_can_search(req.principal)  # before any argument is judged
    domain_filter = to_domain_filter(args.get("filter"))
    return _search(
        req,
        args.get("view", CaseView.OWN),
        domain_filter,
        args.get("order_by", CaseOrder.CREATED_AT_DESC),
        args.get("first"),
        args.get("after"),
    )


def _my_cases(req: Any, args: dict[str, Any]) -> KeysetQuery:
    scopes.ensure_customer(req.principal)
    return _search(
        req, CaseView.OWN, None, CaseOrder.CREATED_AT_DESC, args.get("first"), args.get("after")
    )


async def _counts(
    req: Any, query: KeysetQuery, with_total: bool, with_facets: bool
) -> tuple[int | None, Any]:
    """The total and the facets from one ``GROUP BY`` (the search's own statement)."""
    count, statuses, typologies = await search.count_facets(req.session, query.conditions)
    facets = None
    if with_facets:
        facets = FacetsValue(
            [Count(s, n) for s, n in sorted(statuses.items())],
            [Count(c, n) for c, n in sorted(typologies.items())],
        )
    return (count if with_total else None), facets


def _visible(req: Any, table: sa.FromClause) -> sa.ColumnElement[bool]:
    return scopes.visible_to(req.principal, scopes.widest_view(req.principal))


def _case(req: Any, args: dict[str, Any]) -> Any:
    scopes.ensure_can_read(req.principal)  # before the id, so the answer never depends on it
    return decode_node_id(args["id"], "Case")


def _case_by_reference(req: Any, args: dict[str, Any]) -> Any:
    scopes.ensure_can_read(req.principal)
    return references.normalise(args["reference"])


_CURSOR_KEYS = ("created_at", "updated_at", "sla_due_at", "id")
ROOTS["cases"] = ListRoot(
    "Case", _cases, _CURSOR_KEYS, counts=_counts, extra_fields=frozenset({"facets"})
)
ROOTS["myCases"] = ListRoot(
    "Case", _my_cases, _CURSOR_KEYS, counts=_counts, extra_fields=frozenset({"facets"})
)
ROOTS["case"] = OneRoot("Case", _case, visible=_visible)
ROOTS["caseByReference"] = OneRoot("Case", _case_by_reference, visible=_visible, column="reference")
NODES["Case"] = NodeRule(check=lambda req: scopes.ensure_can_read(req.principal), visible=_visible)

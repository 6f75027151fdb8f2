from __future__ import annotations

import strawberry

from resolvers import case_mutations as m
from resolvers import case_streams as s
from resolvers import cases as r
from schema.case_bulk import BulkResolution, CaseEvent, ResolveCasesPayload
from schema.case_homologation import (
    StatusMappingTable,
    StatusMappingVersion,
    UpdateStatusMappingPayload,
)
from schema.case_inputs import (
    AcceptDerivationPayload,
    AddCaseCommentPayload,
    DeriveCasePayload,
    OpenCasePayload,
    RejectDerivationPayload,
    ResolveCasePayload,
    TransitionCasePayload,
    UpdateCasePayload,
)
from schema.case_search import CaseConnection
from schema.cases import Case, CaseTypology


@strawberry.type
class CaseQuery:
    case: Case | None = strawberry.field(
        resolver=r.case, description="A case by id; null if it does not exist or you cannot see it."
    )
    case_by_reference: Case | None = strawberry.field(
        resolver=r.case_by_reference, description="A case by its network reference."
    )
    cases: CaseConnection = strawberry.field(
        resolver=r.cases_search,
        description="The cases you see in a view, filtered and ordered, with facet counts. "
        "Staff only: a customer uses myCases.",
    )
    my_cases: CaseConnection = strawberry.field(
        resolver=r.my_cases,
        description="The calling customer's own cases, newest first (customer tokens), with "
        "what the customer may see: their comments and attachments, not internal notes.",
    )
    case_typologies: list[CaseTypology] = strawberry.field(
        resolver=r.case_typologies, description="The typology catalog, by code."
    )
    status_mappings: StatusMappingTable | None = strawberry.field(
        resolver=r.status_mappings,
        description="A partner's homologation table: the one in force (or at `at`), or a "
        "`version`. Case administrators read every partner's; staff read their own.",
    )
    status_mapping_versions: list[StatusMappingVersion] = strawberry.field(
        resolver=r.status_mapping_versions,
        description="Every version of a partner's homologation table, newest first.",
    )
    bulk_resolution: BulkResolution | None = strawberry.field(
        resolver=s.bulk_resolution,
        description="A mass resolution job (its requester, its partner's supervisors, admins).",
    )


@strawberry.type
class CaseMutation:
    open_case: OpenCasePayload = strawberry.mutation(resolver=m.open_case)
    update_case: UpdateCasePayload = strawberry.mutation(
        resolver=m.update_case, description="Correct a case's details (the handling partner)."
    )
    transition_case: TransitionCasePayload = strawberry.mutation(
        resolver=m.transition_case, description="Move a case to another canonical status."
    )
    resolve_case: ResolveCasePayload = strawberry.mutation(
        resolver=m.resolve_case, description="Resolve a case with a code, a note and a refund."
    )
    add_case_comment: AddCaseCommentPayload = strawberry.mutation(
        resolver=m.add_case_comment,
        description="An internal note or a customer-visible message (any involved partner).",
    )
    derive_case: DeriveCasePayload = strawberry.mutation(
        resolver=m.derive_case, description="Ask another active partner to take the case."
    )
    accept_derivation: AcceptDerivationPayload = strawberry.mutation(
        resolver=m.accept_derivation, description="Take a case derived to your partner."
    )
    reject_derivation: RejectDerivationPayload = strawberry.mutation(
        resolver=m.reject_derivation, description="Decline a case derived to your partner."
    )
    update_status_mapping: UpdateStatusMappingPayload = strawberry.mutation(
        resolver=m.update_status_mapping,
        description="Write a new version of a partner's homologation table (case admins; "
        "audited; older versions stay).",
    )
    resolve_cases: ResolveCasesPayload = strawberry.mutation(
        resolver=s.resolve_cases,
        description="Resolve many cases at once, as a job: returns it at once; follow it with "
        "`bulkResolution` or `bulkResolutionProgress`.",
    )


@strawberry.type
class CaseSubscription:
    case_events: CaseEvent = strawberry.subscription(  # type: ignore[assignment]
        resolver=s.case_events,
        description="Events of your partner's cases (OWN) or of every case it is involved in "
        "(ECOSYSTEM), in delivery order; with `after` it first replays what you missed.",
    )
    bulk_resolution_progress: BulkResolution = strawberry.subscription(  # type: ignore[assignment]
        resolver=s.bulk_resolution_progress,
        description="A mass resolution each time its progress changes, until it is done.",
    )

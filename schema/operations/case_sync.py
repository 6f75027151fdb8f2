"""Root fields of case synchronization with partner platforms."""

from __future__ import annotations

import strawberry

from resolvers import case_sync as r
from schema.case_sync import (
    CaseSyncStatus,
    CloseInboundReviewPayload,
    InboundReportReviewConnection,
    PartnerConnector,
    ReportPartnerCaseStatusPayload,
    UpsertPartnerConnectorPayload,
)


@strawberry.type
class CaseSyncQuery:
    partner_connector: PartnerConnector | None = strawberry.field(
        resolver=r.partner_connector,
        description="A partner's connector, secrets left out (case administrators).",
    )
    case_sync_status: CaseSyncStatus | None = strawberry.field(
        resolver=r.case_sync_status,
        description=(
            "How far each involved partner's platform got with a case: last version synced, "
            "last error. Case administrators see every partner; others their own."
        ),
    )
    inbound_reviews: InboundReportReviewConnection = strawberry.field(
        resolver=r.inbound_reviews,
        description=(
            "Refused status reports kept for review, oldest first (case administrators: all; "
            "a partner's staff: their platform's)."
        ),
    )


@strawberry.type
class CaseSyncMutation:
    upsert_partner_connector: UpsertPartnerConnectorPayload = strawberry.mutation(
        resolver=r.upsert_partner_connector,
        description=(
            "Create a partner's connector or change it (enable/disable with `enabled`); "
            "audited. Secrets are write-only."
        ),
    )
    report_partner_case_status: ReportPartnerCaseStatusPayload = strawberry.mutation(
        resolver=r.report_partner_case_status,
        description=(
            "Partner systems: report your platform's status of a case. It is homologated "
            "and applied through the state machine; duplicates and older versions are "
            "recognised and ignored; a status with no mapping or an impossible move is "
            "refused with an error and kept for review."
        ),
    )
    close_inbound_review: CloseInboundReviewPayload = strawberry.mutation(
        resolver=r.close_inbound_review,
        description="Close a refused report kept for review (case administrators; audited).",
    )

"""Synchronization of cases with partner platforms: connectors (admin), inbound status
reports from partner systems, each partner's sync state of a case, the review queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers.ids import encode_node_id
from schema.cases import Case, CaseStatus
from schema.common import Connection
from schema.errors import (
    ConflictError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from schema.partners import Partner
from schema.scalars import Long


async def _partner(info: Info, partner_id: uuid.UUID) -> Partner | None:
    model = await info.context.loaders.partner.load(partner_id)
    return Partner.from_model(model) if model is not None else None


# --- connectors -------------------------------------------------------------------------
@strawberry.enum(description="How Trama authenticates to a partner's platform.")
class ConnectorAuthType(Enum):
    NONE = "NONE"
    BEARER = "BEARER"
    BASIC = "BASIC"
    OAUTH2_CLIENT_CREDENTIALS = "OAUTH2_CLIENT_CREDENTIALS"


@strawberry.type(
    description=(
        "How Trama reaches a partner's platform to push case changes. Secrets are "
        "write-only: you see whether they are set and a fingerprint, never their value."
    )
)
class PartnerConnector:
    id: strawberry.ID
    partner_id: strawberry.ID = strawberry.field(description="The partner's global id.")
    endpoint_url: str = strawberry.field(description="Where case states are POSTed.")
    auth_type: ConnectorAuthType
    has_credentials: bool
    credentials_fingerprint: str | None = strawberry.field(
        description="`sha256:` and 12 hex digits of the credentials, to tell them apart."
    )
    signing_secret_fingerprint: str = strawberry.field(
        description="`sha256:` and 12 hex digits of the signing secret."
    )
    enabled: bool
    timeout_seconds: int
    created_at: datetime
    updated_at: datetime
    updated_by: str | None
    version: int = strawberry.field(description="Pass it as `expectedVersion` to change it.")
    partner_key: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def partner(self, info: Info) -> Partner | None:
        return await _partner(info, self.partner_key)


@strawberry.input(
    description="Create a partner's connector, or change it (secrets: leave out to keep)."
)
class UpsertPartnerConnectorInput:
    partner_id: strawberry.ID
    endpoint_url: str | None = strawberry.field(
        default=None,
        description="https URL (plain http only for a loopback host outside production).",
    )
    auth_type: ConnectorAuthType | None = None
    auth_credentials: str | None = strawberry.field(
        default=None,
        description=(
            "Write-only. BEARER: the token; BASIC: `user:password`; "
            'OAUTH2_CLIENT_CREDENTIALS: `{"token_url", "client_id", "client_secret", "scope"}` '
            "as JSON."
        ),
    )
    signing_secret: str | None = strawberry.field(
        default=None,
        description=(
            "Write-only; 32-200 visible characters. Requests carry `X-Trama-Signature: "
            "sha256=<hex HMAC-SHA256(secret, X-Trama-Timestamp + '.' + body)>`."
        ),
    )
    enabled: bool | None = None
    timeout_seconds: int | None = strawberry.field(default=None, description="1 to 30.")
    expected_version: int | None = strawberry.field(
        default=None, description="Leave out to create; the version you read to change."
    )


@strawberry.type
class UpsertPartnerConnectorSuccess:
    connector: PartnerConnector


UpsertPartnerConnectorPayload = Annotated[
    UpsertPartnerConnectorSuccess
    | ValidationError
    | NotFoundError
    | ForbiddenError
    | ConflictError,
    strawberry.union("UpsertPartnerConnectorPayload"),
]


# --- inbound reports --------------------------------------------------------------------
@strawberry.enum(description="What became of a partner platform's status report.")
class PartnerReportOutcome(Enum):
    APPLIED = strawberry.enum_value("APPLIED", description="The case moved to that status.")
    RECORDED = strawberry.enum_value(
        "RECORDED", description="Your platform's status was recorded; the case did not move."
    )
    DUPLICATE = strawberry.enum_value(
        "DUPLICATE", description="This version was already reported: nothing changed."
    )
    STALE = strawberry.enum_value(
        "STALE", description="An older version than one already reported: ignored."
    )


@strawberry.input(description="Your platform's status of a case, by our reference or yours.")
class ReportPartnerCaseStatusInput:
    case_ref: str | None = strawberry.field(
        default=None, description="The network reference, e.g. CS-2026-000123."
    )
    external_ref: str | None = strawberry.field(
        default=None,
        description="Your platform's reference for the case (given with caseRef, it is kept).",
    )
    partner_status: str = strawberry.field(description="Your platform's own status code.")
    occurred_at: datetime = strawberry.field(description="When it happened, with a time zone.")
    external_version: Long = strawberry.field(
        description="Your platform's version of the case: increasing with each change."
    )


@strawberry.type
class ReportPartnerCaseStatusSuccess:
    outcome: PartnerReportOutcome
    case_id: strawberry.ID = strawberry.field(description="The case's global id.")
    case_reference: str
    case_status: CaseStatus = strawberry.field(description="The case's canonical status now.")
    case_version: int
    canonical_status: CaseStatus | None = strawberry.field(
        description="What your status means in the network's vocabulary (null when ignored)."
    )
    case: Case


ReportPartnerCaseStatusPayload = Annotated[
    ReportPartnerCaseStatusSuccess
    | ValidationError
    | InvalidTransitionError
    | ConflictError
    | NotFoundError
    | ForbiddenError,
    strawberry.union("ReportPartnerCaseStatusPayload"),
]


# --- sync state -------------------------------------------------------------------------
@strawberry.type(description="How far one partner's platform got with a case.")
class PartnerSyncState:
    partner_id: strawberry.ID
    connector_enabled: bool
    last_synced_version: int | None = strawberry.field(
        description="The last version of the case the platform acknowledged."
    )
    last_synced_at: datetime | None
    last_sync_attempt_at: datetime | None
    last_sync_error: str | None = strawberry.field(
        description="Why the last push failed (cleared when one succeeds)."
    )
    in_sync: bool = strawberry.field(description="The platform has the case's current version.")
    partner_key: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def partner(self, info: Info) -> Partner | None:
        return await _partner(info, self.partner_key)


@strawberry.type(description="A case's synchronization with each involved partner's platform.")
class CaseSyncStatus:
    case_id: strawberry.ID
    reference: str
    version: int
    partners: list[PartnerSyncState]


# --- review queue -----------------------------------------------------------------------
@strawberry.enum(description="Where a refused report stands.")
class InboundReviewStatus(Enum):
    PENDING = "PENDING"
    DISMISSED = "DISMISSED"
    RESOLVED = "RESOLVED"


@strawberry.enum(description="Why a partner platform's report was refused.")
class InboundReviewReason(Enum):
    UNMAPPED_STATUS = "UNMAPPED_STATUS"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    VERSION_REUSED = "VERSION_REUSED"


@strawberry.type(description="A status report from a partner's platform that was refused.")
class InboundReportReview:
    id: strawberry.ID
    partner_id: strawberry.ID
    case_id: strawberry.ID | None
    case_reference: str | None
    external_ref: str | None
    partner_status: str
    canonical_status: CaseStatus | None
    case_status: CaseStatus | None = strawberry.field(description="The case's status when refused.")
    external_version: Long
    occurred_at: datetime
    reason: InboundReviewReason
    message: str
    reported_by: str
    received_at: datetime
    status: InboundReviewStatus
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None
    partner_key: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def partner(self, info: Info) -> Partner | None:
        return await _partner(info, self.partner_key)


InboundReportReviewConnection = Connection[InboundReportReview]


@strawberry.input(description="Close a refused report: DISMISSED or RESOLVED, with a note.")
class CloseInboundReviewInput:
    id: strawberry.ID
    status: InboundReviewStatus
    note: str


@strawberry.type
class CloseInboundReviewSuccess:
    review: InboundReportReview


CloseInboundReviewPayload = Annotated[
    CloseInboundReviewSuccess | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union("CloseInboundReviewPayload"),
]


def case_global_id(case_id: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(encode_node_id("Case", case_id))


def partner_global_id(partner_id: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(encode_node_id("Partner", partner_id))

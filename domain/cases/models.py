"""Network cases: the tables (SQLModel). GraphQL types are built apart from these.

Money is an integer count of minor units beside its ISO 4217 code. Card numbers are never
stored: only the last four digits and the issuer's token. Secrets of partner connectors
are stored as given and must never leave the domain (see :data:`SECRET_FIELDS`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from domain.cases.states import CaseStatus
from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import JSONType, UTCDateTime, UUIDType


class Channel(StrEnum):
    BRANCH = "BRANCH"
    CALL_CENTER = "CALL_CENTER"
    WEB = "WEB"
    APP = "APP"
    PARTNER_API = "PARTNER_API"


class Priority(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class SlaState(StrEnum):
    ON_TRACK = "ON_TRACK"
    AT_RISK = "AT_RISK"
    BREACHED = "BREACHED"


class Visibility(StrEnum):
    INTERNAL = "INTERNAL"  # staff of the involved partners
    CUSTOMER = "CUSTOMER"  # may also be shown to the customer


class ResolutionCode(StrEnum):
    FAVORABLE = "FAVORABLE"  # resuelto a favor del cliente
    PARTIALLY_FAVORABLE = "PARTIALLY_FAVORABLE"
    UNFAVORABLE = "UNFAVORABLE"  # no procede
    INFORMATION_PROVIDED = "INFORMATION_PROVIDED"
    SERVICE_PERFORMED = "SERVICE_PERFORMED"  # bloqueo, reposición, anulación hecha
    DUPLICATE = "DUPLICATE"
    WITHDRAWN = "WITHDRAWN"  # el cliente desiste
    PARTNER_REPORTED = "PARTNER_REPORTED"  # the handler's platform reported it resolved
    REJECTED = "REJECTED"  # set when a case is rejected (the note says why)


#: Codes under which nothing is refunded.
NO_REFUND_CODES = frozenset(
    {ResolutionCode.UNFAVORABLE, ResolutionCode.DUPLICATE, ResolutionCode.WITHDRAWN}
)
#: Codes a person (or a bulk resolution) may choose; the others are set by Trama.
CHOOSABLE_RESOLUTION_CODES = frozenset(ResolutionCode) - {
    ResolutionCode.PARTNER_REPORTED,
    ResolutionCode.REJECTED,
}


class TimelineKind(StrEnum):
    OPENED = "OPENED"
    UPDATED = "UPDATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    COMMENTED = "COMMENTED"
    DERIVED = "DERIVED"
    DERIVATION_ACCEPTED = "DERIVATION_ACCEPTED"
    DERIVATION_REJECTED = "DERIVATION_REJECTED"
    RESOLVED = "RESOLVED"
    REOPENED = "REOPENED"
    SLA_AT_RISK = "SLA_AT_RISK"
    SLA_BREACHED = "SLA_BREACHED"
    ESCALATED = "ESCALATED"
    PARTNER_STATUS_REPORTED = "PARTNER_STATUS_REPORTED"
    PARTNER_REPORT_REFUSED = "PARTNER_REPORT_REFUSED"
    ATTACHMENT_ADDED = "ATTACHMENT_ADDED"
    BULK_RESOLVED = "BULK_RESOLVED"


class MappingDirection(StrEnum):
    INBOUND = "INBOUND"  # partner code → canonical status (reports)
    OUTBOUND = "OUTBOUND"  # canonical status → partner code (sync)
    BOTH = "BOTH"


class ReviewReason(StrEnum):
    UNMAPPED_STATUS = "UNMAPPED_STATUS"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    VERSION_REUSED = "VERSION_REUSED"  # same externalVersion, different status


class ReviewStatus(StrEnum):
    PENDING = "PENDING"
    DISMISSED = "DISMISSED"
    RESOLVED = "RESOLVED"


class BulkStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


class BulkOutcome(StrEnum):
    RESOLVED = "RESOLVED"
    SKIPPED_STATE = "SKIPPED_STATE"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"


class ConnectorAuth(StrEnum):
    NONE = "NONE"
    BEARER = "BEARER"
    BASIC = "BASIC"
    OAUTH2_CLIENT_CREDENTIALS = "OAUTH2_CLIENT_CREDENTIALS"


def _uuid_fk(target: str, *, nullable: bool, index: bool = False, **kw: Any) -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey(target, **kw), nullable=nullable, index=index),
    )


# --- catalog ----------------------------------------------------------------------------
class CaseTypology(SQLModel, table=True):
    """A kind of post-sale case (a parameter of the network), with its service level.

    The SLA target is either ``sla_business_days`` (business days of the handling partner's
    country, counted from the day after the start, due at the end of the last one) or
    ``sla_hours`` (clock hours, for round-the-clock matters such as blocking a card).
    """

    __tablename__ = "case_typologies"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=500)
    default_priority: str = Field(default=Priority.MEDIUM.value, max_length=10)
    sla_business_days: int | None = Field(default=None)
    sla_hours: int | None = Field(default=None)
    requires_amount: bool = Field(default=False)
    requires_card: bool = Field(default=False)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class CaseReferenceCounter(SQLModel, table=True):
    """The last number handed out in a year, for ``CS-<year>-<number>`` references."""

    __tablename__ = "case_reference_counters"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_number: int = Field(default=0, sa_type=sa.BigInteger)


# --- the case ---------------------------------------------------------------------------
class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        sa.Index("ix_cases_created", "created_at", "id"),
        sa.Index("ix_cases_updated", "updated_at", "id"),
        # a partner's cases in one status, newest updated first, and their facets as an
        # index-only scan (migration 0013; it replaces (handling_partner_id, status))
        sa.Index(
            "ix_cases_handling_status_updated",
            "handling_partner_id",
            "status",
            "updated_at",
            "id",
            postgresql_include=["typology_code"],
        ),
        sa.Index("ix_cases_status_sla_due", "status", "sla_due_at"),
        # search (migration 0006): SLA orderings and filters; free text on PostgreSQL
        sa.Index("ix_cases_sla_due", "sla_due_at", "id"),
        sa.Index("ix_cases_sla_state_due", "sla_state", "sla_due_at", "id"),
        sa.Index(
            "ix_cases_description_trgm",
            "description_folded",
            postgresql_using="gin",
            postgresql_ops={"description_folded": "gin_trgm_ops"},
            info={"dialects": ("postgresql",)},
        ).ddl_if(dialect="postgresql"),
        sa.Index(
            "ix_cases_reference_pattern",
            "reference",
            postgresql_ops={"reference": "varchar_pattern_ops"},
            info={"dialects": ("postgresql",)},
        ).ddl_if(dialect="postgresql"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint(
            "amount_in_dispute_minor IS NULL OR amount_in_dispute_minor > 0",
            name="amount_in_dispute_positive",
        ),
        sa.CheckConstraint(
            "resolution_refund_minor IS NULL OR resolution_refund_minor >= 0",
            name="refund_not_negative",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    #: ``CS-2026-000123``: the network reference people read out on the phone.
    reference: str = Field(max_length=24, unique=True)
    customer_id: uuid.UUID = _uuid_fk("customers.id", nullable=False, index=True)
    card_last4: str | None = Field(default=None, max_length=4)
    card_token: str | None = Field(default=None, max_length=64)
    typology_code: str = Field(
        sa_column=sa.Column(
            sa.String(40), sa.ForeignKey("case_typologies.code"), nullable=False, index=True
        )
    )
    originating_partner_id: uuid.UUID = _uuid_fk("partners.id", nullable=False, index=True)
    handling_partner_id: uuid.UUID = _uuid_fk("partners.id", nullable=False)
    channel: str = Field(max_length=20)
    priority: str = Field(max_length=10)
    status: str = Field(default=CaseStatus.OPEN.value, max_length=20)
    status_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    description: str = Field(max_length=4000)
    #: ``fold(description)``: accent- and case-insensitive search text.
    description_folded: str = Field(max_length=4000)
    amount_in_dispute_minor: int | None = Field(default=None, sa_type=sa.BigInteger)
    amount_in_dispute_currency: str | None = Field(default=None, max_length=3)

    # derivation ------------------------------------------------------------------------
    pending_derivation_to: uuid.UUID | None = _uuid_fk("partners.id", nullable=True, index=True)
    pending_derivation_reason: str | None = Field(default=None, max_length=1000)
    pending_derivation_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    pending_derivation_by: str | None = Field(default=None, max_length=200)

    # service level ---------------------------------------------------------------------
    #: Start of the current SLA window (opening, acceptance of a derivation, reopening),
    #: moved forward by the time spent paused so ``due - start`` is the window's length.
    sla_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_state: str = Field(default="ON_TRACK", max_length=10)
    #: Set while the clock is stopped (waiting for the customer).
    sla_paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: When the current window was flagged at risk / breached (each event fires once).
    sla_at_risk_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_breached_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The partner whose supervisors the case was escalated to.
    escalated_to: uuid.UUID | None = _uuid_fk("partners.id", nullable=True)

    # resolution ------------------------------------------------------------------------
    resolution_code: str | None = Field(default=None, max_length=30)
    resolution_note: str | None = Field(default=None, max_length=2000)
    resolution_refund_minor: int | None = Field(default=None, sa_type=sa.BigInteger)
    resolution_refund_currency: str | None = Field(default=None, max_length=3)

    # bookkeeping -----------------------------------------------------------------------
    created_by: str = Field(max_length=200)
    #: Number of the last timeline entry (entries are numbered 1, 2, … per case).
    timeline_seq: int = Field(default=0)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CasePartnerStatus(SQLModel, table=True):
    """One involved partner's view of a case: its own status code on its platform, its
    reference there, and how far synchronization got. A row exists for every partner that
    originated, handles or handled the case (and for any partner the sync worker pushed it
    to), which is what the ECOSYSTEM view means by "involved"."""

    __tablename__ = "case_partner_statuses"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "external_ref"),
        sa.Index("ix_case_partner_statuses_partner_case", "partner_id", "case_id"),
    )

    case_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
        )
    )
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), primary_key=True)
    )
    #: The partner's own status code (as its platform last reported it).
    partner_status_code: str | None = Field(default=None, max_length=60)
    #: The case's id on the partner's platform.
    external_ref: str | None = Field(default=None, max_length=100)
    #: Highest ``externalVersion`` the partner reported (older reports are ignored).
    last_external_version: int | None = Field(default=None, sa_type=sa.BigInteger)
    last_reported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: ``occurredAt`` of the report that set the current partner status.
    reported_occurred_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Case version last pushed to the partner's platform successfully.
    last_synced_version: int | None = Field(default=None)
    last_synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_sync_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_sync_error: str | None = Field(default=None, max_length=2000)
    involved_since: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CaseEvent(SQLModel, table=True):
    """A timeline entry: who (and for which partner) did what, with before/after."""

    __tablename__ = "case_events"
    __table_args__ = (sa.UniqueConstraint("case_id", "seq"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    case_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    )
    seq: int
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_subject: str = Field(max_length=200)
    actor_partner_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    kind: str = Field(max_length=40)
    visibility: str = Field(default=Visibility.INTERNAL.value, max_length=10)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    note: str | None = Field(default=None, max_length=2000)


class CaseComment(SQLModel, table=True):
    __tablename__ = "case_comments"
    __table_args__ = (sa.Index("ix_case_comments_case", "case_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    case_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    )
    author_subject: str = Field(max_length=200)
    author_name: str | None = Field(default=None, max_length=200)
    author_partner_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    visibility: str = Field(default=Visibility.INTERNAL.value, max_length=10)
    body: str = Field(max_length=4000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CaseAttachment(SQLModel, table=True):
    """Metadata of a file attached to a case; the bytes live in the storage backend under
    ``storage_key`` (written by the attachments module, not here)."""

    __tablename__ = "case_attachments"
    __table_args__ = (sa.Index("ix_case_attachments_case", "case_id", "uploaded_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    case_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    )
    file_name: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size_bytes: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=500, unique=True)
    visibility: str = Field(default=Visibility.INTERNAL.value, max_length=10)
    uploaded_by: str = Field(max_length=200)
    uploaded_by_partner_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- partners' platforms ----------------------------------------------------------------
#: Columns of :class:`PartnerConnector` that hold secrets: never return them to a client,
#: never put them in an audit snapshot, an event or a log line.
SECRET_FIELDS = frozenset({"auth_credentials", "signing_secret"})


class PartnerConnector(SQLModel, table=True):
    """How Trama reaches a partner's platform (outbound sync)."""

    __tablename__ = "partner_connectors"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False, unique=True)
    )
    endpoint_url: str = Field(max_length=500)
    auth_type: str = Field(default=ConnectorAuth.NONE.value, max_length=30)
    #: SECRET. Token, ``user:password`` or client credentials, as the auth type needs.
    auth_credentials: str | None = Field(default=None, max_length=2000, repr=False)
    #: SECRET. HMAC key the platform uses to check our signature.
    signing_secret: str = Field(max_length=200, repr=False)
    enabled: bool = Field(default=True)
    timeout_seconds: int = Field(default=10)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str | None = Field(default=None, max_length=200)
    version: int = Field(default=1)


class StatusMapping(SQLModel, table=True):
    """One line of a partner's homologation table, in one version of it.

    A change to a partner's table inserts a whole new version (``version`` + 1) and never
    touches older rows, so what a code meant on any date can be answered. The current table
    of a partner is its highest version whose ``active_from`` has passed.
    """

    __tablename__ = "case_status_mappings"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "version", "partner_code"),
        sa.Index("ix_case_status_mappings_partner_version", "partner_id", "version"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    version: int
    partner_code: str = Field(max_length=60)
    canonical_status: str = Field(max_length=20)
    direction: str = Field(default=MappingDirection.BOTH.value, max_length=10)
    active_from: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InboundReportReview(SQLModel, table=True):
    """A status report from a partner's platform that was refused, kept for a person."""

    __tablename__ = "case_inbound_reviews"
    __table_args__ = (sa.Index("ix_case_inbound_reviews_status", "status", "received_at"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False, index=True)
    )
    case_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=True, index=True
        ),
    )
    case_reference: str | None = Field(default=None, max_length=24)
    external_ref: str | None = Field(default=None, max_length=100)
    partner_status: str = Field(max_length=60)
    canonical_status: str | None = Field(default=None, max_length=20)
    case_status: str | None = Field(default=None, max_length=20)
    external_version: int = Field(sa_type=sa.BigInteger)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=30)
    message: str = Field(max_length=500)
    reported_by: str = Field(max_length=200)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: str = Field(default=ReviewStatus.PENDING.value, max_length=10)
    reviewed_by: str | None = Field(default=None, max_length=200)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_note: str | None = Field(default=None, max_length=1000)


# --- mass resolution --------------------------------------------------------------------
class BulkResolution(SQLModel, table=True):
    """A mass resolution job. ``request_hash`` makes a repeated request the same job."""

    __tablename__ = "case_bulk_resolutions"
    __table_args__ = (sa.Index("ix_case_bulk_resolutions_requester", "requested_by", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    requested_by: str = Field(max_length=200)
    requested_by_partner_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    request_hash: str = Field(max_length=64, unique=True)
    #: ``{"ids": [...]}`` or ``{"filter": {...}, "view": "..."}`` as requested.
    selection: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    resolution_code: str = Field(max_length=30)
    resolution_note: str = Field(max_length=2000)
    status: str = Field(default=BulkStatus.PENDING.value, max_length=10)
    total: int = Field(default=0)
    processed: int = Field(default=0)
    resolved_count: int = Field(default=0)
    skipped_count: int = Field(default=0)
    forbidden_count: int = Field(default=0)
    not_found_count: int = Field(default=0)
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class BulkResolutionItem(SQLModel, table=True):
    """The outcome for one case of a mass resolution (``case_id`` may name no case)."""

    __tablename__ = "case_bulk_resolution_items"

    bulk_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType,
            sa.ForeignKey("case_bulk_resolutions.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    case_id: uuid.UUID = Field(sa_column=sa.Column(UUIDType, primary_key=True))
    outcome: str = Field(max_length=20)
    message: str | None = Field(default=None, max_length=500)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

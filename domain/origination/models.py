"""Origination (issue 11): credit applications, their timeline, documents, inspections,
offers and stored pre-qualifications.

Money is an integer count of the application's currency minor unit (``currency``); rates
are exact decimals. The state machine is in ``domain/origination/states.py``; the
24-hour clock (``due_at``, ``at_risk_at``, ``breached_at``, ``escalated_at``) in
``domain/origination/clock.py``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import ExactDecimal, JSONType, UTCDateTime, UUIDType


class EmploymentType(StrEnum):
    EMPLOYED = "EMPLOYED"  # salaried, indefinite contract
    FIXED_TERM = "FIXED_TERM"  # salaried, fixed-term contract
    SELF_EMPLOYED = "SELF_EMPLOYED"
    RETIRED = "RETIRED"  # pension
    UNEMPLOYED = "UNEMPLOYED"
    OTHER = "OTHER"


class ApplicationState(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    SCORED = "SCORED"
    PRE_APPROVED = "PRE_APPROVED"
    REFERRED = "REFERRED"
    REJECTED = "REJECTED"
    INSPECTION = "INSPECTION"
    OFFERED = "OFFERED"
    SIGNING = "SIGNING"
    APPROVED = "APPROVED"
    DISBURSED = "DISBURSED"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"


class ClockState(StrEnum):
    ON_TRACK = "ON_TRACK"
    AT_RISK = "AT_RISK"
    BREACHED = "BREACHED"


class InspectionStatus(StrEnum):
    BOOKED = "BOOKED"
    PASSED = "PASSED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class OfferStatus(StrEnum):
    OPEN = "OPEN"  # made, waiting for the customer
    ACCEPTED = "ACCEPTED"  # the customer accepted: signing
    SUPERSEDED = "SUPERSEDED"  # a newer offer replaced it
    EXPIRED = "EXPIRED"


class ApplicationReferenceCounter(SQLModel, table=True):
    """The last number handed out in a year, for ``AP-<year>-<number>`` references."""

    __tablename__ = "credit_application_reference_counters"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_number: int = Field(default=0, sa_type=sa.BigInteger)


class CreditApplication(SQLModel, table=True):
    """One customer's application for a (vehicle) credit at one lender."""

    __tablename__ = "credit_applications"
    __table_args__ = (
        sa.Index("ix_credit_applications_created", "created_at", "id"),
        sa.Index("ix_credit_applications_lender_state", "lender_id", "state", "id"),
        sa.Index("ix_credit_applications_customer", "customer_id", "id"),
        sa.Index("ix_credit_applications_vehicle", "vehicle_id"),
        sa.Index("ix_credit_applications_due", "state", "due_at"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint("requested_principal >= 0", name="principal_not_negative"),
        sa.CheckConstraint("down_payment >= 0", name="down_payment_not_negative"),
        sa.CheckConstraint("monthly_income >= 0", name="income_not_negative"),
        sa.CheckConstraint("declared_obligations >= 0", name="obligations_not_negative"),
        sa.CheckConstraint("term_months >= 1", name="term_positive"),
        sa.CheckConstraint("employment_months >= 0", name="employment_months_not_negative"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    #: ``AP-2026-000123``.
    reference: str = Field(max_length=24, unique=True)
    lender_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    customer_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("customers.id"), nullable=False)
    )
    #: The marketplace's vehicle (no foreign key: the marketplace owns its table).
    vehicle_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    #: The vehicle's dealer (a partner) when the vehicle was named: dealers see these.
    dealer_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType, index=True)
    #: The vehicle's price when it was named (minor units of ``currency``).
    vehicle_price: int | None = Field(default=None, sa_type=sa.BigInteger)
    requested_principal: int = Field(sa_type=sa.BigInteger)
    down_payment: int = Field(default=0, sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    term_months: int
    monthly_income: int = Field(sa_type=sa.BigInteger)
    employment_type: str = Field(max_length=16)
    employment_months: int = Field(default=0)
    #: Monthly payments on other debts the applicant declares (minor units).
    declared_obligations: int = Field(default=0, sa_type=sa.BigInteger)
    #: ``{"bureau_check": {"accepted_at": iso, "text_version": "v1"},
    #: "data_processing": {...}}``.
    consents: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    state: str = Field(default=ApplicationState.DRAFT.value, max_length=16)
    grade: str | None = Field(default=None, max_length=4)
    #: Scoring's decision record.
    decision_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    decision_outcome: str | None = Field(default=None, max_length=8)
    #: Reason codes/words of the decision (customer-safe).
    decision_reasons: list[str] = Field(default_factory=list, sa_type=JSONType)
    #: Who decided a referred application by hand, and why.
    decided_by: str | None = Field(default=None, max_length=200)
    decision_note: str | None = Field(default=None, max_length=2000)
    #: Why the application was last referred back (inspection, valuation …).
    referral_reason: str | None = Field(default=None, max_length=2000)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The 24-hour promise: 24 business hours of the lender after submission.
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    clock_state: str | None = Field(default=None, max_length=10)
    at_risk_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    breached_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The registry's credit (one application, one credit) and the signed contract.
    credit_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType, unique=True)
    contract_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    disbursed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_reason: str | None = Field(default=None, max_length=2000)
    created_by: str = Field(max_length=200)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApplicationEvent(SQLModel, table=True):
    """A timeline entry of an application: who did what, with before/after."""

    __tablename__ = "credit_application_events"
    __table_args__ = (sa.UniqueConstraint("application_id", "seq"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    application_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("credit_applications.id", ondelete="CASCADE"), nullable=False
        )
    )
    seq: int
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_subject: str = Field(max_length=200)
    kind: str = Field(max_length=40)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str | None = Field(default=None, max_length=16)
    #: Customer-visible (reasons, states) or internal (staff notes).
    public: bool = Field(default=True)
    details: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    note: str | None = Field(default=None, max_length=2000)


class ApplicationDocument(SQLModel, table=True):
    """A file attached to an application (the bytes live in the storage backend)."""

    __tablename__ = "credit_application_documents"
    __table_args__ = (
        sa.Index("ix_credit_application_documents_app", "application_id", "uploaded_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    application_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("credit_applications.id", ondelete="CASCADE"), nullable=False
        )
    )
    #: ``ID_CARD``, ``PAYSLIP``, ``BANK_STATEMENT``, ``PROOF_OF_ADDRESS``, ``OTHER``,
    #: ``INSPECTION_PHOTO``.
    kind: str = Field(max_length=24)
    file_name: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size_bytes: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=500, unique=True)
    inspection_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    uploaded_by: str = Field(max_length=200)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Inspection(SQLModel, table=True):
    """A vehicle inspection booked for an application and its result."""

    __tablename__ = "credit_application_inspections"
    __table_args__ = (sa.Index("ix_credit_application_inspections_app", "application_id", "id"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    application_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("credit_applications.id", ondelete="CASCADE"), nullable=False
        )
    )
    vehicle_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    status: str = Field(default=InspectionStatus.BOOKED.value, max_length=10)
    slot_start: datetime = Field(sa_type=UTCDateTime)
    slot_end: datetime = Field(sa_type=UTCDateTime)
    place: str = Field(max_length=300)
    booked_by: str = Field(max_length=200)
    inspector_subject: str | None = Field(default=None, max_length=200)
    #: ``[{"item": "BRAKES", "passed": true, "note": "..."}]``.
    checklist: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    odometer_km: int | None = Field(default=None)
    damage_notes: str | None = Field(default=None, max_length=4000)
    #: The inspector's valuation of the vehicle (minor units of the application's currency).
    valuation: int | None = Field(default=None, sa_type=sa.BigInteger)
    failure_reason: str | None = Field(default=None, max_length=2000)
    recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class CreditOffer(SQLModel, table=True):
    """The credit terms offered to an application, computed by the credits engine."""

    __tablename__ = "credit_application_offers"
    __table_args__ = (sa.Index("ix_credit_application_offers_app", "application_id", "id"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    application_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("credit_applications.id", ondelete="CASCADE"), nullable=False
        )
    )
    status: str = Field(default=OfferStatus.OPEN.value, max_length=10)
    principal: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    annual_rate: Decimal = Field(sa_type=ExactDecimal)
    term_months: int
    #: The level installment (the first row's, minor units).
    installment: int = Field(sa_type=sa.BigInteger)
    scheme: str = Field(default="FRENCH", max_length=10)
    day_count: str = Field(default="THIRTY_360", max_length=16)
    #: Planned disbursement date the schedule was computed for (ISO date).
    disbursement_date: str = Field(max_length=10)
    total_interest: int = Field(sa_type=sa.BigInteger)
    total_paid: int = Field(sa_type=sa.BigInteger)
    #: CAE (annual equivalent cost) as an exact decimal fraction.
    cae: Decimal = Field(sa_type=ExactDecimal)
    #: ``[{"number", "due_date", "installment", "interest", "principal", "balance"}]``.
    schedule: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    grade: str | None = Field(default=None, max_length=4)
    valid_until: datetime = Field(sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    accepted_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Prequalification(SQLModel, table=True):
    """An exact pre-qualification of a known customer at a lender, valid for a while."""

    __tablename__ = "prequalifications"
    __table_args__ = (sa.Index("ix_prequalifications_customer", "customer_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    customer_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("customers.id"), nullable=False)
    )
    lender_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    currency: str = Field(max_length=3)
    monthly_income: int = Field(sa_type=sa.BigInteger)
    declared_obligations: int = Field(sa_type=sa.BigInteger)
    trama_obligations: int = Field(sa_type=sa.BigInteger)
    dti_limit: Decimal = Field(sa_type=ExactDecimal)
    max_installment: int = Field(sa_type=sa.BigInteger)
    max_principal: int = Field(sa_type=sa.BigInteger)
    down_payment: int = Field(default=0, sa_type=sa.BigInteger)
    annual_rate: Decimal = Field(sa_type=ExactDecimal)
    term_months: int
    grade: str = Field(max_length=4)
    valid_until: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LenderOriginationSettings(SQLModel, table=True):
    """A lender's origination settings (one row per lender; defaults when there is none:
    ``domain/origination/settings.py``)."""

    __tablename__ = "lender_origination_settings"
    __table_args__ = (
        sa.CheckConstraint("business_hours_start < business_hours_end", name="hours_order"),
    )

    lender_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), primary_key=True)
    )
    currency: str = Field(max_length=3)
    #: Share of monthly income all credit installments may take (e.g. 0.35).
    dti_limit: Decimal = Field(sa_type=ExactDecimal)
    #: Grade assumed for anonymous estimates.
    estimate_grade: str = Field(default="C", max_length=4)
    #: Local business hours (whole hours, lender's country timezone) for the 24-hour clock.
    business_hours_start: int = Field(default=9)
    business_hours_end: int = Field(default=18)
    #: Business hours from submission to decision.
    decision_hours: int = Field(default=24)
    prequalification_valid_days: int = Field(default=30)
    offer_valid_days: int = Field(default=7)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)

"""Contracts of accepted offers and their signers (signature through DocuSeal).

One contract per accepted offer (``offer_id`` unique): a declined or expired signature
leaves its contract as it ended, and a new acceptance of a new offer makes a new one.
The contract row is written *before* DocuSeal is called (status ``PREPARED``, the intent),
so a retried send finds it and asks DocuSeal for the submission it may already have made
(by the submitters' ``external_id``) instead of making a second one.

Status ranks (``contracts.CONTRACT_RANK`` / ``SIGNER_RANK``) only go up: a late or replayed
webhook never moves a contract or a signer back.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import UTCDateTime, UUIDType


class ContractStatus(StrEnum):
    PREPARED = "PREPARED"  # rendered and recorded; DocuSeal not (yet) answered
    SENT = "SENT"  # the submission exists at DocuSeal
    COMPLETED = "COMPLETED"  # every party signed; the signed PDF is being fetched
    SIGNED = "SIGNED"  # signed PDF stored, credit created
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"


class SignerStatus(StrEnum):
    PENDING = "PENDING"  # not yet sent (the lender signs after the customer)
    SENT = "SENT"
    OPENED = "OPENED"  # form.viewed
    STARTED = "STARTED"  # form.started
    COMPLETED = "COMPLETED"  # form.completed
    DECLINED = "DECLINED"  # form.declined


class SignerRole(StrEnum):
    CUSTOMER = "CUSTOMER"
    LENDER = "LENDER"


class Contract(SQLModel, table=True):
    __tablename__ = "origination_contracts"
    __table_args__ = (
        sa.Index("ix_origination_contracts_application", "application_id", "id"),
        sa.Index("ix_origination_contracts_customer", "customer_id", "id"),
        sa.Index("ix_origination_contracts_lender_status", "lender_id", "status", "id"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    #: ``CT-2026-<application reference number>``: shown to people, printed on the PDF.
    reference: str = Field(max_length=32, unique=True)
    #: The application and its accepted offer (origination's tables).
    application_id: uuid.UUID = Field(sa_type=UUIDType)
    offer_id: uuid.UUID = Field(sa_type=UUIDType, unique=True)
    lender_id: uuid.UUID = Field(sa_type=UUIDType)
    customer_id: uuid.UUID = Field(sa_type=UUIDType)
    status: str = Field(default=ContractStatus.PREPARED.value, max_length=12)
    currency: str = Field(max_length=3)
    principal: int = Field(sa_type=sa.BigInteger)
    #: The document sent for signature.
    unsigned_sha256: str = Field(max_length=64)
    unsigned_size: int = Field(sa_type=sa.BigInteger)
    unsigned_key: str = Field(max_length=200)
    #: DocuSeal's submission (unique: one submission, one contract).
    submission_id: int | None = Field(default=None, sa_type=sa.BigInteger, unique=True)
    #: A send in progress holds the contract until then (two workers never both create a
    #: submission for it).
    sending_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The signed document, as DocuSeal delivered it.
    signed_sha256: str | None = Field(default=None, max_length=64)
    signed_size: int | None = Field(default=None, sa_type=sa.BigInteger)
    signed_key: str | None = Field(default=None, max_length=200)
    signed_stored_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    audit_log_url: str | None = Field(default=None, max_length=2000)
    declined_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decline_reason: str | None = Field(default=None, max_length=2000)
    expired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The credit created from this contract (the registry's).
    credit_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    #: Last failure talking to DocuSeal (kept until a later step succeeds).
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class ContractSigner(SQLModel, table=True):
    __tablename__ = "origination_contract_signers"
    __table_args__ = (
        sa.UniqueConstraint("contract_id", "role", name="uq_origination_contract_signers_role"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    contract_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType,
            sa.ForeignKey("origination_contracts.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    role: str = Field(max_length=10)
    #: The role's name in DocuSeal (the template's or the PDF's field tags).
    docuseal_role: str = Field(max_length=100)
    #: ``<contract id>:<role>``: how a retried send finds a submission DocuSeal made.
    external_id: str = Field(max_length=100, unique=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    submitter_id: int | None = Field(default=None, sa_type=sa.BigInteger, unique=True)
    status: str = Field(default=SignerStatus.PENDING.value, max_length=10)
    opened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    declined_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decline_reason: str | None = Field(default=None, max_length=2000)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

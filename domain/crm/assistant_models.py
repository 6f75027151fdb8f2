"""The assistant Ana (issue 12): its conversations, the factors customers register to be
recognised on the phone, and the lockouts of failed verifications."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import JSONType, UTCDateTime, UUIDType


class ConversationChannel(StrEnum):
    PHONE = "PHONE"  # the PBX
    WHATSAPP = "WHATSAPP"
    WEB = "WEB"


class Speaker(StrEnum):
    CALLER = "CALLER"
    ASSISTANT = "ASSISTANT"
    AGENT = "AGENT"


class ConversationOutcome(StrEnum):
    RESOLVED = "RESOLVED"
    INFORMATION_GIVEN = "INFORMATION_GIVEN"
    HANDED_OFF = "HANDED_OFF"
    ABANDONED = "ABANDONED"


class HandoffKind(StrEnum):
    TASK = "TASK"
    CASE = "CASE"


class AssistantConversation(SQLModel, table=True):
    __tablename__ = "crm_assistant_conversations"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "external_id"),
        sa.Index("ix_crm_assistant_conversations_customer", "customer_id", "started_at"),
        sa.Index("ix_crm_assistant_conversations_lead", "lead_id", "started_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    #: The assistant's own id of the conversation: logging it twice stores it once.
    external_id: str = Field(max_length=100)
    client_id: str | None = Field(default=None, max_length=200)
    channel: str = Field(max_length=12)
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    intent: str | None = Field(default=None, max_length=60)
    outcome: str = Field(max_length=20)
    #: [{"speaker": "CALLER", "text": "...", "at": "2026-...Z"}, ...]
    turns: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    lead_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(UUIDType, sa.ForeignKey("crm_leads.id"), nullable=True)
    )
    customer_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(UUIDType, sa.ForeignKey("customers.id"), nullable=True)
    )
    handoff: str | None = Field(default=None, max_length=8)
    handoff_reason: str | None = Field(default=None, max_length=500)
    task_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    case_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerVerificationFactors(SQLModel, table=True):
    """What a customer registered to be recognised by the assistant. The phone's last
    digits are those of the customer's own phone (``customers.phone``)."""

    __tablename__ = "customer_verification_factors"

    customer_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("customers.id"), primary_key=True)
    )
    date_of_birth: date | None = Field(default=None)
    registered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    registered_by: str = Field(max_length=200)


class VerificationLock(SQLModel, table=True):
    """Failed verifications of one national ID or one client, and its lockout."""

    __tablename__ = "assistant_verification_locks"

    #: ``nid:<sha256 of type:number>`` or ``client:<partner>:<client id>``.
    key: str = Field(max_length=120, primary_key=True)
    failures: int = Field(default=0)
    window_started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)

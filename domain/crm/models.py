"""CRM (issue 12): the lender's advisors and their settings, leads, opportunities, tasks and
one timeline per lead or customer.

A lead belongs to one lender (``partner_id``); its contact is kept normalised (e-mail with
the domain in lower case, ``email_key`` all lower case for matching; phone in E.164) so the
deduplication of :mod:`domain.crm.leads` is an indexed equality. A converted lead keeps its
row (``customer_id``, ``converted_at``) and its timeline items gain the customer's id, so the
customer's timeline shows the lead's history.

Timeline items (:class:`CrmTimelineItem`) are written by CRM itself and by the consumer of
other domains' events (``workers/actors/crm.py``), idempotently by ``source_ref`` (an event
id, a webhook delivery, a task id …). They carry ids and figures, like events, plus the
short text a person wrote on a CRM note; ``audience`` names the partners that may see them.
"""

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


class AssignmentStrategy(StrEnum):
    #: The advisor on shift who was given a lead longest ago (never: first).
    ROUND_ROBIN = "ROUND_ROBIN"
    #: The advisor on shift with the fewest open leads and opportunities.
    LOWEST_LOAD = "LOWEST_LOAD"


class Product(StrEnum):
    VEHICLE_CREDIT = "VEHICLE_CREDIT"
    INVESTMENT = "INVESTMENT"


class LeadStatus(StrEnum):
    NEW = "NEW"
    CONTACTED = "CONTACTED"
    QUALIFIED = "QUALIFIED"
    CONVERTED = "CONVERTED"
    DISQUALIFIED = "DISQUALIFIED"


OPEN_LEAD_STATUSES = frozenset({LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED})


class Stage(StrEnum):
    NEW = "NEW"
    CONTACTED = "CONTACTED"
    QUALIFIED = "QUALIFIED"
    APPLICATION = "APPLICATION"
    OFFER = "OFFER"
    WON = "WON"
    LOST = "LOST"


CLOSED_STAGES = frozenset({Stage.WON, Stage.LOST})


class TaskStatus(StrEnum):
    OPEN = "OPEN"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class TaskKind(StrEnum):
    FIRST_CONTACT = "FIRST_CONTACT"
    FOLLOW_UP = "FOLLOW_UP"
    CALL_BACK = "CALL_BACK"
    HANDOFF = "HANDOFF"
    OTHER = "OTHER"


class TimelineKind(StrEnum):
    LEAD_CAPTURED = "LEAD_CAPTURED"
    NOTE = "NOTE"
    TASK = "TASK"
    OPPORTUNITY = "OPPORTUNITY"
    APPOINTMENT = "APPOINTMENT"
    CONVERSATION = "CONVERSATION"
    CASE_EVENT = "CASE_EVENT"
    APPLICATION_EVENT = "APPLICATION_EVENT"
    CREDIT_EVENT = "CREDIT_EVENT"
    PAYMENT = "PAYMENT"


class CrmSettings(SQLModel, table=True):
    """A lender's CRM settings; its row is also the lock automatic assignment takes."""

    __tablename__ = "crm_settings"

    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), primary_key=True)
    )
    assignment_strategy: str = Field(default=AssignmentStrategy.ROUND_ROBIN.value, max_length=16)
    #: Business hours (the lender country's banking days, ``business_day_start`` to
    #: ``business_day_end`` local time) an advisor has for the first contact of a new lead.
    first_contact_hours: int = Field(default=2)
    business_day_start: int = Field(default=9)
    business_day_end: int = Field(default=18)
    #: A task's assignee is reminded this many minutes before its due time.
    reminder_minutes: int = Field(default=60)
    #: Assignments made so far (round robin gives the next one to the advisor whose
    #: ``last_assigned_seq`` is the lowest).
    assignment_seq: int = Field(default=0, sa_type=sa.BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class CrmAdvisor(SQLModel, table=True):
    """A lender's sales advisor, known by the subject of their token."""

    __tablename__ = "crm_advisors"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "subject"),
        sa.Index("ix_crm_advisors_pick", "partner_id", "active", "on_shift", "last_assigned_seq"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    subject: str = Field(max_length=200)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    supervisor_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("crm_advisors.id"), nullable=True),
    )
    on_shift: bool = Field(default=True)
    active: bool = Field(default=True)
    last_assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_assigned_seq: int = Field(default=0, sa_type=sa.BigInteger)
    assigned_count: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class CrmLead(SQLModel, table=True):
    """A person who asked a lender about a product and is not (yet) its customer."""

    __tablename__ = "crm_leads"
    __table_args__ = (
        sa.Index("ix_crm_leads_email", "partner_id", "email_key"),
        sa.Index("ix_crm_leads_phone", "partner_id", "phone"),
        sa.Index("ix_crm_leads_national_id", "partner_id", "national_id"),
        sa.Index("ix_crm_leads_list", "partner_id", "created_at", "id"),
        sa.Index("ix_crm_leads_advisor", "advisor_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    #: ``email`` in lower case: what deduplication compares.
    email_key: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=20)
    national_id_type: str | None = Field(default=None, max_length=16)
    national_id: str | None = Field(default=None, max_length=40)
    product: str = Field(default=Product.VEHICLE_CREDIT.value, max_length=16)
    amount: int | None = Field(default=None, sa_type=sa.BigInteger)
    currency: str | None = Field(default=None, max_length=3)
    vehicle_description: str | None = Field(default=None, max_length=300)
    vehicle_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    #: The calculator's inputs and result, as the landing page sent them (checked shape).
    simulation: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    consent: bool = Field(default=False)
    consent_text_version: str | None = Field(default=None, max_length=40)
    consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    utm_source: str | None = Field(default=None, max_length=100)
    utm_medium: str | None = Field(default=None, max_length=100)
    utm_campaign: str | None = Field(default=None, max_length=100)
    referrer: str | None = Field(default=None, max_length=500)
    status: str = Field(default=LeadStatus.NEW.value, max_length=16)
    advisor_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("crm_advisors.id"), nullable=True),
    )
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    customer_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("customers.id"), nullable=True, index=True),
    )
    converted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: How many times the person filled a form (1 + the duplicates merged into this lead).
    captures: int = Field(default=1)
    last_captured_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class CrmOpportunity(SQLModel, table=True):
    """A possible sale to a lead or a customer, moving through :class:`Stage`."""

    __tablename__ = "crm_opportunities"
    __table_args__ = (
        sa.CheckConstraint(
            "lead_id IS NOT NULL OR customer_id IS NOT NULL", name="lead_or_customer"
        ),
        sa.CheckConstraint("amount IS NULL OR amount >= 0", name="amount_not_negative"),
        sa.Index("ix_crm_opportunities_list", "partner_id", "updated_at", "id"),
        sa.Index("ix_crm_opportunities_application", "application_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    lead_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("crm_leads.id"), nullable=True, index=True),
    )
    customer_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("customers.id"), nullable=True, index=True),
    )
    product: str = Field(max_length=16)
    vehicle_description: str | None = Field(default=None, max_length=300)
    vehicle_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    amount: int | None = Field(default=None, sa_type=sa.BigInteger)
    currency: str | None = Field(default=None, max_length=3)
    stage: str = Field(default=Stage.NEW.value, max_length=16)
    lost_reason: str | None = Field(default=None, max_length=500)
    advisor_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("crm_advisors.id"), nullable=True, index=True),
    )
    expected_close_date: date | None = Field(default=None)
    #: Origination's application and the credit it became (their own ids, set by events).
    application_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    credit_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    stage_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class CrmTask(SQLModel, table=True):
    """Something an advisor must do by a time, linked to the records it is about."""

    __tablename__ = "crm_tasks"
    __table_args__ = (
        sa.Index("ix_crm_tasks_assignee", "assignee_id", "status", "due_at", "id"),
        sa.Index("ix_crm_tasks_open_due", "status", "due_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    kind: str = Field(default=TaskKind.OTHER.value, max_length=16)
    title: str = Field(max_length=200)
    note: str | None = Field(default=None, max_length=4000)
    due_at: datetime = Field(sa_type=UTCDateTime)
    assignee_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("crm_advisors.id"), nullable=True),
    )
    status: str = Field(default=TaskStatus.OPEN.value, max_length=12)
    lead_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("crm_leads.id"), nullable=True, index=True),
    )
    customer_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("customers.id"), nullable=True, index=True),
    )
    opportunity_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("crm_opportunities.id"), nullable=True, index=True
        ),
    )
    #: Records of other domains, by their own ids (no foreign key across domains).
    case_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    credit_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    application_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    #: What created it, unique: the same source never makes a second task.
    source_ref: str | None = Field(default=None, max_length=200, unique=True)
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_to: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class CrmTimelineItem(SQLModel, table=True):
    """One thing that happened to a lead or a customer, from any domain."""

    __tablename__ = "crm_timeline_items"
    __table_args__ = (
        sa.CheckConstraint(
            "lead_id IS NOT NULL OR customer_id IS NOT NULL", name="lead_or_customer"
        ),
        sa.Index("ix_crm_timeline_items_customer", "customer_id", "occurred_at", "id"),
        sa.Index("ix_crm_timeline_items_lead", "lead_id", "occurred_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    lead_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    customer_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    kind: str = Field(max_length=20)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    #: The partner whose item it is (None: the network's, e.g. a payment seen by all
    #: partners in ``audience``).
    partner_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    #: Partners that may see it, as ``,<uuid>,<uuid>,`` (one LIKE, as the outbox's).
    audience: str = Field(default=",", max_length=4000)
    visible_to_customer: bool = Field(default=False)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    #: What it was made from (an event id, a webhook delivery, a task): unique, so writing
    #: the same item twice writes it once.
    source_ref: str = Field(max_length=200, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

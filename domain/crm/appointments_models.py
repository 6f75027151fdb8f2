"""Appointments booked through Cal.com (issue 12): one row per booking (its ``uid``).

The row keeps the booking as Cal.com last described it and, separately, the times of the
events that set its status (``status_at``) and its details (``details_at``): Cal.com sends
no sequence number, so order per booking is decided by each event's own ``createdAt``
(``domain/crm/appointments.py``). A reschedule makes a new booking (a new ``uid``) and ends
the one it replaces (``rescheduled_from_uid`` / ``rescheduled_to_uid``); either may arrive
first.
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


class AppointmentStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    #: Replaced by another booking (``rescheduled_to_uid``).
    RESCHEDULED = "RESCHEDULED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    NO_SHOW = "NO_SHOW"


#: A booking in these never goes back to SCHEDULED, COMPLETED or NO_SHOW.
ENDED_STATUSES = frozenset({AppointmentStatus.RESCHEDULED, AppointmentStatus.CANCELLED})


class CrmAppointment(SQLModel, table=True):
    __tablename__ = "crm_appointments"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "booking_uid"),
        sa.Index("ix_crm_appointments_lead", "lead_id", "start_at"),
        sa.Index("ix_crm_appointments_customer", "customer_id", "start_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    booking_uid: str = Field(max_length=100)
    booking_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    event_type_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    title: str | None = Field(default=None, max_length=300)
    status: str = Field(default=AppointmentStatus.SCHEDULED.value, max_length=16)
    start_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    organizer_email: str | None = Field(default=None, max_length=254)
    attendee_name: str | None = Field(default=None, max_length=200)
    attendee_email: str | None = Field(default=None, max_length=254)
    attendee_phone: str | None = Field(default=None, max_length=20)
    attendee_timezone: str | None = Field(default=None, max_length=64)
    lead_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("crm_leads.id"), nullable=True),
    )
    customer_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("customers.id"), nullable=True),
    )
    rescheduled_from_uid: str | None = Field(default=None, max_length=100)
    rescheduled_to_uid: str | None = Field(default=None, max_length=100)
    cancellation_reason: str | None = Field(default=None, max_length=500)
    #: Cal.com's ``createdAt`` of the event that set ``status`` / the booking's details.
    status_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    details_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The last Cal.com event applied (its ``triggerEvent``).
    last_event: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)

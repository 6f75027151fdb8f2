from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import UTCDateTime, UUIDType


class Customer(SQLModel, table=True):
    """One person across the whole network, keyed by a validated national ID."""

    __tablename__ = "customers"
    __table_args__ = (
        sa.UniqueConstraint("national_id_type", "national_id"),
        sa.Index("ix_customers_sort", "sort_name", "id"),
        sa.Index("ix_customers_national_id", "national_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    national_id_type: str = Field(max_length=16)
    national_id: str = Field(max_length=40)
    given_names: str = Field(max_length=100)
    family_names: str = Field(max_length=100)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=20)
    address_line1: str | None = Field(default=None, max_length=200)
    address_line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    address_country: str | None = Field(default=None, max_length=2)
    consent_marketing: bool = Field(default=False)
    consent_data_sharing: bool = Field(default=False)
    consent_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    home_partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False, index=True)
    )
    #: "family given" folded (no accents, lower case): the sort key and the name search text.
    sort_name: str = Field(max_length=210)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)

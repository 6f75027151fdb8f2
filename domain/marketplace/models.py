"""Marketplace tables: dealers' vehicles, their photos, reservations for credit
applications, the feeds received and each dealer's feed profile (issue 11).

Prices are integer minor units of ``currency`` (the dealer's country's currency). A
vehicle is unique by its dealer's stock id; ``version`` rises with every change (feeds,
reservations, photos) for optimistic concurrency.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from domain.marketplace.states import VehicleStatus
from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import JSONType, UTCDateTime, UUIDType


class Fuel(StrEnum):
    GASOLINE = "GASOLINE"
    DIESEL = "DIESEL"
    HYBRID = "HYBRID"
    PLUG_IN_HYBRID = "PLUG_IN_HYBRID"
    ELECTRIC = "ELECTRIC"
    LPG = "LPG"
    CNG = "CNG"


class Transmission(StrEnum):
    MANUAL = "MANUAL"
    AUTOMATIC = "AUTOMATIC"


class ReservationStatus(StrEnum):
    ACTIVE = "ACTIVE"
    RELEASED = "RELEASED"  # the application let it go
    EXPIRED = "EXPIRED"  # the hold lapsed (the expiry job)
    CONVERTED = "CONVERTED"  # the vehicle was sold through the application


class Vehicle(SQLModel, table=True):
    __tablename__ = "vehicles"
    __table_args__ = (
        sa.UniqueConstraint("dealer_id", "stock_id"),
        # The catalogue's orders (keyset on (value, id)); the price one also serves
        # affordableFor (status = AVAILABLE, one currency, price <= a bound).
        sa.Index("ix_vehicles_status_currency_price", "status", "currency", "price", "id"),
        sa.Index("ix_vehicles_status_year", "status", "year", "id"),
        sa.Index("ix_vehicles_status_kilometres", "status", "kilometres", "id"),
        sa.Index("ix_vehicles_status_listed", "status", "listed_at", "id"),
        sa.Index("ix_vehicles_dealer_status", "dealer_id", "status"),
        sa.Index("ix_vehicles_reserved_until", "reserved_until"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    dealer_id: uuid.UUID = Field(sa_type=UUIDType, foreign_key="partners.id")
    stock_id: str = Field(max_length=64)
    make: str = Field(max_length=60)
    model: str = Field(max_length=80)
    trim: str | None = Field(default=None, max_length=120)
    year: int
    kilometres: int
    fuel: str = Field(max_length=20)
    transmission: str = Field(max_length=20)
    colour: str | None = Field(default=None, max_length=40)
    price: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    status: str = Field(default=VehicleStatus.AVAILABLE.value, max_length=16)
    reserved_for: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    reserved_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    listed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sold_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=1)


class VehiclePhoto(SQLModel, table=True):
    """A photo of a vehicle. The bytes are in the file store under a key made of their
    SHA-256 (``vehicle-photos/<sha256>``): the same picture is stored once."""

    __tablename__ = "vehicle_photos"
    __table_args__ = (
        sa.UniqueConstraint("vehicle_id", "sha256"),
        sa.Index("ix_vehicle_photos_vehicle_position", "vehicle_id", "position"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    vehicle_id: uuid.UUID = Field(sa_type=UUIDType, foreign_key="vehicles.id", ondelete="CASCADE")
    position: int
    storage_key: str = Field(max_length=200)
    content_type: str = Field(max_length=60)
    size_bytes: int
    sha256: str = Field(max_length=64)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    uploaded_by: str = Field(max_length=200)


class VehicleReservation(SQLModel, table=True):
    """A hold of a vehicle for a credit application (origination's id, no foreign key:
    domains do not reach into each other's tables)."""

    __tablename__ = "vehicle_reservations"
    __table_args__ = (
        sa.Index("ix_vehicle_reservations_vehicle", "vehicle_id", "created_at"),
        sa.Index("ix_vehicle_reservations_application", "application_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    vehicle_id: uuid.UUID = Field(sa_type=UUIDType, foreign_key="vehicles.id")
    application_id: uuid.UUID = Field(sa_type=UUIDType)
    held_until: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default=ReservationStatus.ACTIVE.value, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    actor: str = Field(max_length=200)


class VehicleFeedImport(SQLModel, table=True):
    """One feed file received from a dealer, and what it did."""

    __tablename__ = "vehicle_feed_imports"
    __table_args__ = (sa.Index("ix_vehicle_feed_imports_dealer", "dealer_id", "imported_at"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    dealer_id: uuid.UUID = Field(sa_type=UUIDType, foreign_key="partners.id")
    file_name: str = Field(max_length=255)
    sha256: str = Field(max_length=64)
    kind: str = Field(max_length=8)  # CSV | XLSX
    full: bool
    partial: bool
    rows: int
    created: int
    updated: int
    unchanged: int
    withdrawn: int
    held: int
    rejected: int
    problems: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    imported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    imported_by: str = Field(max_length=200)


class DealerFeedProfile(SQLModel, table=True):
    """How one dealer's feed is read: which column holds each field, and the number
    format (``decimal_separator``, ``thousands_separator``)."""

    __tablename__ = "dealer_feed_profiles"

    dealer_id: uuid.UUID = Field(sa_type=UUIDType, foreign_key="partners.id", primary_key=True)
    mapping: dict[str, str] = Field(default_factory=dict, sa_type=JSONType)
    decimal_separator: str = Field(default=",", max_length=1)
    thousands_separator: str = Field(default=".", max_length=1)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)

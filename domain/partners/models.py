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

#: Countries the network operates in (ISO 3166-1 alpha-2).
COUNTRIES = frozenset({"CL", "AR", "MX", "CO", "PE"})


class PartnerKind(StrEnum):
    ISSUER = "issuer"
    RETAILER = "retailer"
    #: Sells vehicles on the marketplace (issue 11); a retailer may too.
    DEALER = "dealer"
    LENDER = "lender"
    BANK = "bank"
    LOYALTY = "loyalty"


class Partner(SQLModel, table=True):
    __tablename__ = "partners"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    kind: PartnerKind = Field(sa_type=sa.String(20))
    active: bool = Field(default=True)
    #: Directory tenant (Azure AD ``tid``) whose users act for this partner.
    tenant_id: str | None = Field(default=None, max_length=100, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)

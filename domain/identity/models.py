from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import JSONType, UTCDateTime, UUIDType


class User(SQLModel, table=True):
    """A person who works in the network (directory entry; they sign in with their IdP)."""

    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    subject: str = Field(max_length=200, unique=True)
    display_name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    partner_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=True, index=True),
    )
    roles: list[str] = Field(default_factory=list, sa_type=JSONType)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OAuthClient(SQLModel, table=True):
    """A machine client (a partner's platform) that gets tokens with client credentials."""

    __tablename__ = "oauth_clients"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    client_id: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    secret_hash: str = Field(max_length=255)
    partner_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=True, index=True),
    )
    roles: list[str] = Field(default_factory=list, sa_type=JSONType)
    scopes: list[str] = Field(default_factory=list, sa_type=JSONType)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

"""Scoring tables: scorecard versions per lender and one decision record per scoring run."""

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


class ScorecardStatus(StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    RETIRED = "RETIRED"


class ScorecardSource(StrEnum):
    MANUAL = "MANUAL"
    FIT = "FIT"
    SEED = "SEED"


class Scorecard(SQLModel, table=True):
    """One version of a lender's scorecard. Its ``document`` (see ``domain/scoring/card.py``)
    never changes once stored; a change is a new version. At most one ACTIVE per lender."""

    __tablename__ = "scoring_scorecards"
    __table_args__ = (
        sa.UniqueConstraint("lender_id", "version"),
        sa.Index(
            "ux_scoring_scorecards_one_active",
            "lender_id",
            unique=True,
            sqlite_where=sa.text("status = 'ACTIVE'"),
            postgresql_where=sa.text("status = 'ACTIVE'"),
        ),
        sa.CheckConstraint("status IN ('DRAFT', 'ACTIVE', 'RETIRED')", name="status"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    lender_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    version: int
    name: str = Field(max_length=200)
    status: str = Field(default=ScorecardStatus.DRAFT.value, max_length=10)
    source: str = Field(default=ScorecardSource.MANUAL.value, max_length=10)
    document: dict[str, Any] = Field(sa_type=JSONType)
    document_hash: str = Field(max_length=64)
    #: The development sample's distribution (PSI's reference): per attribute the share of
    #: each bin, and of each score band; ``None`` for a card written by hand.
    development: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    #: What the fit measured on its holdout (gini, ks, rows …), as texts.
    metrics: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    activated_by: str | None = Field(default=None, max_length=200)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    retired_by: str | None = Field(default=None, max_length=200)
    row_version: int = Field(default=1)


class ScoringDecision(SQLModel, table=True):
    """What one scoring run of an application decided, and from what. Idempotent per
    (application, scorecard version, hash of the inputs)."""

    __tablename__ = "scoring_decisions"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "scorecard_id", "input_hash"),
        sa.Index("ix_scoring_decisions_application", "application_id", "created_at"),
        sa.Index("ix_scoring_decisions_lender_created", "lender_id", "created_at"),
        sa.CheckConstraint("outcome IN ('approve', 'refer', 'reject')", name="outcome"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    #: The origination application (``credit_applications.id``), by id: scoring reads it
    #: and never writes it.
    application_id: uuid.UUID = Field(sa_type=UUIDType)
    lender_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    customer_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("customers.id"), nullable=False, index=True)
    )
    scorecard_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("scoring_scorecards.id"), nullable=False, index=True
        )
    )
    scorecard_version: int
    input_hash: str = Field(max_length=64)
    #: feature → the exact fact as text (None when missing)
    inputs: dict[str, Any] = Field(sa_type=JSONType)
    #: [{code, feature, value, bin, binIndex, points, bestPoints}]
    attributes: list[dict[str, Any]] = Field(sa_type=JSONType)
    total: int
    pd: Decimal = Field(sa_type=ExactDecimal)
    grade: str | None = Field(default=None, max_length=2)
    outcome: str = Field(max_length=10)
    #: [{code, attribute, gap, es, en}] — the costliest first
    reasons: list[dict[str, Any]] = Field(sa_type=JSONType)
    #: OK | UNAVAILABLE, and a summary of what the bureau said (no raw personal data)
    bureau_status: str = Field(max_length=12)
    bureau: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    started_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

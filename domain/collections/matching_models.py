"""Collections, part 2: matching statement lines to credits (issue 10, migration 0009).

- ``collections_match_rule_sets``: each lender's ordered rules, as data, in versions. A
  version is never edited: a change is a new version with the instant it takes effect from.
  Every decision keeps the version and the rule that explained it, so a new version never
  changes how a line already matched was explained.
- ``collections_line_decisions``: why a line is in its state, append-only. The line's
  current decision has ``current`` true; the ones before it stay as its history (a
  suggestion a clerk then confirmed, a match undone…). Evidence is stored as criterion
  codes and their parameters; the words a clerk reads are rendered from them in the
  reader's language (``domain/collections/matching_text.py``).
- ``collections_line_applications``: what a line booked through the credits domain: one
  row per payment (a line may pay several credits), with the idempotency key derived from
  the line, so a line is booked once whatever happens; a reversal or an unmatch marks the
  row REVERSED when it reverses the payment.
- ``collections_line_cases``: the case of the typology "unidentified payment" a line that
  stayed unmatched opened, and what became of it.

The line's state itself is ``statement_lines.state`` (C1's table, driven from here, with
its ``version`` for optimistic concurrency).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import JSONType, UTCDateTime, UUIDType

__all__ = [
    "ApplicationKind",
    "ApplicationStatus",
    "DecisionKind",
    "LineApplication",
    "LineCase",
    "LineCaseStatus",
    "LineDecision",
    "MatchRuleSet",
]


class DecisionKind(StrEnum):
    AUTO = "AUTO"  # the collections.reconcile worker, by a rule
    USER = "USER"  # a person (confirmMatch, matchManually, unmatch, ignoreLine)
    CASE = "CASE"  # the resolution of an "unidentified payment" case


class ApplicationKind(StrEnum):
    PAYMENT = "PAYMENT"  # money of the line paid to a credit
    WRITE_OFF = "WRITE_OFF"  # a shortfall within tolerance written off, as the policy says


class ApplicationStatus(StrEnum):
    BOOKED = "BOOKED"
    REVERSED = "REVERSED"


class LineCaseStatus(StrEnum):
    OPEN = "OPEN"  # the case is open
    APPLIED = "APPLIED"  # resolved with a credit reference: the line was booked to it
    CLOSED = "CLOSED"  # resolved without a credit, or the line was matched meanwhile
    NO_CUSTOMER = "NO_CUSTOMER"  # not opened: a case needs a customer, the payer is unknown


def _partner_fk() -> Any:
    return Field(sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False))


class MatchRuleSet(SQLModel, table=True):
    """One version of a lender's matching rules (``rules``: the ordered list, as data)."""

    __tablename__ = "collections_match_rule_sets"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "version"),
        sa.Index("ix_collections_match_rule_sets_effective", "partner_id", "effective_from"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = _partner_fk()
    version: int
    #: The version applies to lines reconciled from this instant on.
    effective_from: datetime = Field(sa_type=UTCDateTime)
    description: str = Field(max_length=300)
    #: ``[{"code", "name", "kind", "source", "criteria": [...], ...}]``: see matching_rules.py.
    rules: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LineDecision(SQLModel, table=True):
    """Why a line is (or was) in a state: the rule, the confidence, the evidence."""

    __tablename__ = "collections_line_decisions"
    __table_args__ = (
        sa.Index("ix_collections_line_decisions_line", "line_id", "current"),
        sa.Index("ix_collections_line_decisions_partner", "partner_id", "created_at", "id"),
        sa.CheckConstraint(
            "confidence IS NULL OR (confidence >= 0 AND confidence <= 100)",
            name="confidence_percent",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    line_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("statement_lines.id"), nullable=False)
    )
    partner_id: uuid.UUID = _partner_fk()
    #: ``LineState`` the decision put the line in.
    state: str = Field(max_length=12)
    #: For EXCEPTION and IGNORED: why (AMBIGUOUS, DUPLICATE, AMOUNT_MISMATCH, …).
    reason: str | None = Field(default=None, max_length=40)
    rule_set_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("collections_match_rule_sets.id"), nullable=True
        ),
    )
    #: The version number (0: Trama's default rules, used while a lender has none).
    rule_set_version: int | None = Field(default=None)
    rule_code: str | None = Field(default=None, max_length=40)
    #: Percent, 0 to 100.
    confidence: int | None = Field(default=None)
    #: ``[{"criterion", "result", "score", "message", "params"}]``, in the order evaluated.
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    #: What the line would pay: ``[{"creditId", "reference", "amount", "installments",
    #: "score", "target"}]`` (the plan applied, or the suggestions offered).
    candidates: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    kind: str = Field(max_length=8)  # DecisionKind
    decided_by: str = Field(max_length=200)
    note: str | None = Field(default=None, max_length=500)
    current: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LineApplication(SQLModel, table=True):
    """A payment a line booked on a credit (or the written-off shortfall of one)."""

    __tablename__ = "collections_line_applications"
    __table_args__ = (
        sa.UniqueConstraint("credit_id", "idempotency_key"),
        sa.Index("ix_collections_line_applications_line", "line_id"),
        sa.Index("ix_collections_line_applications_credit", "credit_id"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(
            "(payment_id IS NULL) <> (write_off_id IS NULL)", name="payment_or_write_off"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    line_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("statement_lines.id"), nullable=False)
    )
    decision_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("collections_line_decisions.id"), nullable=False
        )
    )
    partner_id: uuid.UUID = _partner_fk()
    credit_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("credits.id"), nullable=False)
    )
    #: A PAYMENT's booked payment; a WRITE_OFF's partial write-off (never a payment: the
    #: shortfall was not received).
    payment_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("credit_payments.id"), nullable=True),
    )
    write_off_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("credit_write_offs.id"), nullable=True),
    )
    kind: str = Field(max_length=10)  # ApplicationKind
    #: In the line's currency, minor units (the credits domain converts pesos to UF).
    amount: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    idempotency_key: str = Field(max_length=100)
    status: str = Field(max_length=10)  # ApplicationStatus
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reversed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reversal_reason: str | None = Field(default=None, max_length=300)


class LineCase(SQLModel, table=True):
    """The "unidentified payment" case a line that stayed unmatched opened."""

    __tablename__ = "collections_line_cases"
    __table_args__ = (
        sa.UniqueConstraint("line_id"),
        sa.Index("ix_collections_line_cases_case", "case_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    line_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("statement_lines.id"), nullable=False)
    )
    partner_id: uuid.UUID = _partner_fk()
    case_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(UUIDType, sa.ForeignKey("cases.id"), nullable=True)
    )
    status: str = Field(max_length=12)  # LineCaseStatus
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

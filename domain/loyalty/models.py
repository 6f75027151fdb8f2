"""Loyalty: programs, member accounts, the points ledger (entries, lots, lot moves), rule
sets, purchases, rewards, redemptions and tier changes (issue 13).

Points are integers. The ledger is append-only: an :class:`LoyaltyEntry` is one movement
(its reason, its source, its explanation) and never changes. Positive points live in
:class:`LoyaltyLot` rows (one per accrual, with its availability and expiry dates); a
negative balance is one ``DEBT`` lot. What an entry did to lots is in
:class:`LoyaltyLotMove` rows (append-only too). The invariants, checked by
``trama loyalty verify`` (``domain/loyalty/verify.py``):

- ``entry.points = sum(points of the lots it opened) + sum(its moves)``;
- ``lot.remaining = lot.points + sum(moves of the lot)``;
- an account's balance ``= sum(entries.points) = sum(lots.remaining)``;
- an account never holds a ``DEBT`` lot and a positive lot (not past its day) at once.

See ``docs/loyalty.md`` and ``/work/notes/loyalty-interfaces.md`` for the whole design.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import ExactDecimal, JSONType, UTCDateTime, UUIDType


class ExpiryPolicy(StrEnum):
    NEVER = "NEVER"
    #: ``expiry_count`` days after the day the points were earned (program's timezone).
    AFTER_DAYS = "AFTER_DAYS"
    #: the last day of the month ``expiry_count`` months after the month earned (0: the same).
    END_OF_MONTH = "END_OF_MONTH"
    #: 31 December of the year ``expiry_count`` years after the year earned (0: the same).
    END_OF_NTH_YEAR = "END_OF_NTH_YEAR"


class AccountStatus(StrEnum):
    ACTIVE = "ACTIVE"
    #: earns nothing, redeems nothing; its points stay (and still expire).
    SUSPENDED = "SUSPENDED"
    CLOSED = "CLOSED"


class EntryKind(StrEnum):
    ACCRUAL = "ACCRUAL"  # points earned (purchase, event, campaign bonus, migrated accrual)
    ADJUSTMENT = "ADJUSTMENT"  # a person's manual correction, + or -
    REDEMPTION = "REDEMPTION"  # a reward taken
    REDEMPTION_REVERSAL = "REDEMPTION_REVERSAL"  # a cancelled redemption gives points back
    REFUND = "REFUND"  # a purchase refunded takes back what it earned
    EXPIRY = "EXPIRY"  # lots past their date
    TRANSFER_OUT = "TRANSFER_OUT"
    TRANSFER_IN = "TRANSFER_IN"


class SourceType(StrEnum):
    PURCHASE = "PURCHASE"  # a card-platform purchase (loyalty_purchases)
    EVENT = "EVENT"  # one of Trama's own events (an on-time credit payment …)
    CAMPAIGN = "CAMPAIGN"  # a promotion's bonus granted on its own
    MANUAL = "MANUAL"  # adjustPoints: ``actor`` is the person
    MIGRATION = "MIGRATION"  # a legacy CRM migration batch (``migration_batch_id``)
    TRANSFER = "TRANSFER"  # ``counterparty_account_id``, ``transfer_id`` in ``source_ref``
    EXPIRY = "EXPIRY"  # the expiry job (or a migrated expiry)
    REFUND = "REFUND"  # a refund of a purchase (``purchase_id`` is the refund's row)
    REDEMPTION = "REDEMPTION"  # ``redemption_id``


class LotKind(StrEnum):
    EARN = "EARN"
    DEBT = "DEBT"


class RuleSetStatus(StrEnum):
    ACTIVE = "ACTIVE"  # in force over [effective_from, effective_until)
    SUPERSEDED = "SUPERSEDED"  # replaced by a later version before it took effect
    RETIRED = "RETIRED"  # withdrawn before it took effect


class PurchaseKind(StrEnum):
    PURCHASE = "PURCHASE"
    REFUND = "REFUND"
    EVENT = "EVENT"


class PurchaseStatus(StrEnum):
    RECEIVED = "RECEIVED"  # waiting for loyalty.accrue
    ACCRUED = "ACCRUED"  # processed: ``points`` (maybe 0) and ``entry_id`` (when not 0)
    REJECTED = "REJECTED"  # could not be processed: ``error_code``, ``error``


class RedemptionStatus(StrEnum):
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class LimitPeriod(StrEnum):
    DAY = "DAY"
    MONTH = "MONTH"
    YEAR = "YEAR"
    EVER = "EVER"


class LoyaltyProgram(SQLModel, table=True):
    """A partner's points program."""

    __tablename__ = "loyalty_programs"
    __table_args__ = (
        sa.CheckConstraint("point_value >= 0", name="point_value_not_negative"),
        sa.CheckConstraint("pending_days >= 0", name="pending_days_not_negative"),
        sa.CheckConstraint(
            "(expiry_policy = 'NEVER' AND expiry_count IS NULL)"
            " OR (expiry_policy <> 'NEVER' AND expiry_count IS NOT NULL AND expiry_count >= 0)",
            name="expiry_count",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False, index=True)
    )
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    #: What members call a point ("Puntos Pampa").
    unit_name: str = Field(max_length=60)
    #: Liability of one point, in major units of ``currency`` (exact: "0.35").
    point_value: Decimal = Field(sa_type=ExactDecimal)
    currency: str = Field(max_length=3)
    #: IANA zone: the program's days (availability, expiry, caps, rule dates).
    timezone: str = Field(max_length=64)
    expiry_policy: str = Field(default=ExpiryPolicy.NEVER.value, max_length=16)
    expiry_count: int | None = Field(default=None)
    #: Refund lock: points of a purchase become available this many days after it.
    pending_days: int = Field(default=0)
    #: A refund may take the balance below zero (a debt later accruals repay first);
    #: otherwise what cannot be taken back is forgiven (and said so in the explanation).
    allow_debt: bool = Field(default=True)
    active: bool = Field(default=True)
    #: Last member number given (``LoyaltyAccount.number``).
    member_seq: int = Field(default=0, sa_type=sa.BigInteger)
    #: Last local day the expiry job finished for this program.
    expired_through: date | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class LoyaltyAccount(SQLModel, table=True):
    """A customer's membership of one program."""

    __tablename__ = "loyalty_accounts"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "customer_id"),
        sa.UniqueConstraint("program_id", "number"),
        sa.UniqueConstraint("program_id", "external_ref"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    program_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_programs.id"), nullable=False)
    )
    customer_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("customers.id"), nullable=False, index=True)
    )
    #: Member number shown to people (unique in the program).
    number: str = Field(max_length=32)
    #: The member's id in a legacy system it was migrated from.
    external_ref: str | None = Field(default=None, max_length=64)
    status: str = Field(default=AccountStatus.ACTIVE.value, max_length=12)
    tier_code: str | None = Field(default=None, max_length=32)
    tier_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Marketing segments the program's promotions may target (codes).
    segments: list[str] = Field(default_factory=list, sa_type=JSONType)
    enrolled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class LoyaltyRuleSet(SQLModel, table=True):
    """One version of a program's rules (``domain/loyalty/rules.py``), in force on the
    program's days ``[effective_from, effective_until)``. ACTIVE versions of a program
    never overlap."""

    __tablename__ = "loyalty_rule_sets"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "version"),
        sa.Index("ix_loyalty_rule_sets_in_force", "program_id", "status", "effective_from"),
        sa.CheckConstraint(
            "effective_until IS NULL OR effective_until > effective_from", name="period_order"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    program_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_programs.id"), nullable=False)
    )
    version: int
    name: str = Field(max_length=200)
    effective_from: date
    effective_until: date | None = Field(default=None)
    status: str = Field(default=RuleSetStatus.ACTIVE.value, max_length=12)
    document: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    #: SHA-256 of the canonical JSON of ``document``.
    document_hash: str = Field(max_length=64)
    supersedes_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_rule_sets.id"), nullable=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LoyaltyPurchase(SQLModel, table=True):
    """A purchase, a refund of one, or a Trama event that may earn points; processed by
    ``loyalty.accrue``. Unique per program by the sender's transaction id."""

    __tablename__ = "loyalty_purchases"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "external_id"),
        sa.Index("ix_loyalty_purchases_account", "account_id", "occurred_at"),
        sa.Index("ix_loyalty_purchases_program_time", "program_id", "occurred_at"),
        sa.Index(
            "ix_loyalty_purchases_queue",
            "received_at",
            sqlite_where=sa.text("status = 'RECEIVED'"),
            postgresql_where=sa.text("status = 'RECEIVED'"),
        ),
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    program_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_programs.id"), nullable=False)
    )
    account_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_accounts.id"), nullable=False)
    )
    #: The card platform's transaction id (or ``event:<outbox id>`` for Trama's events).
    external_id: str = Field(max_length=100)
    kind: str = Field(default=PurchaseKind.PURCHASE.value, max_length=10)
    refund_of_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_purchases.id"), nullable=True),
    )
    event_type: str | None = Field(default=None, max_length=60)
    #: Minor units of ``currency`` (a refund's amount is what it gives back, positive).
    amount: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    mcc: str | None = Field(default=None, max_length=4)
    #: Code of the partner (merchant, retailer) where it was spent.
    merchant_partner: str | None = Field(default=None, max_length=32)
    merchant_name: str | None = Field(default=None, max_length=200)
    channel: str | None = Field(default=None, max_length=20)
    card_product: str | None = Field(default=None, max_length=40)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: str = Field(default=PurchaseStatus.RECEIVED.value, max_length=10)
    points: int | None = Field(default=None, sa_type=sa.BigInteger)
    entry_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    rule_set_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_rule_sets.id"), nullable=True),
    )
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error_code: str | None = Field(default=None, max_length=40)
    error: str | None = Field(default=None, max_length=500)
    migration_batch_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)


class LoyaltyEntry(SQLModel, table=True):
    """One movement of the ledger (append-only)."""

    __tablename__ = "loyalty_entries"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "dedupe_key"),
        sa.Index("ix_loyalty_entries_account_time", "account_id", "occurred_at", "id"),
        sa.Index("ix_loyalty_entries_program_time", "program_id", "occurred_at"),
        sa.CheckConstraint("points <> 0", name="points_not_zero"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    program_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_programs.id"), nullable=False)
    )
    account_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_accounts.id"), nullable=False)
    )
    kind: str = Field(max_length=20)
    points: int = Field(sa_type=sa.BigInteger)
    #: When it happened (business time: the purchase's, the legacy transaction's, the
    #: expiry day's start); ``recorded_at`` is when it was written.
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reason: str = Field(max_length=500)
    source_type: str = Field(max_length=12)
    source_ref: str | None = Field(default=None, max_length=200)
    #: Makes the movement unique in its program (a retry writes nothing twice).
    dedupe_key: str | None = Field(default=None, max_length=200)
    purchase_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    rule_set_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    rule_set_version: int | None = Field(default=None)
    #: The promotion (campaign) that gave or raised the points.
    campaign: str | None = Field(default=None, max_length=100)
    #: Who wrote it: the person of a manual adjustment, the principal otherwise.
    actor: str = Field(max_length=200)
    migration_batch_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    counterparty_account_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    redemption_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    #: The inputs and the formula that gave the figure, as data.
    explanation: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class LoyaltyLot(SQLModel, table=True):
    """Points earned together (``EARN``: ``0 <= remaining <= points``) or the account's
    debt (``DEBT``: ``points < 0``, ``remaining <= 0``). Open while ``remaining <> 0``."""

    __tablename__ = "loyalty_lots"
    __table_args__ = (
        sa.Index(
            "ix_loyalty_lots_open",
            "account_id",
            "expires_on",
            sqlite_where=sa.text("remaining <> 0"),
            postgresql_where=sa.text("remaining <> 0"),
        ),
        sa.Index(
            "ix_loyalty_lots_expiring",
            "program_id",
            "expires_on",
            sqlite_where=sa.text("remaining > 0 AND expires_on IS NOT NULL"),
            postgresql_where=sa.text("remaining > 0 AND expires_on IS NOT NULL"),
        ),
        sa.Index("ix_loyalty_lots_account_opened", "account_id", "opened_at"),
        sa.CheckConstraint(
            "(kind = 'EARN' AND points > 0 AND remaining >= 0 AND remaining <= points)"
            " OR (kind = 'DEBT' AND points < 0 AND remaining <= 0)",
            name="points_and_remaining",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    program_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_programs.id"), nullable=False)
    )
    account_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_accounts.id"), nullable=False)
    )
    #: The entry that opened it.
    entry_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_entries.id"), nullable=False)
    )
    kind: str = Field(default=LotKind.EARN.value, max_length=4)
    points: int = Field(sa_type=sa.BigInteger)
    remaining: int = Field(sa_type=sa.BigInteger)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    #: Pending until this day (program's timezone); available from it.
    available_on: date
    #: Last day the points count; NULL never expires (and DEBT lots).
    expires_on: date | None = Field(default=None)


class LoyaltyLotMove(SQLModel, table=True):
    """What one entry did to one lot (append-only): consumed (negative) or, on a DEBT lot,
    added debt (negative) or repaid it (positive)."""

    __tablename__ = "loyalty_lot_moves"
    __table_args__ = (
        sa.Index("ix_loyalty_lot_moves_lot", "lot_id", "occurred_at"),
        sa.CheckConstraint("points <> 0", name="points_not_zero"),
    )

    entry_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("loyalty_entries.id"), primary_key=True, nullable=False
        )
    )
    lot_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("loyalty_lots.id"), primary_key=True, nullable=False
        )
    )
    points: int = Field(sa_type=sa.BigInteger)
    #: The entry's ``occurred_at`` (as-of balances read moves without the entries).
    occurred_at: datetime = Field(sa_type=UTCDateTime)


class LoyaltyReward(SQLModel, table=True):
    """The redemption catalogue."""

    __tablename__ = "loyalty_rewards"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "code"),
        sa.CheckConstraint("cost_points > 0", name="cost_points_positive"),
        sa.CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        sa.CheckConstraint(
            "(limit_per_member IS NULL AND limit_period IS NULL)"
            " OR (limit_per_member > 0 AND limit_period IS NOT NULL)",
            name="limit",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    program_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_programs.id"), nullable=False)
    )
    code: str = Field(max_length=40)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    cost_points: int = Field(sa_type=sa.BigInteger)
    #: Units left; NULL: unlimited.
    stock: int | None = Field(default=None)
    #: At most this many units per member per ``limit_period``.
    limit_per_member: int | None = Field(default=None)
    limit_period: str | None = Field(default=None, max_length=8)
    active: bool = Field(default=True)
    valid_from: date | None = Field(default=None)
    valid_until: date | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class LoyaltyRedemption(SQLModel, table=True):
    __tablename__ = "loyalty_redemptions"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "idempotency_key"),
        sa.Index("ix_loyalty_redemptions_limits", "account_id", "reward_id", "created_at"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    program_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_programs.id"), nullable=False)
    )
    account_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_accounts.id"), nullable=False)
    )
    reward_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_rewards.id"), nullable=False)
    )
    quantity: int
    points: int = Field(sa_type=sa.BigInteger)
    status: str = Field(default=RedemptionStatus.COMPLETED.value, max_length=10)
    idempotency_key: str | None = Field(default=None, max_length=100)
    entry_id: uuid.UUID = Field(sa_type=UUIDType)
    cancel_entry_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoyaltyTierChange(SQLModel, table=True):
    """An account's tier changed (qualification or downgrade over the rolling window)."""

    __tablename__ = "loyalty_tier_changes"
    __table_args__ = (sa.Index("ix_loyalty_tier_changes_account", "account_id", "changed_at"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    account_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_accounts.id"), nullable=False)
    )
    from_tier: str | None = Field(default=None, max_length=32)
    to_tier: str | None = Field(default=None, max_length=32)
    changed_at: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=200)
    rule_set_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    explanation: dict[str, Any] | None = Field(default=None, sa_type=JSONType)

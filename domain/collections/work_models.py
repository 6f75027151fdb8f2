"""Collections, part 3: the work on overdue accounts and the financial reports (issue 10,
migration 0010).

- Collectors are directory users of a lender enrolled to work its accounts
  (:class:`Collector`); which collector gets which account is decided by the lender's
  assignment rule set (:class:`AssignmentRuleSet`, versioned, rules as data) with round
  robin inside each rule's pool (:class:`RoundRobinCursor`).
- The daily run builds the work queues (:class:`QueueItem`: one open item per credit and
  kind — due soon, past due, broken promise) and records every change of hands
  (:class:`Assignment`), so recovery by collector is computed from dated facts.
- The lender's strategy (:class:`Strategy`, versioned, steps as data) fires steps
  (:class:`StrategyAction`, once per credit, installment and step), each delivered by the
  notifier workers as :class:`Notification` rows (e-mail, signed webhook).
- People log contacts (:class:`Contact`) and promises to pay (:class:`Promise`), which the
  payments that arrive decide (kept, partially kept, broken).
- Reports (:class:`Report`) keep their figures, the instant their facts were known at, and
  where their CSV and XLSX files are.

Amounts are integer minor units (``BigInteger``) of the credit's currency.
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

__all__ = [
    "ActionKind",
    "ActionStatus",
    "Assignment",
    "AssignmentRuleSet",
    "Collector",
    "Contact",
    "ContactChannel",
    "ContactDirection",
    "ContactOutcome",
    "Notification",
    "NotificationChannel",
    "NotificationStatus",
    "Promise",
    "PromiseHistory",
    "PromiseStatus",
    "QueueItem",
    "QueueKind",
    "QueueStatus",
    "Report",
    "ReportKind",
    "RoundRobinCursor",
    "Strategy",
    "StrategyAction",
]


class QueueKind(StrEnum):
    DUE_SOON = "DUE_SOON"  # an installment falls due within the strategy's horizon
    PAST_DUE = "PAST_DUE"  # something is past due (by aging bucket)
    BROKEN_PROMISE = "BROKEN_PROMISE"  # a promise to pay was broken (or partly kept)


class QueueStatus(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"  # the condition went away (paid, cured, promise made, closed)


class ActionKind(StrEnum):
    REMINDER = "REMINDER"  # before (or on) the due date
    NOTICE = "NOTICE"  # past due: an aviso de mora
    CALL = "CALL"  # a collector calls: a task in the queue (and the partner's dialer)
    LETTER = "LETTER"  # a formal collection letter (carta de cobranza)


class ActionStatus(StrEnum):
    FIRED = "FIRED"
    SKIPPED = "SKIPPED"  # a later step of the same episode fired first (a day was missed)


class NotificationChannel(StrEnum):
    EMAIL = "EMAIL"  # to the customer, through SMTP
    WEBHOOK = "WEBHOOK"  # to the lender's platform, signed, through its connector


class NotificationStatus(StrEnum):
    PENDING = "PENDING"
    SENDING = "SENDING"  # claimed by a sender until ``claimed_until``
    SENT = "SENT"
    FAILED = "FAILED"  # refused for good (bad address, a 4xx from the platform…)
    SKIPPED = "SKIPPED"  # nothing to send to (no e-mail, no connector)


class ContactChannel(StrEnum):
    PHONE = "PHONE"
    SMS = "SMS"
    WHATSAPP = "WHATSAPP"
    EMAIL = "EMAIL"
    LETTER = "LETTER"
    VISIT = "VISIT"


class ContactDirection(StrEnum):
    OUTBOUND = "OUTBOUND"
    INBOUND = "INBOUND"


class ContactOutcome(StrEnum):
    PROMISE_TO_PAY = "PROMISE_TO_PAY"
    CONTACTED = "CONTACTED"  # spoke with the customer, no promise
    ALREADY_PAID = "ALREADY_PAID"
    REFUSED_TO_PAY = "REFUSED_TO_PAY"
    DISPUTE = "DISPUTE"
    CALLBACK_REQUESTED = "CALLBACK_REQUESTED"
    LEFT_MESSAGE = "LEFT_MESSAGE"
    NO_ANSWER = "NO_ANSWER"
    WRONG_CONTACT = "WRONG_CONTACT"

    @property
    def reached(self) -> bool:
        """Whether the customer was reached (a right-party contact)."""
        return self in {
            ContactOutcome.PROMISE_TO_PAY,
            ContactOutcome.CONTACTED,
            ContactOutcome.ALREADY_PAID,
            ContactOutcome.REFUSED_TO_PAY,
            ContactOutcome.DISPUTE,
            ContactOutcome.CALLBACK_REQUESTED,
        }


class PromiseStatus(StrEnum):
    OPEN = "OPEN"
    KEPT = "KEPT"
    PARTIALLY_KEPT = "PARTIALLY_KEPT"
    BROKEN = "BROKEN"
    CANCELLED = "CANCELLED"


class ReportKind(StrEnum):
    RECONCILIATION = "RECONCILIATION"
    AGING = "AGING"
    COLLECTIONS = "COLLECTIONS"
    PORTFOLIO = "PORTFOLIO"


def _money(**kwargs: Any) -> Any:
    return Field(sa_type=sa.BigInteger, **kwargs)


def _fk(target: str, *, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=sa.Column(UUIDType, sa.ForeignKey(target), nullable=nullable, index=index),
    )


class Collector(SQLModel, table=True):
    """A user of the lender enrolled to work its accounts."""

    __tablename__ = "collections_collectors"
    __table_args__ = (sa.UniqueConstraint("partner_id", "user_id"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = _fk("partners.id")
    user_id: uuid.UUID = _fk("users.id")
    active: bool = Field(default=True)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class AssignmentRuleSet(SQLModel, table=True):
    """One version of a lender's ordered assignment rules (``domain.collections.collectors``
    describes a rule). The highest version is in force; older ones are kept."""

    __tablename__ = "collections_rule_sets"
    __table_args__ = (sa.UniqueConstraint("partner_id", "version"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = _fk("partners.id")
    version: int
    rules: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Strategy(SQLModel, table=True):
    """One version of a lender's collection strategy: its steps as data
    (``domain.collections.strategies``). The highest version is in force."""

    __tablename__ = "collections_strategies"
    __table_args__ = (sa.UniqueConstraint("partner_id", "version"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = _fk("partners.id")
    version: int
    name: str = Field(max_length=100)
    steps: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    #: Days after the promised date a payment still keeps a promise (transfers take a day).
    promise_grace_days: int = Field(default=1)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RoundRobinCursor(SQLModel, table=True):
    """Where the round robin of one pool of a lender goes next."""

    __tablename__ = "collections_rr_cursors"

    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), primary_key=True)
    )
    pool: str = Field(max_length=80, primary_key=True)
    next_index: int = Field(default=0, sa_type=sa.BigInteger)


class QueueItem(SQLModel, table=True):
    """An account to work: one open item per credit and kind at a time."""

    __tablename__ = "collections_queue_items"
    __table_args__ = (
        sa.Index(
            "ix_collections_queue_items_open_credit_kind",
            "credit_id",
            "kind",
            unique=True,
            sqlite_where=sa.text("status = 'OPEN'"),
            postgresql_where=sa.text("status = 'OPEN'"),
        ),
        sa.Index(
            "ix_collections_queue_items_partner_list", "partner_id", "status", "priority", "id"
        ),
        sa.Index(
            "ix_collections_queue_items_collector", "collector_id", "status", "priority", "id"
        ),
        sa.Index("ix_collections_queue_items_credit", "credit_id", "opened_on"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = _fk("partners.id")
    credit_id: uuid.UUID = _fk("credits.id")
    customer_id: uuid.UUID = _fk("customers.id")
    kind: str = Field(max_length=16)  # QueueKind
    status: str = Field(max_length=10)  # QueueStatus
    #: Aging bucket (``domain.credits.states.AgingBucket``) and figures of the last run.
    bucket: str = Field(max_length=10)
    days_past_due: int = Field(default=0)
    #: The installment the item is about: the oldest past due, or the next one due.
    due_date: date
    installment_number: int
    schedule_no: int
    #: Past due: everything overdue (late interest included); due soon: the installment.
    amount_due: int = _money(default=0)
    currency: str = Field(max_length=3)
    #: Lower is worked first (the run computes it: broken promises, then the oldest debts).
    priority: int = Field(default=0, sa_type=sa.BigInteger)
    collector_id: uuid.UUID | None = _fk("collections_collectors.id", nullable=True)
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: RULE, DEFAULT or MANUAL (a supervisor's choice, kept while the collector is active).
    assigned_how: str | None = Field(default=None, max_length=10)
    #: The open promise of the credit when the item was refreshed (calls wait for it).
    promise_id: uuid.UUID | None = _fk("collections_promises.id", nullable=True)
    #: The last step of the strategy fired on the credit (a CALL puts a call on the list).
    next_action: str | None = Field(default=None, max_length=10)
    contact_count: int = Field(default=0)
    last_contact_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    opened_on: date
    last_run_on: date
    resolved_on: date | None = Field(default=None)
    resolution: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class Assignment(SQLModel, table=True):
    """Who had a queue item, from when to when: the dated facts of recovery by collector."""

    __tablename__ = "collections_assignments"
    __table_args__ = (
        sa.Index("ix_collections_assignments_credit", "credit_id", "assigned_at"),
        sa.Index("ix_collections_assignments_partner", "partner_id", "assigned_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    item_id: uuid.UUID = _fk("collections_queue_items.id", index=True)
    partner_id: uuid.UUID = _fk("partners.id")
    credit_id: uuid.UUID = _fk("credits.id")
    collector_id: uuid.UUID = _fk("collections_collectors.id")
    #: RULE (the named rule's pool), DEFAULT (every active collector), KEPT, MANUAL.
    how: str = Field(max_length=10)
    rule_name: str | None = Field(default=None, max_length=100)
    assigned_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StrategyAction(SQLModel, table=True):
    """A step of the strategy fired (or skipped) on a credit: once per installment and step."""

    __tablename__ = "collections_actions"
    __table_args__ = (
        sa.UniqueConstraint("credit_id", "schedule_no", "installment_number", "step_code"),
        sa.Index("ix_collections_actions_partner_run", "partner_id", "run_date", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = _fk("partners.id")
    credit_id: uuid.UUID = _fk("credits.id")
    customer_id: uuid.UUID = _fk("customers.id")
    strategy_version: int
    step_code: str = Field(max_length=40)
    action: str = Field(max_length=10)  # ActionKind
    day_offset: int
    channels: list[str] = Field(default_factory=list, sa_type=JSONType)
    schedule_no: int
    installment_number: int
    due_date: date
    run_date: date
    days_past_due: int = Field(default=0)
    amount_due: int = _money(default=0)
    currency: str = Field(max_length=3)
    status: str = Field(max_length=10)  # ActionStatus
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Notification(SQLModel, table=True):
    """One message of a fired step on one channel; ``message_key`` makes sending idempotent
    (the e-mail's Message-ID, the webhook's Idempotency-Key)."""

    __tablename__ = "collections_notifications"
    __table_args__ = (
        sa.Index("ix_collections_notifications_status", "status", "updated_at"),
        sa.Index("ix_collections_notifications_action", "action_id"),
        sa.Index("ix_collections_notifications_partner", "partner_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    action_id: uuid.UUID = _fk("collections_actions.id")
    partner_id: uuid.UUID = _fk("partners.id")
    credit_id: uuid.UUID = _fk("credits.id")
    customer_id: uuid.UUID = _fk("customers.id")
    channel: str = Field(max_length=8)  # NotificationChannel
    message_key: str = Field(max_length=120, unique=True)
    status: str = Field(max_length=8)  # NotificationStatus
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Where it went, masked (``c•••@•••.com``, the endpoint's host): never in clear here.
    recipient: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Promise(SQLModel, table=True):
    """A customer's promise to pay ``amount`` by ``promised_date``."""

    __tablename__ = "collections_promises"
    __table_args__ = (
        sa.Index(
            "ix_collections_promises_open_credit",
            "credit_id",
            unique=True,
            sqlite_where=sa.text("status = 'OPEN'"),
            postgresql_where=sa.text("status = 'OPEN'"),
        ),
        sa.Index("ix_collections_promises_credit", "credit_id", "made_on"),
        sa.Index("ix_collections_promises_partner", "partner_id", "status", "promised_date", "id"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = _fk("partners.id")
    credit_id: uuid.UUID = _fk("credits.id")
    customer_id: uuid.UUID = _fk("customers.id")
    amount: int = _money()
    currency: str = Field(max_length=3)
    #: The business date it was made on and the date promised (lender's timezone).
    made_on: date
    promised_date: date
    grace_days: int = Field(default=1)
    status: str = Field(max_length=16)  # PromiseStatus
    #: Paid within [made_on, promised_date + grace_days], by booked payments.
    paid_amount: int = _money(default=0)
    decided_on: date | None = Field(default=None)
    collector_id: uuid.UUID | None = _fk("collections_collectors.id", nullable=True)
    note: str | None = Field(default=None, max_length=500)
    cancel_reason: str | None = Field(default=None, max_length=300)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class PromiseHistory(SQLModel, table=True):
    """Each state a promise was in, from when: the dated facts reports read (a rerun knows
    what was known of a promise at its instant, whatever happened to it since)."""

    __tablename__ = "collections_promise_history"
    __table_args__ = (
        sa.Index("ix_collections_promise_history_promise", "promise_id", "recorded_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    promise_id: uuid.UUID = _fk("collections_promises.id")
    partner_id: uuid.UUID = _fk("partners.id", index=True)
    status: str = Field(max_length=16)
    paid_amount: int = _money(default=0)
    decided_on: date | None = Field(default=None)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Contact(SQLModel, table=True):
    """One contact with a customer about a credit."""

    __tablename__ = "collections_contacts"
    __table_args__ = (
        sa.Index("ix_collections_contacts_credit", "credit_id", "contacted_at", "id"),
        sa.Index("ix_collections_contacts_partner", "partner_id", "contacted_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = _fk("partners.id")
    credit_id: uuid.UUID = _fk("credits.id")
    customer_id: uuid.UUID = _fk("customers.id")
    channel: str = Field(max_length=10)  # ContactChannel
    direction: str = Field(max_length=10)  # ContactDirection
    outcome: str = Field(max_length=20)  # ContactOutcome
    note: str | None = Field(default=None, max_length=2000)
    contacted_at: datetime = Field(sa_type=UTCDateTime)
    collector_id: uuid.UUID | None = _fk("collections_collectors.id", nullable=True)
    promise_id: uuid.UUID | None = _fk("collections_promises.id", nullable=True)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Report(SQLModel, table=True):
    """A financial report of a lender for a period: its figures, as the facts were known at
    ``known_at``, and its files. A rerun with the same ``known_at`` gives the same bytes; a
    restatement (newer facts) is the next revision."""

    __tablename__ = "collections_reports"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "kind", "period_start", "period_end", "revision"),
        sa.Index("ix_collections_reports_partner_list", "partner_id", "generated_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = _fk("partners.id")
    kind: str = Field(max_length=16)  # ReportKind
    period_start: date
    period_end: date
    revision: int = Field(default=1)
    known_at: datetime = Field(sa_type=UTCDateTime)
    timezone: str = Field(max_length=40)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    #: SHA-256 of the canonical JSON of ``data``, and of each file.
    figures_sha256: str = Field(max_length=64)
    csv_key: str = Field(max_length=200)
    csv_sha256: str = Field(max_length=64)
    csv_size: int = Field(sa_type=sa.BigInteger)
    xlsx_key: str = Field(max_length=200)
    xlsx_sha256: str = Field(max_length=64)
    xlsx_size: int = Field(sa_type=sa.BigInteger)
    trigger: str = Field(max_length=10)  # SCHEDULED, MANUAL
    generated_by: str = Field(max_length=200)
    generated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: Reruns of this revision that gave the same bytes, and the last one.
    rerun_count: int = Field(default=0)
    last_rerun_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

"""Credit registry tables: credits, their schedules and installments, payments, allocations,
refunds, UF values and the reference counter.

Amounts are integer minor units of the credit's currency (``BigInteger``); rates and UF
values are exact decimals (:class:`~domain.shared.types.ExactDecimal`), never floats.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import ExactDecimal, JSONType, UTCDateTime, UUIDType

__all__ = [
    "Allocation",
    "Credit",
    "CreditReferenceCounter",
    "CreditSchedule",
    "Installment",
    "Payment",
    "Refund",
    "UFValue",
    "WriteOff",
]


def _money(**kwargs: Any) -> Any:
    return Field(default=0, sa_type=sa.BigInteger, **kwargs)


def _credit_fk() -> Any:
    return Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("credits.id"), nullable=False, index=True)
    )


class Credit(SQLModel, table=True):
    """A credit granted by a lender partner to a customer."""

    __tablename__ = "credits"
    __table_args__ = (
        sa.Index("ix_credits_partner_status", "partner_id", "status", "id"),
        sa.Index("ix_credits_status", "status", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    reference: str = Field(max_length=20, unique=True)  # CR-2026-000123
    customer_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("customers.id"), nullable=False, index=True)
    )
    partner_id: uuid.UUID = Field(  # indexed by ix_credits_partner_status
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    product_code: str = Field(max_length=40)
    currency: str = Field(max_length=3)
    principal: int = _money()
    annual_rate: Decimal = Field(sa_type=ExactDecimal)
    late_annual_rate: Decimal = Field(sa_type=ExactDecimal)
    term_months: int
    scheme: str = Field(max_length=10)
    day_count: str = Field(max_length=10)
    grace_months: int = Field(default=0)
    grace_kind: str = Field(max_length=20)
    opening_fee: int = _money()
    opening_fee_mode: str = Field(max_length=10)
    monthly_insurance: int = _money()
    monthly_charges: int = _money()
    rounding: str = Field(max_length=20)
    allocation_order: str = Field(max_length=100)
    allocation_mode: str = Field(max_length=20)
    vehicle_ref: str | None = Field(default=None, max_length=100)
    timezone: str = Field(max_length=40)  # the lender's: business dates of this credit
    planned_disbursement_date: date
    disbursement_date: date | None = Field(default=None)
    status: str = Field(max_length=20)
    status_reason: str | None = Field(default=None, max_length=300)
    schedule_no: int = Field(default=1)  # the schedule in force (a restructure adds one)
    credit_balance: int = _money()  # overpayment held for the next installment or a refund
    outstanding_principal: int = _money()
    days_past_due: int = Field(default=0)
    aging_bucket: str = Field(default="CURRENT", max_length=10)
    delinquent_since: date | None = Field(default=None)
    ledger_as_of: date | None = Field(default=None)  # the day the stored state was replayed for
    paid_off_on: date | None = Field(default=None)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class CreditSchedule(SQLModel, table=True):
    """The terms one schedule was built from. ``schedule_no`` 1 is the original; each
    restructure adds the next, built from the outstanding balance; old ones are kept."""

    __tablename__ = "credit_schedules"
    __table_args__ = (sa.UniqueConstraint("credit_id", "schedule_no"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    credit_id: uuid.UUID = _credit_fk()
    schedule_no: int
    reason: str = Field(max_length=20)
    start_date: date
    principal: int = _money()
    opening_fee: int = _money()
    opening_fee_mode: str = Field(max_length=10)
    annual_rate: Decimal = Field(sa_type=ExactDecimal)
    term_months: int
    scheme: str = Field(max_length=10)
    day_count: str = Field(max_length=10)
    grace_months: int = Field(default=0)
    grace_kind: str = Field(max_length=20)
    monthly_insurance: int = _money()
    monthly_charges: int = _money()
    rounding: str = Field(max_length=20)
    #: What a restructure capitalised into ``principal`` (0 for the original schedule).
    carried_principal: int = _money()
    carried_interest: int = _money()
    carried_charges: int = _money()
    carried_late_interest: int = _money()
    #: Credit balance carried in, by payment: ``[{"payment_id": "...", "amount": 123}]``.
    carried_balance: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    closed_on: date | None = Field(default=None)  # superseded by the next schedule
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Installment(SQLModel, table=True):
    """One row of a stored schedule, with what has been paid on it (kept by the replay)."""

    __tablename__ = "credit_installments"
    __table_args__ = (
        sa.UniqueConstraint("credit_id", "schedule_no", "number"),
        sa.Index("ix_credit_installments_open", "status", "due_date"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    credit_id: uuid.UUID = _credit_fk()
    schedule_no: int
    number: int
    due_date: date
    days: int
    opening_balance: int = _money()
    interest: int = _money()
    capitalised: int = _money()
    principal: int = _money()
    insurance: int = _money()
    other_charges: int = _money()
    amount: int = _money()  # interest - capitalised + principal + charges
    closing_balance: int = _money()
    principal_paid: int = _money()
    interest_paid: int = _money()
    charges_paid: int = _money()
    late_interest_accrued: int = _money()  # as of the credit's ledger_as_of
    late_interest_paid: int = _money()
    #: Forgiven by partial write-offs (``credit_write_offs``), never cash.
    principal_written_off: int = _money()
    interest_written_off: int = _money()
    charges_written_off: int = _money()
    late_interest_written_off: int = _money()
    status: str = Field(max_length=20)
    paid_on: date | None = Field(default=None)


class Payment(SQLModel, table=True):
    __tablename__ = "credit_payments"
    __table_args__ = (
        sa.UniqueConstraint("credit_id", "idempotency_key"),
        sa.Index("ix_credit_payments_order", "credit_id", "paid_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    credit_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("credits.id"), nullable=False)
    )
    schedule_no: int
    amount: int = _money()  # as paid, in ``currency``
    currency: str = Field(max_length=3)
    credit_amount: int = _money()  # in the credit's currency (converted at ``uf_value``)
    uf_value: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    paid_at: datetime = Field(sa_type=UTCDateTime)
    paid_on: date  # business date of paid_at in the credit's timezone
    reference: str = Field(max_length=100)
    idempotency_key: str = Field(max_length=100)
    prepayment: str | None = Field(default=None, max_length=20)
    status: str = Field(max_length=10)
    allocated_amount: int = _money()
    held_amount: int = _money()
    refunded_amount: int = _money()
    reversed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reversal_reason: str | None = Field(default=None, max_length=300)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Allocation(SQLModel, table=True):
    """How much of one payment went to one component of one installment."""

    __tablename__ = "credit_allocations"
    __table_args__ = (sa.Index("ix_credit_allocations_credit", "credit_id", "schedule_no"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    credit_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("credits.id"), nullable=False)
    )
    payment_id: uuid.UUID = Field(
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("credit_payments.id"), nullable=False, index=True
        )
    )
    schedule_no: int
    installment_number: int
    component: str = Field(max_length=20)
    amount: int = _money()


class WriteOff(SQLModel, table=True):
    """A partial write-off: part of what an installment owes forgiven, never cash (a
    shortfall within a collections tolerance, bank fees, withholdings). The ledger replays
    it with the payments (``WriteOffEvent``); what it forgave per installment and
    component is kept in ``components`` and summed in ``applied_amount``. Idempotent per
    ``(credit_id, idempotency_key)``; ``source`` names what asked for it (a bank line)."""

    __tablename__ = "credit_write_offs"
    __table_args__ = (
        sa.UniqueConstraint("credit_id", "idempotency_key"),
        sa.Index("ix_credit_write_offs_order", "credit_id", "written_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    credit_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("credits.id"), nullable=False)
    )
    schedule_no: int
    installment_number: int | None = Field(default=None)  # None: the oldest row due
    amount: int = _money()  # as asked, in ``currency``
    currency: str = Field(max_length=3)
    credit_amount: int = _money()  # in the credit's currency (converted at ``uf_value``)
    uf_value: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    applied_amount: int = _money()  # what the ledger forgave (≤ credit_amount)
    #: ``[{"installment": 3, "component": "PRINCIPAL", "amount": 500}]``
    components: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    written_at: datetime = Field(sa_type=UTCDateTime)
    written_on: date  # business date of written_at in the credit's timezone
    reason: str = Field(max_length=300)
    reference: str = Field(max_length=100)
    idempotency_key: str = Field(max_length=100)
    source: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=10)  # BOOKED | REVERSED
    reversed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reversal_reason: str | None = Field(default=None, max_length=300)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Refund(SQLModel, table=True):
    """Credit balance paid back to the customer."""

    __tablename__ = "credit_refunds"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    credit_id: uuid.UUID = _credit_fk()
    schedule_no: int
    amount: int = _money()
    refunded_at: datetime = Field(sa_type=UTCDateTime)
    refunded_on: date
    reference: str = Field(max_length=100)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UFValue(SQLModel, table=True):
    """The Unidad de Fomento in Chilean pesos for one day."""

    __tablename__ = "uf_values"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    day: date = Field(unique=True)
    value: Decimal = Field(sa_type=ExactDecimal)  # CLP per UF, two decimals
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CreditReferenceCounter(SQLModel, table=True):
    """The last number handed out for credit references of one year."""

    __tablename__ = "credit_reference_counters"

    year: int = Field(
        primary_key=True, sa_type=sa.Integer, sa_column_kwargs={"autoincrement": False}
    )
    last: int = Field(default=0, sa_type=sa.BigInteger)

"""Investors, their fundings of credits, distribution lines and settlements.

Amounts are integer minor units of the credit's currency; shares and fee rates are integer
parts per million (``1_000_000`` = 100 %), so they are stored and summed exactly.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import UTCDateTime, UUIDType

#: A whole credit, in parts per million.
PPM = 1_000_000


class InvestorKind(StrEnum):
    PERSON = "PERSON"
    COMPANY = "COMPANY"


class KycStatus(StrEnum):
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    REJECTED = "REJECTED"


class BankAccountType(StrEnum):
    CHECKING = "CHECKING"  # cuenta corriente
    SAVINGS = "SAVINGS"  # cuenta de ahorro / caja de ahorro
    VISTA = "VISTA"  # cuenta vista / CuentaRUT (Chile)


class Party(StrEnum):
    INVESTOR = "INVESTOR"
    LENDER = "LENDER"  # the unfunded remainder stays with the lender


class LineComponent(StrEnum):
    INTEREST = "INTEREST"
    LATE_INTEREST = "LATE_INTEREST"
    PRINCIPAL = "PRINCIPAL"
    SERVICING_FEE = "SERVICING_FEE"  # negative on an investor's lines: what the servicer keeps


class LineKind(StrEnum):
    ORIGINAL = "ORIGINAL"
    ADJUSTMENT = "ADJUSTMENT"


class StatementStatus(StrEnum):
    ISSUED = "ISSUED"
    PAID = "PAID"


def _ppm_check(column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} > 0 AND {column} <= {PPM}", name=f"{column}_range")


class Investor(SQLModel, table=True):
    """A person or company that funds credits. National ID and bank account are personal
    data: shown masked unless ``domain.investors.access.sees_personal_data``."""

    __tablename__ = "investors"
    __table_args__ = (
        sa.UniqueConstraint("national_id_type", "national_id"),
        sa.Index("ix_investors_sort", "sort_name", "id"),
        sa.Index("ix_investors_national_id", "national_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    kind: str = Field(max_length=10)
    legal_name: str = Field(max_length=200)
    #: legal name folded (no accents, lower case): sort key and search text.
    sort_name: str = Field(max_length=200)
    national_id_type: str = Field(max_length=16)
    national_id: str = Field(max_length=40)
    country: str = Field(max_length=2)
    email: str | None = Field(default=None, max_length=254)
    bank_code: str = Field(max_length=10)
    bank_account_type: str = Field(max_length=10)
    bank_account_number: str = Field(max_length=34)
    kyc_status: str = Field(default=KycStatus.PENDING.value, max_length=10, index=True)
    kyc_note: str | None = Field(default=None, max_length=500)
    kyc_updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class CreditFunding(SQLModel, table=True):
    """An investor's share of one credit. Fundings are never edited; the shares of one
    credit sum to at most ``PPM``."""

    __tablename__ = "credit_fundings"
    __table_args__ = (
        _ppm_check("share_ppm"),
        sa.CheckConstraint(
            f"servicing_fee_ppm >= 0 AND servicing_fee_ppm <= {PPM}", name="servicing_fee_ppm_range"
        ),
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
        sa.CheckConstraint(
            "principal_repaid_before >= 0", name="principal_repaid_before_not_negative"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    credit_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("credits.id"), nullable=False, index=True)
    )
    investor_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("investors.id"), nullable=False, index=True)
    )
    share_ppm: int
    #: Servicing fee on the investor's interest and late interest, parts per million.
    servicing_fee_ppm: int
    #: Principal the investor put in: the share of the credit's outstanding principal when
    #: funded (its whole principal before disbursement), rounded down.
    amount: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    #: Interest and late interest of payments with a value date (``paid_on``) on or after
    #: this day are shared with the investor; NULL: every payment's (funded before
    #: disbursement).
    effective_on: date | None = Field(default=None)
    #: Principal the credit had repaid (its booked payments' principal allocations) when the
    #: funding was made: the investor shares the principal repaid beyond it, whatever the
    #: value date of the payment that repays it (``docs/investors.md`` §2).
    principal_repaid_before: int = Field(default=0, sa_type=sa.BigInteger)
    funded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    funded_by: str = Field(max_length=200)


class SettlementRun(SQLModel, table=True):
    """One settlement (liquidación) of a period; at most one run per period."""

    __tablename__ = "settlement_runs"
    __table_args__ = (
        sa.UniqueConstraint("period_start", "period_end"),
        sa.CheckConstraint("period_end >= period_start", name="period_order"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    period_start: date
    period_end: date = Field(index=True)
    statement_count: int = 0
    line_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)


class SettlementStatement(SQLModel, table=True):
    """What one investor is paid for one run, in one currency: the sum of its lines."""

    __tablename__ = "settlement_statements"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "investor_id", "currency"),
        sa.Index("ix_settlement_statements_investor", "investor_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    run_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("settlement_runs.id"), nullable=False)
    )
    investor_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("investors.id"), nullable=False)
    )
    currency: str = Field(max_length=3)
    interest: int = Field(default=0, sa_type=sa.BigInteger)  # interest + late interest
    principal: int = Field(default=0, sa_type=sa.BigInteger)
    fees: int = Field(default=0, sa_type=sa.BigInteger)  # servicing fees (<= 0)
    total: int = Field(default=0, sa_type=sa.BigInteger)
    line_count: int = 0
    status: str = Field(default=StatementStatus.ISSUED.value, max_length=10)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    payment_reference: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class DistributionLine(SQLModel, table=True):
    """Append-only: what one party is owed of one component of one payment, or a change to
    it. The figure for ``(payment, funding, component)`` is the sum of its lines."""

    __tablename__ = "distribution_lines"
    __table_args__ = (
        sa.Index("ix_distribution_lines_credit_payment", "credit_id", "payment_id"),
        sa.Index("ix_distribution_lines_investor", "investor_id", "value_date"),
        # What settlements read: only lines not yet settled, in investor order.
        sa.Index(
            "ix_distribution_lines_unsettled",
            "investor_id",
            "currency",
            "occurred_on",
            sqlite_where=sa.text("statement_id IS NULL AND investor_id IS NOT NULL"),
            postgresql_where=sa.text("statement_id IS NULL AND investor_id IS NOT NULL"),
        ),
        sa.CheckConstraint(
            "(party = 'INVESTOR') = (funding_id IS NOT NULL AND investor_id IS NOT NULL)",
            name="party_funding",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    credit_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("credits.id"), nullable=False)
    )
    payment_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("credit_payments.id"), nullable=False)
    )
    party: str = Field(max_length=10)
    funding_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("credit_fundings.id"), nullable=True),
    )
    investor_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(UUIDType, sa.ForeignKey("investors.id"), nullable=True)
    )
    component: str = Field(max_length=16)
    kind: str = Field(max_length=12)
    amount: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    #: The payment's value date.
    value_date: date
    #: When the line became owed: the value date for an original line, the day it was
    #: recorded (never before the value date) for an adjustment. Settlements select on it.
    occurred_on: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    statement_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            UUIDType, sa.ForeignKey("settlement_statements.id"), nullable=True, index=True
        ),
    )

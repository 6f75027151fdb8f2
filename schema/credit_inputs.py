"""Inputs and payloads of the credit registry's operations (filters and mutations)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from domain.credits.calendar import DayCount as DayCountEnum
from domain.credits.plans import AllocationMode as AllocationModeEnum
from domain.credits.schedules import FeeMode as FeeModeEnum
from domain.credits.schedules import GraceKind as GraceKindEnum
from domain.credits.schedules import Scheme as SchemeEnum
from schema.credit_ledger import (
    AgingBucket,
    AllocationComponent,
    AllocationMode,
    CreditStatus,
    Prepayment,
)
from schema.credit_registry import Credit, Payment
from schema.credits import CreditScheme, DayCountConvention, GraceKind, OpeningFeeMode
from schema.errors import (
    ConflictError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from schema.money import Money, MoneyInput

_RATE = 'Annual nominal rate as a fraction: "0.18" is 18% a year.'
_VERSION = "The version you read; a stale one conflicts."


# --- filters --------------------------------------------------------------------------------
@strawberry.input(description="Narrow the credits list; every condition given must hold.")
class CreditFilter:
    status: list[CreditStatus] | None = None
    aging_bucket: list[AgingBucket] | None = None
    customer_id: strawberry.ID | None = None
    lender_id: strawberry.ID | None = strawberry.field(
        default=None, description="Administrators: one lender's credits."
    )
    reference: str | None = strawberry.field(
        default=None, description='A reference or its beginning ("CR-2026-").'
    )


# --- registry mutations ---------------------------------------------------------------------
@strawberry.input(description="A credit to register as APPROVED, with its planned schedule.")
class CreateCreditInput:
    customer_id: strawberry.ID
    product_code: str = strawberry.field(description="1 to 40 letters, digits, '-' or '_'.")
    principal: MoneyInput = strawberry.field(
        description="The amount lent; its currency is the credit's."
    )
    annual_rate: Decimal = strawberry.field(description=_RATE)
    term_months: int = strawberry.field(description="Monthly installments, grace included.")
    disbursement_date: date = strawberry.field(
        description="Planned; the schedule is rebuilt on the actual date when it is disbursed."
    )
    scheme: CreditScheme = SchemeEnum.FRENCH
    day_count: DayCountConvention = DayCountEnum.THIRTY_360
    grace_months: int = 0
    grace_kind: GraceKind = GraceKindEnum.INTEREST_ONLY
    opening_fee: MoneyInput | None = None
    opening_fee_mode: OpeningFeeMode = FeeModeEnum.DEDUCTED
    monthly_insurance: MoneyInput | None = None
    monthly_charges: MoneyInput | None = strawberry.field(
        default=None, description="Other fixed monthly charges."
    )
    vehicle_ref: str | None = strawberry.field(
        default=None, description="The financed vehicle (plate, VIN or catalog reference)."
    )
    late_annual_rate: Decimal | None = strawberry.field(
        default=None, description="Late interest; the configured default when left out."
    )
    allocation_order: list[AllocationComponent] | None = strawberry.field(
        default=None,
        description="Every component once; default LATE_INTEREST, CHARGES, INTEREST, PRINCIPAL.",
    )
    allocation_mode: AllocationMode | None = strawberry.field(
        default=None, description=f"Default {AllocationModeEnum.INSTALLMENT_FIRST.value}."
    )
    lender_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to your own partner; only admins may choose another."
    )


@strawberry.input
class DisburseCreditInput:
    id: strawberry.ID
    version: int = strawberry.field(description=_VERSION)
    disbursement_date: date | None = strawberry.field(
        default=None,
        description="Today in the lender's timezone by default; a past date registers a "
        "credit disbursed earlier; never a future one.",
    )


@strawberry.input
class CancelCreditInput:
    id: strawberry.ID
    version: int = strawberry.field(description=_VERSION)
    reason: str


@strawberry.input
class WriteOffCreditInput:
    id: strawberry.ID
    version: int = strawberry.field(description=_VERSION)
    reason: str


@strawberry.input(
    description="A new schedule from the outstanding balance (the old one is kept). Rate, "
    "scheme and grace kind stay as they were unless given."
)
class RestructureCreditInput:
    id: strawberry.ID
    version: int = strawberry.field(description=_VERSION)
    term_months: int
    reason: str
    annual_rate: Decimal | None = strawberry.field(default=None, description=_RATE)
    scheme: CreditScheme | None = None
    grace_months: int = 0
    grace_kind: GraceKind | None = None
    restructure_date: date | None = strawberry.field(
        default=None, description="Today by default; not before the last payment or refund."
    )


# --- payment mutations ----------------------------------------------------------------------
@strawberry.input(description="A payment; the same idempotencyKey on a credit books once.")
class RegisterPaymentInput:
    credit_id: strawberry.ID
    amount: MoneyInput = strawberry.field(
        description="In the credit's currency (a UF credit also takes CLP, converted at the "
        "UF value of the payment's date)."
    )
    paid_at: datetime = strawberry.field(description="When it was paid, with its offset.")
    reference: str = strawberry.field(description="The bank or channel's reference.")
    idempotency_key: str = strawberry.field(
        description="1 to 100 visible ASCII characters; repeat it to retry safely."
    )
    prepayment: Prepayment | None = None
    expected_version: int | None = strawberry.field(
        default=None, description="Optional: the credit version you read."
    )


@strawberry.input
class ReversePaymentInput:
    id: strawberry.ID
    reason: str
    expected_version: int | None = strawberry.field(
        default=None, description="Optional: the credit version you read."
    )


@strawberry.input(description="Pay back the credit balance (all of it unless amount is given).")
class RefundCreditBalanceInput:
    credit_id: strawberry.ID
    version: int = strawberry.field(description=_VERSION)
    reference: str
    amount: MoneyInput | None = None


# --- payloads -------------------------------------------------------------------------------
@strawberry.type
class CreateCreditSuccess:
    credit: Credit


@strawberry.type
class DisburseCreditSuccess:
    credit: Credit


@strawberry.type
class CancelCreditSuccess:
    credit: Credit


@strawberry.type
class WriteOffCreditSuccess:
    credit: Credit


@strawberry.type
class RestructureCreditSuccess:
    credit: Credit


@strawberry.type
class RegisterPaymentSuccess:
    payment: Payment
    credit: Credit = strawberry.field(description="The credit after the payment was allocated.")


@strawberry.type
class ReversePaymentSuccess:
    payment: Payment
    credit: Credit


@strawberry.type(description="Credit balance paid back to the customer.")
class CreditRefund:
    id: strawberry.ID
    amount: Money
    refunded_at: datetime
    refunded_on: date
    reference: str


@strawberry.type
class RefundCreditBalanceSuccess:
    refund: CreditRefund
    credit: Credit


@strawberry.type(description="What a load of UF values did.")
class LoadUfValuesSuccess:
    inserted: int
    updated: int = strawberry.field(description="Days whose value was corrected.")
    unchanged: int
    first_day: date
    last_day: date


CreateCreditPayload = Annotated[
    CreateCreditSuccess | ValidationError | ForbiddenError,
    strawberry.union("CreateCreditPayload"),
]
_CHANGE = ValidationError | ForbiddenError | NotFoundError | ConflictError | InvalidTransitionError
DisburseCreditPayload = Annotated[
    DisburseCreditSuccess | _CHANGE, strawberry.union("DisburseCreditPayload")
]
CancelCreditPayload = Annotated[
    CancelCreditSuccess | _CHANGE, strawberry.union("CancelCreditPayload")
]
WriteOffCreditPayload = Annotated[
    WriteOffCreditSuccess | _CHANGE, strawberry.union("WriteOffCreditPayload")
]
RestructureCreditPayload = Annotated[
    RestructureCreditSuccess | _CHANGE, strawberry.union("RestructureCreditPayload")
]
RegisterPaymentPayload = Annotated[
    RegisterPaymentSuccess | ValidationError | ForbiddenError | NotFoundError | ConflictError,
    strawberry.union("RegisterPaymentPayload"),
]
ReversePaymentPayload = Annotated[
    ReversePaymentSuccess | _CHANGE, strawberry.union("ReversePaymentPayload")
]
RefundCreditBalancePayload = Annotated[
    RefundCreditBalanceSuccess | ValidationError | ForbiddenError | NotFoundError | ConflictError,
    strawberry.union("RefundCreditBalancePayload"),
]
LoadUfValuesPayload = Annotated[
    LoadUfValuesSuccess | ValidationError | ForbiddenError,
    strawberry.union("LoadUfValuesPayload"),
]

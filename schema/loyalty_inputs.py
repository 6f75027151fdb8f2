"""Inputs and payloads of the loyalty mutations.

Expected refusals are payload errors with their ``code``: ``VALIDATION`` (the field is
named), ``NOT_FOUND``, ``FORBIDDEN``, and as ``ConflictError`` with a code of its own:
``INSUFFICIENT_POINTS``, ``OUT_OF_STOCK``, ``LIMIT_REACHED``, ``REWARD_UNAVAILABLE``,
``ACCOUNT_NOT_ACTIVE``, ``OVERLAPPING_DATES``, ``CONFLICT`` (a stale version).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from schema.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from schema.loyalty import (
    LoyaltyAccount,
    LoyaltyAccountStatus,
    LoyaltyBalance,
    LoyaltyExpiryPolicy,
    LoyaltyLimitPeriod,
    LoyaltyMovement,
    LoyaltyProgram,
    LoyaltyRedemption,
    LoyaltyReward,
    LoyaltyRuleSet,
)
from schema.scalars import Long


@strawberry.input(description="A program's settings.")
class LoyaltyProgramSettingsInput:
    name: str
    unit_name: str = strawberry.field(description='What members call a point ("Puntos").')
    point_value: Decimal = strawberry.field(
        description='Liability of one point in major units of `currency`, exact ("0.35").'
    )
    currency: str
    timezone: str = strawberry.field(description="IANA zone, e.g. America/Argentina/Buenos_Aires.")
    expiry_policy: LoyaltyExpiryPolicy = LoyaltyExpiryPolicy.NEVER
    expiry_count: int | None = strawberry.field(
        default=None, description="N of the policy (days, months or years); null for NEVER."
    )
    pending_days: int = strawberry.field(
        default=0, description="Refund lock: days a purchase's points stay pending."
    )
    allow_debt: bool = True


@strawberry.input
class CreateLoyaltyProgramInput:
    partner_id: strawberry.ID
    code: str = strawberry.field(description="2 to 32 capital letters, digits, '_'.")
    settings: LoyaltyProgramSettingsInput


@strawberry.input
class UpdateLoyaltyProgramInput:
    program_id: strawberry.ID
    version: int
    settings: LoyaltyProgramSettingsInput
    active: bool = True


@strawberry.input
class EnrollLoyaltyMemberInput:
    program_id: strawberry.ID
    customer_id: strawberry.ID
    segments: list[str] = strawberry.field(default_factory=list)
    external_ref: str | None = None


@strawberry.input(description="Fields left out stay as they are.")
class UpdateLoyaltyAccountInput:
    account_id: strawberry.ID
    version: int
    status: LoyaltyAccountStatus | None = None
    segments: list[str] | None = None


@strawberry.input
class CreateLoyaltyRuleSetInput:
    program_id: strawberry.ID
    name: str
    effective_from: date
    effective_until: date | None = strawberry.field(
        default=None, description="Exclusive; null: open-ended."
    )
    document: JSON = strawberry.field(description="The rules (see `loyaltyRuleSetSchema`).")


@strawberry.input(
    description="New rules in place of a version from a day on (today or later): the old "
    "version ends the day before, or is superseded whole if it had not started."
)
class ReplaceLoyaltyRuleSetInput:
    rule_set_id: strawberry.ID
    version: int = strawberry.field(description="The version number you are replacing.")
    name: str
    effective_from: date
    document: JSON


@strawberry.input(
    description="Shorten a version to end on a day from tomorrow on, or (null) retire one "
    "that has not started."
)
class EndLoyaltyRuleSetInput:
    rule_set_id: strawberry.ID
    version: int
    effective_until: date | None = None


@strawberry.input
class LoyaltyRewardInput:
    name: str
    cost_points: Long
    description: str | None = None
    stock: int | None = strawberry.field(default=None, description="null: unlimited.")
    limit_per_member: int | None = None
    limit_period: LoyaltyLimitPeriod | None = None
    active: bool = True
    valid_from: date | None = None
    valid_until: date | None = None


@strawberry.input
class CreateLoyaltyRewardInput:
    program_id: strawberry.ID
    code: str
    reward: LoyaltyRewardInput


@strawberry.input
class UpdateLoyaltyRewardInput:
    reward_id: strawberry.ID
    version: int
    reward: LoyaltyRewardInput


@strawberry.input(description="One record of the card platform's batch.")
class LoyaltyPurchaseInput:
    external_id: str = strawberry.field(
        description="The platform's transaction id: the batch is idempotent by it."
    )
    member_number: str | None = strawberry.field(
        default=None, description="Whose purchase (or `accountId`)."
    )
    account_id: strawberry.ID | None = None
    kind: str = strawberry.field(default="PURCHASE", description="PURCHASE or REFUND.")
    refund_of: str | None = strawberry.field(
        default=None, description="For a refund: the refunded purchase's transaction id."
    )
    amount: str = strawberry.field(description='Major units, e.g. "12345.67".')
    currency: str
    occurred_at: datetime
    mcc: str | None = strawberry.field(default=None, description="Merchant category, 4 digits.")
    merchant_partner: str | None = None
    merchant_name: str | None = None
    channel: str | None = strawberry.field(default=None, description="POS, ECOMMERCE…")
    card_product: str | None = None


@strawberry.input
class RecordPurchasesInput:
    program_id: strawberry.ID
    purchases: list[LoyaltyPurchaseInput] = strawberry.field(
        description="At most 1000; checked whole: one wrong record refuses the batch."
    )


@strawberry.input
class RedeemRewardInput:
    account_id: strawberry.ID
    reward_id: strawberry.ID
    quantity: int = 1
    idempotency_key: str | None = strawberry.field(
        default=None, description="Sending it again returns the same redemption."
    )


@strawberry.input
class CancelLoyaltyRedemptionInput:
    redemption_id: strawberry.ID
    reason: str


@strawberry.input
class AdjustPointsInput:
    account_id: strawberry.ID
    points: Long = strawberry.field(description="Signed; never 0.")
    reason: str = strawberry.field(description="Why (kept with the person who did it).")
    idempotency_key: str | None = None


@strawberry.input
class TransferPointsInput:
    from_account_id: strawberry.ID
    to_account_id: strawberry.ID | None = None
    to_member_number: str | None = strawberry.field(
        default=None, description="The receiver by member number (or `toAccountId`)."
    )
    points: Long
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input(description="Local days of the program, both included.")
class LoyaltyPeriodInput:
    from_: date = strawberry.field(name="from")
    until: date


# --- payloads -----------------------------------------------------------------------------
@strawberry.type
class LoyaltyProgramSuccess:
    program: LoyaltyProgram


@strawberry.type
class LoyaltyAccountSuccess:
    account: LoyaltyAccount


@strawberry.type
class LoyaltyRuleSetSuccess:
    rule_set: LoyaltyRuleSet


@strawberry.type
class LoyaltyRewardSuccess:
    reward: LoyaltyReward


@strawberry.type
class RecordPurchasesSuccess:
    accepted: int = strawberry.field(description="New purchases, waiting for accrual.")
    duplicates: int = strawberry.field(description="Already received with the same figures.")


@strawberry.type
class RedeemRewardSuccess:
    redemption: LoyaltyRedemption
    balance: LoyaltyBalance


@strawberry.type
class CancelLoyaltyRedemptionSuccess:
    redemption: LoyaltyRedemption
    balance: LoyaltyBalance


@strawberry.type
class AdjustPointsSuccess:
    movement: LoyaltyMovement
    balance: LoyaltyBalance


@strawberry.type
class TransferPointsSuccess:
    transfer_id: strawberry.ID
    points: Long
    from_balance: LoyaltyBalance
    to_balance: LoyaltyBalance


_ERRORS = ValidationError | ForbiddenError | NotFoundError | ConflictError

LoyaltyProgramPayload = Annotated[
    LoyaltyProgramSuccess | _ERRORS, strawberry.union("LoyaltyProgramPayload")
]
LoyaltyAccountPayload = Annotated[
    LoyaltyAccountSuccess | _ERRORS, strawberry.union("LoyaltyAccountPayload")
]
LoyaltyRuleSetPayload = Annotated[
    LoyaltyRuleSetSuccess | _ERRORS, strawberry.union("LoyaltyRuleSetPayload")
]
LoyaltyRewardPayload = Annotated[
    LoyaltyRewardSuccess | _ERRORS, strawberry.union("LoyaltyRewardPayload")
]
RecordPurchasesPayload = Annotated[
    RecordPurchasesSuccess | _ERRORS, strawberry.union("RecordPurchasesPayload")
]
RedeemRewardPayload = Annotated[
    RedeemRewardSuccess | _ERRORS, strawberry.union("RedeemRewardPayload")
]
CancelLoyaltyRedemptionPayload = Annotated[
    CancelLoyaltyRedemptionSuccess | _ERRORS, strawberry.union("CancelLoyaltyRedemptionPayload")
]
AdjustPointsPayload = Annotated[
    AdjustPointsSuccess | _ERRORS, strawberry.union("AdjustPointsPayload")
]
TransferPointsPayload = Annotated[
    TransferPointsSuccess | _ERRORS, strawberry.union("TransferPointsPayload")
]

"""Inputs and payloads of the investors mutations (and the investors list filter)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from schema.customers import NationalIdInput
from schema.errors import (
    ConflictError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from schema.investors import (
    BankAccountType,
    CreditFunding,
    Investor,
    InvestorKind,
    KycStatus,
    SettlementRun,
    SettlementStatement,
)


@strawberry.input(description="Which investors to list; every condition given must hold.")
class InvestorFilter:
    search: str | None = strawberry.field(
        default=None, description="Words of the legal name, or a national ID (or its start)."
    )
    kyc_status: KycStatus | None = None


@strawberry.input(description="A bank account in the country of the investor's national ID.")
class BankAccountInput:
    account_type: BankAccountType
    number: str = strawberry.field(
        description="Digits (spaces, dots and hyphens are ignored). Argentina: the CBU/CVU; "
        "Mexico: the CLABE; Peru: the CCI."
    )
    bank_code: str | None = strawberry.field(
        default=None,
        description="Chile: the three-digit CMF code; Colombia: 2 to 4 digits. Read from the "
        "number in Argentina, Mexico and Peru.",
    )


@strawberry.input
class CreateInvestorInput:
    kind: InvestorKind
    legal_name: str
    national_id: NationalIdInput = strawberry.field(
        description="Validated; the investor's country is the ID's."
    )
    bank_account: BankAccountInput
    email: str | None = None


@strawberry.input(
    description="Fields left out stay as they are. A new national ID or bank account sends a "
    "VERIFIED investor back to KYC review (PENDING)."
)
class UpdateInvestorInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; a stale one conflicts.")
    legal_name: str | None = strawberry.UNSET
    email: str | None = strawberry.field(default=strawberry.UNSET, description="null clears it.")
    national_id: NationalIdInput | None = strawberry.UNSET
    bank_account: BankAccountInput | None = strawberry.UNSET


@strawberry.input
class ChangeInvestorKycInput:
    id: strawberry.ID
    status: KycStatus
    note: str | None = strawberry.field(default=None, description="Required to reject.")
    version: int | None = strawberry.field(
        default=None, description="Optional: the version you read; a stale one conflicts."
    )


@strawberry.input
class FundCreditInput:
    credit_id: strawberry.ID
    investor_id: strawberry.ID
    share: Decimal = strawberry.field(
        description="Fraction of the credit, more than 0 and at most 1, at most six decimals: "
        '"0.25" is 25 %. The shares of one credit never pass 1.'
    )
    servicing_fee_rate: Decimal | None = strawberry.field(
        default=None,
        description="Of the investor's interest, as a fraction below 1; the configured rate "
        "(TRAMA_INVESTOR_SERVICING_FEE_RATE) by default.",
    )


@strawberry.input
class RunSettlementInput:
    period_start: date
    period_end: date = strawberry.field(
        description="Inclusive; ended (today at the latest), at most 366 days after the start."
    )


@strawberry.input
class MarkSettlementPaidInput:
    statement_id: strawberry.ID
    paid_at: datetime = strawberry.field(description="When the transfer was made, with offset.")
    reference: str = strawberry.field(description="The bank transfer's reference.")


@strawberry.type
class CreateInvestorSuccess:
    investor: Investor


@strawberry.type
class UpdateInvestorSuccess:
    investor: Investor


@strawberry.type
class ChangeInvestorKycSuccess:
    investor: Investor


@strawberry.type
class FundCreditSuccess:
    funding: CreditFunding
    credit_funded_share: Decimal = strawberry.field(
        description="How much of the credit is funded now, as a fraction."
    )


@strawberry.type
class RunSettlementSuccess:
    run: SettlementRun = strawberry.field(
        description="The run of the period (the existing one if the period was run before)."
    )


@strawberry.type
class MarkSettlementPaidSuccess:
    statement: SettlementStatement


CreateInvestorPayload = Annotated[
    CreateInvestorSuccess | ValidationError | ForbiddenError,
    strawberry.union("CreateInvestorPayload"),
]
UpdateInvestorPayload = Annotated[
    UpdateInvestorSuccess | ValidationError | ForbiddenError | NotFoundError | ConflictError,
    strawberry.union("UpdateInvestorPayload"),
]
ChangeInvestorKycPayload = Annotated[
    ChangeInvestorKycSuccess
    | ValidationError
    | ForbiddenError
    | NotFoundError
    | ConflictError
    | InvalidTransitionError,
    strawberry.union("ChangeInvestorKycPayload"),
]
FundCreditPayload = Annotated[
    FundCreditSuccess | ValidationError | ForbiddenError | NotFoundError,
    strawberry.union("FundCreditPayload"),
]
RunSettlementPayload = Annotated[
    RunSettlementSuccess | ValidationError | ForbiddenError | ConflictError,
    strawberry.union("RunSettlementPayload"),
]
MarkSettlementPaidPayload = Annotated[
    MarkSettlementPaidSuccess
    | ValidationError
    | ForbiddenError
    | NotFoundError
    | InvalidTransitionError,
    strawberry.union("MarkSettlementPaidPayload"),
]

"""Inputs and payloads of the mutations that work on one case.

Every change carries the ``version`` the client read: a stale one is a ``ConflictError``
with the current version, and nothing changes.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from schema.cases import (
    Case,
    CaseChannel,
    CaseComment,
    CasePriority,
    CaseResolutionCode,
    CaseStatus,
    CaseVisibility,
)
from schema.errors import (
    ConflictError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from schema.money import MoneyInput

_VERSION = "The version you read; a stale one conflicts."


@strawberry.input(description="A new case, opened at your partner (which first handles it).")
class OpenCaseInput:
    customer_id: strawberry.ID
    typology_code: str
    channel: CaseChannel
    description: str = strawberry.field(description="No card numbers: they are refused.")
    priority: CasePriority | None = strawberry.field(
        default=None, description="Defaults to the typology's."
    )
    card_last4: str | None = None
    card_token: str | None = strawberry.field(
        default=None, description="The issuer vault's token; stored, never returned."
    )
    amount_in_dispute: MoneyInput | None = None
    originating_partner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins only; others open cases for their own partner."
    )
    external_ref: str | None = strawberry.field(
        default=None, description="The case's id on your platform."
    )


@strawberry.input(description="Fields left out stay as they are; `null` clears an optional one.")
class UpdateCaseInput:
    id: strawberry.ID
    version: int = strawberry.field(description=_VERSION)
    description: str | None = strawberry.UNSET
    priority: CasePriority | None = strawberry.UNSET
    card_last4: str | None = strawberry.UNSET
    card_token: str | None = strawberry.UNSET
    amount_in_dispute: MoneyInput | None = strawberry.UNSET
    typology_code: str | None = strawberry.UNSET


@strawberry.input
class TransitionCaseInput:
    id: strawberry.ID
    version: int = strawberry.field(description=_VERSION)
    to_status: CaseStatus = strawberry.field(
        description="Not RESOLVED (use resolveCase); REJECTED needs a note."
    )
    note: str | None = None


@strawberry.input
class ResolveCaseInput:
    id: strawberry.ID
    version: int = strawberry.field(description=_VERSION)
    code: CaseResolutionCode
    note: str
    amount_refunded: MoneyInput | None = strawberry.field(
        default=None, description="At most the amount in dispute, in its currency."
    )


@strawberry.input
class AddCaseCommentInput:
    case_id: strawberry.ID
    version: int = strawberry.field(description=_VERSION + " A comment is a change.")
    body: str
    visibility: CaseVisibility = CaseVisibility.INTERNAL


@strawberry.input(description="Hand the case to another active partner; it accepts or rejects.")
class DeriveCaseInput:
    id: strawberry.ID
    version: int = strawberry.field(description=_VERSION)
    to: strawberry.ID = strawberry.field(description="The partner asked to take the case.")
    reason: str


@strawberry.input
class AcceptDerivationInput:
    id: strawberry.ID
    version: int = strawberry.field(description=_VERSION)
    note: str | None = None


@strawberry.input
class RejectDerivationInput:
    id: strawberry.ID
    version: int = strawberry.field(description=_VERSION)
    reason: str


@strawberry.type
class OpenCaseSuccess:
    case: Case


@strawberry.type
class UpdateCaseSuccess:
    case: Case


@strawberry.type
class TransitionCaseSuccess:
    case: Case


@strawberry.type
class ResolveCaseSuccess:
    case: Case


@strawberry.type
class AddCaseCommentSuccess:
    comment: CaseComment
    case: Case


@strawberry.type
class DeriveCaseSuccess:
    case: Case


@strawberry.type
class AcceptDerivationSuccess:
    case: Case


@strawberry.type
class RejectDerivationSuccess:
    case: Case


_Change = ValidationError | ForbiddenError | NotFoundError | ConflictError

OpenCasePayload = Annotated[
    OpenCaseSuccess | ValidationError | ForbiddenError, strawberry.union("OpenCasePayload")
]
UpdateCasePayload = Annotated[UpdateCaseSuccess | _Change, strawberry.union("UpdateCasePayload")]
TransitionCasePayload = Annotated[
    TransitionCaseSuccess | _Change | InvalidTransitionError,
    strawberry.union("TransitionCasePayload"),
]
ResolveCasePayload = Annotated[
    ResolveCaseSuccess | _Change | InvalidTransitionError, strawberry.union("ResolveCasePayload")
]
AddCaseCommentPayload = Annotated[
    AddCaseCommentSuccess | _Change, strawberry.union("AddCaseCommentPayload")
]
DeriveCasePayload = Annotated[
    DeriveCaseSuccess | _Change | InvalidTransitionError, strawberry.union("DeriveCasePayload")
]
AcceptDerivationPayload = Annotated[
    AcceptDerivationSuccess | _Change, strawberry.union("AcceptDerivationPayload")
]
RejectDerivationPayload = Annotated[
    RejectDerivationSuccess | _Change, strawberry.union("RejectDerivationPayload")
]

"""Contracts of accepted offers, signed through DocuSeal (issue 11).

The customer the contract is for and the lender's staff read it; each document (the PDF
sent for signature, and the signed one once every party signed) comes with a download link
valid a few minutes, for the caller only (``GET /contracts/{id}/{document}``), and its
SHA-256.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from domain.origination.contracts_models import Contract as ContractModel
from domain.origination.contracts_models import ContractSigner as SignerModel
from domain.origination.contracts_models import ContractStatus as StatusEnum
from domain.origination.contracts_models import SignerRole as RoleEnum
from domain.origination.contracts_models import SignerStatus as SignerStatusEnum
from domain.shared.money import Money as DomainMoney
from schema.money import Money

strawberry.enum(
    StatusEnum,
    name="ContractStatus",
    description="PREPARED (rendered, being sent) → SENT → COMPLETED (every party signed; the "
    "signed document is being fetched) → SIGNED (stored, the credit created); DECLINED or "
    "EXPIRED end it.",
)
strawberry.enum(RoleEnum, name="ContractSignerRole")
strawberry.enum(
    SignerStatusEnum,
    name="ContractSignerStatus",
    description="PENDING → SENT → OPENED → STARTED → COMPLETED, or DECLINED. Never goes back.",
)


@strawberry.enum(name="ContractDocumentKind")
class ContractDocumentKind(Enum):
    UNSIGNED = "unsigned"
    SIGNED = "signed"


@strawberry.type(description="A contract's PDF.")
class ContractDocument:
    kind: ContractDocumentKind
    file_name: str
    size: int
    sha256: str = strawberry.field(description="SHA-256 of the bytes, hex.")
    url: str = strawberry.field(
        description="A signed download link for you (with your Bearer token), valid "
        "TRAMA_ATTACHMENT_LINK_TTL seconds."
    )


@strawberry.type(description="One party signing the contract.")
class ContractSigner:
    role: RoleEnum
    name: str
    email: str
    status: SignerStatusEnum
    opened_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    declined_at: datetime | None
    decline_reason: str | None

    @classmethod
    def from_model(cls, model: SignerModel) -> ContractSigner:
        return cls(
            role=RoleEnum(model.role),
            name=model.name,
            email=model.email,
            status=SignerStatusEnum(model.status),
            opened_at=model.opened_at,
            started_at=model.started_at,
            completed_at=model.completed_at,
            declined_at=model.declined_at,
            decline_reason=model.decline_reason,
        )


@strawberry.type(description="The contract of an accepted offer, signed through DocuSeal.")
class Contract:
    id: strawberry.ID
    reference: str
    application_id: strawberry.ID = strawberry.field(
        description="The CreditApplication's global id."
    )
    status: StatusEnum
    principal: Money
    signers: list[ContractSigner]
    unsigned: ContractDocument = strawberry.field(description="The PDF sent for signature.")
    signed: ContractDocument | None = strawberry.field(
        description="The signed PDF as DocuSeal delivered it (once every party signed)."
    )
    audit_log_url: str | None = strawberry.field(
        description="DocuSeal's audit log of the signature (a link of DocuSeal's)."
    )
    credit_id: strawberry.ID | None = strawberry.field(
        description="The Credit created from this contract (global id)."
    )
    sent_at: datetime | None
    completed_at: datetime | None
    declined_at: datetime | None
    decline_reason: str | None
    expired_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(
        cls,
        model: ContractModel,
        *,
        signers: list[SignerModel],
        application_id: str,
        credit_id: str | None,
        unsigned: ContractDocument,
        signed: ContractDocument | None,
    ) -> Contract:
        return cls(
            id=strawberry.ID(str(model.id)),
            reference=model.reference,
            application_id=strawberry.ID(application_id),
            status=StatusEnum(model.status),
            principal=Money.from_domain(DomainMoney(model.principal, model.currency)),
            signers=[ContractSigner.from_model(s) for s in signers],
            unsigned=unsigned,
            signed=signed,
            audit_log_url=model.audit_log_url,
            credit_id=strawberry.ID(credit_id) if credit_id else None,
            sent_at=model.sent_at,
            completed_at=model.completed_at,
            declined_at=model.declined_at,
            decline_reason=model.decline_reason,
            expired_at=model.expired_at,
            created_at=model.created_at,
            updated_at=model.updated_at,
        )

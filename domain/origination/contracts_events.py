"""Contracts' events (``contracts.*``): sent for signature, signers' progress, the end.

Every event goes to the lender. No personal data: the contract by its id, the application
and the credit by their global ids, signers by role. ``contracts.completed`` is consumed by
the worker that fetches the signed document (``origination.fetch_signed_contract``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.origination.contracts_models import (
    Contract,
    ContractStatus,
    SignerRole,
    SignerStatus,
)
from domain.shared import event_schemas as wire
from domain.shared import outbox
from domain.shared.event_schemas import EventSpec, Schema, enum, nullable, obj, ref, string

PREPARED = "contracts.prepared"
SENT = "contracts.sent"
SIGNER_UPDATED = "contracts.signer_updated"
COMPLETED = "contracts.completed"
SIGNED = "contracts.signed"
DECLINED = "contracts.declined"
EXPIRED = "contracts.expired"

_AUDIENCE = "The lender."
_KEY = "The contract's id."
_BASE: dict[str, Schema] = {
    "contractId": ref("Uuid"),
    "reference": string("CT-<year>-<number>"),
    "applicationId": ref("CreditApplicationId"),
    "status": enum(ContractStatus),
    "occurredAt": ref("DateTime"),
}
_OPTIONAL: dict[str, Schema] = {
    "submissionId": string("DocuSeal's submission id."),
    "role": enum(SignerRole),
    "signerStatus": enum(SignerStatus),
    "sha256": string("SHA-256 of the document, hex.", pattern="^[0-9a-f]{64}$"),
    "reason": nullable(string("Why the signer declined.")),
    "creditId": nullable(ref("CreditId")),
}


def _spec(topic: str, summary: str) -> EventSpec:
    return EventSpec(
        topic=topic,
        summary=summary,
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj("The contract.", _BASE, optional=_OPTIONAL),
    )


EVENTS = (
    _spec(PREPARED, "An accepted offer's contract was rendered and is being sent."),
    _spec(SENT, "The contract was sent for signature (a DocuSeal submission exists)."),
    _spec(SIGNER_UPDATED, "A signer opened, started, signed or declined the contract."),
    _spec(COMPLETED, "Every party signed; the signed document is being fetched."),
    _spec(SIGNED, "The signed document is stored with the credit."),
    _spec(DECLINED, "A signer declined: the application returns to its offer."),
    _spec(EXPIRED, "The signature request expired: the application expires."),
)


def emit(session: AsyncSession, topic: str, contract: Contract, **extra: Any) -> None:
    payload: dict[str, Any] = {
        "contractId": str(contract.id),
        "reference": contract.reference,
        "applicationId": wire.global_id("CreditApplication", contract.application_id),
        "status": contract.status,
        "occurredAt": wire.instant(contract.updated_at),
    }
    for key, value in extra.items():
        if key == "creditId" and value is not None:
            value = wire.global_id("Credit", value)
        payload[key] = value
    outbox.add(session, topic, payload, partner_ids=[contract.lender_id], key=str(contract.id))

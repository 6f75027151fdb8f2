"""The signature's progress, from DocuSeal's webhooks, and its end.

:func:`apply_event` runs in the webhook inbox's worker transaction for each stored DocuSeal
delivery (``workers/actors/docuseal.py`` registers it for the source ``docuseal``):

- ``form.viewed|started|completed|declined`` move the signer (``data.id`` is DocuSeal's
  submitter, ``data.external_id`` Trama's ``<contract>:<role>``);
- ``submission.completed`` (or the last signer's ``form.completed``) completes the
  contract: ``contracts.completed`` goes on the outbox and its consumer fetches the signed
  PDF at once (links expire);
- ``form.declined`` declines the contract and hands the application back to its offer
  (origination's ``signature_declined``); ``submission.expired`` expires it
  (``signature_expired``).

Order: signers and contracts have a rank per status and only move up, so a late
``form.viewed`` never moves a completed signer or contract back, and an event for a contract
that already ended is acknowledged with nothing done. Replays never reach here twice: the
inbox keys deliveries on ``(event_type, data.id, timestamp)``.

:func:`record_signed_document` keeps the signed PDF's key, size and SHA-256 and DocuSeal's
audit-log URL, marks the contract ``SIGNED`` and calls origination's ``complete_signing``
(which creates the credit once per application) in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.origination import contracts_events as events
from domain.origination.contracts import (
    CONTRACT_RANK,
    FINAL,
    SIGNER_RANK,
    _locked,
    hook,
    signers_of,
)
from domain.origination.contracts_models import (
    Contract,
    ContractSigner,
    ContractStatus,
    SignerStatus,
)
from domain.origination.docuseal import KNOWN_EVENTS, DocusealEvent
from domain.origination.models import CreditApplication
from domain.shared import audit
from domain.shared.errors import InvalidTransition
from domain.shared.principal import SYSTEM
from domain.shared.time import ensure_utc, utcnow

_FORM_TARGET = {
    "form.viewed": SignerStatus.OPENED,
    "form.started": SignerStatus.STARTED,
    "form.completed": SignerStatus.COMPLETED,
    "form.declined": SignerStatus.DECLINED,
}


@dataclass(frozen=True)
class Applied:
    """What an event did: ``changed`` False when it was acknowledged with nothing done
    (unknown submission, superseded by a later state, not an event Trama acts on)."""

    changed: bool
    note: str


async def _contract_of(session: AsyncSession, event: DocusealEvent) -> Contract | None:
    submission_id = event.submission_id
    if submission_id is not None:
        found = (
            await session.execute(
                sa.select(col(Contract.id)).where(col(Contract.submission_id) == submission_id)
            )
        ).scalar_one_or_none()
        if found is not None:
            return await _locked(session, found)
    # The webhook may come before the send recorded DocuSeal's answer: Trama's own ids.
    external_ids = [event.external_id] if event.is_form else []
    if not event.is_form:
        external_ids += [
            str(s.get("external_id"))
            for s in event.data.get("submitters") or []
            if isinstance(s, dict) and s.get("external_id")
        ]
    for external_id in external_ids:
        if not external_id:
            continue
        contract_id = (
            await session.execute(
                sa.select(col(ContractSigner.contract_id)).where(
                    col(ContractSigner.external_id) == external_id
                )
            )
        ).scalar_one_or_none()
        if contract_id is not None:
            contract = await _locked(session, contract_id)
            if contract.submission_id is None and submission_id is not None:
                contract.submission_id = submission_id
            return contract
    return None


def _signer_for(signers: list[ContractSigner], event: DocusealEvent) -> ContractSigner | None:
    for signer in signers:
        if signer.submitter_id is not None and signer.submitter_id == event.submitter_id:
            return signer
    for signer in signers:
        if event.external_id and signer.external_id == event.external_id:
            return signer
    return None


def _audit_log_url(event: DocusealEvent) -> str | None:
    value = event.data.get("audit_log_url")
    if not value and isinstance(event.data.get("submission"), dict):
        value = event.data["submission"].get("audit_log_url")
    return str(value)[:2000] if value else None


async def apply_event(session: AsyncSession, event: DocusealEvent) -> Applied:
    if event.event_type not in KNOWN_EVENTS:
        return Applied(False, f"{event.event_type}: not an event Trama acts on")
    contract = await _contract_of(session, event)
    if contract is None:
        return Applied(False, f"submission {event.submission_id} is not a Trama contract")
    signers = await signers_of(session, contract.id)
    if event.is_form:
        signer = _signer_for(signers, event)
        if signer is None:
            return Applied(False, f"submitter {event.submitter_id} is not a signer of it")
        moved = _move_signer(session, contract, signer, event)
        notes = [f"{signer.role.lower()} {signer.status.lower()}" if moved else "superseded"]
        if event.event_type == "form.completed":
            submission = event.data.get("submission")
            everyone = all(s.status == SignerStatus.COMPLETED for s in signers) or (
                isinstance(submission, dict) and submission.get("status") == "completed"
            )
            if everyone and await _complete(session, contract, event):
                notes.append("contract completed")
        elif (
            event.event_type == "form.declined"
            and moved
            and await _decline(session, contract, signer, event)
        ):
            notes.append("contract declined")
        await session.flush()
        changed = moved or len(notes) > 1
        return Applied(changed, "; ".join(notes))
    if event.event_type == "submission.completed":
        signed = _signers_completed(session, contract, signers, event)
        done = await _complete(session, contract, event)
        await session.flush()
        return Applied(done or signed, "contract completed" if done else "superseded")
    done = await _expire(session, contract, event)
    return Applied(done, "contract expired" if done else "superseded")


def _move_signer(
    session: AsyncSession, contract: Contract, signer: ContractSigner, event: DocusealEvent
) -> bool:
    return _advance_signer(
        session, contract, signer, _FORM_TARGET[event.event_type], event.timestamp, event
    )


def _advance_signer(
    session: AsyncSession,
    contract: Contract,
    signer: ContractSigner,
    target: SignerStatus,
    at: datetime,
    event: DocusealEvent,
) -> bool:
    """Move a signer up to ``target`` (what a signer did stays true whatever became of the
    contract); never down."""
    if SIGNER_RANK[target] <= SIGNER_RANK[signer.status]:
        return False
    before = signer.status
    signer.status = target.value
    if event.submitter_id is not None:
        signer.submitter_id = signer.submitter_id or event.submitter_id
    if target is SignerStatus.OPENED:
        signer.opened_at = at
    elif target is SignerStatus.STARTED:
        signer.started_at = at
        signer.opened_at = signer.opened_at or at
    elif target is SignerStatus.COMPLETED:
        signer.completed_at = at
    elif target is SignerStatus.DECLINED:
        signer.declined_at = at
        signer.decline_reason = event.decline_reason
    signer.updated_at = utcnow()
    session.add(signer)
    audit.record(
        session,
        principal=SYSTEM,
        action="contract.signer_updated",
        entity_type="Contract",
        entity_id=contract.id,
        before={"role": signer.role, "status": before},
        after={"role": signer.role, "status": signer.status, "at": at},
    )
    _touch(contract)
    session.add(contract)
    events.emit(
        session,
        events.SIGNER_UPDATED,
        contract,
        role=signer.role,
        signerStatus=signer.status,
    )
    return True


def _signers_completed(
    session: AsyncSession, contract: Contract, signers: list[ContractSigner], event: DocusealEvent
) -> bool:
    """``submission.completed`` lists its submitters: each one completed is, whatever order
    their own ``form.completed`` comes in."""
    moved = False
    for row in event.data.get("submitters") or []:
        if not isinstance(row, dict) or row.get("status") != "completed":
            continue
        for signer in signers:
            if signer.submitter_id == row.get("id") or signer.external_id == row.get("external_id"):
                at = _instant(row.get("completed_at")) or event.timestamp
                moved |= _advance_signer(
                    session, contract, signer, SignerStatus.COMPLETED, at, event
                )
    return moved


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return ensure_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _touch(contract: Contract) -> None:
    contract.updated_at = utcnow()
    contract.version += 1


def _can_reach(contract: Contract, target: ContractStatus) -> bool:
    return contract.status not in FINAL and CONTRACT_RANK[target] > CONTRACT_RANK[contract.status]


async def _complete(session: AsyncSession, contract: Contract, event: DocusealEvent) -> bool:
    if not _can_reach(contract, ContractStatus.COMPLETED):
        return False
    before = contract.status
    contract.status = ContractStatus.COMPLETED.value
    contract.completed_at = event.timestamp
    contract.audit_log_url = _audit_log_url(event) or contract.audit_log_url
    _touch(contract)
    session.add(contract)
    audit.record(
        session,
        principal=SYSTEM,
        action="contract.completed",
        entity_type="Contract",
        entity_id=contract.id,
        before={"status": before},
        after={"status": contract.status, "completedAt": event.timestamp},
    )
    events.emit(session, events.COMPLETED, contract, submissionId=str(contract.submission_id))
    return True


async def _decline(
    session: AsyncSession, contract: Contract, signer: ContractSigner, event: DocusealEvent
) -> bool:
    if contract.status == ContractStatus.COMPLETED or not _can_reach(
        contract, ContractStatus.DECLINED
    ):
        return False
    before = contract.status
    contract.status = ContractStatus.DECLINED.value
    contract.declined_at = event.timestamp
    contract.decline_reason = event.decline_reason
    _touch(contract)
    session.add(contract)
    await session.flush()
    audit.record(
        session,
        principal=SYSTEM,
        action="contract.declined",
        entity_type="Contract",
        entity_id=contract.id,
        before={"status": before},
        after={"status": contract.status, "role": signer.role, "reason": event.decline_reason},
    )
    events.emit(session, events.DECLINED, contract, role=signer.role, reason=event.decline_reason)
    await hook("signature_declined")(
        session,
        application_id=contract.application_id,
        contract_id=contract.id,
        reason=event.decline_reason,
    )
    return True


async def _expire(session: AsyncSession, contract: Contract, event: DocusealEvent) -> bool:
    if contract.status == ContractStatus.COMPLETED or not _can_reach(
        contract, ContractStatus.EXPIRED
    ):
        return False
    before = contract.status
    contract.status = ContractStatus.EXPIRED.value
    contract.expired_at = event.timestamp
    _touch(contract)
    session.add(contract)
    await session.flush()
    audit.record(
        session,
        principal=SYSTEM,
        action="contract.expired",
        entity_type="Contract",
        entity_id=contract.id,
        before={"status": before},
        after={"status": contract.status, "expiredAt": event.timestamp},
    )
    events.emit(session, events.EXPIRED, contract)
    await hook("signature_expired")(
        session, application_id=contract.application_id, contract_id=contract.id
    )
    return True


# --- the signed document -----------------------------------------------------------------
async def completed_waiting(session: AsyncSession, *, older_than: datetime) -> list[uuid.UUID]:
    """Completed contracts whose signed document is not stored yet (for the sweep)."""
    rows = await session.execute(
        sa.select(col(Contract.id))
        .where(
            col(Contract.status) == ContractStatus.COMPLETED.value,
            col(Contract.updated_at) < older_than,
        )
        .limit(200)
    )
    return list(rows.scalars())


async def prepared_waiting(session: AsyncSession, *, older_than: datetime) -> list[uuid.UUID]:
    """Contracts recorded but never answered by DocuSeal (a lost send), for the sweep."""
    rows = await session.execute(
        sa.select(col(Contract.id))
        .where(
            col(Contract.status) == ContractStatus.PREPARED.value,
            col(Contract.created_at) < older_than,
        )
        .limit(200)
    )
    return list(rows.scalars())


async def record_signed_document(
    session: AsyncSession,
    *,
    contract_id: uuid.UUID,
    key: str,
    size: int,
    sha256: str,
    audit_log_url: str | None,
) -> Contract:
    """Keep the stored signed PDF with the contract, mark it signed and let origination
    create the credit (idempotent: a contract already signed is returned as it is)."""
    contract = await _locked(session, contract_id)
    if contract.status == ContractStatus.SIGNED:
        return contract
    if contract.status != ContractStatus.COMPLETED:
        raise InvalidTransition("Contract", contract.status, ContractStatus.SIGNED.value)
    now = utcnow()
    contract.status = ContractStatus.SIGNED.value
    contract.signed_key = key
    contract.signed_size = size
    contract.signed_sha256 = sha256
    contract.signed_stored_at = now
    contract.audit_log_url = audit_log_url or contract.audit_log_url
    contract.last_error = None
    _touch(contract)
    session.add(contract)
    await session.flush()
    result: Any = await hook("complete_signing")(
        session, application_id=contract.application_id, contract_id=contract.id
    )
    contract.credit_id = await _credit_of(session, contract.application_id, result)
    session.add(contract)
    await session.flush()
    audit.record(
        session,
        principal=SYSTEM,
        action="contract.signed",
        entity_type="Contract",
        entity_id=contract.id,
        before={"status": ContractStatus.COMPLETED.value},
        after={
            "status": contract.status,
            "sha256": sha256,
            "size": size,
            "auditLogUrl": contract.audit_log_url,
            "creditId": str(contract.credit_id) if contract.credit_id else None,
        },
    )
    events.emit(session, events.SIGNED, contract, sha256=sha256, creditId=contract.credit_id)
    return contract


async def _credit_of(
    session: AsyncSession, application_id: uuid.UUID, result: Any
) -> uuid.UUID | None:
    if isinstance(result, uuid.UUID):
        return result
    for name in ("credit_id",):
        value = getattr(result, name, None)
        if isinstance(value, uuid.UUID):
            return value
    row = await session.execute(
        sa.select(col(CreditApplication.credit_id)).where(
            col(CreditApplication.id) == application_id
        )
    )
    value = row.scalar_one_or_none()
    return value if isinstance(value, uuid.UUID) else None

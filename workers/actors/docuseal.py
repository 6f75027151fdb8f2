"""Contracts signed through DocuSeal (issue 11): out (send) and in (webhooks, signed PDF).

``origination.send_contract`` (consumer of ``applications.offer_accepted``)
    Renders the accepted offer's contract, stores the PDF and records the contract and its
    signers as ``PREPARED`` — the intent — in the delivery's transaction. No HTTP here (the
    delivery's transaction stays short).
``origination.dispatch_contract`` (consumer of ``contracts.prepared`` / ``contracts.completed``)
    Sends ``origination.submit_contract`` or ``origination.fetch_signed_contract`` for the
    contract; both only run once the contract's row is committed.
``origination.submit_contract(contract_id)`` (job)
    Holds the contract for one sender (``claim_send``), asks DocuSeal whether a submission
    with the contract's ``external_id`` exists (a send whose answer was lost) and creates one
    only if not, then records it. DocuSeal down (5xx, timeout): retried with backoff; a 4xx:
    the error is kept on the contract and the job lands in the failed jobs list.
``origination.fetch_signed_contract(contract_id)`` (job)
    Asks DocuSeal for fresh document links, downloads the signed PDF at once (an expired
    link gets fresh links and another try), stores it in the attachments store with its
    SHA-256, and records it; origination's ``complete_signing`` creates the credit in the
    same transaction. Retried with backoff.
``origination.contracts_sweep`` (every 5 minutes)
    Sends again what was left behind: contracts prepared but never sent, completed but not
    stored (a job lost with an in-process queue).

The webhook processor for the source ``docuseal`` is registered here with the inbox.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from app.db import read_session, transaction
from app.docuseal import (
    DocusealClient,
    DocusealNotConfigured,
    DocusealRefused,
    DocusealUnavailable,
    SubmitterSpec,
)
from app.report_links import report_store
from app.settings import Settings, get_settings
from domain.cases.attachments import FileStore
from domain.origination import contracts, signing
from domain.origination import contracts_events as contract_events
from domain.origination.contracts_models import Contract, ContractStatus, SignerRole
from domain.origination.contracts_pdf import sha256_hex
from domain.origination.docuseal import PayloadInvalid, parse_event
from domain.shared.event_schemas import parse_global_id
from domain.shared.ids import parse_uuid
from domain.shared.outbox import Event
from domain.shared.time import utcnow
from domain.webhooks.errors import DeliveryRejected
from domain.webhooks.models import WebhookDelivery, WebhookStatus
from domain.webhooks.service import register_processor
from workers.registry import PermanentError, RetryPolicy, consumer, job

log = logging.getLogger("trama.workers.docuseal")

SUBMIT_JOB = "origination.submit_contract"
FETCH_JOB = "origination.fetch_signed_contract"
#: A PREPARED or COMPLETED contract this old with nothing done is sent again by the sweep.
STUCK_AFTER = timedelta(minutes=3)


# --- wiring (tests replace these) ----------------------------------------------------------
def make_client(settings: Settings) -> DocusealClient:
    return DocusealClient.from_settings(settings)


def make_store(settings: Settings) -> FileStore:
    return report_store(settings)


def signing_setup(settings: Settings) -> contracts.SigningSetup:
    return contracts.SigningSetup(
        customer_role=settings.docuseal_customer_role,
        lender_role=settings.docuseal_lender_role,
        lender_signer_email=settings.docuseal_lender_signer_email,
        lender_signer_name=settings.docuseal_lender_signer_name,
    )


def _send_job(name: str, contract_id: uuid.UUID) -> None:
    from workers.backbone import current_backbone

    backbone = current_backbone()
    if backbone is None or backbone.broker is None:
        raise RuntimeError(f"no broker in this process to send {name} to")
    backbone.broker.send_job(name, {"contract_id": str(contract_id)})


# --- consumers ----------------------------------------------------------------------------
@consumer("origination.send_contract", "applications.offer_accepted")
async def send_contract(session: Any, event: Event) -> None:
    application_id = parse_global_id(event.payload.get("applicationId"), "CreditApplication")
    if application_id is None:
        raise PermanentError(f"event {event.id} names no application")
    settings = get_settings()
    contract = await contracts.prepare_contract(
        session,
        application_id=application_id,
        store=make_store(settings),
        setup=signing_setup(settings),
    )
    if contract is None:
        log.info("application %s has no accepted offer any more: no contract", application_id)


@consumer("origination.dispatch_contract", contract_events.PREPARED, contract_events.COMPLETED)
async def dispatch_contract(session: Any, event: Event) -> None:
    contract_id = parse_uuid(event.payload.get("contractId"))
    if contract_id is None:
        raise PermanentError(f"event {event.id} names no contract")
    name = SUBMIT_JOB if event.topic == contract_events.PREPARED else FETCH_JOB
    await asyncio.to_thread(_send_job, name, contract_id)


# --- sending ------------------------------------------------------------------------------
def _contract_id(value: str) -> uuid.UUID:
    key = parse_uuid(value)
    if key is None:
        raise PermanentError(f"bad contract id {value!r}")
    return key


async def _note_error(contract_id: uuid.UUID, error: Exception) -> None:
    async with transaction() as session:
        await contracts.record_error(session, contract_id=contract_id, error=str(error))


@job(
    SUBMIT_JOB,
    retry=RetryPolicy(max_retries=10, min_backoff_ms=2_000, max_backoff_ms=10 * 60_000),
)
async def submit_contract(*, contract_id: str) -> str:
    key = _contract_id(contract_id)
    settings = get_settings()
    async with read_session() as session:
        contract = await session.get(Contract, key)
        if contract is None:
            raise PermanentError(f"no contract {key}")
        signers = await contracts.signers_of(session, key)
    if contract.status != ContractStatus.PREPARED:
        return f"contract {contract.reference} is {contract.status.lower()} already"
    try:
        client = make_client(settings)
    except DocusealNotConfigured as exc:
        # Not this contract's failure: it waits, PREPARED, with the reason on it, and the
        # sweep sends it once DocuSeal is configured (a demo without DocuSeal fills no
        # failedJobs with contracts nobody could send).
        await _note_error(key, exc)
        log.warning("contract %s waits: %s", contract.reference, exc)
        return f"contract {contract.reference} waits: {exc}"
    async with transaction() as session:
        claimed = await contracts.claim_send(
            session, contract_id=key, hold_seconds=settings.docuseal_timeout * 4 + 30
        )
    if not claimed:
        return f"contract {contract.reference} is being sent by another worker"
    customer = next(s for s in signers if s.role == SignerRole.CUSTOMER)
    try:
        found = await client.find_submission(customer.external_id)
        if found is None:
            pdf = await make_store(settings).get(contract.unsigned_key)
            if sha256_hex(pdf) != contract.unsigned_sha256:
                raise PermanentError("the stored contract does not match its SHA-256")
            found = await client.create_submission(
                name=contract.reference,
                submitters=[
                    SubmitterSpec(s.docuseal_role, s.email, s.name, s.external_id)
                    for s in sorted(signers, key=lambda s: s.role != SignerRole.CUSTOMER)
                ],
                pdf=None if settings.docuseal_template_id else pdf,
                template_id=settings.docuseal_template_id,
            )
            outcome = "created"
        else:
            outcome = "found (an earlier send had made it)"
    except DocusealRefused as exc:
        await _note_error(key, exc)
        raise PermanentError(str(exc)) from exc
    except Exception as exc:  # DocuSeal down, the store unreadable…: let go, retry later
        await _note_error(key, exc)
        raise
    async with transaction() as session:
        await contracts.record_submission(
            session,
            contract_id=key,
            submission_id=found.submission_id,
            submitters=found.submitters,
        )
    log.info("contract %s: submission %s %s", contract.reference, found.submission_id, outcome)
    return f"submission {found.submission_id} {outcome}"


# --- the signed document --------------------------------------------------------------
@job(
    FETCH_JOB,
    retry=RetryPolicy(max_retries=12, min_backoff_ms=2_000, max_backoff_ms=10 * 60_000),
)
async def fetch_signed_contract(*, contract_id: str) -> str:
    key = _contract_id(contract_id)
    settings = get_settings()
    async with read_session() as session:
        contract = await session.get(Contract, key)
    if contract is None:
        raise PermanentError(f"no contract {key}")
    if contract.status == ContractStatus.SIGNED:
        return f"contract {contract.reference} is stored already"
    if contract.status != ContractStatus.COMPLETED or contract.submission_id is None:
        return f"contract {contract.reference} is {contract.status.lower()}: nothing to fetch"
    try:
        data, submission = await make_client(settings).download_signed(contract.submission_id)
    except DocusealRefused as exc:
        await _note_error(key, exc)
        raise PermanentError(str(exc)) from exc
    except DocusealUnavailable as exc:
        await _note_error(key, exc)
        raise
    if not data.startswith(b"%PDF-"):
        error = DocusealUnavailable("the signed document DocuSeal sent is not a PDF")
        await _note_error(key, error)
        raise error
    digest = sha256_hex(data)
    storage_key = contracts.storage_key(key, "signed")
    await make_store(settings).put(storage_key, data, content_type="application/pdf")
    async with transaction() as session:
        signed = await signing.record_signed_document(
            session,
            contract_id=key,
            key=storage_key,
            size=len(data),
            sha256=digest,
            audit_log_url=submission.audit_log_url,
        )
    log.info("contract %s signed and stored (%s)", signed.reference, digest)
    return f"stored {len(data)} bytes, sha256 {digest}"


@job("origination.contracts_sweep", every=timedelta(minutes=5), retry=RetryPolicy(max_retries=0))
async def contracts_sweep() -> int:
    before = utcnow() - STUCK_AFTER
    settings = get_settings()
    configured = bool(settings.docuseal_url) and settings.docuseal_api_key is not None
    async with read_session() as session:
        # unsent contracts wait for DocuSeal's configuration: nothing to send them to before
        unsent = await signing.prepared_waiting(session, older_than=before) if configured else []
        unfetched = await signing.completed_waiting(session, older_than=before)
    for contract_id in unsent:
        await asyncio.to_thread(_send_job, SUBMIT_JOB, contract_id)
    for contract_id in unfetched:
        await asyncio.to_thread(_send_job, FETCH_JOB, contract_id)
    return len(unsent) + len(unfetched)


# --- webhooks in ----------------------------------------------------------------------
async def process_docuseal(session: Any, delivery: WebhookDelivery) -> WebhookStatus | str:
    """The inbox's processor for DocuSeal's deliveries (in the worker's transaction)."""
    try:
        event = parse_event(delivery.body)
    except PayloadInvalid as exc:
        raise DeliveryRejected(str(exc)) from None
    applied = await signing.apply_event(session, event)
    return applied.note if applied.changed else WebhookStatus.IGNORED


register_processor("docuseal", process_docuseal)

"""From the accepted offer to the signed contract, in the domain: the intent recorded once,
the signers' progress in any order, the end of the signature, the signed document."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from app.db import read_session, transaction
from app.storage import LocalFileStore
from domain.origination import contracts, signing
from domain.origination.contracts_models import (
    Contract,
    ContractSigner,
    ContractStatus,
    SignerStatus,
)
from domain.origination.contracts_pdf import sha256_hex
from domain.origination.docuseal import parse_event
from domain.origination.models import CreditApplication
from domain.shared.audit import AuditRecord
from domain.shared.errors import InvalidTransition
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import ROLE_SCOPES, Principal, Role
from domain.shared.time import isoformat, utcnow
from tests.domain.contracts.conftest import SETUP, Origination, Signing, make_signing

SUBMISSION = 5001
CUSTOMER_SUBMITTER, LENDER_SUBMITTER = 5002, 5003


async def _prepare(signing_: Signing, store: LocalFileStore) -> Contract:
    async with transaction() as session:
        contract = await contracts.prepare_contract(
            session, application_id=signing_.application_id, store=store, setup=SETUP
        )
    assert contract is not None
    return contract


async def _sent(signing_: Signing, store: LocalFileStore) -> Contract:
    contract = await _prepare(signing_, store)
    async with transaction() as session:
        return await contracts.record_submission(
            session,
            contract_id=contract.id,
            submission_id=SUBMISSION,
            submitters={
                f"{contract.id}:customer": CUSTOMER_SUBMITTER,
                f"{contract.id}:lender": LENDER_SUBMITTER,
            },
        )


def _event(event_type: str, data: dict[str, Any], *, seconds: int = 0) -> Any:
    stamp = isoformat(utcnow() + timedelta(seconds=seconds))
    return parse_event(
        json.dumps({"event_type": event_type, "timestamp": stamp, "data": data}).encode()
    )


def _form(event_type: str, submitter: int, *, seconds: int = 0, **extra: Any) -> Any:
    return _event(
        event_type,
        {"id": submitter, "submission_id": SUBMISSION, "status": "x", **extra},
        seconds=seconds,
    )


async def _apply(event: Any) -> signing.Applied:
    async with transaction() as session:
        return await signing.apply_event(session, event)


async def _state(contract_id: Any) -> tuple[Contract, dict[str, ContractSigner]]:
    async with read_session() as session:
        contract = await session.get(Contract, contract_id)
        signers = await contracts.signers_of(session, contract_id)
    assert contract is not None
    return contract, {s.role: s for s in signers}


async def _topics(contract_id: Any) -> list[str]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(col(OutboxEvent.topic))
            .where(col(OutboxEvent.key) == str(contract_id))
            .order_by(col(OutboxEvent.created_at), col(OutboxEvent.id))
        )
        return list(rows.scalars())


async def test_the_intent_is_recorded_once_with_the_rendered_pdf(
    accepted: Signing, store: LocalFileStore, origination: Origination
) -> None:
    first = await _prepare(accepted, store)
    again = await _prepare(accepted, store)  # a redelivered offer_accepted
    assert again.id == first.id
    async with read_session() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Contract))
        assert count == 1
        signers = await contracts.signers_of(session, first.id)
        rendered = await contracts.rerender(session, contract=first, setup=SETUP)
    assert first.status == ContractStatus.PREPARED
    assert first.principal == 10_000_000 and first.currency == "CLP"
    stored = await store.get(first.unsigned_key)
    assert sha256_hex(stored) == first.unsigned_sha256 and len(stored) == first.unsigned_size
    assert rendered == stored  # the same offer renders the same bytes
    assert [(s.role, s.docuseal_role, s.email, s.status) for s in signers] == [
        ("CUSTOMER", "Cliente", "jose.nunez@example.cl", "PENDING"),
        ("LENDER", "Acreedor", "firmas@autofin.test", "PENDING"),
    ]
    assert signers[0].external_id == f"{first.id}:customer"
    assert await _topics(first.id) == ["contracts.prepared"]


async def test_no_accepted_offer_no_contract(
    db: Any, store: LocalFileStore, origination: Origination
) -> None:
    from domain.origination.models import CreditOffer, OfferStatus

    signing_ = await make_signing()
    async with transaction() as session:
        await session.execute(
            sa.update(CreditOffer)
            .where(col(CreditOffer.application_id) == signing_.application_id)
            .values(status=OfferStatus.EXPIRED.value)
        )
    async with transaction() as session:
        assert (
            await contracts.prepare_contract(
                session, application_id=signing_.application_id, store=store, setup=SETUP
            )
            is None
        )
    async with read_session() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Contract)) == 0


async def test_signers_move_forward_only_whatever_the_order(
    accepted: Signing, store: LocalFileStore, origination: Origination
) -> None:
    contract = await _sent(accepted, store)
    # the customer signs; DocuSeal's "viewed" for them arrives late
    assert (await _apply(_form("form.started", CUSTOMER_SUBMITTER, seconds=2))).changed
    done = await _apply(_form("form.completed", CUSTOMER_SUBMITTER, seconds=3))
    assert done.changed and done.note == "customer completed"
    late = await _apply(_form("form.viewed", CUSTOMER_SUBMITTER, seconds=1))
    assert not late.changed
    _, signers = await _state(contract.id)
    customer = signers["CUSTOMER"]
    assert customer.status == SignerStatus.COMPLETED
    assert customer.started_at is not None and customer.opened_at == customer.started_at
    # the lender signs: the last form.completed completes the contract
    last = await _apply(
        _form(
            "form.completed",
            LENDER_SUBMITTER,
            seconds=10,
            submission={"id": SUBMISSION, "status": "completed", "audit_log_url": "https://d/a"},
        )
    )
    assert last.note == "lender completed; contract completed"
    contract, signers = await _state(contract.id)
    assert contract.status == ContractStatus.COMPLETED
    assert contract.audit_log_url == "https://d/a"
    # submission.completed after it, a late viewed, and an expiry: nothing moves back
    assert not (
        await _apply(_event("submission.completed", {"id": SUBMISSION}, seconds=11))
    ).changed
    assert not (await _apply(_form("form.viewed", LENDER_SUBMITTER, seconds=5))).changed
    assert not (await _apply(_event("submission.expired", {"id": SUBMISSION}, seconds=20))).changed
    contract, signers = await _state(contract.id)
    assert contract.status == ContractStatus.COMPLETED
    assert {s.status for s in signers.values()} == {"COMPLETED"}
    assert await _topics(contract.id) == [
        "contracts.prepared",
        "contracts.sent",
        "contracts.signer_updated",
        "contracts.signer_updated",
        "contracts.signer_updated",
        "contracts.completed",
    ]
    assert origination.names() == []  # completing waits for the stored document


async def test_submission_completed_first_completes_the_signers_it_lists(
    accepted: Signing, store: LocalFileStore, origination: Origination
) -> None:
    contract = await _sent(accepted, store)
    submitters = [
        {"id": CUSTOMER_SUBMITTER, "status": "completed", "completed_at": isoformat(utcnow())},
        {"id": LENDER_SUBMITTER, "status": "completed", "completed_at": None},
    ]
    done = await _apply(
        _event("submission.completed", {"id": SUBMISSION, "submitters": submitters}, seconds=9)
    )
    assert done.changed and done.note == "contract completed"
    # the signers' own events come after it: nothing moves
    for submitter in (CUSTOMER_SUBMITTER, LENDER_SUBMITTER):
        assert not (await _apply(_form("form.completed", submitter, seconds=5))).changed
        assert not (await _apply(_form("form.viewed", submitter, seconds=1))).changed
    contract, signers = await _state(contract.id)
    assert contract.status == ContractStatus.COMPLETED
    assert {s.status for s in signers.values()} == {"COMPLETED"}
    assert all(s.completed_at is not None for s in signers.values())


async def test_events_of_other_submissions_are_acknowledged_and_ignored(
    accepted: Signing, store: LocalFileStore, origination: Origination
) -> None:
    await _sent(accepted, store)
    outcome = await _apply(_event("submission.completed", {"id": 999}))
    assert not outcome.changed and "not a Trama contract" in outcome.note
    assert not (await _apply(_event("template.created", {"id": 1}))).changed
    assert not (await _apply(_form("form.viewed", 12345))).changed


async def test_a_webhook_before_the_send_recorded_its_answer_finds_the_contract(
    accepted: Signing, store: LocalFileStore, origination: Origination
) -> None:
    contract = await _prepare(accepted, store)
    event = _form("form.viewed", CUSTOMER_SUBMITTER, external_id=f"{contract.id}:customer")
    assert (await _apply(event)).changed
    contract, signers = await _state(contract.id)
    assert contract.submission_id == SUBMISSION
    assert signers["CUSTOMER"].status == SignerStatus.OPENED
    assert signers["CUSTOMER"].submitter_id == CUSTOMER_SUBMITTER
    # the send's answer comes after: the contract is sent, the signer stays opened
    async with transaction() as session:
        await contracts.record_submission(
            session,
            contract_id=contract.id,
            submission_id=SUBMISSION,
            submitters={f"{contract.id}:customer": CUSTOMER_SUBMITTER},
        )
    contract, signers = await _state(contract.id)
    assert contract.status == ContractStatus.SENT
    assert signers["CUSTOMER"].status == SignerStatus.OPENED


async def test_a_declined_signature_returns_the_application_to_its_offer(
    accepted: Signing, store: LocalFileStore, origination: Origination
) -> None:
    contract = await _sent(accepted, store)
    outcome = await _apply(
        _form(
            "form.declined",
            CUSTOMER_SUBMITTER,
            seconds=1,
            decline_reason="La tasa no es la acordada",
        )
    )
    assert outcome.note == "customer declined; contract declined"
    contract, _ = await _state(contract.id)
    assert contract.status == ContractStatus.DECLINED
    assert contract.decline_reason == "La tasa no es la acordada"
    assert origination.calls == [
        ("signature_declined", {"contract_id": contract.id, "reason": "La tasa no es la acordada"})
    ]
    # a late form.completed of the lender is kept for the signer, the contract stays declined;
    # the submission expiring afterwards changes nothing
    late = await _apply(_form("form.completed", LENDER_SUBMITTER, seconds=2))
    assert late.note == "lender completed"
    assert not (await _apply(_event("submission.expired", {"id": SUBMISSION}, seconds=3))).changed
    contract, signers = await _state(contract.id)
    assert contract.status == ContractStatus.DECLINED
    assert signers["CUSTOMER"].status == SignerStatus.DECLINED
    async with read_session() as session:
        app = await session.get(CreditApplication, accepted.application_id)
    assert app is not None and app.state == "OFFERED"
    assert origination.names() == ["signature_declined"]
    assert (await _topics(contract.id))[-3:] == [
        "contracts.signer_updated",
        "contracts.declined",
        "contracts.signer_updated",
    ]


async def test_an_expired_submission_expires_the_application(
    accepted: Signing, store: LocalFileStore, origination: Origination
) -> None:
    contract = await _sent(accepted, store)
    await _apply(_form("form.viewed", CUSTOMER_SUBMITTER, seconds=1))
    outcome = await _apply(_event("submission.expired", {"id": SUBMISSION}, seconds=2))
    assert outcome.changed and outcome.note == "contract expired"
    contract, _ = await _state(contract.id)
    assert contract.status == ContractStatus.EXPIRED
    assert origination.names() == ["signature_expired"]
    async with read_session() as session:
        app = await session.get(CreditApplication, accepted.application_id)
    assert app is not None and app.state == "EXPIRED"


async def test_the_signed_document_completes_the_credit_once(
    accepted: Signing, store: LocalFileStore, origination: Origination
) -> None:
    contract = await _sent(accepted, store)
    async with transaction() as session:
        with pytest.raises(InvalidTransition):  # not completed yet
            await signing.record_signed_document(
                session,
                contract_id=contract.id,
                key="k",
                size=1,
                sha256="0" * 64,
                audit_log_url=None,
            )
    await _apply(_event("submission.completed", {"id": SUBMISSION, "audit_log_url": "https://d/a"}))
    digest = "a" * 64
    for _ in range(2):  # a retried fetch records nothing twice
        async with transaction() as session:
            signed = await signing.record_signed_document(
                session,
                contract_id=contract.id,
                key=contracts.storage_key(contract.id, "signed"),
                size=1234,
                sha256=digest,
                audit_log_url="https://d/audit.pdf",
            )
    assert signed.status == ContractStatus.SIGNED
    assert signed.signed_sha256 == digest and signed.audit_log_url == "https://d/audit.pdf"
    assert origination.names() == ["complete_signing"]
    async with read_session() as session:
        app = await session.get(CreditApplication, accepted.application_id)
        assert app is not None
        assert signed.credit_id == app.credit_id and app.state == "APPROVED"
        actions = (
            (
                await session.execute(
                    sa.select(col(AuditRecord.action)).where(
                        col(AuditRecord.entity_id) == str(contract.id)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert {"contract.prepared", "contract.sent", "contract.completed", "contract.signed"} <= set(
        actions
    )
    assert (await _topics(contract.id))[-1] == "contracts.signed"


async def test_who_reads_a_contract(
    accepted: Signing, store: LocalFileStore, origination: Origination
) -> None:
    contract = await _sent(accepted, store)

    def who(role: Role, **changes: Any) -> Principal:
        return Principal(
            subject=f"t:{role.value}", roles=frozenset({role}), scopes=ROLE_SCOPES[role], **changes
        )

    readers = [
        who(Role.CUSTOMER, customer_id=accepted.customer_id),
        who(Role.AGENT, partner_id=accepted.lender_id),
        who(Role.ADMIN),
    ]
    others = [
        who(Role.CUSTOMER, customer_id=accepted.lender_id),  # another customer
        who(Role.AGENT, partner_id=accepted.customer_id),  # another partner's staff
        who(Role.DEALER, partner_id=accepted.lender_id),
        who(Role.NETWORK_VIEWER),
    ]
    async with read_session() as session:
        for principal in readers:
            found = await contracts.get_contract(
                session, principal=principal, contract_id=contract.id
            )
            assert found.id == contract.id
            _, data = await contracts.read_document(
                session, principal=principal, store=store, contract_id=contract.id, which="unsigned"
            )
            assert sha256_hex(data) == contract.unsigned_sha256
        for principal in others:
            from domain.shared.errors import NotFound

            with pytest.raises(NotFound):
                await contracts.get_contract(session, principal=principal, contract_id=contract.id)
            assert (
                await contracts.contracts_of_application(
                    session, principal=principal, application_id=accepted.application_id
                )
                == []
            )

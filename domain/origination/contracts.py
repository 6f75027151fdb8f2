"""Contracts of accepted offers: rendering, the intent to send, reads and who may read.

``prepare_contract`` runs in the transaction of the ``applications.offer_accepted``
delivery: it reads the accepted offer through origination's ``get_offer``, renders the PDF
(``contracts_pdf``), stores it, and records the contract and its two signers (customer,
lender) as ``PREPARED`` — the intent — before anything is sent to DocuSeal. The send
(``workers/actors/docuseal.py``) then records DocuSeal's submission with
:func:`record_submission`. A second delivery of the same event finds the contract of the
offer and does nothing again.

Who reads a contract: the customer it is for (a CUSTOMER principal), the lender's staff
with ``applications:read``, admins and network-wide ``pii:read`` holders.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.origination import contracts_events as events
from domain.origination.contracts_models import (
    Contract,
    ContractSigner,
    ContractStatus,
    SignerRole,
    SignerStatus,
)
from domain.origination.contracts_pdf import (
    ContractTerms,
    Party,
    render_contract,
    schedule_rows,
    sha256_hex,
)
from domain.origination.models import CreditApplication, OfferStatus
from domain.shared import audit
from domain.shared.errors import Forbidden, NotFound, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import SYSTEM, Principal, Role, Scope
from domain.shared.time import utcnow

#: Ranks: a contract's status only moves up (a late event never moves it back).
CONTRACT_RANK: dict[str, int] = {
    ContractStatus.PREPARED: 0,
    ContractStatus.SENT: 1,
    ContractStatus.COMPLETED: 2,
    ContractStatus.SIGNED: 3,
    ContractStatus.DECLINED: 3,
    ContractStatus.EXPIRED: 3,
}
FINAL = frozenset({ContractStatus.SIGNED, ContractStatus.DECLINED, ContractStatus.EXPIRED})
SIGNER_RANK: dict[str, int] = {
    SignerStatus.PENDING: 0,
    SignerStatus.SENT: 1,
    SignerStatus.OPENED: 2,
    SignerStatus.STARTED: 3,
    SignerStatus.COMPLETED: 4,
    SignerStatus.DECLINED: 4,
}

_COUNTRIES = {
    "CL": "Santiago, Chile",
    "AR": "Buenos Aires, Argentina",
    "MX": "Ciudad de México, México",
    "CO": "Bogotá, Colombia",
    "PE": "Lima, Perú",
}


class FileStore(Protocol):
    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...
    async def get(self, key: str) -> bytes: ...


@dataclass(frozen=True)
class SigningSetup:
    """Who signs for the lender and DocuSeal's role names (``TRAMA_DOCUSEAL_*``)."""

    customer_role: str = "Cliente"
    lender_role: str = "Acreedor"
    lender_signer_email: str = "firmas@trama.example"
    lender_signer_name: str = "Apoderado del acreedor"


# --- origination's services, looked up by name ---------------------------------------------
def _origination(name: str) -> Callable[..., Awaitable[Any]]:
    """A function of ``domain.origination.service`` (the application's owner): the offer,
    and the moves of the application when a signature ends."""
    module = importlib.import_module("domain.origination.service")
    fn: Callable[..., Awaitable[Any]] = getattr(module, name)
    return fn


#: Tests may replace these (``origination_hooks``); production resolves origination's.
origination_hooks: dict[str, Callable[..., Awaitable[Any]]] = {}


def hook(name: str) -> Callable[..., Awaitable[Any]]:
    return origination_hooks.get(name) or _origination(name)


# --- preparing --------------------------------------------------------------------------
def storage_key(contract_id: uuid.UUID, which: str) -> str:
    return f"contracts/{contract_id}/{which}"


async def contract_for_offer(session: AsyncSession, offer_id: uuid.UUID) -> Contract | None:
    return (
        await session.execute(sa.select(Contract).where(col(Contract.offer_id) == offer_id))
    ).scalar_one_or_none()


async def _terms(
    session: AsyncSession,
    *,
    reference: str,
    application: CreditApplication,
    offer: Any,
    setup: SigningSetup,
    issued_at: Any,
) -> tuple[ContractTerms, Any]:
    from domain.customers import service as customers
    from domain.partners.models import Partner

    customer = (await customers.get_many(session, [application.customer_id])).get(
        application.customer_id
    )
    if customer is None:
        raise NotFound("Customer", application.customer_id)
    lender = await session.get(Partner, application.lender_id)
    if lender is None:
        raise NotFound("Partner", application.lender_id)
    address = ", ".join(
        p for p in (customer.address_line1, customer.address_line2, customer.city) if p
    )
    terms = ContractTerms(
        reference=reference,
        application_reference=application.reference,
        issued_at=issued_at,
        place=_COUNTRIES.get(lender.country, lender.country),
        lender=Party(name=lender.name, id_label=f"código {lender.code}"),
        customer=Party(
            name=f"{customer.given_names} {customer.family_names}",
            id_label=f"{customer.national_id_type} {customer.national_id}",
            address=address or None,
            email=customer.email,
        ),
        vehicle=await _vehicle_text(session, application.vehicle_id),
        vehicle_price=application.vehicle_price,
        down_payment=application.down_payment,
        currency=offer.currency,
        principal=offer.principal,
        annual_rate=offer.annual_rate,
        term_months=offer.term_months,
        installment=offer.installment,
        cae=offer.cae,
        total_interest=offer.total_interest,
        total_paid=offer.total_paid,
        disbursement_date=offer.disbursement_date,
        scheme=offer.scheme,
        schedule=schedule_rows(offer.schedule),
        customer_role=setup.customer_role,
        lender_role=setup.lender_role,
    )
    return terms, customer


async def _vehicle_text(session: AsyncSession, vehicle_id: uuid.UUID | None) -> str | None:
    """The marketplace's description of the vehicle (make, model, trim, year), when the
    marketplace answers; the contract then names the vehicle by it."""
    if vehicle_id is None:
        return None
    try:
        get_vehicle = importlib.import_module("domain.marketplace.service").get_vehicle
    except (ImportError, AttributeError):
        return None
    vehicle = await get_vehicle(session, vehicle_id)
    if vehicle is None:
        return None
    parts = [getattr(vehicle, name, None) for name in ("make", "model", "trim", "year")]
    return " ".join(str(p) for p in parts if p) or None


async def prepare_contract(
    session: AsyncSession,
    *,
    application_id: uuid.UUID,
    store: FileStore,
    setup: SigningSetup,
) -> Contract | None:
    """Render and record the contract of the application's accepted offer (the intent to
    send it). Idempotent: the offer's contract, when it exists, is returned as it is.
    None when the application has no accepted offer (any more)."""
    offer = await hook("get_offer")(session, application_id=application_id)
    if offer is None or offer.status != OfferStatus.ACCEPTED.value:
        return None
    existing = await contract_for_offer(session, offer.id)
    if existing is not None:
        return existing
    application = await session.get(CreditApplication, application_id)
    if application is None:
        raise NotFound("CreditApplication", application_id)
    contract_id = uuid7()
    number = application.reference.removeprefix("AP-")
    attempt = await session.scalar(
        sa.select(sa.func.count())
        .select_from(table_of(Contract))
        .where(table_of(Contract).c.application_id == application_id)
    )
    reference = f"CT-{number}" + (f"-{int(attempt or 0) + 1}" if attempt else "")
    now = utcnow()
    terms, customer = await _terms(
        session,
        reference=reference,
        application=application,
        offer=offer,
        setup=setup,
        issued_at=now,
    )
    if not customer.email:
        raise ValidationFailed.on("customer.email", "the customer has no e-mail to sign with")
    pdf = render_contract(terms)
    key = storage_key(contract_id, "unsigned")
    await store.put(key, pdf, content_type="application/pdf")
    contract = Contract(
        id=contract_id,
        reference=reference,
        application_id=application.id,
        offer_id=offer.id,
        lender_id=application.lender_id,
        customer_id=application.customer_id,
        status=ContractStatus.PREPARED.value,
        currency=offer.currency,
        principal=offer.principal,
        unsigned_sha256=sha256_hex(pdf),
        unsigned_size=len(pdf),
        unsigned_key=key,
        created_at=now,
        updated_at=now,
    )
    session.add(contract)
    await session.flush()
    for role, docuseal_role, name, email in (
        (SignerRole.CUSTOMER, setup.customer_role, terms.customer.name, customer.email),
        (SignerRole.LENDER, setup.lender_role, setup.lender_signer_name, setup.lender_signer_email),
    ):
        session.add(
            ContractSigner(
                contract_id=contract.id,
                role=role.value,
                docuseal_role=docuseal_role,
                external_id=f"{contract.id}:{role.value.lower()}",
                name=name[:200],
                email=email,
                updated_at=now,
            )
        )
    await session.flush()
    audit.record(
        session,
        principal=SYSTEM,
        action="contract.prepared",
        entity_type="Contract",
        entity_id=contract.id,
        after={
            "reference": reference,
            "applicationId": str(application.id),
            "offerId": str(offer.id),
            "sha256": contract.unsigned_sha256,
        },
    )
    events.emit(session, events.PREPARED, contract, sha256=contract.unsigned_sha256)
    return contract


async def rerender(session: AsyncSession, *, contract: Contract, setup: SigningSetup) -> bytes:
    """The contract's PDF rendered again from its offer (the same bytes as when sent)."""
    offer = await hook("get_offer")(session, application_id=contract.application_id)
    application = await session.get(CreditApplication, contract.application_id)
    if offer is None or application is None or offer.id != contract.offer_id:
        raise NotFound("CreditOffer", contract.offer_id)
    terms, _ = await _terms(
        session,
        reference=contract.reference,
        application=application,
        offer=offer,
        setup=setup,
        issued_at=contract.created_at,
    )
    return render_contract(terms)


# --- the send's outcome --------------------------------------------------------------------
async def signers_of(session: AsyncSession, contract_id: uuid.UUID) -> list[ContractSigner]:
    rows = await session.execute(
        sa.select(ContractSigner)
        .where(col(ContractSigner.contract_id) == contract_id)
        .order_by(col(ContractSigner.role))
    )
    return list(rows.scalars())


async def record_submission(
    session: AsyncSession,
    *,
    contract_id: uuid.UUID,
    submission_id: int,
    submitters: dict[str, int],
) -> Contract:
    """DocuSeal made the submission: keep its ids; the contract is ``SENT`` (unless a
    webhook already moved it further)."""
    contract = await _locked(session, contract_id)
    signers = await signers_of(session, contract_id)
    before = {"status": contract.status, "submissionId": contract.submission_id}
    now = utcnow()
    contract.submission_id = submission_id
    contract.sent_at = contract.sent_at or now
    contract.sending_until = None
    contract.last_error = None
    if CONTRACT_RANK[contract.status] < CONTRACT_RANK[ContractStatus.SENT]:
        contract.status = ContractStatus.SENT.value
    contract.updated_at = now
    contract.version += 1
    for signer in signers:
        found = submitters.get(signer.external_id)
        if found is not None:
            signer.submitter_id = found
        if SIGNER_RANK[signer.status] < SIGNER_RANK[SignerStatus.SENT]:
            signer.status = SignerStatus.SENT.value
            signer.updated_at = now
        session.add(signer)
    session.add(contract)
    await session.flush()
    audit.record(
        session,
        principal=SYSTEM,
        action="contract.sent",
        entity_type="Contract",
        entity_id=contract.id,
        before=before,
        after={"status": contract.status, "submissionId": submission_id},
    )
    events.emit(session, events.SENT, contract, submissionId=str(submission_id))
    return contract


async def record_error(session: AsyncSession, *, contract_id: uuid.UUID, error: str) -> None:
    """Keep a failed step's error on the contract and let go of a send's hold (the retry
    takes it again)."""
    table = table_of(Contract)
    await session.execute(
        table.update()
        .where(table.c.id == contract_id)
        .values(last_error=error[:2000], sending_until=None)
    )


async def _locked(session: AsyncSession, contract_id: uuid.UUID) -> Contract:
    from domain.shared.sql import for_update

    query = for_update(sa.select(Contract).where(col(Contract.id) == contract_id), session)
    contract = (await session.execute(query)).scalar_one_or_none()
    if contract is None:
        raise NotFound("Contract", contract_id)
    return contract


# --- reading ------------------------------------------------------------------------------
def _is_customer(principal: Principal) -> bool:
    return principal.customer_id is not None and principal.has_role(Role.CUSTOMER)


def visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    """The contracts ``principal`` may read, as a SQL condition."""
    table = table_of(Contract)
    if principal.is_admin or principal.can_read_pii:
        return sa.true()
    conditions: list[sa.ColumnElement[bool]] = []
    if _is_customer(principal):
        conditions.append(table.c.customer_id == principal.customer_id)
    staff = not principal.has_role(Role.DEALER, Role.INSPECTOR) or principal.has_role(
        Role.AGENT, Role.SUPERVISOR, Role.ADVISOR
    )
    if principal.partner_id is not None and principal.has_scope(Scope.APPLICATIONS_READ) and staff:
        conditions.append(table.c.lender_id == principal.partner_id)
    return sa.or_(*conditions) if conditions else sa.false()


async def get_contract(
    session: AsyncSession, *, principal: Principal, contract_id: uuid.UUID
) -> Contract:
    table = table_of(Contract)
    row = (
        await session.execute(
            sa.select(Contract).where(table.c.id == contract_id, visible_to(principal))
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("Contract", contract_id)
    return row


async def contracts_of_application(
    session: AsyncSession, *, principal: Principal, application_id: uuid.UUID
) -> list[Contract]:
    """The application's contracts, newest first (a declined one, then the new one)."""
    table = table_of(Contract)
    rows = await session.execute(
        sa.select(Contract)
        .where(table.c.application_id == application_id, visible_to(principal))
        .order_by(table.c.created_at.desc(), table.c.id.desc())
    )
    return list(rows.scalars())


async def signers_by_contract(
    session: AsyncSession, contract_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ContractSigner]]:
    out: dict[uuid.UUID, list[ContractSigner]] = {c: [] for c in contract_ids}
    if not contract_ids:
        return out
    rows = await session.execute(
        sa.select(ContractSigner)
        .where(col(ContractSigner.contract_id).in_(contract_ids))
        .order_by(col(ContractSigner.contract_id), col(ContractSigner.role))
    )
    for signer in rows.scalars():
        out[signer.contract_id].append(signer)
    return out


async def read_document(
    session: AsyncSession,
    *,
    principal: Principal,
    store: FileStore,
    contract_id: uuid.UUID,
    which: str,
) -> tuple[Contract, bytes]:
    """The unsigned or signed PDF, checked against its recorded SHA-256."""
    contract = await get_contract(session, principal=principal, contract_id=contract_id)
    if which == "signed":
        if contract.signed_key is None or contract.signed_sha256 is None:
            raise NotFound("SignedContract", contract_id)
        key, digest = contract.signed_key, contract.signed_sha256
    elif which == "unsigned":
        key, digest = contract.unsigned_key, contract.unsigned_sha256
    else:
        raise NotFound("ContractDocument", which)
    data = await store.get(key)
    if sha256_hex(data) != digest:
        raise Forbidden("the stored document does not match its recorded SHA-256")
    return contract, data


async def claim_send(session: AsyncSession, *, contract_id: uuid.UUID, hold_seconds: float) -> bool:
    """Hold a PREPARED contract for one sender for ``hold_seconds`` (a short transaction of
    its own): False when it was sent already or another sender holds it."""
    from datetime import timedelta

    table = table_of(Contract)
    now = utcnow()
    result = await session.execute(
        table.update()
        .where(
            table.c.id == contract_id,
            table.c.status == ContractStatus.PREPARED.value,
            sa.or_(table.c.sending_until.is_(None), table.c.sending_until < now),
        )
        .values(sending_until=now + timedelta(seconds=hold_seconds))
    )
    return bool(getattr(result, "rowcount", 0) == 1)

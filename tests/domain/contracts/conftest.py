"""Fixtures of the contract/signature tests: a lender, a customer, an application in
``SIGNING`` with its accepted offer, and origination's hooks.

Origination's own functions (``domain.origination.service``: ``get_offer``,
``complete_signing``, ``signature_declined``, ``signature_expired``) are called through a
recorder, so the tests see what the contract code asked for and how many times, and what
origination did with it (the application's state, its credit).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import transaction
from app.storage import LocalFileStore
from domain.customers.models import Customer
from domain.origination import contracts, service
from domain.origination.models import (
    ApplicationState,
    CreditApplication,
    CreditOffer,
    OfferStatus,
)
from domain.partners.models import Partner, PartnerKind
from domain.shared.models import table_of
from domain.shared.time import utcnow

SETUP = contracts.SigningSetup(
    customer_role="Cliente",
    lender_role="Acreedor",
    lender_signer_email="firmas@autofin.test",
    lender_signer_name="Ana Apoderada",
)


@dataclass
class Origination:
    """Origination's functions as the contract code calls them, recorded."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def get_offer(self, session: Any, *, application_id: uuid.UUID) -> Any:
        return await service.get_offer(session, application_id=application_id)

    async def complete_signing(
        self, session: Any, *, application_id: uuid.UUID, contract_id: uuid.UUID
    ) -> Any:
        self.calls.append(("complete_signing", {"contract_id": contract_id}))
        return await service.complete_signing(
            session, application_id=application_id, contract_id=contract_id
        )

    async def signature_declined(
        self, session: Any, *, application_id: uuid.UUID, contract_id: uuid.UUID, reason: Any
    ) -> Any:
        self.calls.append(("signature_declined", {"contract_id": contract_id, "reason": reason}))
        return await service.signature_declined(
            session, application_id=application_id, contract_id=contract_id, reason=reason
        )

    async def signature_expired(
        self, session: Any, *, application_id: uuid.UUID, contract_id: uuid.UUID
    ) -> Any:
        self.calls.append(("signature_expired", {"contract_id": contract_id}))
        return await service.signature_expired(
            session, application_id=application_id, contract_id=contract_id
        )

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def origination() -> AsyncIterator[Origination]:
    hooks = Origination()
    contracts.origination_hooks.update(
        get_offer=hooks.get_offer,
        complete_signing=hooks.complete_signing,
        signature_declined=hooks.signature_declined,
        signature_expired=hooks.signature_expired,
    )
    try:
        yield hooks
    finally:
        contracts.origination_hooks.clear()


@pytest.fixture
def store(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path / "files")


@dataclass
class Signing:
    application_id: uuid.UUID
    offer_id: uuid.UUID
    lender_id: uuid.UUID
    customer_id: uuid.UUID


def schedule(principal: int, months: int, installment: int) -> list[dict[str, Any]]:
    rows, balance, start = [], principal, date(2027, 1, 5)
    for n in range(1, months + 1):
        interest = balance * 2 // 100
        amortised = installment - interest if n < months else balance
        balance -= amortised
        rows.append(
            {
                "number": n,
                "due_date": (start + timedelta(days=30 * (n - 1))).isoformat(),
                "installment": amortised + interest,
                "interest": interest,
                "principal": amortised,
                "balance": balance,
            }
        )
    return rows


async def make_signing(*, state: ApplicationState = ApplicationState.SIGNING) -> Signing:
    suffix = uuid.uuid4().hex[:6].upper()
    async with transaction() as session:
        lender = Partner(
            code=f"AUTOFIN_{suffix}", name="Autofin S.A.", country="CL", kind=PartnerKind.LENDER
        )
        session.add(lender)
        await session.flush()
        customer = Customer(
            national_id_type="RUT",
            national_id=f"{int(uuid.uuid4().int % 20_000_000) + 5_000_000}",
            given_names="José",
            family_names="Núñez Peña",
            email="jose.nunez@example.cl",
            address_line1="Av. Providencia 1234",
            city="Santiago",
            home_partner_id=lender.id,
            sort_name="nunez pena jose",
        )
        session.add(customer)
        await session.flush()
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(table_of(CreditApplication))
        )
        app = CreditApplication(
            reference=f"AP-2026-{900000 + int(count or 0):06d}",
            lender_id=lender.id,
            customer_id=customer.id,
            vehicle_price=12_000_000,
            requested_principal=10_000_000,
            down_payment=2_000_000,
            currency="CLP",
            term_months=12,
            monthly_income=2_000_000,
            employment_type="EMPLOYED",
            state=state.value,
            created_by="test",
        )
        session.add(app)
        await session.flush()
        rows = schedule(10_000_000, 12, 945_600)
        offer = CreditOffer(
            application_id=app.id,
            status=OfferStatus.ACCEPTED.value,
            principal=10_000_000,
            currency="CLP",
            annual_rate=Decimal("0.24"),
            term_months=12,
            installment=945_600,
            scheme="FRENCH",
            day_count="30/360",
            disbursement_date="2026-12-05",
            total_interest=sum(r["interest"] for r in rows),
            total_paid=sum(r["installment"] for r in rows),
            cae=Decimal("0.2874"),
            schedule=rows,
            grade="B",
            valid_until=utcnow() + timedelta(days=7),
            accepted_at=utcnow(),
            accepted_by="test",
        )
        session.add(offer)
        await session.flush()
        return Signing(app.id, offer.id, lender.id, customer.id)


@pytest.fixture
async def accepted(db: Any, origination: Origination) -> Signing:
    return await make_signing()

"""Fixtures of the origination domain tests: AutoCrédito Club (the demo's Chilean lender),
a customer, principals, grade terms and a marketplace at the boundary, and a snapshot of
every origination row (to prove refused input wrote nothing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.customers.models import Customer
from domain.origination import lending
from domain.origination.models import (
    ApplicationDocument,
    ApplicationEvent,
    CreditApplication,
    CreditOffer,
    Inspection,
    Prequalification,
)
from domain.origination.service import ConsentInput
from domain.partners.models import Partner
from domain.shared.audit import AuditRecord
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import ROLE_SCOPES, Principal, Role

#: Grade terms as scoring's active scorecard would give them (scoring owns them; here the
#: boundary ``lending.grade_terms`` answers from this table).
GRADES = {
    "A": (Decimal("0.129"), 72),
    "B": (Decimal("0.159"), 60),
    "C": (Decimal("0.189"), 48),
    "D": (Decimal("0.239"), 36),
    "E": (Decimal("0.299"), 24),
}

CONSENTS = {
    "bureau_check": ConsentInput(accepted=True, text_version="bureau-2026-01"),
    "data_processing": ConsentInput(accepted=True, text_version="datos-2026-01"),
}


def principal(role: Role, partner: uuid.UUID | None = None, **changes: Any) -> Principal:
    return Principal(
        subject=f"test:{role.value}:{partner}",
        roles=frozenset({role}),
        scopes=ROLE_SCOPES[role],
        partner_id=partner,
        **changes,
    )


def customer_principal(customer_id: uuid.UUID) -> Principal:
    return Principal(
        subject=f"customer:{customer_id}",
        roles=frozenset({Role.CUSTOMER}),
        scopes=ROLE_SCOPES[Role.CUSTOMER],
        customer_id=customer_id,
    )


@dataclass
class FakeVehicle:
    id: uuid.UUID
    status: str
    price: int
    currency: str
    dealer_id: uuid.UUID


@dataclass
class Market:
    """The marketplace at origination's boundary: vehicles, holds and sales it was asked."""

    vehicles: dict[uuid.UUID, FakeVehicle] = field(default_factory=dict)
    calls: list[tuple[str, uuid.UUID, uuid.UUID]] = field(default_factory=list)

    def add(self, dealer_id: uuid.UUID, price: int, status: str = "available") -> uuid.UUID:
        vehicle_id = uuid.uuid4()
        self.vehicles[vehicle_id] = FakeVehicle(vehicle_id, status, price, "CLP", dealer_id)
        return vehicle_id

    async def facts(self, session: Any, vehicle_id: uuid.UUID) -> lending.VehicleFacts:
        v = self.vehicles.get(vehicle_id)
        if v is None:
            raise lending.VehicleNotAvailable(f"vehicle {vehicle_id} does not exist")
        return lending.VehicleFacts(v.id, v.status, v.price, v.currency, v.dealer_id)

    async def reserve(
        self,
        session: Any,
        *,
        vehicle_id: uuid.UUID,
        application_id: uuid.UUID,
        hold_until: datetime,
    ) -> None:
        self.vehicles[vehicle_id].status = "reserved"
        self.calls.append(("reserve", vehicle_id, application_id))

    async def release(
        self, session: Any, *, vehicle_id: uuid.UUID, application_id: uuid.UUID
    ) -> None:
        self.vehicles[vehicle_id].status = "available"
        self.calls.append(("release", vehicle_id, application_id))

    async def sold(self, session: Any, *, vehicle_id: uuid.UUID, application_id: uuid.UUID) -> None:
        self.vehicles[vehicle_id].status = "sold"
        self.calls.append(("sold", vehicle_id, application_id))


@dataclass
class World:
    lender_id: uuid.UUID
    other_lender_id: uuid.UUID
    dealer_id: uuid.UUID
    customer_id: uuid.UUID
    other_customer_id: uuid.UUID
    market: Market

    @property
    def customer(self) -> Principal:
        return customer_principal(self.customer_id)

    @property
    def agent(self) -> Principal:
        return principal(Role.AGENT, self.lender_id)

    @property
    def supervisor(self) -> Principal:
        return principal(Role.SUPERVISOR, self.lender_id)

    @property
    def inspector(self) -> Principal:
        return principal(Role.INSPECTOR, self.lender_id)

    @property
    def dealer(self) -> Principal:
        return principal(Role.DEALER, self.dealer_id)


@pytest.fixture
async def world(db: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    async def terms(session: Any, *, lender_id: uuid.UUID, grade: str) -> lending.Terms:
        if grade not in GRADES:
            raise lending.GradeTermsUnavailable(f"no grade {grade}")
        rate, months = GRADES[grade]
        return lending.Terms(grade, rate, months)

    market = Market()
    monkeypatch.setattr(lending, "grade_terms", terms)
    monkeypatch.setattr(lending, "vehicle_facts", market.facts)
    monkeypatch.setattr(lending, "reserve_vehicle", market.reserve)
    monkeypatch.setattr(lending, "release_vehicle", market.release)
    monkeypatch.setattr(lending, "mark_vehicle_sold", market.sold)
    async with transaction() as session:
        partners = {p.code: p for p in (await session.execute(sa.select(Partner))).scalars().all()}
        lender = partners["AUTOCREDITO"]
        other = partners["BANCO_ANDINO"]
        dealer = partners["RETAIL_SUR"]
        customers = list(
            (
                await session.execute(
                    sa.select(Customer.id)
                    .where(
                        Customer.id.not_in(sa.select(CreditApplication.customer_id)),  # type: ignore[attr-defined]
                        Customer.home_partner_id.in_([lender.id, dealer.id]),  # type: ignore[attr-defined]
                    )
                    .order_by(Customer.id)
                    .limit(2)
                )
            ).scalars()
        )
    return World(lender.id, other.id, dealer.id, customers[0], customers[1], market)


TABLES = (
    CreditApplication,
    ApplicationEvent,
    ApplicationDocument,
    Inspection,
    CreditOffer,
    Prequalification,
    OutboxEvent,
    AuditRecord,
)


async def counts() -> dict[str, int]:
    out: dict[str, int] = {}
    async with read_session() as session:
        for model in TABLES:
            out[model.__name__] = int(
                await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            )
    return out

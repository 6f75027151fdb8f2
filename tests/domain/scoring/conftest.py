"""Fixtures of the scoring tests: the seeded vehicle lender, principals, an application."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.customers.models import Customer
from domain.origination.models import ApplicationState, CreditApplication
from domain.partners.models import Partner, PartnerKind
from domain.scoring import service
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role
from domain.shared.time import utcnow


@pytest.fixture
async def lender(db: Any) -> Partner:
    async with read_session() as session:
        partner = (
            await session.execute(
                sa.select(Partner)
                .where(Partner.kind == PartnerKind.LENDER.value)  # type: ignore[arg-type]
                .order_by(Partner.code)
                .limit(1)
            )
        ).scalar_one()
    return partner


@pytest.fixture
async def bare_lender(lender: Partner) -> Partner:
    """The lender without an active scorecard (the seed's is retired)."""
    async with transaction() as session:
        active = await service.active_scorecard(session, lender_id=lender.id)
        if active is not None:
            await service.retire_scorecard(session, principal=SYSTEM, scorecard_id=active.id)
    return lender


@pytest.fixture
async def other_partner(db: Any, lender: Partner) -> Partner:
    async with read_session() as session:
        return (
            await session.execute(sa.select(Partner).where(Partner.id != lender.id).limit(1))
        ).scalar_one()


def staff(partner: Partner, role: Role = Role.SUPERVISOR) -> Principal:
    return Principal(
        subject=f"{role.value}@{partner.code}",
        roles=frozenset({role}),
        scopes=ROLE_SCOPES[role],
        partner_id=partner.id,
        partner_code=partner.code,
    )


@pytest.fixture
def make_application(db: Any, lender: Partner) -> Callable[..., Awaitable[CreditApplication]]:
    counter = iter(range(1, 10_000))

    async def make(**overrides: Any) -> CreditApplication:
        async with transaction() as session:
            customer_id = overrides.pop("customer_id", None)
            if customer_id is None:
                customer_id = (
                    await session.execute(
                        sa.select(Customer.id)
                        .where(Customer.national_id_type == "CL_RUT")
                        .order_by(Customer.id)
                        .limit(1)
                    )
                ).scalar_one()
            values: dict[str, Any] = {
                "reference": f"AP-2026-{900000 + next(counter):06d}",
                "lender_id": lender.id,
                "customer_id": customer_id,
                "requested_principal": 8_000_000,
                "down_payment": 2_000_000,
                "currency": "CLP",
                "term_months": 36,
                "monthly_income": 1_500_000,
                "employment_type": "EMPLOYED",
                "employment_months": 48,
                "declared_obligations": 150_000,
                "state": ApplicationState.SUBMITTED.value,
                "submitted_at": utcnow(),
                "created_by": "test",
            }
            values.update(overrides)
            app = CreditApplication(id=uuid.uuid4(), **values)
            session.add(app)
        return app

    return make

"""An application naming a vehicle: the vehicle is reserved at submission, inspected before
the offer (a pass makes the offer, a failure or a low valuation refers it back), sold when
the contract is signed; and who sees it (SQL scopes, field rules)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.origination import access, service
from domain.origination.errors import VehicleNotAvailable
from domain.origination.models import CreditApplication
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.principal import Role
from domain.shared.time import utcnow
from tests.domain.origination.conftest import (
    CONSENTS,
    World,
    counts,
    customer_principal,
    principal,
)

CHECKLIST = [{"item": i, "passed": True} for i in ("BODY", "BRAKES", "ENGINE", "VIN_MATCH")]


async def vehicle_application(world: World, price: int = 12_000_000) -> tuple[uuid.UUID, Any]:
    vehicle = world.market.add(world.dealer_id, price)
    async with transaction() as session:
        app = await service.start_application(
            session,
            principal=world.customer,
            lender_id=world.lender_id,
            vehicle_id=vehicle,
            requested_principal=0,
            down_payment=3_000_000,
            currency="CLP",
            term_months=36,
            monthly_income=2_500_000,
            employment_type="SELF_EMPLOYED",
            consents=CONSENTS,
        )
        app = await service.submit_application(
            session, principal=world.customer, application_id=app.id, expected_version=None
        )
        assert app.requested_principal == price - 3_000_000
        app = await service.apply_decision(
            session,
            application_id=app.id,
            decision_id=uuid.uuid4(),
            outcome="approve",
            grade="A",
            reasons=[],
        )
    assert app.state == "PRE_APPROVED"  # a vehicle is inspected before any offer
    return vehicle, app


async def book(world: World, app: Any) -> Any:
    async with transaction() as session:
        return await service.book_inspection(
            session,
            principal=world.customer,
            application_id=app.id,
            expected_version=app.version,
            slot_start=utcnow() + timedelta(days=1),
            slot_end=utcnow() + timedelta(days=1, hours=1),
            place="Av. Apoquindo 4500, Las Condes",
        )


async def test_passed_inspection_offers_and_signing_sells(world: World) -> None:
    vehicle, app = await vehicle_application(world)
    assert ("reserve", vehicle, app.id) in world.market.calls
    inspection = await book(world, app)
    with pytest.raises(Forbidden):  # the applicant does not inspect
        async with transaction() as session:
            await service.record_inspection(
                session,
                principal=world.customer,
                inspection_id=inspection.id,
                checklist=CHECKLIST,
                odometer_km=42_000,
                valuation=12_500_000,
            )
    async with transaction() as session:
        done = await service.record_inspection(
            session,
            principal=world.inspector,
            inspection_id=inspection.id,
            checklist=CHECKLIST,
            odometer_km=42_000,
            valuation=12_500_000,
        )
        assert done.status == "PASSED"
        app = await session.get(CreditApplication, app.id)
        assert app is not None and app.state == "OFFERED"
        offer = await service.get_offer(session, application_id=app.id)
        assert offer is not None and offer.principal == 9_000_000
        await service.accept_offer(
            session, principal=world.customer, application_id=app.id, offer_id=offer.id
        )
        app = await service.complete_signing(
            session, application_id=app.id, contract_id=uuid.uuid4()
        )
    assert app.state == "APPROVED" and ("sold", vehicle, app.id) in world.market.calls


async def test_failed_inspection_or_low_valuation_refers(world: World) -> None:
    _, app = await vehicle_application(world)
    inspection = await book(world, app)
    async with transaction() as session:
        done = await service.record_inspection(
            session,
            principal=world.inspector,
            inspection_id=inspection.id,
            checklist=CHECKLIST,
            odometer_km=42_000,
            valuation=11_000_000,
        )
        app = await session.get(CreditApplication, app.id)
    assert done.status == "FAILED" and app is not None and app.state == "REFERRED"
    assert "below the price" in (app.referral_reason or "")
    _, other = await vehicle_application(world)
    inspection = await book(world, other)
    async with transaction() as session:
        done = await service.record_inspection(
            session,
            principal=world.inspector,
            inspection_id=inspection.id,
            checklist=[*CHECKLIST, {"item": "TYRES", "passed": False, "note": "gastados"}],
            odometer_km=42_000,
            valuation=13_000_000,
        )
        other = await session.get(CreditApplication, other.id)
    assert other is not None and other.state == "REFERRED"
    assert other.referral_reason == "failed inspection items: TYRES"


async def test_bad_inspection_input_writes_nothing(world: World) -> None:
    _, app = await vehicle_application(world)
    before = await counts()
    with pytest.raises(ValidationFailed):
        async with transaction() as session:
            await service.book_inspection(
                session,
                principal=world.customer,
                application_id=app.id,
                expected_version=app.version,
                slot_start=utcnow() - timedelta(hours=1),
                slot_end=utcnow(),
                place="x",
            )
    assert await counts() == before


async def test_a_vehicle_not_available_is_refused(world: World) -> None:
    reserved = world.market.add(world.dealer_id, 9_000_000, status="reserved")
    before = await counts()
    with pytest.raises(VehicleNotAvailable):
        async with transaction() as session:
            await service.start_application(
                session,
                principal=world.customer,
                lender_id=world.lender_id,
                vehicle_id=reserved,
                requested_principal=0,
                currency="CLP",
                term_months=24,
                monthly_income=1_000_000,
                employment_type="EMPLOYED",
            )
    assert await counts() == before


async def test_scopes_and_field_rules(world: World) -> None:
    _, app = await vehicle_application(world)

    async def visible(who: Any) -> list[uuid.UUID]:
        async with read_session() as session:
            rows = await session.execute(
                sa.select(CreditApplication.id).where(access.visible_to(who))
            )
            return list(rows.scalars())

    assert app.id in await visible(world.customer)
    assert app.id in await visible(world.agent)
    assert app.id in await visible(world.dealer)
    assert app.id not in await visible(principal(Role.DEALER, world.other_lender_id))
    assert app.id not in await visible(principal(Role.AGENT, world.other_lender_id))
    assert app.id not in await visible(customer_principal(world.other_customer_id))
    assert not access.financial_visible(world.dealer, app)
    assert access.financial_visible(world.customer, app)
    assert access.reasons_visible(world.customer, app)
    assert not access.scoring_visible(world.customer, app)
    assert access.scoring_visible(world.agent, app)
    assert not access.scoring_visible(principal(Role.ADVISOR, world.lender_id), app)
    async with read_session() as session:
        masked = await session.scalar(
            sa.select(access.financial_visible_sql(world.dealer)).where(
                CreditApplication.id == app.id
            )
        )
        clear = await session.scalar(
            sa.select(access.financial_visible_sql(world.agent)).where(
                CreditApplication.id == app.id
            )
        )
    assert not masked and clear

"""Holding a vehicle for an application: one application at a time, extended by the same,
released, sold through it, lapsed holds released by the expiry job; states checked."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from app.db import transaction
from domain.marketplace import service, states
from domain.marketplace.errors import VehicleNotAvailable, VehicleReserved
from domain.shared import time as clock
from domain.shared.errors import InvalidTransition, ValidationFailed
from domain.shared.time import utcnow
from tests.domain.marketplace.conftest import (
    Dealers,
    csv_feed,
    load,
    row,
    snapshot,
    topics_since,
    vehicles_of,
)


async def _vehicle(dealers: Dealers) -> uuid.UUID:
    await load(dealers, csv_feed(row("A1"), row("A2")))
    return (await vehicles_of(dealers.a))["A1"].id


async def _reserve(vehicle: uuid.UUID, application: uuid.UUID, hours: int = 24) -> service.Hold:
    async with transaction() as session:
        return await service.reserve_vehicle(
            session,
            vehicle_id=vehicle,
            application_id=application,
            hold_until=utcnow() + timedelta(hours=hours),
        )


def test_the_state_machine() -> None:
    S = states.VehicleStatus
    assert states.can_go(S.AVAILABLE, S.RESERVED) and states.can_go(S.RESERVED, S.SOLD)
    assert not states.can_go(S.AVAILABLE, S.SOLD)
    assert not states.can_go(S.SOLD, S.AVAILABLE)
    with pytest.raises(InvalidTransition):
        states.ensure_transition(S.WITHDRAWN, S.RESERVED)


async def test_one_application_holds_a_vehicle_another_gets_a_conflict(dealers: Dealers) -> None:
    vehicle = await _vehicle(dealers)
    first, second = uuid.uuid4(), uuid.uuid4()
    before = await snapshot()
    hold = await _reserve(vehicle, first)
    assert hold.created and hold.vehicle.status == "RESERVED" and hold.vehicle.version == 2
    with pytest.raises(VehicleReserved) as conflict:
        await _reserve(vehicle, second)
    assert conflict.value.code == "VEHICLE_RESERVED"
    again = await _reserve(vehicle, first, hours=48)  # the same application extends it
    assert not again.created and again.vehicle.version == 3
    assert await topics_since(before["outbox_events"]) == ["vehicles.reserved"] * 2
    async with transaction() as session:
        released = await service.release_reservation(
            session, vehicle_id=vehicle, application_id=first
        )
    assert released.status == "AVAILABLE" and released.reserved_for is None
    assert (await _reserve(vehicle, second)).created


async def test_a_sale_goes_through_the_holding_application_only(dealers: Dealers) -> None:
    vehicle = await _vehicle(dealers)
    first, other = uuid.uuid4(), uuid.uuid4()
    async with transaction() as session:
        with pytest.raises(VehicleNotAvailable):  # not held at all
            await service.mark_sold(session, vehicle_id=vehicle, application_id=first)
    await _reserve(vehicle, first)
    async with transaction() as session:
        with pytest.raises(VehicleNotAvailable):
            await service.mark_sold(session, vehicle_id=vehicle, application_id=other)
    async with transaction() as session:
        sold = await service.mark_sold(session, vehicle_id=vehicle, application_id=first)
        assert sold.status == "SOLD" and sold.sold_at is not None
    async with transaction() as session:  # idempotent for the buyer
        again = await service.mark_sold(session, vehicle_id=vehicle, application_id=first)
        assert again.version == sold.version
    with pytest.raises(VehicleNotAvailable):
        await _reserve(vehicle, other)
    # a feed does not touch a sold vehicle
    result = await load(dealers, csv_feed(row("A1", "1.000.000")), full=True)
    assert result.feed.held == 1
    assert (await vehicles_of(dealers.a))["A1"].status == "SOLD"


async def test_lapsed_holds_are_released_by_the_expiry_job(dealers: Dealers) -> None:
    vehicle = await _vehicle(dealers)
    application = uuid.uuid4()
    await _reserve(vehicle, application, hours=2)
    async with transaction() as session:
        assert await service.release_lapsed_holds(session) == 0
    with clock.clock_at(utcnow() + timedelta(hours=3)):
        before = await snapshot()
        async with transaction() as session:
            assert await service.release_lapsed_holds(session) == 1
        assert await topics_since(before["outbox_events"]) == ["vehicles.released"]
        assert (await vehicles_of(dealers.a))["A1"].status == "AVAILABLE"
        async with transaction() as session:
            assert await service.release_lapsed_holds(session) == 0


async def test_bad_holds_are_refused_and_write_nothing(dealers: Dealers) -> None:
    vehicle = await _vehicle(dealers)
    before = await snapshot()
    for hours in (-1, 24 * 8):
        with pytest.raises(ValidationFailed):
            await _reserve(vehicle, uuid.uuid4(), hours=hours)
    assert await snapshot() == before

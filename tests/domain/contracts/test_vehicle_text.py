"""The contract names the marketplace vehicle by make, model, trim and year — not by the
vehicle row's concurrency counter (``Vehicle.version``)."""

from __future__ import annotations

from typing import Any

from app.db import read_session
from domain.origination import contracts
from tests.domain.marketplace.conftest import csv_feed, load, make_dealers, row, vehicles_of


async def test_the_contract_names_the_vehicle_by_its_trim(db: Any) -> None:
    dealers = await make_dealers()
    await load(dealers, csv_feed(row("S1")))
    await load(dealers, csv_feed(row("S1", price="9.490.000")))  # version 2 now
    vehicle = (await vehicles_of(dealers.a))["S1"]
    assert vehicle.version == 2
    async with read_session() as session:
        text = await contracts._vehicle_text(session, vehicle.id)
    assert text == "Toyota Corolla XEI 2.0 2021"

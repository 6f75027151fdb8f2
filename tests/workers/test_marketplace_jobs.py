"""The marketplace's expiry job: scheduled, and it releases every lapsed hold in batches."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from app.db import transaction
from domain.marketplace import service
from domain.shared import time as clock
from domain.shared.time import utcnow
from tests.domain.marketplace.conftest import csv_feed, load, make_dealers, row, vehicles_of
from workers.actors import marketplace as actors
from workers.registry import REGISTRY, load_modules


async def test_lapsed_holds_are_released_in_batches(db: Any) -> None:
    load_modules()
    spec = REGISTRY.jobs["marketplace.release_lapsed_holds"]
    assert spec.every == timedelta(minutes=1)
    dealers = await make_dealers()
    await load(dealers, csv_feed(*[row(f"A{i}") for i in range(5)]))
    stock = await vehicles_of(dealers.a)
    async with transaction() as session:
        for index, key in enumerate(sorted(stock)):
            await service.reserve_vehicle(
                session,
                vehicle_id=stock[key].id,
                application_id=uuid.uuid4(),
                hold_until=utcnow() + timedelta(hours=1 if index < 4 else 5),
            )
    with clock.clock_at(utcnow() + timedelta(hours=2)):
        assert await actors.release_lapsed_holds(batch=2) == {"released": 4}
        assert await actors.release_lapsed_holds(batch=2) == {"released": 0}
        statuses = sorted(v.status for v in (await vehicles_of(dealers.a)).values())
    assert statuses == ["AVAILABLE"] * 4 + ["RESERVED"]

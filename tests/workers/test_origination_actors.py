"""Origination's jobs run as the workers run them: the clock sweep (escalations once) and the
time-to-decision histogram fed by the first decision's event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app import metrics
from app.db import read_session, transaction
from domain.origination import service
from domain.shared import time as clock
from domain.shared.outbox import Event, OutboxEvent
from tests.domain.origination.conftest import CONSENTS, World
from tests.domain.origination.conftest import world as world
from workers.actors import origination as actors
from workers.registry import REGISTRY


def _observed(outcome: str) -> float:
    for family in metrics.APPLICATION_DECISION_SECONDS.collect():
        for sample in family.samples:
            if sample.name.endswith("_count") and sample.labels.get("outcome") == outcome:
                return float(sample.value)
    return 0.0


async def test_sweep_and_decision_time(world: World) -> None:
    assert "origination.sweep_clock" in REGISTRY.jobs
    assert "origination.decision_time" in REGISTRY.consumers
    start = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)  # Wednesday 15:00 in Santiago
    with clock.clock_at(start) as frozen:
        assert isinstance(frozen, clock.FrozenClock)
        async with transaction() as session:
            app = await service.start_application(
                session,
                principal=world.customer,
                lender_id=world.lender_id,
                requested_principal=4_000_000,
                currency="CLP",
                term_months=24,
                monthly_income=1_200_000,
                employment_type="EMPLOYED",
                consents=CONSENTS,
            )
            app = await service.submit_application(
                session, principal=world.customer, application_id=app.id, expected_version=None
            )
        frozen.set(start + timedelta(days=7))
        first = await actors.sweep_clock()
        assert first["breached"] >= 1  # this one (and the demo's submitted ones)
        assert await actors.sweep_clock() == {"at_risk": 0, "breached": 0}
        async with read_session() as session:
            found = await service.get_application(
                session, principal=world.customer, application_id=app.id
            )
        assert found.breached_at == start + timedelta(days=7)
        frozen.set(start + timedelta(days=7, hours=1))
        async with transaction() as session:
            await service.apply_decision(
                session,
                application_id=app.id,
                decision_id=uuid.uuid4(),
                outcome="reject",
                grade=None,
                reasons=["DTI_HIGH"],
            )
    async with read_session() as session:
        row = (
            await session.execute(
                sa.select(OutboxEvent).where(
                    OutboxEvent.topic == "applications.rejected",
                    OutboxEvent.payload["reference"].as_string() == app.reference,
                )
            )
        ).scalar_one()
    before = _observed("reject")
    event = Event(
        id=row.id,
        position=1,
        topic=row.topic,
        key=row.key,
        payload=row.payload,
        partner_ids=frozenset(),
        created_at=row.created_at,
    )
    async with transaction() as session:
        await actors.decision_time(session, event)
    assert _observed("reject") == before + 1

"""The 24-hour promise on the lender's calendar: business hours, weekends and Chilean
holidays (from the cases' calendar), at-risk and breached flags raised once each by the
sweep, with one applications.escalated event per flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.db import read_session, transaction
from domain.origination import service
from domain.origination.clock import BusinessHours, state_at
from domain.origination.models import ClockState
from domain.shared import time as clock
from domain.shared.outbox import OutboxEvent
from tests.domain.origination.conftest import CONSENTS, World

SANTIAGO = ZoneInfo("America/Santiago")
HOURS = BusinessHours("CL", 9, 18)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SANTIAGO).astimezone(UTC)


def test_business_hours_skip_nights_weekends_and_holidays() -> None:
    # Wednesday 2 December 2026, 15:00: 3 hours that day, 9 Thursday, 9 Friday, 3 Monday
    assert HOURS.add(local(2026, 12, 2, 15), 24) == local(2026, 12, 7, 12)
    # Friday 4 December, 17:00: 1 + Monday 9 + (Tuesday 8 December is the Immaculate
    # Conception, a Chilean public holiday) + Wednesday 9 + Thursday 5
    assert HOURS.add(local(2026, 12, 4, 17), 24) == local(2026, 12, 10, 14)
    # submitted at night: counting starts at 09:00 the next business day
    assert HOURS.add(local(2026, 12, 2, 22, 30), 9) == local(2026, 12, 3, 18)
    # Saturday: Monday 09:00 onwards
    assert HOURS.add(local(2026, 12, 5, 11), 1) == local(2026, 12, 7, 10)
    # 24 business hours over Christmas and New Year (25 Dec, 31 Dec bank holiday, 1 Jan)
    assert HOURS.add(local(2026, 12, 24, 17), 24) == local(2026, 12, 30, 14)
    start = local(2026, 12, 4, 17)
    assert HOURS.between(start, HOURS.add(start, 24)) == timedelta(hours=24)


def test_state_at_by_business_time_left() -> None:
    submitted = local(2026, 12, 2, 15)
    due = HOURS.add(submitted, 24)
    assert state_at(local(2026, 12, 3, 10), hours=HOURS, submitted_at=submitted, due_at=due) is (
        ClockState.ON_TRACK
    )
    # Friday 4 December 15:00: 3 + 3 left of 24 (Monday 09-12 and Friday 15-18) = 6 = 25 %
    assert state_at(local(2026, 12, 4, 15), hours=HOURS, submitted_at=submitted, due_at=due) is (
        ClockState.AT_RISK
    )
    # a weekend eats no business time: still at risk, not breached, on Sunday
    assert state_at(local(2026, 12, 6, 20), hours=HOURS, submitted_at=submitted, due_at=due) is (
        ClockState.AT_RISK
    )
    assert state_at(due, hours=HOURS, submitted_at=submitted, due_at=due) is ClockState.BREACHED


async def _escalations() -> list[dict[str, object]]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(OutboxEvent.payload)
            .where(OutboxEvent.topic == "applications.escalated")
            .order_by(OutboxEvent.id)
        )
        return [dict(p) for (p,) in rows]


async def test_the_sweep_flags_once_per_flag(world: World) -> None:
    submitted_at = local(2026, 12, 2, 15)
    with clock.clock_at(submitted_at) as frozen:
        async with transaction() as session:
            app = await service.start_application(
                session,
                principal=world.customer,
                lender_id=world.lender_id,
                requested_principal=5_000_000,
                currency="CLP",
                term_months=24,
                monthly_income=1_500_000,
                employment_type="EMPLOYED",
                consents=CONSENTS,
            )
            app = await service.submit_application(
                session, principal=world.customer, application_id=app.id, expected_version=None
            )
        assert app.due_at == local(2026, 12, 7, 12)
        assert isinstance(frozen, clock.FrozenClock)
        for moment, expected in (
            (local(2026, 12, 3, 12), ([], [])),
            (local(2026, 12, 4, 16), ([app.reference], [])),
            (local(2026, 12, 4, 17), ([], [])),  # at risk already: not again
            (local(2026, 12, 7, 12, 1), ([], [app.reference])),
            (local(2026, 12, 8, 12), ([], [])),  # breached already: not again
        ):
            frozen.set(moment)
            async with transaction() as session:
                sweep = await service.sweep_clock(session)
            mine = (  # the demo data's applications are swept too
                [r for r in sweep.at_risk if r == app.reference],
                [r for r in sweep.breached if r == app.reference],
            )
            assert mine == expected, moment
    states = [p["clockState"] for p in await _escalations() if p["reference"] == app.reference]
    assert states == ["AT_RISK", "BREACHED"]
    async with read_session() as session:
        found = await service.get_application(
            session, principal=world.customer, application_id=app.id
        )
    assert found.breached_at == local(2026, 12, 7, 12, 1)
    assert service.clock_flags(found, local(2026, 12, 8)) == (True, True)

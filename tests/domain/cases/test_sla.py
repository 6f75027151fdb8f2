"""Service levels: banking calendars, due times, the at-risk / breached sweep, escalation,
the clock stopping while the customer is awaited, and a new window for a new handler."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.db import transaction
from domain.cases import service, sla
from domain.cases.models import Case, SlaState
from domain.shared.event_schemas import global_id as gid
from domain.shared.principal import SYSTEM
from domain.shared.time import utcnow
from tests.domain.cases.conftest import Network, audits, events, load, open_case, timeline

SANTIAGO = ZoneInfo("America/Santiago")
BUENOS_AIRES = ZoneInfo("America/Argentina/Buenos_Aires")


# --- calendar ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("country", "day", "business"),
    [
        ("CL", date(2026, 9, 18), False),  # Fiestas Patrias
        ("CL", date(2026, 9, 17), True),
        ("CL", date(2026, 12, 31), False),  # bank holiday
        ("CL", date(2026, 11, 21), False),  # a Saturday
        ("CL", date(2027, 9, 17), False),  # the 2027 bridge holiday
        ("AR", date(2026, 5, 25), False),  # Revolución de Mayo
        ("AR", date(2026, 12, 7), False),
        ("AR", date(2026, 12, 9), True),
    ],
)
def test_business_days(country: str, day: date, business: bool) -> None:
    assert sla.is_business_day(country, day) is business


def test_adding_business_days_skips_weekends_and_holidays() -> None:
    assert sla.add_business_days("CL", date(2026, 9, 17), 1) == date(2026, 9, 21)
    assert sla.add_business_days("AR", date(2026, 12, 4), 1) == date(2026, 12, 9)
    assert sla.add_business_days("CL", date(2026, 12, 30), 1) == date(2027, 1, 4)
    assert sla.add_business_days("CL", date(2026, 11, 16), 5) == date(2026, 11, 23)
    with pytest.raises(ValueError):
        sla.add_business_days("CL", date(2026, 1, 1), 0)


def test_due_is_the_end_of_the_last_business_day_in_the_country() -> None:
    start = datetime(2026, 9, 17, 15, 0, tzinfo=SANTIAGO)
    due = sla.compute_due(start, country="CL", business_days=1)
    assert due == datetime(2026, 9, 22, 0, 0, tzinfo=SANTIAGO).astimezone(UTC)
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)
    # A Saturday opening counts from the next business day: Monday 23 November 2026 is
    # Argentina's Día de la Soberanía Nacional, so the one day is Tuesday the 24th.
    saturday = datetime(2026, 11, 21, 10, 0, tzinfo=BUENOS_AIRES)
    assert sla.compute_due(saturday, country="AR", business_days=1) == datetime(
        2026, 11, 25, 0, 0, tzinfo=BUENOS_AIRES
    )


def test_hours_are_clock_hours() -> None:
    start = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)  # a Saturday night
    assert sla.compute_due(start, country="CL", hours=4) == start + timedelta(hours=4)


def test_bad_targets_are_refused() -> None:
    start = datetime(2026, 11, 21, tzinfo=UTC)
    with pytest.raises(ValueError):
        sla.compute_due(start, country="CL")
    with pytest.raises(ValueError):
        sla.compute_due(start, country="CL", business_days=1, hours=1)
    with pytest.raises(ValueError):
        sla.compute_due(start, country="US", business_days=1)
    with pytest.raises(ValueError):
        sla.compute_due(datetime(2026, 11, 21), country="CL", hours=1)  # naive


def test_state_at() -> None:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    due = start + timedelta(days=4)
    assert sla.state_at(start, started_at=start, due_at=due) is SlaState.ON_TRACK
    assert sla.state_at(due - timedelta(days=1), started_at=start, due_at=due) is SlaState.AT_RISK
    assert (
        sla.state_at(due - timedelta(days=1, seconds=1), started_at=start, due_at=due)
        is SlaState.ON_TRACK
    )
    assert sla.state_at(due, started_at=start, due_at=due) is SlaState.BREACHED
    assert (
        sla.state_at(
            due - timedelta(days=2), started_at=start, due_at=due, at_risk_fraction=Decimal("0.5")
        )
        is SlaState.AT_RISK
    )


# --- the sweep --------------------------------------------------------------------------
async def set_window(case_id: uuid.UUID, start: datetime, due: datetime, **extra: object) -> None:
    async with transaction() as session:
        await session.execute(
            sa.update(Case)
            .where(Case.id == case_id)  # type: ignore[arg-type]
            .values(sla_started_at=start, sla_due_at=due, **extra)
        )


async def test_opening_computes_the_due_time_from_the_typology(net: Network) -> None:
    case = await open_case(net)  # DEVOLUCION_INTERESES: 10 business days, BANCO_ANDINO (CL)
    assert case.sla_started_at == case.created_at
    assert case.sla_due_at == sla.compute_due(case.created_at, country="CL", business_days=10)
    block = await open_case(net, typology="BLOQUEO_TARJETA", amount=None)
    assert block.sla_due_at == block.created_at + timedelta(hours=4)
    assert block.priority == "CRITICAL"


async def test_sweep_flags_once_and_escalates_breaches(net: Network, mappings: None) -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    on_track = await open_case(net)
    at_risk = await open_case(net)
    breached = await open_case(net)
    paused = await open_case(net)
    finished = await open_case(net)
    await set_window(on_track.id, now - timedelta(days=1), now + timedelta(days=9))
    await set_window(at_risk.id, now - timedelta(days=8), now + timedelta(days=2))
    await set_window(breached.id, now - timedelta(days=10), now - timedelta(minutes=1))
    await set_window(
        paused.id,
        now - timedelta(days=10),
        now - timedelta(days=1),
        status="WAITING_CUSTOMER",
        sla_paused_at=now - timedelta(days=2),
    )
    await set_window(
        finished.id, now - timedelta(days=10), now - timedelta(days=1), status="RESOLVED"
    )
    async with transaction() as session:
        sweep = await sla.evaluate_sla(session, now=now)
    assert sweep.at_risk == [at_risk.id]
    assert sweep.breached == [breached.id]

    risky = await load(at_risk.id)
    assert (risky.sla_state, risky.sla_at_risk_at, risky.version) == ("AT_RISK", now, 2)
    assert risky.escalated_at is None
    late = await load(breached.id)
    assert late.sla_state == "BREACHED"
    assert late.sla_breached_at == now and late.escalated_at == now
    assert late.escalated_to == net.ids["BANCO_ANDINO"]
    assert late.version == 2
    for untouched in (on_track, paused, finished):
        assert (await load(untouched.id)).version == 1

    [entry] = [e for e in await timeline(breached.id) if e.kind == "SLA_BREACHED"]
    assert entry.before == {"sla_state": "ON_TRACK"}
    assert entry.after is not None and entry.after["escalated_to"] == str(net.ids["BANCO_ANDINO"])
    assert entry.actor_subject == SYSTEM.subject and entry.seq == 2
    [breach_event] = await events("cases.sla_breached")
    assert breach_event.payload["caseId"] == gid("Case", breached.id)
    assert breach_event.payload["escalatedTo"] == gid("Partner", net.ids["BANCO_ANDINO"])
    assert breach_event.audience == f",{net.ids['BANCO_ANDINO']},"
    at_risk_events = await events("cases.sla_at_risk")
    assert [e.payload["caseId"] for e in at_risk_events] == [gid("Case", at_risk.id)]
    assert len(await audits("cases.sla_breached")) == 1

    # Running again flags nothing twice.
    async with transaction() as session:
        again = await sla.evaluate_sla(session, now=now + timedelta(minutes=5))
    assert again.at_risk == [] and again.breached == []
    assert len(await events("cases.sla_breached")) == 1

    # The at-risk case later breaches: one breach event, its timeline says it was at risk.
    async with transaction() as session:
        later = await sla.evaluate_sla(session, now=now + timedelta(days=3))
    assert later.breached == [at_risk.id]
    [entry] = [e for e in await timeline(at_risk.id) if e.kind == "SLA_BREACHED"]
    assert entry.before == {"sla_state": "AT_RISK"}
    assert len(await events("cases.sla_at_risk")) == 1


async def test_sweep_works_in_batches(net: Network) -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    cases = [await open_case(net) for _ in range(5)]
    for case in cases:
        await set_window(case.id, now - timedelta(days=10), now - timedelta(hours=1))
    async with transaction() as session:
        sweep = await sla.evaluate_sla(session, now=now, batch_size=2)
    assert sorted(sweep.breached) == sorted(c.id for c in cases)
    assert len(await audits("cases.sla_breached")) == 3  # one per batch


async def test_bad_fraction_is_refused(net: Network) -> None:
    async with transaction() as session:
        with pytest.raises(ValueError):
            await sla.evaluate_sla(session, now=utcnow(), at_risk_fraction=Decimal(1))


async def test_waiting_for_the_customer_stops_the_clock(net: Network) -> None:
    case = await open_case(net)
    agent = net.agent("BANCO_ANDINO")
    async with transaction() as session:
        case = await service.transition_case(
            session,
            principal=agent,
            case_id=case.id,
            expected_version=1,
            to_status="WAITING_CUSTOMER",
        )
    assert case.sla_paused_at is not None
    due = case.sla_due_at
    assert due is not None
    # Pretend the customer took two days to answer.
    async with transaction() as session:
        await session.execute(
            sa.update(Case)
            .where(Case.id == case.id)  # type: ignore[arg-type]
            .values(sla_paused_at=case.sla_paused_at - timedelta(days=2))
        )
    async with transaction() as session:
        case = await service.transition_case(
            session, principal=agent, case_id=case.id, expected_version=2, to_status="IN_PROGRESS"
        )
    assert case.sla_paused_at is None
    assert case.sla_due_at is not None
    assert timedelta(days=2) <= case.sla_due_at - due < timedelta(days=2, seconds=30)


async def test_a_new_handler_gets_a_window_on_its_own_calendar(net: Network) -> None:
    case = await open_case(net)  # BANCO_ANDINO, Chile
    async with transaction() as session:
        await service.derive_case(
            session,
            principal=net.agent("BANCO_ANDINO"),
            case_id=case.id,
            expected_version=1,
            to_partner_id=net.ids["BANCO_PAMPA"],
            reason="La tarjeta es de Banco Pampa",
        )
    await set_window(
        case.id,
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=UTC),
        sla_state="BREACHED",
        sla_breached_at=datetime(2026, 1, 2, tzinfo=UTC),
        escalated_at=datetime(2026, 1, 2, tzinfo=UTC),
        escalated_to=net.ids["BANCO_ANDINO"],
    )
    async with transaction() as session:
        case = await service.accept_derivation(
            session, principal=net.agent("BANCO_PAMPA"), case_id=case.id, expected_version=2
        )
    assert case.sla_started_at is not None
    assert case.sla_due_at == sla.compute_due(case.sla_started_at, country="AR", business_days=10)
    assert (case.sla_state, case.sla_breached_at, case.escalated_to) == ("ON_TRACK", None, None)
    local = case.sla_due_at.astimezone(BUENOS_AIRES)
    assert local.time() == time(0, 0)

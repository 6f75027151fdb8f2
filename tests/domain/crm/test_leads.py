"""Leads as the landing page sends them: validation, deduplication against leads and
customers, automatic assignment (fair under concurrency), reassignment and conversion."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.crm import advisors, leads
from domain.crm.models import (
    CrmLead,
    CrmOpportunity,
    CrmTask,
    CrmTimelineItem,
    LeadStatus,
    TaskKind,
)
from domain.customers.models import Customer
from domain.shared.errors import ValidationFailed
from domain.shared.principal import SYSTEM
from tests.domain.crm.conftest import lead_input, lenders, roster, snapshot


async def _count(model: Any, *where: Any) -> int:
    async with read_session() as session:
        return int(
            (
                await session.execute(sa.select(sa.func.count()).select_from(model).where(*where))
            ).scalar_one()
        )


async def test_a_new_lead_is_normalised_assigned_and_gets_a_first_contact_task(db: Any) -> None:
    world = await lenders()
    team = await roster(world, 2)
    async with transaction() as session:
        capture = await leads.capture_lead(session, data=lead_input(world))
    lead = capture.lead
    assert lead is not None and not capture.duplicate
    assert lead.phone == "+56987654321" and lead.email_key == "ana.rojas@example.cl"
    assert lead.amount == 12_000_000 and lead.currency == "CLP"
    assert lead.advisor_id == team[0]
    assert capture.task is not None and capture.task.kind == TaskKind.FIRST_CONTACT.value
    assert capture.task.assignee_id == team[0]
    assert capture.task.due_at > lead.created_at
    assert capture.opportunity is not None and capture.opportunity.stage == "NEW"
    assert await _count(CrmTimelineItem, CrmTimelineItem.lead_id == lead.id) == 3  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"phone": "12345", "email": None}, {"phone"}),
        ({"phone": None, "email": None}, {"email"}),
        ({"email": "not-an-email", "phone": None}, {"email"}),
        ({"national_id_type": "CL_RUT", "national_id": "12.345.678-0"}, {"nationalId"}),
        ({"product": "YACHT"}, {"product"}),
        ({"amount": "12.5", "currency": "CLP"}, {"amount"}),
        ({"consent": False}, {"consent"}),
        ({"simulation": {"inputs": "x"}}, {"simulation"}),
        ({"referrer": "javascript:alert(1)"}, {"referrer"}),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(
    db: Any, changes: dict[str, Any], fields: set[str]
) -> None:
    world = await lenders()
    await roster(world, 1)
    before = await snapshot()
    with pytest.raises(ValidationFailed) as refused:
        async with transaction() as session:
            await leads.capture_lead(session, data=lead_input(world, **changes))
    assert {p.field for p in refused.value.problems} == fields
    assert await snapshot() == before


async def test_duplicates_add_to_the_existing_record(db: Any) -> None:
    world = await lenders()
    await roster(world, 2)
    async with transaction() as session:
        first = await leads.capture_lead(session, data=lead_input(world, phone=None))
    # the same person, by e-mail in another case, now with a phone and a national ID
    async with transaction() as session:
        again = await leads.capture_lead(
            session,
            data=lead_input(
                world,
                email="ANA.ROJAS@example.cl",
                national_id_type="CL_RUT",
                national_id="11.111.111-1",
                utm_campaign="invierno",
            ),
        )
    # and by phone only
    async with transaction() as session:
        third = await leads.capture_lead(
            session, data=lead_input(world, email=None, phone="+56 9 8765 4321")
        )
    assert first.lead is not None and again.duplicate and third.duplicate
    assert again.lead is not None and again.lead.id == first.lead.id == (
        third.lead and third.lead.id
    )
    assert await _count(CrmLead) == 1
    async with read_session() as session:
        lead = await session.get(CrmLead, first.lead.id)
        assert lead is not None
        assert (
            lead.captures == 3 and lead.phone == "+56987654321" and lead.national_id == "111111111"
        )
        assert (
            lead.utm_campaign == "verano"
        )  # the first touch stays; each capture is on the timeline
        kinds = Counter(
            (
                await session.execute(
                    sa.select(CrmTimelineItem.kind).where(CrmTimelineItem.lead_id == lead.id)  # type: ignore[arg-type]
                )
            ).scalars()
        )
    assert kinds["LEAD_CAPTURED"] == 3
    # a person who already is a customer: on the customer's timeline, with a task
    async with transaction() as session:
        customer = (await session.execute(sa.select(Customer).limit(1))).scalar_one()
        customer.email = "cliente@example.cl"
    async with transaction() as session:
        known = await leads.capture_lead(
            session, data=lead_input(world, email="cliente@example.cl", phone=None)
        )
    assert known.duplicate and known.lead is None and known.customer_id == customer.id
    assert known.task is not None and known.task.customer_id == customer.id
    assert await _count(CrmLead) == 1
    assert await _count(CrmTimelineItem, CrmTimelineItem.customer_id == customer.id) >= 1  # type: ignore[arg-type]


async def test_concurrent_captures_of_one_person_make_one_lead(db: Any) -> None:
    world = await lenders()
    await roster(world, 2)

    async def send() -> None:
        async with transaction() as session:
            await leads.capture_lead(session, data=lead_input(world))

    await asyncio.gather(*(send() for _ in range(4)))
    assert await _count(CrmLead) == 1
    async with read_session() as session:
        lead = (await session.execute(sa.select(CrmLead))).scalar_one()
    assert lead.captures == 4


async def test_round_robin_is_fair_under_concurrency(db: Any) -> None:
    world = await lenders()
    team = await roster(world, 3)

    async def send(i: int) -> None:
        async with transaction() as session:
            await leads.capture_lead(
                session,
                data=lead_input(world, email=f"p{i}@example.cl", phone=None, name="Luis Diaz"),
            )

    await asyncio.gather(*(send(i) for i in range(12)))
    async with read_session() as session:
        owners = Counter((await session.execute(sa.select(CrmLead.advisor_id))).scalars())
        tasks = Counter(
            (
                await session.execute(
                    sa.select(CrmTask.assignee_id).where(CrmTask.kind == "FIRST_CONTACT")  # type: ignore[arg-type]
                )
            ).scalars()
        )
    assert owners == {team[0]: 4, team[1]: 4, team[2]: 4}
    assert tasks == owners


async def test_lowest_load_gives_the_lead_to_the_least_busy_advisor(db: Any) -> None:
    world = await lenders()
    team = await roster(world, 2)
    async with transaction() as session:
        for i in range(2):
            await leads.capture_lead(
                session, data=lead_input(world, email=f"a{i}@example.cl", phone=None)
            )
    async with transaction() as session:  # both went round robin: one each; close one of team[0]'s
        lead = (
            await session.execute(sa.select(CrmLead).where(CrmLead.advisor_id == team[0]))  # type: ignore[arg-type]
        ).scalar_one()
        await leads.set_lead_status(
            session, principal=SYSTEM, lead_id=lead.id, status="DISQUALIFIED"
        )
        opp = (
            await session.execute(
                sa.select(CrmOpportunity).where(CrmOpportunity.lead_id == lead.id)
            )  # type: ignore[arg-type]
        ).scalar_one()
        from domain.crm import opportunities

        await opportunities.move_stage(
            session,
            principal=SYSTEM,
            opportunity_id=opp.id,
            to_stage="LOST",
            lost_reason="no responde",
        )
        await advisors.update_settings(
            session, principal=SYSTEM, partner_id=world.lender, assignment_strategy="LOWEST_LOAD"
        )
    async with transaction() as session:
        capture = await leads.capture_lead(
            session, data=lead_input(world, email="c@example.cl", phone=None)
        )
    assert capture.lead is not None and capture.lead.advisor_id == team[0]


async def test_an_advisor_away_loses_open_leads_to_one_on_shift(db: Any) -> None:
    world = await lenders()
    team = await roster(world, 2)
    async with transaction() as session:
        capture = await leads.capture_lead(session, data=lead_input(world))
    assert capture.lead is not None and capture.lead.advisor_id == team[0]
    async with transaction() as session:
        await advisors.update_advisor(
            session, principal=world.advisor("adv-1"), advisor_id=team[0], on_shift=False
        )
    async with transaction() as session:
        moved = await leads.reassign_from_away(session)
    assert moved == [capture.lead.id]
    async with transaction() as session:
        assert await leads.reassign_from_away(session) == []  # once
    async with read_session() as session:
        lead = await session.get(CrmLead, capture.lead.id)
        task = await session.get(CrmTask, capture.task.id if capture.task else None)
    assert lead is not None and lead.advisor_id == team[1]
    assert task is not None and task.assignee_id == team[1]


async def test_converting_a_lead_keeps_its_history(db: Any) -> None:
    world = await lenders()
    await roster(world, 1)
    async with transaction() as session:
        capture = await leads.capture_lead(session, data=lead_input(world))
    assert capture.lead is not None
    before = await snapshot()
    with pytest.raises(ValidationFailed):
        async with transaction() as session:
            await leads.convert_lead(
                session,
                principal=world.advisor("adv-1"),
                lead_id=capture.lead.id,
                national_id_type="CL_RUT",
                national_id="12.345.678-0",
                given_names="Ana",
                family_names="Rojas",
            )
    assert await snapshot() == before
    async with transaction() as session:
        customer = await leads.convert_lead(
            session,
            principal=world.advisor("adv-1"),
            lead_id=capture.lead.id,
            national_id_type="CL_RUT",
            national_id="22.222.222-2",
            given_names="Ana",
            family_names="Rojas",
        )
    async with read_session() as session:
        lead = await session.get(CrmLead, capture.lead.id)
        items = await _count(CrmTimelineItem, CrmTimelineItem.customer_id == customer.id)  # type: ignore[arg-type]
        opp = await session.get(
            CrmOpportunity, capture.opportunity.id if capture.opportunity else None
        )
    assert lead is not None and lead.status == LeadStatus.CONVERTED.value
    assert lead.customer_id == customer.id
    assert items >= 3 and opp is not None and opp.customer_id == customer.id
    assert customer.home_partner_id == world.lender and customer.phone == "+56987654321"

"""What other parts of CRM build on: finding the lead or customer a contact belongs to,
writing a timeline item once per source, and creating a task (idempotent by source)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.crm.models import CrmAdvisor, CrmLead, CrmTask, CrmTimelineItem, TimelineKind
from domain.crm.parties import Party, PartyKind, find_party_by_contact
from domain.crm.tasks import create_task
from domain.crm.timeline import add_timeline_item
from domain.customers.models import Customer
from domain.shared.errors import ValidationFailed
from domain.shared.principal import SYSTEM
from domain.shared.time import utcnow
from tests.domain.crm.conftest import lenders, snapshot


async def _customer_with_contact() -> Customer:
    async with transaction() as session:
        customer = (
            await session.execute(sa.select(Customer).order_by(Customer.id).limit(1))  # type: ignore[arg-type]
        ).scalar_one()
        customer.email = "Maria.Perez@Example.CL"
        customer.phone = "+56911112222"
        return customer


async def test_find_party_by_contact_prefers_the_lenders_lead_then_customers(db: Any) -> None:
    world = await lenders()
    customer = await _customer_with_contact()
    async with transaction() as session:
        lead = CrmLead(
            partner_id=world.lender,
            name="Ana Rojas",
            email="ana@example.cl",
            email_key="ana@example.cl",
            phone="+56922223333",
        )
        session.add(lead)
    async with read_session() as session:
        by_email = await find_party_by_contact(
            session, lender_id=world.lender, email="ANA@example.cl", phone_e164=None
        )
        by_phone = await find_party_by_contact(
            session, lender_id=world.lender, email=None, phone_e164="+56922223333"
        )
        other_lender = await find_party_by_contact(
            session, lender_id=world.other, email="ana@example.cl", phone_e164=None
        )
        a_customer = await find_party_by_contact(
            session, lender_id=world.lender, email="maria.perez@example.cl", phone_e164=None
        )
        nobody = await find_party_by_contact(
            session, lender_id=world.lender, email="nadie@example.cl", phone_e164="+56900000000"
        )
        nothing_given = await find_party_by_contact(
            session, lender_id=world.lender, email=None, phone_e164=None
        )
    assert by_email == by_phone
    assert by_email is not None and by_email.kind is PartyKind.LEAD and by_email.id == lead.id
    assert by_email.partner_id == world.lender
    assert other_lender is None  # a lead is its lender's only
    assert a_customer is not None and a_customer.kind is PartyKind.CUSTOMER
    assert a_customer.id == customer.id
    assert nobody is None and nothing_given is None


async def test_a_timeline_item_is_written_once_per_source(db: Any) -> None:
    world = await lenders()
    customer = await _customer_with_contact()
    now = utcnow()
    for _ in range(2):
        async with transaction() as session:
            written = await add_timeline_item(
                session,
                subject=Party.customer(customer.id),
                kind=TimelineKind.APPOINTMENT,
                occurred_at=now,
                visible_to_customer=True,
                partner_id=world.lender,
                payload={"status": "BOOKED"},
                source_ref="calcom:BOOKING_CREATED:uid-1",
            )
    assert written is False  # the second time
    async with read_session() as session:
        items = list(
            (
                await session.execute(
                    sa.select(CrmTimelineItem).where(
                        CrmTimelineItem.customer_id == customer.id  # type: ignore[arg-type]
                    )
                )
            ).scalars()
        )
    assert len(items) == 1
    assert items[0].audience == f",{world.lender},"
    with pytest.raises(ValueError):
        async with transaction() as session:
            await add_timeline_item(
                session,
                subject=Party.customer(customer.id),
                kind="NOT_A_KIND",
                occurred_at=now,
                visible_to_customer=False,
                partner_id=world.lender,
                payload={},
                source_ref="x",
            )


async def test_create_task_is_idempotent_by_source_and_refuses_a_past_due_time(db: Any) -> None:
    world = await lenders()
    async with transaction() as session:
        advisor = CrmAdvisor(partner_id=world.lender, subject="adv-1", name="Pedro Soto")
        session.add(advisor)
        lead = CrmLead(partner_id=world.lender, name="Ana Rojas", advisor_id=advisor.id)
        session.add(lead)
    due = utcnow() + timedelta(days=1)
    ids = []
    for _ in range(2):
        async with transaction() as session:
            task = await create_task(
                session,
                principal=SYSTEM,
                partner_id=world.lender,
                title="Llamar de vuelta",
                due_at=due,
                kind="CALL_BACK",
                lead_id=lead.id,
                source_ref="calcom:no-show:uid-1",
            )
            ids.append(task.id)
    assert ids[0] == ids[1]
    async with read_session() as session:
        stored = await session.get(CrmTask, ids[0])
        assert stored is not None and stored.assignee_id == advisor.id  # the lead's advisor
        items = (
            await session.execute(
                sa.select(sa.func.count()).where(CrmTimelineItem.lead_id == lead.id)  # type: ignore[arg-type]
            )
        ).scalar_one()
    assert items == 1
    before = await snapshot()
    with pytest.raises(ValidationFailed) as refused:
        async with transaction() as session:
            await create_task(
                session,
                principal=SYSTEM,
                partner_id=world.lender,
                title="  ",
                due_at=utcnow() - timedelta(minutes=1),
                lead_id=lead.id,
            )
    assert {p.field for p in refused.value.problems} == {"title", "dueAt"}
    assert await snapshot() == before

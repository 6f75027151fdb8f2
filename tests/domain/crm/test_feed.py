"""Other domains' events on the timeline (once per event) and the opportunities they move
forward (never backwards, whatever order or how many times they arrive)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from app.db import read_session, transaction
from domain.crm import feed, opportunities
from domain.crm.models import CrmOpportunity, CrmTimelineItem
from domain.customers.models import Customer
from domain.shared import event_schemas as wire
from domain.shared import outbox
from domain.shared.ids import uuid7
from domain.shared.outbox import Event
from domain.shared.principal import SYSTEM
from domain.shared.time import utcnow
from tests.domain.crm.conftest import lenders


def _event(topic: str, payload: dict[str, Any], partner: uuid.UUID, at: Any) -> Event:
    return Event(
        id=uuid7(),
        position=1,
        topic=topic,
        key=None,
        payload=payload,
        partner_ids=frozenset({str(partner)}),
        created_at=at,
    )


async def test_application_events_move_the_opportunity_forward_once(db: Any) -> None:
    world = await lenders()
    async with transaction() as session:
        customer = (await session.execute(sa.select(Customer).limit(1))).scalar_one()
        opp = await opportunities.open_opportunity(
            session,
            principal=SYSTEM,
            partner_id=world.lender,
            product="VEHICLE_CREDIT",
            customer_id=customer.id,
        )
    application = uuid7()
    base = {
        "applicationId": wire.global_id("CreditApplication", application),
        "customerId": wire.global_id("Customer", customer.id),
        "lenderId": wire.global_id("Partner", world.lender),
    }
    now = utcnow()
    submitted = _event("applications.submitted", {**base, "state": "SUBMITTED"}, world.lender, now)
    approved = _event(
        "applications.approved",
        {**base, "state": "APPROVED"},
        world.lender,
        now + timedelta(hours=1),
    )
    written = []
    for event in (submitted, submitted, approved, submitted):  # a replay, then a late one
        async with transaction() as session:
            written.append(await feed.record_event(session, event))
    assert written == [True, False, True, False]
    async with read_session() as session:
        stored = await session.get(CrmOpportunity, opp.id)
        items = list(
            (
                await session.execute(
                    sa.select(CrmTimelineItem).where(
                        CrmTimelineItem.customer_id == customer.id,  # type: ignore[arg-type]
                        CrmTimelineItem.kind == "APPLICATION_EVENT",  # type: ignore[arg-type]
                    )
                )
            ).scalars()
        )
    assert stored is not None and stored.stage == "WON" and stored.application_id == application
    assert len(items) == 2 and all(i.audience == f",{world.lender}," for i in items)
    # an event naming nobody writes nothing
    async with transaction() as session:
        assert not await feed.record_event(
            session, _event("applications.submitted", {"state": "X"}, world.lender, now)
        )


async def test_backfill_puts_the_retained_log_on_timelines_once(db: Any) -> None:
    async with transaction() as session:  # the seed's events (credits, payments) relayed
        while (await outbox.relay_batch(session, consumers_for=lambda topic: [])).events:
            pass
    seen, written = await feed.backfill(read_session, transaction, batch=200)
    assert seen > 0 and written > 0
    again = await feed.backfill(read_session, transaction, batch=200)
    assert again == (seen, 0)
    async with read_session() as session:
        kinds = set((await session.execute(sa.select(CrmTimelineItem.kind).distinct())).scalars())
    assert {"CREDIT_EVENT", "PAYMENT"} <= kinds

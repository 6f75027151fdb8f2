"""Other domains' events on the CRM timeline, and the opportunities they move (issue 12).

:func:`record_event` is what the ``crm.timeline`` consumer runs for each relayed event (and
``trama crm backfill-timeline`` over the retained log): it writes one item per event, keyed
by the event id (``source_ref = "event:<id>"``), so a redelivery or a second backfill writes
nothing; its audience is the event's own (the partners the event went to). Then:

- ``applications.submitted`` → the customer's open vehicle-credit opportunity of the lender
  moves to APPLICATION (and is tied to the application); ``applications.offered`` → OFFER;
  ``applications.approved`` (the contract signed, the credit registered) → WON;
  ``applications.rejected`` / ``withdrawn`` / ``expired`` → LOST (the tied one only);
- ``credits.created`` → an opportunity of the customer at APPLICATION or OFFER → WON.

Never backwards (:func:`domain.crm.opportunities.advance`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.credits import service as credits_service
from domain.crm import opportunities
from domain.crm.models import Stage, TimelineKind
from domain.crm.parties import Party
from domain.crm.timeline import add_timeline_item
from domain.shared.event_schemas import parse_global_id
from domain.shared.outbox import Event
from domain.shared.principal import SYSTEM

#: Topics the timeline takes, by prefix or exactly.
TOPICS = (
    "cases.opened",
    "cases.status_changed",
    "cases.resolved",
    "cases.reopened",
    "cases.derived",
    "cases.commented",
    "applications.*",
    "credits.created",
    "credits.disbursed",
    "credits.paid_off",
    "credits.delinquent",
    "credits.cured",
    "credits.written_off",
    "credits.restructured",
    "payments.received",
    "payments.reversed",
)
#: Case events a customer sees on their own timeline (comments may be internal).
_CUSTOMER_CASE_TOPICS = frozenset(
    {"cases.opened", "cases.status_changed", "cases.resolved", "cases.reopened"}
)
_LOST = {"applications.rejected", "applications.withdrawn", "applications.expired"}
_STAGE_OF = {
    "applications.submitted": Stage.APPLICATION,
    "applications.offered": Stage.OFFER,
    "applications.approved": Stage.WON,
}


def _keep(payload: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: payload[n] for n in names if n in payload}


async def _customer_of(session: AsyncSession, event: Event) -> uuid.UUID | None:
    payload = event.payload
    direct = parse_global_id(payload.get("customerId"), "Customer")
    if direct is not None:
        return direct
    credit_id = parse_global_id(payload.get("creditId"), "Credit")
    if credit_id is not None:
        credit = (await credits_service.get_many(session, [credit_id])).get(credit_id)
        return credit.customer_id if credit else None
    case_id = parse_global_id(payload.get("caseId"), "Case")
    if case_id is not None:
        from domain.cases import reads as case_reads

        case = (await case_reads.get_many(session, [case_id], principal=SYSTEM)).get(case_id)
        return case.customer_id if case else None
    return None


def _item(event: Event) -> tuple[TimelineKind, bool, dict[str, Any]]:
    topic, p = event.topic, event.payload
    if topic.startswith("cases."):
        data = _keep(p, "caseId", "reference", "status", "fromStatus", "toStatus", "typology")
        return TimelineKind.CASE_EVENT, topic in _CUSTOMER_CASE_TOPICS, {"topic": topic, **data}
    if topic.startswith("applications."):
        data = _keep(p, "applicationId", "reference", "state", "fromState", "grade", "reasons")
        return TimelineKind.APPLICATION_EVENT, True, {"topic": topic, **data}
    if topic.startswith("payments."):
        data = _keep(p, "creditId", "reference", "paymentId", "amount", "paidAt", "daysPastDue")
        return TimelineKind.PAYMENT, True, {"topic": topic, **data}
    data = _keep(p, "creditId", "reference", "status", "previousStatus", "principal", "daysPastDue")
    return TimelineKind.CREDIT_EVENT, True, {"topic": topic, **data}


async def record_event(session: AsyncSession, event: Event) -> bool:
    """Put ``event`` on its customer's timeline and move opportunities. True when an item
    was written; False when it was written before or the event names no customer we can
    find."""
    customer_id = await _customer_of(session, event)
    if customer_id is None:
        return False
    kind, visible, payload = _item(event)
    audience = [uuid.UUID(p) for p in event.partner_ids]
    written = await add_timeline_item(
        session,
        subject=Party.customer(customer_id),
        kind=kind,
        occurred_at=event.created_at,
        visible_to_customer=visible,
        partner_id=None,
        payload=payload,
        source_ref=f"event:{event.id}",
        audience=audience,
    )
    await _move_opportunities(session, event, customer_id)
    return written


async def _move_opportunities(session: AsyncSession, event: Event, customer_id: uuid.UUID) -> None:
    topic, p = event.topic, event.payload
    ref = f"event:{event.id}"
    if topic.startswith("applications."):
        lender = parse_global_id(p.get("lenderId"), "Partner")
        application = parse_global_id(p.get("applicationId"), "CreditApplication")
        if lender is None or application is None:
            return
        credit = parse_global_id(p.get("creditId"), "Credit")
        if topic in _STAGE_OF:
            await opportunities.advance(
                session,
                partner_id=lender,
                customer_id=customer_id,
                to=_STAGE_OF[topic],
                source_ref=ref,
                application_id=application,
                credit_id=credit,
            )
        elif topic in _LOST:
            await opportunities.advance(
                session,
                partner_id=lender,
                customer_id=customer_id,
                to=Stage.LOST,
                source_ref=ref,
                application_id=application,
                lost_reason=topic.removeprefix("applications."),
                only_tied=True,
            )
    elif topic == "credits.created":
        lender = parse_global_id(p.get("partnerId"), "Partner")
        credit = parse_global_id(p.get("creditId"), "Credit")
        if lender is None or credit is None:
            return
        await opportunities.advance(
            session,
            partner_id=lender,
            customer_id=customer_id,
            to=Stage.WON,
            source_ref=ref,
            credit_id=credit,
            from_stages=(Stage.APPLICATION, Stage.OFFER),
        )


__all__ = ["TOPICS", "record_event"]


async def backfill(read: Any, write: Any, *, after: int = 0, batch: int = 500) -> tuple[int, int]:
    """Run :func:`record_event` over the relayed log after position ``after``, in order, a
    batch per transaction (``read``/``write``: the edge's session factories). Returns
    (events read, items written); a second run writes nothing."""
    from domain.shared import outbox

    topics = outbox.validate_topics(list(TOPICS))
    seen = written = 0
    while True:
        async with read() as session:
            events = await outbox.read_log(
                session, scope=outbox.scope_for(SYSTEM), after=after, topics=topics, limit=batch
            )
        if not events:
            return seen, written
        async with write() as session:
            for event in events:
                written += int(await record_event(session, event))
        seen += len(events)
        after = events[-1].position

"""CRM notes: what an advisor writes on a lead's or a customer's timeline."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from domain.crm import access
from domain.crm.models import CrmLead, CrmTimelineItem, TimelineKind
from domain.crm.parties import Party
from domain.crm.timeline import add_timeline_item
from domain.customers.models import Customer
from domain.shared import audit, pan
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.principal import Principal
from domain.shared.time import utcnow

MAX_NOTE = 4000


async def add_note(
    session: AsyncSession,
    *,
    principal: Principal,
    text: str,
    lead_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    visible_to_customer: bool = False,
) -> CrmTimelineItem:
    """Write a note (the lender's staff); seen by the lender, and by the customer when
    ``visible_to_customer``."""
    lender = access.lender_of(principal)
    access.ensure_can_write(principal)
    if lender is None:
        raise ValidationFailed.on("lender", "notes are written on behalf of a lender")
    body = (text or "").strip()
    if not body:
        raise ValidationFailed.on("text", "is required")
    if len(body) > MAX_NOTE:
        raise ValidationFailed.on("text", f"at most {MAX_NOTE} characters")
    if pan.contains_pan(body):
        raise ValidationFailed.on("text", pan.MESSAGE)
    if (lead_id is None) == (customer_id is None):
        raise ValidationFailed.on("leadId", "give a lead or a customer")
    subject: Party
    if lead_id is not None:
        lead = await session.get(CrmLead, lead_id)
        if lead is None or lead.partner_id != lender:
            raise NotFound("Lead", lead_id)
        subject = Party.lead(lead_id)
    else:
        assert customer_id is not None
        if await session.get(Customer, customer_id) is None:
            raise NotFound("Customer", customer_id)
        subject = Party.customer(customer_id)
    item_id = uuid.uuid4()
    await add_timeline_item(
        session,
        subject=subject,
        kind=TimelineKind.NOTE,
        occurred_at=utcnow(),
        visible_to_customer=visible_to_customer,
        partner_id=lender,
        payload={"text": body, "author": principal.display_name or principal.subject},
        source_ref=f"crm.note:{item_id}",
    )
    from sqlalchemy import select

    item = (
        await session.execute(
            select(CrmTimelineItem).where(CrmTimelineItem.source_ref == f"crm.note:{item_id}")  # type: ignore[arg-type]
        )
    ).scalar_one()
    audit.record(
        session,
        principal=principal,
        action="crm.add_note",
        entity_type="CrmNote",
        entity_id=item.id,
        after={
            "lead_id": lead_id,
            "customer_id": customer_id,
            "visible_to_customer": visible_to_customer,
        },
    )
    return item

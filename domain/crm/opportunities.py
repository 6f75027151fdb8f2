"""Opportunities: a possible sale to a lead or a customer, through stages (issue 12).

People move an opportunity one step at a time (:data:`TRANSITIONS`); LOST needs a reason.
Origination's and credits' events move it forward on their own (:func:`advance`): a
submitted application to APPLICATION, an offer to OFFER, the signed contract (the credit
registered) to WON, a rejected or withdrawn application to LOST — never backwards, and a
late or replayed event changes nothing. Every change is audited, on the outbox
(``crm.opportunity_stage_changed``) and on the lead's or customer's timeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.crm import access, events
from domain.crm.models import (
    CLOSED_STAGES,
    CrmAdvisor,
    CrmLead,
    CrmOpportunity,
    Product,
    Stage,
    TimelineKind,
)
from domain.crm.parties import Party
from domain.crm.timeline import add_timeline_item
from domain.customers.models import Customer
from domain.shared import audit
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, InvalidTransition, NotFound, Problems, ValidationFailed
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.pagination import Page, clamp_page_size, decode_cursor, encode_cursor
from domain.shared.principal import SYSTEM, Principal
from domain.shared.time import isoformat, utcnow

_CURSOR_TAG = "crm.opportunities.v1"

#: What a person may move an opportunity to, from each stage.
TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.NEW: frozenset({Stage.CONTACTED, Stage.QUALIFIED, Stage.LOST}),
    Stage.CONTACTED: frozenset({Stage.QUALIFIED, Stage.LOST}),
    Stage.QUALIFIED: frozenset({Stage.APPLICATION, Stage.LOST}),
    Stage.APPLICATION: frozenset({Stage.OFFER, Stage.LOST}),
    Stage.OFFER: frozenset({Stage.WON, Stage.LOST}),
    Stage.WON: frozenset(),
    Stage.LOST: frozenset(),
}
#: The order events move forward in.
RANK = {
    Stage.NEW: 0,
    Stage.CONTACTED: 1,
    Stage.QUALIFIED: 2,
    Stage.APPLICATION: 3,
    Stage.OFFER: 4,
    Stage.WON: 5,
}


def snapshot(opportunity: CrmOpportunity) -> dict[str, Any]:
    return {
        "stage": opportunity.stage,
        "lost_reason": opportunity.lost_reason,
        "advisor_id": opportunity.advisor_id,
        "amount": opportunity.amount,
        "currency": opportunity.currency,
        "expected_close_date": opportunity.expected_close_date,
        "application_id": opportunity.application_id,
        "credit_id": opportunity.credit_id,
    }


def _subject(opportunity: CrmOpportunity) -> Party:
    if opportunity.lead_id is not None:
        return Party.lead(opportunity.lead_id)
    assert opportunity.customer_id is not None
    return Party.customer(opportunity.customer_id)


async def open_opportunity(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID,
    product: str,
    lead_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    amount: Money | None = None,
    vehicle_description: str | None = None,
    vehicle_id: uuid.UUID | None = None,
    advisor_id: uuid.UUID | None = None,
    expected_close_date: date | None = None,
) -> CrmOpportunity:
    """Open an opportunity of lender ``partner_id`` for a lead or a customer."""
    access.ensure_can_write(principal, partner_id)
    problems = Problems()
    if product not in {p.value for p in Product}:
        problems.add("product", f"unknown product {product!r}")
    if lead_id is None and customer_id is None:
        problems.add("leadId", "give a lead or a customer")
    lead: CrmLead | None = None
    if lead_id is not None:
        lead = await session.get(CrmLead, lead_id)
        if lead is None or lead.partner_id != partner_id:
            problems.add("leadId", "no such lead of this lender")
            lead = None
    if customer_id is not None and await session.get(Customer, customer_id) is None:
        problems.add("customerId", "no such customer")
    if amount is not None and amount.amount <= 0:
        problems.add("amount", "must be positive")
    text = (vehicle_description or "").strip() or None
    if text is not None and len(text) > 300:
        problems.add("vehicleDescription", "at most 300 characters")
    if advisor_id is None and lead is not None:
        advisor_id = lead.advisor_id
    if advisor_id is not None:
        advisor = await session.get(CrmAdvisor, advisor_id)
        if advisor is None or advisor.partner_id != partner_id or not advisor.active:
            problems.add("advisorId", "no such active advisor of this lender")
    if expected_close_date is not None and expected_close_date < date(2000, 1, 1):
        problems.add("expectedCloseDate", "is not a plausible date")
    problems.raise_if_any()
    if lead is not None and customer_id is None:
        customer_id = lead.customer_id
    now = utcnow()
    opportunity = CrmOpportunity(
        partner_id=partner_id,
        lead_id=lead_id,
        customer_id=customer_id,
        product=product,
        vehicle_description=text,
        vehicle_id=vehicle_id,
        amount=amount.amount if amount else None,
        currency=amount.currency if amount else None,
        advisor_id=advisor_id,
        expected_close_date=expected_close_date,
        stage_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(opportunity)
    await session.flush()
    await add_timeline_item(
        session,
        subject=_subject(opportunity),
        kind=TimelineKind.OPPORTUNITY,
        occurred_at=now,
        visible_to_customer=False,
        partner_id=partner_id,
        payload={
            "opportunityId": str(opportunity.id),
            "product": product,
            "fromStage": None,
            "toStage": opportunity.stage,
            "amount": wire.maybe_money(opportunity.amount, opportunity.currency),
        },
        source_ref=f"crm.opportunity:{opportunity.id}:created",
    )
    audit.record(
        session,
        principal=principal,
        action="crm.open_opportunity",
        entity_type="Opportunity",
        entity_id=opportunity.id,
        after=snapshot(opportunity),
    )
    events.emit(
        session,
        "crm.opportunity_created",
        partner_id,
        {
            "opportunityId": events.record_id(opportunity.id),
            "partnerId": wire.global_id("Partner", partner_id),
            "leadId": None if lead_id is None else events.record_id(lead_id),
            "customerId": None if customer_id is None else wire.global_id("Customer", customer_id),
            "product": product,
            "stage": opportunity.stage,
            "amount": wire.maybe_money(opportunity.amount, opportunity.currency),
            "advisorId": None if advisor_id is None else events.record_id(advisor_id),
        },
        key=events.record_id(opportunity.id),
    )
    return opportunity


async def get_opportunity(
    session: AsyncSession, *, principal: Principal, opportunity_id: uuid.UUID
) -> CrmOpportunity:
    opportunity = await session.get(CrmOpportunity, opportunity_id)
    if opportunity is None or not access.may_read(principal, opportunity.partner_id):
        raise NotFound("Opportunity", opportunity_id)
    return opportunity


async def _set_stage(
    session: AsyncSession,
    *,
    principal: Principal,
    opportunity: CrmOpportunity,
    to: Stage,
    lost_reason: str | None,
    source_ref: str | None = None,
) -> None:
    before = snapshot(opportunity)
    previous = opportunity.stage
    now = utcnow()
    opportunity.stage = to.value
    opportunity.lost_reason = lost_reason if to is Stage.LOST else None
    opportunity.stage_changed_at = now
    opportunity.updated_at = now
    opportunity.version += 1
    await session.flush()
    await add_timeline_item(
        session,
        subject=_subject(opportunity),
        kind=TimelineKind.OPPORTUNITY,
        occurred_at=now,
        visible_to_customer=False,
        partner_id=opportunity.partner_id,
        payload={
            "opportunityId": str(opportunity.id),
            "product": opportunity.product,
            "fromStage": previous,
            "toStage": to.value,
            "lostReason": opportunity.lost_reason,
        },
        source_ref=source_ref or f"crm.opportunity:{opportunity.id}:v{opportunity.version}",
    )
    audit.record(
        session,
        principal=principal,
        action="crm.move_opportunity",
        entity_type="Opportunity",
        entity_id=opportunity.id,
        before=before,
        after=snapshot(opportunity),
    )
    events.emit(
        session,
        "crm.opportunity_stage_changed",
        opportunity.partner_id,
        {
            "opportunityId": events.record_id(opportunity.id),
            "partnerId": wire.global_id("Partner", opportunity.partner_id),
            "fromStage": previous,
            "toStage": to.value,
            "changedAt": wire.instant(now),
        },
        key=events.record_id(opportunity.id),
    )


async def move_stage(
    session: AsyncSession,
    *,
    principal: Principal,
    opportunity_id: uuid.UUID,
    to_stage: str,
    lost_reason: str | None = None,
    version: int | None = None,
) -> CrmOpportunity:
    """A person moves an opportunity (see :data:`TRANSITIONS`). Refused: an unknown stage,
    LOST without a reason (VALIDATION), a move the stages do not allow
    (INVALID_TRANSITION), a stale ``version`` (CONFLICT)."""
    problems = Problems()
    try:
        target = Stage(to_stage)
    except ValueError:
        problems.add("stage", f"unknown stage {to_stage!r}")
        target = Stage.NEW
    reason = (lost_reason or "").strip() or None
    if target is Stage.LOST and reason is None:
        problems.add("lostReason", "a lost opportunity needs a reason")
    if reason is not None and len(reason) > 500:
        problems.add("lostReason", "at most 500 characters")
    problems.raise_if_any()
    opportunity = await get_opportunity(session, principal=principal, opportunity_id=opportunity_id)
    access.ensure_can_write(principal, opportunity.partner_id)
    if version is not None and version != opportunity.version:
        raise Conflict(
            "the opportunity changed since you read it", current_version=opportunity.version
        )
    current = Stage(opportunity.stage)
    if target not in TRANSITIONS[current]:
        raise InvalidTransition("Opportunity", current.value, target.value)
    await _set_stage(
        session, principal=principal, opportunity=opportunity, to=target, lost_reason=reason
    )
    return opportunity


async def advance(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    customer_id: uuid.UUID,
    to: Stage,
    source_ref: str,
    application_id: uuid.UUID | None = None,
    credit_id: uuid.UUID | None = None,
    lost_reason: str | None = None,
    only_tied: bool = False,
    from_stages: Sequence[Stage] | None = None,
) -> list[uuid.UUID]:
    """Move the customer's open opportunities of the lender forward on another domain's
    event (never backwards; LOST only from an open stage). An opportunity already tied to
    another application is left alone. Returns the opportunities moved."""
    table = table_of(CrmOpportunity)
    query = sa.select(CrmOpportunity).where(
        table.c.partner_id == partner_id,
        table.c.customer_id == customer_id,
        table.c.stage.not_in([s.value for s in CLOSED_STAGES]),
    )
    if from_stages is not None:
        query = query.where(table.c.stage.in_([s.value for s in from_stages]))
    if application_id is not None:
        query = query.where(
            table.c.application_id == application_id
            if only_tied
            else sa.or_(table.c.application_id.is_(None), table.c.application_id == application_id)
        )
    candidates = list((await session.execute(query.order_by(table.c.created_at))).scalars())
    if application_id is not None and candidates:
        # One application moves one opportunity: the one tied to it, else the oldest open
        # one of the product.
        tied = [c for c in candidates if c.application_id == application_id]
        candidates = (
            tied or [c for c in candidates if c.product == Product.VEHICLE_CREDIT.value][:1]
        )
    moved: list[uuid.UUID] = []
    for opportunity in candidates:
        if application_id is not None and opportunity.application_id is None:
            opportunity.application_id = application_id
        if credit_id is not None and opportunity.credit_id is None:
            opportunity.credit_id = credit_id
        current = Stage(opportunity.stage)
        if to is not Stage.LOST and RANK[to] <= RANK[current]:
            await session.flush()
            continue
        await _set_stage(
            session,
            principal=SYSTEM,
            opportunity=opportunity,
            to=to,
            lost_reason=lost_reason,
            source_ref=f"{source_ref}:{opportunity.id}",
        )
        moved.append(opportunity.id)
    return moved


async def list_opportunities(
    session: AsyncSession,
    *,
    principal: Principal,
    first: int | None = None,
    after: str | None = None,
    stages: Sequence[str] | None = None,
    advisor_id: uuid.UUID | None = None,
    lead_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
) -> Page[CrmOpportunity]:
    """The lender's opportunities, most recently changed first."""
    access.ensure_can_read(principal)
    size = clamp_page_size(first, default=20, maximum=100)
    table = table_of(CrmOpportunity)
    query = sa.select(CrmOpportunity).where(access.visible(principal, table.c.partner_id))
    if stages:
        wrong = [s for s in stages if s not in {v.value for v in Stage}]
        if wrong:
            raise ValidationFailed.on("stage", f"unknown stage {wrong[0]!r}")
        query = query.where(table.c.stage.in_(list(stages)))
    for column, value in (
        ("advisor_id", advisor_id),
        ("lead_id", lead_id),
        ("customer_id", customer_id),
    ):
        if value is not None:
            query = query.where(table.c[column] == value)
    if after is not None:
        at, key = decode_cursor(after, _CURSOR_TAG, 2)
        try:
            at_value = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
            key_value = uuid.UUID(str(key))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        query = query.where(
            sa.or_(
                table.c.updated_at < at_value,
                sa.and_(table.c.updated_at == at_value, table.c.id < key_value),
            )
        )
    query = query.order_by(table.c.updated_at.desc(), table.c.id.desc()).limit(size + 1)
    rows = list((await session.execute(query)).scalars())
    items = rows[:size]
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR_TAG, isoformat(i.updated_at), str(i.id)) for i in items],
        has_next=len(rows) > size,
        has_previous=after is not None,
    )

"""CRM: one function per root field (issue 12). Reads check the permission, then call a
checked domain read; mutations run in one transaction through ``mutate`` and answer expected
refusals as typed errors (nothing written)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay
from strawberry.types import Info

from app.db import read_session
from app.ratelimit import LEAD_CAPTURES
from app.storage import load_or_create_secret
from domain.crm import access, advisors, leads, notes, opportunities, tasks, timeline
from domain.crm.errors import FormRefused
from domain.crm.forms import BadFormToken, FormTokens
from domain.crm.models import CrmLead, CrmOpportunity, CrmTask
from domain.crm.parties import Party, PartyKind
from domain.shared.errors import ValidationFailed
from domain.shared.money import Money as DomainMoney
from domain.shared.money import MoneyError
from domain.shared.time import utcnow
from resolvers.context import principal_of
from resolvers.errors import mutate
from resolvers.ids import decode_node_id, require_node_id
from resolvers.pagination import to_connection
from resolvers.ratelimit import throttle
from schema import crm as types
from schema import crm_inputs as inputs

T = TypeVar("T")

_tokens: dict[str, FormTokens] = {}


def form_tokens(info: Info) -> FormTokens:
    """The lead forms' signer: ``TRAMA_LEAD_FORM_SECRET`` or a key kept under var/keys."""
    settings = info.context.settings
    secret_setting = getattr(settings, "lead_form_secret", None)
    minimum = int(getattr(settings, "lead_form_min_seconds", 3))
    if secret_setting is not None:
        key = f"setting:{minimum}:{hash(secret_setting.get_secret_value())}"
        if key not in _tokens:
            _tokens[key] = FormTokens(secret_setting.get_secret_value().encode(), minimum)
        return _tokens[key]
    path = Path(settings.var_dir) / "keys" / "lead-forms.key"
    key = f"file:{minimum}:{path}"
    if key not in _tokens:
        _tokens[key] = FormTokens(load_or_create_secret(path), minimum)
    return _tokens[key]


def _id(value: object, type_name: str, field: str) -> uuid.UUID:
    return require_node_id(value, type_name, field)


def _maybe(value: object | None, type_name: str, field: str) -> uuid.UUID | None:
    return None if value is None else _id(value, type_name, field)


def _money(value: Any, field: str = "amount") -> DomainMoney | None:
    if value is None:
        return None
    try:
        return DomainMoney.parse(value.amount, value.currency)
    except MoneyError as exc:
        raise ValidationFailed.on(field, str(exc)) from None


def _simulation(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed.on("simulation", "give an object with 'inputs' and 'result'")
    return value


# --- public ----------------------------------------------------------------------------------
async def lead_form_token(info: Info, lender: str) -> inputs.LeadFormToken:
    await throttle(info, LEAD_CAPTURES, cost=1)
    async with read_session() as session:
        partner = await leads.lender_by_code(session, lender)
    signer = form_tokens(info)
    return inputs.LeadFormToken(token=signer.issue(partner.id), min_seconds=signer.min_seconds)


async def capture_lead(info: Info, input: inputs.CaptureLeadInput) -> inputs.CaptureLeadPayload:
    """Honeypot filled: the same answer as a success, nothing written (a script learns
    nothing to adapt to). A form sent too fast, or without a valid token: FORM_REFUSED."""
    await throttle(info, LEAD_CAPTURES, cost=1)
    receipt = inputs.CaptureLeadSuccess(
        receipt=inputs.LeadReceipt(received=True, received_at=utcnow())
    )
    if (input.website or "").strip():
        return receipt

    async def work(session: AsyncSession) -> inputs.CaptureLeadSuccess:
        partner = await leads.lender_by_code(session, input.lender)
        try:
            form_tokens(info).check(input.form_token, partner.id)
        except BadFormToken as exc:
            raise FormRefused.on("formToken", exc.reason) from None
        amount = input.amount
        data = leads.LeadInput(
            lender_id=partner.id,
            name=input.name,
            email=input.email,
            phone=input.phone,
            national_id_type=input.national_id_type,
            national_id=input.national_id,
            product=input.product.value,
            amount=None if amount is None else str(amount.amount),
            currency=None if amount is None else amount.currency,
            vehicle_description=input.vehicle_description,
            vehicle_id=_maybe(input.vehicle_id, "Vehicle", "vehicleId"),
            simulation=_simulation(input.simulation),
            consent=input.consent,
            consent_text_version=input.consent_text_version,
            utm_source=input.utm_source,
            utm_medium=input.utm_medium,
            utm_campaign=input.utm_campaign,
            referrer=input.referrer,
        )
        await leads.capture_lead(session, data=data)
        return receipt

    return await mutate(inputs.CaptureLeadPayload, work)


# --- reads -----------------------------------------------------------------------------------
async def leads_by_ids(info: Info, node_ids: list[str]) -> list[types.Lead | None]:
    principal = principal_of(info)
    keys = [decode_node_id(n, "Lead") for n in node_ids]
    out: list[types.Lead | None] = []
    async with read_session() as session:
        for key in keys:
            lead = await session.get(CrmLead, key) if key else None
            ok = lead is not None and access.may_read(principal, lead.partner_id)
            out.append(types.Lead.from_model(lead) if ok and lead else None)
    return out


async def opportunities_by_ids(info: Info, node_ids: list[str]) -> list[types.Opportunity | None]:
    principal = principal_of(info)
    keys = [decode_node_id(n, "Opportunity") for n in node_ids]
    out: list[types.Opportunity | None] = []
    async with read_session() as session:
        for key in keys:
            row = await session.get(CrmOpportunity, key) if key else None
            ok = row is not None and access.may_read(principal, row.partner_id)
            out.append(types.Opportunity.from_model(row) if ok and row else None)
    return out


async def tasks_by_ids(info: Info, node_ids: list[str]) -> list[types.CrmTask | None]:
    principal = principal_of(info)
    keys = [decode_node_id(n, "CrmTask") for n in node_ids]
    out: list[types.CrmTask | None] = []
    async with read_session() as session:
        for key in keys:
            row = await session.get(CrmTask, key) if key else None
            ok = row is not None and access.may_read(principal, row.partner_id)
            out.append(types.CrmTask.from_model(row) if ok and row else None)
    return out


async def lead(info: Info, id: strawberry.ID) -> types.Lead | None:
    access.ensure_can_read(principal_of(info))
    return (await leads_by_ids(info, [str(id)]))[0]


async def opportunity(info: Info, id: strawberry.ID) -> types.Opportunity | None:
    access.ensure_can_read(principal_of(info))
    return (await opportunities_by_ids(info, [str(id)]))[0]


async def crm_leads(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    status: list[types.LeadStatus] | None = None,
    advisor_id: strawberry.ID | None = None,
    utm_campaign: str | None = None,
) -> types.LeadConnection:
    principal = principal_of(info)
    async with read_session() as session:
        page = await leads.list_leads(
            session,
            principal=principal,
            first=first,
            after=after,
            statuses=[s.value for s in status] if status else None,
            advisor_id=uuid.UUID(str(advisor_id)) if advisor_id else None,
            utm_campaign=utm_campaign,
        )
    return to_connection(page, types.Lead.from_model)


async def crm_opportunities(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    stage: list[types.OpportunityStage] | None = None,
    advisor_id: strawberry.ID | None = None,
    lead_id: strawberry.ID | None = None,
    customer_id: strawberry.ID | None = None,
) -> types.OpportunityConnection:
    principal = principal_of(info)
    async with read_session() as session:
        page = await opportunities.list_opportunities(
            session,
            principal=principal,
            first=first,
            after=after,
            stages=[s.value for s in stage] if stage else None,
            advisor_id=uuid.UUID(str(advisor_id)) if advisor_id else None,
            lead_id=_maybe(lead_id, "Lead", "leadId"),
            customer_id=_maybe(customer_id, "Customer", "customerId"),
        )
    return to_connection(page, types.Opportunity.from_model)


async def my_tasks(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    status: list[types.CrmTaskStatus] | None = None,
) -> types.CrmTaskConnection:
    principal = principal_of(info)
    async with read_session() as session:
        page = await tasks.my_tasks(
            session,
            principal=principal,
            statuses=[s.value for s in status] if status else None,
            first=first,
            after=after,
        )
    return to_connection(page, types.CrmTask.from_model)


async def crm_advisors(info: Info, lender_id: strawberry.ID | None = None) -> list[types.Advisor]:
    principal = principal_of(info)
    async with read_session() as session:
        rows = await advisors.list_advisors(
            session, principal=principal, partner_id=_maybe(lender_id, "Partner", "lenderId")
        )
    return [types.Advisor.from_model(a) for a in rows]


async def timeline_of(
    info: Info,
    kind: str,
    key: uuid.UUID,
    first: int | None,
    after: str | None,
    kinds: list[Any] | None,
) -> types.TimelineConnection:
    principal = principal_of(info)
    subject = Party(PartyKind(kind), key)
    async with read_session() as session:
        page = await timeline.read_timeline(
            session,
            principal=principal,
            subject=subject,
            first=first,
            after=after,
            kinds=[k.value for k in kinds] if kinds is not None else None,
        )
    edges = [
        types.TimelineEdge(cursor=c, node=types.timeline_entry(i))
        for i, c in zip(page.items, page.cursors, strict=True)
    ]
    return types.TimelineConnection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
    )


async def my_timeline(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    kinds: list[types.TimelineKind] | None = None,
) -> types.TimelineConnection:
    """A customer's own timeline: the part shown to customers."""
    principal = principal_of(info)
    if principal.customer_id is None:
        from domain.shared.errors import Forbidden

        raise Forbidden("myTimeline is a customer's own: use Customer.timeline")
    return await timeline_of(info, "CUSTOMER", principal.customer_id, first, after, kinds)


# --- mutations -------------------------------------------------------------------------------
async def _run(payload: Any, work: Callable[[AsyncSession], Awaitable[T]]) -> T | Any:
    return await mutate(payload, work)


async def add_advisor(info: Info, input: inputs.AddAdvisorInput) -> inputs.AdvisorPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> inputs.AdvisorSuccess:
        advisor = await advisors.add_advisor(
            session,
            principal=principal,
            partner_id=_id(input.lender_id, "Partner", "lenderId"),
            subject=input.subject,
            name=input.name,
            email=input.email,
            supervisor_id=uuid.UUID(str(input.supervisor_id)) if input.supervisor_id else None,
            on_shift=input.on_shift,
        )
        return inputs.AdvisorSuccess(advisor=types.Advisor.from_model(advisor))

    return await _run(inputs.AdvisorPayload, work)


def _advisor_id(value: object, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed.on(field, "is not an advisor id") from None


async def update_advisor(info: Info, input: inputs.UpdateAdvisorInput) -> inputs.AdvisorPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> inputs.AdvisorSuccess:
        advisor = await advisors.update_advisor(
            session,
            principal=principal,
            advisor_id=_advisor_id(input.advisor_id, "advisorId"),
            on_shift=input.on_shift,
            active=input.active,
            supervisor_id=_advisor_id(input.supervisor_id, "supervisorId")
            if input.supervisor_id
            else None,
        )
        return inputs.AdvisorSuccess(advisor=types.Advisor.from_model(advisor))

    return await _run(inputs.AdvisorPayload, work)


async def update_crm_settings(
    info: Info, input: inputs.UpdateCrmSettingsInput
) -> inputs.CrmSettingsPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> inputs.CrmSettingsSuccess:
        s = await advisors.update_settings(
            session,
            principal=principal,
            partner_id=_id(input.lender_id, "Partner", "lenderId"),
            assignment_strategy=input.assignment_strategy.value
            if input.assignment_strategy
            else None,
            first_contact_hours=input.first_contact_hours,
            reminder_minutes=input.reminder_minutes,
        )
        return inputs.CrmSettingsSuccess(
            settings=types.CrmSettings(
                assignment_strategy=types.AssignmentStrategy(s.assignment_strategy),
                first_contact_hours=s.first_contact_hours,
                reminder_minutes=s.reminder_minutes,
                version=s.version,
            )
        )

    return await _run(inputs.CrmSettingsPayload, work)


async def reassign_lead(info: Info, input: inputs.ReassignLeadInput) -> inputs.LeadPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> inputs.LeadSuccess:
        row = await leads.reassign_lead(
            session,
            principal=principal,
            lead_id=_id(input.lead_id, "Lead", "leadId"),
            advisor_id=_advisor_id(input.advisor_id, "advisorId") if input.advisor_id else None,
        )
        return inputs.LeadSuccess(lead=types.Lead.from_model(row))

    return await _run(inputs.LeadPayload, work)


async def convert_lead(info: Info, input: inputs.ConvertLeadInput) -> inputs.ConvertLeadPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> tuple[CrmLead, uuid.UUID]:
        lead_id = _id(input.lead_id, "Lead", "leadId")
        customer = await leads.convert_lead(
            session,
            principal=principal,
            lead_id=lead_id,
            national_id_type=input.national_id_type,
            national_id=input.national_id,
            given_names=input.given_names,
            family_names=input.family_names,
        )
        row = await session.get(CrmLead, lead_id)
        assert row is not None
        return row, customer.id

    result = await _run(inputs.ConvertLeadPayload, work)
    if not isinstance(result, tuple):
        return result
    row, customer_id = result
    from schema.customers import Customer

    customer = await Customer.load(info, customer_id)
    assert customer is not None
    return inputs.ConvertLeadSuccess(lead=types.Lead.from_model(row), customer=customer)


async def create_opportunity(
    info: Info, input: inputs.CreateOpportunityInput
) -> inputs.OpportunityPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> inputs.OpportunitySuccess:
        row = await opportunities.open_opportunity(
            session,
            principal=principal,
            partner_id=_id(input.lender_id, "Partner", "lenderId"),
            product=input.product.value,
            lead_id=_maybe(input.lead_id, "Lead", "leadId"),
            customer_id=_maybe(input.customer_id, "Customer", "customerId"),
            amount=_money(input.amount),
            vehicle_description=input.vehicle_description,
            vehicle_id=_maybe(input.vehicle_id, "Vehicle", "vehicleId"),
            advisor_id=_advisor_id(input.advisor_id, "advisorId") if input.advisor_id else None,
            expected_close_date=input.expected_close_date,
        )
        return inputs.OpportunitySuccess(opportunity=types.Opportunity.from_model(row))

    return await _run(inputs.OpportunityPayload, work)


async def move_opportunity(
    info: Info, input: inputs.MoveOpportunityInput
) -> inputs.OpportunityPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> inputs.OpportunitySuccess:
        row = await opportunities.move_stage(
            session,
            principal=principal,
            opportunity_id=_id(input.opportunity_id, "Opportunity", "opportunityId"),
            to_stage=input.stage,
            lost_reason=input.lost_reason,
            version=input.version,
        )
        return inputs.OpportunitySuccess(opportunity=types.Opportunity.from_model(row))

    return await _run(inputs.OpportunityPayload, work)


async def create_crm_task(info: Info, input: inputs.CreateCrmTaskInput) -> inputs.CrmTaskPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> inputs.CrmTaskSuccess:
        row = await tasks.create_task(
            session,
            principal=principal,
            partner_id=_id(input.lender_id, "Partner", "lenderId"),
            title=input.title,
            note=input.note,
            due_at=input.due_at,
            kind=input.kind.value,
            assignee_id=_advisor_id(input.assignee_id, "assigneeId") if input.assignee_id else None,
            lead_id=_maybe(input.lead_id, "Lead", "leadId"),
            customer_id=_maybe(input.customer_id, "Customer", "customerId"),
            opportunity_id=_maybe(input.opportunity_id, "Opportunity", "opportunityId"),
            case_id=_maybe(input.case_id, "Case", "caseId"),
            credit_id=_maybe(input.credit_id, "Credit", "creditId"),
            application_id=_maybe(input.application_id, "CreditApplication", "applicationId"),
        )
        return inputs.CrmTaskSuccess(task=types.CrmTask.from_model(row))

    return await _run(inputs.CrmTaskPayload, work)


async def complete_crm_task(
    info: Info, input: inputs.CompleteCrmTaskInput
) -> inputs.CrmTaskPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> inputs.CrmTaskSuccess:
        row = await tasks.complete_task(
            session,
            principal=principal,
            task_id=_id(input.task_id, "CrmTask", "taskId"),
            cancel=input.cancel,
            version=input.version,
        )
        return inputs.CrmTaskSuccess(task=types.CrmTask.from_model(row))

    return await _run(inputs.CrmTaskPayload, work)


async def reassign_crm_task(
    info: Info, input: inputs.ReassignCrmTaskInput
) -> inputs.CrmTaskPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> inputs.CrmTaskSuccess:
        row = await tasks.reassign_task(
            session,
            principal=principal,
            task_id=_id(input.task_id, "CrmTask", "taskId"),
            assignee_id=_advisor_id(input.assignee_id, "assigneeId"),
        )
        return inputs.CrmTaskSuccess(task=types.CrmTask.from_model(row))

    return await _run(inputs.CrmTaskPayload, work)


async def add_crm_note(info: Info, input: inputs.AddCrmNoteInput) -> inputs.CrmNotePayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> inputs.CrmNoteSuccess:
        item = await notes.add_note(
            session,
            principal=principal,
            text=input.text,
            lead_id=_maybe(input.lead_id, "Lead", "leadId"),
            customer_id=_maybe(input.customer_id, "Customer", "customerId"),
            visible_to_customer=input.visible_to_customer,
        )
        return inputs.CrmNoteSuccess(item=types.timeline_entry(item))

    return await _run(inputs.CrmNotePayload, work)

from __future__ import annotations

import strawberry

from resolvers import crm as r
from schema.crm import (
    Advisor,
    CrmTaskConnection,
    Lead,
    LeadConnection,
    Opportunity,
    OpportunityConnection,
    TimelineConnection,
)
from schema.crm_inputs import (
    AdvisorPayload,
    CaptureLeadPayload,
    ConvertLeadPayload,
    CrmNotePayload,
    CrmSettingsPayload,
    CrmTaskPayload,
    LeadFormToken,
    LeadPayload,
    OpportunityPayload,
)

_PUBLIC = " Needs no login; rate-limited per client address."

#: Root fields an anonymous caller may select (the landing page's form).
PUBLIC_CRM_FIELDS = frozenset({"leadFormToken", "captureLead"})


@strawberry.type
class CrmQuery:
    lead_form_token: LeadFormToken = strawberry.field(
        resolver=r.lead_form_token,
        description="A token for a lender's lead form: ask it when the form is shown, send it "
        "back with captureLead." + _PUBLIC,
    )
    lead: Lead | None = strawberry.field(
        resolver=r.lead, description="A lead by id (its lender's staff); null otherwise."
    )
    crm_leads: LeadConnection = strawberry.field(
        resolver=r.crm_leads, description="Your lender's leads, newest first (`crm:read`)."
    )
    opportunity: Opportunity | None = strawberry.field(
        resolver=r.opportunity, description="An opportunity by id (its lender's staff)."
    )
    crm_opportunities: OpportunityConnection = strawberry.field(
        resolver=r.crm_opportunities,
        description="Your lender's opportunities, most recently changed first.",
    )
    my_tasks: CrmTaskConnection = strawberry.field(
        resolver=r.my_tasks, description="Your tasks as an advisor, soonest due first."
    )
    my_timeline: TimelineConnection = strawberry.field(
        resolver=r.my_timeline,
        description="Your own timeline as a customer (customer tokens): what is shown to you.",
    )
    crm_advisors: list[Advisor] = strawberry.field(
        resolver=r.crm_advisors, description="Your lender's advisors."
    )


@strawberry.type
class CrmMutation:
    capture_lead: CaptureLeadPayload = strawberry.mutation(
        resolver=r.capture_lead,
        description="The landing page's or the calculator's form. The answer is the same for a "
        "new person and a known one. A form sent sooner than the token allows, or without a "
        "valid token: FORM_REFUSED." + _PUBLIC,
    )
    add_crm_advisor: AdvisorPayload = strawberry.mutation(
        resolver=r.add_advisor, description="Add an advisor to the roster (supervisors)."
    )
    update_crm_advisor: AdvisorPayload = strawberry.mutation(
        resolver=r.update_advisor,
        description="On shift / away (the advisor themselves or a supervisor), active, "
        "supervisor (supervisors).",
    )
    update_crm_settings: CrmSettingsPayload = strawberry.mutation(
        resolver=r.update_crm_settings,
        description="Assignment strategy, first-contact hours, reminders (supervisors).",
    )
    reassign_lead: LeadPayload = strawberry.mutation(
        resolver=r.reassign_lead,
        description="Give a lead (its open tasks and opportunities) to another advisor.",
    )
    convert_lead: ConvertLeadPayload = strawberry.mutation(
        resolver=r.convert_lead,
        description="Make a lead a customer (national ID validated); its history follows.",
    )
    create_opportunity: OpportunityPayload = strawberry.mutation(resolver=r.create_opportunity)
    move_opportunity: OpportunityPayload = strawberry.mutation(
        resolver=r.move_opportunity,
        description="Move an opportunity one stage; LOST needs a reason.",
    )
    create_crm_task: CrmTaskPayload = strawberry.mutation(
        resolver=r.create_crm_task, description="A task due in the future, linked to records."
    )
    complete_crm_task: CrmTaskPayload = strawberry.mutation(
        resolver=r.complete_crm_task, description="Mark a task done (or cancelled)."
    )
    reassign_crm_task: CrmTaskPayload = strawberry.mutation(resolver=r.reassign_crm_task)
    add_crm_note: CrmNotePayload = strawberry.mutation(
        resolver=r.add_crm_note, description="A note on a lead's or a customer's timeline."
    )

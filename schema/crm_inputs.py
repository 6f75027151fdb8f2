"""Inputs and payloads of the CRM mutations.

Expected refusals are payload errors with their ``code``: ``VALIDATION`` (the field is
named: an invalid phone, an unknown stage, a task due in the past …), ``NOT_FOUND``,
``FORBIDDEN``, ``INVALID_TRANSITION``, and as ``ConflictError``: ``CONFLICT`` (a stale
version), ``NO_ADVISOR_AVAILABLE``, ``ALREADY_CONVERTED``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from schema.crm import (
    Advisor,
    AssignmentStrategy,
    CrmProduct,
    CrmSettings,
    CrmTask,
    CrmTaskKind,
    Lead,
    Opportunity,
    TimelineEntry,
)
from schema.customers import Customer
from schema.errors import (
    ConflictError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from schema.money import MoneyInput


@strawberry.input(description="What a person sent through the landing page or the calculator.")
class CaptureLeadInput:
    lender: str = strawberry.field(description="The lender's partner code, e.g. AUTOCREDITO.")
    form_token: str = strawberry.field(description="From `leadFormToken`, when the form was shown.")
    name: str
    email: str | None = None
    phone: str | None = strawberry.field(
        default=None, description="Any usual way of writing it; the lender's country by default."
    )
    national_id_type: str | None = None
    national_id: str | None = None
    product: CrmProduct = CrmProduct.VEHICLE_CREDIT
    amount: MoneyInput | None = None
    vehicle_description: str | None = None
    vehicle_id: strawberry.ID | None = None
    simulation: JSON | None = strawberry.field(
        default=None, description='The calculator\'s run: {"inputs": {…}, "result": {…}}.'
    )
    consent: bool = False
    consent_text_version: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    referrer: str | None = None
    website: str | None = strawberry.field(
        default=None, description="Leave empty (a field people do not see)."
    )


@strawberry.type(description="The form was received. The answer is the same for everyone.")
class LeadReceipt:
    received: bool
    received_at: datetime


@strawberry.type(description="A form token: show the form, send it back with captureLead.")
class LeadFormToken:
    token: str
    min_seconds: int = strawberry.field(description="The form is refused sooner than this.")


@strawberry.input
class AddAdvisorInput:
    lender_id: strawberry.ID
    subject: str
    name: str
    email: str | None = None
    supervisor_id: strawberry.ID | None = None
    on_shift: bool = True


@strawberry.input(description="Fields left out stay as they are.")
class UpdateAdvisorInput:
    advisor_id: strawberry.ID
    on_shift: bool | None = None
    active: bool | None = None
    supervisor_id: strawberry.ID | None = None


@strawberry.input
class UpdateCrmSettingsInput:
    lender_id: strawberry.ID
    assignment_strategy: AssignmentStrategy | None = None
    first_contact_hours: int | None = None
    reminder_minutes: int | None = None


@strawberry.input
class ReassignLeadInput:
    lead_id: strawberry.ID
    advisor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Null: the next advisor on shift other than the current one."
    )


@strawberry.input
class ConvertLeadInput:
    lead_id: strawberry.ID
    national_id_type: str | None = strawberry.field(
        default=None, description="Null: the one the lead gave."
    )
    national_id: str | None = None
    given_names: str
    family_names: str


@strawberry.input
class CreateOpportunityInput:
    lender_id: strawberry.ID
    lead_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None
    product: CrmProduct
    amount: MoneyInput | None = None
    vehicle_description: str | None = None
    vehicle_id: strawberry.ID | None = None
    advisor_id: strawberry.ID | None = None
    expected_close_date: date | None = None


@strawberry.input
class MoveOpportunityInput:
    opportunity_id: strawberry.ID
    stage: str = strawberry.field(description="An OpportunityStage name.")
    lost_reason: str | None = strawberry.field(default=None, description="Required for LOST.")
    version: int | None = None


@strawberry.input
class CreateCrmTaskInput:
    lender_id: strawberry.ID
    title: str
    note: str | None = None
    due_at: datetime
    kind: CrmTaskKind = CrmTaskKind.OTHER
    assignee_id: strawberry.ID | None = None
    lead_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None
    opportunity_id: strawberry.ID | None = None
    case_id: strawberry.ID | None = None
    credit_id: strawberry.ID | None = None
    application_id: strawberry.ID | None = None


@strawberry.input
class CompleteCrmTaskInput:
    task_id: strawberry.ID
    cancel: bool = False
    version: int | None = None


@strawberry.input
class ReassignCrmTaskInput:
    task_id: strawberry.ID
    assignee_id: strawberry.ID


@strawberry.input
class AddCrmNoteInput:
    lead_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None
    text: str
    visible_to_customer: bool = False


@strawberry.type
class CaptureLeadSuccess:
    receipt: LeadReceipt


@strawberry.type
class AdvisorSuccess:
    advisor: Advisor


@strawberry.type
class CrmSettingsSuccess:
    settings: CrmSettings


@strawberry.type
class LeadSuccess:
    lead: Lead


@strawberry.type
class ConvertLeadSuccess:
    lead: Lead
    customer: Customer


@strawberry.type
class OpportunitySuccess:
    opportunity: Opportunity


@strawberry.type
class CrmTaskSuccess:
    task: CrmTask


@strawberry.type
class CrmNoteSuccess:
    item: TimelineEntry


_ERRORS = ValidationError | ForbiddenError | NotFoundError | ConflictError | InvalidTransitionError

CaptureLeadPayload = Annotated[
    CaptureLeadSuccess | ValidationError, strawberry.union("CaptureLeadPayload")
]
AdvisorPayload = Annotated[AdvisorSuccess | _ERRORS, strawberry.union("AdvisorPayload")]
CrmSettingsPayload = Annotated[CrmSettingsSuccess | _ERRORS, strawberry.union("CrmSettingsPayload")]
LeadPayload = Annotated[LeadSuccess | _ERRORS, strawberry.union("LeadPayload")]
ConvertLeadPayload = Annotated[ConvertLeadSuccess | _ERRORS, strawberry.union("ConvertLeadPayload")]
OpportunityPayload = Annotated[OpportunitySuccess | _ERRORS, strawberry.union("OpportunityPayload")]
CrmTaskPayload = Annotated[CrmTaskSuccess | _ERRORS, strawberry.union("CrmTaskPayload")]
CrmNotePayload = Annotated[CrmNoteSuccess | _ERRORS, strawberry.union("CrmNotePayload")]

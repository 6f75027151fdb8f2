"""CRM's GraphQL types (issue 12): leads, advisors, opportunities, tasks and the timeline.

Leads, opportunities and tasks are their lender's: its staff (``crm:read``) see them, other
partners never (a lookup by id answers null). Timeline items are a union of typed items that
share the :class:`TimelineItem` interface; each is shown only to whom may see it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.crm import models as m
from domain.crm.models import AssignmentStrategy, LeadStatus, TimelineKind
from domain.crm.models import Product as CrmProduct
from domain.crm.models import Stage as OpportunityStage
from domain.crm.models import TaskKind as CrmTaskKind
from domain.crm.models import TaskStatus as CrmTaskStatus
from domain.shared.money import Money as DomainMoney
from domain.shared.money import MoneyError
from schema.common import Connection
from schema.money import Money

if TYPE_CHECKING:
    from schema.customers import Customer

strawberry.enum(
    LeadStatus,
    name="LeadStatus",
    description="NEW, CONTACTED, QUALIFIED, CONVERTED (a customer now), DISQUALIFIED.",
)
strawberry.enum(
    CrmProduct,
    name="CrmProduct",
    description="What the person wants: a vehicle credit or to invest.",
)
strawberry.enum(
    OpportunityStage,
    name="OpportunityStage",
    description="NEW → CONTACTED → QUALIFIED → APPLICATION → OFFER → WON, or LOST (with a reason).",
)
strawberry.enum(CrmTaskStatus, name="CrmTaskStatus")
strawberry.enum(CrmTaskKind, name="CrmTaskKind")
strawberry.enum(TimelineKind, name="TimelineKind", description="What a timeline item is about.")
strawberry.enum(AssignmentStrategy, name="AssignmentStrategy")


def _money(amount: int | None, currency: str | None) -> Money | None:
    if amount is None or currency is None:
        return None
    try:
        return Money.from_domain(DomainMoney(amount, currency))
    except MoneyError:
        return None


def _customer_type() -> Any:
    from schema.customers import Customer

    return Customer


@strawberry.type(description="A lender's sales advisor.")
class Advisor:
    id: strawberry.ID
    subject: str = strawberry.field(description="The subject of the advisor's token.")
    name: str
    email: str | None
    supervisor_id: strawberry.ID | None
    on_shift: bool = strawberry.field(description="False while away: no new leads.")
    active: bool
    assigned_count: int
    version: int

    @classmethod
    def from_model(cls, a: m.CrmAdvisor) -> Advisor:
        return cls(
            id=strawberry.ID(str(a.id)),
            subject=a.subject,
            name=a.name,
            email=a.email,
            supervisor_id=strawberry.ID(str(a.supervisor_id)) if a.supervisor_id else None,
            on_shift=a.on_shift,
            active=a.active,
            assigned_count=a.assigned_count,
            version=a.version,
        )


@strawberry.type(description="A lender's CRM settings.")
class CrmSettings:
    assignment_strategy: AssignmentStrategy
    first_contact_hours: int = strawberry.field(
        description="Business hours an advisor has for a new lead's first contact."
    )
    reminder_minutes: int
    version: int


# --- timeline ------------------------------------------------------------------------------
@strawberry.interface(description="One thing that happened to a lead or a customer.")
class TimelineItem:
    id: strawberry.ID
    kind: TimelineKind
    occurred_at: datetime
    visible_to_customer: bool = strawberry.field(
        description="Shown to the customer themselves too."
    )
    data: JSON = strawberry.field(
        description="The item's details as recorded (ids and figures; a note's text)."
    )


def _get(data: dict[str, Any], key: str) -> Any:
    value = data.get(key)
    return value if isinstance(value, str | int | bool) or value is None else None


@strawberry.type(description="The person filled the landing page's or the calculator's form.")
class LeadCapturedItem(TimelineItem):
    product: str | None
    amount: Money | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    duplicate: bool = strawberry.field(description="They were already known.")


@strawberry.type(description="A note an advisor wrote.")
class NoteItem(TimelineItem):
    text: str | None
    author: str | None


@strawberry.type(description="A task was created.")
class TaskItem(TimelineItem):
    task_id: strawberry.ID | None
    title: str | None
    due_at: datetime | None


@strawberry.type(description="An opportunity was opened or changed stage.")
class OpportunityItem(TimelineItem):
    opportunity_id: strawberry.ID | None
    from_stage: str | None
    to_stage: str | None
    lost_reason: str | None


@strawberry.type(description="An appointment (Cal.com) was booked, moved, cancelled, held.")
class AppointmentItem(TimelineItem):
    status: str | None
    starts_at: str | None


@strawberry.type(description="A conversation with the assistant or a person.")
class ConversationItem(TimelineItem):
    channel: str | None
    intent: str | None
    outcome: str | None


@strawberry.type(description="Another domain's event: a case, an application, a credit.")
class RecordEventItem(TimelineItem):
    topic: str | None
    record_id: strawberry.ID | None = strawberry.field(
        description="The global id of the case, application or credit."
    )
    state: str | None


@strawberry.type(description="A payment booked on one of the customer's credits.")
class PaymentItem(TimelineItem):
    topic: str | None
    credit_id: strawberry.ID | None
    payment_id: strawberry.ID | None
    amount: Money | None


TimelineEntry = Annotated[
    LeadCapturedItem
    | NoteItem
    | TaskItem
    | OpportunityItem
    | AppointmentItem
    | ConversationItem
    | RecordEventItem
    | PaymentItem,
    strawberry.union("TimelineEntry", description="A timeline item, typed by its kind."),
]


def _wire_money(value: Any) -> Money | None:
    if not isinstance(value, dict):
        return None
    try:
        return Money.from_domain(DomainMoney.parse(str(value["amount"]), str(value["currency"])))
    except (KeyError, MoneyError):
        return None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def timeline_entry(item: m.CrmTimelineItem) -> Any:
    d = item.payload or {}
    base: dict[str, Any] = {
        "id": strawberry.ID(str(item.id)),
        "kind": m.TimelineKind(item.kind),
        "occurred_at": item.occurred_at,
        "visible_to_customer": item.visible_to_customer,
        "data": cast(JSON, d),
    }
    kind = m.TimelineKind(item.kind)
    if kind is m.TimelineKind.LEAD_CAPTURED:
        return LeadCapturedItem(
            **base,
            product=_get(d, "product"),
            amount=_wire_money(d.get("amount")),
            utm_source=_get(d, "utmSource"),
            utm_medium=_get(d, "utmMedium"),
            utm_campaign=_get(d, "utmCampaign"),
            duplicate=bool(d.get("duplicate")),
        )
    if kind is m.TimelineKind.NOTE:
        return NoteItem(**base, text=_get(d, "text"), author=_get(d, "author"))
    if kind is m.TimelineKind.TASK:
        task = _get(d, "taskId")
        return TaskItem(
            **base,
            task_id=strawberry.ID(str(task)) if task else None,
            title=_get(d, "title"),
            due_at=_instant(d.get("dueAt")),
        )
    if kind is m.TimelineKind.OPPORTUNITY:
        opp = _get(d, "opportunityId")
        return OpportunityItem(
            **base,
            opportunity_id=strawberry.ID(str(opp)) if opp else None,
            from_stage=_get(d, "fromStage"),
            to_stage=_get(d, "toStage"),
            lost_reason=_get(d, "lostReason"),
        )
    if kind is m.TimelineKind.APPOINTMENT:
        return AppointmentItem(
            **base, status=_get(d, "status"), starts_at=_get(d, "startsAt") or _get(d, "startTime")
        )
    if kind is m.TimelineKind.CONVERSATION:
        return ConversationItem(
            **base, channel=_get(d, "channel"), intent=_get(d, "intent"), outcome=_get(d, "outcome")
        )
    if kind is m.TimelineKind.PAYMENT:
        credit, payment = _get(d, "creditId"), _get(d, "paymentId")
        return PaymentItem(
            **base,
            topic=_get(d, "topic"),
            credit_id=strawberry.ID(str(credit)) if credit else None,
            payment_id=strawberry.ID(str(payment)) if payment else None,
            amount=_wire_money(d.get("amount")),
        )
    record = _get(d, "caseId") or _get(d, "applicationId") or _get(d, "creditId")
    return RecordEventItem(
        **base,
        topic=_get(d, "topic"),
        record_id=strawberry.ID(str(record)) if record else None,
        state=_get(d, "state") or _get(d, "status") or _get(d, "toStatus"),
    )


@strawberry.type
class TimelineEdge:
    cursor: str
    node: TimelineEntry


@strawberry.type(description="A page of a timeline, newest first.")
class TimelineConnection:
    edges: list[TimelineEdge]
    page_info: relay.PageInfo


# --- records -------------------------------------------------------------------------------
@strawberry.type(description="A person who asked a lender about a product (not yet a customer).")
class Lead(relay.Node):
    id: relay.NodeID[str]
    raw_id: strawberry.ID = strawberry.field(description="The plain id events carry.")
    name: str
    email: str | None
    phone: str | None = strawberry.field(description="E.164.")
    national_id_type: str | None
    national_id: str | None = strawberry.field(description="Compact, validated.")
    status: LeadStatus
    product: CrmProduct
    amount: Money | None
    vehicle_description: str | None
    vehicle_id: strawberry.ID | None = strawberry.field(description="The marketplace vehicle.")
    simulation: JSON | None = strawberry.field(description="The calculator's inputs and result.")
    consent: bool
    consent_text_version: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    referrer: str | None
    captures: int = strawberry.field(description="Forms sent (duplicates merged in).")
    advisor_id: strawberry.ID | None
    assigned_at: datetime | None
    converted_at: datetime | None
    last_captured_at: datetime
    created_at: datetime
    version: int
    key: strawberry.Private[uuid.UUID]
    partner_key: strawberry.Private[uuid.UUID]
    customer_key: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, lead: m.CrmLead) -> Lead:
        return cls(
            id=str(lead.id),
            raw_id=strawberry.ID(str(lead.id)),
            name=lead.name,
            email=lead.email,
            phone=lead.phone,
            national_id_type=lead.national_id_type,
            national_id=lead.national_id,
            status=m.LeadStatus(lead.status),
            product=m.Product(lead.product),
            amount=_money(lead.amount, lead.currency),
            vehicle_description=lead.vehicle_description,
            vehicle_id=strawberry.ID(str(lead.vehicle_id)) if lead.vehicle_id else None,
            simulation=cast(JSON, lead.simulation),
            consent=lead.consent,
            consent_text_version=lead.consent_text_version,
            utm_source=lead.utm_source,
            utm_medium=lead.utm_medium,
            utm_campaign=lead.utm_campaign,
            referrer=lead.referrer,
            captures=lead.captures,
            advisor_id=strawberry.ID(str(lead.advisor_id)) if lead.advisor_id else None,
            assigned_at=lead.assigned_at,
            converted_at=lead.converted_at,
            last_captured_at=lead.last_captured_at,
            created_at=lead.created_at,
            version=lead.version,
            key=lead.id,
            partner_key=lead.partner_id,
            customer_key=lead.customer_id,
        )

    @strawberry.field(description="The customer the lead became.")
    async def customer(
        self, info: Info
    ) -> Annotated[Customer, strawberry.lazy("schema.customers")] | None:
        if self.customer_key is None:
            return None
        return cast("Customer | None", await _customer_type().load(info, self.customer_key))

    @strawberry.field(description="Its timeline, newest first.")
    async def timeline(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        kinds: list[TimelineKind] | None = None,
    ) -> TimelineConnection:
        from resolvers import crm as r

        return await r.timeline_of(info, "LEAD", self.key, first, after, kinds)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Lead | None]:
        from resolvers import crm as r

        return await r.leads_by_ids(info, list(node_ids))


@strawberry.type(description="A possible sale to a lead or a customer.")
class Opportunity(relay.Node):
    id: relay.NodeID[str]
    raw_id: strawberry.ID
    product: CrmProduct
    stage: OpportunityStage
    lost_reason: str | None
    amount: Money | None
    vehicle_description: str | None
    vehicle_id: strawberry.ID | None
    advisor_id: strawberry.ID | None
    expected_close_date: date | None
    application_id: strawberry.ID | None = strawberry.field(
        description="The credit application that moved it (plain id)."
    )
    credit_id: strawberry.ID | None
    lead_id: strawberry.ID | None = strawberry.field(description="The lead's global id.")
    stage_changed_at: datetime
    created_at: datetime
    updated_at: datetime
    version: int
    customer_key: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, o: m.CrmOpportunity) -> Opportunity:
        return cls(
            id=str(o.id),
            raw_id=strawberry.ID(str(o.id)),
            product=m.Product(o.product),
            stage=m.Stage(o.stage),
            lost_reason=o.lost_reason,
            amount=_money(o.amount, o.currency),
            vehicle_description=o.vehicle_description,
            vehicle_id=strawberry.ID(str(o.vehicle_id)) if o.vehicle_id else None,
            advisor_id=strawberry.ID(str(o.advisor_id)) if o.advisor_id else None,
            expected_close_date=o.expected_close_date,
            application_id=strawberry.ID(str(o.application_id)) if o.application_id else None,
            credit_id=strawberry.ID(str(o.credit_id)) if o.credit_id else None,
            lead_id=strawberry.ID(relay.to_base64("Lead", str(o.lead_id))) if o.lead_id else None,
            stage_changed_at=o.stage_changed_at,
            created_at=o.created_at,
            updated_at=o.updated_at,
            version=o.version,
            customer_key=o.customer_id,
        )

    @strawberry.field
    async def customer(
        self, info: Info
    ) -> Annotated[Customer, strawberry.lazy("schema.customers")] | None:
        if self.customer_key is None:
            return None
        return cast("Customer | None", await _customer_type().load(info, self.customer_key))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Opportunity | None]:
        from resolvers import crm as r

        return await r.opportunities_by_ids(info, list(node_ids))


@strawberry.type(description="Something an advisor must do by a due time.")
class CrmTask(relay.Node):
    id: relay.NodeID[str]
    raw_id: strawberry.ID
    kind: CrmTaskKind
    title: str
    note: str | None
    due_at: datetime
    status: CrmTaskStatus
    assignee_id: strawberry.ID | None
    lead_id: strawberry.ID | None
    customer_id: strawberry.ID | None
    opportunity_id: strawberry.ID | None
    case_id: strawberry.ID | None
    credit_id: strawberry.ID | None
    application_id: strawberry.ID | None
    reminded_at: datetime | None
    escalated_at: datetime | None
    escalated_to: strawberry.ID | None = strawberry.field(
        description="The supervisor (advisor id)."
    )
    completed_at: datetime | None
    created_at: datetime
    version: int

    @classmethod
    def from_model(cls, t: m.CrmTask) -> CrmTask:
        def gid(type_name: str, value: uuid.UUID | None) -> strawberry.ID | None:
            return strawberry.ID(relay.to_base64(type_name, str(value))) if value else None

        return cls(
            id=str(t.id),
            raw_id=strawberry.ID(str(t.id)),
            kind=m.TaskKind(t.kind),
            title=t.title,
            note=t.note,
            due_at=t.due_at,
            status=m.TaskStatus(t.status),
            assignee_id=strawberry.ID(str(t.assignee_id)) if t.assignee_id else None,
            lead_id=gid("Lead", t.lead_id),
            customer_id=gid("Customer", t.customer_id),
            opportunity_id=gid("Opportunity", t.opportunity_id),
            case_id=gid("Case", t.case_id),
            credit_id=gid("Credit", t.credit_id),
            application_id=strawberry.ID(str(t.application_id)) if t.application_id else None,
            reminded_at=t.reminded_at,
            escalated_at=t.escalated_at,
            escalated_to=strawberry.ID(str(t.escalated_to)) if t.escalated_to else None,
            completed_at=t.completed_at,
            created_at=t.created_at,
            version=t.version,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[CrmTask | None]:
        from resolvers import crm as r

        return await r.tasks_by_ids(info, list(node_ids))


LeadConnection = Connection[Lead]
OpportunityConnection = Connection[Opportunity]
CrmTaskConnection = Connection[CrmTask]

"""Origination in the API: credit applications (a federation entity), their timeline,
documents, inspections and offers; pre-qualification estimates.

Masking is applied where an application becomes a GraphQL object (:meth:`CreditApplication.
from_model`, the only constructor, used by every path: lists, ``node``, ``_entities``,
payloads): a dealer sees the deal (vehicle, amounts asked, term, state, clock) but never the
applicant's financial data (income, employment, obligations, consents, grade, decision);
scoring details (the decision id) are for the lender's staff with ``scoring:read``; the
reason codes also for the applicant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from domain.origination import access
from domain.origination import service as origination
from domain.origination.models import ApplicationEvent as EventModel
from domain.origination.models import ApplicationState as StateEnum
from domain.origination.models import CreditApplication as ApplicationModel
from domain.origination.models import CreditOffer as OfferModel
from domain.origination.models import EmploymentType as EmploymentEnum
from domain.origination.models import Inspection as InspectionModel
from domain.origination.prequalification import Estimate
from domain.shared.money import Money as DomainMoney
from domain.shared.principal import Principal
from domain.shared.time import utcnow
from resolvers.context import principal_of
from resolvers.ids import decode_node_id, encode_node_id
from schema.common import Connection
from schema.customers import Customer
from schema.errors import (
    ConflictError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from schema.money import Money, MoneyInput
from schema.scalars import Long

strawberry.enum(
    StateEnum,
    name="CreditApplicationState",
    description="DRAFT → SUBMITTED → SCORED → PRE_APPROVED | REFERRED | REJECTED → INSPECTION "
    "→ OFFERED → SIGNING → APPROVED → DISBURSED; WITHDRAWN and EXPIRED end it early.",
)
strawberry.enum(EmploymentEnum, name="EmploymentType")


@strawberry.enum(name="DecisionOutcome")
class DecisionOutcome(Enum):
    APPROVE = "approve"
    REFER = "refer"
    REJECT = "reject"


def _money(amount: int | None, currency: str) -> Money | None:
    return None if amount is None else Money.from_domain(DomainMoney(amount, currency))


@strawberry.type(description="A consent the applicant gave: when, and which text version.")
class ApplicationConsent:
    kind: str = strawberry.field(description="bureau_check or data_processing.")
    accepted_at: datetime
    text_version: str


@strawberry.type(description="One entry of an application's timeline.")
class CreditApplicationEvent:
    seq: int
    at: datetime
    kind: str
    from_state: StateEnum | None
    to_state: StateEnum | None
    actor: str | None = strawberry.field(description="Who (staff only; null for customers).")
    note: str | None

    @classmethod
    def from_model(cls, m: EventModel, *, staff: bool) -> CreditApplicationEvent:
        return cls(
            seq=m.seq,
            at=m.at,
            kind=m.kind,
            from_state=StateEnum(m.from_state) if m.from_state else None,
            to_state=StateEnum(m.to_state) if m.to_state else None,
            actor=m.actor_subject if staff else None,
            note=m.note if staff or m.public else None,
        )


@strawberry.type(description="One row of an offer's schedule.")
class OfferScheduleRow:
    number: int
    due_date: str
    installment: Money
    interest: Money
    principal: Money
    balance: Money


@strawberry.type(description="The credit offered: the credits engine's schedule and CAE.")
class CreditOffer:
    id: strawberry.ID
    status: str
    principal: Money
    annual_rate: Decimal
    term_months: int
    installment: Money = strawberry.field(description="The largest monthly installment.")
    cae: Decimal = strawberry.field(description="Annual equivalent cost, a fraction.")
    total_interest: Money
    total_paid: Money
    disbursement_date: str
    valid_until: datetime
    schedule: list[OfferScheduleRow]

    @classmethod
    def from_model(cls, m: OfferModel) -> CreditOffer:
        c = m.currency
        return cls(
            id=strawberry.ID(str(m.id)),
            status=m.status,
            principal=Money.from_domain(DomainMoney(m.principal, c)),
            annual_rate=m.annual_rate,
            term_months=m.term_months,
            installment=Money.from_domain(DomainMoney(m.installment, c)),
            cae=m.cae,
            total_interest=Money.from_domain(DomainMoney(m.total_interest, c)),
            total_paid=Money.from_domain(DomainMoney(m.total_paid, c)),
            disbursement_date=m.disbursement_date,
            valid_until=m.valid_until,
            schedule=[
                OfferScheduleRow(
                    number=r["number"],
                    due_date=r["due_date"],
                    installment=Money.from_domain(DomainMoney(r["installment"], c)),
                    interest=Money.from_domain(DomainMoney(r["interest"], c)),
                    principal=Money.from_domain(DomainMoney(r["principal"], c)),
                    balance=Money.from_domain(DomainMoney(r["balance"], c)),
                )
                for r in m.schedule
            ],
        )


@strawberry.type(description="A vehicle inspection of an application.")
class VehicleInspection:
    id: strawberry.ID
    status: str
    slot_start: datetime
    slot_end: datetime
    place: str
    odometer_km: int | None
    valuation: Money | None
    damage_notes: str | None
    failure_reason: str | None
    checklist: list[InspectionItem]
    recorded_at: datetime | None

    @classmethod
    def from_model(cls, m: InspectionModel, currency: str) -> VehicleInspection:
        return cls(
            id=strawberry.ID(str(m.id)),
            status=m.status,
            slot_start=m.slot_start,
            slot_end=m.slot_end,
            place=m.place,
            odometer_km=m.odometer_km,
            valuation=_money(m.valuation, currency),
            damage_notes=m.damage_notes,
            failure_reason=m.failure_reason,
            checklist=[
                InspectionItem(item=i["item"], passed=bool(i["passed"]), note=i.get("note"))
                for i in m.checklist or []
            ],
            recorded_at=m.recorded_at,
        )


@strawberry.type
class InspectionItem:
    item: str
    passed: bool
    note: str | None


@strawberry.type(description="A document attached to an application (metadata).")
class ApplicationDocument:
    id: strawberry.ID
    kind: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime


@strawberry.federation.type(
    keys=["id"],
    description="A customer's credit application (Tranki) at a lender. Financial data and "
    "the decision are null for those who may not see them (dealers).",
)
class CreditApplication(relay.Node):
    id: relay.NodeID[str]
    reference: str
    state: StateEnum
    lender_id: strawberry.ID = strawberry.field(description="The lender (a Partner's id).")
    vehicle_id: strawberry.ID | None = strawberry.field(description="The marketplace's vehicle.")
    currency: str
    requested_principal: Money
    down_payment: Money
    vehicle_price: Money | None
    term_months: int
    monthly_income: Money | None
    employment_type: EmploymentEnum | None
    employment_months: int | None
    declared_obligations: Money | None
    consents: list[ApplicationConsent] | None
    grade: str | None
    decision_outcome: str | None
    reason_codes: list[str] | None = strawberry.field(
        description="Why the decision went as it did (the applicant and the lender's staff)."
    )
    decision_id: strawberry.ID | None = strawberry.field(
        description="Scoring's decision record (staff with scoring:read)."
    )
    referral_reason: str | None
    submitted_at: datetime | None
    due_at: datetime | None = strawberry.field(
        description="The 24-hour promise: 24 business hours of the lender after submission."
    )
    at_risk: bool
    breached: bool
    decided_at: datetime | None
    time_to_decision_seconds: Long | None
    credit_id: strawberry.ID | None
    version: int
    created_at: datetime
    updated_at: datetime
    key: strawberry.Private[uuid.UUID]
    customer_key: strawberry.Private[uuid.UUID]
    financial: strawberry.Private[bool]
    staff: strawberry.Private[bool]

    @strawberry.field(description="The applicant (personal data masked by the customers' rule).")
    async def customer(self, info: Info) -> Customer | None:
        return await Customer.load(info, self.customer_key)

    @strawberry.field(description="The live offer (open or accepted), if any.")
    async def offer(self, info: Info) -> CreditOffer | None:
        if not self.financial:
            return None
        from app.db import read_session

        async with read_session() as session:
            found = await origination.get_offer(session, application_id=self.key)
        return CreditOffer.from_model(found) if found else None

    @strawberry.field(description="Inspections, oldest first.")
    async def inspections(self, info: Info) -> list[VehicleInspection]:
        from app.db import read_session

        async with read_session() as session:
            rows = await origination.inspections_of(
                session, principal=principal_of(info), application_id=self.key
            )
        return [VehicleInspection.from_model(r, self.currency) for r in rows]

    @strawberry.field(description="Attached documents (not for dealers).")
    async def documents(self, info: Info) -> list[ApplicationDocument]:
        from app.db import read_session

        async with read_session() as session:
            rows = await origination.documents(
                session, principal=principal_of(info), application_id=self.key
            )
        return [
            ApplicationDocument(
                id=strawberry.ID(str(d.id)),
                kind=d.kind,
                file_name=d.file_name,
                content_type=d.content_type,
                size_bytes=d.size_bytes,
                sha256=d.sha256,
                uploaded_at=d.uploaded_at,
            )
            for d in rows
        ]

    @strawberry.field(description="The timeline (internal entries for the lender's staff).")
    async def timeline(self, info: Info) -> list[CreditApplicationEvent]:
        from app.db import read_session

        async with read_session() as session:
            rows = await origination.timeline(
                session, principal=principal_of(info), application_id=self.key
            )
        return [CreditApplicationEvent.from_model(r, staff=self.staff) for r in rows]

    @classmethod
    def from_model(cls, m: ApplicationModel, principal: Principal) -> CreditApplication:
        financial = access.financial_visible(principal, m)
        scoring = access.scoring_visible(principal, m)
        reasons = access.reasons_visible(principal, m)
        at_risk, breached = origination.clock_flags(m, utcnow())
        elapsed = origination.time_to_decision(m)
        c = m.currency
        return cls(
            id=str(m.id),
            reference=m.reference,
            state=StateEnum(m.state),
            lender_id=strawberry.ID(encode_node_id("Partner", m.lender_id)),
            vehicle_id=strawberry.ID(str(m.vehicle_id)) if m.vehicle_id else None,
            currency=c,
            requested_principal=Money.from_domain(DomainMoney(m.requested_principal, c)),
            down_payment=Money.from_domain(DomainMoney(m.down_payment, c)),
            vehicle_price=_money(m.vehicle_price, c),
            term_months=m.term_months,
            monthly_income=_money(m.monthly_income, c) if financial else None,
            employment_type=EmploymentEnum(m.employment_type) if financial else None,
            employment_months=m.employment_months if financial else None,
            declared_obligations=_money(m.declared_obligations, c) if financial else None,
            consents=[
                ApplicationConsent(
                    kind=k,
                    accepted_at=datetime.fromisoformat(v["accepted_at"].replace("Z", "+00:00")),
                    text_version=v["text_version"],
                )
                for k, v in sorted((m.consents or {}).items())
            ]
            if financial
            else None,
            grade=m.grade if financial else None,
            decision_outcome=m.decision_outcome if financial else None,
            reason_codes=list(m.decision_reasons or []) if reasons else None,
            decision_id=strawberry.ID(str(m.decision_id)) if scoring and m.decision_id else None,
            referral_reason=m.referral_reason if financial else None,
            submitted_at=m.submitted_at,
            due_at=m.due_at,
            at_risk=at_risk,
            breached=breached,
            decided_at=m.decided_at,
            time_to_decision_seconds=Long(int(elapsed.total_seconds())) if elapsed else None,
            credit_id=strawberry.ID(encode_node_id("Credit", m.credit_id))
            if m.credit_id and financial
            else None,
            version=m.version,
            created_at=m.created_at,
            updated_at=m.updated_at,
            key=m.id,
            customer_key=m.customer_id,
            financial=financial,
            staff=principal.is_admin or access.is_staff(principal),
        )

    @classmethod
    async def _visible(cls, info: Info, keys: list[uuid.UUID | None]) -> dict[uuid.UUID, Any]:
        from app.db import read_session

        principal = principal_of(info)
        wanted = [k for k in keys if k]
        if not wanted:
            return {}
        async with read_session() as session:
            found = await origination.get_many(session, principal=principal, ids=wanted)
        return {k: cls.from_model(v, principal) for k, v in found.items()}

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[CreditApplication | None]:
        keys = [decode_node_id(n, "CreditApplication") for n in node_ids]
        found = await cls._visible(info, keys)
        return [found.get(k) if k else None for k in keys]

    @classmethod
    async def resolve_reference(cls, info: Info, **representation: Any) -> CreditApplication | None:
        key = decode_node_id(representation.get("id"), "CreditApplication")
        found = await cls._visible(info, [key])
        return found.get(key) if key else None


CreditApplicationConnection = Connection[CreditApplication]


@strawberry.type(description="What a customer can borrow at a lender.")
class Prequalification:
    id: strawberry.ID | None = strawberry.field(description="Stored (exact) ones only.")
    exact: bool = strawberry.field(
        description="True for a known customer (stored); false for an anonymous estimate."
    )
    lender_id: strawberry.ID
    grade: str
    annual_rate: Decimal
    term_months: int
    max_installment: Money
    max_principal: Money
    down_payment: Money
    max_vehicle_price: Money = strawberry.field(description="maxPrincipal + downPayment.")
    trama_obligations: Money = strawberry.field(description="Installments of open credits.")
    valid_until: datetime | None

    @classmethod
    def from_domain(cls, e: Estimate) -> Prequalification:
        c = e.currency
        return cls(
            id=strawberry.ID(str(e.id)) if e.id else None,
            exact=e.exact,
            lender_id=strawberry.ID(encode_node_id("Partner", e.lender_id)),
            grade=e.grade,
            annual_rate=e.annual_rate,
            term_months=e.term_months,
            max_installment=Money.from_domain(DomainMoney(e.max_installment, c)),
            max_principal=Money.from_domain(DomainMoney(e.max_principal, c)),
            down_payment=Money.from_domain(DomainMoney(e.down_payment, c)),
            max_vehicle_price=Money.from_domain(DomainMoney(e.max_principal + e.down_payment, c)),
            trama_obligations=Money.from_domain(DomainMoney(e.trama_obligations, c)),
            valid_until=e.valid_until,
        )


# --- inputs and payloads -----------------------------------------------------------------------
@strawberry.input
class ConsentInput:
    kind: str = strawberry.field(description="bureau_check or data_processing.")
    accepted: bool
    text_version: str = strawberry.field(description="Version of the text accepted.")


@strawberry.input
class StartCreditApplicationInput:
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Staff: the customer. Customers: omit (themself)."
    )
    lender_id: strawberry.ID | None = strawberry.field(
        default=None, description="Customers: the lender. Staff: omit (their own)."
    )
    vehicle_id: strawberry.ID | None = None
    requested_principal: MoneyInput | None = strawberry.field(
        default=None, description="The amount (with a vehicle: its price minus the down payment)."
    )
    down_payment: MoneyInput | None = None
    currency: str
    term_months: int
    monthly_income: MoneyInput
    employment_type: EmploymentEnum
    employment_months: int = 0
    declared_obligations: MoneyInput | None = None
    consents: list[ConsentInput] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateCreditApplicationInput:
    application_id: strawberry.ID
    version: int
    vehicle_id: strawberry.ID | None = strawberry.UNSET
    requested_principal: MoneyInput | None = strawberry.UNSET
    down_payment: MoneyInput | None = strawberry.UNSET
    term_months: int | None = strawberry.UNSET
    monthly_income: MoneyInput | None = strawberry.UNSET
    employment_type: EmploymentEnum | None = strawberry.UNSET
    employment_months: int | None = strawberry.UNSET
    declared_obligations: MoneyInput | None = strawberry.UNSET
    consents: list[ConsentInput] | None = strawberry.UNSET


@strawberry.input
class CreditApplicationVersionInput:
    application_id: strawberry.ID
    version: int
    reason: str | None = None


@strawberry.input
class DecideCreditApplicationInput:
    application_id: strawberry.ID
    version: int
    approve: bool
    reason: str
    grade: str | None = None


@strawberry.input
class AcceptCreditOfferInput:
    application_id: strawberry.ID
    offer_id: strawberry.ID
    version: int | None = None


@strawberry.input
class BookInspectionInput:
    application_id: strawberry.ID
    version: int
    slot_start: datetime
    slot_end: datetime
    place: str


@strawberry.input
class InspectionItemInput:
    item: str
    passed: bool
    note: str | None = None


@strawberry.input
class RecordInspectionInput:
    inspection_id: strawberry.ID
    checklist: list[InspectionItemInput]
    odometer_km: int
    valuation: MoneyInput
    damage_notes: str | None = None


@strawberry.input
class RecordDisbursementInput:
    application_id: strawberry.ID
    version: int
    disbursement_date: str | None = strawberry.field(
        default=None, description="YYYY-MM-DD (lender's today when omitted)."
    )


@strawberry.input
class CreditApplicationFilter:
    states: list[StateEnum] | None = None
    lender_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None
    vehicle_id: strawberry.ID | None = None
    at_risk: bool | None = None
    breached: bool | None = None


@strawberry.type
class CreditApplicationSuccess:
    application: CreditApplication


@strawberry.type
class BookInspectionSuccess:
    application: CreditApplication
    inspection: VehicleInspection


_ERRORS = ValidationError | ForbiddenError | NotFoundError | ConflictError | InvalidTransitionError

CreditApplicationPayload = Annotated[
    CreditApplicationSuccess | _ERRORS, strawberry.union("CreditApplicationPayload")
]
BookInspectionPayload = Annotated[
    BookInspectionSuccess | _ERRORS, strawberry.union("BookInspectionPayload")
]

"""Network cases in the API: the ``Case`` entity and what hangs from it.

Scalar fields are plain attributes set by :meth:`Case.from_model`; what lives in other rows
(customer, partners, typology, partner statuses, timeline, comments) is asked from the
request's DataLoaders, so a page of cases costs a fixed number of statements. Personal data
is masked as :mod:`domain.cases.presenters` decides, case by case, from the rule's column
(:func:`domain.cases.scopes.pii_visible`) read with the case.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeAlias, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.cases import presenters, scopes
from domain.cases.batches import NestedPage
from domain.cases.models import BulkOutcome as BulkOutcomeEnum
from domain.cases.models import BulkStatus as BulkStatusEnum
from domain.cases.models import Case as CaseModel
from domain.cases.models import CaseComment as CaseCommentModel
from domain.cases.models import CaseEvent as CaseEventModel
from domain.cases.models import CasePartnerStatus as CasePartnerStatusModel
from domain.cases.models import CaseTypology as CaseTypologyModel
from domain.cases.models import Channel as ChannelEnum
from domain.cases.models import MappingDirection as MappingDirectionEnum
from domain.cases.models import Priority as PriorityEnum
from domain.cases.models import ResolutionCode as ResolutionCodeEnum
from domain.cases.models import SlaState as SlaStateEnum
from domain.cases.models import TimelineKind as TimelineKindEnum
from domain.cases.models import Visibility as VisibilityEnum
from domain.cases.scopes import CaseView as CaseViewEnum
from domain.cases.states import CaseStatus as CaseStatusEnum
from domain.shared.money import Money as DomainMoney
from domain.shared.national_ids import NationalIdType as NationalIdTypeEnum
from domain.shared.pagination import clamp_page_size
from domain.shared.principal import Principal
from resolvers.context import principal_of
from resolvers.ids import decode_node_id, encode_node_id
from resolvers.pagination import to_connection
from schema.common import Connection
from schema.customers import NationalId
from schema.money import Money
from schema.partners import Partner
from schema.scalars import Long

# --- enums ------------------------------------------------------------------------------
strawberry.enum(CaseStatusEnum, name="CaseStatus", description="Canonical states of a case.")
strawberry.enum(ChannelEnum, name="CaseChannel", description="Where the case was opened.")
strawberry.enum(PriorityEnum, name="CasePriority")
strawberry.enum(SlaStateEnum, name="CaseSlaState", description="Where the SLA clock stands.")
strawberry.enum(
    VisibilityEnum,
    name="CaseVisibility",
    description="INTERNAL: staff of the involved partners; CUSTOMER: the customer may see it.",
)
strawberry.enum(ResolutionCodeEnum, name="CaseResolutionCode")
strawberry.enum(TimelineKindEnum, name="CaseTimelineKind")
strawberry.enum(
    MappingDirectionEnum,
    name="StatusMappingDirection",
    description="INBOUND: partner code → canonical (reports); OUTBOUND: canonical → partner "
    "code (sync); BOTH.",
)
strawberry.enum(
    CaseViewEnum,
    name="CaseView",
    description="OWN: cases your partner handles or is asked to take; ECOSYSTEM: also those "
    "it opened, handled or takes part in; NETWORK: every case (administrators, supervisors, "
    "network viewers), each with its customer's personal data masked unless you may see it "
    "(your partner's customer or involved with them, their consent, or `pii:read`).",
)
strawberry.enum(BulkStatusEnum, name="BulkResolutionStatus")
strawberry.enum(BulkOutcomeEnum, name="BulkResolutionOutcome")
CaseStatus: TypeAlias = CaseStatusEnum
CaseChannel: TypeAlias = ChannelEnum
CasePriority: TypeAlias = PriorityEnum
CaseSlaState: TypeAlias = SlaStateEnum
CaseVisibility: TypeAlias = VisibilityEnum
CaseResolutionCode: TypeAlias = ResolutionCodeEnum
CaseTimelineKind: TypeAlias = TimelineKindEnum
StatusMappingDirection: TypeAlias = MappingDirectionEnum
CaseView: TypeAlias = CaseViewEnum
BulkResolutionStatus: TypeAlias = BulkStatusEnum
BulkResolutionOutcome: TypeAlias = BulkOutcomeEnum


def _money(amount: int | None, currency: str | None) -> Money | None:
    if amount is None or currency is None:
        return None
    return Money.from_domain(DomainMoney(amount, currency))


async def _partner(info: Info, partner_id: uuid.UUID | None) -> Partner | None:
    if partner_id is None:
        return None
    model = await info.context.loaders.partner.load(partner_id)
    return Partner.from_model(model) if model else None


def _page_size(info: Info, first: int | None) -> int:
    settings = info.context.settings
    return clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )


# --- catalog ----------------------------------------------------------------------------
@strawberry.type(description="A kind of post-sale case and its service level.")
class CaseTypology:
    code: str
    name: str
    description: str
    default_priority: CasePriority
    sla_business_days: int | None = strawberry.field(
        description="Business days of the handling partner's country (its holidays off)."
    )
    sla_hours: int | None = strawberry.field(description="Clock hours (round-the-clock cases).")
    requires_amount: bool = strawberry.field(description="An amount in dispute is required.")
    requires_card: bool = strawberry.field(description="The card's last 4 digits are required.")
    active: bool

    @classmethod
    def from_model(cls, t: CaseTypologyModel) -> CaseTypology:
        return cls(
            code=t.code,
            name=t.name,
            description=t.description,
            default_priority=PriorityEnum(t.default_priority),
            sla_business_days=t.sla_business_days,
            sla_hours=t.sla_hours,
            requires_amount=t.requires_amount,
            requires_card=t.requires_card,
            active=t.active,
        )


# --- parts of a case --------------------------------------------------------------------
@strawberry.type(description="The customer of a case, as the case shows it.")
class CaseCustomer:
    id: strawberry.ID = strawberry.field(
        description="The Customer's global id (read it through `node` under the customer rules)."
    )
    name: str = strawberry.field(description="Full name, or initials when masked.")
    national_id: NationalId
    pii_masked: bool

    @classmethod
    def from_summary(cls, s: presenters.CustomerSummary) -> CaseCustomer:
        return cls(
            id=strawberry.ID(encode_node_id("Customer", s.id)),
            name=s.name,
            national_id=NationalId(
                type=NationalIdTypeEnum(s.national_id_type), number=s.national_id, country=s.country
            ),
            pii_masked=s.masked,
        )


@strawberry.type(description="How the case ended (or why it was rejected).")
class CaseResolution:
    code: CaseResolutionCode
    note: str | None
    amount_refunded: Money | None
    resolved_at: datetime | None


@strawberry.type(description="The case is waiting for another partner to accept it.")
class PendingDerivation:
    reason: str | None
    requested_at: datetime | None
    to_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The partner asked to take the case.")
    async def to(self, info: Info) -> Partner | None:
        return await _partner(info, self.to_id)


@strawberry.type(description="One involved partner's own view of the case and its sync state.")
class CasePartnerStatus:
    partner_status_code: str | None = strawberry.field(
        description="The partner's own status code, as its platform last reported it."
    )
    external_ref: str | None = strawberry.field(description="The case's id on its platform.")
    last_external_version: Long | None
    last_reported_at: datetime | None
    last_synced_version: int | None = strawberry.field(
        description="The case version last pushed to the partner's platform."
    )
    last_synced_at: datetime | None
    last_sync_attempt_at: datetime | None
    last_sync_error: str | None
    involved_since: datetime
    partner_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def partner(self, info: Info) -> Partner | None:
        return await _partner(info, self.partner_id)

    @classmethod
    def from_model(cls, row: CasePartnerStatusModel) -> CasePartnerStatus:
        return cls(
            partner_status_code=row.partner_status_code,
            external_ref=row.external_ref,
            last_external_version=cast(Long, row.last_external_version),
            last_reported_at=row.last_reported_at,
            last_synced_version=row.last_synced_version,
            last_synced_at=row.last_synced_at,
            last_sync_attempt_at=row.last_sync_attempt_at,
            last_sync_error=row.last_sync_error,
            involved_since=row.involved_since,
            partner_id=row.partner_id,
        )


@strawberry.type(description="A timeline entry: who, for which partner, what, before/after.")
class CaseTimelineEntry:
    seq: int = strawberry.field(description="1, 2, … per case.")
    at: datetime
    kind: CaseTimelineKind
    actor: str | None = strawberry.field(description="Who did it (null when masked).")
    visibility: CaseVisibility
    before: JSON | None
    after: JSON | None
    note: str | None
    actor_partner_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The partner the actor acted for.")
    async def actor_partner(self, info: Info) -> Partner | None:
        return await _partner(info, self.actor_partner_id)

    @classmethod
    def from_model(cls, e: CaseEventModel, masked: bool) -> CaseTimelineEntry:
        return cls(
            seq=e.seq,
            at=e.at,
            kind=TimelineKindEnum(e.kind),
            actor=None if masked else e.actor_subject,
            visibility=VisibilityEnum(e.visibility),
            before=cast(JSON, presenters.changes(e.before, masked)),
            after=cast(JSON, presenters.changes(e.after, masked)),
            note=presenters.text(e.note, masked),
            actor_partner_id=e.actor_partner_id,
        )


@strawberry.type(description="A comment: an internal note or a message the customer may see.")
class CaseComment:
    id: strawberry.ID
    author_name: str | None = strawberry.field(description="Null when masked.")
    visibility: CaseVisibility
    body: str
    created_at: datetime
    author_partner_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def author_partner(self, info: Info) -> Partner | None:
        return await _partner(info, self.author_partner_id)

    @classmethod
    def from_model(cls, c: CaseCommentModel, masked: bool) -> CaseComment:
        return cls(
            id=strawberry.ID(str(c.id)),
            author_name=None if masked else c.author_name,
            visibility=VisibilityEnum(c.visibility),
            body=presenters.text(c.body, masked) or "",
            created_at=c.created_at,
            author_partner_id=c.author_partner_id,
        )


CaseTimelineConnection = Connection[CaseTimelineEntry]
CaseCommentConnection = Connection[CaseComment]


# --- the case ---------------------------------------------------------------------------
@strawberry.federation.type(
    keys=["id"],
    description="A post-sale case, opened at any partner of the network and handled by one.",
)
class Case(relay.Node):
    id: relay.NodeID[str]
    reference: str = strawberry.field(description="The network reference, `CS-2026-000123`.")
    card_last4: str | None = strawberry.field(
        description="Last 4 digits of the card (null when masked). The card token is never "
        "returned."
    )
    typology_code: str
    channel: CaseChannel
    priority: CasePriority
    status: CaseStatus = strawberry.field(description="The canonical status.")
    status_changed_at: datetime
    description: str = strawberry.field(
        description="Free text; masked where the customer's personal data is masked for you."
    )
    amount_in_dispute: Money | None
    pending_derivation: PendingDerivation | None
    sla_started_at: datetime | None
    sla_due_at: datetime | None
    sla_state: CaseSlaState
    sla_paused: bool = strawberry.field(
        description="The clock stops while waiting on the customer."
    )
    escalated: bool
    escalated_at: datetime | None
    resolution: CaseResolution | None
    version: int = strawberry.field(
        description="Send it back with a change; a stale one conflicts."
    )
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    pii_masked: bool = strawberry.field(description="Personal data is masked for you.")
    viewer_can_act: bool = strawberry.field(
        description="You may change the case (your partner handles it, or you are an admin)."
    )
    viewer_can_answer_derivation: bool = strawberry.field(
        description="You may accept or reject its pending derivation."
    )
    key: strawberry.Private[uuid.UUID]
    customer_id: strawberry.Private[uuid.UUID]
    originating_partner_id: strawberry.Private[uuid.UUID]
    handling_partner_id: strawberry.Private[uuid.UUID]
    pending_derivation_to: strawberry.Private[uuid.UUID | None]
    escalated_to_id: strawberry.Private[uuid.UUID | None]
    masked: strawberry.Private[bool]

    @strawberry.field
    async def customer(self, info: Info) -> CaseCustomer | None:
        loader = info.context.loaders.customers(principal_of(info))
        view = await loader.load(self.customer_id)
        if view is None:
            return None
        return CaseCustomer.from_summary(presenters.customer_summary(view))

    @strawberry.field
    async def typology(self, info: Info) -> CaseTypology | None:
        model = await info.context.loaders.cases.typology.load(self.typology_code)
        return CaseTypology.from_model(model) if model else None

    @strawberry.field(description="Where the case was opened.")
    async def originating_partner(self, info: Info) -> Partner | None:
        return await _partner(info, self.originating_partner_id)

    @strawberry.field(description="Who works the case now.")
    async def handling_partner(self, info: Info) -> Partner | None:
        return await _partner(info, self.handling_partner_id)

    @strawberry.field(
        name="pendingDerivationTo",
        description="The partner asked to take the case, while it has not answered.",
    )
    async def derivation_target(self, info: Info) -> Partner | None:
        return await _partner(info, self.pending_derivation_to)

    @strawberry.field(description="The partner whose supervisors the case was escalated to.")
    async def escalated_to(self, info: Info) -> Partner | None:
        return await _partner(info, self.escalated_to_id)

    @strawberry.field(
        description="Each involved partner's own status, reference and sync state (staff only: "
        "empty for a customer reading their own case)."
    )
    async def partner_statuses(self, info: Info) -> list[CasePartnerStatus]:
        if scopes.is_customer_only(principal_of(info)):
            return []
        rows = await info.context.loaders.cases.partner_statuses.load(self.key)
        return [CasePartnerStatus.from_model(r) for r in rows]

    async def _sees_internal(self, info: Info) -> bool:
        principal = principal_of(info)
        if principal.is_admin:
            return True
        rows = await info.context.loaders.cases.partner_statuses.load(self.key)
        involved = presenters.involved_partners(self, [r.partner_id for r in rows])
        return presenters.sees_internal(principal, involved)

    @strawberry.field(
        description="Oldest first. Internal entries are shown to the involved partners' staff."
    )
    async def timeline(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> CaseTimelineConnection:
        page = NestedPage(_page_size(info, first), after, not await self._sees_internal(info))
        found = await info.context.loaders.cases.timeline.load((self.key, page))
        return to_connection(found, lambda e: CaseTimelineEntry.from_model(e, self.masked))

    @strawberry.field(
        description="Oldest first. Internal comments are shown to the involved partners' staff."
    )
    async def comments(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> CaseCommentConnection:
        page = NestedPage(_page_size(info, first), after, not await self._sees_internal(info))
        found = await info.context.loaders.cases.comments.load((self.key, page))
        return to_connection(found, lambda c: CaseComment.from_model(c, self.masked))

    @classmethod
    def from_model(cls, case: CaseModel | Any, *, principal: Principal, masked: bool) -> Case:
        resolution = None
        if case.resolution_code is not None:
            resolution = CaseResolution(
                code=ResolutionCodeEnum(case.resolution_code),
                note=presenters.text(case.resolution_note, masked),
                amount_refunded=_money(
                    case.resolution_refund_minor, case.resolution_refund_currency
                ),
                resolved_at=case.resolved_at,
            )
        pending = None
        if case.pending_derivation_to is not None:
            pending = PendingDerivation(
                reason=presenters.text(case.pending_derivation_reason, masked),
                requested_at=case.pending_derivation_at,
                to_id=case.pending_derivation_to,
            )
        return cls(
            id=str(case.id),
            reference=case.reference,
            card_last4=presenters.card_last4(case.card_last4, masked),
            typology_code=case.typology_code,
            channel=ChannelEnum(case.channel),
            priority=PriorityEnum(case.priority),
            status=CaseStatusEnum(case.status),
            status_changed_at=case.status_changed_at,
            description=presenters.text(case.description, masked) or "",
            amount_in_dispute=_money(case.amount_in_dispute_minor, case.amount_in_dispute_currency),
            pending_derivation=pending,
            sla_started_at=case.sla_started_at,
            sla_due_at=case.sla_due_at,
            sla_state=SlaStateEnum(case.sla_state),
            sla_paused=case.sla_paused_at is not None,
            escalated=case.escalated_at is not None,
            escalated_at=case.escalated_at,
            resolution=resolution,
            version=case.version,
            created_at=case.created_at,
            updated_at=case.updated_at,
            resolved_at=case.resolved_at,
            closed_at=case.closed_at,
            pii_masked=masked,
            viewer_can_act=scopes.can_act_on(principal, case),
            viewer_can_answer_derivation=scopes.can_answer_derivation(principal, case),
            key=case.id,
            customer_id=case.customer_id,
            originating_partner_id=case.originating_partner_id,
            handling_partner_id=case.handling_partner_id,
            pending_derivation_to=case.pending_derivation_to,
            escalated_to_id=case.escalated_to,
            masked=masked,
        )

    @classmethod
    async def shown(cls, info: Info, case: CaseModel) -> Case:
        """A case read through a checked path, masked as the rule says for the caller (the
        request's loader of :func:`scopes.pii_visible`; a mutation primes it first)."""
        principal = principal_of(info)
        visible = await info.context.loaders.cases.pii_visible(principal).load(case.id)
        return cls.from_model(case, principal=principal, masked=not visible)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Case | None]:
        principal = principal_of(info)
        scopes.ensure_can_read(principal)
        keys = [decode_node_id(n, "Case") for n in node_ids]
        found = await info.context.loaders.cases.visible(principal).load_many(
            [k for k in keys if k]
        )
        by_id = {c.id: c for c in found if c is not None}
        flags = await info.context.loaders.cases.pii_visible(principal).load_many(list(by_id))
        masked = {key: not shown for key, shown in zip(by_id, flags, strict=True)}
        return [
            cls.from_model(by_id[k], principal=principal, masked=masked[k]) if k in by_id else None
            for k in keys
        ]

    @classmethod
    async def resolve_reference(cls, info: Info, **representation: Any) -> Case | None:
        key = decode_node_id(representation.get("id"), "Case")
        if key is None:
            return None
        principal = principal_of(info)
        scopes.ensure_can_read(principal)
        model = await info.context.loaders.cases.visible(principal).load(key)
        return await cls.shown(info, model) if model else None

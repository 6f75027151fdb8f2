"""Mass resolution (a job) and the partner case event stream."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.cases import bulk as bulk_domain
from domain.cases.models import BulkOutcome as BulkOutcomeEnum
from domain.cases.models import BulkResolution as BulkResolutionModel
from domain.cases.models import BulkStatus as BulkStatusEnum
from domain.cases.models import ResolutionCode as ResolutionCodeEnum
from domain.cases.states import CaseStatus as CaseStatusEnum
from domain.shared.outbox import Event as OutboxEvent
from resolvers.case_loaders import BulkItemsKey
from resolvers.context import principal_of
from resolvers.ids import encode_node_id
from resolvers.pagination import to_connection
from schema.case_search import CaseFilter
from schema.cases import (
    BulkResolutionOutcome,
    BulkResolutionStatus,
    Case,
    CaseResolutionCode,
    CaseStatus,
    CaseView,
)
from schema.common import Connection
from schema.errors import ForbiddenError, ValidationError
from schema.scalars import Long


@strawberry.type(description="What a mass resolution did with one case.")
class BulkResolutionItem:
    case_id: strawberry.ID = strawberry.field(description="The case's global id.")
    reference: str | None = strawberry.field(
        description="Null for NOT_FOUND: whether such a case exists is not told."
    )
    outcome: BulkResolutionOutcome
    message: str | None
    processed_at: datetime
    key: strawberry.Private[uuid.UUID]
    found: strawberry.Private[bool]

    @strawberry.field(description="The case as you may see it now (null if you cannot).")
    async def case(self, info: Info) -> Case | None:
        if not self.found:
            return None
        principal = principal_of(info)
        model = await info.context.loaders.cases.visible(principal).load(self.key)
        return await Case.shown(info, model) if model else None

    @classmethod
    def from_view(cls, item: bulk_domain.BulkItemView) -> BulkResolutionItem:
        return cls(
            case_id=strawberry.ID(encode_node_id("Case", item.case_id)),
            reference=item.reference,
            outcome=item.outcome,
            message=item.message,
            processed_at=item.processed_at,
            key=item.case_id,
            found=item.outcome is not BulkOutcomeEnum.NOT_FOUND,
        )


BulkResolutionItemConnection = Connection[BulkResolutionItem]


@strawberry.type(description="A mass resolution job: its request, progress and outcomes.")
class BulkResolution:
    id: strawberry.ID
    status: BulkResolutionStatus
    code: CaseResolutionCode
    note: str
    view: CaseView | None
    total: int = strawberry.field(
        description="Cases to process (for a filter, an estimate until the job is done)."
    )
    processed: int
    resolved_count: int
    skipped_count: int
    forbidden_count: int
    not_found_count: int
    progress: float = strawberry.field(description="processed / total, 1 once done.")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Per-case outcomes, by case id.")
    async def outcomes(
        self,
        info: Info,
        outcome: BulkResolutionOutcome | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> BulkResolutionItemConnection:
        key = BulkItemsKey(self.key, principal_of(info), outcome, first, after)
        page = await info.context.loaders.cases.bulk_items.load(key)
        return to_connection(page, BulkResolutionItem.from_view)

    @classmethod
    def from_model(cls, bulk: BulkResolutionModel) -> BulkResolution:
        status = BulkStatusEnum(bulk.status)
        finished = status in (BulkStatusEnum.DONE, BulkStatusEnum.FAILED)
        if bulk.total > 0:
            progress = min(bulk.processed / bulk.total, 1.0)
        else:
            progress = 1.0 if finished else 0.0
        if status is BulkStatusEnum.DONE:
            progress = 1.0
        view = (bulk.selection or {}).get("view")
        return cls(
            id=strawberry.ID(encode_node_id("BulkResolution", bulk.id)),
            status=status,
            code=ResolutionCodeEnum(bulk.resolution_code),
            note=bulk.resolution_note,
            view=CaseView(view) if view else None,
            total=bulk.total,
            processed=bulk.processed,
            resolved_count=bulk.resolved_count,
            skipped_count=bulk.skipped_count,
            forbidden_count=bulk.forbidden_count,
            not_found_count=bulk.not_found_count,
            progress=progress,
            error=bulk.error,
            created_at=bulk.created_at,
            started_at=bulk.started_at,
            finished_at=bulk.finished_at,
            key=bulk.id,
        )


@strawberry.input(
    description="Name the cases by `ids`, or select them with a `filter` over a `view` "
    "(ECOSYSTEM by default). The same request sent again returns the same job."
)
class ResolveCasesInput:
    code: CaseResolutionCode
    note: str
    ids: list[strawberry.ID] | None = None
    filter: CaseFilter | None = None
    view: CaseView | None = None


@strawberry.type
class ResolveCasesSuccess:
    job: BulkResolution


ResolveCasesPayload = Annotated[
    ResolveCasesSuccess | ValidationError | ForbiddenError, strawberry.union("ResolveCasesPayload")
]


# --- the partner event stream -----------------------------------------------------------
@strawberry.enum(
    description="Which cases' events: OWN (handled by, or waiting for, your partner) or "
    "ECOSYSTEM (every case your partner is involved in)."
)
class CaseEventView(Enum):
    OWN = "OWN"
    ECOSYSTEM = "ECOSYSTEM"


@strawberry.type(description="Something that happened to a case, in delivery order.")
class CaseEvent:
    cursor: str = strawberry.field(description="Pass it as `after` to resume after this event.")
    position: Long
    topic: str = strawberry.field(description="e.g. `cases.derived`, `cases.resolved`.")
    occurred_at: datetime
    case_id: strawberry.ID = strawberry.field(description="The case's global id.")
    reference: str | None
    version: int | None = strawberry.field(description="The case's version after the change.")
    status: CaseStatus | None
    payload: JSON = strawberry.field(description="Ids and figures; never personal data.")
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The case's current state, as you may see it.")
    async def case(self, info: Info) -> Case | None:
        principal = principal_of(info)
        model = await info.context.loaders.cases.visible(principal).load(self.key)
        return await Case.shown(info, model) if model else None

    @classmethod
    def from_event(cls, event: OutboxEvent, case_id: uuid.UUID) -> CaseEvent:
        payload = event.payload
        status = payload.get("status")
        version = payload.get("version")
        return cls(
            cursor=str(event.position),
            position=cast(Long, event.position),
            topic=event.topic,
            occurred_at=event.created_at,
            case_id=strawberry.ID(encode_node_id("Case", case_id)),
            reference=payload.get("reference"),
            version=version if isinstance(version, int) else None,
            status=CaseStatusEnum(status)
            if isinstance(status, str) and status in CaseStatusEnum.__members__
            else None,
            payload=cast(JSON, payload),
            key=case_id,
        )

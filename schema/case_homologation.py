"""Homologation tables: each partner's status codes mapped to the canonical states and back,
versioned (a change writes a new version; history is never rewritten)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.cases.homologation import MappingTable, MappingVersion
from schema.cases import CaseStatus, StatusMappingDirection
from schema.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from schema.partners import Partner


@strawberry.type(description="One partner code and the canonical status it stands for.")
class StatusMappingLine:
    partner_code: str
    canonical_status: CaseStatus
    direction: StatusMappingDirection


@strawberry.type(description="One version of a partner's homologation table.")
class StatusMappingTable:
    version: int = strawberry.field(description="0: the partner has no table yet.")
    active_from: datetime | None
    created_by: str | None
    lines: list[StatusMappingLine]
    partner_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def partner(self, info: Info) -> Partner | None:
        model = await info.context.loaders.partner.load(self.partner_id)
        return Partner.from_model(model) if model else None

    @classmethod
    def from_domain(cls, table: MappingTable) -> StatusMappingTable:
        return cls(
            version=table.version,
            active_from=table.active_from,
            created_by=table.created_by,
            lines=[
                StatusMappingLine(
                    partner_code=line.partner_code,
                    canonical_status=line.canonical_status,
                    direction=line.direction,
                )
                for line in table.lines
            ],
            partner_id=table.partner_id,
        )


@strawberry.type
class StatusMappingVersion:
    version: int
    active_from: datetime
    created_by: str
    line_count: int

    @classmethod
    def from_domain(cls, v: MappingVersion) -> StatusMappingVersion:
        return cls(
            version=v.version,
            active_from=v.active_from,
            created_by=v.created_by,
            line_count=v.lines,
        )


@strawberry.input
class StatusMappingLineInput:
    partner_code: str
    canonical_status: CaseStatus
    direction: StatusMappingDirection = StatusMappingDirection.BOTH


@strawberry.input(description="The whole new table (it replaces the current one from activeFrom).")
class UpdateStatusMappingInput:
    partner_id: strawberry.ID
    version: int = strawberry.field(
        description="The latest version you read (0 when the partner has none); a concurrent "
        "change conflicts."
    )
    lines: list[StatusMappingLineInput]
    active_from: datetime | None = strawberry.field(
        default=None, description="Now by default; may be in the future, never in the past."
    )


@strawberry.type
class UpdateStatusMappingSuccess:
    mapping: StatusMappingTable


UpdateStatusMappingPayload = Annotated[
    UpdateStatusMappingSuccess | ValidationError | ForbiddenError | NotFoundError | ConflictError,
    strawberry.union("UpdateStatusMappingPayload"),
]

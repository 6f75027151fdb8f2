from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from domain.shared.audit import AuditRecord as AuditRecordModel
from schema.common import Connection
from schema.scalars import Long


@strawberry.type(description="One link of the hash-chained audit trail.")
class AuditRecord:
    id: strawberry.ID
    seq: Long
    occurred_at: datetime
    actor: str
    actor_kind: str
    partner_id: strawberry.ID | None
    action: str
    entity_type: str
    entity_id: str
    before: JSON | None
    after: JSON | None
    request_id: str | None
    prev_hash: str
    hash: str

    @classmethod
    def from_model(cls, record: AuditRecordModel) -> AuditRecord:
        return cls(
            id=strawberry.ID(str(record.id)),
            seq=Long(record.seq),
            occurred_at=record.occurred_at,
            actor=record.actor,
            actor_kind=record.actor_kind,
            partner_id=strawberry.ID(str(record.partner_id)) if record.partner_id else None,
            action=record.action,
            entity_type=record.entity_type,
            entity_id=record.entity_id,
            before=cast(JSON, record.before),
            after=cast(JSON, record.after),
            request_id=record.request_id,
            prev_hash=record.prev_hash,
            hash=record.hash,
        )


AuditRecordConnection = Connection[AuditRecord]

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.db import read_session
from domain.shared import audit
from domain.shared.ids import parse_uuid
from domain.shared.pagination import clamp_page_size
from resolvers.context import principal_of
from resolvers.pagination import selects, to_connection
from schema.audit import AuditRecord, AuditRecordConnection


def _entity_key(entity_id: str) -> str:
    """Audit records name entities by UUID; a Relay global ID is accepted as well."""
    text = str(entity_id).strip()
    direct = parse_uuid(text)
    if direct is not None:
        return str(direct)
    try:
        inner = parse_uuid(relay.GlobalID.from_id(text).node_id)
    except (ValueError, TypeError, UnicodeError):
        return text
    return str(inner) if inner else text


async def audit_trail(
    info: Info, entity_id: strawberry.ID, first: int | None = None, after: str | None = None
) -> AuditRecordConnection:
    principal = principal_of(info)
    settings = info.context.settings
    limit = clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )
    async with read_session() as session:
        page = await audit.trail(
            session,
            principal=principal,
            entity_id=_entity_key(entity_id),
            limit=limit,
            after=after,
            with_total=selects(info, "totalCount"),
        )
    return to_connection(page, AuditRecord.from_model)

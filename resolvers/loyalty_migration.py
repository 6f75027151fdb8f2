"""``loyaltyMigration(id:)`` and ``loyaltyMigrations``: the legacy migration's runs.

The permission is checked first (so the answer never depends on the arguments of a caller
who may not ask); a run of another partner's program does not exist for the caller.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.db import read_session
from domain.loyalty_migration import reads
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.pagination import clamp_page_size
from resolvers.context import principal_of
from resolvers.ids import decode_node_id
from resolvers.pagination import selects, to_connection
from schema.loyalty_migration import LoyaltyMigration, LoyaltyMigrationConnection


async def loyalty_migration(info: Info, id: strawberry.ID) -> LoyaltyMigration | None:
    principal = principal_of(info)
    reads.ensure_can_read(principal)
    key = decode_node_id(id, "LoyaltyMigration")
    if key is None:
        return None
    async with read_session() as session:
        try:
            run = await reads.get_run(session, principal=principal, run_id=key)
        except NotFound:
            return None
    return LoyaltyMigration.from_model(run)


async def loyalty_migrations(
    info: Info,
    program_id: strawberry.ID | None = None,
    first: int | None = None,
    after: str | None = None,
) -> LoyaltyMigrationConnection:
    principal = principal_of(info)
    reads.ensure_can_read(principal)
    settings = info.context.settings
    limit = clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )
    program = None
    if program_id is not None:
        program = decode_node_id(program_id, "LoyaltyProgram")
        if program is None:
            raise ValidationFailed.on("programId", "is not the id of a LoyaltyProgram")
    async with read_session() as session:
        page = await reads.list_runs(
            session,
            principal=principal,
            program_id=program,
            limit=limit,
            after=after,
            with_total=selects(info, "totalCount"),
        )
    return to_connection(page, LoyaltyMigration.from_model)

"""The nested lists of a migration run (discrepancies, warnings, journal), each read in a
short session of its own (never the request's shared one)."""

from __future__ import annotations

import uuid

from app.db import read_session
from domain.loyalty_migration import reads
from domain.loyalty_migration.models import (
    DiscrepancyKind,
    MigrationBatch,
    MigrationDiscrepancy,
    MigrationIssue,
    MigrationRun,
)
from domain.shared.pagination import Page
from domain.shared.principal import Principal


async def runs(principal: Principal, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, MigrationRun]:
    async with read_session() as session:
        return await reads.get_runs(session, principal=principal, run_ids=run_ids)


async def discrepancy_page(
    run_id: uuid.UUID,
    *,
    kind: DiscrepancyKind | None,
    limit: int,
    after: str | None,
    with_total: bool,
) -> Page[MigrationDiscrepancy]:
    async with read_session() as session:
        return await reads.discrepancies(
            session, run_id=run_id, kind=kind, limit=limit, after=after, with_total=with_total
        )


async def issue_page(run_id: uuid.UUID, *, limit: int, after: str | None) -> Page[MigrationIssue]:
    async with read_session() as session:
        return await reads.issues(session, run_id=run_id, limit=limit, after=after)


async def batch_page(run_id: uuid.UUID, *, limit: int, after: str | None) -> Page[MigrationBatch]:
    async with read_session() as session:
        return await reads.batches(session, run_id=run_id, limit=limit, after=after)

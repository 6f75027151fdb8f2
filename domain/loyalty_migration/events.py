"""The legacy migration's events: a run started, a batch committed, a run completed.

They go to the program's partner; figures only, no personal data and no legacy record.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty.models import LoyaltyProgram
from domain.loyalty_migration.models import MigrationRun, RunStatus
from domain.shared import event_schemas as wire
from domain.shared import outbox
from domain.shared.event_schemas import EventSpec, enum, integer, obj, ref, string

_AUDIENCE = "The program's partner."
_KEY = "The migration's global id."
_RUN = {"migrationId": ref("LoyaltyMigrationId"), "programId": ref("LoyaltyProgramId")}

EVENTS = (
    EventSpec(
        topic="loyalty.migration_started",
        summary="A legacy CRM export passed its validation and its import started.",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The run and what the export holds.",
            {
                **_RUN,
                "cutoff": ref("Date"),
                "exportHash": string("SHA-256 of the export's files and mapping."),
                "members": integer(minimum=0),
                "movements": integer(minimum=0),
                "batches": integer(minimum=0),
            },
        ),
    ),
    EventSpec(
        topic="loyalty.migration_batch_committed",
        summary="One batch of legacy members was written and journaled.",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The batch's place in the journal and its figures.",
            {
                **_RUN,
                "seq": integer(minimum=1),
                "members": integer(minimum=0),
                "movements": integer(minimum=0),
                "legacyPoints": integer("Sum of the batch's legacy movements' points."),
                "migratedPoints": integer("Sum of the batch's balances in Trama at the cut-off."),
                "hash": string("The batch's journal hash."),
            },
        ),
    ),
    EventSpec(
        topic="loyalty.migration_completed",
        summary="Every batch is written and the after-proofs ran.",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The proofs' figures.",
            {
                **_RUN,
                "status": enum([RunStatus.COMPLETED.value]),
                "balancesAgreeing": integer(minimum=0),
                "balancesDiffering": integer(minimum=0),
                "monthsDiffering": integer(minimum=0),
                "shadowMembersDiffering": integer(minimum=0),
                "journalHead": string(),
            },
        ),
    ),
)


def emit(
    session: AsyncSession,
    topic: str,
    run: MigrationRun,
    program: LoyaltyProgram,
    payload: dict[str, Any],
) -> None:
    key = wire.global_id("LoyaltyMigration", run.id)
    body = {
        "migrationId": key,
        "programId": wire.global_id("LoyaltyProgram", program.id),
        **payload,
    }
    outbox.add(session, topic, body, partner_ids=[program.partner_id], key=key)

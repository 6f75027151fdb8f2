"""Helpers of the legacy migration's tests: a program to import into, the import through
the same edge the CLI uses (one pinned connection, a transaction per batch), read-backs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.db import read_session, transaction
from app.loyalty_migration_cli import PinnedConnection, drop_staging
from domain.loyalty import accounts as loyalty_accounts
from domain.loyalty import balances as loyalty_balances
from domain.loyalty.models import LoyaltyAccount, LoyaltyProgram
from domain.loyalty_migration import importer, reconcile
from domain.loyalty_migration.generator import GeneratedExport
from domain.loyalty_migration.mapping import load_mapping
from domain.loyalty_migration.models import LegacyMovement, MigrationDiscrepancy, MigrationRun
from domain.partners.models import Partner
from domain.shared.principal import SYSTEM, Principal
from domain.tables import metadata


async def make_program(code: str = "PUNTOSPLUS", partner_code: str | None = None) -> LoyaltyProgram:
    async with transaction() as session:
        query = sa.select(Partner).order_by(Partner.code)
        if partner_code:
            query = query.where(Partner.code == partner_code)
        partner = (await session.execute(query.limit(1))).scalar_one()
        return await loyalty_accounts.create_program(
            session,
            SYSTEM,
            partner_id=partner.id,
            code=code,
            settings=loyalty_accounts.ProgramSettings(
                name="PuntosPlus",
                unit_name="Puntos",
                point_value="0.50",
                currency="ARS",
                timezone="America/Argentina/Buenos_Aires",
                expiry_policy="END_OF_MONTH",
                expiry_count=24,
            ),
        )


async def run_import(
    folder: Path,
    program: LoyaltyProgram,
    *,
    principal: Principal = SYSTEM,
    dry_run: bool = False,
    shadow: bool = True,
    **options: Any,
) -> tuple[importer.ImportResult, reconcile.Reconciliation | None]:
    """What ``trama loyalty import`` does."""
    mapping = load_mapping(folder / "mapping.yaml")
    async with PinnedConnection(dry_run=dry_run) as pinned:
        try:
            result = await importer.import_export(
                pinned.unit,
                principal=principal,
                folder=folder,
                mapping=mapping,
                options=importer.ImportOptions(program_code=program.code, **options),
            )
            proof = None
            if result.outcome == importer.Outcome.IMPORTED and options.get("max_batches") is None:
                proof = await reconcile.reconcile(
                    pinned.unit, principal=principal, run_id=result.run_id, shadow=shadow
                )
            return result, proof
        finally:
            await drop_staging(pinned)


async def row_counts() -> dict[str, int]:
    async with read_session() as session:
        out = {}
        for table in metadata.sorted_tables:
            out[table.name] = (
                await session.execute(sa.select(sa.func.count()).select_from(table))
            ).scalar_one()
        return out


async def balances_at_cutoff(program: LoyaltyProgram, cutoff: date) -> dict[str, int]:
    """Each migrated member's balance at the end of the cut-off day, read from the ledger."""
    async with read_session() as session:
        table = sa.inspect(LoyaltyAccount).local_table
        rows = (
            await session.execute(
                sa.select(table.c.id, table.c.external_ref).where(table.c.program_id == program.id)
            )
        ).all()
        figures = await loyalty_balances.balances(
            session,
            account_ids=[r.id for r in rows],
            as_of=reconcile.end_of_day(cutoff, ZoneInfo(program.timezone)),
        )
    return {r.external_ref: figures[r.id].total for r in rows}


async def get_run(run_id: uuid.UUID | None) -> MigrationRun:
    assert run_id is not None
    async with read_session() as session:
        run = await session.get(MigrationRun, run_id)
    assert run is not None
    return run


def differing(
    counts: dict[str, int], other: dict[str, int], names: Sequence[str] = ()
) -> dict[str, tuple[int, int]]:
    keys = names or sorted(set(counts) | set(other))
    return {
        k: (counts.get(k, 0), other.get(k, 0)) for k in keys if counts.get(k, 0) != other.get(k, 0)
    }


async def assert_balances_proven(
    program: LoyaltyProgram, export: GeneratedExport, run_id: uuid.UUID | None
) -> int:
    """Every member's balance at the cut-off, read from the ledger, is the legacy one (a
    legacy reversal takes its points back from its purchase's own lot, as the legacy system
    does). Returns how many members differ: 0."""
    found = await balances_at_cutoff(program, export.cutoff)
    expected = {member: facts.balance for member, facts in export.facts.items()}
    assert set(found) == set(expected)
    off = {m: (found[m], expected[m]) for m in expected if found[m] != expected[m]}
    assert off == {}
    return len(off)


async def assert_differences_explained(
    program: LoyaltyProgram, export: GeneratedExport, run_id: uuid.UUID | None
) -> int:
    """For an import whose reversals the ledger took from other lots than their purchase's
    (the writer not told which purchase they refund): the run's discrepancy report explains
    each member's whole difference at the cut-off by the expiries that differ and the
    reversals that took their points from other lots. Returns how many members differ."""
    found = await balances_at_cutoff(program, export.cutoff)
    expected = {member: facts.balance for member, facts in export.facts.items()}
    assert set(found) == set(expected)
    off = {m: (found[m], expected[m]) for m in expected if found[m] != expected[m]}
    async with read_session() as session:
        rows = (
            (
                await session.execute(
                    sa.select(MigrationDiscrepancy).where(
                        MigrationDiscrepancy.run_id == run_id,
                        MigrationDiscrepancy.kind == "BALANCE",
                    )
                )
            )
            .scalars()
            .all()
        )
        reversals = {
            (r.member_no, r.movement_id): r.origin_id
            for r in (
                await session.execute(
                    sa.select(LegacyMovement).where(
                        LegacyMovement.run_id == run_id, LegacyMovement.kind == "REVERSAL"
                    )
                )
            ).scalars()
        }
    by_member = {r.member_no: r for r in rows}
    assert set(by_member) == set(off)
    for member, (trama, legacy) in off.items():
        row = by_member[member]
        assert (row.trama_points, row.legacy_points, row.difference) == (
            trama,
            legacy,
            trama - legacy,
        )
        causes = row.explanation["explainedBy"]
        assert [c["cause"] for c in causes] == ["EXPIRED_DIFFERENTLY"], causes
        assert causes[0]["points"] == trama - legacy
        refunds = causes[0]["becauseOfRefunds"]
        assert refunds and all(r["pointsFromOtherLots"] > 0 for r in refunds)
        # each one the member's own legacy reversal, of the purchase it names
        assert all(reversals.get((member, r["id"])) == r["purchase"] for r in refunds), refunds
    return len(off)

"""The proofs on clean data: every member's balance is the legacy one at the cut-off, read
back from the ledger, after a whole import and after an interrupted one resumed.

The legacy system takes a reversal back from its purchase's own lot, and so does the
ledger's bulk path (``HistoryMovement.refund_of``): the proof is exact. Were a reversal
taken from the lots that expire first instead, other lots would be left to expire and some
members' balances would differ: the discrepancy report must then explain every such
difference by those reversals (tested by writing the history without ``refund_of``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import Database, read_session
from domain.loyalty import bulk
from domain.loyalty.models import LoyaltyEntry
from domain.loyalty_migration import importer, journal
from domain.loyalty_migration.generator import generate
from domain.loyalty_migration.models import (
    LegacyMember,
    LegacyMovement,
    MigrationBatch,
    MigrationDiscrepancy,
    MigrationRun,
)
from tests.domain.loyalty_migration.support import (
    assert_balances_proven,
    assert_differences_explained,
    balances_at_cutoff,
    get_run,
    make_program,
    row_counts,
    run_import,
)


async def test_a_clean_export_is_proven_member_by_member(db: Database, tmp_path: Path) -> None:
    export = generate(tmp_path, members=60, transactions=1_500, seed=41, keep_facts=True)
    program = await make_program()
    result, proof = await run_import(tmp_path, program, batch_size=400)

    assert result.outcome == importer.Outcome.IMPORTED
    assert proof is not None
    run = await get_run(result.run_id)
    assert run.status == "COMPLETED"
    assert run.batches_done == run.batches_planned >= 3
    # Member by member, from the ledger: the balance at the end of the cut-off day is the
    # legacy system's.
    found = await balances_at_cutoff(program, export.cutoff)
    expected = {member: facts.balance for member, facts in export.facts.items()}
    assert found == expected
    assert (proof.agreeing, proof.differing, proof.months_differing) == (60, 0, 0)
    assert proof.shadow_purchases > 0 and proof.shadow_differing == 0
    assert run.legacy_points == run.migrated_points == export.points_total
    async with read_session() as session:
        (check,) = await journal.verify_all(session, [run.id])
        kinds = (
            (
                await session.execute(
                    sa.select(MigrationDiscrepancy.kind).where(
                        MigrationDiscrepancy.run_id == run.id
                    )
                )
            )
            .scalars()
            .all()
        )
    assert check.ok and check.batches == run.batches_done
    assert kinds == []


async def test_an_interrupted_import_is_resumed(db: Database, tmp_path: Path) -> None:
    export = generate(tmp_path, members=40, transactions=800, seed=12, keep_facts=True)
    program = await make_program()
    first, _ = await run_import(tmp_path, program, batch_size=100, max_batches=2)
    run = await get_run(first.run_id)
    assert (run.status, run.batches_done) == ("IMPORTING", 2) and run.batches_planned > 4
    async with read_session() as session:
        half = (
            await session.execute(sa.select(sa.func.count()).select_from(LoyaltyEntry))
        ).scalar_one()

    second, proof = await run_import(tmp_path, program, batch_size=100)
    assert second.resumed and second.run_id == first.run_id
    assert second.batches_written == run.batches_planned - 2
    assert proof is not None
    differing = await assert_balances_proven(program, export, first.run_id)
    assert (proof.agreeing, proof.differing) == (40 - differing, differing)
    async with read_session() as session:
        entries = (
            await session.execute(
                sa.select(LoyaltyEntry.dedupe_key, sa.func.count()).group_by(
                    LoyaltyEntry.dedupe_key
                )
            )
        ).all()
        (check,) = await journal.verify_all(session, [first.run_id])
    assert half < len(entries) and all(n == 1 for _, n in entries)
    assert check.ok


async def test_every_difference_is_explained_when_reversals_take_other_lots(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same export as the exact proof, written without telling the ledger which purchase
    each reversal refunds (so it takes them from the lots that expire first): where a
    balance then differs, the report says by how much, which days Trama expired other
    points than the legacy system (with the legacy expiry rows) and which reversals caused
    it."""
    real_write = bulk.write_history

    async def write_without_refund_of(
        session: Any, *, movements: Sequence[bulk.HistoryMovement], **kwargs: Any
    ) -> bulk.HistoryResult:
        plain = [dataclasses.replace(m, refund_of=None) for m in movements]
        return await real_write(session, movements=plain, **kwargs)

    monkeypatch.setattr(bulk, "write_history", write_without_refund_of)
    export = generate(tmp_path, members=60, transactions=1_500, seed=41, keep_facts=True)
    program = await make_program()
    result, proof = await run_import(tmp_path, program, batch_size=400)
    assert proof is not None
    differing = await assert_differences_explained(program, export, result.run_id)
    assert (proof.agreeing, proof.differing) == (60 - differing, differing)
    assert differing > 0  # this seed has reversals taken from other lots
    async with read_session() as session:
        days = (
            (
                await session.execute(
                    sa.select(MigrationDiscrepancy).where(
                        MigrationDiscrepancy.run_id == result.run_id,
                        MigrationDiscrepancy.kind == "EXPIRY",
                    )
                )
            )
            .scalars()
            .all()
        )
        months = (
            (
                await session.execute(
                    sa.select(MigrationDiscrepancy).where(
                        MigrationDiscrepancy.run_id == result.run_id,
                        MigrationDiscrepancy.kind == "MONTH",
                    )
                )
            )
            .scalars()
            .all()
        )
    # the days that differ, each with what each system expired and the legacy rows
    assert days
    by_month: dict[str, int] = {}
    for day in days:
        why = day.explanation
        assert day.difference == why["legacyExpired"] - why["tramaExpired"] != 0
        assert sum(-m["points"] for m in why["legacyMovements"]) == why["legacyExpired"]
        ran = date.fromisoformat(day.period) + timedelta(days=1)  # the expiry runs next day
        key = f"{ran.year:04d}-{ran.month:02d}"
        by_month[key] = by_month.get(key, 0) + day.difference
    # only the months' expiries differ, each by exactly those member-days
    assert proof.months_differing == len(months) > 0
    assert {m.movement_kind for m in months} == {"EXPIRY"}
    assert {m.period: m.difference for m in months} == {k: v for k, v in by_month.items() if v}
    for month in months:
        assert month.explanation["expiryDiscrepancies"]["points"] == month.difference


async def test_the_shadow_run_finds_rules_that_would_have_earned_otherwise(
    db: Database, tmp_path: Path
) -> None:
    """The legacy parameters say supermarkets earned 0.025 points per peso until June 2025,
    but the legacy history was earned at 0.02: the rules migrated from those parameters,
    replayed over the legacy purchases, give other points, and the shadow run reports the
    members whose purchases differ, with the purchases that differ most."""
    export = generate(tmp_path, members=40, transactions=1_000, seed=17, keep_facts=True)
    parameters = export.files["parameters"]
    text = parameters.read_text(encoding="latin-1")
    line = "RUBRO;5411;SUPERMERCADOS;0,02;01/12/2023;30/06/2025"
    assert line in text
    parameters.write_text(text.replace(line, line.replace("0,02", "0,025")), encoding="latin-1")
    program = await make_program()
    result, proof = await run_import(tmp_path, program, batch_size=300)
    assert proof is not None and proof.shadow_purchases > 0
    async with read_session() as session:
        rows = (
            (
                await session.execute(
                    sa.select(MigrationDiscrepancy).where(
                        MigrationDiscrepancy.run_id == result.run_id,
                        MigrationDiscrepancy.kind == "SHADOW",
                    )
                )
            )
            .scalars()
            .all()
        )
        early_supermarket = set(
            (
                await session.execute(
                    sa.select(LegacyMovement.member_no).where(
                        LegacyMovement.run_id == result.run_id,
                        LegacyMovement.kind == "ACCRUAL",
                        LegacyMovement.mcc == "5411",
                        LegacyMovement.occurred_on <= date(2025, 6, 30),
                    )
                )
            ).scalars()
        )
    assert proof.shadow_differing == len(rows) > 0
    # only members who bought at a supermarket under the altered rate can differ, and most do
    assert {r.member_no for r in rows} <= early_supermarket
    assert len(rows) >= len(early_supermarket) // 2
    assert proof.shadow_difference_points == sum(abs(r.difference) for r in rows)
    for row in rows:
        assert row.difference == row.trama_points - row.legacy_points != 0
        examples = row.explanation["examples"]
        assert examples and all(e["legacyPoints"] != e["tramaPoints"] for e in examples)
        worst = examples[0]
        assert (worst["mcc"], worst["on"] <= "2025-06-30") == ("5411", True), worst
        assert worst["tramaPoints"] > worst["legacyPoints"]
    # the balances are the legacy history's, whatever the rules say
    await assert_balances_proven(program, export, result.run_id)


async def test_a_batch_that_fails_midway_leaves_nothing_and_is_redone(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch 3 fails after its customers, accounts and ledger history were written (while
    archiving its legacy records): its transaction takes all of it back, the checkpoint
    stays at batch 2, and the same import again writes batch 3 and the rest once."""
    export = generate(tmp_path, members=40, transactions=800, seed=12, keep_facts=True)
    program = await make_program()
    real_archive = importer._archive

    async def failing_archive(session: Any, run_id: Any, seq: int, *args: Any) -> None:
        await real_archive(session, run_id, seq, *args)
        if seq == 3:
            raise RuntimeError("the connection went away in the middle of batch 3")

    before = await row_counts()
    monkeypatch.setattr(importer, "_archive", failing_archive)
    with pytest.raises(RuntimeError, match="batch 3"):
        await run_import(tmp_path, program, batch_size=100)
    monkeypatch.setattr(importer, "_archive", real_archive)

    async with read_session() as session:
        run = (await session.execute(sa.select(MigrationRun))).scalar_one()
        batches = set((await session.execute(sa.select(MigrationBatch.id))).scalars())
        written = set(
            (
                await session.execute(
                    sa.select(LoyaltyEntry.migration_batch_id)
                    .where(LoyaltyEntry.migration_batch_id.is_not(None))  # type: ignore[union-attr]
                    .distinct()
                )
            ).scalars()
        )
        archived = set(
            (await session.execute(sa.select(LegacyMember.batch_seq).distinct())).scalars()
        )
        members_written = (
            await session.execute(sa.select(sa.func.count()).select_from(LegacyMember))
        ).scalar_one()
    assert (run.batches_done, run.status) == (2, "IMPORTING") and run.batches_planned > 3
    assert written == batches and len(batches) == 2 and archived == {1, 2}
    after = await row_counts()
    # exactly two batches' members became customers and accounts
    assert after["loyalty_accounts"] - before["loyalty_accounts"] == members_written
    assert after["loyalty_entries"] > before["loyalty_entries"]

    again, proof = await run_import(tmp_path, program, batch_size=100)
    assert again.resumed and again.run_id == run.id
    assert again.batches_written == run.batches_planned - 2
    assert proof is not None
    await assert_balances_proven(program, export, run.id)
    async with read_session() as session:
        duplicates = (
            await session.execute(
                sa.select(LoyaltyEntry.dedupe_key)
                .where(LoyaltyEntry.program_id == program.id)
                .group_by(LoyaltyEntry.dedupe_key)
                .having(sa.func.count() > 1)
            )
        ).all()
        (check,) = await journal.verify_all(session, [run.id])
    assert duplicates == [] and check.ok and check.batches == run.batches_planned
    assert (await row_counts())["loyalty_accounts"] - before["loyalty_accounts"] == 40

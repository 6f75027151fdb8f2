"""During and after the migration: a clean export proven member by member, a legacy balance
that disagrees explained, reruns that write nothing, a dry run that writes nothing, an
interrupted import resumed, the journal re-proved from the archive, tampering found."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from stdnum.ar import cuit

from app.db import Database, read_session, transaction
from domain.customers import service as customers
from domain.loyalty.models import LoyaltyAccount
from domain.loyalty_migration import importer, journal
from domain.loyalty_migration.generator import generate
from domain.loyalty_migration.models import (
    LegacyMember,
    LegacyMovement,
    MigrationBatch,
    MigrationDiscrepancy,
    MigrationRun,
)
from domain.shared.errors import Conflict, Forbidden, NotFound
from domain.shared.models import table_of
from domain.shared.principal import ROLE_SCOPES, Principal, Role
from tests.domain.loyalty_migration.support import (
    differing,
    get_run,
    make_program,
    row_counts,
    run_import,
)


async def test_a_legacy_balance_that_disagrees_is_explained(db: Database, tmp_path: Path) -> None:
    export = generate(
        tmp_path, members=20, transactions=400, seed=5, defects={"balance_mismatch": 2}
    )
    program = await make_program()
    result, proof = await run_import(tmp_path, program)
    assert result.outcome == importer.Outcome.IMPORTED  # a warning: imported, then explained
    assert proof is not None and proof.differing >= 2
    async with read_session() as session:
        rows = (
            (
                await session.execute(
                    sa.select(MigrationDiscrepancy).where(
                        MigrationDiscrepancy.run_id == result.run_id,
                        MigrationDiscrepancy.kind == "BALANCE",
                        MigrationDiscrepancy.member_no.in_(list(export.omitted)),
                    )
                )
            )
            .scalars()
            .all()
        )
    assert {r.member_no for r in rows} == set(export.omitted)
    for row in rows:
        causes = {c["cause"]: c for c in row.explanation["explainedBy"]}
        cause = causes["LEGACY_BALANCE_DISAGREES_WITH_ITS_MOVEMENTS"]
        # the legacy balance leaves out exactly the omitted movement's points
        assert sum(c["points"] for c in causes.values()) == row.difference
        assert export.omitted[row.member_no] in {c["id"] for c in cause["candidates"]}


async def test_running_it_again_writes_nothing(db: Database, tmp_path: Path) -> None:
    generate(tmp_path, members=15, transactions=300, seed=8)
    program = await make_program()
    first, _ = await run_import(tmp_path, program)
    before = await row_counts()
    again, proof = await run_import(tmp_path, program)
    assert again.outcome == importer.Outcome.ALREADY_IMPORTED
    assert again.run_id == first.run_id and proof is None
    assert differing(before, await row_counts()) == {}


async def test_a_dry_run_writes_nothing(db: Database, tmp_path: Path) -> None:
    generate(tmp_path, members=15, transactions=300, seed=9)
    program = await make_program()
    before = await row_counts()
    result, proof = await run_import(tmp_path, program, dry_run=True)
    assert result.outcome == importer.Outcome.IMPORTED and proof is not None
    assert proof.members == 15  # it did everything …
    assert differing(before, await row_counts()) == {}  # … and kept nothing
    # and the real import afterwards is a first import
    result, _ = await run_import(tmp_path, program)
    assert result.outcome == importer.Outcome.IMPORTED and not result.resumed


async def test_an_export_with_errors_writes_nothing(db: Database, tmp_path: Path) -> None:
    generate(tmp_path, members=15, transactions=300, seed=10, defects={"orphan_movement": 1})
    program = await make_program()
    before = await row_counts()
    result, proof = await run_import(tmp_path, program)
    assert result.outcome == importer.Outcome.REJECTED and proof is None
    assert result.validation.log.counts["ORPHAN_MOVEMENT"] == 1
    assert differing(before, await row_counts()) == {}


async def test_resuming_with_other_files_is_refused(db: Database, tmp_path: Path) -> None:
    generate(tmp_path, members=20, transactions=400, seed=13)
    program = await make_program()
    first, _ = await run_import(tmp_path, program, batch_size=100, max_batches=1)
    other = tmp_path / "other"
    generate(other, members=20, transactions=400, seed=14)
    with pytest.raises(Conflict):
        await run_import(other, program, resume_run_id=first.run_id)


async def test_the_journal_finds_tampering(db: Database, tmp_path: Path) -> None:
    generate(tmp_path, members=30, transactions=600, seed=15)
    program = await make_program()
    result, _ = await run_import(tmp_path, program, batch_size=150)
    movements = table_of(LegacyMovement)
    async with transaction() as session:
        victim = (
            await session.execute(
                sa.select(movements.c.movement_id, movements.c.batch_seq)
                .where(movements.c.run_id == result.run_id, movements.c.batch_seq == 2)
                .limit(1)
            )
        ).one()
        await session.execute(
            sa.update(movements)
            .where(
                movements.c.run_id == result.run_id, movements.c.movement_id == victim.movement_id
            )
            .values(points=movements.c.points + 1)
        )
    async with read_session() as session:
        (check,) = await journal.verify_all(session, [result.run_id])
    assert not check.ok and check.broken_seq == 2
    # undo, then break the chain itself
    async with transaction() as session:
        await session.execute(
            sa.update(movements)
            .where(
                movements.c.run_id == result.run_id, movements.c.movement_id == victim.movement_id
            )
            .values(points=movements.c.points - 1)
        )
        batches = table_of(MigrationBatch)
        await session.execute(
            sa.update(batches)
            .where(batches.c.run_id == result.run_id, batches.c.seq == 3)
            .values(legacy_points=batches.c.legacy_points + 5)
        )
    async with read_session() as session:
        (check,) = await journal.verify_all(session, [result.run_id])
    assert not check.ok and check.broken_seq == 3


async def test_members_who_are_customers_keep_their_customer(db: Database, tmp_path: Path) -> None:
    program = await make_program()
    cuil = "27" + "31222333"
    cuil += cuit.calc_check_digit(cuil)
    async with transaction() as session:
        existing = await customers.create_customer(
            session,
            principal=Principal(
                subject="t", roles=frozenset({Role.ADMIN}), scopes=ROLE_SCOPES[Role.ADMIN]
            ),
            national_id_type="AR_CUIL",
            national_id=cuil,
            given_names="Lucía",
            family_names="Benítez",
            home_partner_id=program.partner_id,
        )
    generate(tmp_path, members=10, transactions=150, seed=16, national_ids=[("DNI", "31.222.333")])
    result, _ = await run_import(tmp_path, program)
    run = await get_run(result.run_id)
    assert run.counts["customersMatched"] == 1 and run.counts["customersCreated"] == 9
    async with read_session() as session:
        member = (
            await session.execute(
                sa.select(LegacyMember).where(LegacyMember.run_id == run.id, LegacyMember.line == 2)
            )
        ).scalar_one()
        account = await session.get(LoyaltyAccount, member.account_id)
    assert member.customer_existed and member.customer_id == existing.id
    assert account is not None and account.customer_id == existing.id
    assert account.external_ref == member.member_no


async def test_only_the_programs_managers_import(db: Database, tmp_path: Path) -> None:
    generate(tmp_path, members=5, transactions=50, seed=17)
    program = await make_program()
    agent = Principal(
        subject="t:agent", roles=frozenset({Role.AGENT}), scopes=ROLE_SCOPES[Role.AGENT],
        partner_id=program.partner_id,
    )  # fmt: skip
    with pytest.raises(Forbidden):
        await run_import(tmp_path, program, principal=agent)
    async with read_session() as session:
        from domain.partners.models import Partner

        other = (
            await session.execute(
                sa.select(Partner).where(Partner.id != program.partner_id).limit(1)
            )
        ).scalar_one()
    stranger = Principal(
        subject="t:sup", roles=frozenset({Role.SUPERVISOR}), scopes=ROLE_SCOPES[Role.SUPERVISOR],
        partner_id=other.id,
    )  # fmt: skip
    with pytest.raises(NotFound):
        await run_import(tmp_path, program, principal=stranger)
    assert (await row_counts())[table_of(MigrationRun).name] == 0

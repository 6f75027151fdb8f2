"""The legacy import as an operator runs it: ``trama loyalty import`` in a real process,
killed with SIGKILL in the middle of its batches, then run again: it resumes from its last
committed batch, writes nothing twice, and every member's balance is the legacy one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from app.db import Database, read_session
from domain.loyalty.models import LoyaltyEntry
from domain.loyalty_migration import journal
from domain.loyalty_migration.generator import generate
from domain.loyalty_migration.models import MigrationBatch, MigrationRun
from tests.domain.loyalty_migration.support import assert_balances_proven, make_program
from tests.e2e.conftest import server_env, trama_executable


async def _run_state() -> tuple[int, int] | None:
    async with read_session() as session:
        row = (
            await session.execute(
                sa.select(MigrationRun.batches_done, MigrationRun.batches_planned)
            )
        ).first()
    return (row[0], row[1]) if row else None


async def _run_id() -> uuid.UUID:
    async with read_session() as session:
        return (await session.execute(sa.select(MigrationRun.id))).scalar_one()


async def test_a_killed_import_resumes_where_it_stopped(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    export = generate(folder, members=120, transactions=2_400, seed=31, keep_facts=True)
    program = await make_program()
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = server_env(database_url, var_dir)
    command = [
        trama_executable(), "loyalty", "import", str(folder), "--program", program.code,
        "--batch-size", "150", "--no-shadow",
    ]  # fmt: skip
    log_path = tmp_path / "import.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--pause-ms", "400"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        state = None
        while time.monotonic() < deadline:
            state = await _run_state()
            if state is not None and state[0] >= 3:
                break
            assert process.poll() is None, log_path.read_text()
            await asyncio.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)  # mid-import, between or inside a batch
        process.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    state = await _run_state()
    assert state is not None
    done, planned = state
    assert 3 <= done < planned, log_path.read_text()
    async with read_session() as session:
        # Only committed batches left anything: every entry belongs to a journaled batch.
        batch_ids = set((await session.execute(sa.select(MigrationBatch.id))).scalars())
        # (the seed's own program has entries of its own, written by no migration)
        written = set(
            (
                await session.execute(
                    sa.select(LoyaltyEntry.migration_batch_id)
                    .where(LoyaltyEntry.migration_batch_id.is_not(None))  # type: ignore[union-attr]
                    .distinct()
                )
            ).scalars()
        )
    assert written == batch_ids and len(batch_ids) == done

    resumed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    # exit 0, or 1 when the proofs report discrepancies (checked below)
    assert resumed.returncode in (0, 1), resumed.stderr
    assert "resumed=True" in resumed.stderr
    assert await _run_state() == (planned, planned)
    run_id = await _run_id()
    differing = await assert_balances_proven(program, export, run_id)
    assert resumed.returncode == (1 if differing else 0)
    async with read_session() as session:
        duplicates = (
            await session.execute(
                sa.select(LoyaltyEntry.dedupe_key)
                .group_by(LoyaltyEntry.dedupe_key)
                .having(sa.func.count() > 1)
            )
        ).all()
        checks = await journal.verify_all(session)
    assert duplicates == []
    assert [c.ok for c in checks] == [True] and checks[0].batches == planned

    again = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 0 and "already imported" in again.stdout

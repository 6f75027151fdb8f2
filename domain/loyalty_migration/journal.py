"""The migration journal: every batch's legacy content hashed and chained to the previous
batch, like the audit trail (``domain/shared/audit.py``).

A batch's *content hash* is the SHA-256 of its legacy records (members, accounts, movements,
balances, each with the line it came from) in a canonical form — sorted by key, typed values
as JSON — so it can be recomputed at any time from the ``loyalty_legacy_*`` rows. The
batch's *hash* covers its figures, its content hash and the previous batch's hash. Changing,
adding or removing one legacy record, or one batch, breaks the chain at that batch:
``trama loyalty verify-journal`` walks it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty_migration.models import (
    LegacyAccount,
    LegacyBalance,
    LegacyMember,
    LegacyMovement,
    MigrationBatch,
    MigrationRun,
)
from domain.shared.models import table_of

GENESIS = "0" * 64

#: The legacy fields of each record, in the canonical order (the line first).
MEMBER_FIELDS = (
    "line", "member_no", "document_type", "document_number", "family_names", "given_names",
    "birth_date", "joined_on", "segment", "status", "email", "address",
)  # fmt: skip
ACCOUNT_FIELDS = ("line", "account_no", "member_no", "product", "opened_on", "status")
MOVEMENT_FIELDS = (
    "line", "movement_id", "member_no", "account_no", "occurred_on", "occurred_time", "kind",
    "mcc", "merchant", "amount", "currency", "points", "origin_id", "expires_on", "reason",
    "operator",
)  # fmt: skip
BALANCE_FIELDS = ("line", "member_no", "cutoff", "points", "next_expiry_points", "next_expiry_on")


def content_hash(
    members: Iterable[Sequence[Any]],
    accounts: Iterable[Sequence[Any]],
    movements: Iterable[Sequence[Any]],
    balances: Iterable[Sequence[Any]],
) -> str:
    """SHA-256 of the batch's legacy records (tuples in the ``*_FIELDS`` orders), each kind
    sorted by its key (the second field)."""
    digest = hashlib.sha256()
    for name, rows in (
        ("members", members),
        ("accounts", accounts),
        ("movements", movements),
        ("balances", balances),
    ):
        ordered = sorted((tuple(r) for r in rows), key=lambda r: (r[1], r[0]))
        digest.update(name.encode())
        digest.update(orjson.dumps(ordered))
    return digest.hexdigest()


def batch_hash(
    *,
    run_id: uuid.UUID,
    seq: int,
    first_member: str,
    last_member: str,
    members: int,
    accounts: int,
    movements: int,
    legacy_points: int,
    entries: int,
    migrated_points: int,
    content: str,
    prev_hash: str,
) -> str:
    fields = {
        "run": str(run_id),
        "seq": seq,
        "firstMember": first_member,
        "lastMember": last_member,
        "members": members,
        "accounts": accounts,
        "movements": movements,
        "legacyPoints": legacy_points,
        "entries": entries,
        "migratedPoints": migrated_points,
        "contentHash": content,
        "prevHash": prev_hash,
    }
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def hash_of(batch: MigrationBatch, content: str | None = None) -> str:
    return batch_hash(
        run_id=batch.run_id,
        seq=batch.seq,
        first_member=batch.first_member,
        last_member=batch.last_member,
        members=batch.members,
        accounts=batch.accounts,
        movements=batch.movements,
        legacy_points=batch.legacy_points,
        entries=batch.entries,
        migrated_points=batch.migrated_points,
        content=content if content is not None else batch.content_hash,
        prev_hash=batch.prev_hash,
    )


@dataclass(frozen=True)
class JournalCheck:
    run_id: uuid.UUID
    ok: bool
    batches: int
    head: str
    broken_seq: int | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"run {self.run_id}: ok ({self.batches} batches, head {self.head[:16]}…)"
        return f"run {self.run_id}: broken at batch {self.broken_seq}: {self.reason}"


async def _rows_by_batch(
    session: AsyncSession, model: type[Any], fields: Sequence[str], run_id: uuid.UUID, seq: int
) -> list[tuple[Any, ...]]:
    table = table_of(model)
    query = sa.select(*(table.c[f] for f in fields)).where(
        table.c.run_id == run_id, table.c.batch_seq == seq
    )
    return [tuple(r) for r in (await session.execute(query)).all()]


async def recompute_content(session: AsyncSession, run_id: uuid.UUID, seq: int) -> tuple[str, int]:
    """A batch's content hash from the archived legacy rows, and how many movements."""
    movements = await _rows_by_batch(session, LegacyMovement, MOVEMENT_FIELDS, run_id, seq)
    return (
        content_hash(
            await _rows_by_batch(session, LegacyMember, MEMBER_FIELDS, run_id, seq),
            await _rows_by_batch(session, LegacyAccount, ACCOUNT_FIELDS, run_id, seq),
            movements,
            await _rows_by_batch(session, LegacyBalance, BALANCE_FIELDS, run_id, seq),
        ),
        len(movements),
    )


async def verify_run(session: AsyncSession, run: MigrationRun) -> JournalCheck:
    """Walk one run's chain: each batch's content recomputed from the archive, its hash
    recomputed, its link to the previous one, and the run's head."""
    table = table_of(MigrationBatch)
    rows = (
        await session.execute(
            sa.select(MigrationBatch).where(table.c.run_id == run.id).order_by(table.c.seq)
        )
    ).scalars()
    prev = GENESIS
    count = 0
    for batch in rows:
        count += 1
        if batch.seq != count:
            return JournalCheck(run.id, False, count - 1, prev, count, f"batch {count} is missing")
        if batch.prev_hash != prev:
            return JournalCheck(
                run.id, False, count - 1, prev, batch.seq, "it does not point at the previous batch"
            )
        content, movements = await recompute_content(session, run.id, batch.seq)
        if content != batch.content_hash or movements != batch.movements:
            return JournalCheck(
                run.id,
                False,
                count - 1,
                prev,
                batch.seq,
                "its legacy records were altered, added or removed since it was written",
            )
        if hash_of(batch) != batch.hash:
            return JournalCheck(run.id, False, count - 1, prev, batch.seq, "its entry was altered")
        prev = batch.hash
    if prev != run.journal_head or count != run.batches_done:
        return JournalCheck(
            run.id,
            False,
            count,
            prev,
            count + 1 if count < run.batches_done else count,
            f"the run's head says {run.batches_done} batches ending in {run.journal_head[:16]}…",
        )
    return JournalCheck(run.id, True, count, prev)


async def verify_all(
    session: AsyncSession, run_ids: Sequence[uuid.UUID] | None = None
) -> list[JournalCheck]:
    query = sa.select(MigrationRun).order_by(table_of(MigrationRun).c.started_at)
    if run_ids:
        query = query.where(table_of(MigrationRun).c.id.in_(list(run_ids)))
    runs = list((await session.execute(query)).scalars())
    return [await verify_run(session, run) for run in runs]

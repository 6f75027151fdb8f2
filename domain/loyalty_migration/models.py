"""The legacy CRM migration: runs, their hash-chained journal of batches, the legacy history
kept as it was exported, and what the proofs found (issue 13).

- :class:`MigrationRun` — one import of one export folder into one program: its files'
  digests (the run's identity: the same export again is the same run), the mapping, the
  cut-off, where it stands (checkpoint), its figures and the journal's head.
- :class:`MigrationBatch` — the journal: each batch (a range of members, in its own
  transaction) with the hash of its legacy content, chained to the previous batch's hash;
  its id is the ``migration_batch_id`` of the ledger rows it wrote.
- ``loyalty_legacy_*`` — the legacy records of every batch, typed but unchanged: the
  history survives the migration and the journal can be re-proved from it.
- :class:`MigrationDiscrepancy` — what the after-proofs found: a member's balance that
  differs, a month whose totals differ, an expiry Trama computed differently, a member whose
  accruals the migrated rules compute differently (the shadow run).
- :class:`MigrationIssue` — the validation's findings kept with the run (warnings: a run
  with errors is never started).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import JSONType, UTCDateTime, UUIDType


class RunStatus(StrEnum):
    #: batches are being written (a killed import stays here until resumed)
    IMPORTING = "IMPORTING"
    #: every batch is written; the after-proofs are running
    RECONCILING = "RECONCILING"
    #: done: the figures and discrepancies are final
    COMPLETED = "COMPLETED"
    #: stopped by an error it cannot get past; ``error`` says which (resumable after a fix)
    FAILED = "FAILED"


class DiscrepancyKind(StrEnum):
    BALANCE = "BALANCE"  # a member's balance at the cut-off
    EXPIRY = "EXPIRY"  # points the legacy system expired on a day vs what Trama expired
    MONTH = "MONTH"  # a month's total of a kind of movement
    SHADOW = "SHADOW"  # a member's legacy accruals recomputed with the migrated rules


class MigrationRun(SQLModel, table=True):
    __tablename__ = "loyalty_migration_runs"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "export_hash"),
        sa.Index("ix_loyalty_migration_runs_partner", "partner_id", "started_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    program_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_programs.id"), nullable=False)
    )
    #: The program's partner (who may read the run).
    partner_id: uuid.UUID = Field(sa_type=UUIDType)
    status: str = Field(default=RunStatus.IMPORTING.value, max_length=12)
    #: SHA-256 over the files' digests and the mapping's: the same export is the same run.
    export_hash: str = Field(max_length=64)
    source: str = Field(max_length=200)
    folder: str = Field(max_length=500)
    #: kind -> {"file", "sha256", "bytes", "records"}
    files: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    mapping: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    mapping_hash: str = Field(max_length=64)
    cutoff: date
    #: The legacy rule parameters as read (kind, code, value, dates).
    parameters: list[Any] = Field(default_factory=list, sa_type=JSONType)
    #: Rule-set versions the migration created from them (ids), if any.
    rule_set_ids: list[Any] = Field(default_factory=list, sa_type=JSONType)
    batch_size: int
    batches_planned: int = Field(default=0)
    batches_done: int = Field(default=0)
    #: members, accounts, movements, balances, customers_matched, customers_created,
    #: accounts_created, entries, lots, moves, purchases, expiries, warnings (by code) …
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    legacy_points: int = Field(default=0, sa_type=sa.BigInteger)
    migrated_points: int = Field(default=0, sa_type=sa.BigInteger)
    balances_agreeing: int = Field(default=0)
    balances_differing: int = Field(default=0)
    #: Sum of |Trama - legacy| over the members whose balance differs.
    difference_points: int = Field(default=0, sa_type=sa.BigInteger)
    months_differing: int = Field(default=0)
    shadow_members_differing: int = Field(default=0)
    shadow_difference_points: int = Field(default=0, sa_type=sa.BigInteger)
    journal_head: str = Field(default="0" * 64, max_length=64)
    error: str | None = Field(default=None, max_length=1000)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_by: str = Field(max_length=200)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MigrationBatch(SQLModel, table=True):
    """One journal entry: a batch of whole members written in one transaction."""

    __tablename__ = "loyalty_migration_batches"
    __table_args__ = (sa.UniqueConstraint("run_id", "seq"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    run_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_migration_runs.id"), nullable=False)
    )
    seq: int
    first_member: str = Field(max_length=40)
    last_member: str = Field(max_length=40)
    members: int
    accounts: int
    movements: int
    legacy_points: int = Field(sa_type=sa.BigInteger)
    #: What the batch wrote to the ledger.
    entries: int
    migrated_points: int = Field(sa_type=sa.BigInteger)
    #: SHA-256 of the batch's legacy records (members, accounts, movements, balances) in
    #: their canonical form: recomputable from the ``loyalty_legacy_*`` rows.
    content_hash: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    committed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LegacyMember(SQLModel, table=True):
    __tablename__ = "loyalty_legacy_members"
    __table_args__ = (sa.Index("ix_loyalty_legacy_members_batch", "run_id", "batch_seq"),)

    run_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_migration_runs.id"), primary_key=True)
    )
    member_no: str = Field(primary_key=True, max_length=40)
    batch_seq: int
    line: int
    document_type: str = Field(max_length=16)
    document_number: str = Field(max_length=40)
    family_names: str = Field(max_length=100)
    given_names: str = Field(max_length=100)
    birth_date: date | None = Field(default=None)
    joined_on: date
    segment: str | None = Field(default=None, max_length=40)
    status: str | None = Field(default=None, max_length=12)
    email: str | None = Field(default=None, max_length=254)
    address: str | None = Field(default=None, max_length=400)
    #: The Trama customer the member is (found by national ID, or created) and its account.
    customer_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    customer_existed: bool = Field(default=False)
    account_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)


class LegacyAccount(SQLModel, table=True):
    __tablename__ = "loyalty_legacy_accounts"
    __table_args__ = (sa.Index("ix_loyalty_legacy_accounts_batch", "run_id", "batch_seq"),)

    run_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_migration_runs.id"), primary_key=True)
    )
    account_no: str = Field(primary_key=True, max_length=40)
    member_no: str = Field(max_length=40)
    batch_seq: int
    line: int
    product: str = Field(max_length=40)
    opened_on: date
    status: str | None = Field(default=None, max_length=12)


class LegacyMovement(SQLModel, table=True):
    __tablename__ = "loyalty_legacy_movements"
    __table_args__ = (sa.Index("ix_loyalty_legacy_movements_batch", "run_id", "batch_seq"),)

    run_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_migration_runs.id"), primary_key=True)
    )
    movement_id: str = Field(primary_key=True, max_length=40)
    member_no: str = Field(max_length=40)
    batch_seq: int
    line: int
    account_no: str | None = Field(default=None, max_length=40)
    occurred_on: date
    occurred_time: str | None = Field(default=None, max_length=8)
    kind: str = Field(max_length=12)
    mcc: str | None = Field(default=None, max_length=4)
    merchant: str | None = Field(default=None, max_length=120)
    #: Minor units of ``currency`` (a reversal's is negative, as exported).
    amount: int | None = Field(default=None, sa_type=sa.BigInteger)
    currency: str | None = Field(default=None, max_length=3)
    points: int = Field(sa_type=sa.BigInteger)
    origin_id: str | None = Field(default=None, max_length=40)
    expires_on: date | None = Field(default=None)
    reason: str | None = Field(default=None, max_length=400)
    operator: str | None = Field(default=None, max_length=100)


class LegacyBalance(SQLModel, table=True):
    __tablename__ = "loyalty_legacy_balances"
    __table_args__ = (sa.Index("ix_loyalty_legacy_balances_batch", "run_id", "batch_seq"),)

    run_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_migration_runs.id"), primary_key=True)
    )
    member_no: str = Field(primary_key=True, max_length=40)
    batch_seq: int
    line: int
    cutoff: date
    points: int = Field(sa_type=sa.BigInteger)
    next_expiry_points: int | None = Field(default=None, sa_type=sa.BigInteger)
    next_expiry_on: date | None = Field(default=None)


class MigrationDiscrepancy(SQLModel, table=True):
    __tablename__ = "loyalty_migration_discrepancies"
    __table_args__ = (sa.Index("ix_loyalty_migration_discrepancies_run", "run_id", "kind", "id"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    run_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_migration_runs.id"), nullable=False)
    )
    kind: str = Field(max_length=8)
    member_no: str | None = Field(default=None, max_length=40)
    account_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    #: yyyy-mm (MONTH), or the expiry day (EXPIRY).
    period: str | None = Field(default=None, max_length=10)
    #: The kind of movement (MONTH) in Trama's words.
    movement_kind: str | None = Field(default=None, max_length=20)
    legacy_points: int = Field(sa_type=sa.BigInteger)
    trama_points: int = Field(sa_type=sa.BigInteger)
    #: ``trama_points - legacy_points``.
    difference: int = Field(sa_type=sa.BigInteger)
    #: What explains it: the legacy movements involved, figures and reasons.
    explanation: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


class MigrationIssue(SQLModel, table=True):
    """A warning the validation found (a run is never started with errors): a legacy
    balance that disagrees with its movements, a suspicious value, a customer match."""

    __tablename__ = "loyalty_migration_issues"
    __table_args__ = (sa.Index("ix_loyalty_migration_issues_run", "run_id", "id"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    run_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("loyalty_migration_runs.id"), nullable=False)
    )
    severity: str = Field(max_length=8)
    code: str = Field(max_length=40)
    file: str = Field(max_length=200)
    line: int | None = Field(default=None)
    column: str | None = Field(default=None, max_length=100)
    key: str | None = Field(default=None, max_length=100)
    message: str = Field(max_length=500)

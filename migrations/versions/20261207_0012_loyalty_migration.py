"""loyalty: legacy migration runs, batches and their journal (issue 13)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 16:00:00.000000

Tables of domain/loyalty_migration/models.py: migration runs, their hash-chained journal of
batches, the legacy records kept as exported (members, accounts, movements, balances), the
discrepancies the after-proofs found and the validation warnings of each run.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loyalty_migration_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("export_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("folder", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("files", domain.shared.types.JSONType, nullable=False),
        sa.Column("mapping", domain.shared.types.JSONType, nullable=False),
        sa.Column("mapping_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("cutoff", sa.Date(), nullable=False),
        sa.Column("parameters", domain.shared.types.JSONType, nullable=False),
        sa.Column("rule_set_ids", domain.shared.types.JSONType, nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("batches_planned", sa.Integer(), nullable=False),
        sa.Column("batches_done", sa.Integer(), nullable=False),
        sa.Column("counts", domain.shared.types.JSONType, nullable=False),
        sa.Column("legacy_points", sa.BigInteger(), nullable=False),
        sa.Column("migrated_points", sa.BigInteger(), nullable=False),
        sa.Column("balances_agreeing", sa.Integer(), nullable=False),
        sa.Column("balances_differing", sa.Integer(), nullable=False),
        sa.Column("difference_points", sa.BigInteger(), nullable=False),
        sa.Column("months_differing", sa.Integer(), nullable=False),
        sa.Column("shadow_members_differing", sa.Integer(), nullable=False),
        sa.Column("shadow_difference_points", sa.BigInteger(), nullable=False),
        sa.Column("journal_head", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("started_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("started_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.id"],
            name=op.f("fk_loyalty_migration_runs_program_id_loyalty_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_migration_runs")),
        sa.UniqueConstraint(
            "program_id",
            "export_hash",
            name=op.f("uq_loyalty_migration_runs_program_id_export_hash"),
        ),
    )
    with op.batch_alter_table("loyalty_migration_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_migration_runs_partner", ["partner_id", "started_at"], unique=False
        )

    op.create_table(
        "loyalty_legacy_accounts",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("account_no", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("member_no", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("batch_seq", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("product", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["loyalty_migration_runs.id"],
            name=op.f("fk_loyalty_legacy_accounts_run_id_loyalty_migration_runs"),
        ),
        sa.PrimaryKeyConstraint("run_id", "account_no", name=op.f("pk_loyalty_legacy_accounts")),
    )
    with op.batch_alter_table("loyalty_legacy_accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_legacy_accounts_batch", ["run_id", "batch_seq"], unique=False
        )

    op.create_table(
        "loyalty_legacy_balances",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("member_no", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("batch_seq", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("cutoff", sa.Date(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("next_expiry_points", sa.BigInteger(), nullable=True),
        sa.Column("next_expiry_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["loyalty_migration_runs.id"],
            name=op.f("fk_loyalty_legacy_balances_run_id_loyalty_migration_runs"),
        ),
        sa.PrimaryKeyConstraint("run_id", "member_no", name=op.f("pk_loyalty_legacy_balances")),
    )
    with op.batch_alter_table("loyalty_legacy_balances", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_legacy_balances_batch", ["run_id", "batch_seq"], unique=False
        )

    op.create_table(
        "loyalty_legacy_members",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("member_no", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("batch_seq", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("document_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("document_number", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("family_names", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("given_names", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("segment", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("customer_existed", sa.Boolean(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["loyalty_migration_runs.id"],
            name=op.f("fk_loyalty_legacy_members_run_id_loyalty_migration_runs"),
        ),
        sa.PrimaryKeyConstraint("run_id", "member_no", name=op.f("pk_loyalty_legacy_members")),
    )
    with op.batch_alter_table("loyalty_legacy_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_legacy_members_batch", ["run_id", "batch_seq"], unique=False
        )

    op.create_table(
        "loyalty_legacy_movements",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("movement_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("member_no", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("batch_seq", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("account_no", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("occurred_time", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("mcc", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
        sa.Column("merchant", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("origin_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
        sa.Column("operator", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["loyalty_migration_runs.id"],
            name=op.f("fk_loyalty_legacy_movements_run_id_loyalty_migration_runs"),
        ),
        sa.PrimaryKeyConstraint("run_id", "movement_id", name=op.f("pk_loyalty_legacy_movements")),
    )
    with op.batch_alter_table("loyalty_legacy_movements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_legacy_movements_batch", ["run_id", "batch_seq"], unique=False
        )

    op.create_table(
        "loyalty_migration_batches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("first_member", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("last_member", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("movements", sa.Integer(), nullable=False),
        sa.Column("legacy_points", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("migrated_points", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("committed_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["loyalty_migration_runs.id"],
            name=op.f("fk_loyalty_migration_batches_run_id_loyalty_migration_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_migration_batches")),
        sa.UniqueConstraint("run_id", "seq", name=op.f("uq_loyalty_migration_batches_run_id_seq")),
    )
    op.create_table(
        "loyalty_migration_discrepancies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("member_no", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("movement_kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("legacy_points", sa.BigInteger(), nullable=False),
        sa.Column("trama_points", sa.BigInteger(), nullable=False),
        sa.Column("difference", sa.BigInteger(), nullable=False),
        sa.Column("explanation", domain.shared.types.JSONType, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["loyalty_migration_runs.id"],
            name=op.f("fk_loyalty_migration_discrepancies_run_id_loyalty_migration_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_migration_discrepancies")),
    )
    with op.batch_alter_table("loyalty_migration_discrepancies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_migration_discrepancies_run", ["run_id", "kind", "id"], unique=False
        )

    op.create_table(
        "loyalty_migration_issues",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("file", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("column", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["loyalty_migration_runs.id"],
            name=op.f("fk_loyalty_migration_issues_run_id_loyalty_migration_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_migration_issues")),
    )
    with op.batch_alter_table("loyalty_migration_issues", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_migration_issues_run", ["run_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loyalty_migration_issues", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_migration_issues_run")

    op.drop_table("loyalty_migration_issues")
    with op.batch_alter_table("loyalty_migration_discrepancies", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_migration_discrepancies_run")

    op.drop_table("loyalty_migration_discrepancies")
    op.drop_table("loyalty_migration_batches")
    with op.batch_alter_table("loyalty_legacy_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_legacy_movements_batch")

    op.drop_table("loyalty_legacy_movements")
    with op.batch_alter_table("loyalty_legacy_members", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_legacy_members_batch")

    op.drop_table("loyalty_legacy_members")
    with op.batch_alter_table("loyalty_legacy_balances", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_legacy_balances_batch")

    op.drop_table("loyalty_legacy_balances")
    with op.batch_alter_table("loyalty_legacy_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_legacy_accounts_batch")

    op.drop_table("loyalty_legacy_accounts")
    with op.batch_alter_table("loyalty_migration_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_migration_runs_partner")

    op.drop_table("loyalty_migration_runs")

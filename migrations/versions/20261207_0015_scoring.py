"""scoring: scorecard versions per lender and decision records (issue 11)

Revision ID: 0015
Revises: 0019
Create Date: 2026-12-07 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0015"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scoring_scorecards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lender_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("document", domain.shared.types.JSONType, nullable=False),
        sa.Column("document_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("development", domain.shared.types.JSONType, nullable=True),
        sa.Column("metrics", domain.shared.types.JSONType, nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("activated_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("activated_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("retired_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("retired_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('DRAFT', 'ACTIVE', 'RETIRED')", name=op.f("ck_scoring_scorecards_status")
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["partners.id"], name=op.f("fk_scoring_scorecards_lender_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_scorecards")),
        sa.UniqueConstraint(
            "lender_id", "version", name=op.f("uq_scoring_scorecards_lender_id_version")
        ),
    )
    with op.batch_alter_table("scoring_scorecards", schema=None) as batch_op:
        batch_op.create_index(
            "ux_scoring_scorecards_one_active",
            ["lender_id"],
            unique=True,
            sqlite_where=sa.text("status = 'ACTIVE'"),
            postgresql_where=sa.text("status = 'ACTIVE'"),
        )

    op.create_table(
        "scoring_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("lender_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("scorecard_id", sa.Uuid(), nullable=False),
        sa.Column("scorecard_version", sa.Integer(), nullable=False),
        sa.Column("input_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("inputs", domain.shared.types.JSONType, nullable=False),
        sa.Column("attributes", domain.shared.types.JSONType, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("pd", domain.shared.types.ExactDecimal(), nullable=False),
        sa.Column("grade", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("reasons", domain.shared.types.JSONType, nullable=False),
        sa.Column("bureau_status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("bureau", domain.shared.types.JSONType, nullable=True),
        sa.Column("started_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('approve', 'refer', 'reject')", name=op.f("ck_scoring_decisions_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_scoring_decisions_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["partners.id"], name=op.f("fk_scoring_decisions_lender_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["scorecard_id"],
            ["scoring_scorecards.id"],
            name=op.f("fk_scoring_decisions_scorecard_id_scoring_scorecards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_decisions")),
        sa.UniqueConstraint(
            "application_id",
            "scorecard_id",
            "input_hash",
            name=op.f("uq_scoring_decisions_application_id_scorecard_id_input_hash"),
        ),
    )
    with op.batch_alter_table("scoring_decisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_scoring_decisions_application", ["application_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_scoring_decisions_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_scoring_decisions_lender_created", ["lender_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_scoring_decisions_scorecard_id"), ["scorecard_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("scoring_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scoring_decisions_scorecard_id"))
        batch_op.drop_index("ix_scoring_decisions_lender_created")
        batch_op.drop_index(batch_op.f("ix_scoring_decisions_customer_id"))
        batch_op.drop_index("ix_scoring_decisions_application")
    op.drop_table("scoring_decisions")
    with op.batch_alter_table("scoring_scorecards", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_scoring_scorecards_one_active",
            sqlite_where=sa.text("status = 'ACTIVE'"),
            postgresql_where=sa.text("status = 'ACTIVE'"),
        )
    op.drop_table("scoring_scorecards")

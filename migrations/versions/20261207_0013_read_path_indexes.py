"""read path: indexes for the query shapes the views use, and the persisted queries'
allow-list (issue 14)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persisted_queries",
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("operation_names", domain.shared.types.JSONType, nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("added_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("added_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_persisted_queries")),
    )
    # A partner's cases in one status, newest updated first (and their facets: the
    # typology rides in the index so counting by status and typology reads the index only).
    # (handling_partner_id, status) is its prefix: dropped.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_handling_status_updated",
            ["handling_partner_id", "status", "updated_at", "id"],
            unique=False,
            postgresql_include=["typology_code"],
        )
        batch_op.drop_index("ix_cases_handling_status")


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_handling_status", ["handling_partner_id", "status"], unique=False
        )
        batch_op.drop_index("ix_cases_handling_status_updated")
    op.drop_table("persisted_queries")

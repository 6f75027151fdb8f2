"""credits: partial write-offs (credit_write_offs) and what installments had written off
(issue 10: a shortfall within a collections tolerance is forgiven, not booked as cash)

Revision ID: 0021
Revises: 0020a
Create Date: 2026-12-07 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0021"
down_revision: str | None = "0020a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "principal_written_off",
    "interest_written_off",
    "charges_written_off",
    "late_interest_written_off",
)


def upgrade() -> None:
    op.create_table(
        "credit_write_offs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_no", sa.Integer(), nullable=False),
        sa.Column("installment_number", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("credit_amount", sa.BigInteger(), nullable=False),
        sa.Column("uf_value", domain.shared.types.ExactDecimal(), nullable=True),
        sa.Column("applied_amount", sa.BigInteger(), nullable=False),
        sa.Column("components", domain.shared.types.JSONType, nullable=False),
        sa.Column("written_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("written_on", sa.Date(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("reversed_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("reversal_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_credit_write_offs_credit_id_credits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_write_offs")),
        sa.UniqueConstraint(
            "credit_id",
            "idempotency_key",
            name=op.f("uq_credit_write_offs_credit_id_idempotency_key"),
        ),
    )
    with op.batch_alter_table("credit_write_offs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_write_offs_order", ["credit_id", "written_at", "id"], unique=False
        )
    with op.batch_alter_table("credit_installments", schema=None) as batch_op:
        for name in _COLUMNS:
            batch_op.add_column(
                sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
            )
    # a bank line's written-off shortfall is a write-off, not a payment
    with op.batch_alter_table("collections_line_applications", schema=None) as batch_op:
        batch_op.alter_column("payment_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.add_column(sa.Column("write_off_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_collections_line_applications_write_off_id_credit_write_offs"),
            "credit_write_offs",
            ["write_off_id"],
            ["id"],
        )
        batch_op.create_check_constraint(
            op.f("ck_collections_line_applications_payment_or_write_off"),
            "(payment_id IS NULL) <> (write_off_id IS NULL)",
        )
    # the rows there are now hold 0; new rows get their values from the ledger
    with op.batch_alter_table("credit_installments", schema=None) as batch_op:
        for name in _COLUMNS:
            batch_op.alter_column(name, existing_type=sa.BigInteger(), server_default=None)


def downgrade() -> None:
    # a line's written-off shortfall was booked as a payment before: those rows go
    op.execute("DELETE FROM collections_line_applications WHERE write_off_id IS NOT NULL")
    with op.batch_alter_table("collections_line_applications", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("ck_collections_line_applications_payment_or_write_off"), type_="check"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_collections_line_applications_write_off_id_credit_write_offs"),
            type_="foreignkey",
        )
        batch_op.drop_column("write_off_id")
        batch_op.alter_column("payment_id", existing_type=sa.Uuid(), nullable=False)
    with op.batch_alter_table("credit_installments", schema=None) as batch_op:
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("credit_write_offs", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_write_offs_order")
    op.drop_table("credit_write_offs")

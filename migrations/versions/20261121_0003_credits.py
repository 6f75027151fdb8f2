"""credits: registry, schedules, installments, payments, allocations, refunds, UF values

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 21:25:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_reference_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_credit_reference_counters")),
    )
    op.create_table(
        "uf_values",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", domain.shared.types.ExactDecimal(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uf_values")),
        sa.UniqueConstraint("day", name=op.f("uq_uf_values_day")),
    )
    op.create_table(
        "credits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("product_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate", domain.shared.types.ExactDecimal(), nullable=False),
        sa.Column("late_annual_rate", domain.shared.types.ExactDecimal(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("scheme", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("day_count", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("grace_months", sa.Integer(), nullable=False),
        sa.Column("grace_kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("opening_fee", sa.BigInteger(), nullable=False),
        sa.Column("opening_fee_mode", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("monthly_insurance", sa.BigInteger(), nullable=False),
        sa.Column("monthly_charges", sa.BigInteger(), nullable=False),
        sa.Column("rounding", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("allocation_order", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("allocation_mode", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("vehicle_ref", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("planned_disbursement_date", sa.Date(), nullable=False),
        sa.Column("disbursement_date", sa.Date(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("schedule_no", sa.Integer(), nullable=False),
        sa.Column("credit_balance", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_principal", sa.BigInteger(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("aging_bucket", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("delinquent_since", sa.Date(), nullable=True),
        sa.Column("ledger_as_of", sa.Date(), nullable=True),
        sa.Column("paid_off_on", sa.Date(), nullable=True),
        sa.Column("closed_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_credits_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_credits_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credits")),
        sa.UniqueConstraint("reference", name=op.f("uq_credits_reference")),
    )
    with op.batch_alter_table("credits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credits_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            "ix_credits_partner_status", ["partner_id", "status", "id"], unique=False
        )
        batch_op.create_index("ix_credits_status", ["status", "id"], unique=False)

    op.create_table(
        "credit_installments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_no", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("opening_balance", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("capitalised", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("insurance", sa.BigInteger(), nullable=False),
        sa.Column("other_charges", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("closing_balance", sa.BigInteger(), nullable=False),
        sa.Column("principal_paid", sa.BigInteger(), nullable=False),
        sa.Column("interest_paid", sa.BigInteger(), nullable=False),
        sa.Column("charges_paid", sa.BigInteger(), nullable=False),
        sa.Column("late_interest_accrued", sa.BigInteger(), nullable=False),
        sa.Column("late_interest_paid", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_credit_installments_credit_id_credits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_installments")),
        sa.UniqueConstraint(
            "credit_id",
            "schedule_no",
            "number",
            name=op.f("uq_credit_installments_credit_id_schedule_no_number"),
        ),
    )
    with op.batch_alter_table("credit_installments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_installments_credit_id"), ["credit_id"], unique=False
        )
        batch_op.create_index("ix_credit_installments_open", ["status", "due_date"], unique=False)

    op.create_table(
        "credit_payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_no", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("credit_amount", sa.BigInteger(), nullable=False),
        sa.Column("uf_value", domain.shared.types.ExactDecimal(), nullable=True),
        sa.Column("paid_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("prepayment", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("allocated_amount", sa.BigInteger(), nullable=False),
        sa.Column("held_amount", sa.BigInteger(), nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False),
        sa.Column("reversed_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("reversal_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_credit_payments_credit_id_credits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_payments")),
        sa.UniqueConstraint(
            "credit_id",
            "idempotency_key",
            name=op.f("uq_credit_payments_credit_id_idempotency_key"),
        ),
    )
    with op.batch_alter_table("credit_payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_payments_order", ["credit_id", "paid_at", "id"], unique=False
        )

    op.create_table(
        "credit_refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_no", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("refunded_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("refunded_on", sa.Date(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_credit_refunds_credit_id_credits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_refunds")),
    )
    with op.batch_alter_table("credit_refunds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_refunds_credit_id"), ["credit_id"], unique=False
        )

    op.create_table(
        "credit_schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_no", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("opening_fee", sa.BigInteger(), nullable=False),
        sa.Column("opening_fee_mode", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("annual_rate", domain.shared.types.ExactDecimal(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("scheme", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("day_count", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("grace_months", sa.Integer(), nullable=False),
        sa.Column("grace_kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("monthly_insurance", sa.BigInteger(), nullable=False),
        sa.Column("monthly_charges", sa.BigInteger(), nullable=False),
        sa.Column("rounding", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("carried_principal", sa.BigInteger(), nullable=False),
        sa.Column("carried_interest", sa.BigInteger(), nullable=False),
        sa.Column("carried_charges", sa.BigInteger(), nullable=False),
        sa.Column("carried_late_interest", sa.BigInteger(), nullable=False),
        sa.Column("carried_balance", domain.shared.types.JSONType, nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_credit_schedules_credit_id_credits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_schedules")),
        sa.UniqueConstraint(
            "credit_id", "schedule_no", name=op.f("uq_credit_schedules_credit_id_schedule_no")
        ),
    )
    with op.batch_alter_table("credit_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_schedules_credit_id"), ["credit_id"], unique=False
        )

    op.create_table(
        "credit_allocations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_no", sa.Integer(), nullable=False),
        sa.Column("installment_number", sa.Integer(), nullable=False),
        sa.Column("component", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_credit_allocations_credit_id_credits")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["credit_payments.id"],
            name=op.f("fk_credit_allocations_payment_id_credit_payments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_allocations")),
    )
    with op.batch_alter_table("credit_allocations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_allocations_credit", ["credit_id", "schedule_no"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_credit_allocations_payment_id"), ["payment_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("credit_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_allocations_payment_id"))
        batch_op.drop_index("ix_credit_allocations_credit")

    op.drop_table("credit_allocations")
    with op.batch_alter_table("credit_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_schedules_credit_id"))

    op.drop_table("credit_schedules")
    with op.batch_alter_table("credit_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_refunds_credit_id"))

    op.drop_table("credit_refunds")
    with op.batch_alter_table("credit_payments", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_payments_order")

    op.drop_table("credit_payments")
    with op.batch_alter_table("credit_installments", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_installments_open")
        batch_op.drop_index(batch_op.f("ix_credit_installments_credit_id"))

    op.drop_table("credit_installments")
    with op.batch_alter_table("credits", schema=None) as batch_op:
        batch_op.drop_index("ix_credits_status")
        batch_op.drop_index("ix_credits_partner_status")
        batch_op.drop_index(batch_op.f("ix_credits_customer_id"))

    op.drop_table("credits")
    op.drop_table("uf_values")
    op.drop_table("credit_reference_counters")

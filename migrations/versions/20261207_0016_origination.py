"""origination: credit applications, timeline, documents, inspections, offers,
pre-qualifications, lender settings (issue 11)

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-07 21:11:20.938570
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0016"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "credit_application_reference_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_credit_application_reference_counters")),
    )
    op.create_table(
        "lender_origination_settings",
        sa.Column("lender_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("dti_limit", domain.shared.types.ExactDecimal(), nullable=False),
        sa.Column("estimate_grade", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("business_hours_start", sa.Integer(), nullable=False),
        sa.Column("business_hours_end", sa.Integer(), nullable=False),
        sa.Column("decision_hours", sa.Integer(), nullable=False),
        sa.Column("prequalification_valid_days", sa.Integer(), nullable=False),
        sa.Column("offer_valid_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "business_hours_start < business_hours_end",
            name=op.f("ck_lender_origination_settings_hours_order"),
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"],
            ["partners.id"],
            name=op.f("fk_lender_origination_settings_lender_id_partners"),
        ),
        sa.PrimaryKeyConstraint("lender_id", name=op.f("pk_lender_origination_settings")),
    )
    op.create_table(
        "credit_applications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("lender_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=True),
        sa.Column("dealer_id", sa.Uuid(), nullable=True),
        sa.Column("vehicle_price", sa.BigInteger(), nullable=True),
        sa.Column("requested_principal", sa.BigInteger(), nullable=False),
        sa.Column("down_payment", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("monthly_income", sa.BigInteger(), nullable=False),
        sa.Column("employment_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("employment_months", sa.Integer(), nullable=False),
        sa.Column("declared_obligations", sa.BigInteger(), nullable=False),
        sa.Column("consents", domain.shared.types.JSONType, nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("grade", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
        sa.Column("decision_id", sa.Uuid(), nullable=True),
        sa.Column("decision_outcome", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("decision_reasons", domain.shared.types.JSONType, nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("decision_note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("referral_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("submitted_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("due_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("clock_state", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("at_risk_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("breached_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("escalated_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("decided_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("credit_id", sa.Uuid(), nullable=True),
        sa.Column("contract_id", sa.Uuid(), nullable=True),
        sa.Column("disbursed_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("closed_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "declared_obligations >= 0",
            name=op.f("ck_credit_applications_obligations_not_negative"),
        ),
        sa.CheckConstraint(
            "down_payment >= 0", name=op.f("ck_credit_applications_down_payment_not_negative")
        ),
        sa.CheckConstraint(
            "employment_months >= 0",
            name=op.f("ck_credit_applications_employment_months_not_negative"),
        ),
        sa.CheckConstraint(
            "monthly_income >= 0", name=op.f("ck_credit_applications_income_not_negative")
        ),
        sa.CheckConstraint(
            "requested_principal >= 0", name=op.f("ck_credit_applications_principal_not_negative")
        ),
        sa.CheckConstraint("term_months >= 1", name=op.f("ck_credit_applications_term_positive")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_credit_applications_version_positive")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_credit_applications_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["partners.id"], name=op.f("fk_credit_applications_lender_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_applications")),
        sa.UniqueConstraint("credit_id", name=op.f("uq_credit_applications_credit_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_credit_applications_reference")),
    )
    with op.batch_alter_table("credit_applications", schema=None) as batch_op:
        batch_op.create_index("ix_credit_applications_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_credit_applications_customer", ["customer_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_credit_applications_dealer_id"), ["dealer_id"], unique=False
        )
        batch_op.create_index("ix_credit_applications_due", ["state", "due_at"], unique=False)
        batch_op.create_index(
            "ix_credit_applications_lender_state", ["lender_id", "state", "id"], unique=False
        )
        batch_op.create_index("ix_credit_applications_vehicle", ["vehicle_id"], unique=False)

    op.create_table(
        "prequalifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("lender_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("monthly_income", sa.BigInteger(), nullable=False),
        sa.Column("declared_obligations", sa.BigInteger(), nullable=False),
        sa.Column("trama_obligations", sa.BigInteger(), nullable=False),
        sa.Column("dti_limit", domain.shared.types.ExactDecimal(), nullable=False),
        sa.Column("max_installment", sa.BigInteger(), nullable=False),
        sa.Column("max_principal", sa.BigInteger(), nullable=False),
        sa.Column("down_payment", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate", domain.shared.types.ExactDecimal(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("grade", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("valid_until", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_prequalifications_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["partners.id"], name=op.f("fk_prequalifications_lender_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prequalifications")),
    )
    with op.batch_alter_table("prequalifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prequalifications_customer", ["customer_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "credit_application_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("storage_key", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("inspection_id", sa.Uuid(), nullable=True),
        sa.Column("uploaded_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("uploaded_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["credit_applications.id"],
            name=op.f("fk_credit_application_documents_application_id_credit_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_application_documents")),
        sa.UniqueConstraint(
            "storage_key", name=op.f("uq_credit_application_documents_storage_key")
        ),
    )
    with op.batch_alter_table("credit_application_documents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_application_documents_app",
            ["application_id", "uploaded_at", "id"],
            unique=False,
        )

    op.create_table(
        "credit_application_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("actor_subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("from_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("to_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("details", domain.shared.types.JSONType, nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["credit_applications.id"],
            name=op.f("fk_credit_application_events_application_id_credit_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_application_events")),
        sa.UniqueConstraint(
            "application_id", "seq", name=op.f("uq_credit_application_events_application_id_seq")
        ),
    )
    op.create_table(
        "credit_application_inspections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("slot_start", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("slot_end", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("booked_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("inspector_subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("checklist", domain.shared.types.JSONType, nullable=False),
        sa.Column("odometer_km", sa.Integer(), nullable=True),
        sa.Column("damage_notes", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
        sa.Column("valuation", sa.BigInteger(), nullable=True),
        sa.Column("failure_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("recorded_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["credit_applications.id"],
            name=op.f("fk_credit_application_inspections_application_id_credit_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_application_inspections")),
    )
    with op.batch_alter_table("credit_application_inspections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_application_inspections_app", ["application_id", "id"], unique=False
        )

    op.create_table(
        "credit_application_offers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("annual_rate", domain.shared.types.ExactDecimal(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("installment", sa.BigInteger(), nullable=False),
        sa.Column("scheme", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("day_count", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("disbursement_date", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("total_interest", sa.BigInteger(), nullable=False),
        sa.Column("total_paid", sa.BigInteger(), nullable=False),
        sa.Column("cae", domain.shared.types.ExactDecimal(), nullable=False),
        sa.Column("schedule", domain.shared.types.JSONType, nullable=False),
        sa.Column("grade", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
        sa.Column("valid_until", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("accepted_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("accepted_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["credit_applications.id"],
            name=op.f("fk_credit_application_offers_application_id_credit_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_application_offers")),
    )
    with op.batch_alter_table("credit_application_offers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_application_offers_app", ["application_id", "id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("credit_application_offers", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_application_offers_app")

    op.drop_table("credit_application_offers")
    with op.batch_alter_table("credit_application_inspections", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_application_inspections_app")

    op.drop_table("credit_application_inspections")
    op.drop_table("credit_application_events")
    with op.batch_alter_table("credit_application_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_application_documents_app")

    op.drop_table("credit_application_documents")
    with op.batch_alter_table("prequalifications", schema=None) as batch_op:
        batch_op.drop_index("ix_prequalifications_customer")

    op.drop_table("prequalifications")
    with op.batch_alter_table("credit_applications", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_applications_vehicle")
        batch_op.drop_index("ix_credit_applications_lender_state")
        batch_op.drop_index("ix_credit_applications_due")
        batch_op.drop_index(batch_op.f("ix_credit_applications_dealer_id"))
        batch_op.drop_index("ix_credit_applications_customer")
        batch_op.drop_index("ix_credit_applications_created")

    op.drop_table("credit_applications")
    op.drop_table("lender_origination_settings")
    op.drop_table("credit_application_reference_counters")

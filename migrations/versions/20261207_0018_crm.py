"""crm: lenders' CRM settings, advisors, leads, opportunities, tasks and the timeline
(issue 12)

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-07 21:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_settings",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column(
            "assignment_strategy", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
        ),
        sa.Column("first_contact_hours", sa.Integer(), nullable=False),
        sa.Column("business_day_start", sa.Integer(), nullable=False),
        sa.Column("business_day_end", sa.Integer(), nullable=False),
        sa.Column("reminder_minutes", sa.Integer(), nullable=False),
        sa.Column("assignment_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_crm_settings_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_crm_settings")),
    )
    op.create_table(
        "crm_advisors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("supervisor_id", sa.Uuid(), nullable=True),
        sa.Column("on_shift", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "last_assigned_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_assigned_seq", sa.BigInteger(), nullable=False),
        sa.Column("assigned_count", sa.Integer(), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_crm_advisors_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["crm_advisors.id"],
            name=op.f("fk_crm_advisors_supervisor_id_crm_advisors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_advisors")),
        sa.UniqueConstraint(
            "partner_id", "subject", name=op.f("uq_crm_advisors_partner_id_subject")
        ),
    )
    with op.batch_alter_table("crm_advisors", schema=None) as batch_op:
        batch_op.create_index(
            "ix_crm_advisors_pick",
            ["partner_id", "active", "on_shift", "last_assigned_seq"],
            unique=False,
        )
    op.create_table(
        "crm_leads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("national_id_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("national_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("product", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column(
            "vehicle_description", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True
        ),
        sa.Column("vehicle_id", sa.Uuid(), nullable=True),
        sa.Column(
            "simulation",
            domain.shared.types.JSONType,
            nullable=True,
        ),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column(
            "consent_text_version", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True
        ),
        sa.Column("consent_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("utm_source", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("utm_medium", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("utm_campaign", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("referrer", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("advisor_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("converted_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("captures", sa.Integer(), nullable=False),
        sa.Column(
            "last_captured_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("created_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisor_id"], ["crm_advisors.id"], name=op.f("fk_crm_leads_advisor_id_crm_advisors")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_crm_leads_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_crm_leads_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_leads")),
    )
    with op.batch_alter_table("crm_leads", schema=None) as batch_op:
        batch_op.create_index("ix_crm_leads_advisor", ["advisor_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_crm_leads_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_crm_leads_email", ["partner_id", "email_key"], unique=False)
        batch_op.create_index("ix_crm_leads_list", ["partner_id", "created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_crm_leads_national_id", ["partner_id", "national_id"], unique=False
        )
        batch_op.create_index("ix_crm_leads_phone", ["partner_id", "phone"], unique=False)
    op.create_table(
        "crm_opportunities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("product", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column(
            "vehicle_description", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True
        ),
        sa.Column("vehicle_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("lost_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("advisor_id", sa.Uuid(), nullable=True),
        sa.Column("expected_close_date", sa.Date(), nullable=True),
        sa.Column("application_id", sa.Uuid(), nullable=True),
        sa.Column("credit_id", sa.Uuid(), nullable=True),
        sa.Column(
            "stage_changed_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("created_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "amount IS NULL OR amount >= 0", name=op.f("ck_crm_opportunities_amount_not_negative")
        ),
        sa.CheckConstraint(
            "lead_id IS NOT NULL OR customer_id IS NOT NULL",
            name=op.f("ck_crm_opportunities_lead_or_customer"),
        ),
        sa.ForeignKeyConstraint(
            ["advisor_id"],
            ["crm_advisors.id"],
            name=op.f("fk_crm_opportunities_advisor_id_crm_advisors"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_crm_opportunities_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["crm_leads.id"], name=op.f("fk_crm_opportunities_lead_id_crm_leads")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_crm_opportunities_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_opportunities")),
    )
    with op.batch_alter_table("crm_opportunities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_crm_opportunities_advisor_id"), ["advisor_id"], unique=False
        )
        batch_op.create_index("ix_crm_opportunities_application", ["application_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_crm_opportunities_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_crm_opportunities_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(
            "ix_crm_opportunities_list", ["partner_id", "updated_at", "id"], unique=False
        )
    op.create_table(
        "crm_tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
        sa.Column("due_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("opportunity_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("credit_id", sa.Uuid(), nullable=True),
        sa.Column("application_id", sa.Uuid(), nullable=True),
        sa.Column("source_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("reminded_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_to", sa.Uuid(), nullable=True),
        sa.Column("completed_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["crm_advisors.id"], name=op.f("fk_crm_tasks_assignee_id_crm_advisors")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_crm_tasks_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["crm_leads.id"], name=op.f("fk_crm_tasks_lead_id_crm_leads")
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["crm_opportunities.id"],
            name=op.f("fk_crm_tasks_opportunity_id_crm_opportunities"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_crm_tasks_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_tasks")),
        sa.UniqueConstraint("source_ref", name=op.f("uq_crm_tasks_source_ref")),
    )
    with op.batch_alter_table("crm_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_crm_tasks_assignee", ["assignee_id", "status", "due_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_crm_tasks_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_crm_tasks_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index("ix_crm_tasks_open_due", ["status", "due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_crm_tasks_opportunity_id"), ["opportunity_id"], unique=False
        )
    op.create_table(
        "crm_timeline_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("occurred_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("audience", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("visible_to_customer", sa.Boolean(), nullable=False),
        sa.Column(
            "payload",
            domain.shared.types.JSONType,
            nullable=False,
        ),
        sa.Column("source_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "lead_id IS NOT NULL OR customer_id IS NOT NULL",
            name=op.f("ck_crm_timeline_items_lead_or_customer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_timeline_items")),
        sa.UniqueConstraint("source_ref", name=op.f("uq_crm_timeline_items_source_ref")),
    )
    with op.batch_alter_table("crm_timeline_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_crm_timeline_items_customer", ["customer_id", "occurred_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_crm_timeline_items_lead", ["lead_id", "occurred_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("crm_timeline_items", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_timeline_items_lead")
        batch_op.drop_index("ix_crm_timeline_items_customer")
    op.drop_table("crm_timeline_items")
    with op.batch_alter_table("crm_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_tasks_opportunity_id"))
        batch_op.drop_index("ix_crm_tasks_open_due")
        batch_op.drop_index(batch_op.f("ix_crm_tasks_lead_id"))
        batch_op.drop_index(batch_op.f("ix_crm_tasks_customer_id"))
        batch_op.drop_index("ix_crm_tasks_assignee")
    op.drop_table("crm_tasks")
    with op.batch_alter_table("crm_opportunities", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_opportunities_list")
        batch_op.drop_index(batch_op.f("ix_crm_opportunities_lead_id"))
        batch_op.drop_index(batch_op.f("ix_crm_opportunities_customer_id"))
        batch_op.drop_index("ix_crm_opportunities_application")
        batch_op.drop_index(batch_op.f("ix_crm_opportunities_advisor_id"))
    op.drop_table("crm_opportunities")
    with op.batch_alter_table("crm_leads", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_leads_phone")
        batch_op.drop_index("ix_crm_leads_national_id")
        batch_op.drop_index("ix_crm_leads_list")
        batch_op.drop_index("ix_crm_leads_email")
        batch_op.drop_index(batch_op.f("ix_crm_leads_customer_id"))
        batch_op.drop_index("ix_crm_leads_advisor")
    op.drop_table("crm_leads")
    with op.batch_alter_table("crm_advisors", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_advisors_pick")
    op.drop_table("crm_advisors")
    op.drop_table("crm_settings")

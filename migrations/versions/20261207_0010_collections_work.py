"""collections: work queues, contacts, promises, strategies, notifications, reports (issue 10)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # autogenerate renders sqlmodel.sql.sqltypes.AutoString
from alembic import op

import domain.shared.types  # portable column types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "collections_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("known_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("data", domain.shared.types.JSONType, nullable=False),
        sa.Column("figures_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("csv_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("csv_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("csv_size", sa.BigInteger(), nullable=False),
        sa.Column("xlsx_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("xlsx_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("xlsx_size", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("generated_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("generated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("rerun_count", sa.Integer(), nullable=False),
        sa.Column("last_rerun_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_collections_reports_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_reports")),
        sa.UniqueConstraint(
            "partner_id",
            "kind",
            "period_start",
            "period_end",
            "revision",
            name=op.f("uq_collections_reports_partner_id_kind_period_start_period_end_revision"),
        ),
    )
    op.create_index(
        "ix_collections_reports_partner_list",
        "collections_reports",
        ["partner_id", "generated_at", "id"],
        unique=False,
    )
    op.create_table(
        "collections_rr_cursors",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("pool", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("next_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_rr_cursors_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("partner_id", "pool", name=op.f("pk_collections_rr_cursors")),
    )
    op.create_table(
        "collections_rule_sets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rules", domain.shared.types.JSONType, nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_rule_sets_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_rule_sets")),
        sa.UniqueConstraint(
            "partner_id", "version", name=op.f("uq_collections_rule_sets_partner_id_version")
        ),
    )
    op.create_table(
        "collections_strategies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("steps", domain.shared.types.JSONType, nullable=False),
        sa.Column("promise_grace_days", sa.Integer(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_strategies_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_strategies")),
        sa.UniqueConstraint(
            "partner_id", "version", name=op.f("uq_collections_strategies_partner_id_version")
        ),
    )
    op.create_table(
        "collections_collectors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_collectors_partner_id_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_collections_collectors_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_collectors")),
        sa.UniqueConstraint(
            "partner_id", "user_id", name=op.f("uq_collections_collectors_partner_id_user_id")
        ),
    )
    op.create_table(
        "collections_actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("strategy_version", sa.Integer(), nullable=False),
        sa.Column("step_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("day_offset", sa.Integer(), nullable=False),
        sa.Column("channels", domain.shared.types.JSONType, nullable=False),
        sa.Column("schedule_no", sa.Integer(), nullable=False),
        sa.Column("installment_number", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_collections_actions_credit_id_credits")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_collections_actions_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_collections_actions_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_actions")),
        sa.UniqueConstraint(
            "credit_id",
            "schedule_no",
            "installment_number",
            "step_code",
            name=op.f("uq_collections_actions_credit_id_schedule_no_installment_number_step_code"),
        ),
    )
    op.create_index(
        "ix_collections_actions_partner_run",
        "collections_actions",
        ["partner_id", "run_date", "id"],
        unique=False,
    )
    op.create_table(
        "collections_promises",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("paid_amount", sa.BigInteger(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("collector_id", sa.Uuid(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_collections_promises_amount_positive")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_collections_promises_version_positive")),
        sa.ForeignKeyConstraint(
            ["collector_id"],
            ["collections_collectors.id"],
            name=op.f("fk_collections_promises_collector_id_collections_collectors"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_collections_promises_credit_id_credits")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_collections_promises_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_promises_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_promises")),
    )
    op.create_index(
        "ix_collections_promises_credit",
        "collections_promises",
        ["credit_id", "made_on"],
        unique=False,
    )
    op.create_index(
        "ix_collections_promises_open_credit",
        "collections_promises",
        ["credit_id"],
        unique=True,
        sqlite_where=sa.text("status = 'OPEN'"),
        postgresql_where=sa.text("status = 'OPEN'"),
    )
    op.create_index(
        "ix_collections_promises_partner",
        "collections_promises",
        ["partner_id", "status", "promised_date", "id"],
        unique=False,
    )
    op.create_table(
        "collections_contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("contacted_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("collector_id", sa.Uuid(), nullable=True),
        sa.Column("promise_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collector_id"],
            ["collections_collectors.id"],
            name=op.f("fk_collections_contacts_collector_id_collections_collectors"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_collections_contacts_credit_id_credits")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_collections_contacts_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_contacts_partner_id_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["promise_id"],
            ["collections_promises.id"],
            name=op.f("fk_collections_contacts_promise_id_collections_promises"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_contacts")),
    )
    op.create_index(
        "ix_collections_contacts_credit",
        "collections_contacts",
        ["credit_id", "contacted_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_collections_contacts_partner",
        "collections_contacts",
        ["partner_id", "contacted_at", "id"],
        unique=False,
    )
    op.create_table(
        "collections_notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("action_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("message_key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("claimed_until", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("sent_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["collections_actions.id"],
            name=op.f("fk_collections_notifications_action_id_collections_actions"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_id"],
            ["credits.id"],
            name=op.f("fk_collections_notifications_credit_id_credits"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_collections_notifications_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_notifications_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_notifications")),
        sa.UniqueConstraint("message_key", name=op.f("uq_collections_notifications_message_key")),
    )
    op.create_index(
        "ix_collections_notifications_action",
        "collections_notifications",
        ["action_id"],
        unique=False,
    )
    op.create_index(
        "ix_collections_notifications_partner",
        "collections_notifications",
        ["partner_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_collections_notifications_status",
        "collections_notifications",
        ["status", "updated_at"],
        unique=False,
    )
    op.create_table(
        "collections_promise_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("promise_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("paid_amount", sa.BigInteger(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("recorded_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_promise_history_partner_id_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["promise_id"],
            ["collections_promises.id"],
            name=op.f("fk_collections_promise_history_promise_id_collections_promises"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_promise_history")),
    )
    op.create_index(
        op.f("ix_collections_promise_history_partner_id"),
        "collections_promise_history",
        ["partner_id"],
        unique=False,
    )
    op.create_index(
        "ix_collections_promise_history_promise",
        "collections_promise_history",
        ["promise_id", "recorded_at"],
        unique=False,
    )
    op.create_table(
        "collections_queue_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("bucket", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("installment_number", sa.Integer(), nullable=False),
        sa.Column("schedule_no", sa.Integer(), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("priority", sa.BigInteger(), nullable=False),
        sa.Column("collector_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("assigned_how", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("promise_id", sa.Uuid(), nullable=True),
        sa.Column("next_action", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("contact_count", sa.Integer(), nullable=False),
        sa.Column("last_contact_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("last_run_on", sa.Date(), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("resolution", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "version >= 1", name=op.f("ck_collections_queue_items_version_positive")
        ),
        sa.ForeignKeyConstraint(
            ["collector_id"],
            ["collections_collectors.id"],
            name=op.f("fk_collections_queue_items_collector_id_collections_collectors"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_collections_queue_items_credit_id_credits")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_collections_queue_items_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_queue_items_partner_id_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["promise_id"],
            ["collections_promises.id"],
            name=op.f("fk_collections_queue_items_promise_id_collections_promises"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_queue_items")),
    )
    op.create_index(
        "ix_collections_queue_items_collector",
        "collections_queue_items",
        ["collector_id", "status", "priority", "id"],
        unique=False,
    )
    op.create_index(
        "ix_collections_queue_items_credit",
        "collections_queue_items",
        ["credit_id", "opened_on"],
        unique=False,
    )
    op.create_index(
        "ix_collections_queue_items_open_credit_kind",
        "collections_queue_items",
        ["credit_id", "kind"],
        unique=True,
        sqlite_where=sa.text("status = 'OPEN'"),
        postgresql_where=sa.text("status = 'OPEN'"),
    )
    op.create_index(
        "ix_collections_queue_items_partner_list",
        "collections_queue_items",
        ["partner_id", "status", "priority", "id"],
        unique=False,
    )
    op.create_table(
        "collections_assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("collector_id", sa.Uuid(), nullable=False),
        sa.Column("how", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("rule_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("assigned_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("ended_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["collector_id"],
            ["collections_collectors.id"],
            name=op.f("fk_collections_assignments_collector_id_collections_collectors"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_collections_assignments_credit_id_credits")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["collections_queue_items.id"],
            name=op.f("fk_collections_assignments_item_id_collections_queue_items"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_assignments_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_assignments")),
    )
    op.create_index(
        "ix_collections_assignments_credit",
        "collections_assignments",
        ["credit_id", "assigned_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_collections_assignments_item_id"),
        "collections_assignments",
        ["item_id"],
        unique=False,
    )
    op.create_index(
        "ix_collections_assignments_partner",
        "collections_assignments",
        ["partner_id", "assigned_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_collections_assignments_partner", table_name="collections_assignments")
    op.drop_index(op.f("ix_collections_assignments_item_id"), table_name="collections_assignments")
    op.drop_index("ix_collections_assignments_credit", table_name="collections_assignments")
    op.drop_table("collections_assignments")
    op.drop_index("ix_collections_queue_items_partner_list", table_name="collections_queue_items")
    op.drop_index(
        "ix_collections_queue_items_open_credit_kind",
        table_name="collections_queue_items",
        sqlite_where=sa.text("status = 'OPEN'"),
        postgresql_where=sa.text("status = 'OPEN'"),
    )
    op.drop_index("ix_collections_queue_items_credit", table_name="collections_queue_items")
    op.drop_index("ix_collections_queue_items_collector", table_name="collections_queue_items")
    op.drop_table("collections_queue_items")
    op.drop_index(
        "ix_collections_promise_history_promise", table_name="collections_promise_history"
    )
    op.drop_index(
        op.f("ix_collections_promise_history_partner_id"), table_name="collections_promise_history"
    )
    op.drop_table("collections_promise_history")
    op.drop_index("ix_collections_notifications_status", table_name="collections_notifications")
    op.drop_index("ix_collections_notifications_partner", table_name="collections_notifications")
    op.drop_index("ix_collections_notifications_action", table_name="collections_notifications")
    op.drop_table("collections_notifications")
    op.drop_index("ix_collections_contacts_partner", table_name="collections_contacts")
    op.drop_index("ix_collections_contacts_credit", table_name="collections_contacts")
    op.drop_table("collections_contacts")
    op.drop_index("ix_collections_promises_partner", table_name="collections_promises")
    op.drop_index(
        "ix_collections_promises_open_credit",
        table_name="collections_promises",
        sqlite_where=sa.text("status = 'OPEN'"),
        postgresql_where=sa.text("status = 'OPEN'"),
    )
    op.drop_index("ix_collections_promises_credit", table_name="collections_promises")
    op.drop_table("collections_promises")
    op.drop_index("ix_collections_actions_partner_run", table_name="collections_actions")
    op.drop_table("collections_actions")
    op.drop_table("collections_collectors")
    op.drop_table("collections_strategies")
    op.drop_table("collections_rule_sets")
    op.drop_table("collections_rr_cursors")
    op.drop_index("ix_collections_reports_partner_list", table_name="collections_reports")
    op.drop_table("collections_reports")

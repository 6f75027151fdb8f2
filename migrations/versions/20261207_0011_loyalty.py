"""loyalty: programs, accounts, lots ledger, rule sets, purchases (issue 13)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 16:00:00.000000

Tables of domain/loyalty/models.py: programs, member accounts, rule set versions, purchases
(and refunds and Trama events) waiting for or processed by ``loyalty.accrue``, the ledger
(entries, lots, lot moves), the rewards catalogue, redemptions and tier changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loyalty_programs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("unit_name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("point_value", domain.shared.types.ExactDecimal(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expiry_policy", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("expiry_count", sa.Integer(), nullable=True),
        sa.Column("pending_days", sa.Integer(), nullable=False),
        sa.Column("allow_debt", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("member_seq", sa.BigInteger(), nullable=False),
        sa.Column("expired_through", sa.Date(), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(expiry_policy = 'NEVER' AND expiry_count IS NULL) OR (expiry_policy <> 'NEVER' AND expiry_count IS NOT NULL AND expiry_count >= 0)",
            name=op.f("ck_loyalty_programs_expiry_count"),
        ),
        sa.CheckConstraint(
            "pending_days >= 0", name=op.f("ck_loyalty_programs_pending_days_not_negative")
        ),
        sa.CheckConstraint(
            "point_value >= 0", name=op.f("ck_loyalty_programs_point_value_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_loyalty_programs_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_programs")),
        sa.UniqueConstraint("code", name=op.f("uq_loyalty_programs_code")),
    )
    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loyalty_programs_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "loyalty_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("tier_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("tier_since", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("segments", domain.shared.types.JSONType, nullable=False),
        sa.Column("enrolled_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_loyalty_accounts_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.id"],
            name=op.f("fk_loyalty_accounts_program_id_loyalty_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_accounts")),
        sa.UniqueConstraint(
            "program_id", "customer_id", name=op.f("uq_loyalty_accounts_program_id_customer_id")
        ),
        sa.UniqueConstraint(
            "program_id", "external_ref", name=op.f("uq_loyalty_accounts_program_id_external_ref")
        ),
        sa.UniqueConstraint(
            "program_id", "number", name=op.f("uq_loyalty_accounts_program_id_number")
        ),
    )
    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loyalty_accounts_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "loyalty_rewards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("cost_points", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("limit_per_member", sa.Integer(), nullable=True),
        sa.Column("limit_period", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(limit_per_member IS NULL AND limit_period IS NULL) OR (limit_per_member > 0 AND limit_period IS NOT NULL)",
            name=op.f("ck_loyalty_rewards_limit"),
        ),
        sa.CheckConstraint("cost_points > 0", name=op.f("ck_loyalty_rewards_cost_points_positive")),
        sa.CheckConstraint(
            "stock IS NULL OR stock >= 0", name=op.f("ck_loyalty_rewards_stock_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.id"],
            name=op.f("fk_loyalty_rewards_program_id_loyalty_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_rewards")),
        sa.UniqueConstraint("program_id", "code", name=op.f("uq_loyalty_rewards_program_id_code")),
    )
    op.create_table(
        "loyalty_rule_sets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_until", sa.Date(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("document", domain.shared.types.JSONType, nullable=False),
        sa.Column("document_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("supersedes_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "effective_until IS NULL OR effective_until > effective_from",
            name=op.f("ck_loyalty_rule_sets_period_order"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.id"],
            name=op.f("fk_loyalty_rule_sets_program_id_loyalty_programs"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["loyalty_rule_sets.id"],
            name=op.f("fk_loyalty_rule_sets_supersedes_id_loyalty_rule_sets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_rule_sets")),
        sa.UniqueConstraint(
            "program_id", "version", name=op.f("uq_loyalty_rule_sets_program_id_version")
        ),
    )
    with op.batch_alter_table("loyalty_rule_sets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_rule_sets_in_force",
            ["program_id", "status", "effective_from"],
            unique=False,
        )

    op.create_table(
        "loyalty_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("source_type", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("source_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("purchase_id", sa.Uuid(), nullable=True),
        sa.Column("rule_set_id", sa.Uuid(), nullable=True),
        sa.Column("rule_set_version", sa.Integer(), nullable=True),
        sa.Column("campaign", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("migration_batch_id", sa.Uuid(), nullable=True),
        sa.Column("counterparty_account_id", sa.Uuid(), nullable=True),
        sa.Column("redemption_id", sa.Uuid(), nullable=True),
        sa.Column("explanation", domain.shared.types.JSONType, nullable=True),
        sa.CheckConstraint("points <> 0", name=op.f("ck_loyalty_entries_points_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_entries_account_id_loyalty_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.id"],
            name=op.f("fk_loyalty_entries_program_id_loyalty_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_entries")),
        sa.UniqueConstraint(
            "program_id", "dedupe_key", name=op.f("uq_loyalty_entries_program_id_dedupe_key")
        ),
    )
    with op.batch_alter_table("loyalty_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_entries_account_time", ["account_id", "occurred_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_loyalty_entries_program_time", ["program_id", "occurred_at"], unique=False
        )

    op.create_table(
        "loyalty_purchases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("refund_of_id", sa.Uuid(), nullable=True),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("mcc", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
        sa.Column("merchant_partner", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("merchant_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("card_product", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("occurred_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("received_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=True),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("rule_set_id", sa.Uuid(), nullable=True),
        sa.Column("processed_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("migration_batch_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_loyalty_purchases_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_purchases_account_id_loyalty_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.id"],
            name=op.f("fk_loyalty_purchases_program_id_loyalty_programs"),
        ),
        sa.ForeignKeyConstraint(
            ["refund_of_id"],
            ["loyalty_purchases.id"],
            name=op.f("fk_loyalty_purchases_refund_of_id_loyalty_purchases"),
        ),
        sa.ForeignKeyConstraint(
            ["rule_set_id"],
            ["loyalty_rule_sets.id"],
            name=op.f("fk_loyalty_purchases_rule_set_id_loyalty_rule_sets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_purchases")),
        sa.UniqueConstraint(
            "program_id", "external_id", name=op.f("uq_loyalty_purchases_program_id_external_id")
        ),
    )
    with op.batch_alter_table("loyalty_purchases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_purchases_account", ["account_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_loyalty_purchases_program_time", ["program_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_loyalty_purchases_queue",
            ["received_at"],
            unique=False,
            sqlite_where=sa.text("status = 'RECEIVED'"),
            postgresql_where=sa.text("status = 'RECEIVED'"),
        )

    op.create_table(
        "loyalty_redemptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("cancel_entry_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("cancelled_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_loyalty_redemptions_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_redemptions_account_id_loyalty_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.id"],
            name=op.f("fk_loyalty_redemptions_program_id_loyalty_programs"),
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"],
            ["loyalty_rewards.id"],
            name=op.f("fk_loyalty_redemptions_reward_id_loyalty_rewards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_redemptions")),
        sa.UniqueConstraint(
            "account_id",
            "idempotency_key",
            name=op.f("uq_loyalty_redemptions_account_id_idempotency_key"),
        ),
    )
    with op.batch_alter_table("loyalty_redemptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_redemptions_limits", ["account_id", "reward_id", "created_at"], unique=False
        )

    op.create_table(
        "loyalty_tier_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("from_tier", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("to_tier", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("changed_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("rule_set_id", sa.Uuid(), nullable=True),
        sa.Column("explanation", domain.shared.types.JSONType, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_tier_changes_account_id_loyalty_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_tier_changes")),
    )
    with op.batch_alter_table("loyalty_tier_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_tier_changes_account", ["account_id", "changed_at"], unique=False
        )

    op.create_table(
        "loyalty_lots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("available_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "(kind = 'EARN' AND points > 0 AND remaining >= 0 AND remaining <= points) OR (kind = 'DEBT' AND points < 0 AND remaining <= 0)",
            name=op.f("ck_loyalty_lots_points_and_remaining"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_lots_account_id_loyalty_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["loyalty_entries.id"],
            name=op.f("fk_loyalty_lots_entry_id_loyalty_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.id"],
            name=op.f("fk_loyalty_lots_program_id_loyalty_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_lots")),
    )
    with op.batch_alter_table("loyalty_lots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_lots_account_opened", ["account_id", "opened_at"], unique=False
        )
        batch_op.create_index(
            "ix_loyalty_lots_expiring",
            ["program_id", "expires_on"],
            unique=False,
            sqlite_where=sa.text("remaining > 0 AND expires_on IS NOT NULL"),
            postgresql_where=sa.text("remaining > 0 AND expires_on IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_loyalty_lots_open",
            ["account_id", "expires_on"],
            unique=False,
            sqlite_where=sa.text("remaining <> 0"),
            postgresql_where=sa.text("remaining <> 0"),
        )

    op.create_table(
        "loyalty_lot_moves",
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("points <> 0", name=op.f("ck_loyalty_lot_moves_points_not_zero")),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["loyalty_entries.id"],
            name=op.f("fk_loyalty_lot_moves_entry_id_loyalty_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["loyalty_lots.id"], name=op.f("fk_loyalty_lot_moves_lot_id_loyalty_lots")
        ),
        sa.PrimaryKeyConstraint("entry_id", "lot_id", name=op.f("pk_loyalty_lot_moves")),
    )
    with op.batch_alter_table("loyalty_lot_moves", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_lot_moves_lot", ["lot_id", "occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loyalty_lot_moves", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_lot_moves_lot")

    op.drop_table("loyalty_lot_moves")
    with op.batch_alter_table("loyalty_lots", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_loyalty_lots_open",
            sqlite_where=sa.text("remaining <> 0"),
            postgresql_where=sa.text("remaining <> 0"),
        )
        batch_op.drop_index(
            "ix_loyalty_lots_expiring",
            sqlite_where=sa.text("remaining > 0 AND expires_on IS NOT NULL"),
            postgresql_where=sa.text("remaining > 0 AND expires_on IS NOT NULL"),
        )
        batch_op.drop_index("ix_loyalty_lots_account_opened")

    op.drop_table("loyalty_lots")
    with op.batch_alter_table("loyalty_tier_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_tier_changes_account")

    op.drop_table("loyalty_tier_changes")
    with op.batch_alter_table("loyalty_redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_redemptions_limits")

    op.drop_table("loyalty_redemptions")
    with op.batch_alter_table("loyalty_purchases", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_loyalty_purchases_queue",
            sqlite_where=sa.text("status = 'RECEIVED'"),
            postgresql_where=sa.text("status = 'RECEIVED'"),
        )
        batch_op.drop_index("ix_loyalty_purchases_program_time")
        batch_op.drop_index("ix_loyalty_purchases_account")

    op.drop_table("loyalty_purchases")
    with op.batch_alter_table("loyalty_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_entries_program_time")
        batch_op.drop_index("ix_loyalty_entries_account_time")

    op.drop_table("loyalty_entries")
    with op.batch_alter_table("loyalty_rule_sets", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_rule_sets_in_force")

    op.drop_table("loyalty_rule_sets")
    op.drop_table("loyalty_rewards")
    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_accounts_customer_id"))

    op.drop_table("loyalty_accounts")
    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_programs_partner_id"))

    op.drop_table("loyalty_programs")

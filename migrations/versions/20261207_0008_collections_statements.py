"""collections: bank accounts, statements and their lines (issue 10)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # autogenerate renders sqlmodel.sql.sqltypes.AutoString
from alembic import op

import domain.shared.types  # portable column types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("bank_code", sqlmodel.sql.sqltypes.AutoString(length=11), nullable=False),
        sa.Column("bank_name", sqlmodel.sql.sqltypes.AutoString(length=140), nullable=False),
        sa.Column("bic", sqlmodel.sql.sqltypes.AutoString(length=11), nullable=True),
        sa.Column("number_kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("account_number", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column(
            "statement_identifier", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("column_mapping", domain.shared.types.JSONType, nullable=True),
        sa.Column("refuse_broken", sa.Boolean(), nullable=True),
        sa.Column("last_sequence", sa.BigInteger(), nullable=True),
        sa.Column("last_closing_balance", sa.BigInteger(), nullable=True),
        sa.Column("last_closing_date", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_bank_accounts_version_positive")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_bank_accounts_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_accounts")),
        sa.UniqueConstraint(
            "country",
            "bank_code",
            "account_number",
            name=op.f("uq_bank_accounts_country_bank_code_account_number"),
        ),
    )
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_bank_accounts_partner", ["partner_id", "id"], unique=False)
        batch_op.create_index(
            "ix_bank_accounts_statement_identifier", ["statement_identifier"], unique=False
        )

    op.create_table(
        "statement_files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("received_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("received_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("statement_count", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("new_line_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_statement_files_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_files")),
        sa.UniqueConstraint(
            "partner_id", "sha256", name=op.f("uq_statement_files_partner_id_sha256")
        ),
    )
    with op.batch_alter_table("statement_files", schema=None) as batch_op:
        batch_op.create_index(
            "ix_statement_files_partner_received", ["partner_id", "received_at", "id"], unique=False
        )

    op.create_table(
        "bank_statements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("message_version", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("statement_ref", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("legal_sequence", sa.BigInteger(), nullable=True),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("created_by_bank_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("from_date", sa.Date(), nullable=True),
        sa.Column("to_date", sa.Date(), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("opening_balance", sa.BigInteger(), nullable=True),
        sa.Column(
            "opening_balance_type", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True
        ),
        sa.Column("opening_balance_date", sa.Date(), nullable=True),
        sa.Column("closing_balance", sa.BigInteger(), nullable=True),
        sa.Column(
            "closing_balance_type", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True
        ),
        sa.Column("closing_balance_date", sa.Date(), nullable=True),
        sa.Column("credit_total", sa.BigInteger(), nullable=False),
        sa.Column("debit_total", sa.BigInteger(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("new_line_count", sa.Integer(), nullable=False),
        sa.Column("interim", sa.Boolean(), nullable=False),
        sa.Column("integrity", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("schema_status", sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
        sa.Column("problems", domain.shared.types.JSONType, nullable=False),
        sa.Column("received_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["bank_accounts.id"],
            name=op.f("fk_bank_statements_account_id_bank_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["statement_files.id"],
            name=op.f("fk_bank_statements_file_id_statement_files"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_bank_statements_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_statements")),
    )
    with op.batch_alter_table("bank_statements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bank_statements_account", ["account_id", "to_date", "id"], unique=False
        )
        batch_op.create_index("ix_bank_statements_file", ["file_id"], unique=False)
        batch_op.create_index(
            "ix_bank_statements_partner", ["partner_id", "received_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_bank_statements_ref", ["account_id", "statement_ref"], unique=False
        )

    op.create_table(
        "statement_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("statement_id", sa.Uuid(), nullable=False),
        sa.Column("booked_statement_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("identity_key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("instructed_amount", sa.BigInteger(), nullable=True),
        sa.Column("instructed_currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("is_reversal", sa.Boolean(), nullable=False),
        sa.Column("reverses_line_id", sa.Uuid(), nullable=True),
        sa.Column("bank_reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("end_to_end_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("transaction_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column(
            "customer_reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True
        ),
        sa.Column(
            "creditor_reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True
        ),
        sa.Column("remittance_info", sa.Text(), nullable=True),
        sa.Column("counterparty_name", sqlmodel.sql.sqltypes.AutoString(length=140), nullable=True),
        sa.Column(
            "counterparty_account", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column("counterparty_bank", sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True),
        sa.Column(
            "counterparty_national_id_type",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            nullable=True,
        ),
        sa.Column(
            "counterparty_national_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True
        ),
        sa.Column(
            "counterparty_id_raw", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column(
            "bank_transaction_code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True
        ),
        sa.Column(
            "bank_transaction_text", sqlmodel.sql.sqltypes.AutoString(length=140), nullable=True
        ),
        sa.Column("batch_key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("batch_amount", sa.BigInteger(), nullable=True),
        sa.Column("batch_size", sa.Integer(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(direction = 'CREDIT' AND amount > 0) OR (direction = 'DEBIT' AND amount < 0)",
            name=op.f("ck_statement_lines_direction_sign"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_statement_lines_amount_not_zero")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_statement_lines_version_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["bank_accounts.id"],
            name=op.f("fk_statement_lines_account_id_bank_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["booked_statement_id"],
            ["bank_statements.id"],
            name=op.f("fk_statement_lines_booked_statement_id_bank_statements"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_statement_lines_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_line_id"],
            ["statement_lines.id"],
            name=op.f("fk_statement_lines_reverses_line_id_statement_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["bank_statements.id"],
            name=op.f("fk_statement_lines_statement_id_bank_statements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_lines")),
        sa.UniqueConstraint(
            "account_id", "identity_key", name=op.f("uq_statement_lines_account_id_identity_key")
        ),
    )
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_statement_lines_account_booking", ["account_id", "booking_date", "id"], unique=False
        )
        batch_op.create_index(
            "ix_statement_lines_booked_statement", ["booked_statement_id"], unique=False
        )
        batch_op.create_index(
            "ix_statement_lines_counterparty_national_id",
            ["counterparty_national_id_type", "counterparty_national_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_statement_lines_partner_state", ["partner_id", "state", "id"], unique=False
        )
        batch_op.create_index("ix_statement_lines_reverses", ["reverses_line_id"], unique=False)
        batch_op.create_index(
            "ix_statement_lines_statement", ["statement_id", "position"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_lines_statement")
        batch_op.drop_index("ix_statement_lines_reverses")
        batch_op.drop_index("ix_statement_lines_partner_state")
        batch_op.drop_index("ix_statement_lines_counterparty_national_id")
        batch_op.drop_index("ix_statement_lines_booked_statement")
        batch_op.drop_index("ix_statement_lines_account_booking")

    op.drop_table("statement_lines")
    with op.batch_alter_table("bank_statements", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_statements_ref")
        batch_op.drop_index("ix_bank_statements_partner")
        batch_op.drop_index("ix_bank_statements_file")
        batch_op.drop_index("ix_bank_statements_account")

    op.drop_table("bank_statements")
    with op.batch_alter_table("statement_files", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_files_partner_received")

    op.drop_table("statement_files")
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_accounts_statement_identifier")
        batch_op.drop_index("ix_bank_accounts_partner")

    op.drop_table("bank_accounts")

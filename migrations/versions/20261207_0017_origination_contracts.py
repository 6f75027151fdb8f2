"""origination: contracts and their signers (DocuSeal signature, issue 11)

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-07 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "origination_contracts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.Column("lender_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("unsigned_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("unsigned_size", sa.BigInteger(), nullable=False),
        sa.Column("unsigned_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("submission_id", sa.BigInteger(), nullable=True),
        sa.Column("sending_until", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("signed_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("signed_size", sa.BigInteger(), nullable=True),
        sa.Column("signed_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column(
            "signed_stored_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("audit_log_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("declined_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("expired_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("credit_id", sa.Uuid(), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_origination_contracts_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_origination_contracts")),
        sa.UniqueConstraint("offer_id", name=op.f("uq_origination_contracts_offer_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_origination_contracts_reference")),
        sa.UniqueConstraint("submission_id", name=op.f("uq_origination_contracts_submission_id")),
    )
    op.create_index(
        "ix_origination_contracts_application",
        "origination_contracts",
        ["application_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_origination_contracts_customer",
        "origination_contracts",
        ["customer_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_origination_contracts_lender_status",
        "origination_contracts",
        ["lender_id", "status", "id"],
        unique=False,
    )
    op.create_table(
        "origination_contract_signers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("docuseal_role", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("submitter_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("opened_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("declined_at", domain.shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["origination_contracts.id"],
            name=op.f("fk_origination_contract_signers_contract_id_origination_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_origination_contract_signers")),
        sa.UniqueConstraint("contract_id", "role", name="uq_origination_contract_signers_role"),
        sa.UniqueConstraint(
            "external_id", name=op.f("uq_origination_contract_signers_external_id")
        ),
        sa.UniqueConstraint(
            "submitter_id", name=op.f("uq_origination_contract_signers_submitter_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("origination_contract_signers")
    op.drop_index("ix_origination_contracts_lender_status", table_name="origination_contracts")
    op.drop_index("ix_origination_contracts_customer", table_name="origination_contracts")
    op.drop_index("ix_origination_contracts_application", table_name="origination_contracts")
    op.drop_table("origination_contracts")

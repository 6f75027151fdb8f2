"""crm assistant (Ana): conversations, customers' verification factors, lockouts (issue 12)

Revision ID: 0020a
Revises: 0020
Create Date: 2026-12-07 22:10:00.000000

(An id of its own after 0020: the ids 0019/0020 were this work's; 0020a avoids colliding
with ids handed to others.)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0020a"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_assistant_conversations",
        sa.Column("id", domain.shared.types.UUIDType, nullable=False),
        sa.Column("partner_id", domain.shared.types.UUIDType, nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("started_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("ended_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("intent", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("turns", domain.shared.types.JSONType, nullable=False),
        sa.Column("lead_id", domain.shared.types.UUIDType, nullable=True),
        sa.Column("customer_id", domain.shared.types.UUIDType, nullable=True),
        sa.Column("handoff", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("handoff_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("task_id", domain.shared.types.UUIDType, nullable=True),
        sa.Column("case_id", domain.shared.types.UUIDType, nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_crm_assistant_conversations_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["crm_leads.id"],
            name=op.f("fk_crm_assistant_conversations_lead_id_crm_leads"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_crm_assistant_conversations_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_assistant_conversations")),
        sa.UniqueConstraint(
            "partner_id",
            "external_id",
            name=op.f("uq_crm_assistant_conversations_partner_id_external_id"),
        ),
    )
    with op.batch_alter_table("crm_assistant_conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_crm_assistant_conversations_customer", ["customer_id", "started_at"]
        )
        batch_op.create_index("ix_crm_assistant_conversations_lead", ["lead_id", "started_at"])
    op.create_table(
        "customer_verification_factors",
        sa.Column("customer_id", domain.shared.types.UUIDType, nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("registered_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("registered_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_verification_factors_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_verification_factors")),
    )
    op.create_table(
        "assistant_verification_locks",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("locked_until", domain.shared.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_assistant_verification_locks")),
    )


def downgrade() -> None:
    op.drop_table("assistant_verification_locks")
    op.drop_table("customer_verification_factors")
    with op.batch_alter_table("crm_assistant_conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_assistant_conversations_lead")
        batch_op.drop_index("ix_crm_assistant_conversations_customer")
    op.drop_table("crm_assistant_conversations")

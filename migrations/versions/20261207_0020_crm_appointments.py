"""crm appointments: bookings from Cal.com (issue 12)

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-07 22:00:00.000000

``crm_appointments`` (domain/crm/appointments_models.py): one row per Cal.com booking of a
lender, with the times of the events that set its status and details.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0020"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_appointments",
        sa.Column("id", domain.shared.types.UUIDType, nullable=False),
        sa.Column("partner_id", domain.shared.types.UUIDType, nullable=False),
        sa.Column("booking_uid", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=True),
        sa.Column("event_type_id", sa.BigInteger(), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("start_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("end_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("organizer_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("attendee_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("attendee_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("attendee_phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("attendee_timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("lead_id", domain.shared.types.UUIDType, nullable=True),
        sa.Column("customer_id", domain.shared.types.UUIDType, nullable=True),
        sa.Column(
            "rescheduled_from_uid", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True
        ),
        sa.Column(
            "rescheduled_to_uid", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True
        ),
        sa.Column(
            "cancellation_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True
        ),
        sa.Column("status_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("details_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("last_event", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_crm_appointments_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["crm_leads.id"], name=op.f("fk_crm_appointments_lead_id_crm_leads")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_crm_appointments_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_appointments")),
        sa.UniqueConstraint(
            "partner_id", "booking_uid", name=op.f("uq_crm_appointments_partner_id_booking_uid")
        ),
    )
    with op.batch_alter_table("crm_appointments", schema=None) as batch_op:
        batch_op.create_index("ix_crm_appointments_customer", ["customer_id", "start_at"])
        batch_op.create_index("ix_crm_appointments_lead", ["lead_id", "start_at"])


def downgrade() -> None:
    with op.batch_alter_table("crm_appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_appointments_lead")
        batch_op.drop_index("ix_crm_appointments_customer")
    op.drop_table("crm_appointments")

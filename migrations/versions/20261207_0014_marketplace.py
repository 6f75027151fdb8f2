"""marketplace: dealers' vehicles, photos, reservations, feed imports and feed profiles
(issue 11)

Revision ID: 0014
Revises: 0021
Create Date: 2026-12-07 21:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types

revision: str = "0014"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString
T = domain.shared.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "vehicles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dealer_id", sa.Uuid(), nullable=False),
        sa.Column("stock_id", S(length=64), nullable=False),
        sa.Column("make", S(length=60), nullable=False),
        sa.Column("model", S(length=80), nullable=False),
        sa.Column("trim", S(length=120), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kilometres", sa.Integer(), nullable=False),
        sa.Column("fuel", S(length=20), nullable=False),
        sa.Column("transmission", S(length=20), nullable=False),
        sa.Column("colour", S(length=40), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("currency", S(length=3), nullable=False),
        sa.Column("status", S(length=16), nullable=False),
        sa.Column("reserved_for", sa.Uuid(), nullable=True),
        sa.Column("reserved_until", T(), nullable=True),
        sa.Column("listed_at", T(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
        sa.Column("sold_at", T(), nullable=True),
        sa.Column("withdrawn_at", T(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["partners.id"], name=op.f("fk_vehicles_dealer_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicles")),
        sa.UniqueConstraint("dealer_id", "stock_id", name=op.f("uq_vehicles_dealer_id_stock_id")),
    )
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vehicles_status_currency_price", ["status", "currency", "price", "id"]
        )
        batch_op.create_index("ix_vehicles_status_year", ["status", "year", "id"])
        batch_op.create_index("ix_vehicles_status_kilometres", ["status", "kilometres", "id"])
        batch_op.create_index("ix_vehicles_status_listed", ["status", "listed_at", "id"])
        batch_op.create_index("ix_vehicles_dealer_status", ["dealer_id", "status"])
        batch_op.create_index("ix_vehicles_reserved_until", ["reserved_until"])
    op.create_table(
        "vehicle_photos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("storage_key", S(length=200), nullable=False),
        sa.Column("content_type", S(length=60), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", S(length=64), nullable=False),
        sa.Column("uploaded_at", T(), nullable=False),
        sa.Column("uploaded_by", S(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicles.id"],
            name=op.f("fk_vehicle_photos_vehicle_id_vehicles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicle_photos")),
        sa.UniqueConstraint(
            "vehicle_id", "sha256", name=op.f("uq_vehicle_photos_vehicle_id_sha256")
        ),
    )
    with op.batch_alter_table("vehicle_photos", schema=None) as batch_op:
        batch_op.create_index("ix_vehicle_photos_vehicle_position", ["vehicle_id", "position"])
    op.create_table(
        "vehicle_reservations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("held_until", T(), nullable=False),
        sa.Column("status", S(length=16), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("ended_at", T(), nullable=True),
        sa.Column("actor", S(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicles.id"],
            name=op.f("fk_vehicle_reservations_vehicle_id_vehicles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicle_reservations")),
    )
    with op.batch_alter_table("vehicle_reservations", schema=None) as batch_op:
        batch_op.create_index("ix_vehicle_reservations_vehicle", ["vehicle_id", "created_at"])
        batch_op.create_index("ix_vehicle_reservations_application", ["application_id"])
    op.create_table(
        "vehicle_feed_imports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dealer_id", sa.Uuid(), nullable=False),
        sa.Column("file_name", S(length=255), nullable=False),
        sa.Column("sha256", S(length=64), nullable=False),
        sa.Column("kind", S(length=8), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("problems", domain.shared.types.JSONType, nullable=False),
        sa.Column("imported_at", T(), nullable=False),
        sa.Column("imported_by", S(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["partners.id"], name=op.f("fk_vehicle_feed_imports_dealer_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicle_feed_imports")),
    )
    with op.batch_alter_table("vehicle_feed_imports", schema=None) as batch_op:
        batch_op.create_index("ix_vehicle_feed_imports_dealer", ["dealer_id", "imported_at"])
    op.create_table(
        "dealer_feed_profiles",
        sa.Column("dealer_id", sa.Uuid(), nullable=False),
        sa.Column("mapping", domain.shared.types.JSONType, nullable=False),
        sa.Column("decimal_separator", S(length=1), nullable=False),
        sa.Column("thousands_separator", S(length=1), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["partners.id"], name=op.f("fk_dealer_feed_profiles_dealer_id_partners")
        ),
        sa.PrimaryKeyConstraint("dealer_id", name=op.f("pk_dealer_feed_profiles")),
    )


def downgrade() -> None:
    op.drop_table("dealer_feed_profiles")
    with op.batch_alter_table("vehicle_feed_imports", schema=None) as batch_op:
        batch_op.drop_index("ix_vehicle_feed_imports_dealer")
    op.drop_table("vehicle_feed_imports")
    with op.batch_alter_table("vehicle_reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_vehicle_reservations_application")
        batch_op.drop_index("ix_vehicle_reservations_vehicle")
    op.drop_table("vehicle_reservations")
    with op.batch_alter_table("vehicle_photos", schema=None) as batch_op:
        batch_op.drop_index("ix_vehicle_photos_vehicle_position")
    op.drop_table("vehicle_photos")
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        for name in (
            "ix_vehicles_reserved_until",
            "ix_vehicles_dealer_status",
            "ix_vehicles_status_listed",
            "ix_vehicles_status_kilometres",
            "ix_vehicles_status_year",
            "ix_vehicles_status_currency_price",
        ):
            batch_op.drop_index(name)
    op.drop_table("vehicles")

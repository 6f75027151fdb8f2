"""cases: typologies, cases, partner statuses, timeline, comments, attachments,
homologation, connectors, inbound reviews, mass resolutions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 21:41:35.583428
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.shared.types
from domain.shared.time import utcnow

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The first typology catalog (a frozen copy of domain.cases.typologies.CATALOG as it was
# when this revision was written): code, name, description, default priority, SLA business
# days, SLA hours, requires amount, requires card.
TYPOLOGIES = [
    (
        "DEVOLUCION_INTERESES",
        "Devolución de intereses",
        "Intereses o cargos financieros cobrados en exceso o por error (p. ej. pago realizado a tiempo y cobrado como mora, compra en cuotas sin interés cobrada con interés).",
        "MEDIUM",
        10,
        None,
        True,
        True,
    ),
    (
        "CARGO_NO_RECONOCIDO",
        "Cargo no reconocido",
        "El cliente desconoce una o más transacciones cargadas a su tarjeta (Ley 20.009).",
        "HIGH",
        5,
        None,
        True,
        True,
    ),
    (
        "CARGO_DUPLICADO",
        "Cargo duplicado",
        "Una misma compra o cargo aparece más de una vez en el estado de cuenta.",
        "HIGH",
        5,
        None,
        True,
        True,
    ),
    (
        "RECLAMO",
        "Reclamo general",
        "Reclamo sobre la atención, un producto o un servicio de la tarjeta.",
        "MEDIUM",
        10,
        None,
        False,
        False,
    ),
    (
        "BLOQUEO_TARJETA",
        "Bloqueo de tarjeta",
        "Bloqueo por robo, hurto, extravío o sospecha de fraude.",
        "CRITICAL",
        None,
        4,
        False,
        True,
    ),
    (
        "REPOSICION_TARJETA",
        "Reposición de tarjeta",
        "Emisión de una nueva tarjeta tras bloqueo, deterioro o vencimiento.",
        "MEDIUM",
        5,
        None,
        False,
        True,
    ),
    (
        "PAGO_NO_APLICADO",
        "Pago no aplicado",
        "Un pago del cliente no se refleja en su cuenta o se aplicó a otra.",
        "HIGH",
        3,
        None,
        True,
        False,
    ),
    (
        "ANULACION_SEGURO",
        "Anulación de seguro asociado",
        "Término de un seguro contratado con la tarjeta y devolución de primas no devengadas.",
        "MEDIUM",
        10,
        None,
        False,
        False,
    ),
    (
        "REVERSO_COMISION",
        "Reverso de comisión",
        "Comisión de mantención, administración o avance cobrada indebidamente.",
        "MEDIUM",
        5,
        None,
        True,
        False,
    ),
    (
        "DISPUTA_ESTADO_CUENTA",
        "Disputa de estado de cuenta",
        "El cliente objeta partidas o saldos de su estado de cuenta.",
        "MEDIUM",
        10,
        None,
        False,
        False,
    ),
    (
        "CONTRACARGO_COMERCIO",
        "Contracargo a comercio",
        "Compra pagada y no recibida, servicio no prestado o devolución no abonada por el comercio.",
        "MEDIUM",
        15,
        None,
        True,
        True,
    ),
    (
        "CERTIFICADO_DEUDA",
        "Certificado de deuda o liquidación",
        "Emisión de certificado de deuda, de pago total o de liquidación de la tarjeta.",
        "LOW",
        3,
        None,
        False,
        False,
    ),
    (
        "PUNTOS_NO_ACREDITADOS",
        "Puntos no acreditados",
        "Compras que no acumularon los puntos del programa de fidelización.",
        "LOW",
        10,
        None,
        False,
        False,
    ),
]


def _seed_typologies() -> None:
    table = sa.table(
        "case_typologies",
        sa.column("id", sa.Uuid()),
        sa.column("code", sa.String()),
        sa.column("name", sa.String()),
        sa.column("description", sa.String()),
        sa.column("default_priority", sa.String()),
        sa.column("sla_business_days", sa.Integer()),
        sa.column("sla_hours", sa.Integer()),
        sa.column("requires_amount", sa.Boolean()),
        sa.column("requires_card", sa.Boolean()),
        sa.column("active", sa.Boolean()),
        sa.column("created_at", domain.shared.types.UTCDateTime()),
        sa.column("updated_at", domain.shared.types.UTCDateTime()),
        sa.column("version", sa.Integer()),
    )
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "code": code,
            "name": name,
            "description": description,
            "default_priority": priority,
            "sla_business_days": days,
            "sla_hours": hours,
            "requires_amount": amount,
            "requires_card": card,
            "active": True,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for code, name, description, priority, days, hours, amount, card in TYPOLOGIES
    ]
    op.bulk_insert(table, rows)


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "case_bulk_resolutions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("requested_by_partner_id", sa.Uuid(), nullable=True),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("selection", domain.shared.types.JSONType, nullable=False),
        sa.Column("resolution_code", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("resolution_note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("resolved_count", sa.Integer(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.Column("forbidden_count", sa.Integer(), nullable=False),
        sa.Column("not_found_count", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("started_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("finished_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_bulk_resolutions")),
        sa.UniqueConstraint("request_hash", name=op.f("uq_case_bulk_resolutions_request_hash")),
    )
    with op.batch_alter_table("case_bulk_resolutions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_bulk_resolutions_requester", ["requested_by", "created_at"], unique=False
        )

    op.create_table(
        "case_reference_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_case_reference_counters")),
    )
    op.create_table(
        "case_typologies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("default_priority", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("sla_business_days", sa.Integer(), nullable=True),
        sa.Column("sla_hours", sa.Integer(), nullable=True),
        sa.Column("requires_amount", sa.Boolean(), nullable=False),
        sa.Column("requires_card", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_typologies")),
        sa.UniqueConstraint("code", name=op.f("uq_case_typologies_code")),
    )
    op.create_table(
        "case_bulk_resolution_items",
        sa.Column("bulk_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("processed_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bulk_id"],
            ["case_bulk_resolutions.id"],
            name=op.f("fk_case_bulk_resolution_items_bulk_id_case_bulk_resolutions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bulk_id", "case_id", name=op.f("pk_case_bulk_resolution_items")),
    )
    op.create_table(
        "case_status_mappings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("partner_code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("canonical_status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("active_from", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_case_status_mappings_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_status_mappings")),
        sa.UniqueConstraint(
            "partner_id",
            "version",
            "partner_code",
            name=op.f("uq_case_status_mappings_partner_id_version_partner_code"),
        ),
    )
    with op.batch_alter_table("case_status_mappings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_status_mappings_partner_version", ["partner_id", "version"], unique=False
        )

    op.create_table(
        "partner_connectors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("auth_type", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("auth_credentials", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("signing_secret", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_partner_connectors_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_connectors")),
        sa.UniqueConstraint("partner_id", name=op.f("uq_partner_connectors_partner_id")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("card_last4", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
        sa.Column("card_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("typology_code", sa.String(length=40), nullable=False),
        sa.Column("originating_partner_id", sa.Uuid(), nullable=False),
        sa.Column("handling_partner_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("priority", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status_changed_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column(
            "description_folded", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False
        ),
        sa.Column("amount_in_dispute_minor", sa.BigInteger(), nullable=True),
        sa.Column(
            "amount_in_dispute_currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True
        ),
        sa.Column("pending_derivation_to", sa.Uuid(), nullable=True),
        sa.Column(
            "pending_derivation_reason",
            sqlmodel.sql.sqltypes.AutoString(length=1000),
            nullable=True,
        ),
        sa.Column("pending_derivation_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column(
            "pending_derivation_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
        ),
        sa.Column("sla_started_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("sla_due_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("sla_state", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("sla_paused_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("sla_at_risk_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("sla_breached_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("escalated_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("escalated_to", sa.Uuid(), nullable=True),
        sa.Column("resolution_code", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column("resolution_note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("resolution_refund_minor", sa.BigInteger(), nullable=True),
        sa.Column(
            "resolution_refund_currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True
        ),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("timeline_seq", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("closed_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "amount_in_dispute_minor IS NULL OR amount_in_dispute_minor > 0",
            name=op.f("ck_cases_amount_in_dispute_positive"),
        ),
        sa.CheckConstraint(
            "resolution_refund_minor IS NULL OR resolution_refund_minor >= 0",
            name=op.f("ck_cases_refund_not_negative"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_cases_version_positive")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_cases_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["escalated_to"], ["partners.id"], name=op.f("fk_cases_escalated_to_partners")
        ),
        sa.ForeignKeyConstraint(
            ["handling_partner_id"],
            ["partners.id"],
            name=op.f("fk_cases_handling_partner_id_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["originating_partner_id"],
            ["partners.id"],
            name=op.f("fk_cases_originating_partner_id_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["pending_derivation_to"],
            ["partners.id"],
            name=op.f("fk_cases_pending_derivation_to_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["typology_code"],
            ["case_typologies.code"],
            name=op.f("fk_cases_typology_code_case_typologies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("reference", name=op.f("uq_cases_reference")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_created", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            "ix_cases_handling_status", ["handling_partner_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_originating_partner_id"), ["originating_partner_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_pending_derivation_to"), ["pending_derivation_to"], unique=False
        )
        batch_op.create_index("ix_cases_status_sla_due", ["status", "sla_due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_typology_code"), ["typology_code"], unique=False)
        batch_op.create_index("ix_cases_updated", ["updated_at", "id"], unique=False)

    op.create_table(
        "case_attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("storage_key", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("visibility", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("uploaded_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("uploaded_by_partner_id", sa.Uuid(), nullable=True),
        sa.Column("uploaded_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_attachments_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_attachments")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_case_attachments_storage_key")),
    )
    with op.batch_alter_table("case_attachments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_attachments_case", ["case_id", "uploaded_at", "id"], unique=False
        )

    op.create_table(
        "case_comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("author_subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("author_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("author_partner_id", sa.Uuid(), nullable=True),
        sa.Column("visibility", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_comments_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_comments")),
    )
    with op.batch_alter_table("case_comments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_comments_case", ["case_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "case_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("actor_subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("actor_partner_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("visibility", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("before", domain.shared.types.JSONType, nullable=True),
        sa.Column("after", domain.shared.types.JSONType, nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_case_events_case_id_seq")),
    )
    op.create_table(
        "case_inbound_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("case_reference", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("partner_status", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("canonical_status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("case_status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("external_version", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("reported_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("received_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("reviewed_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("reviewed_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("review_note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_inbound_reviews_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_case_inbound_reviews_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_inbound_reviews")),
    )
    with op.batch_alter_table("case_inbound_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_inbound_reviews_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_case_inbound_reviews_partner_id"), ["partner_id"], unique=False
        )
        batch_op.create_index(
            "ix_case_inbound_reviews_status", ["status", "received_at"], unique=False
        )

    op.create_table(
        "case_partner_statuses",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column(
            "partner_status_code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True
        ),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("last_external_version", sa.BigInteger(), nullable=True),
        sa.Column("last_reported_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("reported_occurred_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("last_synced_version", sa.Integer(), nullable=True),
        sa.Column("last_synced_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("last_sync_attempt_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("last_sync_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("involved_since", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_partner_statuses_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_case_partner_statuses_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("case_id", "partner_id", name=op.f("pk_case_partner_statuses")),
        sa.UniqueConstraint(
            "partner_id",
            "external_ref",
            name=op.f("uq_case_partner_statuses_partner_id_external_ref"),
        ),
    )
    with op.batch_alter_table("case_partner_statuses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_partner_statuses_partner_case", ["partner_id", "case_id"], unique=False
        )

    # ### end Alembic commands ###
    _seed_typologies()


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("case_partner_statuses", schema=None) as batch_op:
        batch_op.drop_index("ix_case_partner_statuses_partner_case")

    op.drop_table("case_partner_statuses")
    with op.batch_alter_table("case_inbound_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_case_inbound_reviews_status")
        batch_op.drop_index(batch_op.f("ix_case_inbound_reviews_partner_id"))
        batch_op.drop_index(batch_op.f("ix_case_inbound_reviews_case_id"))

    op.drop_table("case_inbound_reviews")
    op.drop_table("case_events")
    with op.batch_alter_table("case_comments", schema=None) as batch_op:
        batch_op.drop_index("ix_case_comments_case")

    op.drop_table("case_comments")
    with op.batch_alter_table("case_attachments", schema=None) as batch_op:
        batch_op.drop_index("ix_case_attachments_case")

    op.drop_table("case_attachments")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_updated")
        batch_op.drop_index(batch_op.f("ix_cases_typology_code"))
        batch_op.drop_index("ix_cases_status_sla_due")
        batch_op.drop_index(batch_op.f("ix_cases_pending_derivation_to"))
        batch_op.drop_index(batch_op.f("ix_cases_originating_partner_id"))
        batch_op.drop_index("ix_cases_handling_status")
        batch_op.drop_index(batch_op.f("ix_cases_customer_id"))
        batch_op.drop_index("ix_cases_created")

    op.drop_table("cases")
    op.drop_table("partner_connectors")
    with op.batch_alter_table("case_status_mappings", schema=None) as batch_op:
        batch_op.drop_index("ix_case_status_mappings_partner_version")

    op.drop_table("case_status_mappings")
    op.drop_table("case_bulk_resolution_items")
    op.drop_table("case_typologies")
    op.drop_table("case_reference_counters")
    with op.batch_alter_table("case_bulk_resolutions", schema=None) as batch_op:
        batch_op.drop_index("ix_case_bulk_resolutions_requester")

    op.drop_table("case_bulk_resolutions")
    # ### end Alembic commands ###

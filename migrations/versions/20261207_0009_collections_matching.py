"""collections: matching rule sets, matches and the reconciliation queue (issue 10)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # autogenerate renders sqlmodel.sql.sqltypes.AutoString
from alembic import op

import domain.shared.types  # portable column types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: The case typology of payments nobody could match (domain/collections/matching_cases.py).
TYPOLOGY = {
    "code": "PAGO_NO_IDENTIFICADO",
    "name": "Pago no identificado",
    "description": (
        "Un pago recibido en una cuenta de recaudación que no se pudo asignar a ningún "
        "crédito: hay que identificar al deudor y el crédito que paga."
    ),
    "default_priority": "HIGH",
    "sla_business_days": 5,
    "sla_hours": None,
    "requires_amount": True,
    "requires_card": False,
}


def _typologies() -> sa.Table:
    return sa.table(
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


def upgrade() -> None:
    import uuid

    from domain.shared.time import utcnow

    table = _typologies()
    present = (
        op.get_bind()
        .execute(sa.select(table.c.code).where(table.c.code == TYPOLOGY["code"]))
        .first()
    )
    if present is None:
        now = utcnow()
        op.bulk_insert(
            table,
            [
                {
                    **TYPOLOGY,
                    "id": uuid.uuid4(),
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
            ],
        )
    op.create_table(
        "collections_match_rule_sets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("rules", domain.shared.types.JSONType, nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "version >= 1", name=op.f("ck_collections_match_rule_sets_version_positive")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_match_rule_sets_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_match_rule_sets")),
        sa.UniqueConstraint(
            "partner_id", "version", name=op.f("uq_collections_match_rule_sets_partner_id_version")
        ),
    )
    op.create_index(
        "ix_collections_match_rule_sets_effective",
        "collections_match_rule_sets",
        ["partner_id", "effective_from"],
        unique=False,
    )
    op.create_table(
        "collections_line_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("line_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("rule_set_id", sa.Uuid(), nullable=True),
        sa.Column("rule_set_version", sa.Integer(), nullable=True),
        sa.Column("rule_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("evidence", domain.shared.types.JSONType, nullable=False),
        sa.Column("candidates", domain.shared.types.JSONType, nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "confidence IS NULL OR (confidence >= 0 AND confidence <= 100)",
            name=op.f("ck_collections_line_decisions_confidence_percent"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["statement_lines.id"],
            name=op.f("fk_collections_line_decisions_line_id_statement_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_line_decisions_partner_id_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["rule_set_id"],
            ["collections_match_rule_sets.id"],
            name=op.f("fk_collections_line_decisions_rule_set_id_collections_match_rule_sets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_line_decisions")),
    )
    op.create_index(
        "ix_collections_line_decisions_line",
        "collections_line_decisions",
        ["line_id", "current"],
        unique=False,
    )
    op.create_index(
        "ix_collections_line_decisions_partner",
        "collections_line_decisions",
        ["partner_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "collections_line_applications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("line_id", sa.Uuid(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("credit_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("reversed_at", domain.shared.types.UTCDateTime(), nullable=True),
        sa.Column("reversal_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.CheckConstraint(
            "amount > 0", name=op.f("ck_collections_line_applications_amount_positive")
        ),
        sa.ForeignKeyConstraint(
            ["credit_id"],
            ["credits.id"],
            name=op.f("fk_collections_line_applications_credit_id_credits"),
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["collections_line_decisions.id"],
            name=op.f("fk_collections_line_applications_decision_id_collections_line_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["statement_lines.id"],
            name=op.f("fk_collections_line_applications_line_id_statement_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_line_applications_partner_id_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["credit_payments.id"],
            name=op.f("fk_collections_line_applications_payment_id_credit_payments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_line_applications")),
        sa.UniqueConstraint(
            "credit_id",
            "idempotency_key",
            name=op.f("uq_collections_line_applications_credit_id_idempotency_key"),
        ),
    )
    op.create_index(
        "ix_collections_line_applications_credit",
        "collections_line_applications",
        ["credit_id"],
        unique=False,
    )
    op.create_index(
        "ix_collections_line_applications_line",
        "collections_line_applications",
        ["line_id"],
        unique=False,
    )
    op.create_table(
        "collections_line_cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("line_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", domain.shared.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_collections_line_cases_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["statement_lines.id"],
            name=op.f("fk_collections_line_cases_line_id_statement_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_collections_line_cases_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections_line_cases")),
        sa.UniqueConstraint("line_id", name=op.f("uq_collections_line_cases_line_id")),
    )
    op.create_index(
        "ix_collections_line_cases_case", "collections_line_cases", ["case_id"], unique=False
    )


def downgrade() -> None:
    table = _typologies()
    cases = sa.table("cases", sa.column("typology_code", sa.String()))
    op.get_bind().execute(
        sa.delete(table).where(
            table.c.code == TYPOLOGY["code"],
            ~sa.exists(
                sa.select(cases.c.typology_code).where(cases.c.typology_code == TYPOLOGY["code"])
            ),
        )
    )
    op.drop_index("ix_collections_line_cases_case", table_name="collections_line_cases")
    op.drop_table("collections_line_cases")
    op.drop_index(
        "ix_collections_line_applications_line", table_name="collections_line_applications"
    )
    op.drop_index(
        "ix_collections_line_applications_credit", table_name="collections_line_applications"
    )
    op.drop_table("collections_line_applications")
    op.drop_index("ix_collections_line_decisions_partner", table_name="collections_line_decisions")
    op.drop_index("ix_collections_line_decisions_line", table_name="collections_line_decisions")
    op.drop_table("collections_line_decisions")
    op.drop_index(
        "ix_collections_match_rule_sets_effective", table_name="collections_match_rule_sets"
    )
    op.drop_table("collections_match_rule_sets")

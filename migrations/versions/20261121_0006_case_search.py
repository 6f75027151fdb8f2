"""case search: SLA orderings and filters; on PostgreSQL, trigram free text and reference
prefixes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 23:10:00.000000

``ix_cases_description_trgm`` needs the ``pg_trgm`` extension (shipped with PostgreSQL's
contrib, trusted since PostgreSQL 13: a database owner may create it). Where the server
does not offer it the index is skipped and the search falls back to a scan; ``alembic
check`` then reports that index as missing on that server.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - every revision imports it (the template does)
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _trigrams_available() -> bool:
    bind = op.get_bind()
    found = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    ).first()
    return found is not None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_sla_due", ["sla_due_at", "id"], unique=False)
        batch_op.create_index(
            "ix_cases_sla_state_due", ["sla_state", "sla_due_at", "id"], unique=False
        )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_cases_reference_pattern",
        "cases",
        ["reference"],
        unique=False,
        postgresql_ops={"reference": "varchar_pattern_ops"},
    )
    if _trigrams_available():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_cases_description_trgm",
            "cases",
            ["description_folded"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"description_folded": "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_cases_description_trgm")
        op.drop_index("ix_cases_reference_pattern", table_name="cases")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_sla_state_due")
        batch_op.drop_index("ix_cases_sla_due")

"""credit_fundings.principal_repaid_before: the principal a credit had repaid when a funding
was made (the funding shares the principal repaid beyond it; docs/investors.md §2)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 10:00:00.000000

Existing fundings are filled in: zero for a funding made before disbursement (it shares
every payment), and for a funding of an active credit the principal allocated by the
credit's booked payments registered before the funding.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - every revision imports it (the template does)
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("credit_fundings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "principal_repaid_before", sa.BigInteger(), nullable=False, server_default="0"
            )
        )
    op.execute(
        """
        UPDATE credit_fundings SET principal_repaid_before = COALESCE((
            SELECT SUM(a.amount)
            FROM credit_allocations a
            JOIN credit_payments p ON p.id = a.payment_id
            WHERE a.credit_id = credit_fundings.credit_id
              AND a.component = 'PRINCIPAL'
              AND p.status = 'BOOKED'
              AND p.created_at < credit_fundings.funded_at
        ), 0)
        WHERE effective_on IS NOT NULL
        """
    )
    with op.batch_alter_table("credit_fundings", schema=None) as batch_op:
        batch_op.alter_column("principal_repaid_before", server_default=None)
        batch_op.create_check_constraint(
            op.f("ck_credit_fundings_principal_repaid_before_not_negative"),
            "principal_repaid_before >= 0",
        )


def downgrade() -> None:
    with op.batch_alter_table("credit_fundings", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("ck_credit_fundings_principal_repaid_before_not_negative"), type_="check"
        )
        batch_op.drop_column("principal_repaid_before")

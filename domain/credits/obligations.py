"""What a customer's open credits in Trama cost them each month (pre-qualification).

For every credit of the customer in ``currency`` that is registered or running (APPROVED,
ACTIVE, DELINQUENT, RESTRUCTURED), the largest installment still unpaid of the schedule in
force: what the customer must keep paying monthly. Read-only; used by origination.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits.models import Credit, Installment
from domain.credits.states import OPEN_STATUSES, CreditStatus, InstallmentStatus

_RUNNING = sorted({*(s.value for s in OPEN_STATUSES), CreditStatus.APPROVED.value})


async def monthly_obligations(
    session: AsyncSession, *, customer_id: uuid.UUID, currency: str
) -> int:
    """Sum over the customer's open credits in ``currency`` of their largest unpaid
    installment (minor units)."""
    per_credit = (
        sa.select(sa.func.max(col(Installment.amount)).label("amount"))
        .select_from(Credit)
        .join(
            Installment,
            sa.and_(
                col(Installment.credit_id) == col(Credit.id),
                col(Installment.schedule_no) == col(Credit.schedule_no),
            ),
        )
        .where(
            col(Credit.customer_id) == customer_id,
            col(Credit.currency) == currency,
            col(Credit.status).in_(_RUNNING),
            col(Installment.status) != InstallmentStatus.PAID.value,
        )
        .group_by(col(Credit.id))
        .subquery()
    )
    total = await session.scalar(sa.select(sa.func.coalesce(sa.func.sum(per_credit.c.amount), 0)))
    return int(total or 0)

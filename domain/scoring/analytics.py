"""The score dashboard's data (``scoreAnalytics``): applications and approvals by grade,
realised delinquency by grade, PSI of the active version.

Realised delinquency follows each scored application to its credit (``credit_applications
.credit_id``, read-only) and counts the credits now 30 or more days past due or written off.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits.models import Credit
from domain.credits.states import CreditStatus
from domain.origination.models import CreditApplication
from domain.scoring import access, psi, service
from domain.scoring.models import ScoringDecision
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.principal import Principal

DELINQUENT_DAYS = 30
RATE = Decimal("0.0001")
MAX_PERIOD_DAYS = 731


@dataclass(frozen=True)
class GradeLine:
    grade: str  # "" for applications without a grade (rejected below every band)
    applications: int
    approvals: int
    referrals: int
    rejections: int
    credits: int
    delinquent_credits: int

    @property
    def approval_rate(self) -> Decimal | None:
        if not self.applications:
            return None
        return (Decimal(self.approvals) / self.applications).quantize(RATE, ROUND_HALF_EVEN)

    @property
    def delinquency_rate(self) -> Decimal | None:
        if not self.credits:
            return None
        return (Decimal(self.delinquent_credits) / self.credits).quantize(RATE, ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Analytics:
    lender_id: uuid.UUID
    since: datetime
    until: datetime
    applications: int
    grades: tuple[GradeLine, ...]
    scorecard_version: int | None
    psi: psi.PsiReport | None


async def score_analytics(
    session: AsyncSession,
    *,
    principal: Principal,
    lender_id: uuid.UUID,
    since: datetime,
    until: datetime,
) -> Analytics:
    access.ensure_can_read(principal)
    if not principal.is_admin and principal.partner_id != lender_id:
        raise Forbidden("you see your own lender's scoring")
    if until <= since:
        raise ValidationFailed.on("period.to", "after period.from")
    if (until - since).days > MAX_PERIOD_DAYS:
        raise ValidationFailed.on("period", f"at most {MAX_PERIOD_DAYS} days")
    # the latest decision of each application scored in the period
    latest = (
        sa.select(
            col(ScoringDecision.application_id).label("application_id"),
            sa.func.max(col(ScoringDecision.created_at)).label("at"),
        )
        .where(
            col(ScoringDecision.lender_id) == lender_id,
            col(ScoringDecision.created_at) >= since,
            col(ScoringDecision.created_at) < until,
        )
        .group_by(col(ScoringDecision.application_id))
        .subquery()
    )
    grade = sa.func.coalesce(col(ScoringDecision.grade), "")
    delinquent = sa.or_(
        col(Credit.days_past_due) >= DELINQUENT_DAYS,
        col(Credit.status) == CreditStatus.WRITTEN_OFF.value,
    )
    rows = (
        await session.execute(
            sa.select(
                grade,
                sa.func.count(),
                sa.func.count().filter(col(ScoringDecision.outcome) == "approve"),
                sa.func.count().filter(col(ScoringDecision.outcome) == "refer"),
                sa.func.count().filter(col(ScoringDecision.outcome) == "reject"),
                sa.func.count(col(Credit.id)),
                sa.func.count(col(Credit.id)).filter(delinquent),
            )
            .select_from(ScoringDecision)
            .join(
                latest,
                sa.and_(
                    latest.c.application_id == col(ScoringDecision.application_id),
                    latest.c.at == col(ScoringDecision.created_at),
                ),
            )
            .outerjoin(
                CreditApplication,
                col(CreditApplication.id) == col(ScoringDecision.application_id),
            )
            .outerjoin(Credit, col(Credit.id) == col(CreditApplication.credit_id))
            .where(col(ScoringDecision.lender_id) == lender_id)
            .group_by(grade)
            .order_by(grade)
        )
    ).all()
    lines = [GradeLine(str(r[0]), *(int(x) for x in r[1:])) for r in rows]
    lines.sort(key=lambda g: (g.grade == "", g.grade))
    found = await service.psi_report(session, lender_id=lender_id, since=since, until=until)
    return Analytics(
        lender_id=lender_id,
        since=since,
        until=until,
        applications=sum(g.applications for g in lines),
        grades=tuple(lines),
        scorecard_version=found[0].version if found else None,
        psi=found[1] if found else None,
    )

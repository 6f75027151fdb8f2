"""Scoring's GraphQL types: scorecard versions, decision records, the score dashboard.

Scorecards and the details of decisions are for the lender's staff with ``scoring:read``
(``scoring:manage`` to change them); a customer reads the reasons of their own decision.
Types are built from the domain's rows; no field runs SQL.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from domain.scoring import analytics as analytics_domain
from domain.scoring import card as cards
from domain.scoring import models
from domain.scoring import psi as psi_domain
from schema.errors import (
    ConflictError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)


def _gid(type_name: str, key: Any) -> strawberry.ID:
    return strawberry.ID(str(strawberry.relay.GlobalID(type_name, str(key))))


@strawberry.enum
class ScorecardStatus(Enum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    RETIRED = "RETIRED"


@strawberry.enum
class ScoringOutcome(Enum):
    APPROVE = "approve"
    REFER = "refer"
    REJECT = "reject"


@strawberry.type(description="One bin of an attribute and the points it gives.")
class ScorecardBin:
    label: str
    points: int
    missing: bool
    other: bool = strawberry.field(description="Categories the other bins do not list.")
    min: Decimal | None = strawberry.field(description="Inclusive lower bound (numeric).")
    max: Decimal | None = strawberry.field(description="Exclusive upper bound (numeric).")
    categories: list[str]


@strawberry.type(description="A characteristic of the applicant the card scores.")
class ScorecardAttribute:
    code: str
    feature: str
    reason_code: str
    reason_es: str
    reason_en: str
    best_points: int
    bins: list[ScorecardBin]


@strawberry.type(description="A grade band: its scores, yearly rate and maximum term.")
class ScorecardGrade:
    grade: str
    min_score: int
    annual_rate: Decimal
    max_term_months: int


@strawberry.type(description="A version of a lender's scorecard.")
class Scorecard:
    id: strawberry.ID
    lender_id: strawberry.ID
    version: int
    name: str
    status: ScorecardStatus
    source: str
    row_version: int = strawberry.field(description="Send it back to activate or retire.")
    base_score: int
    base_odds: Decimal = strawberry.field(description="Good:bad odds at the base score.")
    pdo: int = strawberry.field(description="Points to double the odds.")
    approve_at: int
    refer_at: int
    attributes: list[ScorecardAttribute]
    grades: list[ScorecardGrade]
    document: JSON
    metrics: JSON | None = strawberry.field(description="What the fit measured (Gini, KS …).")
    created_at: datetime
    created_by: str
    activated_at: datetime | None
    retired_at: datetime | None

    @classmethod
    def from_model(cls, m: models.Scorecard, card: cards.Card) -> Scorecard:
        return cls(
            id=strawberry.ID(str(m.id)),
            lender_id=_gid("Partner", m.lender_id),
            version=m.version,
            name=m.name,
            status=ScorecardStatus(m.status),
            source=m.source,
            row_version=m.row_version,
            base_score=card.scaling.base_score,
            base_odds=card.scaling.base_odds,
            pdo=card.scaling.pdo,
            approve_at=card.approve_at,
            refer_at=card.refer_at,
            attributes=[
                ScorecardAttribute(
                    code=a.code,
                    feature=a.feature,
                    reason_code=a.reason_code,
                    reason_es=a.reason_es,
                    reason_en=a.reason_en,
                    best_points=a.best_points,
                    bins=[
                        ScorecardBin(
                            label=b.label,
                            points=b.points,
                            missing=b.missing,
                            other=b.other,
                            min=b.low,
                            max=b.high,
                            categories=sorted(b.categories),
                        )
                        for b in a.bins
                    ],
                )
                for a in card.attributes
            ],
            grades=[
                ScorecardGrade(
                    grade=g.grade,
                    min_score=g.min_score,
                    annual_rate=g.annual_rate,
                    max_term_months=g.max_term_months,
                )
                for g in card.grades
            ],
            document=cast(JSON, m.document),
            metrics=cast(JSON, m.metrics),
            created_at=m.created_at,
            created_by=m.created_by,
            activated_at=m.activated_at,
            retired_at=m.retired_at,
        )


@strawberry.type
class ScorecardPage:
    items: list[Scorecard]
    end_cursor: str | None
    has_next_page: bool


@strawberry.type(description="What one attribute scored.")
class ScoredAttribute:
    code: str
    feature: str
    value: str | None
    bin: str
    points: int
    best_points: int


@strawberry.type(description="A reason the applicant lost points, in words they can be told.")
class ScoringReason:
    code: str
    attribute: str | None
    gap: int = strawberry.field(description="Points below the attribute's best.")
    text_es: str
    text_en: str


@strawberry.type(
    description="A scoring run's decision. The reasons are for the applicant and the lender's "
    "staff; the rest (inputs, points, PD, the bureau's summary) for the staff only — null "
    "for the applicant."
)
class ScoringDecision:
    id: strawberry.ID
    application_id: strawberry.ID
    outcome: ScoringOutcome
    grade: str | None
    reasons: list[ScoringReason]
    created_at: datetime
    scorecard_version: int | None
    total: int | None
    pd: Decimal | None = strawberry.field(description="Probability of default (6 decimals).")
    attributes: list[ScoredAttribute] | None
    inputs: JSON | None
    bureau_status: str | None
    bureau: JSON | None

    @classmethod
    def from_model(cls, m: models.ScoringDecision, *, full: bool) -> ScoringDecision:
        return cls(
            id=strawberry.ID(str(m.id)),
            application_id=_gid("CreditApplication", m.application_id),
            outcome=ScoringOutcome(m.outcome),
            grade=m.grade,
            reasons=[
                ScoringReason(
                    code=r["code"],
                    attribute=r.get("attribute"),
                    gap=int(r.get("gap") or 0),
                    text_es=r["es"],
                    text_en=r["en"],
                )
                for r in m.reasons
            ],
            created_at=m.created_at,
            scorecard_version=m.scorecard_version if full else None,
            total=m.total if full else None,
            pd=m.pd if full else None,
            attributes=[
                ScoredAttribute(
                    code=a["code"],
                    feature=a["feature"],
                    value=a.get("value"),
                    bin=a["bin"],
                    points=int(a["points"]),
                    best_points=int(a["bestPoints"]),
                )
                for a in m.attributes
            ]
            if full
            else None,
            inputs=cast(JSON, m.inputs) if full else None,
            bureau_status=m.bureau_status if full else None,
            bureau=cast(JSON, m.bureau) if full else None,
        )


@strawberry.type
class ScoreGradeLine:
    grade: str | None = strawberry.field(description="Null: scored below every grade.")
    applications: int
    approvals: int
    referrals: int
    rejections: int
    approval_rate: Decimal | None
    credits: int = strawberry.field(description="Credits granted from these applications.")
    delinquent_credits: int = strawberry.field(
        description="Of them, 30+ days past due or written off today."
    )
    delinquency_rate: Decimal | None


@strawberry.type
class PsiLine:
    name: str = strawberry.field(description="SCORE, or an attribute's code.")
    psi: Decimal
    band: str = strawberry.field(description="STABLE (< 0.10), SHIFT (< 0.25) or UNSTABLE.")


@strawberry.type(description="The score dashboard of a lender over a period.")
class ScoreAnalytics:
    lender_id: strawberry.ID
    from_: datetime = strawberry.field(name="from")
    to: datetime
    applications: int
    grades: list[ScoreGradeLine]
    scorecard_version: int | None
    psi_rows: int
    psi: list[PsiLine]

    @classmethod
    def from_domain(cls, a: analytics_domain.Analytics) -> ScoreAnalytics:
        report: psi_domain.PsiReport | None = a.psi
        return cls(
            lender_id=_gid("Partner", a.lender_id),
            from_=a.since,
            to=a.until,
            applications=a.applications,
            grades=[
                ScoreGradeLine(
                    grade=g.grade or None,
                    applications=g.applications,
                    approvals=g.approvals,
                    referrals=g.referrals,
                    rejections=g.rejections,
                    approval_rate=g.approval_rate,
                    credits=g.credits,
                    delinquent_credits=g.delinquent_credits,
                    delinquency_rate=g.delinquency_rate,
                )
                for g in a.grades
            ],
            scorecard_version=a.scorecard_version,
            psi_rows=report.rows if report else 0,
            psi=[PsiLine(name=x.name, psi=x.psi, band=x.band) for x in report.lines]
            if report
            else [],
        )


@strawberry.input
class ScorePeriodInput:
    from_: datetime = strawberry.field(name="from")
    to: datetime


@strawberry.input
class CreateScorecardInput:
    lender_id: strawberry.ID
    name: str
    document: JSON = strawberry.field(description="The card (format trama.scoring.scorecard/1).")


@strawberry.input
class ChangeScorecardInput:
    id: strawberry.ID
    row_version: int | None = None


@strawberry.type
class ScorecardSuccess:
    scorecard: Scorecard


ScorecardPayload = Annotated[
    ScorecardSuccess
    | ValidationError
    | ForbiddenError
    | NotFoundError
    | ConflictError
    | InvalidTransitionError,
    strawberry.union("ScorecardPayload"),
]

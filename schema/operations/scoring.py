from __future__ import annotations

import strawberry

from resolvers import scoring as r
from schema.scoring import (
    ScoreAnalytics,
    Scorecard,
    ScorecardPage,
    ScorecardPayload,
    ScoringDecision,
)


@strawberry.type
class ScoringQuery:
    scorecards: ScorecardPage = strawberry.field(
        resolver=r.scorecards,
        description="Scorecard versions you may see, newest first: your lender's "
        "(`scoring:read`), every lender's (administrators).",
    )
    scorecard: Scorecard | None = strawberry.field(
        resolver=r.scorecard, description="A scorecard version by id; null if you cannot see it."
    )
    scoring_decision: ScoringDecision | None = strawberry.field(
        resolver=r.scoring_decision,
        description="A scoring decision (a CreditApplication's decisionId): in full for the "
        "lender's staff with `scoring:read`, its reasons only for the applicant.",
    )
    score_analytics: ScoreAnalytics = strawberry.field(
        resolver=r.score_analytics,
        description="Applications and approvals by grade, realised delinquency by grade, and "
        "the population stability of the active scorecard over a period (`scoring:read`).",
    )


@strawberry.type
class ScoringMutation:
    create_scorecard: ScorecardPayload = strawberry.mutation(
        resolver=r.create_scorecard,
        description="Store a DRAFT scorecard version (`scoring:manage`); a card that breaks a "
        "rule is refused with SCORECARD_INVALID and each problem's code.",
    )
    activate_scorecard: ScorecardPayload = strawberry.mutation(
        resolver=r.activate_scorecard,
        description="Make a DRAFT version the lender's active one; the previous is retired.",
    )
    retire_scorecard: ScorecardPayload = strawberry.mutation(
        resolver=r.retire_scorecard, description="Retire a draft or the active version."
    )

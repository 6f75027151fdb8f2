"""Root fields of the reconciliation (matching bank lines to credits)."""

from __future__ import annotations

import strawberry

from resolvers import collections_matching as r
from schema.collections_matching import (
    ConfirmMatchPayload,
    CreateMatchRuleSetPayload,
    IgnoreLinePayload,
    MatchDecision,
    MatchManuallyPayload,
    MatchRuleSets,
    ReconciliationExplanation,
    ReconciliationItem,
    ReconciliationItemConnection,
    UnmatchLinePayload,
)


@strawberry.type
class ReconciliationQuery:
    reconciliation_queue: ReconciliationItemConnection = strawberry.field(
        resolver=r.reconciliation_queue,
        description="Statement lines waiting for a person (SUGGESTED, EXCEPTION, UNMATCHED by "
        "default), oldest booking first, each with its decision explained.",
    )
    reconciliation_item: ReconciliationItem | None = strawberry.field(
        resolver=r.reconciliation_item,
        description="A statement line's reconciliation; null if not yours.",
    )
    reconciliation_history: list[MatchDecision] = strawberry.field(
        resolver=r.reconciliation_history,
        description="Every decision a line had, oldest first.",
    )
    explain_reconciliation: ReconciliationExplanation = strawberry.field(
        resolver=r.explain_reconciliation,
        description="What the rule set in force (or draft `rules`) makes of a line now, rule "
        "by rule. Nothing is written.",
    )
    match_rule_sets: MatchRuleSets = strawberry.field(
        resolver=r.match_rule_sets,
        description="A lender's matching rule versions (yours unless you are an admin).",
    )


@strawberry.type
class ReconciliationMutation:
    confirm_match: ConfirmMatchPayload = strawberry.mutation(
        resolver=r.confirm_match,
        description="Book a suggested line as one of its options (0: the best).",
    )
    match_manually: MatchManuallyPayload = strawberry.mutation(
        resolver=r.match_manually,
        description="Book a line to one or several credits; the parts add up to the line.",
    )
    unmatch: UnmatchLinePayload = strawberry.mutation(
        resolver=r.unmatch_line,
        description="Undo a line's match: the payments it booked are reversed.",
    )
    ignore_line: IgnoreLinePayload = strawberry.mutation(
        resolver=r.ignore_line, description="Set aside a line that pays no credit."
    )
    create_match_rule_set: CreateMatchRuleSetPayload = strawberry.mutation(
        resolver=r.create_match_rule_set,
        description="A new version of a lender's matching rules (supervisors, admins).",
    )

"""Scoring's errors (resolvers map them to typed payload errors with ``extensions.code``)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.shared.errors import DomainError, FieldProblem, ValidationFailed


@dataclass(frozen=True)
class ScorecardProblem:
    """One reason a scorecard document is refused: where, a stable code, words."""

    field: str
    code: str
    message: str


class ScorecardInvalid(ValidationFailed):
    """A scorecard document breaks a rule (bins that overlap or leave gaps, grades out of
    order, cut-offs that contradict the grades …). ``codes`` lists each problem's code."""

    code = "SCORECARD_INVALID"

    def __init__(self, problems: list[ScorecardProblem]) -> None:
        super().__init__([FieldProblem(p.field, f"{p.code}: {p.message}") for p in problems])
        self.scorecard_problems = problems
        self.codes = sorted({p.code for p in problems})


class NoActiveScorecard(DomainError):
    code = "NO_ACTIVE_SCORECARD"

    def __init__(self, lender: object) -> None:
        super().__init__(f"lender {lender} has no active scorecard")


class UnknownGrade(DomainError):
    code = "UNKNOWN_GRADE"

    def __init__(self, grade: str) -> None:
        super().__init__(f"the active scorecard has no grade {grade!r}")


class BureauUnavailable(Exception):
    """The bureau could not answer (down, slow, 5xx, an answer that is not its format)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

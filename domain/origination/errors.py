"""Origination's expected failures, each with its ``extensions.code``.

Bad input is a :class:`ApplicationInputInvalid` (a ``ValidationFailed``): every problem
found is listed, and ``code`` is the code of the first one (``INCOME_NEGATIVE``,
``TERM_BEYOND_GRADE``, ``CONSENT_MISSING``, ``WRONG_CURRENCY`` …), so a client can branch on
it while the problems name every field. Nothing is written when one is raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.shared.errors import Conflict, FieldProblem, ValidationFailed

#: Codes of bad input.
INCOME_NEGATIVE = "INCOME_NEGATIVE"
AMOUNT_INVALID = "AMOUNT_INVALID"
TERM_INVALID = "TERM_INVALID"
TERM_BEYOND_GRADE = "TERM_BEYOND_GRADE"
CONSENT_MISSING = "CONSENT_MISSING"
WRONG_CURRENCY = "WRONG_CURRENCY"
EMPLOYMENT_INVALID = "EMPLOYMENT_INVALID"
OBLIGATIONS_INVALID = "OBLIGATIONS_INVALID"
LENDER_INVALID = "LENDER_INVALID"
CUSTOMER_INVALID = "CUSTOMER_INVALID"
INPUT_INVALID = "VALIDATION"


class ApplicationInputInvalid(ValidationFailed):
    def __init__(self, problems: list[FieldProblem], codes: list[str]) -> None:
        super().__init__(problems)
        self.codes = codes
        self.code = codes[0]


@dataclass
class CodedProblems:
    """Collects field problems, each with its code."""

    items: list[FieldProblem] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)

    def add(self, field_name: str, message: str, code: str = INPUT_INVALID) -> None:
        self.items.append(FieldProblem(field_name, message))
        self.codes.append(code)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ApplicationInputInvalid(list(self.items), list(self.codes))


class VehicleNotAvailable(Conflict):
    code = "VEHICLE_NOT_AVAILABLE"


class ApplicationExpired(Conflict):
    code = "APPLICATION_EXPIRED"


class OfferExpired(Conflict):
    code = "OFFER_EXPIRED"


class AlreadyDecided(Conflict):
    """``apply_decision`` for an application already decided with another decision."""

    code = "ALREADY_DECIDED"


class GradeTermsUnavailable(Conflict):
    """No grade terms (scoring has no active scorecard for the lender, or the grade)."""

    code = "GRADE_TERMS_UNAVAILABLE"

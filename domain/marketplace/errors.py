"""Marketplace's expected failures, each with its ``extensions.code``."""

from __future__ import annotations

from dataclasses import dataclass

from domain.shared.errors import Conflict, DomainError, FieldProblem, NotFound, ValidationFailed


class VehicleNotFound(NotFound):
    def __init__(self, key: object) -> None:
        super().__init__("Vehicle", key)


class UnknownDealer(NotFound):
    """No partner with that code, or one that does not sell vehicles (dealer or retailer)."""

    code = "UNKNOWN_DEALER"

    def __init__(self, key: object) -> None:
        super().__init__("Dealer", key)


class VehicleReserved(Conflict):
    """Held for another application."""

    code = "VEHICLE_RESERVED"


class VehicleNotAvailable(Conflict):
    """Sold or withdrawn: it cannot be reserved."""

    code = "VEHICLE_NOT_AVAILABLE"


class NotPrequalified(DomainError):
    """``affordableFor`` names a customer without pre-qualified terms in force."""

    code = "NOT_PREQUALIFIED"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A bad row of a feed: its line in the file (1 = the header) and the field."""

    line: int
    field: str
    message: str


class FeedRefused(ValidationFailed):
    """A feed with bad rows and no partial import asked: nothing was written."""

    code = "FEED_REFUSED"

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(
            [FieldProblem(f"line {p.line}: {p.field}", p.message) for p in problems[:200]]
        )
        self.rows = problems

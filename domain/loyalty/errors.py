"""Loyalty's expected failures, each with its ``extensions.code``."""

from __future__ import annotations

from domain.shared.errors import Conflict


class InsufficientPoints(Conflict):
    """Taking more points than the account has available."""

    code = "INSUFFICIENT_POINTS"

    def __init__(self, wanted: int, available: int) -> None:
        super().__init__(f"{wanted} points are needed and {available} are available")
        self.wanted = wanted
        self.available = available


class OutOfStock(Conflict):
    code = "OUT_OF_STOCK"


class LimitReached(Conflict):
    """A reward's limit per member and period."""

    code = "LIMIT_REACHED"


class OverlappingDates(Conflict):
    """A rule set whose dates overlap a version in force."""

    code = "OVERLAPPING_DATES"


class AccountNotActive(Conflict):
    code = "ACCOUNT_NOT_ACTIVE"


class RewardUnavailable(Conflict):
    """Inactive, or outside its dates."""

    code = "REWARD_UNAVAILABLE"

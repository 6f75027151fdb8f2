"""Errors of the cases domain (all of them domain errors resolvers already map)."""

from __future__ import annotations

from domain.shared.errors import Conflict, NotFound


class CaseNotFound(NotFound):
    """No such case, or none the principal may see (the two are not told apart)."""

    def __init__(self, key: object) -> None:
        super().__init__("Case", key)


class CaseFinished(Conflict):
    """The case is resolved, rejected or closed: reopen it before changing it."""

    def __init__(self, reference: str, status: str) -> None:
        super().__init__(f"case {reference} is {status}: reopen it before changing it")
        self.status = status

"""The inbox's errors."""

from __future__ import annotations

from domain.shared.errors import DomainError


class DeliveryRejected(DomainError):
    """A processor found the stored delivery unusable (e.g. a body that is not the sender's
    JSON): retrying cannot help, the delivery is marked failed for good."""

    code = "WEBHOOK_REJECTED"


class UnknownSource(DomainError):
    code = "NOT_FOUND"

    def __init__(self, source: str) -> None:
        super().__init__(f"no webhook source {source!r}")
        self.source = source

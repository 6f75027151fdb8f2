"""The lead form's start token: when the form was shown, signed by the server.

The landing page asks ``leadFormToken`` when it shows the form and sends the token back
with ``captureLead``. The token carries the lender, the instant it was issued (the server's
clock) and a random nonce, signed with HMAC-SHA256; so the server knows how long the form
was open without trusting the client's clock. A form sent sooner than ``min_seconds``
after it was shown is a script's (a person takes longer to type a name, an e-mail and a
phone); one older than ``max_age`` must be shown again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.shared.time import utcnow

_TAG = "trama-lead-form-v1"


class BadFormToken(ValueError):
    """Missing, forged, for another lender, too old, or too young."""

    def __init__(self, reason: str, *, too_fast: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_fast = too_fast


@dataclass(frozen=True)
class FormTokens:
    secret: bytes
    min_seconds: int = 3
    max_age: timedelta = timedelta(hours=4)

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise ValueError("the lead form secret needs at least 32 bytes")

    def _sign(self, body: str) -> str:
        digest = hmac.new(self.secret, f"{_TAG}.{body}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, lender_id: uuid.UUID, *, now: datetime | None = None) -> str:
        issued = now or utcnow()
        micros = int(issued.timestamp() * 1_000_000)
        body = f"{lender_id.hex}.{micros}.{secrets.token_hex(8)}"
        return f"{body}.{self._sign(body)}"

    def check(
        self, token: str | None, lender_id: uuid.UUID, *, now: datetime | None = None
    ) -> None:
        """Raise :class:`BadFormToken` unless ``token`` is ours, for ``lender_id``, and was
        issued between ``max_age`` and ``min_seconds`` ago."""
        if not token or len(token) > 200:
            raise BadFormToken("the form token is missing")
        parts = token.split(".")
        if len(parts) != 4:
            raise BadFormToken("the form token is not valid")
        body = ".".join(parts[:3])
        if not hmac.compare_digest(self._sign(body), parts[3]):
            raise BadFormToken("the form token is not valid")
        if parts[0] != lender_id.hex:
            raise BadFormToken("the form token is for another lender's form")
        try:
            micros = int(parts[1])
        except ValueError:
            raise BadFormToken("the form token is not valid") from None
        current = now or utcnow()
        elapsed = current.timestamp() - micros / 1_000_000
        if elapsed > self.max_age.total_seconds():
            raise BadFormToken("the form was open too long: show it again")
        if elapsed < self.min_seconds:
            raise BadFormToken("the form was sent too fast", too_fast=True)

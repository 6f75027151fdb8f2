"""DocuSeal's webhooks as data: signature check, the deduplication key, the events.

DocuSeal signs a delivery (when a secret is configured) with
``X-Docuseal-Signature: <unix ts>.<hex HMAC-SHA256(secret, "<ts>.<raw body>")>``; the
timestamp must be within ±300 s of the system clock, so a captured delivery cannot be
replayed later. Older DocuSeal instances can only add a custom header with a fixed value
(``TRAMA_DOCUSEAL_WEBHOOK_HEADER`` / ``..._VALUE``): that is checked in constant time instead.

DocuSeal sends no event id and retries a delivery with the same body, so a delivery is
identified by ``(event_type, data.id, timestamp)``.

Body::

    {"event_type": "form.completed", "timestamp": "2026-12-02T18:00:00.000Z",
     "data": {...the submitter (form.*) or the submission (submission.*)...}}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.shared.time import ensure_utc

SIGNATURE_HEADER = "x-docuseal-signature"
DEFAULT_TOLERANCE = 300

FORM_EVENTS = frozenset({"form.viewed", "form.started", "form.completed", "form.declined"})
SUBMISSION_EVENTS = frozenset({"submission.completed", "submission.expired"})
KNOWN_EVENTS = FORM_EVENTS | SUBMISSION_EVENTS


class SignatureInvalid(Exception):
    """The delivery is not DocuSeal's (or too old): ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PayloadInvalid(Exception):
    """Not a DocuSeal webhook body."""


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The header value DocuSeal sends (the fake DocuSeal of the tests uses it too)."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{timestamp}.{mac}"


def verify_signature(
    header: str | None,
    body: bytes,
    *,
    secret: bytes,
    tolerance: int = DEFAULT_TOLERANCE,
    now: datetime | None = None,
) -> None:
    """Refuse (:class:`SignatureInvalid`) unless ``header`` signs the raw ``body`` with
    ``secret`` at a time within ``tolerance`` seconds of now. The signature's time is DocuSeal's
    clock, so it is compared with the system clock, not the domain's business clock
    (``domain/shared/time.py``: protocol timestamps stay on the system clock)."""
    if not header:
        raise SignatureInvalid("MISSING_SIGNATURE", "the delivery carries no signature")
    stamp, dot, given = header.strip().partition(".")
    if not dot or not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise SignatureInvalid("INVALID_SIGNATURE", "the signature is not '<timestamp>.<hex>'")
    expected = sign(secret, body, int(stamp)).partition(".")[2]
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode("ascii", "replace")):
        raise SignatureInvalid("INVALID_SIGNATURE", "the signature does not match the body")
    current = ensure_utc(now).timestamp() if now is not None else time.time()
    if abs(current - int(stamp)) > tolerance:
        raise SignatureInvalid(
            "SIGNATURE_EXPIRED",
            f"the signature's time is more than {tolerance} s away from now",
        )


def verify_header_value(given: str | None, expected: str) -> None:
    """Older DocuSeal: a custom header with a fixed secret value (constant time)."""
    if not given:
        raise SignatureInvalid("MISSING_SIGNATURE", "the delivery carries no secret header")
    if not hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8", "replace")).digest(),
        hashlib.sha256(expected.encode()).digest(),
    ):
        raise SignatureInvalid("INVALID_SIGNATURE", "the secret header does not match")


@dataclass(frozen=True)
class DocusealEvent:
    event_type: str
    timestamp: datetime
    #: The text of ``timestamp`` as sent (part of the deduplication key).
    timestamp_text: str
    data: dict[str, Any]

    @property
    def data_id(self) -> int:
        return int(self.data["id"])

    @property
    def is_form(self) -> bool:
        return self.event_type in FORM_EVENTS

    @property
    def submission_id(self) -> int | None:
        """The submission the event is about."""
        if not self.is_form:
            return self.data_id
        value = self.data.get("submission_id")
        if value is None:
            value = (self.data.get("submission") or {}).get("id")
        return _int_or_none(value)

    @property
    def submitter_id(self) -> int | None:
        return self.data_id if self.is_form else None

    @property
    def external_id(self) -> str | None:
        value = self.data.get("external_id")
        return str(value) if value not in (None, "") else None

    @property
    def decline_reason(self) -> str | None:
        value = self.data.get("decline_reason")
        return str(value)[:2000] if value else None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _timestamp(text: str) -> datetime:
    try:
        return ensure_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise PayloadInvalid(f"timestamp {text[:40]!r} is not an ISO 8601 instant") from None


def parse_event(body: bytes) -> DocusealEvent:
    """The webhook body as an event (:class:`PayloadInvalid` when it is not one)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadInvalid("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise PayloadInvalid("the body is not a JSON object")
    event_type = payload.get("event_type")
    stamp = payload.get("timestamp")
    data = payload.get("data")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 60:
        raise PayloadInvalid("event_type is missing")
    if not isinstance(stamp, str) or not stamp or len(stamp) > 40:
        raise PayloadInvalid("timestamp is missing")
    if not isinstance(data, dict) or _int_or_none(data.get("id")) is None:
        raise PayloadInvalid("data.id is missing")
    data = {**data, "id": _int_or_none(data.get("id"))}
    return DocusealEvent(event_type, _timestamp(stamp), stamp, data)


def dedup_key(event: DocusealEvent) -> str:
    """``<event_type>:<data.id>:<timestamp>`` (DocuSeal re-sends these unchanged)."""
    return f"{event.event_type}:{event.data_id}:{event.timestamp_text}"

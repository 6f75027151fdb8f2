"""Input rules of the cases services: each adds a field problem instead of raising, so a
service reports every wrong field at once. No card number passes any of them."""

from __future__ import annotations

import contextlib
import re
import unicodedata
from typing import Any

from domain.cases.models import (
    CHOOSABLE_RESOLUTION_CODES,
    NO_REFUND_CODES,
    Channel,
    Priority,
    ResolutionCode,
    Visibility,
)
from domain.shared import pan
from domain.shared.errors import Problems
from domain.shared.money import Money

_LAST4 = re.compile(r"^[0-9]{4}$", re.ASCII)
_TOKEN = re.compile(r"^[A-Za-z0-9_\-:.]{6,64}$", re.ASCII)
_EXTERNAL_REF = re.compile(r"^[A-Za-z0-9_\-:./#]{1,100}$", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

DESCRIPTION_MAX = 4000
NOTE_MAX = 2000
REASON_MAX = 1000
COMMENT_MAX = 4000


def text(
    problems: Problems,
    field: str,
    value: str | None,
    *,
    max_len: int,
    required: bool = True,
) -> str | None:
    """Trimmed NFC text without control characters or card numbers."""
    clean = unicodedata.normalize("NFC", value or "").strip()
    if not clean:
        if required:
            problems.add(field, "is required")
        return None
    if len(clean) > max_len:
        problems.add(field, f"must be at most {max_len} characters")
        return None
    if _CONTROL.search(clean):
        problems.add(field, "must not contain control characters")
        return None
    if pan.contains_pan(clean):
        problems.add(field, pan.MESSAGE)
        return None
    return clean


def card_last4(problems: Problems, field: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    clean = value.strip()
    if pan.contains_pan(clean):
        problems.add(field, pan.MESSAGE)
        return None
    if not _LAST4.match(clean):
        problems.add(field, "must be exactly the last 4 digits of the card")
        return None
    return clean


def card_token(problems: Problems, field: str, value: str | None) -> str | None:
    """The issuer vault's token for the card: 6-64 letters, digits or ``_ - : .``; a string
    of digits that reads as a card number is a card number, not a token."""
    if value is None or not value.strip():
        return None
    clean = value.strip()
    if pan.contains_pan(clean):
        problems.add(field, pan.MESSAGE)
        return None
    if not _TOKEN.match(clean):
        problems.add(field, "must be 6-64 letters, digits or _ - : .")
        return None
    return clean


def external_ref(problems: Problems, field: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    clean = value.strip()
    if pan.contains_pan(clean):
        problems.add(field, pan.MESSAGE)
        return None
    if not _EXTERNAL_REF.match(clean):
        problems.add(field, "must be 1-100 letters, digits or _ - : . / #")
        return None
    return clean


def amount(problems: Problems, field: str, value: Money | None) -> Money | None:
    if value is None:
        return None
    if not isinstance(value, Money):
        problems.add(field, "must be an amount of money")
        return None
    if value.amount <= 0:
        problems.add(field, "must be greater than zero")
        return None
    return value


def _enum(problems: Problems, field: str, value: Any, kind: type[Any]) -> Any:
    try:
        return kind(value)
    except ValueError:
        problems.add(field, f"must be one of {', '.join(m.value for m in kind)}")
        return None


def channel(problems: Problems, field: str, value: str | Channel) -> Channel | None:
    result: Channel | None = _enum(problems, field, value, Channel)
    return result


def priority(problems: Problems, field: str, value: str | Priority) -> Priority | None:
    result: Priority | None = _enum(problems, field, value, Priority)
    return result


def visibility(problems: Problems, field: str, value: str | Visibility) -> Visibility | None:
    result: Visibility | None = _enum(problems, field, value, Visibility)
    return result


def resolution(
    problems: Problems,
    *,
    code: str | ResolutionCode,
    note: str | None,
    refund: Money | None,
    dispute: Money | None,
    code_field: str = "code",
    note_field: str = "note",
    refund_field: str = "amountRefunded",
) -> tuple[ResolutionCode | None, str | None, Money | None]:
    """A resolution a person may record: a choosable code, a note, and a refund that is
    in the dispute's currency and no more than the amount in dispute."""
    chosen: ResolutionCode | None = None
    with contextlib.suppress(ValueError):
        chosen = ResolutionCode(code)
    if chosen is None or chosen not in CHOOSABLE_RESOLUTION_CODES:
        names = ", ".join(sorted(c.value for c in CHOOSABLE_RESOLUTION_CODES))
        problems.add(code_field, f"must be one of {names}")
        chosen = None
    clean_note = text(problems, note_field, note, max_len=NOTE_MAX)
    clean_refund: Money | None = None
    if refund is not None:
        if not isinstance(refund, Money):
            problems.add(refund_field, "must be an amount of money")
        elif refund.amount < 0:
            problems.add(refund_field, "must not be negative")
        elif dispute is not None and refund.currency != dispute.currency:
            problems.add(
                refund_field,
                f"must be in {dispute.currency}, the currency of the amount in dispute",
            )
        elif dispute is not None and refund.amount > dispute.amount:
            problems.add(
                refund_field, f"must not exceed the amount in dispute ({dispute.format()})"
            )
        elif chosen in NO_REFUND_CODES and refund.amount > 0:
            problems.add(refund_field, f"nothing is refunded on a {chosen.value} resolution")
        else:
            clean_refund = refund
    return chosen, clean_note, clean_refund

"""Keyset pagination: opaque cursors over the sort key of an indexed ordering."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

from domain.shared.errors import ValidationFailed

T = TypeVar("T")

_URLSAFE = re.compile(r"[A-Za-z0-9_-]*={0,2}", re.ASCII)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    total: int | None = None


def encode_cursor(tag: str, *values: str | int | None) -> str:
    raw = orjson.dumps([tag, *values])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, tag: str, arity: int, *, field: str = "after") -> list[object]:
    """The values packed in ``cursor``. A malformed cursor, or one from another list, is
    refused. Cursors are not secret: they only encode the sort key of the last row."""
    if not isinstance(cursor, str) or len(cursor) > 1000 or not _URLSAFE.fullmatch(cursor):
        raise ValidationFailed.on(field, "this cursor is not valid")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.b64decode(padded.encode(), altchars=b"-_", validate=True))
    except (binascii.Error, orjson.JSONDecodeError, ValueError, UnicodeError):
        raise ValidationFailed.on(field, "this cursor is not valid") from None
    if not isinstance(data, list) or len(data) != arity + 1 or data[0] != tag:
        raise ValidationFailed.on(field, "this cursor does not belong to this list")
    return data[1:]


def clamp_page_size(first: int | None, *, default: int, maximum: int, field: str = "first") -> int:
    if first is None:
        return default
    if first < 0:
        raise ValidationFailed.on(field, "must not be negative")
    if first > maximum:
        raise ValidationFailed.on(field, f"at most {maximum} items per page")
    return first

"""Time helpers: every timestamp in Trama is an aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime


class NaiveDatetimeError(ValueError):
    """A datetime without a timezone reached a place that needs an instant."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; refuse naive datetimes rather than guess their zone."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(f"naive datetime {value.isoformat()} has no timezone")
    return value.astimezone(UTC)


def isoformat(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix and always six fractional digits, so that the
    text sorts like the instants it names."""
    return ensure_utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")

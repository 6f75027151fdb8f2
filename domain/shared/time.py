"""Time helpers: every timestamp in Trama is an aware UTC datetime, read from one clock.

The domain never asks the machine for the date or the hour: :func:`utcnow` reads the
process-wide clock, which is the system clock in production and one the tests set (to a
fixed instant that moves on with real time, or frozen), so that no rule and no test depends
on when or where it runs. "Today" is always a date in a stated timezone (:func:`local_today`).

Protocol timestamps compared with other machines' clocks (token ``exp``/``iat``, webhook
signature times, monotonic timeouts) are not business time and stay on the system clock.
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


class NaiveDatetimeError(ValueError):
    """A datetime without a timezone reached a place that needs an instant."""


class Clock:
    """Where "now" comes from."""

    def now(self) -> datetime:
        raise NotImplementedError


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetClock(Clock):
    """Starts at ``start`` and moves on with real (monotonic) time: a fixed date and hour
    for tests and demos, while timeouts and ages still behave."""

    def __init__(self, start: datetime) -> None:
        self.start = ensure_utc(start)
        self._origin = _time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=_time.monotonic() - self._origin)


class FrozenClock(Clock):
    """Stands still at ``instant`` until :meth:`advance` or :meth:`set` moves it."""

    def __init__(self, instant: datetime) -> None:
        self._instant = ensure_utc(instant)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._instant

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._instant = ensure_utc(instant)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._instant = self._instant + delta


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    return _clock


def set_clock(clock: Clock) -> Clock:
    """Replace the process-wide clock (start-up and tests); returns the previous one."""
    global _clock
    previous, _clock = _clock, clock
    return previous


@contextmanager
def clock_at(instant: datetime, *, frozen: bool = True) -> Iterator[Clock]:
    """Within the block the clock reads ``instant`` (frozen, or moving on from it)."""
    clock: Clock = FrozenClock(instant) if frozen else OffsetClock(instant)
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


def utcnow() -> datetime:
    return _clock.now()


def local_now(timezone: str | ZoneInfo) -> datetime:
    """The clock's instant in ``timezone``."""
    zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
    return utcnow().astimezone(zone)


def local_today(timezone: str | ZoneInfo) -> date:
    """Today's date where ``timezone`` is (a lender's, a partner's)."""
    return local_now(timezone).date()


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; refuse naive datetimes rather than guess their zone."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(f"naive datetime {value.isoformat()} has no timezone")
    return value.astimezone(UTC)


def isoformat(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix and always six fractional digits, so that the
    text sorts like the instants it names."""
    return ensure_utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")

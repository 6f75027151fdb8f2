"""Business hours of a lender: its country's banking days (the cases' calendar,
:mod:`domain.cases.sla`) between an opening and a closing hour, in the country's zone."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from domain.cases.sla import is_business_day, timezone_of
from domain.shared.time import ensure_utc

_MAX_DAYS = 400


def add_business_hours(
    start: datetime, *, country: str, hours: int, opens: int = 9, closes: int = 18
) -> datetime:
    """The instant ``hours`` business hours after ``start`` (UTC). Time outside business
    hours does not count: a lead captured on Saturday night with 2 hours is due at 11:00 on
    Monday (or the next banking day)."""
    if hours <= 0:
        raise ValueError("hours must be positive")
    if not 0 <= opens < closes <= 24:
        raise ValueError("business hours must open before they close")
    zone = timezone_of(country)
    local = ensure_utc(start).astimezone(zone)
    left = timedelta(hours=hours)
    day = local.date()
    for _ in range(_MAX_DAYS):
        if is_business_day(country, day):
            day_open = datetime.combine(day, time(opens), tzinfo=zone)
            day_close = (
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
                if closes == 24
                else datetime.combine(day, time(closes), tzinfo=zone)
            )
            begin = max(day_open, local)
            if begin < day_close:
                available = day_close - begin
                if left <= available:
                    return ensure_utc(begin + left)
                left -= available
        day += timedelta(days=1)
        local = datetime.combine(day, time(0), tzinfo=zone)
    raise ValueError("no business hours within a year")

"""Report periods: a day (``2026-11-30``), a month (``2026-11``) or a range of days
(``2026-11-01/2026-11-15``, ISO 8601's interval of two dates), in the lender's calendar.

A report is about a period that is over: its last day must be before today where the
lender is, so that its figures do not change while the day is still running.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from domain.shared.errors import ValidationFailed

__all__ = ["MAX_DAYS", "Period", "parse_period"]

#: The longest period a report covers.
MAX_DAYS = 366
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_EARLIEST = date(2000, 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date

    @property
    def label(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        last = calendar.monthrange(self.start.year, self.start.month)[1]
        if self.start.day == 1 and self.end == self.start.replace(day=last):
            return self.start.strftime("%Y-%m")
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    @property
    def before(self) -> date:
        """The day before it starts (the opening figures are as of that day)."""
        return self.start - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _date(text: str, field: str) -> date:
    if not _DAY.match(text):
        raise ValidationFailed.on(field, f"{text[:30]!r} is not a date like 2026-11-30")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed.on(field, f"{text[:30]!r} is not a calendar date") from None


def parse_period(value: str, *, today: date, field: str = "period") -> Period:
    """``2026-11-30``, ``2026-11`` or ``2026-11-01/2026-11-15``; over before ``today``."""
    text = (value or "").strip()
    if not text or len(text) > 40:
        raise ValidationFailed.on(
            field, "a day (2026-11-30), a month (2026-11) or a range (2026-11-01/2026-11-15)"
        )
    month = _MONTH.match(text)
    if month:
        year, number = int(month.group(1)), int(month.group(2))
        if not 1 <= number <= 12:
            raise ValidationFailed.on(field, f"{text!r} is not a month")
        period = Period(
            date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])
        )
    elif "/" in text:
        first, _, last = text.partition("/")
        period = Period(_date(first.strip(), field), _date(last.strip(), field))
    else:
        day = _date(text, field)
        period = Period(day, day)
    if period.end < period.start:
        raise ValidationFailed.on(field, "the range ends before it starts")
    if period.start < _EARLIEST:
        raise ValidationFailed.on(field, f"starts before {_EARLIEST.isoformat()}")
    if period.days > MAX_DAYS:
        raise ValidationFailed.on(field, f"at most {MAX_DAYS} days")
    if period.end >= today:
        raise ValidationFailed.on(
            field, f"is not over yet: its last day must be before today ({today.isoformat()})"
        )
    return period

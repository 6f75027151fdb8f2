"""Due dates and day counts for monthly credit schedules.

Due dates
    Installment ``k`` falls ``k`` calendar months after the disbursement date, on the
    disbursement's day of the month (the *anchor day*), clamped to the last day of shorter
    months. Clamping never moves the anchor: a credit disbursed on 31 January falls due on
    28/29 February, 31 March, 30 April, 31 May …

Day counts
    A convention turns a period into a fraction of a year; the period's interest is
    ``annual nominal rate * fraction * opening balance``. Each convention is one small
    function returning the ``(days, basis)`` pair, so the fraction ``days / basis`` stays
    exact (no division happens here).

    - ``30/360``: every month counts 30 days. For two dates on a schedule's monthly grid the
      day number used is the anchor day capped at 30, so clamping to month end neither
      shortens nor lengthens a month and every scheduled period is exactly 30/360 = 1/12 of
      a year. For arbitrary dates it is the 30E/360 (Eurobond) rule: a 31st counts as 30.
    - ``ACT/365F`` (ACT/365 fixed): actual calendar days over a 365-day year, leap or not.
    - ``ACT/360``: actual calendar days over a 360-day year.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from datetime import date
from enum import StrEnum

__all__ = [
    "DayCount",
    "act_360",
    "act_365_fixed",
    "add_months",
    "day_count",
    "due_dates",
    "first_due_date",
    "months_left",
    "thirty_360",
]


class DayCount(StrEnum):
    THIRTY_360 = "30/360"
    ACT_365_FIXED = "ACT/365F"
    ACT_360 = "ACT/360"


def add_months(start: date, months: int, *, anchor_day: int | None = None) -> date:
    """``start`` moved ``months`` calendar months, on ``anchor_day`` clamped to month end.

    ``anchor_day`` defaults to ``start.day``; pass the original anchor when stepping from an
    already clamped date so that 28 February steps to 31 March, not 28 March.
    """
    day = start.day if anchor_day is None else anchor_day
    if not 1 <= day <= 31:
        raise ValueError(f"anchor day {day} is not a day of the month")
    index = start.year * 12 + (start.month - 1) + months
    year, month0 = divmod(index, 12)
    last = _stdlib_calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day, last))


def months_left(start: date) -> int:
    """How many monthly due dates fit after ``start`` before the calendar ends
    (``date.max``, 31 December 9999): ``add_months(start, k)`` exists for ``k`` up to it."""
    return (date.max.year * 12 + date.max.month - 1) - (start.year * 12 + start.month - 1)


def first_due_date(disbursement: date) -> date:
    """The first-due-date rule: same day next month, clamped to the end of that month."""
    return add_months(disbursement, 1)


def due_dates(disbursement: date, count: int) -> list[date]:
    """``count`` monthly due dates, each anchored on the disbursement day."""
    if count < 0:
        raise ValueError("count cannot be negative")
    return [add_months(disbursement, k, anchor_day=disbursement.day) for k in range(1, count + 1)]


def thirty_360(start: date, end: date, *, anchor_day: int | None = None) -> tuple[int, int]:
    """30/360: ``(days, 360)``.

    ``days = 360·Δyears + 30·Δmonths + (d2 - d1)`` where each day number is capped at 30. When
    both dates sit on a monthly grid anchored on ``anchor_day`` (a schedule's due dates and
    its disbursement date), both day numbers are ``min(anchor_day, 30)``: whole months then
    count exactly 30 days each, whatever clamping did to the calendar dates.
    """
    if anchor_day is None:
        d1, d2 = min(start.day, 30), min(end.day, 30)
    else:
        d1 = d2 = min(anchor_day, 30)
    days = 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)
    return days, 360


def act_365_fixed(start: date, end: date) -> tuple[int, int]:
    """ACT/365 fixed: ``(actual days, 365)``; leap years still divide by 365."""
    return (end - start).days, 365


def act_360(start: date, end: date) -> tuple[int, int]:
    """ACT/360: ``(actual days, 360)``."""
    return (end - start).days, 360


def day_count(
    convention: DayCount, start: date, end: date, *, anchor_day: int | None = None
) -> tuple[int, int]:
    """``(days, basis)`` of the period ``start → end`` under ``convention``.

    ``anchor_day`` only matters for 30/360 (see :func:`thirty_360`).
    """
    if end < start:
        raise ValueError("a period cannot end before it starts")
    if convention is DayCount.THIRTY_360:
        return thirty_360(start, end, anchor_day=anchor_day)
    if convention is DayCount.ACT_365_FIXED:
        return act_365_fixed(start, end)
    if convention is DayCount.ACT_360:
        return act_360(start, end)
    raise ValueError(f"unsupported day count {convention!r}")

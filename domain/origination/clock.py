"""The 24-hour promise: a decision within 24 business hours of the lender.

Business hours are the lender's local hours ``[business_hours_start, business_hours_end)``
(its origination settings, default 09:00-18:00) on the banking days of the lender's country
— the same calendar the cases' service levels use (:mod:`domain.cases.sla`: Monday to
Friday except public and bank holidays, in the country's timezone). A submission outside
business hours starts counting at the next business hour. ``due_at`` is the instant the
24th business hour ends.

An application is *at risk* when less than a quarter of its business-hour window is left
(in business hours), *breached* once ``due_at`` has passed without a decision. The sweep
(:func:`evaluate_clock`, the ``origination.sweep_clock`` job) flags each application once per
flag and emits ``applications.escalated`` for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases.sla import is_business_day, timezone_of
from domain.origination.models import ClockState, CreditApplication
from domain.origination.states import AWAITING_DECISION
from domain.shared.time import ensure_utc

AT_RISK_FRACTION = Decimal("0.25")
_MAX_DAYS = 400


@dataclass(frozen=True, slots=True)
class BusinessHours:
    country: str
    start_hour: int = 9
    end_hour: int = 18

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour < self.end_hour <= 24:
            raise ValueError("business hours must satisfy 0 <= start < end <= 24")

    def _bounds(self, day: date) -> tuple[datetime, datetime]:
        zone = timezone_of(self.country)
        start = datetime.combine(day, time(self.start_hour), tzinfo=zone)
        if self.end_hour == 24:
            end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        else:
            end = datetime.combine(day, time(self.end_hour), tzinfo=zone)
        return ensure_utc(start), ensure_utc(end)

    def add(self, start: datetime, hours: int) -> datetime:
        """The instant ``hours`` business hours after ``start``."""
        if hours <= 0:
            raise ValueError("hours must be positive")
        start = ensure_utc(start)
        zone = timezone_of(self.country)
        left = timedelta(hours=hours)
        day = start.astimezone(zone).date()
        for _ in range(_MAX_DAYS):
            if is_business_day(self.country, day):
                open_, close = self._bounds(day)
                begin = max(open_, start)
                if begin < close:
                    available = close - begin
                    if left <= available:
                        return begin + left
                    left -= available
            day += timedelta(days=1)
        raise ValueError("no business hours within a year")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time from ``start`` to ``end`` (zero when ``end`` is not after)."""
        start, end = ensure_utc(start), ensure_utc(end)
        if end <= start:
            return timedelta(0)
        zone = timezone_of(self.country)
        total = timedelta(0)
        day = start.astimezone(zone).date()
        last = end.astimezone(zone).date()
        while day <= last:
            if is_business_day(self.country, day):
                open_, close = self._bounds(day)
                begin, finish = max(open_, start), min(close, end)
                if finish > begin:
                    total += finish - begin
            day += timedelta(days=1)
        return total


def state_at(
    now: datetime, *, hours: BusinessHours, submitted_at: datetime, due_at: datetime
) -> ClockState:
    """The flag an undecided application deserves at ``now``."""
    if now >= due_at:
        return ClockState.BREACHED
    window = hours.between(submitted_at, due_at).total_seconds()
    left = hours.between(now, due_at).total_seconds()
    if Decimal(str(left)) <= AT_RISK_FRACTION * Decimal(str(window)):
        return ClockState.AT_RISK
    return ClockState.ON_TRACK


@dataclass
class ClockSweep:
    at_risk: list[str] = field(default_factory=list)
    breached: list[str] = field(default_factory=list)


def _undecided() -> list[sa.ColumnElement[bool]]:
    return [
        col(CreditApplication.state).in_(sorted(s.value for s in AWAITING_DECISION)),
        col(CreditApplication.due_at).is_not(None),
        col(CreditApplication.breached_at).is_(None),
    ]


async def candidates(
    session: AsyncSession, *, now: datetime, limit: int = 500
) -> list[CreditApplication]:
    """Undecided applications not yet flagged breached, soonest due first; the sweep
    decides per application (business-hour arithmetic is in Python) and flags once."""
    stmt = (
        sa.select(CreditApplication)
        .where(*_undecided())
        .order_by(col(CreditApplication.due_at), col(CreditApplication.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars().all())

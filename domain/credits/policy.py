"""Configurable limits of the credits domain, in one place.

The services read :func:`get_policy` unless a caller passes its own. The composition root
(``app``) may call :func:`configure` once at start-up with values from settings; the domain
never reads the environment itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from domain.credits.allocation import DEFAULT_ORDER, AllocationOrder, LateInterestPolicy
from domain.credits.schedules import DEFAULT_MAX_ANNUAL_RATE, MAX_TERM_MONTHS
from domain.shared.time import utcnow

__all__ = [
    "COUNTRY_TIMEZONES",
    "CreditPolicy",
    "business_date",
    "configure",
    "get_policy",
]


@dataclass(frozen=True, slots=True)
class CreditPolicy:
    #: Highest nominal annual rate a credit may carry (refused above it).
    max_annual_rate: Decimal = DEFAULT_MAX_ANNUAL_RATE
    #: Longest term in months.
    max_term_months: int = MAX_TERM_MONTHS
    #: Late-interest rate a credit gets when its creator does not set one.
    late_annual_rate: Decimal = Decimal("0.30")
    #: The cap: a credit's late rate above it is refused, and a stored rate above a cap that
    #: was lowered later is applied at the cap.
    max_late_annual_rate: Decimal = Decimal("0.50")
    #: Late interest counts actual days over this many days a year.
    late_interest_basis: int = 360
    #: Days after a due date before late interest starts.
    late_grace_days: int = 0
    #: A credit is DELINQUENT from this many days past due.
    delinquent_after_days: int = 1
    #: Default allocation order of new credits.
    allocation_order: AllocationOrder = DEFAULT_ORDER

    def late_policy(self, rate: Decimal) -> LateInterestPolicy:
        return LateInterestPolicy(
            annual_rate=rate,
            max_annual_rate=self.max_late_annual_rate,
            basis=self.late_interest_basis,
            grace_days=self.late_grace_days,
        )


_policy = CreditPolicy()


def configure(policy: CreditPolicy) -> None:
    """Replace the process-wide policy (call once at start-up)."""
    global _policy
    _policy = policy


def get_policy() -> CreditPolicy:
    return _policy


#: The business day of a credit is the calendar day where its lender operates.
COUNTRY_TIMEZONES: dict[str, str] = {
    "CL": "America/Santiago",
    "AR": "America/Argentina/Buenos_Aires",
    "MX": "America/Mexico_City",
    "CO": "America/Bogota",
    "PE": "America/Lima",
}


def business_date(at: datetime, timezone: str) -> date:
    """The calendar date of instant ``at`` in ``timezone`` (payments, due dates, today)."""
    if at.tzinfo is None:
        raise ValueError("an instant needs a timezone")
    return at.astimezone(ZoneInfo(timezone)).date()


def today(timezone: str) -> date:
    return business_date(utcnow(), timezone)

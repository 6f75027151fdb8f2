"""Configurable limits of the credits domain, in one place.

The services read :func:`get_policy` unless a caller passes its own. The composition root
(``app``) may call :func:`configure` once at start-up with values from settings; the domain
never reads the environment itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from domain.credits.allocation import DEFAULT_ORDER, AllocationOrder, LateInterestPolicy
from domain.credits.schedules import DEFAULT_MAX_ANNUAL_RATE, MAX_TERM_MONTHS
from domain.shared.money import CURRENCY_EXPONENTS, Money, MoneyError
from domain.shared.time import utcnow

__all__ = [
    "COUNTRY_TIMEZONES",
    "DEFAULT_MAX_PRINCIPAL",
    "PRODUCT_CODE",
    "CreditPolicy",
    "business_date",
    "configure",
    "get_policy",
    "principal_limits",
]


#: A credit product's code (stored upper case): ``AUTO-USADO``, ``AUTO_UF``.
PRODUCT_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$", re.ASCII)

#: Largest principal of one credit per currency, in major units: the limit of every product
#: without one of its own, and of the public calculators (which have no product). Far above
#: any vehicle credit of the network; products set tighter limits.
DEFAULT_MAX_PRINCIPAL: Mapping[str, Decimal] = {
    "CLP": Decimal("2000000000"),  # 2,000 million pesos
    "CLF": Decimal("50000"),  # 50,000 UF
    "ARS": Decimal("5000000000"),
    "MXN": Decimal("50000000"),
    "COP": Decimal("10000000000"),
    "PEN": Decimal("10000000"),
    "USD": Decimal("2500000"),
}


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
    #: Largest principal per currency (major units) of a product without its own limit,
    #: and of the calculators; a currency left out keeps ``DEFAULT_MAX_PRINCIPAL``'s.
    max_principal: Mapping[str, Decimal] = field(
        default_factory=lambda: dict(DEFAULT_MAX_PRINCIPAL)
    )
    #: The product catalogue's limits: product code -> currency -> largest principal (major
    #: units). A product's limit in a currency replaces ``max_principal``'s.
    product_max_principal: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)

    def principal_limit(self, currency: str, product_code: str | None = None) -> Money:
        """The largest principal of one credit of ``product_code`` (None: the calculators)
        in ``currency``."""
        own = self.product_max_principal.get(product_code, {}) if product_code else {}
        major = own.get(currency) or self.max_principal.get(currency)
        return Money.parse(major or DEFAULT_MAX_PRINCIPAL[currency], currency)

    def late_policy(self, rate: Decimal) -> LateInterestPolicy:
        return LateInterestPolicy(
            annual_rate=rate,
            max_annual_rate=self.max_late_annual_rate,
            basis=self.late_interest_basis,
            grace_days=self.late_grace_days,
        )


_policy = CreditPolicy()


def _limit(currency: object, major: object, where: str) -> Decimal:
    if not isinstance(currency, str) or currency not in CURRENCY_EXPONENTS:
        known = ", ".join(sorted(CURRENCY_EXPONENTS))
        raise ValueError(f"{where}: {currency!r} is not a supported currency ({known})")
    try:
        money = Money.parse(major, currency)  # type: ignore[arg-type]
    except (MoneyError, TypeError) as exc:
        raise ValueError(f"{where}: {currency} {major!r}: {exc}") from None
    if money.amount <= 0:
        raise ValueError(f"{where}: the {currency} limit must be greater than zero")
    return money.to_decimal()


def principal_limits(
    general: Mapping[str, object], products: Mapping[str, Mapping[str, object]]
) -> tuple[dict[str, Decimal], dict[str, dict[str, Decimal]]]:
    """``(max_principal, product_max_principal)`` from configured values: the defaults with
    ``general`` over them, and each product's own limits, product codes upper-cased. Raises
    ``ValueError`` naming what is wrong (an unknown currency, a limit that is not a positive
    amount of the currency, a malformed product code)."""
    merged = dict(DEFAULT_MAX_PRINCIPAL)
    for currency, major in general.items():
        merged[currency] = _limit(currency, major, "maximum principal")
    catalogue: dict[str, dict[str, Decimal]] = {}
    for raw, limits in products.items():
        code = raw.strip().upper() if isinstance(raw, str) else ""
        if not PRODUCT_CODE.match(code):
            raise ValueError(f"product {raw!r}: 1 to 40 letters, digits, '-' or '_'")
        if code in catalogue:
            raise ValueError(f"product {code} is listed twice")
        if not isinstance(limits, Mapping) or not limits:
            raise ValueError(f"product {code}: give its limits per currency, e.g. {{'CLP': '1'}}")
        catalogue[code] = {c: _limit(c, m, f"product {code}") for c, m in limits.items()}
    return merged, catalogue


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


#: Where a currency's credits are granted: the calculators' "today" for that currency.
CURRENCY_TIMEZONES: dict[str, str] = {
    "CLP": COUNTRY_TIMEZONES["CL"],
    "CLF": COUNTRY_TIMEZONES["CL"],
    "ARS": COUNTRY_TIMEZONES["AR"],
    "MXN": COUNTRY_TIMEZONES["MX"],
    "COP": COUNTRY_TIMEZONES["CO"],
    "PEN": COUNTRY_TIMEZONES["PE"],
}
#: A currency lent in several countries (USD) counts from the network's lender, in Chile.
DEFAULT_CALCULATOR_TIMEZONE = COUNTRY_TIMEZONES["CL"]


def calculator_today(currency: str) -> date:
    """The default start of a simulation in ``currency``: today where it is lent (at
    22:00 in Santiago on 2 December it is already 3 December in UTC, not yet there)."""
    return today(CURRENCY_TIMEZONES.get(currency, DEFAULT_CALCULATOR_TIMEZONE))

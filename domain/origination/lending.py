"""What origination asks of others: the lender's settings, scoring's grade terms, the
marketplace's vehicles. Each is one function here, so the rules that use them stay put and
a test can see every boundary.

- Grade terms come from ``domain.scoring.service.grade_terms(session, *, lender_id,
  grade)`` (rate and maximum term of a grade in the lender's active scorecard).
- Vehicles come from ``domain.marketplace.service``: ``get_vehicle(session, vehicle_id)``
  (status, price, currency, dealer), ``reserve_vehicle(session, *, vehicle_id,
  application_id, hold_until)``, ``release_vehicle(session, *, vehicle_id, application_id)``
  and ``mark_sold(session, *, vehicle_id, application_id)``. A hold lasts at most the
  marketplace's ``MAX_HOLD`` (7 days): origination holds for :data:`HOLD` and renews the
  hold at each step that keeps the vehicle (inspection booked, offer made, offer accepted).
"""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.origination.errors import GradeTermsUnavailable, VehicleNotAvailable
from domain.origination.models import LenderOriginationSettings
from domain.partners.models import Partner

#: Currency a lender lends in by default, by its country.
COUNTRY_CURRENCY = {"CL": "CLP", "AR": "ARS", "MX": "MXN", "CO": "COP", "PE": "PEN"}
DEFAULT_DTI_LIMIT = Decimal("0.35")
#: How long each hold on a vehicle lasts (renewed at each step; the marketplace caps 7 days).
HOLD = timedelta(days=6)


@dataclass(frozen=True, slots=True)
class LenderSettings:
    lender_id: uuid.UUID
    country: str
    currency: str
    dti_limit: Decimal
    estimate_grade: str
    business_hours_start: int
    business_hours_end: int
    decision_hours: int
    prequalification_valid_days: int
    offer_valid_days: int


async def settings_for(session: AsyncSession, lender: Partner) -> LenderSettings:
    row = await session.get(LenderOriginationSettings, lender.id)
    if row is None:
        return LenderSettings(
            lender_id=lender.id,
            country=lender.country,
            currency=COUNTRY_CURRENCY.get(lender.country, "USD"),
            dti_limit=DEFAULT_DTI_LIMIT,
            estimate_grade="C",
            business_hours_start=9,
            business_hours_end=18,
            decision_hours=24,
            prequalification_valid_days=30,
            offer_valid_days=7,
        )
    return LenderSettings(
        lender_id=lender.id,
        country=lender.country,
        currency=row.currency,
        dti_limit=row.dti_limit,
        estimate_grade=row.estimate_grade,
        business_hours_start=row.business_hours_start,
        business_hours_end=row.business_hours_end,
        decision_hours=row.decision_hours,
        prequalification_valid_days=row.prequalification_valid_days,
        offer_valid_days=row.offer_valid_days,
    )


@dataclass(frozen=True, slots=True)
class Terms:
    grade: str
    annual_rate: Decimal
    max_term_months: int


async def grade_terms(session: AsyncSession, *, lender_id: uuid.UUID, grade: str) -> Terms:
    """The rate and maximum term of ``grade`` at the lender (scoring's active scorecard)."""
    scoring = importlib.import_module("domain.scoring.service")
    try:
        found = await scoring.grade_terms(session, lender_id=lender_id, grade=grade)
    except Exception as exc:  # scoring's NoActiveScorecard / UnknownGrade
        if type(exc).__name__ in {"NoActiveScorecard", "UnknownGrade"}:
            raise GradeTermsUnavailable(
                f"no terms for grade {grade} at this lender: {exc}"
            ) from exc
        raise
    return Terms(found.grade, Decimal(found.annual_rate), int(found.max_term_months))


# --- the marketplace --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VehicleFacts:
    id: uuid.UUID
    status: str
    price: int
    currency: str
    dealer_id: uuid.UUID


def _marketplace() -> ModuleType:
    try:
        return importlib.import_module("domain.marketplace.service")
    except ModuleNotFoundError as exc:  # pragma: no cover - until the marketplace lands
        raise VehicleNotAvailable("the vehicle marketplace is not available") from exc


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    raise AttributeError(names[0])


async def vehicle_facts(session: AsyncSession, vehicle_id: uuid.UUID) -> VehicleFacts:
    """The vehicle's status, price and dealer; :class:`VehicleNotAvailable` when there is
    no such vehicle."""
    market = _marketplace()
    vehicle = await market.get_vehicle(session, vehicle_id)
    if vehicle is None:
        raise VehicleNotAvailable(f"vehicle {vehicle_id} does not exist")
    status = _get(vehicle, "status")
    return VehicleFacts(
        id=vehicle_id,
        status=str(getattr(status, "value", status)).lower(),
        price=int(_get(vehicle, "price", "price_amount")),
        currency=str(_get(vehicle, "currency", "price_currency")),
        dealer_id=_get(vehicle, "dealer_id", "partner_id"),
    )


async def reserve_vehicle(
    session: AsyncSession, *, vehicle_id: uuid.UUID, application_id: uuid.UUID, hold_until: datetime
) -> None:
    await _marketplace().reserve_vehicle(
        session, vehicle_id=vehicle_id, application_id=application_id, hold_until=hold_until
    )


async def release_vehicle(
    session: AsyncSession, *, vehicle_id: uuid.UUID, application_id: uuid.UUID
) -> None:
    market = _marketplace()
    release = getattr(market, "release_reservation", None) or getattr(
        market, "release_vehicle", None
    )
    if release is not None:
        await release(session, vehicle_id=vehicle_id, application_id=application_id)


async def mark_vehicle_sold(
    session: AsyncSession, *, vehicle_id: uuid.UUID, application_id: uuid.UUID
) -> None:
    await _marketplace().mark_sold(session, vehicle_id=vehicle_id, application_id=application_id)


async def hold_vehicle(
    session: AsyncSession, *, vehicle_id: uuid.UUID, application_id: uuid.UUID, now: datetime
) -> None:
    """Hold (or renew the hold on) the vehicle for the application for :data:`HOLD`."""
    await reserve_vehicle(
        session, vehicle_id=vehicle_id, application_id=application_id, hold_until=now + HOLD
    )

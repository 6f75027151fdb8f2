"""The catalogue: a filtered, ordered, keyset-paginated list of vehicles, its total and
its facets (make, fuel, year ranges, price ranges), for anyone.

Every read applies :func:`domain.marketplace.scopes.visible_to` (anonymous visitors see
AVAILABLE and RESERVED vehicles; a dealer also its own SOLD and WITHDRAWN ones) and, with
``affordableFor``, :func:`domain.marketplace.affordability.price_bound`. Orders are keyset
orders on indexed columns with the id as the tie-breaker: the cursor carries the last
row's (value, id).

Facets count the whole filtered set (not one page), each over the same filter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.marketplace import scopes
from domain.marketplace.affordability import PrequalificationTerms, price_bound
from domain.marketplace.models import Fuel, Transmission, Vehicle
from domain.marketplace.states import VehicleStatus
from domain.shared.errors import Problems, ValidationFailed
from domain.shared.money import Money, exponent
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.time import utcnow

MAX_MAKES = 50


class VehicleOrder(StrEnum):
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    YEAR_DESC = "YEAR_DESC"
    YEAR_ASC = "YEAR_ASC"
    KILOMETRES_ASC = "KILOMETRES_ASC"
    NEWEST = "NEWEST"


_ORDERS: dict[VehicleOrder, tuple[str, bool]] = {
    VehicleOrder.PRICE_ASC: ("price", False),
    VehicleOrder.PRICE_DESC: ("price", True),
    VehicleOrder.YEAR_DESC: ("year", True),
    VehicleOrder.YEAR_ASC: ("year", False),
    VehicleOrder.KILOMETRES_ASC: ("kilometres", False),
    VehicleOrder.NEWEST: ("listed_at", True),
}

#: Price facet boundaries per currency, in major units.
PRICE_STEPS: dict[str, tuple[int, ...]] = {
    "CLP": (5_000_000, 10_000_000, 15_000_000, 20_000_000, 30_000_000),
    "ARS": (10_000_000, 20_000_000, 30_000_000, 50_000_000, 80_000_000),
    "MXN": (150_000, 250_000, 350_000, 500_000, 750_000),
    "COP": (40_000_000, 60_000_000, 80_000_000, 120_000_000, 180_000_000),
    "PEN": (30_000, 50_000, 70_000, 100_000, 150_000),
    "USD": (10_000, 20_000, 30_000, 50_000, 80_000),
}


@dataclass(frozen=True)
class VehicleFilter:
    makes: tuple[str, ...] = ()
    model: str | None = None
    year_min: int | None = None
    year_max: int | None = None
    price_min: Money | None = None
    price_max: Money | None = None
    kilometres_max: int | None = None
    fuels: tuple[str, ...] = ()
    transmissions: tuple[str, ...] = ()
    dealer_id: uuid.UUID | None = None
    #: Within what the principal may see (a dealer asking for its WITHDRAWN ones).
    statuses: tuple[str, ...] = ()

    def check(self) -> None:
        problems = Problems()
        if len(self.makes) > MAX_MAKES:
            problems.add("filter.makes", f"at most {MAX_MAKES} makes")
        if any(not m.strip() or len(m) > 60 for m in self.makes):
            problems.add("filter.makes", "a make is 1 to 60 characters")
        if self.model is not None and (not self.model.strip() or len(self.model) > 80):
            problems.add("filter.model", "a model is 1 to 80 characters")
        for name in ("year_min", "year_max"):
            value = getattr(self, name)
            if value is not None and not 1900 <= value <= 2200:
                problems.add(f"filter.{_camel(name)}", "not a plausible year")
        if self.year_min and self.year_max and self.year_min > self.year_max:
            problems.add("filter.yearMin", "must not be after yearMax")
        for name in ("price_min", "price_max"):
            value = getattr(self, name)
            if value is not None and value.amount < 0:
                problems.add(f"filter.{_camel(name)}", "must not be negative")
        if self.price_min and self.price_max:
            if self.price_min.currency != self.price_max.currency:
                problems.add("filter.priceMax", "must be in the currency of priceMin")
            elif self.price_min.amount > self.price_max.amount:
                problems.add("filter.priceMin", "must not be above priceMax")
        if self.kilometres_max is not None and self.kilometres_max < 0:
            problems.add("filter.kilometresMax", "must not be negative")
        for value in self.fuels:
            if value not in Fuel.__members__:
                problems.add("filter.fuels", f"unknown fuel {value[:30]!r}")
        for value in self.transmissions:
            if value not in Transmission.__members__:
                problems.add("filter.transmissions", f"unknown transmission {value[:30]!r}")
        for value in self.statuses:
            if value not in VehicleStatus.__members__:
                problems.add("filter.statuses", f"unknown status {value[:30]!r}")
        problems.raise_if_any()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def conditions(
    principal: Principal | None,
    flt: VehicleFilter,
    terms: PrequalificationTerms | None = None,
) -> list[sa.ColumnElement[bool]]:
    flt.check()
    out: list[sa.ColumnElement[bool]] = [scopes.visible_to(principal)]
    if terms is not None:
        out.append(price_bound(terms))
    if flt.makes:
        wanted = sorted({m.strip().lower() for m in flt.makes})
        out.append(sa.func.lower(col(Vehicle.make)).in_(wanted))
    if flt.model:
        out.append(sa.func.lower(col(Vehicle.model)) == flt.model.strip().lower())
    if flt.year_min is not None:
        out.append(col(Vehicle.year) >= flt.year_min)
    if flt.year_max is not None:
        out.append(col(Vehicle.year) <= flt.year_max)
    for bound, op in ((flt.price_min, "ge"), (flt.price_max, "le")):
        if bound is not None:
            out.append(col(Vehicle.currency) == bound.currency)
            price = col(Vehicle.price)
            out.append(price >= bound.amount if op == "ge" else price <= bound.amount)
    if flt.kilometres_max is not None:
        out.append(col(Vehicle.kilometres) <= flt.kilometres_max)
    if flt.fuels:
        out.append(col(Vehicle.fuel).in_(sorted(set(flt.fuels))))
    if flt.transmissions:
        out.append(col(Vehicle.transmission).in_(sorted(set(flt.transmissions))))
    if flt.dealer_id is not None:
        out.append(col(Vehicle.dealer_id) == flt.dealer_id)
    if flt.statuses:
        out.append(col(Vehicle.status).in_(sorted(set(flt.statuses))))
    return out


def _tag(order: VehicleOrder) -> str:
    return f"vehicles.{order.value.lower()}.v1"


def _after(order: VehicleOrder, cursor: str) -> sa.ColumnElement[bool]:
    name, descending = _ORDERS[order]
    value, key = decode_cursor(cursor, _tag(order), 2)
    try:
        last_id = uuid.UUID(str(key))
        if name == "listed_at":
            last: Any = datetime.fromisoformat(str(value))
            if last.tzinfo is None:
                raise ValueError
        elif isinstance(value, int) and not isinstance(value, bool):
            last = value
        else:
            raise ValueError
    except ValueError:
        raise ValidationFailed.on("after", "this cursor is not valid") from None
    column = getattr(Vehicle, name)
    ident = col(Vehicle.id)
    if descending:
        return sa.or_(column < last, sa.and_(column == last, ident < last_id))
    return sa.or_(column > last, sa.and_(column == last, ident > last_id))


def _cursor(order: VehicleOrder, vehicle: Vehicle) -> str:
    name, _ = _ORDERS[order]
    value = getattr(vehicle, name)
    if isinstance(value, datetime):
        value = value.isoformat()
    return encode_cursor(_tag(order), value, str(vehicle.id))


async def search(
    session: AsyncSession,
    *,
    principal: Principal | None,
    flt: VehicleFilter,
    order: VehicleOrder = VehicleOrder.NEWEST,
    limit: int,
    after: str | None = None,
    with_total: bool = False,
    terms: PrequalificationTerms | None = None,
) -> Page[Vehicle]:
    where = conditions(principal, flt, terms)
    name, descending = _ORDERS[order]
    column = getattr(Vehicle, name)
    ident = col(Vehicle.id)
    keys = (column.desc(), ident.desc()) if descending else (column.asc(), ident.asc())
    query = sa.select(Vehicle).where(*where)
    if after:
        query = query.where(_after(order, after))
    rows = list((await session.execute(query.order_by(*keys).limit(limit + 1))).scalars())
    has_next = len(rows) > limit
    rows = rows[:limit]
    total = None
    if with_total:
        total = (
            await session.scalar(sa.select(sa.func.count()).select_from(Vehicle).where(*where))
        ) or 0
    return Page(
        items=rows,
        cursors=[_cursor(order, v) for v in rows],
        has_next=has_next,
        has_previous=after is not None,
        total=total,
    )


# --- facets -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Count:
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class YearRange:
    start: int | None
    end: int | None
    count: int


@dataclass(frozen=True, slots=True)
class PriceRange:
    currency: str
    minimum: int | None  # minor units, inclusive
    maximum: int | None  # minor units, exclusive
    count: int


@dataclass
class Facets:
    makes: list[Count] = field(default_factory=list)
    fuels: list[Count] = field(default_factory=list)
    years: list[YearRange] = field(default_factory=list)
    prices: list[PriceRange] = field(default_factory=list)


def year_ranges(this_year: int) -> list[tuple[int | None, int | None]]:
    """Ranges of model years, newest first: the last two years (and next), 3-5, 6-9,
    10-14 years old, and older."""
    y = this_year
    return [(y - 2, y + 1), (y - 5, y - 3), (y - 9, y - 6), (y - 14, y - 10), (None, y - 15)]


async def facets(
    session: AsyncSession,
    *,
    principal: Principal | None,
    flt: VehicleFilter,
    terms: PrequalificationTerms | None = None,
) -> Facets:
    where = conditions(principal, flt, terms)
    count = sa.func.count().label("n")
    out = Facets()
    makes = await session.execute(
        sa.select(col(Vehicle.make), count)
        .where(*where)
        .group_by(col(Vehicle.make))
        .order_by(count.desc(), col(Vehicle.make))
        .limit(MAX_MAKES)
    )
    out.makes = [Count(m, n) for m, n in makes.all()]
    fuels = await session.execute(
        sa.select(col(Vehicle.fuel), count)
        .where(*where)
        .group_by(col(Vehicle.fuel))
        .order_by(count.desc(), col(Vehicle.fuel))
    )
    out.fuels = [Count(f, n) for f, n in fuels.all()]
    years = dict(
        (
            await session.execute(
                sa.select(col(Vehicle.year), count).where(*where).group_by(col(Vehicle.year))
            )
        ).all()
    )
    for start, end in year_ranges(utcnow().year):
        n = sum(
            c
            for y, c in years.items()
            if (start is None or y >= start) and (end is None or y <= end)
        )
        out.years.append(YearRange(start, end, n))
    bucket = _price_bucket()
    prices = await session.execute(
        sa.select(col(Vehicle.currency), bucket.label("b"), count)
        .where(*where)
        .group_by(col(Vehicle.currency), bucket)
    )
    found = {(c, b): n for c, b, n in prices.all()}
    for currency in sorted({c for c, _ in found}):
        bounds = _minor_steps(currency)
        edges: list[int | None] = [None, *bounds, None]
        for index in range(len(bounds) + 1):
            n = found.get((currency, index), 0)
            out.prices.append(PriceRange(currency, edges[index], edges[index + 1], n))
    return out


def _minor_steps(currency: str) -> tuple[int, ...]:
    steps = PRICE_STEPS.get(currency, PRICE_STEPS["USD"])
    return tuple(s * 10 ** exponent(currency) for s in steps)


def _price_bucket() -> sa.ColumnElement[int]:
    whens: list[tuple[sa.ColumnElement[bool], int]] = []
    price, currency = col(Vehicle.price), col(Vehicle.currency)
    for code in PRICE_STEPS:
        for index, bound in enumerate(_minor_steps(code)):
            whens.append((sa.and_(currency == code, price < bound), index))
        whens.append((currency == code, len(PRICE_STEPS[code])))
    return sa.case(*whens, else_=len(PRICE_STEPS["USD"]))

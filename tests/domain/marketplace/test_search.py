"""The catalogue: visibility, filters, keyset pages in every order, facets, and
affordableFor (the price bound in SQL, the installment from the credits engine, who may
ask)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from app.db import read_session
from domain.credits.schedules import ScheduleRequest, build_schedule
from domain.marketplace import affordability, search
from domain.marketplace.affordability import PrequalificationTerms
from domain.marketplace.errors import NotPrequalified
from domain.marketplace.search import VehicleFilter, VehicleOrder
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.money import Money
from domain.shared.principal import ROLE_SCOPES, Principal, Role
from domain.shared.time import utcnow
from tests.domain.marketplace.conftest import Dealers, csv_feed, load, principal, row

PRICES = [
    "4.990.000",
    "7.500.000",
    "7.500.000",
    "9.990.000",
    "12.000.000",
    "18.500.000",
    "25.000.000",
    "7.500.000",
    "31.000.000",
    "5.000.000",
]
MAKES = ["Toyota", "Kia", "Kia", "Hyundai", "Toyota", "Mazda", "BMW", "Kia", "Audi", "Suzuki"]


async def _stock(dealers: Dealers) -> None:
    rows = [
        row(
            f"A{i}",
            price,
            make=make,
            year=str(2014 + i),
            km=str(10_000 * i),
            fuel="Diesel" if i % 3 == 0 else "Bencina",
        )
        for i, (price, make) in enumerate(zip(PRICES, MAKES, strict=True))
    ]
    await load(dealers, csv_feed(*rows))
    await load(dealers, csv_feed(row("A0"), row("A1")), full=True)  # withdraws A2..A9
    await load(dealers, csv_feed(*rows))  # lists them again
    await load(dealers, csv_feed(row("B1"), row("B2")), who=dealers.staff_b, dealer=dealers.b)
    await load(dealers, csv_feed(row("B1")), who=dealers.staff_b, dealer=dealers.b, full=True)


async def _all(
    who: Principal | None,
    order: VehicleOrder,
    flt: VehicleFilter,
    size: int = 3,
    terms: PrequalificationTerms | None = None,
) -> list[str]:
    out: list[str] = []
    after = None
    async with read_session() as session:
        while True:
            page = await search.search(
                session, principal=who, flt=flt, order=order, limit=size, after=after, terms=terms
            )
            out += [v.stock_id for v in page.items]
            if not page.has_next:
                return out
            after = page.cursors[-1]


async def test_pages_in_every_order_are_complete_and_stable(dealers: Dealers) -> None:
    await _stock(dealers)
    mine = VehicleFilter(dealer_id=dealers.a)
    by_price = await _all(None, VehicleOrder.PRICE_ASC, mine)
    assert len(by_price) == len(set(by_price)) == 10
    prices = [int(p.replace(".", "")) for p in PRICES]
    assert [prices[int(s[1:])] for s in by_price] == sorted(prices)
    # ties (three at 7.500.000) are broken by id, the same way on every page
    assert await _all(None, VehicleOrder.PRICE_ASC, mine, size=2) == by_price
    desc = await _all(None, VehicleOrder.PRICE_DESC, mine, size=4)
    assert [prices[int(s[1:])] for s in desc] == sorted(prices, reverse=True)
    assert await _all(None, VehicleOrder.YEAR_DESC, mine) == [f"A{i}" for i in range(9, -1, -1)]
    assert await _all(None, VehicleOrder.KILOMETRES_ASC, mine) == [f"A{i}" for i in range(10)]
    newest = await _all(None, VehicleOrder.NEWEST, mine, size=4)
    assert sorted(newest) == sorted(by_price)


async def test_the_public_sees_available_and_reserved_a_dealer_its_own_withdrawn(
    dealers: Dealers,
) -> None:
    await _stock(dealers)
    everyone = VehicleFilter()
    public = await _all(None, VehicleOrder.PRICE_ASC, everyone, size=50)
    assert "B2" not in public and "B1" in public
    assert "B2" in await _all(dealers.staff_b, VehicleOrder.PRICE_ASC, everyone, size=50)
    assert "B2" not in await _all(dealers.staff_a, VehicleOrder.PRICE_ASC, everyone, size=50)
    withdrawn = VehicleFilter(statuses=("WITHDRAWN",))
    assert await _all(dealers.staff_b, VehicleOrder.NEWEST, withdrawn) == ["B2"]
    assert await _all(None, VehicleOrder.NEWEST, withdrawn) == []


async def test_filters_and_facets(dealers: Dealers) -> None:
    await _stock(dealers)
    flt = VehicleFilter(makes=("kia", "TOYOTA"), dealer_id=dealers.a)
    assert sorted(await _all(None, VehicleOrder.PRICE_ASC, flt)) == ["A0", "A1", "A2", "A4", "A7"]
    bounded = VehicleFilter(
        dealer_id=dealers.a,
        price_min=Money(5_000_000, "CLP"),
        price_max=Money(10_000_000, "CLP"),
        year_min=2016,
        fuels=("GASOLINE",),
    )
    assert sorted(await _all(None, VehicleOrder.PRICE_ASC, bounded)) == ["A2", "A7"]
    async with read_session() as session:
        facets = await search.facets(
            session, principal=None, flt=VehicleFilter(dealer_id=dealers.a)
        )
    assert facets.makes[0].value == "Kia" and facets.makes[0].count == 3
    assert sum(c.count for c in facets.makes) == 10
    assert {c.value: c.count for c in facets.fuels} == {"DIESEL": 4, "GASOLINE": 6}
    assert sum(y.count for y in facets.years) == 10
    clp = [p for p in facets.prices if p.currency == "CLP"]
    assert [p.count for p in clp] == [1, 5, 1, 1, 1, 1]  # <5M, 5-10M, 10-15, 15-20, 20-30, 30+
    assert clp[1].minimum == 5_000_000 and clp[1].maximum == 10_000_000


@pytest.mark.parametrize(
    "flt",
    [
        VehicleFilter(year_min=2020, year_max=2010),
        VehicleFilter(price_min=Money(-1, "CLP")),
        VehicleFilter(fuels=("STEAM",)),
        VehicleFilter(makes=tuple(f"m{i}" for i in range(51))),
    ],
)
async def test_bad_filters_are_refused(dealers: Dealers, flt: VehicleFilter) -> None:
    with pytest.raises(ValidationFailed):
        await _all(None, VehicleOrder.NEWEST, flt)


async def test_a_cursor_of_another_order_is_refused(dealers: Dealers) -> None:
    await _stock(dealers)
    async with read_session() as session:
        page = await search.search(
            session, principal=None, flt=VehicleFilter(), order=VehicleOrder.PRICE_ASC, limit=2
        )
        with pytest.raises(ValidationFailed):
            await search.search(
                session,
                principal=None,
                flt=VehicleFilter(),
                order=VehicleOrder.YEAR_ASC,
                limit=2,
                after=page.cursors[-1],
            )


# --- affordableFor --------------------------------------------------------------------------
def _terms(customer: uuid.UUID, lender: uuid.UUID, **changes: object) -> PrequalificationTerms:
    values: dict[str, object] = {
        "customer_id": customer,
        "lender_id": lender,
        "max_principal": 6_000_000,
        "down_payment": 2_000_000,
        "currency": "CLP",
        "annual_rate": Decimal("0.189"),
        "term_months": 36,
        "grade": "B",
        "valid_until": utcnow() + timedelta(days=10),
    }
    values.update(changes)
    return PrequalificationTerms(**values)  # type: ignore[arg-type]


def _lookup(terms: PrequalificationTerms | None) -> affordability.TermsLookup:
    async def lookup(session: object, *, customer_id: uuid.UUID) -> PrequalificationTerms | None:
        return terms if terms is not None and terms.customer_id == customer_id else None

    return lookup  # type: ignore[return-value]


def _customer(customer: uuid.UUID) -> Principal:
    return Principal(
        subject=f"customer:{customer}",
        roles=frozenset({Role.CUSTOMER}),
        scopes=ROLE_SCOPES[Role.CUSTOMER],
        customer_id=customer,
    )


async def test_affordable_vehicles_and_their_installments(dealers: Dealers) -> None:
    await _stock(dealers)
    customer, lender = uuid.uuid4(), uuid.uuid4()
    terms = _terms(customer, lender)
    async with read_session() as session:
        found = await affordability.terms_for(
            session, principal=_customer(customer), customer_id=customer, lookup=_lookup(terms)
        )
    assert found == terms
    ids = await _all(None, VehicleOrder.PRICE_ASC, VehicleFilter(dealer_id=dealers.a), terms=terms)
    prices = {f"A{i}": int(p.replace(".", "")) for i, p in enumerate(PRICES)}
    assert sorted(ids) == sorted(s for s, p in prices.items() if p <= 8_000_000)
    calculator = affordability.InstallmentCalculator(terms)
    monthly = calculator.monthly(7_500_000)
    expected = build_schedule(
        ScheduleRequest(
            principal=Money(5_500_000, "CLP"),
            annual_rate=Decimal("0.189"),
            term_months=36,
            disbursement_date=utcnow().date(),
        )
    ).level_installment
    assert monthly == expected and monthly is not None and monthly.amount > 5_500_000 // 36
    assert calculator.monthly(1_000_000) == Money(0, "CLP")  # the down payment pays it all


async def test_who_may_ask_what_a_customer_can_afford(dealers: Dealers) -> None:
    customer, lender = uuid.uuid4(), uuid.uuid4()
    lookup = _lookup(_terms(customer, lender))
    staff = principal(Role.AGENT, lender)

    async def ask(who: Principal | None, whom: uuid.UUID = customer) -> PrequalificationTerms:
        async with read_session() as session:
            return await affordability.terms_for(
                session, principal=who, customer_id=whom, lookup=lookup
            )

    assert (await ask(staff)).grade == "B"
    assert (await ask(principal(Role.ADMIN))).grade == "B"
    for refused in (None, _customer(uuid.uuid4()), principal(Role.DEALER, dealers.a)):
        with pytest.raises(Forbidden):
            await ask(refused)
    with pytest.raises(NotPrequalified):  # another lender's staff: not theirs to see
        await ask(principal(Role.AGENT, uuid.uuid4()))
    with pytest.raises(NotPrequalified):
        await ask(principal(Role.ADMIN), uuid.uuid4())
    expired = _lookup(_terms(customer, lender, valid_until=utcnow() - timedelta(seconds=1)))
    async with read_session() as session:
        with pytest.raises(NotPrequalified, match="expired"):
            await affordability.terms_for(
                session, principal=staff, customer_id=customer, lookup=expired
            )

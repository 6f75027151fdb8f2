"""Dealers' feeds: idempotent by stock id, full feeds withdraw, bad rows by line, partial
imports, XLSX with a saved mapping, and who may send them."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.marketplace import feeds, service
from domain.marketplace.errors import FeedRefused, UnknownDealer
from domain.marketplace.models import VehicleFeedImport
from domain.partners.models import Partner
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.principal import Role
from domain.shared.time import utcnow
from tests.domain.marketplace.conftest import (
    Dealers,
    csv_feed,
    load,
    principal,
    row,
    snapshot,
    topics_since,
    vehicles_of,
)


async def test_a_feed_lists_vehicles_and_the_same_feed_again_changes_nothing(
    dealers: Dealers,
) -> None:
    content = csv_feed(row("A1"), row("A2", "12.500.000", km="0"), row("A3", year="2018"))
    result = await load(dealers, content)
    assert (result.feed.created, result.feed.updated, result.feed.unchanged) == (3, 0, 0)
    stock = await vehicles_of(dealers.a)
    a1 = stock["A1"]
    assert (a1.make, a1.model, a1.trim, a1.year, a1.kilometres) == (
        "Toyota",
        "Corolla",
        "XEI 2.0",
        2021,
        45_000,
    )
    assert (a1.fuel, a1.transmission, a1.price, a1.currency, a1.status, a1.version) == (
        "GASOLINE",
        "AUTOMATIC",
        9_990_000,
        "CLP",
        "AVAILABLE",
        1,
    )
    before = await snapshot()
    again = await load(dealers, content)
    assert (again.feed.created, again.feed.updated, again.feed.unchanged) == (0, 0, 3)
    after = await snapshot()
    assert after["vehicles"] == before["vehicles"]
    assert {v.version for v in (await vehicles_of(dealers.a)).values()} == {1}
    # only the import's own summary event: no vehicle changed
    assert await topics_since(before["outbox_events"]) == ["vehicles.feed_imported"]


async def test_a_changed_price_updates_the_vehicle_and_bumps_its_version(
    dealers: Dealers,
) -> None:
    await load(dealers, csv_feed(row("A1"), row("A2")))
    before = await snapshot()
    result = await load(dealers, csv_feed(row("A1", "9.490.000"), row("A2")))
    assert (result.feed.updated, result.feed.unchanged) == (1, 1)
    stock = await vehicles_of(dealers.a)
    assert (stock["A1"].price, stock["A1"].version) == (9_490_000, 2)
    assert stock["A2"].version == 1
    assert await topics_since(before["outbox_events"]) == [
        "vehicles.feed_imported",
        "vehicles.updated",
    ]


async def test_a_full_feed_withdraws_the_missing_available_ones_only(dealers: Dealers) -> None:
    await load(dealers, csv_feed(row("A1"), row("A2"), row("A3"), row("A4")))
    stock = await vehicles_of(dealers.a)
    async with transaction() as session:
        await service.reserve_vehicle(
            session,
            vehicle_id=stock["A2"].id,
            application_id=stock["A2"].id,
            hold_until=utcnow().replace(microsecond=0) + __import__("datetime").timedelta(days=1),
        )
    # A3 is on a bad row: it is in the feed, so it is not withdrawn (partial import)
    result = await load(dealers, csv_feed(row("A1"), row("A3", "-5")), full=True, partial=True)
    assert (result.feed.withdrawn, result.feed.rejected) == (1, 1)
    stock = await vehicles_of(dealers.a)
    assert {k: v.status for k, v in stock.items()} == {
        "A1": "AVAILABLE",
        "A2": "RESERVED",
        "A3": "AVAILABLE",
        "A4": "WITHDRAWN",
    }
    # listed again: back in the catalogue
    back = await load(dealers, csv_feed(row("A4")))
    assert back.feed.updated == 1
    assert (await vehicles_of(dealers.a))["A4"].status == "AVAILABLE"


async def test_one_bad_row_refuses_the_file_and_writes_nothing(dealers: Dealers) -> None:
    next_year = utcnow().year + 1
    before = await snapshot()
    content = csv_feed(
        row("A1"),
        row("A2", "-1.000"),
        row("A3", year=str(next_year + 1)),
        row("A4", km="muchos"),
        row("A5", fuel="vapor"),
        row("A1"),
        "A6;Kia;Rio;;2020;10;Diesel;Manual;Rojo;5.000.000;USD",
    )
    header = "stock_id;marca;modelo;version;año;km;combustible;transmision;color;precio;moneda"
    content = content.replace(
        b"stock_id;marca;modelo;version;a\xc3\xb1o;km;combustible;transmision;color;precio",
        header.encode(),
        1,
    )
    with pytest.raises(FeedRefused) as refused:
        await load(dealers, content)
    found = {(p.line, p.field) for p in refused.value.rows}
    assert found == {
        (3, "price"),
        (4, "year"),
        (5, "kilometres"),
        (6, "fuel"),
        (7, "stock_id"),
        (8, "currency"),
    }
    assert refused.value.code == "FEED_REFUSED"
    assert await snapshot() == before
    # asked for, the good rows are kept and the bad ones reported
    result = await load(dealers, content, partial=True)
    assert (result.feed.created, result.feed.rejected) == (1, 6)
    assert result.problems[0].line == 3
    async with read_session() as session:
        stored = await session.get(VehicleFeedImport, result.feed.id)
        assert stored is not None and stored.problems[0]["field"] == "price"


async def test_an_xlsx_feed_with_a_saved_mapping_and_separators(dealers: Dealers) -> None:
    import openpyxl

    async with transaction() as session:
        await feeds.save_format(
            session,
            principal=dealers.staff_a,
            dealer_id=dealers.a,
            feed_format=feeds.FeedFormat(
                mapping={"stock_id": "Patente", "price": "Valor venta", "kilometres": "Recorrido"},
                decimal_separator=".",
                thousands_separator=",",
            ),
        )
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["Patente", "Marca", "Modelo", "Año", "Recorrido", "Combustible", "Caja", "Valor venta"]
    )
    sheet.append(["KXRT-21", "Hyundai", "Tucson", 2022, "32,500", "Diésel", "AT", "18,990,000"])
    sheet.append(["LBCD-88", "Chevrolet", "Sail", 2019, 81000, "Gasolina", "MT", 6490000])
    buffer = io.BytesIO()
    book.save(buffer)
    result = await load(dealers, buffer.getvalue(), file_name="stock.xlsx")
    assert (result.feed.kind, result.feed.created) == ("XLSX", 2)
    stock = await vehicles_of(dealers.a)
    assert (stock["KXRT-21"].kilometres, stock["KXRT-21"].price) == (32_500, 18_990_000)
    assert (stock["LBCD-88"].fuel, stock["LBCD-88"].transmission) == ("GASOLINE", "MANUAL")


async def test_a_mapping_naming_a_missing_column_is_refused(dealers: Dealers) -> None:
    async with transaction() as session:
        await feeds.save_format(
            session,
            principal=dealers.staff_a,
            dealer_id=dealers.a,
            feed_format=feeds.FeedFormat(mapping={"price": "Valor"}),
        )
    with pytest.raises(ValidationFailed, match="no column 'Valor'"):
        await load(dealers, csv_feed(row("A1")))
    with pytest.raises(ValidationFailed):
        async with transaction() as session:
            await feeds.save_format(
                session,
                principal=dealers.staff_a,
                dealer_id=dealers.a,
                feed_format=feeds.FeedFormat(mapping={"colour_code": "x"}, decimal_separator=";"),
            )


async def test_only_the_dealers_own_partner_sends_its_feed(dealers: Dealers) -> None:
    before = await snapshot()
    with pytest.raises(Forbidden):
        await load(dealers, csv_feed(row("A1")), who=dealers.staff_b)
    with pytest.raises(Forbidden):
        await load(dealers, csv_feed(row("A1")), who=principal(Role.INSPECTOR, dealers.a))
    async with read_session() as session:
        lender = (
            await session.execute(sa.select(Partner.id).where(Partner.code == "AUTOCREDITO"))
        ).scalar_one()
    with pytest.raises(UnknownDealer):  # a lender sells no vehicles
        await load(dealers, csv_feed(row("A1")), dealer=lender, who=principal(Role.ADMIN))
    assert await snapshot() == before


async def test_a_full_feed_of_no_rows_is_refused(dealers: Dealers) -> None:
    await load(dealers, csv_feed(row("A1")))
    with pytest.raises(ValidationFailed, match="withdraw the whole stock"):
        await load(dealers, csv_feed(), full=True)
    with pytest.raises(ValidationFailed, match="no column for price"):
        await load(dealers, b"stock_id;marca\nA1;Kia\n")
    with pytest.raises(ValidationFailed, match="empty"):
        await load(dealers, b"")

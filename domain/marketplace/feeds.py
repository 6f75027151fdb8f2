"""Dealers' inventory feeds: CSV or XLSX files read with the dealer's column mapping and
number format, imported set-based (thousands of rows in a few statements).

Rules:

- A vehicle is the dealer's stock id: a row with a known stock id updates that vehicle
  when a field changed (its ``version`` rises), and does nothing when none did.
- ``full`` feeds list the dealer's whole stock: AVAILABLE vehicles missing from the feed
  are WITHDRAWN. RESERVED ones keep their hold (an application is under way) and SOLD ones
  stay sold; a stock id on a bad row of the feed is not withdrawn either (it is there,
  just wrong). A WITHDRAWN vehicle listed again comes back AVAILABLE.
- RESERVED and SOLD vehicles are not changed by a feed (counted as ``held``): an
  application's terms were made on the price it saw.
- Bad rows are reported by line (1 is the header) and field. Unless the dealer asks for a
  partial import, one bad row refuses the whole file and nothing is written.
- Prices are in the dealer's country's currency (a ``currency`` column, when present, must
  say so); years run from 1950 to next year (next model year cars sell this year).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.marketplace import events, scopes
from domain.marketplace.errors import FeedRefused, RowProblem, UnknownDealer
from domain.marketplace.models import (
    DealerFeedProfile,
    Fuel,
    Transmission,
    Vehicle,
    VehicleFeedImport,
)
from domain.marketplace.states import VehicleStatus
from domain.partners.models import Partner, PartnerKind
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import Problems, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import Money, MoneyError
from domain.shared.principal import Principal
from domain.shared.time import utcnow

MAX_FEED_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
MIN_YEAR = 1950
MAX_KILOMETRES = 2_000_000
#: The currency vehicles are priced in, by the dealer's country.
COUNTRY_CURRENCY = {"CL": "CLP", "AR": "ARS", "MX": "MXN", "CO": "COP", "PE": "PEN"}
SELLER_KINDS = frozenset({PartnerKind.DEALER.value, PartnerKind.RETAILER.value})

FIELDS = (
    "stock_id",
    "make",
    "model",
    "trim",
    "year",
    "kilometres",
    "fuel",
    "transmission",
    "colour",
    "price",
    "currency",
)
REQUIRED = ("stock_id", "make", "model", "year", "kilometres", "fuel", "transmission", "price")
#: Header names understood without a saved mapping (compared without case or accents).
DEFAULT_HEADERS: dict[str, tuple[str, ...]] = {
    "stock_id": ("stock_id", "stock", "stockid", "id_stock", "codigo", "sku", "stock id"),
    "make": ("make", "marca", "brand"),
    "model": ("model", "modelo"),
    "trim": ("trim", "version", "variant"),
    "year": ("year", "ano", "anio", "model_year"),
    "kilometres": ("kilometres", "kilometers", "km", "kms", "kilometraje", "mileage_km"),
    "fuel": ("fuel", "combustible"),
    "transmission": ("transmission", "transmision", "caja", "gearbox"),
    "colour": ("colour", "color"),
    "price": ("price", "precio", "valor"),
    "currency": ("currency", "moneda", "divisa"),
}
_FUELS = {
    "gasoline": Fuel.GASOLINE, "gasolina": Fuel.GASOLINE, "bencina": Fuel.GASOLINE,
    "nafta": Fuel.GASOLINE, "petrol": Fuel.GASOLINE,
    "diesel": Fuel.DIESEL, "petroleo": Fuel.DIESEL, "gasoil": Fuel.DIESEL,
    "hybrid": Fuel.HYBRID, "hibrido": Fuel.HYBRID, "hev": Fuel.HYBRID,
    "plug_in_hybrid": Fuel.PLUG_IN_HYBRID, "plug-in hybrid": Fuel.PLUG_IN_HYBRID,
    "hibrido enchufable": Fuel.PLUG_IN_HYBRID, "phev": Fuel.PLUG_IN_HYBRID,
    "electric": Fuel.ELECTRIC, "electrico": Fuel.ELECTRIC, "ev": Fuel.ELECTRIC,
    "bev": Fuel.ELECTRIC,
    "lpg": Fuel.LPG, "glp": Fuel.LPG, "gas licuado": Fuel.LPG,
    "cng": Fuel.CNG, "gnc": Fuel.CNG, "gnv": Fuel.CNG,
}  # fmt: skip
_TRANSMISSIONS = {
    "manual": Transmission.MANUAL, "mecanica": Transmission.MANUAL, "mt": Transmission.MANUAL,
    "automatic": Transmission.AUTOMATIC, "automatica": Transmission.AUTOMATIC,
    "automatico": Transmission.AUTOMATIC, "at": Transmission.AUTOMATIC,
    "cvt": Transmission.AUTOMATIC, "dct": Transmission.AUTOMATIC,
}  # fmt: skip
_STOCK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
_SEPARATORS = frozenset({",", ".", " ", "'", "_", ""})
_COMPARED = (
    "make",
    "model",
    "trim",
    "year",
    "kilometres",
    "fuel",
    "transmission",
    "colour",
    "price",
)
_API_NAMES = {"kilometres": "kilometres", "trim": "trim"}


def fold(text: str) -> str:
    """Lower case, no accents, single spaces: how header names and values are compared."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(plain.lower().replace("_", " ").split()).replace(" ", "_")


# --- the profile ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FeedFormat:
    """A dealer's column mapping (field → header as in the file) and number format."""

    mapping: dict[str, str] = field(default_factory=dict)
    decimal_separator: str = ","
    thousands_separator: str = "."

    def check(self) -> None:
        problems = Problems()
        for name in self.mapping:
            if name not in FIELDS:
                problems.add("mapping", f"{name!r} is not a feed field ({', '.join(FIELDS)})")
        for name, header in self.mapping.items():
            if not isinstance(header, str) or not header.strip() or len(header) > 100:
                problems.add("mapping", f"the column of {name} must be a header name")
        if self.decimal_separator not in {",", "."}:
            problems.add("decimalSeparator", "use ',' or '.'")
        if self.thousands_separator not in _SEPARATORS:
            problems.add("thousandsSeparator", "use '.', ',', ' ', an apostrophe, '_' or none")
        if self.thousands_separator == self.decimal_separator:
            problems.add("thousandsSeparator", "must differ from the decimal separator")
        problems.raise_if_any()


async def format_of(session: AsyncSession, dealer_id: uuid.UUID) -> FeedFormat:
    profile = await session.get(DealerFeedProfile, dealer_id)
    if profile is None:
        return FeedFormat()
    return FeedFormat(
        mapping=dict(profile.mapping),
        decimal_separator=profile.decimal_separator,
        thousands_separator=profile.thousands_separator,
    )


async def save_format(
    session: AsyncSession, *, principal: Principal, dealer_id: uuid.UUID, feed_format: FeedFormat
) -> DealerFeedProfile:
    """Save the dealer's feed profile (its own staff or systems, ``vehicles:write``)."""
    dealer = await dealer_by_id(session, dealer_id)
    scopes.ensure_can_manage_dealer(principal, dealer.id)
    feed_format.check()
    profile = await session.get(DealerFeedProfile, dealer.id)
    before = None
    if profile is None:
        profile = DealerFeedProfile(dealer_id=dealer.id)
        session.add(profile)
    else:
        before = {
            "mapping": dict(profile.mapping),
            "decimal_separator": profile.decimal_separator,
            "thousands_separator": profile.thousands_separator,
        }
        profile.version += 1
    profile.mapping = {k: v.strip() for k, v in feed_format.mapping.items()}
    profile.decimal_separator = feed_format.decimal_separator
    profile.thousands_separator = feed_format.thousands_separator
    profile.updated_at = utcnow()
    audit.record(
        session,
        principal=principal,
        action="vehicles.feed_profile_saved",
        entity_type="DealerFeedProfile",
        entity_id=dealer.id,
        before=before,
        after={
            "mapping": profile.mapping,
            "decimal_separator": profile.decimal_separator,
            "thousands_separator": profile.thousands_separator,
        },
    )
    await session.flush()
    return profile


# --- dealers ----------------------------------------------------------------------------
def _check_dealer(partner: Partner | None, key: object) -> Partner:
    if partner is None or partner.kind not in SELLER_KINDS or not partner.active:
        raise UnknownDealer(key)
    return partner


async def dealer_by_code(session: AsyncSession, code: str) -> Partner:
    partner = (
        await session.execute(sa.select(Partner).where(col(Partner.code) == code.strip()))
    ).scalar_one_or_none()
    return _check_dealer(partner, code)


async def dealer_by_id(session: AsyncSession, dealer_id: uuid.UUID) -> Partner:
    return _check_dealer(await session.get(Partner, dealer_id), dealer_id)


def currency_of(dealer: Partner) -> str:
    return COUNTRY_CURRENCY.get(dealer.country, "USD")


# --- reading the file -------------------------------------------------------------------
def kind_of(content: bytes, file_name: str | None) -> str:
    if content[:4] == b"PK\x03\x04":
        return "XLSX"
    if (file_name or "").lower().endswith((".xlsx", ".xlsm")):
        raise ValidationFailed.on("file", "the file is named .xlsx but is not an Excel workbook")
    return "CSV"


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed.on("file", "the CSV file is neither UTF-8 nor Windows-1252 text")


def _csv_rows(content: bytes) -> Iterator[list[Any]]:
    text = _decode(content)
    if "\x00" in text:
        raise ValidationFailed.on("file", "the file is not CSV text")
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (";", ",", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        delimiter = ","
    yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _xlsx_rows(content: bytes) -> Iterator[list[Any]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ValidationFailed.on("file", f"the Excel workbook cannot be read: {exc}") from None
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    finally:
        book.close()


@dataclass(frozen=True, slots=True)
class FeedRow:
    line: int
    stock_id: str
    make: str
    model: str
    trim: str | None
    year: int
    kilometres: int
    fuel: str
    transmission: str
    colour: str | None
    price: int
    currency: str

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COMPARED}


@dataclass
class ParsedFeed:
    kind: str
    rows: list[FeedRow]
    problems: list[RowProblem]
    #: Stock ids seen on bad rows (not withdrawn by a full feed).
    bad_stock_ids: set[str]
    total: int


def _columns(header: list[Any], feed_format: FeedFormat) -> dict[str, int]:
    folded = [fold(str(h)) if h is not None else "" for h in header]
    out: dict[str, int] = {}
    problems = Problems()
    for name in FIELDS:
        if name in feed_format.mapping:
            wanted = fold(feed_format.mapping[name])
            if wanted in folded:
                out[name] = folded.index(wanted)
            elif name in REQUIRED:
                problems.add(
                    "file", f"the header has no column {feed_format.mapping[name]!r} ({name})"
                )
            continue
        for alias in DEFAULT_HEADERS[name]:
            if fold(alias) in folded:
                out[name] = folded.index(fold(alias))
                break
        else:
            if name in REQUIRED:
                problems.add("file", f"the header has no column for {name}")
    problems.raise_if_any()
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: Any, feed_format: FeedFormat) -> Decimal:
    """A number as the dealer writes it ("12.990.000", "12 990 000,50"), or as Excel keeps
    it (an int or a float cell)."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = _text(value).replace("\u00a0", " ")
    for symbol in ("$", "US", "CLP", "ARS", "MXN", "COP", "PEN", "USD"):
        text = text.replace(symbol, "")
    text = text.strip()
    if feed_format.thousands_separator:
        text = text.replace(feed_format.thousands_separator, "")
    text = text.replace(feed_format.decimal_separator, ".")
    if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
        raise ValueError("not a number")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError("not a number") from None


def _row(
    line: int,
    cells: list[Any],
    columns: dict[str, int],
    feed_format: FeedFormat,
    currency: str,
    max_year: int,
) -> tuple[FeedRow | None, list[RowProblem], str]:
    problems: list[RowProblem] = []

    def cell(name: str) -> Any:
        index = columns.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    def bad(name: str, message: str) -> None:
        problems.append(RowProblem(line, name, message))

    def text(name: str, limit: int, required: bool) -> str | None:
        value = _text(cell(name))
        if not value:
            if required:
                bad(name, "is missing")
            return None
        if len(value) > limit:
            bad(name, f"at most {limit} characters")
            return None
        return value

    stock_id = _text(cell("stock_id"))
    if not stock_id:
        bad("stock_id", "is missing")
    elif not _STOCK_ID.match(stock_id):
        bad("stock_id", "letters, digits and . _ / - only, at most 64")
    make = text("make", 60, True)
    model = text("model", 80, True)
    trim = text("trim", 120, False)
    colour = text("colour", 40, False)
    year: int | None = None
    try:
        number = _number(cell("year"), FeedFormat(decimal_separator=".", thousands_separator=""))
        if number != number.to_integral_value():
            raise ValueError
        year = int(number)
        if year < MIN_YEAR:
            bad("year", f"must be {MIN_YEAR} or later")
            year = None
        elif year > max_year:
            bad("year", f"{year} is in the future (at most {max_year})")
            year = None
    except ValueError:
        bad("year", "must be a whole number like 2021")
    kilometres: int | None = None
    try:
        number = _number(cell("kilometres"), feed_format)
        if number != number.to_integral_value():
            raise ValueError
        kilometres = int(number)
        if kilometres < 0:
            bad("kilometres", "must not be negative")
            kilometres = None
        elif kilometres > MAX_KILOMETRES:
            bad("kilometres", f"at most {MAX_KILOMETRES}")
            kilometres = None
    except ValueError:
        bad("kilometres", "must be a whole number of kilometres")
    fuel = _FUELS.get(fold(_text(cell("fuel"))).replace("_", " ")) or _FUELS.get(
        fold(_text(cell("fuel")))
    )
    if fuel is None:
        bad("fuel", f"unknown fuel {_text(cell('fuel'))[:40]!r}")
    transmission = _TRANSMISSIONS.get(fold(_text(cell("transmission"))))
    if transmission is None:
        bad("transmission", f"unknown transmission {_text(cell('transmission'))[:40]!r}")
    declared = _text(cell("currency")).upper()
    if declared and declared != currency:
        bad("currency", f"this dealer's prices are in {currency}, not {declared[:10]}")
    price: int | None = None
    try:
        amount = _number(cell("price"), feed_format)
        if amount <= 0:
            bad("price", "must be positive")
        else:
            price = Money.parse(amount, currency).amount
    except ValueError as exc:
        if isinstance(exc, MoneyError):
            bad("price", str(exc))
        else:
            bad("price", "must be an amount like 12.990.000")
    if problems:
        return None, problems, stock_id
    assert make and model and year is not None and kilometres is not None and price is not None
    assert fuel is not None and transmission is not None
    return (
        FeedRow(
            line=line,
            stock_id=stock_id,
            make=make,
            model=model,
            trim=trim,
            year=year,
            kilometres=kilometres,
            fuel=fuel.value,
            transmission=transmission.value,
            colour=colour,
            price=price,
            currency=currency,
        ),
        [],
        stock_id,
    )


def parse_feed(
    content: bytes,
    *,
    file_name: str | None,
    feed_format: FeedFormat,
    currency: str,
    max_year: int,
) -> ParsedFeed:
    """Every row of the file, checked; no database."""
    if not content:
        raise ValidationFailed.on("file", "the file is empty")
    if len(content) > MAX_FEED_BYTES:
        raise ValidationFailed.on("file", f"a feed file is at most {MAX_FEED_BYTES} bytes")
    kind = kind_of(content, file_name)
    reader: Iterable[list[Any]] = _xlsx_rows(content) if kind == "XLSX" else _csv_rows(content)
    iterator = iter(reader)
    header = next(iterator, None)
    while header is not None and not any(_text(h) for h in header):
        header = next(iterator, None)
    if header is None:
        raise ValidationFailed.on("file", "the file has no header row")
    columns = _columns(header, feed_format)
    rows: list[FeedRow] = []
    problems: list[RowProblem] = []
    bad_ids: set[str] = set()
    seen: dict[str, int] = {}
    total = 0
    for line, cells in enumerate(iterator, start=2):
        if not any(_text(c) for c in cells):
            continue
        total += 1
        if total > MAX_ROWS:
            raise ValidationFailed.on("file", f"a feed holds at most {MAX_ROWS} vehicles")
        row, row_problems, stock_id = _row(line, cells, columns, feed_format, currency, max_year)
        if row is not None and row.stock_id in seen:
            row_problems = [RowProblem(line, "stock_id", f"repeats line {seen[row.stock_id]}")]
            row = None
        if row is None:
            problems.extend(row_problems)
            if stock_id:
                bad_ids.add(stock_id)
            continue
        seen[row.stock_id] = line
        rows.append(row)
    return ParsedFeed(kind=kind, rows=rows, problems=problems, bad_stock_ids=bad_ids, total=total)


# --- importing --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FeedResult:
    feed: VehicleFeedImport
    problems: list[RowProblem]


async def import_feed(
    session: AsyncSession,
    *,
    principal: Principal,
    dealer_id: uuid.UUID,
    content: bytes,
    file_name: str | None,
    full: bool = False,
    partial: bool = False,
) -> FeedResult:
    """Import one feed file of ``dealer_id`` (see the module's rules)."""
    dealer = await dealer_by_id(session, dealer_id)
    scopes.ensure_can_manage_dealer(principal, dealer.id)
    feed_format = await format_of(session, dealer.id)
    now = utcnow()
    parsed = parse_feed(
        content,
        file_name=file_name,
        feed_format=feed_format,
        currency=currency_of(dealer),
        max_year=now.year + 1,
    )
    if parsed.problems and not partial:
        raise FeedRefused(parsed.problems)
    if full and not parsed.rows and not parsed.bad_stock_ids:
        raise ValidationFailed.on(
            "file", "a full feed with no vehicles would withdraw the whole stock: send a row"
        )
    table = table_of(Vehicle)
    existing_rows = (
        await session.execute(
            sa.select(
                table.c.id,
                table.c.stock_id,
                table.c.status,
                table.c.version,
                table.c.currency,
                *[table.c[name] for name in _COMPARED],
            ).where(table.c.dealer_id == dealer.id)
        )
    ).all()
    existing = {r.stock_id: r for r in existing_rows}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    evts: list[tuple[str, dict[str, Any], list[uuid.UUID], str | None]] = []
    unchanged = held = 0
    created_ids: list[str] = []
    updated_ids: list[str] = []

    def event(topic: str, vid: uuid.UUID, row: FeedRow | Any, status: str, version: int,
              **extra: Any) -> None:  # fmt: skip
        payload = events.vehicle_payload(
            vehicle_id=vid,
            dealer_id=dealer.id,
            stock_id=row.stock_id,
            status=status,
            price=row.price,
            currency=row.currency,
            version=version,
        )
        evts.append((topic, {**payload, **extra}, [dealer.id], events.key_of(vid)))

    for row in parsed.rows:
        old = existing.get(row.stock_id)
        if old is None:
            vid = uuid7()
            inserts.append(
                {
                    "id": vid,
                    "dealer_id": dealer.id,
                    "stock_id": row.stock_id,
                    **row.values(),
                    "currency": row.currency,
                    "status": VehicleStatus.AVAILABLE.value,
                    "reserved_for": None,
                    "reserved_until": None,
                    "listed_at": now,
                    "updated_at": now,
                    "sold_at": None,
                    "withdrawn_at": None,
                    "version": 1,
                }
            )
            created_ids.append(row.stock_id)
            event(events.LISTED, vid, row, VehicleStatus.AVAILABLE.value, 1)
            continue
        if old.status in (VehicleStatus.RESERVED.value, VehicleStatus.SOLD.value):
            held += 1
            continue
        changed = [name for name in _COMPARED if getattr(old, name) != getattr(row, name)]
        relisting = old.status == VehicleStatus.WITHDRAWN.value
        if not changed and not relisting:
            unchanged += 1
            continue
        version = old.version + 1
        updates.append(
            {
                "b_id": old.id,
                "b_version": version,
                "b_status": VehicleStatus.AVAILABLE.value,
                "b_withdrawn_at": None,
                **{f"b_{name}": getattr(row, name) for name in _COMPARED},
            }
        )
        updated_ids.append(row.stock_id)
        if relisting:
            event(events.RELISTED, old.id, row, VehicleStatus.AVAILABLE.value, version)
        if changed:
            event(
                events.UPDATED,
                old.id,
                row,
                VehicleStatus.AVAILABLE.value,
                version,
                changed=[wire.camel(_API_NAMES.get(n, n)) for n in changed],
            )
    withdrawn: list[Any] = []
    if full:
        listed = {r.stock_id for r in parsed.rows} | parsed.bad_stock_ids
        withdrawn = [
            r
            for r in existing_rows
            if r.status == VehicleStatus.AVAILABLE.value and r.stock_id not in listed
        ]
    for start in range(0, len(inserts), 1000):
        await session.execute(table.insert(), inserts[start : start + 1000])
    if updates:
        statement = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"))
            .values(
                version=sa.bindparam("b_version"),
                status=sa.bindparam("b_status"),
                withdrawn_at=sa.bindparam("b_withdrawn_at"),
                updated_at=now,
                **{name: sa.bindparam(f"b_{name}") for name in _COMPARED},
            )
        )
        for start in range(0, len(updates), 1000):
            await session.execute(statement, updates[start : start + 1000])
    for start in range(0, len(withdrawn), 1000):
        chunk = withdrawn[start : start + 1000]
        await session.execute(
            sa.update(table)
            .where(
                table.c.id.in_([r.id for r in chunk]),
                table.c.status == VehicleStatus.AVAILABLE.value,
            )
            .values(
                status=VehicleStatus.WITHDRAWN.value,
                withdrawn_at=now,
                updated_at=now,
                version=table.c.version + 1,
            )
        )
        for r in chunk:
            event(events.WITHDRAWN, r.id, r, VehicleStatus.WITHDRAWN.value, r.version + 1)
    feed = VehicleFeedImport(
        dealer_id=dealer.id,
        file_name=(file_name or "feed")[:255],
        sha256=_sha256(content),
        kind=parsed.kind,
        full=full,
        partial=partial,
        rows=parsed.total,
        created=len(inserts),
        updated=len(updates),
        unchanged=unchanged,
        withdrawn=len(withdrawn),
        held=held,
        rejected=len({p.line for p in parsed.problems}),
        problems=[
            {"line": p.line, "field": p.field, "message": p.message} for p in parsed.problems[:1000]
        ],
        imported_at=now,
        imported_by=principal.subject[:200],
    )
    session.add(feed)
    await session.flush()
    summary = {
        "importId": str(feed.id),
        "dealerId": wire.global_id("Partner", dealer.id),
        "sha256": feed.sha256,
        "full": full,
        "partial": partial,
        "rows": feed.rows,
        "created": feed.created,
        "updated": feed.updated,
        "unchanged": feed.unchanged,
        "withdrawn": feed.withdrawn,
        "held": feed.held,
        "rejected": feed.rejected,
        "firstProblemLine": parsed.problems[0].line if parsed.problems else None,
    }
    await outbox.add_many(
        session,
        [(events.FEED_IMPORTED, summary, [dealer.id], wire.global_id("Partner", dealer.id)), *evts],
    )
    audit.record(
        session,
        principal=principal,
        action="vehicles.feed_imported",
        entity_type="VehicleFeedImport",
        entity_id=feed.id,
        after={
            **{k: v for k, v in summary.items() if k != "importId"},
            "file_name": feed.file_name,
            "created_stock_ids": created_ids,
            "updated_stock_ids": updated_ids,
            "withdrawn_stock_ids": [r.stock_id for r in withdrawn],
        },
    )
    return FeedResult(feed=feed, problems=parsed.problems)


def _sha256(content: bytes) -> str:
    import hashlib

    return hashlib.sha256(content).hexdigest()

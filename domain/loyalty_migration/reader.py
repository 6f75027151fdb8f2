"""Streaming reader of legacy CSV exports: one record at a time, in constant memory.

The file is read as bytes line by line and each line decoded on its own, so that the reader
knows, for every record, the physical line it starts on (records may hold quoted line breaks)
and the byte offset right after it (a resumable position), and which records held bytes that
are not text in the file's encoding. Fields are converted by the typed converters below;
each failure names its column.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from domain.loyalty_migration.mapping import FieldSpec, FieldType, FileFormat, Mapping, fold_code
from domain.shared import pan

#: Longest field accepted (a legacy free-text field); anything longer is a broken quote.
FIELD_LIMIT = 100_000
csv.field_size_limit(FIELD_LIMIT)


class FieldError(ValueError):
    """A field that cannot be read as its type; ``code`` is the issue code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RawRecord:
    line: int  # physical line the record starts on (1-based)
    end_offset: int  # byte offset right after the record
    fields: list[str]
    undecodable: bool  # some byte of it is not text in the file's encoding
    suspicious: bool  # a Latin-1 record with bytes that may be UTF-8 (mojibake)


class LineSource:
    """Bytes lines of a file decoded one by one, counting lines and bytes."""

    def __init__(self, stream: IO[bytes], encoding: str, *, offset: int = 0, line: int = 0) -> None:
        self.stream = stream
        self.offset = offset
        self.line = line
        self.undecodable = False
        #: a line of a Latin-1/cp1252 file with the bytes UTF-8 starts accented letters
        #: with (Ã, Â): maybe UTF-8 text in a Latin-1 file
        self.suspicious = False
        self.bom = encoding == "utf-8-sig"
        self.encoding = "utf-8" if self.bom else encoding
        self.strict = codecs.lookup(self.encoding).name not in ("latin-1", "iso8859-1")
        self.latin = not codecs.lookup(self.encoding).name.startswith("utf")

    def __iter__(self) -> Iterator[str]:
        encoding = self.encoding
        first = self.offset == 0
        strict, latin = self.strict, self.latin
        for raw in self.stream:
            if first:
                first = False
                if raw.startswith(codecs.BOM_UTF8):
                    self.offset += 3
                    raw = raw[3:]
            self.offset += len(raw)
            self.line += 1
            if latin and (b"\xc3" in raw or b"\xc2" in raw):
                self.suspicious = True
            if strict:
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError:
                    self.undecodable = True
                    text = raw.decode(encoding, "surrogateescape")
                yield text
            else:
                yield raw.decode(encoding)


def read_records(
    path: Path, spec: FileFormat, *, offset: int = 0, line: int = 0
) -> Iterator[RawRecord | csv.Error]:
    """Every record of ``path`` from byte ``offset`` (the header included when at 0); a
    malformed stretch of CSV comes as a ``csv.Error`` carrying its line in ``args[1]``."""
    with path.open("rb") as stream:
        stream.seek(offset)
        source = LineSource(stream, spec.encoding, offset=offset, line=line)
        reader = csv.reader(
            iter(source), delimiter=spec.delimiter, quotechar=spec.quote, strict=False
        )
        while True:
            start = source.line + 1
            source.undecodable = source.suspicious = False
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield csv.Error(str(exc), start)
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip(" \t\x1a")):
                continue  # blank line, or the DOS end-of-file mark of old exports
            yield RawRecord(start, source.offset, fields, source.undecodable, source.suspicious)


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


# --- converters -----------------------------------------------------------------------------
_MOJIBAKE = re.compile("[ÃÂ][\u0080-\u00bf]")
_DIGITS = str.maketrans("", "", "0123456789")


def has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def text_problem(value: str, *, latin: bool) -> str | None:
    """Why a decoded text is not clean text, or None."""
    if has_surrogates(value):
        return "bytes that are not text in the file's encoding"
    if latin and _MOJIBAKE.search(value):
        found = _MOJIBAKE.search(value)
        assert found is not None
        return f"looks like UTF-8 read as Latin-1 ({found.group()!r})"
    return None


def may_hold_card_number(value: str) -> bool:
    """Cheap filter before the card-number scan: at least 13 digits in the text."""
    return len(value) - len(value.translate(_DIGITS)) >= pan.PAN_MIN_DIGITS


def make_date_parser(date_format: str) -> Callable[[str], date]:
    if date_format in ("dd/mm/yyyy", "dd-mm-yyyy"):
        sep = date_format[2]

        def parse(value: str) -> date:
            if len(value) != 10 or value[2] != sep or value[5] != sep:
                raise FieldError("INVALID_DATE", f"not a date as {date_format}")
            return _date(value[6:10], value[3:5], value[0:2], date_format)

    elif date_format == "yyyy-mm-dd":

        def parse(value: str) -> date:
            if len(value) != 10 or value[4] != "-" or value[7] != "-":
                raise FieldError("INVALID_DATE", f"not a date as {date_format}")
            return _date(value[0:4], value[5:7], value[8:10], date_format)

    elif date_format == "ddmmyyyy":

        def parse(value: str) -> date:
            if len(value) != 8:
                raise FieldError("INVALID_DATE", f"not a date as {date_format}")
            return _date(value[4:8], value[2:4], value[0:2], date_format)

    else:  # yyyymmdd

        def parse(value: str) -> date:
            if len(value) != 8:
                raise FieldError("INVALID_DATE", f"not a date as {date_format}")
            return _date(value[0:4], value[4:6], value[6:8], date_format)

    return parse


def _date(year: str, month: str, day: str, date_format: str) -> date:
    if not (year.isdigit() and month.isdigit() and day.isdigit()):
        raise FieldError("INVALID_DATE", f"not a date as {date_format}")
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise FieldError("INVALID_DATE", "no such day in the calendar") from None


def parse_time(value: str) -> str:
    text = value.replace(".", ":")
    if len(text) == 6 and text.isdigit():
        text = f"{text[0:2]}:{text[2:4]}:{text[4:6]}"
    elif len(text) == 5:
        text += ":00"
    if (
        len(text) != 8
        or text[2] != ":"
        or text[5] != ":"
        or not (text[0:2] + text[3:5] + text[6:8]).isdigit()
        or int(text[0:2]) > 23
        or int(text[3:5]) > 59
        or int(text[6:8]) > 59
    ):
        raise FieldError("INVALID_TIME", "not a time of day as HH:MM:SS")
    return text


def make_int_parser(thousands: str) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if value.isdigit() and value.isascii():  # the usual case: 1500
            return int(value)
        text = value
        negative = False
        if text[0] in "+-":
            negative = text[0] == "-"
            text = text[1:]
        elif text[-1] == "-":  # COBOL-style trailing sign: "1.500-"
            negative = True
            text = text[:-1]
        if thousands:
            text = _grouped(text, thousands)
        if not text.isdigit() or not text.isascii():
            raise FieldError("INVALID_NUMBER", "not a whole number")
        number = int(text)
        return -number if negative else number

    return parse


def _grouped(text: str, thousands: str) -> str:
    """Digits of ``1.234.567`` (groups of three after the first); other layouts are left as
    they are so the digit check refuses them."""
    if thousands not in text:
        return text
    parts = text.split(thousands)
    if not (1 <= len(parts[0]) <= 3) or any(len(p) != 3 for p in parts[1:]):
        return text + "?"
    return "".join(parts)


def make_money_parser(decimal: str, thousands: str, digits: int) -> Callable[[str], int]:
    """Amounts in the major unit to integer minor units; more decimals than the currency
    has are refused unless they are zeros."""
    grouped = re.escape(thousands) if thousands else None
    whole = rf"[0-9]{{1,3}}(?:{grouped}[0-9]{{3}})+|[0-9]+" if grouped else r"[0-9]+"
    usual = re.compile(rf"(-?)({whole}){re.escape(decimal)}([0-9]{{{digits}}})", re.ASCII)
    scale = 10**digits

    def parse(value: str) -> int:
        found = usual.fullmatch(value) if digits else None
        if found is not None:  # the usual case: "12.345,67"
            sign, units, cents = found.groups()
            minor = int(units.replace(thousands, "") if thousands else units) * scale + int(cents)
            return -minor if sign else minor
        return _money_slowly(value, decimal, thousands, digits)

    return parse


def _money_slowly(value: str, decimal: str, thousands: str, digits: int) -> int:
    text = value
    negative = False
    if text[0] in "+-":
        negative = text[0] == "-"
        text = text[1:]
    elif text[-1] == "-":
        negative = True
        text = text[:-1]
    whole, sep, fraction = text.partition(decimal)
    if thousands:
        whole = _grouped(whole, thousands)
    if (
        not whole
        or not whole.isdigit()
        or not whole.isascii()
        or (sep and (not fraction.isdigit() or not fraction.isascii()))
    ):
        raise FieldError("INVALID_NUMBER", "not an amount")
    if len(fraction) > digits:
        if fraction[digits:].strip("0"):
            raise FieldError("INVALID_NUMBER", f"more than {digits} decimals")
        fraction = fraction[:digits]
    minor = int(whole) * 10**digits + (int(fraction.ljust(digits, "0")) if digits else 0)
    return -minor if negative else minor


def make_decimal_parser(decimal: str, thousands: str) -> Callable[[str], Decimal]:
    def parse(value: str) -> Decimal:
        text = value.strip()
        whole, sep, fraction = text.partition(decimal)
        sign = ""
        if whole[:1] in "+-":
            sign, whole = whole[:1], whole[1:]
        if thousands:
            whole = _grouped(whole, thousands)
        if not whole.isdigit() or (sep and not fraction.isdigit()):
            raise FieldError("INVALID_NUMBER", "not a decimal number")
        try:
            return Decimal(f"{sign}{whole}.{fraction or '0'}")
        except InvalidOperation:
            raise FieldError("INVALID_NUMBER", "not a decimal number") from None

    return parse


@dataclass(frozen=True)
class Column:
    """One mapped field of a file: where it is in the record and how to read it."""

    spec: FieldSpec
    legacy: str  # the legacy column's name (for reports)
    index: int  # 0-based position in the record
    convert: Callable[[str], Any] | None  # None: text as is


def code_converter(mapping: Mapping, table: str) -> Callable[[str], str]:
    codes = mapping.codes.get(table)

    def convert(value: str) -> str:
        key = fold_code(value)
        if codes is None:
            return key
        found = codes.get(key)
        if found is None:
            raise FieldError("UNKNOWN_CODE", f"{key!r} is not in the code table {table}")
        return found

    return convert


def converters(mapping: Mapping, spec: FileFormat) -> dict[str, Callable[[str], Any] | None]:
    out: dict[str, Callable[[str], Any] | None] = {}
    for field in spec.fields():
        if field.name not in spec.columns:
            continue
        if field.type is FieldType.DATE:
            out[field.name] = make_date_parser(spec.date_format)
        elif field.type is FieldType.TIME:
            out[field.name] = parse_time
        elif field.type is FieldType.INT:
            out[field.name] = make_int_parser(spec.thousands_separator)
        elif field.type is FieldType.MONEY:
            out[field.name] = make_money_parser(
                spec.decimal_separator, spec.thousands_separator, mapping.currency_digits
            )
        elif field.type is FieldType.DECIMAL:
            out[field.name] = make_decimal_parser(spec.decimal_separator, spec.thousands_separator)
        elif field.type is FieldType.CODE:
            assert field.table is not None
            out[field.name] = code_converter(mapping, field.table)
        else:
            out[field.name] = None
    return out


def resolve_columns(
    mapping: Mapping, spec: FileFormat, header: list[str] | None
) -> tuple[list[Column], list[str]]:
    """The mapped columns' positions (by header name or 1-based index) and the problems:
    a mapped column missing from the header, or named twice."""
    problems: list[str] = []
    positions: dict[str, int] = {}
    if header is not None:
        for index, name in enumerate(header):
            key = fold_code(name.lstrip("\ufeff"))
            if key in positions:
                problems.append(f"the header names the column {name.strip()!r} twice")
            positions.setdefault(key, index)
    convert = converters(mapping, spec)
    columns: list[Column] = []
    for field in spec.fields():
        legacy = spec.columns.get(field.name)
        if legacy is None:
            continue
        if legacy.isdigit() and (header is None or fold_code(legacy) not in positions):
            index = int(legacy) - 1
            if header is not None and index >= len(header):
                problems.append(f"column {legacy} ({field.name}) is beyond the header")
                continue
            name = header[index].strip() if header is not None else f"#{legacy}"
        else:
            found = positions.get(fold_code(legacy))
            if found is None:
                problems.append(f"the column {legacy!r} ({field.name}) is not in the header")
                continue
            index, name = found, legacy
        columns.append(Column(field, name, index, convert[field.name]))
    return columns, problems

"""CSV and XLSX exports of a bank account, read with the account's saved column mapping.

A bank's web export has no standard: the mapping (``BankAccount.column_mapping``, set when the
account is registered or updated) says where each field is and how numbers and dates are
written. Columns are named by their header text (compared without case, accents or extra
spaces) or by their 1-based position (``3``).

One file is one statement of its account, from its first to its last date. When the export
has a running balance column, the opening balance is the first row's balance minus its
amount and the closing balance the last row's; every row's balance is checked against the
previous one plus its amount (a row out of order or missing shows there).

Amounts are exact: a CSV cell is parsed from its text with the mapping's decimal and
thousands separators; an XLSX number cell (stored as a binary float by Excel) is taken by
its shortest decimal representation and refused if it has more decimals than the
currency — never rounded.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.collections.errors import RefusalCode, StatementRefused
from domain.collections.formats.base import (
    AccountRef,
    Balance,
    ParsedLine,
    ParsedStatement,
    malformed,
)
from domain.collections.models import StatementKind
from domain.shared.errors import Problems, ValidationFailed
from domain.shared.money import CURRENCY_EXPONENTS

__all__ = ["ColumnMapping", "parse_tabular"]

_ENCODINGS = ("utf-8", "latin-1", "cp1252")
_DELIMITERS = (",", ";", "\t", "|")
_SEPARATORS = (".", ",")
_THOUSANDS = ("", ".", ",", " ", "'")
_COLUMN_FIELDS = (
    "date",
    "value_date",
    "amount",
    "debit",
    "credit",
    "direction",
    "reference",
    "description",
    "counterparty",
    "counterparty_account",
    "national_id",
    "bank_reference",
    "balance",
)
_MAX_ROWS = 2_000_000


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Where the fields of one account's exports are. Validated by :meth:`from_json`."""

    date: str | int
    date_format: str = "%Y-%m-%d"
    amount: str | int | None = None
    debit: str | int | None = None
    credit: str | int | None = None
    #: A column telling credit from debit (``Cargo``/``Abono``) when amounts are unsigned.
    direction: str | int | None = None
    credit_values: tuple[str, ...] = ()
    debit_values: tuple[str, ...] = ()
    value_date: str | int | None = None
    reference: str | int | None = None
    description: str | int | None = None
    counterparty: str | int | None = None
    counterparty_account: str | int | None = None
    national_id: str | int | None = None
    bank_reference: str | int | None = None
    balance: str | int | None = None
    decimal_separator: str = "."
    thousands_separator: str = ""
    delimiter: str | None = None  # None: guessed among , ; TAB |
    encoding: str = "utf-8"
    #: The header's row (1-based); rows above it (titles, account data) are skipped.
    header_row: int = 1
    #: Rows whose text matches this pattern are skipped (totals, "Saldo final"…).
    skip_rows_matching: str | None = None
    sheet: str | None = None  # XLSX: the sheet (default: the first)

    @classmethod
    def from_json(
        cls, data: dict[str, Any] | None, *, field: str = "columnMapping"
    ) -> ColumnMapping:
        if not isinstance(data, dict):
            raise ValidationFailed.on(field, "is required for CSV and XLSX statements")
        problems = Problems()
        known = set(cls.__dataclass_fields__)
        for key in data:
            if key not in known:
                problems.add(f"{field}.{key}", "is not a mapping field")
        values: dict[str, Any] = {}
        for name in _COLUMN_FIELDS:
            raw = data.get(name)
            if raw is None:
                continue
            if isinstance(raw, bool) or not isinstance(raw, str | int):
                problems.add(f"{field}.{name}", "a header text or a 1-based column number")
            elif isinstance(raw, int) and not 1 <= raw <= 500:
                problems.add(f"{field}.{name}", "a column number from 1 to 500")
            elif isinstance(raw, str) and not 1 <= len(raw.strip()) <= 100:
                problems.add(f"{field}.{name}", "a header of 1 to 100 characters")
            else:
                values[name] = raw.strip() if isinstance(raw, str) else raw
        if "date" not in values:
            problems.add(f"{field}.date", "the booking date column is required")
        has_amount = "amount" in values
        has_split = "debit" in values or "credit" in values
        if has_amount == has_split:
            problems.add(
                f"{field}.amount", "give either one amount column or debit and credit columns"
            )
        if has_split and not ("debit" in values and "credit" in values):
            problems.add(f"{field}.debit", "debit and credit columns go together")
        fmt = data.get("date_format", "%Y-%m-%d")
        if (
            not isinstance(fmt, str)
            or not re.fullmatch(r"[%dmyYbBHMS/\-. :T]{2,30}", fmt)
            or "%" not in fmt
        ):
            problems.add(f"{field}.date_format", "a date format like %d/%m/%Y")
        else:
            values["date_format"] = fmt
        for name, allowed in (
            ("decimal_separator", _SEPARATORS),
            ("thousands_separator", _THOUSANDS),
        ):
            if name in data:
                if data[name] not in allowed:
                    problems.add(f"{field}.{name}", f"one of {', '.join(repr(a) for a in allowed)}")
                else:
                    values[name] = data[name]
        if values.get("decimal_separator", ".") == values.get("thousands_separator", ""):
            problems.add(f"{field}.thousands_separator", "cannot be the decimal separator")
        if "delimiter" in data and data["delimiter"] is not None:
            if data["delimiter"] not in _DELIMITERS:
                problems.add(f"{field}.delimiter", "one of , ; TAB |")
            else:
                values["delimiter"] = data["delimiter"]
        if "encoding" in data:
            encoding = str(data["encoding"]).lower().replace("_", "-")
            encoding = {
                "latin1": "latin-1",
                "iso-8859-1": "latin-1",
                "utf8": "utf-8",
                "windows-1252": "cp1252",
            }.get(encoding, encoding)
            if encoding not in _ENCODINGS:
                problems.add(f"{field}.encoding", "utf-8, latin-1 or cp1252")
            else:
                values["encoding"] = encoding
        header_row = data.get("header_row", 1)
        if (
            isinstance(header_row, bool)
            or not isinstance(header_row, int)
            or not 1 <= header_row <= 100
        ):
            problems.add(f"{field}.header_row", "a row number from 1 to 100")
        else:
            values["header_row"] = header_row
        pattern = data.get("skip_rows_matching")
        if pattern is not None:
            if not isinstance(pattern, str) or len(pattern) > 200:
                problems.add(f"{field}.skip_rows_matching", "a pattern of at most 200 characters")
            else:
                try:
                    re.compile(pattern)
                    values["skip_rows_matching"] = pattern
                except re.error:
                    problems.add(f"{field}.skip_rows_matching", "is not a valid pattern")
        for name in ("credit_values", "debit_values"):
            raw_values = data.get(name)
            if raw_values is None:
                continue
            if (
                not isinstance(raw_values, list)
                or not all(isinstance(v, str) and 0 < len(v) <= 40 for v in raw_values)
                or len(raw_values) > 20
            ):
                problems.add(f"{field}.{name}", "a list of up to 20 short texts")
            else:
                values[name] = tuple(_fold(v) for v in raw_values)
        if "direction" in values and not (
            values.get("credit_values") and values.get("debit_values")
        ):
            problems.add(f"{field}.direction", "needs credit_values and debit_values")
        sheet = data.get("sheet")
        if sheet is not None:
            if not isinstance(sheet, str) or not 0 < len(sheet) <= 31:
                problems.add(f"{field}.sheet", "a sheet name of at most 31 characters")
            else:
                values["sheet"] = sheet
        problems.raise_if_any()
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is None or value == ():
                continue
            out[name] = list(value) if isinstance(value, tuple) else value
        return out


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain).strip().casefold()


def _rows_csv(content: bytes, mapping: ColumnMapping) -> list[list[str]]:
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    try:
        text = content.decode(mapping.encoding)
    except UnicodeDecodeError as error:
        raise malformed(
            f"the file is not {mapping.encoding} (set the account's mapping encoding)",
            f"byte {error.start}",
        ) from None
    if "\x00" in text:
        raise malformed("the file has NUL characters: not a CSV export")
    delimiter = mapping.delimiter
    if delimiter is None:
        sample = "\n".join(text.splitlines()[mapping.header_row - 1 : mapping.header_row + 4])
        counts = {d: sample.count(d) for d in _DELIMITERS}
        delimiter = max(counts, key=lambda d: counts[d])
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        rows = []
        for row in reader:
            rows.append(row)
            if len(rows) > _MAX_ROWS:
                raise malformed(f"more than {_MAX_ROWS} rows")
    except csv.Error as error:
        raise malformed(f"not a CSV file: {error}", f"row {reader.line_num}") from None
    return rows


def _rows_xlsx(content: bytes, mapping: ColumnMapping) -> list[list[Any]]:
    from openpyxl import load_workbook  # only when an XLSX comes in

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many types on broken files
        raise malformed(f"not an Excel workbook ({type(error).__name__})") from None
    try:
        if mapping.sheet is not None:
            if mapping.sheet not in book.sheetnames:
                raise malformed(f"the workbook has no sheet {mapping.sheet!r}")
            sheet = book[mapping.sheet]
        else:
            sheet = book.worksheets[0]
        rows: list[list[Any]] = []
        for row in sheet.iter_rows(values_only=True):
            rows.append(list(row))
            if len(rows) > _MAX_ROWS:
                raise malformed(f"more than {_MAX_ROWS} rows")
        return rows
    finally:
        book.close()


def _index(header: list[Any], column: str | int | None, name: str) -> int | None:
    if column is None:
        return None
    if isinstance(column, int):
        if column > len(header):
            raise malformed(f"the mapping's {name} column {column} is past the last column")
        return column - 1
    wanted = _fold(column)
    for index, cell in enumerate(header):
        if cell is not None and _fold(str(cell)) == wanted:
            return index
    raise malformed(f"the export has no {column!r} column (mapping field {name})", "header row")


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


def _amount(value: Any, mapping: ColumnMapping, currency: str, where: str) -> int | None:
    """Signed minor units, or None for an empty cell."""
    exp = CURRENCY_EXPONENTS[currency]
    if value is None:
        return None
    if isinstance(value, bool):
        raise malformed("a yes/no cell where an amount goes", where)
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    else:
        text = str(value).strip().replace("\u00a0", " ")
        if not text:
            return None
        negative = False
        if text.startswith("(") and text.endswith(")"):
            negative, text = True, text[1:-1].strip()
        text = re.sub(r"^[A-Z]{3}\s*|\$\s*", "", text)
        if text.endswith("-"):
            negative, text = True, text[:-1].strip()
        if text.startswith("-"):
            negative, text = not negative, text[1:].strip()
        elif text.startswith("+"):
            text = text[1:].strip()
        if mapping.thousands_separator:
            parts = text.split(mapping.decimal_separator)
            if len(parts) > 2:
                raise malformed(f"{value!r} has two decimal separators", where)
            whole = parts[0]
            groups = whole.split(mapping.thousands_separator)
            if len(groups) > 1 and (
                not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])
            ):
                raise malformed(f"{value!r} does not group thousands as the mapping says", where)
            text = "".join(groups) + ("." + parts[1] if len(parts) == 2 else "")
        elif mapping.decimal_separator == ",":
            text = text.replace(",", ".")
        if not re.fullmatch(r"[0-9]{1,18}(\.[0-9]{0,18})?", text):
            raise malformed(f"{str(value)[:30]!r} is not an amount", where)
        number = Decimal(text)
        if negative:
            number = -number
    try:
        scaled = number.scaleb(exp)
        minor = int(scaled)
    except (InvalidOperation, OverflowError, ValueError):
        raise malformed(f"{str(value)[:30]!r} is not an amount", where) from None
    if scaled != minor:
        raise malformed(f"{currency} has {exp} decimals; {_cell_text(value)!r} has more", where)
    return minor


def _date(value: Any, mapping: ColumnMapping, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return datetime.strptime(text, mapping.date_format).date()
    except ValueError:
        raise malformed(f"{text[:30]!r} is not a date as {mapping.date_format}", where) from None


def parse_tabular(
    content: bytes,
    *,
    kind: StatementKind,
    mapping: ColumnMapping,
    currency: str,
    account: AccountRef,
) -> list[ParsedStatement]:
    rows = (
        _rows_xlsx(content, mapping) if kind is StatementKind.XLSX else _rows_csv(content, mapping)
    )
    if len(rows) < mapping.header_row:
        raise malformed(f"the export has no header row {mapping.header_row}")
    header = rows[mapping.header_row - 1]
    columns = {name: _index(header, getattr(mapping, name), name) for name in _COLUMN_FIELDS}
    skip = re.compile(mapping.skip_rows_matching) if mapping.skip_rows_matching else None
    statement = ParsedStatement(
        kind=kind, account=account, currency=currency, where=f"row {mapping.header_row}"
    )
    previous_balance: int | None = None
    for number, row in enumerate(rows[mapping.header_row :], start=mapping.header_row + 1):
        cells = [_cell_text(v) for v in row]
        if not any(cells):
            continue
        if skip is not None and skip.search(" ".join(cells)):
            continue

        def cell(name: str, row: list[Any] = row) -> Any:
            index = columns[name]
            if index is None or index >= len(row):
                return None
            return row[index]

        def text(name: str) -> str | None:
            value = _cell_text(cell(name))
            return value or None

        where = f"row {number}"
        booking = _date(cell("date"), mapping, f"{where}, column {mapping.date}")
        if booking is None:
            raise malformed("a row without a date", where)
        if columns["amount"] is not None:
            amount = _amount(cell("amount"), mapping, currency, f"{where}, column {mapping.amount}")
        else:
            debit = _amount(cell("debit"), mapping, currency, f"{where}, column {mapping.debit}")
            credit = _amount(cell("credit"), mapping, currency, f"{where}, column {mapping.credit}")
            if debit and credit:
                raise malformed("a row with both a debit and a credit", where)
            amount = abs(credit) if credit else (-abs(debit) if debit else None)
        if amount is None or amount == 0:
            raise malformed("a row without an amount", where)
        if columns["direction"] is not None:
            marker = _fold(text("direction") or "")
            if marker in mapping.credit_values:
                amount = abs(amount)
            elif marker in mapping.debit_values:
                amount = -abs(amount)
            else:
                raise malformed(f"{marker!r} is neither a credit nor a debit mark", where)
        if columns["balance"] is not None:
            balance = _amount(
                cell("balance"), mapping, currency, f"{where}, column {mapping.balance}"
            )
            if balance is None:
                raise malformed("a row without its balance", where)
            if previous_balance is None:
                statement.opening = Balance(balance - amount, "OPBD", booking)
            elif previous_balance + amount != balance:
                statement.problems.append(
                    _problem_running(number, previous_balance, amount, balance, currency)
                )
            previous_balance = balance
            statement.closing = Balance(balance, "CLBD", booking)
        reference = text("reference")
        description = text("description")
        remittance = "\n".join(t for t in (reference, description) if t) or None
        line = ParsedLine(
            booking_date=booking,
            value_date=_date(cell("value_date"), mapping, f"{where}, column {mapping.value_date}")
            or booking,
            amount=amount,
            currency=currency,
            where=where,
            bank_reference=(text("bank_reference") or None),
            customer_reference=(reference[:100] if reference else None),
            remittance_info=remittance,
            counterparty_name=(text("counterparty") or "")[:140] or None,
            counterparty_account=(text("counterparty_account") or "")[:64] or None,
            counterparty_id_raw=(text("national_id") or "")[:64] or None,
        )
        statement.lines.append(line)
        statement.entries_sum += amount
    if not statement.lines:
        raise malformed("the export has no movements")
    statement.from_date = min(line.booking_date for line in statement.lines)
    statement.to_date = max(line.booking_date for line in statement.lines)
    return [statement]


def _problem_running(number: int, before: int, amount: int, balance: int, currency: str) -> Any:
    from domain.collections.formats.base import Problem
    from domain.shared.money import Money

    return Problem(
        "RUNNING_BALANCE",
        f"the balance {Money(balance, currency)} is not the previous "
        f"{Money(before, currency)} plus {Money(amount, currency)}",
        f"row {number}",
    )


def refuse_without_mapping() -> StatementRefused:
    return StatementRefused(
        RefusalCode.NO_COLUMN_MAPPING,
        "CSV and XLSX statements need the account's column mapping: register it first",
    )

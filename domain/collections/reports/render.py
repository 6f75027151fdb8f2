"""A report's figures as files: CSV for machines and spreadsheets, XLSX for people.

Both are pure functions of the stored figures (``data``), so a rerun that computes the same
figures writes the same bytes: no clock, no random ids (the XLSX's creation date is the
instant its facts were known at; XlsxWriter then writes a reproducible archive).

- **CSV** (RFC 4180, UTF-8 with a byte-order mark so spreadsheets read the accents, CRLF):
  one block per table — a header line whose first cell is ``table``, then one line per
  row whose first cell is the table's name — and a ``summary`` block first. Amounts are
  exact decimal strings in the row's currency, rates decimal fractions.
- **XLSX** (XlsxWriter): a *Resumen* sheet (lender, period, when the facts were known,
  the summary figures), then one sheet per table with number formats per currency and
  percentages, and a native chart where a person would look rather than read (aging by
  bucket, roll rates, portfolio movement, promises, recovery).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import xlsxwriter

from domain.shared.money import CURRENCY_EXPONENTS

__all__ = ["SHEETS", "to_csv", "to_xlsx"]

KIND_TITLES = {
    "AGING": "Antigüedad de la cartera y roll rates",
    "PORTFOLIO": "Cartera: desembolsos, cobranza, castigos y saldo",
    "COLLECTIONS": "Desempeño de la cobranza",
    "RECONCILIATION": "Conciliación bancaria",
}

#: Sheet names (Excel allows 31 characters).
SHEETS = {
    "aging": "Tramos de mora",
    "rolls": "Matriz de tramos",
    "rollRates": "Roll rates",
    "movements": "Movimiento cartera",
    "collected": "Cobranza por componente",
    "promises": "Promesas",
    "promisesByCollector": "Promesas por ejecutivo",
    "contacts": "Gestiones",
    "recoveryByBucket": "Recuperación por tramo",
    "recoveryByCollector": "Recuperación por ejecutivo",
    "steps": "Estrategia",
    "lines": "Líneas por estado",
    "rules": "Conciliado por regla",
    "unmatched": "Sin conciliar por antigüedad",
    "accounts": "Aplicado por cuenta",
}


#: What a spreadsheet takes for the start of a formula when a CSV cell begins with it.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: Any) -> str:
    """A text cell as a spreadsheet will show it, never run it: names and labels come from
    people (a collector's display name, an account's label), and a cell such as
    ``=HYPERLINK(…)`` would be a formula once the CSV is opened (OWASP's "CSV injection"),
    so it is written with a leading apostrophe."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "money":
        return str(value["amount"])
    if kind == "text":
        return _text(value)
    return str(value)


def to_csv(data: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["table", "key", "label", "currency", "value"])
    for figure in data["summary"]:
        value = figure["value"]
        if figure["type"] == "money" and value is not None:
            value = value["amount"]
        writer.writerow(
            [
                "summary",
                figure["key"],
                _text(figure["label"]),
                figure.get("currency") or "",
                "" if value is None else value,
            ]
        )
    for table in data["tables"]:
        writer.writerow([])
        writer.writerow(["table", *[c["key"] for c in table["columns"]]])
        kinds = [c["type"] for c in table["columns"]]
        for row in table["rows"]:
            writer.writerow(
                [table["name"], *[_cell(v, k) for v, k in zip(row, kinds, strict=True)]]
            )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _number(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "money":
        return float(Decimal(value["amount"]))
    if kind == "rate":
        return float(Decimal(value))
    return value


class _Formats:
    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.book = book
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.header = book.add_format(
            {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"}
        )
        self.rate = book.add_format({"num_format": "0.00%"})
        self.int = book.add_format({"num_format": "#,##0"})
        self.note = book.add_format({"italic": True, "font_color": "#595959"})
        self._money: dict[str, Any] = {}

    def money(self, currency: str | None) -> Any:
        digits = CURRENCY_EXPONENTS.get(currency or "", 2)
        fmt = "#,##0" + ("." + "0" * digits if digits else "")
        if fmt not in self._money:
            self._money[fmt] = self.book.add_format({"num_format": fmt})
        return self._money[fmt]


def _runs(
    rows: list[list[Any]], keys: list[str], category: str, per_currency: bool
) -> list[tuple[str | None, int, int]]:
    """Consecutive rows to chart: (currency, first, last) indexes, totals left out."""
    at_currency = keys.index("currency") if "currency" in keys else None
    at_category = keys.index(category)
    runs: list[tuple[str | None, int, int]] = []
    for index, row in enumerate(rows):
        if row[at_category] in ("TOTAL", "Total"):
            continue
        currency = row[at_currency] if (per_currency and at_currency is not None) else None
        if runs and runs[-1][0] == currency and runs[-1][2] == index - 1:
            runs[-1] = (currency, runs[-1][1], index)
        else:
            runs.append((currency, index, index))
    return runs


def to_xlsx(data: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    known = datetime.fromisoformat(data["knownAt"].replace("Z", "+00:00")).replace(tzinfo=None)
    lender = data["lender"]
    title = KIND_TITLES.get(data["kind"], data["kind"])
    book.set_properties(
        {
            "title": f"{title} — {lender['name']} — {data['period']['label']}",
            "subject": data["kind"],
            "author": "Trama",
            "company": lender["name"],
            "created": known,
            "comments": f"Cifras según los hechos conocidos al {data['knownAt']}",
        }
    )
    formats = _Formats(book)
    summary = book.add_worksheet("Resumen")
    summary.write(0, 0, title, formats.title)
    facts = [
        ("Entidad", lender["name"]),
        ("Código", lender["code"]),
        ("Período", f"{data['period']['start']} a {data['period']['end']}"),
        ("Zona horaria", data["timezone"]),
        ("Hechos conocidos al (UTC)", data["knownAt"]),
        ("Revisión", str(data.get("revision", 1))),
    ]
    for row, (label, value) in enumerate(facts, start=2):
        summary.write(row, 0, label, formats.header)
        summary.write_string(row, 1, value)
    start = len(facts) + 3
    for col_index, label in enumerate(["Indicador", "Moneda", "Valor"]):
        summary.write(start, col_index, label, formats.header)
    for offset, figure in enumerate(data["summary"], start=1):
        row = start + offset
        summary.write_string(row, 0, figure["label"])
        summary.write_string(row, 1, figure.get("currency") or "")
        value = _number(figure["value"], figure["type"])
        if value is None:
            summary.write_blank(row, 2, None)
        elif figure["type"] == "money":
            summary.write_number(row, 2, value, formats.money(figure.get("currency")))
        elif figure["type"] == "rate":
            summary.write_number(row, 2, value, formats.rate)
        elif isinstance(value, str):
            summary.write_string(row, 2, value)
        else:
            summary.write(row, 2, value, formats.int if figure["type"] == "int" else None)
    summary.set_column(0, 0, 48)
    summary.set_column(1, 1, 12)
    summary.set_column(2, 2, 22)

    for table in data["tables"]:
        sheet_name = SHEETS.get(table["name"], table["name"])[:31]
        sheet = book.add_worksheet(sheet_name)
        sheet.write(0, 0, table["title"], formats.title)
        header_row = 2
        if table.get("note"):
            sheet.write(1, 0, table["note"], formats.note)
        columns = table["columns"]
        keys = [c["key"] for c in columns]
        for index, column in enumerate(columns):
            sheet.write(header_row, index, column["label"], formats.header)
            sheet.set_column(index, index, max(12, min(40, len(column["label"]) + 4)))
        currency_at = keys.index("currency") if "currency" in keys else None
        for offset, row in enumerate(table["rows"], start=1):
            r = header_row + offset
            currency = row[currency_at] if currency_at is not None else None
            for index, (value, column) in enumerate(zip(row, columns, strict=True)):
                kind = column["type"]
                number = _number(value, kind)
                if number is None:
                    sheet.write_blank(r, index, None)
                elif kind == "money":
                    sheet.write_number(
                        r, index, number, formats.money(value.get("currency") or currency)
                    )
                elif kind == "rate":
                    sheet.write_number(r, index, number, formats.rate)
                elif kind == "int":
                    sheet.write_number(r, index, number, formats.int)
                else:
                    sheet.write_string(r, index, str(value))
        sheet.freeze_panes(header_row + 1, 0)
        chart_spec = table.get("chart")
        if not chart_spec or not table["rows"]:
            continue
        runs = _runs(table["rows"], keys, chart_spec["category"], chart_spec["perCurrency"])
        for at, (currency, first, last) in enumerate(runs):
            chart = book.add_chart({"type": chart_spec["kind"]})
            label = chart_spec["title"] + (f" ({currency})" if currency else "")
            chart.set_title({"name": label})
            category_col = keys.index(chart_spec["category"])
            for value_key in chart_spec["values"]:
                value_col = keys.index(value_key)
                chart.add_series(
                    {
                        "name": [sheet_name, header_row, value_col],
                        "categories": [
                            sheet_name,
                            header_row + 1 + first,
                            category_col,
                            header_row + 1 + last,
                            category_col,
                        ],
                        "values": [
                            sheet_name,
                            header_row + 1 + first,
                            value_col,
                            header_row + 1 + last,
                            value_col,
                        ],
                    }
                )
            if chart_spec["kind"] != "pie":
                chart.set_legend({"position": "bottom"})
            sheet.insert_chart(
                header_row + len(table["rows"]) + 3 + at * 18,
                1,
                chart,
                {"x_scale": 1.3, "y_scale": 1.1},
            )
    book.close()
    return buffer.getvalue()

"""The shape of a report's figures: named tables of typed columns, and summary figures.

Everything is plain JSON (stored with the report, rendered to CSV and XLSX, served by
GraphQL) and exact: money is ``{"amount": "1234.50", "currency": "CLP"}`` (the major-unit
decimal as a string), rates are decimal strings with four decimals, counts integers,
dates ``YYYY-MM-DD``. Keys are English camelCase; titles and labels are Spanish, for the
people who read them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson

from domain.shared import event_schemas as wire

__all__ = ["Chart", "Column", "Table", "canonical", "money", "rate"]

COLUMN_TYPES = ("text", "int", "money", "rate", "date")


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    type: str = "text"

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"unknown column type {self.type!r}")


@dataclass(frozen=True, slots=True)
class Chart:
    """Where a person would look rather than read: a native chart of the table in the
    XLSX file (``kind``: column, bar, pie, line), its categories from one column and one
    series per value column."""

    kind: str
    title: str
    category: str
    values: tuple[str, ...]
    #: Draw one chart per currency (rows filtered by the ``currency`` column).
    per_currency: bool = False


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    chart: Chart | None = None
    note: str | None = None

    def add(self, *values: Any) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"{self.name}: {len(values)} values for {len(self.columns)} columns")
        self.rows.append(list(values))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "columns": [{"key": c.key, "label": c.label, "type": c.type} for c in self.columns],
            "rows": self.rows,
        }
        if self.note:
            data["note"] = self.note
        if self.chart is not None:
            data["chart"] = {
                "kind": self.chart.kind,
                "title": self.chart.title,
                "category": self.chart.category,
                "values": list(self.chart.values),
                "perCurrency": self.chart.per_currency,
            }
        return data


def money(minor: int, currency: str) -> dict[str, str]:
    return wire.money(int(minor), currency)


_FOUR = Decimal("0.0001")


def rate(part: int, whole: int) -> str | None:
    """``part / whole`` with four decimals (half even); None when ``whole`` is 0."""
    if whole == 0:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(_FOUR, rounding=ROUND_HALF_EVEN))


def canonical(data: dict[str, Any]) -> bytes:
    """The figures as canonical JSON (sorted keys): what their hash is taken of."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

"""UF (Unidad de Fomento) daily values in Chilean pesos.

Values are loaded from CSV text (a CLI command and an admin mutation call
:func:`load_uf_csv`) and looked up by date. A date with no value is a clear
``ValidationFailed``, never an interpolation or the nearest value.

CSV: one ``date,value`` per line, an optional header line, ``,`` or ``;`` or a tab as the
separator. Dates are ISO (``2026-11-21``) or Chilean (``21-11-2026``, ``21/11/2026``).
Values are CLP with at most two decimals, written plainly (``39643.59``) or the Chilean way
(``39.643,59``). Every line is checked before anything is written: one bad line refuses the
whole file, each problem naming its line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits.models import UFValue
from domain.credits.schedules import round_fraction
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import FieldProblem, Forbidden, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.money import CURRENCY_EXPONENTS, Money
from domain.shared.principal import Principal
from domain.shared.time import utcnow

__all__ = [
    "LoadResult",
    "clp_to_uf",
    "get_uf_value",
    "get_uf_values",
    "load_uf_csv",
    "parse_uf_csv",
]

MAX_CSV_BYTES = 2_000_000
MAX_PROBLEMS = 20
_PLAIN = re.compile(r"^[0-9]+(?:\.[0-9]{1,2})?$", re.ASCII)
_CHILEAN = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{3})*(?:,[0-9]{1,2})?$", re.ASCII)
_ISO = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$", re.ASCII)
_DMY = re.compile(r"^([0-9]{2})[-/]([0-9]{2})[-/]([0-9]{4})$", re.ASCII)


def parse_value(text: str) -> Decimal | None:
    """CLP per UF from ``39643.59`` or ``39.643,59``; None when it is neither."""
    text = text.strip()
    if _PLAIN.match(text):
        return Decimal(text)
    if _CHILEAN.match(text):
        return Decimal(text.replace(".", "").replace(",", "."))
    return None


def parse_day(text: str) -> date | None:
    text = text.strip()
    try:
        if m := _ISO.match(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DMY.match(text):
            return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None
    return None


def parse_uf_csv(text: str, *, field: str = "csv") -> dict[date, Decimal]:
    """Every ``date → value`` in ``text``; ``ValidationFailed`` naming each bad line."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed.on(field, "the file is empty")
    if len(text.encode("utf-8")) > MAX_CSV_BYTES:
        raise ValidationFailed.on(field, f"the file is larger than {MAX_CSV_BYTES} bytes")
    text = text.lstrip("\ufeff")
    first = text.splitlines()[0]
    delimiter = ";" if ";" in first else ("\t" if "\t" in first else ",")
    problems: list[FieldProblem] = []
    values: dict[date, Decimal] = {}
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    for line_no, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) != 2:
            problems.append(FieldProblem(field, f"line {line_no}: expected date{delimiter}value"))
            continue
        day, value = parse_day(cells[0]), parse_value(cells[1])
        if day is None and value is None and line_no == 1:
            continue  # a header
        if day is None:
            problems.append(FieldProblem(field, f"line {line_no}: {cells[0]!r} is not a date"))
        elif value is None:
            problems.append(
                FieldProblem(
                    field, f"line {line_no}: {cells[1]!r} is not an amount of pesos (2 decimals)"
                )
            )
        elif value <= 0:
            problems.append(FieldProblem(field, f"line {line_no}: the value must be positive"))
        elif day in values and values[day] != value:
            problems.append(
                FieldProblem(field, f"line {line_no}: {day} appears twice with different values")
            )
        else:
            values[day] = value
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise ValidationFailed(problems)
    if not values:
        raise ValidationFailed.on(field, "the file has no values")
    return values


@dataclass(frozen=True)
class LoadResult:
    inserted: int
    updated: int
    unchanged: int
    first_day: date
    last_day: date


def ensure_can_load(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("only administrators can load UF values")


async def load_uf_csv(
    session: AsyncSession, *, principal: Principal, csv_text: str, batch_size: int = 1000
) -> LoadResult:
    """Insert new days and correct changed ones, set-wise; one audit record for the load.

    Payments already booked keep the value they were converted at.
    """
    ensure_can_load(principal)
    values = parse_uf_csv(csv_text)
    table = UFValue.__table__  # type: ignore[attr-defined]
    days = sorted(values)
    existing: dict[date, Decimal] = {}
    for start in range(0, len(days), batch_size):
        chunk = days[start : start + batch_size]
        rows = await session.execute(
            sa.select(table.c.day, table.c.value).where(table.c.day.in_(chunk))
        )
        existing.update({r.day: r.value for r in rows})
    now = utcnow()
    inserts = [
        {"id": uuid7(), "day": d, "value": values[d], "updated_at": now}
        for d in days
        if d not in existing
    ]
    updates = [d for d in days if d in existing and existing[d] != values[d]]
    for start in range(0, len(inserts), batch_size):
        await session.execute(sa.insert(table), inserts[start : start + batch_size])
    for d in updates:
        await session.execute(
            sa.update(table).where(table.c.day == d).values(value=values[d], updated_at=now)
        )
    result = LoadResult(
        inserted=len(inserts),
        updated=len(updates),
        unchanged=len(days) - len(inserts) - len(updates),
        first_day=days[0],
        last_day=days[-1],
    )
    audit.record(
        session,
        principal=principal,
        action="credits.uf_values_loaded",
        entity_type="UFValue",
        entity_id=f"{days[0]}..{days[-1]}",
        before={str(d): existing[d] for d in updates} or None,
        after={
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "first_day": result.first_day,
            "last_day": result.last_day,
        },
    )
    outbox.add(
        session,
        "credits.uf_values_loaded",
        {
            "inserted": result.inserted,
            "updated": result.updated,
            "firstDay": wire.day(result.first_day),
            "lastDay": wire.day(result.last_day),
        },
        key=f"uf:{result.first_day.isoformat()}",
    )
    return result


async def get_uf_value(session: AsyncSession, day: date, *, field: str = "paidAt") -> Decimal:
    """The UF value of ``day``; ``ValidationFailed`` on ``field`` when there is none."""
    if isinstance(day, datetime) or not isinstance(day, date):
        raise ValidationFailed.on(field, "must be a calendar date")
    value = (
        await session.execute(sa.select(col(UFValue.value)).where(col(UFValue.day) == day))
    ).scalar()
    if value is None:
        raise ValidationFailed.on(
            field, f"there is no UF value for {day.isoformat()}; load the UF values for that day"
        )
    return value


async def get_uf_values(session: AsyncSession, days: Iterable[date]) -> dict[date, Decimal]:
    """The UF values of those of ``days`` that have one (no error for missing days)."""
    wanted = sorted(set(days))
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(col(UFValue.day), col(UFValue.value)).where(col(UFValue.day).in_(wanted))
    )
    return {day: value for day, value in rows}


def clp_to_uf(amount: Money, uf_value: Decimal) -> Money:
    """Pesos to UF at ``uf_value`` CLP per UF, rounded half up to the UF's 4 decimals."""
    if amount.currency != "CLP":
        raise ValueError("only pesos convert to UF")
    if uf_value <= 0:
        raise ValueError("a UF value is positive")
    scale = 10 ** CURRENCY_EXPONENTS["CLF"]
    exact = Fraction(amount.amount) * scale / Fraction(uf_value)
    return Money(round_fraction(exact, ROUND_HALF_UP), "CLF")

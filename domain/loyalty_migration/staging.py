"""Temporary tables the validation loads the export into (one set per connection).

The cross-file checks (duplicates, orphans, balances against movements) are joins and
groupings over millions of rows: the database does them in bounded memory, spilling to disk
as it needs, and a temporary table writes nothing anyone else sees — it lives and dies with
the connection. PostgreSQL loads them with binary ``COPY``; SQLite with ``executemany``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty_migration.mapping import FIELDS, FieldType, Kind
from domain.shared.sql import dialect_of

TEMP = sa.MetaData()

_TYPES: dict[FieldType, Any] = {
    FieldType.TEXT: sa.Text,
    FieldType.CODE: sa.Text,
    FieldType.DATE: sa.Date,
    FieldType.TIME: sa.Text,
    FieldType.INT: sa.BigInteger,
    FieldType.MONEY: sa.BigInteger,
    FieldType.DECIMAL: sa.Text,
}
#: Columns the validation adds to what the files hold.
EXTRA: dict[Kind, tuple[sa.Column[Any], ...]] = {
    Kind.MEMBERS: (sa.Column("person_key", sa.Text),),
}


def _table(kind: Kind) -> sa.Table:
    columns: list[sa.Column[Any]] = [sa.Column("line", sa.Integer, nullable=False)]
    columns += [sa.Column(f.name, _TYPES[f.type]()) for f in FIELDS[kind]]
    columns += [sa.Column(c.name, c.type) for c in EXTRA.get(kind, ())]
    return sa.Table(f"lm_{kind.value}", TEMP, *columns, prefixes=["TEMPORARY"])


TABLES: dict[Kind, sa.Table] = {kind: _table(kind) for kind in Kind}
#: Every number a member may be a Trama customer by (see identity.py).
PERSON_IDS = sa.Table(
    "lm_person_ids",
    TEMP,
    sa.Column("member_no", sa.Text, nullable=False),
    sa.Column("id_type", sa.Text, nullable=False),
    sa.Column("number", sa.Text, nullable=False),
    prefixes=["TEMPORARY"],
)
#: Which batch each member goes in (the import's plan).
BATCHES = sa.Table(
    "lm_batches",
    TEMP,
    sa.Column("member_no", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
#: Made after loading (one sort instead of one insert each).
_INDEXES = (
    "CREATE INDEX lm_members_no ON lm_members (member_no)",
    "CREATE INDEX lm_members_person ON lm_members (person_key)",
    "CREATE INDEX lm_accounts_no ON lm_accounts (account_no)",
    "CREATE INDEX lm_accounts_member ON lm_accounts (member_no)",
    "CREATE INDEX lm_movements_member ON lm_movements (member_no, occurred_on, occurred_time)",
    "CREATE INDEX lm_movements_id ON lm_movements (movement_id)",
    "CREATE INDEX lm_balances_member ON lm_balances (member_no)",
    "CREATE INDEX lm_person_ids_number ON lm_person_ids (number, id_type)",
    "CREATE INDEX lm_person_ids_member ON lm_person_ids (member_no)",
)


def column_names(kind: Kind) -> list[str]:
    return [c.name for c in TABLES[kind].columns]


async def create(session: AsyncSession) -> None:
    """(Re)create the empty temporary tables on the session's connection."""
    await drop(session)
    connection = await session.connection()
    tables = [*TABLES.values(), PERSON_IDS]
    await connection.run_sync(lambda sync: TEMP.create_all(sync, tables=tables, checkfirst=False))


async def create_plan(session: AsyncSession) -> None:
    connection = await session.connection()
    await connection.exec_driver_sql("DROP TABLE IF EXISTS lm_batches")
    await connection.run_sync(
        lambda sync: TEMP.create_all(sync, tables=[BATCHES], checkfirst=False)
    )


async def index_plan(session: AsyncSession) -> None:
    connection = await session.connection()
    await connection.exec_driver_sql("CREATE INDEX lm_batches_seq ON lm_batches (seq)")
    await connection.exec_driver_sql("CREATE INDEX lm_batches_member ON lm_batches (member_no)")
    if dialect_of(session) == "postgresql":
        await connection.exec_driver_sql("ANALYZE lm_batches")


async def drop(session: AsyncSession) -> None:
    connection = await session.connection()
    for table in [*TABLES.values(), PERSON_IDS, BATCHES]:
        await connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")


async def index(session: AsyncSession) -> None:
    """Index the loaded tables (after loading: one sort instead of one insert each)."""
    connection = await session.connection()
    for ddl in _INDEXES:
        await connection.exec_driver_sql(ddl)
    if dialect_of(session) == "postgresql":
        for table in [*TABLES.values(), PERSON_IDS]:
            await connection.exec_driver_sql(f"ANALYZE {table.name}")


class Loader:
    """Buffers rows of one temporary table and writes them ``size`` at a time."""

    def __init__(self, session: AsyncSession, table: sa.Table, *, size: int = 20_000) -> None:
        self.session = session
        self.table = table
        self.columns = [c.name for c in table.columns]
        self.size = size
        self.rows: list[tuple[Any, ...]] = []
        self.written = 0
        self._postgres: bool | None = None
        self._date_at = [i for i, c in enumerate(table.columns) if isinstance(c.type, sa.Date)]

    async def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.size:
            await self.flush()

    async def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        await write_rows(self.session, self.table, self.columns, rows, self._date_at)
        self.written += len(rows)


async def write_rows(
    session: AsyncSession,
    table: sa.Table,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    date_at: Sequence[int] = (),
) -> None:
    """Insert plain tuples: binary COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    connection = await session.connection()
    if dialect_of(session) == "postgresql":
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))
        return
    if date_at:
        rows = [_iso_dates(r, date_at) for r in rows]
    marks = ", ".join("?" for _ in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    await connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) VALUES ({marks})",  # noqa: S608 - our names
        rows,
    )


def _iso_dates(row: tuple[Any, ...], at: Sequence[int]) -> tuple[Any, ...]:
    out = list(row)
    for i in at:
        value = out[i]
        if isinstance(value, date):
            out[i] = value.isoformat()
    return tuple(out)

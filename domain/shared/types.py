"""Portable column types: the same model runs on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from domain.shared.time import ensure_utc


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An instant. Naive datetimes are refused; values come back as aware UTC datetimes.

    PostgreSQL stores ``timestamptz``; SQLite stores the UTC wall time as ISO text, which
    also sorts correctly because every value is in the same zone.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        aware = ensure_utc(value)
        if dialect.name == "sqlite":
            return aware.replace(tzinfo=None)
        return aware

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


UUIDType = sa.Uuid(as_uuid=True)

JSONType: sa.types.TypeEngine[Any] = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class ExactDecimal(sa.TypeDecorator[Decimal]):
    """An exact decimal (rates, UF values): ``NUMERIC`` on PostgreSQL, text on SQLite.

    PostgreSQL keeps the value with the scale it was given (an unconstrained ``numeric``).
    SQLite has no exact decimal type, so the value is stored as its plain decimal text
    (``"0.185"``, never an exponent) and read back as ``Decimal``; compare such columns in
    Python, not in SQL. Floats are refused: they have already lost the exact value.
    """

    impl = sa.Numeric(asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(60))
        return dialect.type_descriptor(sa.Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError(f"ExactDecimal takes a Decimal, not {type(value).__name__}")
        value = Decimal(value)
        if not value.is_finite():
            raise ValueError("ExactDecimal takes a finite Decimal")
        if dialect.name == "sqlite":
            return format(value, "f")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))

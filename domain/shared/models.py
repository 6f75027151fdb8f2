"""The one metadata every table hangs from, with a naming convention for constraints."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLModel.metadata.naming_convention = NAMING_CONVENTION

metadata = SQLModel.metadata


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a SQLModel class (for set-based statements)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, sa.Table)
    return table


__all__ = ["NAMING_CONVENTION", "SQLModel", "metadata", "table_of"]

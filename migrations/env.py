"""Alembic environment: one tree for PostgreSQL and SQLite (batch mode on SQLite)."""

from __future__ import annotations

import asyncio
import logging.config
from collections.abc import Callable

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.settings import get_settings
from domain.shared.types import UTCDateTime
from domain.tables import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def _url() -> str:
    return config.attributes.get("url") or get_settings().effective_database_url


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render Trama's portable column types by name, so revisions stay readable."""
    if type_ == "type":
        if isinstance(obj, UTCDateTime):
            return "domain.shared.types.UTCDateTime()"
        if isinstance(obj, sa.JSON) and obj._variant_mapping:  # JSON with a JSONB variant
            return "domain.shared.types.JSONType"
    return False


def _include_object(dialect: str) -> Callable[..., bool]:
    """Leave out of the comparison the indexes the models declare for other databases
    only (``info={"dialects": ("postgresql",)}``, e.g. trigram indexes)."""

    def include(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        if type_ == "index" and not reflected:
            only = getattr(obj, "info", {}).get("dialects")
            if only and dialect not in only:
                return False
        return True

    return include


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    is_sqlite = (url or str(connection.engine.url if connection else "")).startswith("sqlite")
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
        compare_server_default=True,
        literal_binds=connection is None,
        render_item=_render_item,
        include_object=_include_object("sqlite" if is_sqlite else "postgresql"),
    )


def run_migrations_offline() -> None:
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
        return
    asyncio.run(run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

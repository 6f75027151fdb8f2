"""The event contract, checked: every event the suite produces matches its topic's schema.

:func:`check` validates one payload against its topic's JSON Schema from
``domain/event_catalog.py`` with a small strict validator (:class:`Validator`): it knows the
keywords Trama's schemas use (a subset of JSON Schema draft 07 plus ``x-trama-node`` and
``x-trama-money``) and refuses a schema that uses any other, so a schema can never pass by
using a keyword nobody checks.

:class:`OutboxAudit` reads the events a test's database holds (whoever wrote them: the test
process, a ``trama serve`` it started, a CLI run) and checks those the seeded template did not
already have. ``tests/conftest.py`` runs it when each test's database is dropped, and once on
the template, so every pytest-xdist worker checks the events of its own tests.

Topics of the domains ``tests`` and ``other`` are the suite's own synthetic events (relay
and fan-out tests) and are not checked.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from domain.event_catalog import COMPONENTS, TOPICS
from domain.shared.event_schemas import MONEY_KEYWORD, NODE_KEYWORD
from domain.shared.money import CURRENCY_EXPONENTS

#: The suite's synthetic topics (``tests.happened``, ``other.happened``): not in the contract.
SYNTHETIC_PREFIXES = ("tests.", "other.")

_ANNOTATIONS = frozenset({"description", "title", "examples", "$comment", "default"})
_KEYWORDS = frozenset(
    {
        "$ref",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "pattern",
        "format",
        "minimum",
        "oneOf",
        NODE_KEYWORD,
        MONEY_KEYWORD,
    }
)
_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
_REF = "#/components/schemas/"


class SchemaError(Exception):
    """The schema itself is wrong (an unknown keyword, a dangling $ref)."""


def _valid_format(name: str, value: str) -> bool:
    try:
        if name == "date-time":
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.tzinfo is not None and value.endswith("Z")
        if name == "date":
            date.fromisoformat(value)
            return len(value) == 10
        if name == "uuid":
            return str(uuid.UUID(value)) == value
    except ValueError:
        return False
    raise SchemaError(f"unknown format {name!r}")


def _decode_node(value: str) -> tuple[str, str] | None:
    try:
        text = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    name, sep, node = text.partition(":")
    return (name, node) if sep else None


@dataclass(frozen=True)
class Validator:
    """A strict validator for Trama's event schemas; ``errors`` lists every mismatch."""

    components: Mapping[str, Any]

    def errors(self, schema: Mapping[str, Any], value: Any, path: str = "payload") -> list[str]:
        return list(self._walk(schema, value, path))

    def check_schema(self, schema: Any, path: str = "schema") -> None:
        """Refuse keywords the validator does not enforce and $refs that point nowhere."""
        if not isinstance(schema, Mapping):
            raise SchemaError(f"{path}: a schema must be an object")
        for key, sub in schema.items():
            if key in _ANNOTATIONS:
                continue
            if key not in _KEYWORDS:
                raise SchemaError(f"{path}: unsupported keyword {key!r}")
            if key == "$ref":
                self._resolve(sub, path)
            elif key == "properties":
                for name, prop in sub.items():
                    self.check_schema(prop, f"{path}.{name}")
            elif key == "items":
                self.check_schema(sub, f"{path}[]")
            elif key == "oneOf":
                for index, option in enumerate(sub):
                    self.check_schema(option, f"{path}|{index}")
            elif key == "additionalProperties" and sub is not False:
                raise SchemaError(f"{path}: objects are closed (additionalProperties: false)")
            elif key == "type" and sub not in _TYPES:
                raise SchemaError(f"{path}: unknown type {sub!r}")
            elif key == "pattern":
                re.compile(sub)

    def _resolve(self, ref: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(ref, str) or not ref.startswith(_REF):
            raise SchemaError(f"{path}: $ref must be {_REF}<Name>, not {ref!r}")
        name = ref[len(_REF) :]
        if name not in self.components:
            raise SchemaError(f"{path}: $ref to a missing schema {name!r}")
        target: Mapping[str, Any] = self.components[name]
        return target

    def _walk(self, schema: Mapping[str, Any], value: Any, path: str) -> Iterator[str]:
        if "$ref" in schema:
            yield from self._walk(self._resolve(schema["$ref"], path), value, path)
            return
        if "oneOf" in schema:
            matches = [o for o in schema["oneOf"] if not list(self._walk(o, value, path))]
            if len(matches) != 1:
                yield f"{path}: {value!r} matches {len(matches)} of the allowed shapes, not one"
            return
        kind = schema.get("type")
        if kind is not None and not _TYPES[kind](value):
            yield f"{path}: expected {kind}, got {type(value).__name__} {value!r}"
            return
        if "const" in schema and value != schema["const"]:
            yield f"{path}: must be {schema['const']!r}, not {value!r}"
        if "enum" in schema and value not in schema["enum"]:
            yield f"{path}: {value!r} is not one of {schema['enum']}"
        if isinstance(value, str):
            pattern = schema.get("pattern")
            if pattern is not None and not re.search(pattern, value):
                yield f"{path}: {value!r} does not match {pattern}"
            if "format" in schema and not _valid_format(schema["format"], value):
                yield f"{path}: {value!r} is not a {schema['format']}"
            node_type = schema.get(NODE_KEYWORD)
            if node_type is not None:
                decoded = _decode_node(value)
                if decoded is None or decoded[0] != node_type:
                    yield f"{path}: {value!r} is not the global id of a {node_type}"
                elif not _valid_format("uuid", decoded[1]):
                    yield f"{path}: {value!r} does not name a UUID"
        if "minimum" in schema and isinstance(value, int) and value < schema["minimum"]:
            yield f"{path}: {value} is less than {schema['minimum']}"
        if isinstance(value, dict):
            properties: Mapping[str, Any] = schema.get("properties", {})
            for name in schema.get("required", ()):
                if name not in value:
                    yield f"{path}: {name!r} is missing"
            for name, item in value.items():
                if name in properties:
                    yield from self._walk(properties[name], item, f"{path}.{name}")
                elif schema.get("additionalProperties") is False:
                    yield f"{path}: {name!r} is not in the schema"
            if schema.get(MONEY_KEYWORD):
                yield from self._walk_money(value, path)
        if isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                yield from self._walk(schema["items"], item, f"{path}[{index}]")

    @staticmethod
    def _walk_money(value: Mapping[str, Any], path: str) -> Iterator[str]:
        amount, currency = value.get("amount"), value.get("currency")
        if not isinstance(amount, str) or currency not in CURRENCY_EXPONENTS:
            return  # reported by the properties' own checks
        if len(amount.partition(".")[2]) != CURRENCY_EXPONENTS[currency]:
            yield (
                f"{path}: {amount!r} {currency} must have exactly "
                f"{CURRENCY_EXPONENTS[currency]} decimals"
            )


VALIDATOR = Validator(COMPONENTS)


def check(topic: str, payload: Any, key: str | None = None) -> list[str]:
    """Every way an event of ``topic`` with ``payload`` breaks the contract."""
    if topic.startswith(SYNTHETIC_PREFIXES):
        return []
    spec = TOPICS.get(topic)
    if spec is None:
        return [f"{topic}: undocumented topic (describe it in its domain's events.py)"]
    problems = [f"{topic}: {e}" for e in VALIDATOR.errors(spec.payload, payload)]
    if key is not None and not isinstance(key, str):
        problems.append(f"{topic}: key {key!r} is not a string")
    return problems


# --- reading what a database holds -------------------------------------------------------------
_SELECT = "SELECT id, topic, key, payload FROM outbox_events"


def _rows_sqlite(url: str) -> list[tuple[str, str, str | None, Any]]:
    path = Path(make_url(url).database or "")
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [(str(uuid.UUID(r[0])), r[1], r[2], r[3]) for r in conn.execute(_SELECT)]
    except sqlite3.OperationalError as exc:  # a test that left no outbox table
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


async def _rows_postgres(url: str) -> list[tuple[str, str, str | None, Any]]:
    parsed = make_url(url).set(drivername="postgresql")
    try:
        conn = await asyncpg.connect(parsed.render_as_string(hide_password=False))
    except asyncpg.InvalidCatalogNameError:
        return []
    try:
        rows = await conn.fetch(_SELECT)
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()
    return [(str(r["id"]), r["topic"], r["key"], r["payload"]) for r in rows]


async def read_events(url: str) -> list[tuple[str, str, str | None, Any]]:
    """``(id, topic, key, payload)`` of every event in the database at ``url`` (the payload
    still as the driver returned it: JSON text)."""
    if make_url(url).get_backend_name() == "postgresql":
        return await _rows_postgres(url)
    return _rows_sqlite(url)


class OutboxAudit:
    """Checks the events of one database, leaving out those of the template it came from."""

    def __init__(self) -> None:
        self.known: set[str] = set()

    async def remember_template(self, url: str) -> list[str]:
        """Check the template's own events (the seed's) and remember them."""
        rows = await read_events(url)
        self.known = {row[0] for row in rows}
        return self._problems(rows)

    async def problems(self, url: str) -> list[str]:
        rows = [row for row in await read_events(url) if row[0] not in self.known]
        return self._problems(rows)

    @staticmethod
    def _problems(rows: list[tuple[str, str, str | None, Any]]) -> list[str]:
        out: list[str] = []
        for event_id, topic, key, raw in rows:
            payload = json.loads(raw) if isinstance(raw, str | bytes) else raw
            out.extend(f"event {event_id} {p}" for p in check(topic, payload, key))
        return out


def report(problems: list[str], limit: int = 20) -> str:
    shown = "\n  ".join(problems[:limit])
    more = f"\n  … and {len(problems) - limit} more" if len(problems) > limit else ""
    return (
        "events that break the contract of domain/event_catalog.py "
        f"(GET /asyncapi.json):\n  {shown}{more}"
    )

"""Event payloads in the API's conventions, and the JSON Schemas that document them.

What a service writes to the outbox is exactly what partners receive (the ``events``
subscription, replays of the log), so payloads are built in the API's conventions:

- keys in camelCase, as the GraphQL fields are named;
- ids as the API shows them: the Relay global id of a node (``Case``, ``Credit`` …), the plain
  UUID of the few objects the API shows that way (comments, connectors, reviews, refunds);
- money as ``{"amount": "1500000", "currency": "CLP"}``: the exact major-unit decimal with
  exactly the currency's decimals, as a string, like the GraphQL ``Money`` type;
- instants as ISO 8601 UTC with ``Z``; dates as ``YYYY-MM-DD``; rates and shares as decimal
  strings (``"0.25"``); enums by their API names;
- ids and figures only: never personal data (names, national ids, e-mails, notes).

Each topic's payload is described once, as data (a JSON Schema), in its domain's
``events.py``; ``domain/event_catalog.py`` gathers them and the AsyncAPI document is built
from there. Schemas follow the AsyncAPI schema dialect (JSON Schema draft 07) and refer to the
shared :data:`COMPONENTS` as ``#/components/schemas/<Name>``. Two extension keywords carry
what plain JSON Schema cannot check: ``x-trama-node`` (the global id decodes to that node
type and a UUID) and ``x-trama-money`` (the amount has exactly the currency's decimals).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.shared.ids import parse_uuid
from domain.shared.money import CURRENCY_EXPONENTS, Money
from domain.shared.time import isoformat

Schema = dict[str, Any]

NODE_KEYWORD = "x-trama-node"
MONEY_KEYWORD = "x-trama-money"

#: Node types whose global ids events carry (the GraphQL type names).
NODE_TYPES = (
    "BankStatement",
    "BulkResolution",
    "Case",
    "CaseAttachment",
    "CollectionAccount",
    "Credit",
    "CreditApplication",
    "CreditFunding",
    "Customer",
    "Investor",
    "LoyaltyAccount",
    "LoyaltyMigration",
    "LoyaltyProgram",
    "LoyaltyRedemption",
    "LoyaltyReward",
    "LoyaltyRuleSet",
    "Partner",
    "Payment",
    "SettlementRun",
    "SettlementStatement",
    "StatementLine",
    "Vehicle",
)


# --- values -----------------------------------------------------------------------------------
def global_id(type_name: str, key: uuid.UUID | str) -> str:
    """The Relay global id the API shows for node ``type_name`` with primary key ``key``
    (base64 of ``"<Type>:<uuid>"``, as strawberry's ``GlobalID`` writes it)."""
    if type_name not in NODE_TYPES:
        raise ValueError(f"{type_name!r} is not a node type events carry")
    value = key if isinstance(key, uuid.UUID) else uuid.UUID(str(key))
    return base64.b64encode(f"{type_name}:{value}".encode()).decode("ascii")


def maybe_global_id(type_name: str, key: uuid.UUID | str | None) -> str | None:
    return None if key is None else global_id(type_name, key)


def parse_global_id(value: object, type_name: str) -> uuid.UUID | None:
    """The UUID behind a global id of ``type_name``; None when it is not one."""
    if not isinstance(value, str) or not value or len(value) > 200:
        return None
    try:
        text = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    name, sep, node = text.partition(":")
    if not sep or name != type_name:
        return None
    parsed = parse_uuid(node)
    return parsed if parsed is not None and str(parsed) == node else None


def money(minor: int, currency: str) -> dict[str, str]:
    """``{"amount": "1234.50", "currency": "USD"}``: exact, with the currency's decimals."""
    return {"amount": format(Money(minor, currency).to_decimal(), "f"), "currency": currency}


def maybe_money(minor: int | None, currency: str | None) -> dict[str, str] | None:
    return None if minor is None or currency is None else money(minor, currency)


def instant(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z`` (six fractional digits)."""
    return isoformat(value)


def maybe_instant(value: datetime | None) -> str | None:
    return None if value is None else instant(value)


def day(value: date) -> str:
    if isinstance(value, datetime):
        raise TypeError("a calendar date was expected, not an instant")
    return value.isoformat()


def maybe_day(value: date | None) -> str | None:
    return None if value is None else day(value)


def decimal(value: Decimal | int) -> str:
    """A rate, share or factor as an exact decimal string (never exponent notation)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError("rates and shares are Decimals, never floats")
    return format(value, "f")


_WORD = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    """``days_past_due`` → ``daysPastDue``."""
    return _WORD.sub(lambda m: m.group(1).upper(), name)


def api_fields(names: Iterable[str], renames: Mapping[str, str]) -> list[str]:
    """Changed model attributes as the API's field names, sorted and without repeats."""
    return sorted({renames.get(name, camel(name)) for name in names})


# --- schemas ------------------------------------------------------------------------------------
def ref(name: str) -> Schema:
    if name not in COMPONENTS:
        raise KeyError(f"no shared schema {name!r}")
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


def string(description: str | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def integer(description: str | None = None, *, minimum: int | None = None) -> Schema:
    schema: Schema = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if description:
        schema["description"] = description
    return schema


def boolean(description: str | None = None) -> Schema:
    schema: Schema = {"type": "boolean"}
    if description:
        schema["description"] = description
    return schema


def enum(values: Iterable[str], description: str | None = None) -> Schema:
    schema: Schema = {"type": "string", "enum": sorted(set(values))}
    if description:
        schema["description"] = description
    return schema


def array(items: Schema, description: str | None = None) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if description:
        schema["description"] = description
    return schema


def obj(
    description: str,
    properties: Mapping[str, Schema],
    *,
    optional: Mapping[str, Schema] | None = None,
) -> Schema:
    """A closed object: every key of ``properties`` is required (null where allowed), the
    keys of ``optional`` may be absent, and no other key may appear."""
    everything = {**properties, **(optional or {})}
    for key in everything:
        if camel(key) != key or "_" in key:
            raise ValueError(f"payload key {key!r} is not camelCase")
    return {
        "type": "object",
        "description": description,
        "properties": dict(everything),
        "required": list(properties),
        "additionalProperties": False,
    }


def _node_id(type_name: str) -> Schema:
    return {
        "type": "string",
        "description": f"The global id of a `{type_name}`, as the API shows it.",
        "pattern": "^[A-Za-z0-9+/]+={0,2}$",
        NODE_KEYWORD: type_name,
    }


#: Shared schemas (``#/components/schemas/<Name>``).
COMPONENTS: dict[str, Schema] = {
    "Money": {
        "type": "object",
        "description": (
            "An amount of money, exactly, like the API's `Money`: `amount` is the major-unit "
            'decimal with exactly the currency\'s decimals ("1500000" CLP, "1234.50" USD, '
            '"25.1234" CLF), as a string.'
        ),
        "properties": {
            "amount": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
            "currency": {
                "type": "string",
                "enum": sorted(CURRENCY_EXPONENTS),
                "description": "ISO 4217 code (CLF is the Unidad de Fomento).",
            },
        },
        "required": ["amount", "currency"],
        "additionalProperties": False,
        MONEY_KEYWORD: True,
    },
    "DateTime": {
        "type": "string",
        "format": "date-time",
        "description": "An instant, ISO 8601 in UTC with `Z`.",
        "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$",
    },
    "Date": {
        "type": "string",
        "format": "date",
        "description": "A calendar date, `YYYY-MM-DD`.",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    },
    "Decimal": {
        "type": "string",
        "description": 'An exact decimal number as a string ("0.25" is 25 %).',
        "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
    },
    "Uuid": {
        "type": "string",
        "format": "uuid",
        "description": "A plain UUID: the id the API shows for objects that are not nodes.",
        "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    },
    **{f"{name}Id": _node_id(name) for name in NODE_TYPES},
}


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One topic: what it means, who receives it, its key and its payload's schema."""

    topic: str
    summary: str
    payload: Schema
    key: str
    audience: str

    def __post_init__(self) -> None:
        domain, dot, verb = self.topic.partition(".")
        if not dot or not domain or not verb:
            raise ValueError(f"bad topic {self.topic!r}")


def catalog(*groups: Sequence[EventSpec]) -> dict[str, EventSpec]:
    """Topic → spec; a topic described twice is a mistake."""
    out: dict[str, EventSpec] = {}
    for group in groups:
        for spec in group:
            if spec.topic in out:
                raise ValueError(f"topic {spec.topic!r} is described twice")
            out[spec.topic] = spec
    return dict(sorted(out.items()))

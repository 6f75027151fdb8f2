"""The rule-set format as a JSON Schema (draft 2020-12), for clients and editors.

:func:`domain.loyalty.rules.parse_rule_set` is what Trama enforces (it also checks what a
schema cannot: ids unique, ranges ordered, dates real, levels distinct); the suite checks
that both accept and refuse the same documents. Served by the API as
``loyaltyRuleSetSchema``.
"""

from __future__ import annotations

from typing import Any

from domain.loyalty.rules import FORMAT, MAX_ITEMS, MAX_POINTS, ROUNDINGS, STACKINGS
from domain.shared.money import CURRENCY_EXPONENTS

_CODE = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"}
_CODES = {"type": "array", "items": _CODE, "minItems": 1, "maxItems": MAX_ITEMS}
_DECIMAL = {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,8})?$"}
_POSITIVE = {**_DECIMAL, "not": {"pattern": r"^0+(\.0+)?$"}}
_POINTS = {"type": "integer", "minimum": 0, "maximum": MAX_POINTS}
_DAY = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
_MATCH = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "mcc": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_ITEMS,
            "items": {"type": "string", "pattern": "^[0-9]{4}(-[0-9]{4})?$"},
        },
        "merchantPartners": _CODES,
        "channels": _CODES,
        "cardProducts": _CODES,
        "tiers": _CODES,
        "segments": _CODES,
        "daysOfWeek": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "integer", "minimum": 1, "maximum": 7},
        },
    },
}

RULE_SET_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://trama.example/schemas/loyalty-rules-1.json",
    "title": "Trama loyalty rule set",
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "currency", "rounding", "earn"],
    "properties": {
        "format": {"const": FORMAT},
        "currency": {"enum": sorted(CURRENCY_EXPONENTS)},
        "rounding": {"enum": list(ROUNDINGS)},
        "stacking": {"enum": list(STACKINGS)},
        "earn": {
            "type": "object",
            "additionalProperties": False,
            "required": ["base"],
            "properties": {
                "base": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["points", "per"],
                    "properties": {"points": _DECIMAL, "per": _POSITIVE},
                },
                "minimumPurchase": _DECIMAL,
                "rules": {
                    "type": "array",
                    "maxItems": MAX_ITEMS,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["id", "match", "points", "per"],
                        "properties": {
                            "id": _CODE,
                            "match": _MATCH,
                            "points": _DECIMAL,
                            "per": _POSITIVE,
                        },
                    },
                },
            },
        },
        "multipliers": {
            "type": "array",
            "maxItems": MAX_ITEMS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "match", "factor"],
                "properties": {"id": _CODE, "match": _MATCH, "factor": _POSITIVE},
            },
        },
        "promotions": {
            "type": "array",
            "maxItems": MAX_ITEMS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "from", "until"],
                "properties": {
                    "id": _CODE,
                    "from": _DAY,
                    "until": _DAY,
                    "match": {**_MATCH, "minProperties": 0},
                    "factor": _POSITIVE,
                    "bonus": _POINTS,
                },
            },
        },
        "caps": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                key: {"oneOf": [_POINTS, {"type": "null"}]} for key in ("day", "month", "year")
            },
        },
        "events": {
            "type": "array",
            "maxItems": MAX_ITEMS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "type", "points"],
                "properties": {"id": _CODE, "type": _CODE, "points": _POINTS},
            },
        },
        "tiers": {
            "type": "object",
            "additionalProperties": False,
            "required": ["windowDays", "levels"],
            "properties": {
                "windowDays": {"type": "integer", "minimum": 1, "maximum": 3660},
                "levels": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_ITEMS,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["code", "name", "qualifyPoints"],
                        "properties": {
                            "code": _CODE,
                            "name": {"type": "string", "minLength": 1, "maxLength": 100},
                            "qualifyPoints": _POINTS,
                            "keepPoints": _POINTS,
                        },
                    },
                },
            },
        },
    },
}

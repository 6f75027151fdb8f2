"""Custom scalars, registered with the schema through ``SCALAR_MAP``."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NewType

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

#: A 64-bit integer (sequence numbers, minor-unit amounts). Sent as a string so that
#: JavaScript clients never lose precision; accepted as a string or an integer.
Long = NewType("Long", int)


def _parse_long(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("Long cannot be a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        raise ValueError("Long must be an integer or a string of digits")
    if not -(2**63) <= number < 2**63:
        raise ValueError("Long is out of the 64-bit range")
    return number


_PLAIN_DECIMAL = re.compile(r"^[+-]?[0-9]{1,40}(?:\.[0-9]{1,40})?$", re.ASCII)


def _parse_decimal(value: object) -> Decimal:
    """Exact: a string like "1234.50" or an integer. A JSON number with a fraction is
    refused because it has already been through a binary float."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str) and _PLAIN_DECIMAL.match(value.strip()):
        return Decimal(value.strip())
    # A GraphQLError, so a bad literal in the document is a client error, not a crash.
    raise StrawberryInputCoercionError(
        'Decimal must be a string of digits like "1234.50" or "0.18" (or an integer)'
    )


def _serialize_decimal(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation ("0E-20", "1E+3")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{type(value).__name__} is not a Decimal")


SCALAR_MAP: dict[object, ScalarDefinition] = {
    Decimal: strawberry.scalar(
        name="Decimal",
        description=(
            'An exact decimal number, sent as a string ("1234.50", "0.18") in both '
            "directions so that no digit is lost; integers are accepted as input."
        ),
        serialize=_serialize_decimal,
        parse_value=_parse_decimal,
    ),
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit integer, serialised as a string to keep every digit.",
        serialize=lambda v: str(int(v)),
        parse_value=_parse_long,
    ),
}

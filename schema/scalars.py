"""Custom scalars, registered with the schema through ``SCALAR_MAP``."""

from __future__ import annotations

from typing import NewType

import strawberry
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


SCALAR_MAP: dict[object, ScalarDefinition] = {
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit integer, serialised as a string to keep every digit.",
        serialize=lambda v: str(int(v)),
        parse_value=_parse_long,
    ),
}

"""Card numbers (PANs) never enter Trama: find one in free text and refuse the input.

A PAN is 13 to 19 digits that pass the Luhn check (ISO/IEC 7812). People write them in
groups (``4111 1111 1111 1111``, ``4111-1111-1111-1111``, ``4111.1111…``), sometimes
followed by more digits (an expiry, a CVV) in the same run, so the detector looks at every
span of whole digit groups in a run whose digit count is 13-19. A single unbroken block of
more than 19 digits (an Argentine CBU has 22) is some other identifier and is not split.
Text is NFKC-normalised first, so full-width digits count as digits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from domain.shared.errors import Problems

PAN_MIN_DIGITS = 13
PAN_MAX_DIGITS = 19

#: Digit groups joined by at most two separators (space, no-break space, dash, dot).
_RUN = re.compile(r"(?<![0-9])[0-9]+(?:[ \u00a0\-.]{1,2}[0-9]+)*(?![0-9])")
_GROUP = re.compile(r"[0-9]+")

MESSAGE = "must not contain a card number: give only its last four digits"


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of ASCII digits."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class PanMatch:
    start: int  # offsets in the NFKC-normalised text
    end: int
    last4: str


def _candidates(run: str, offset: int) -> Iterator[PanMatch]:
    groups = [(m.start() + offset, m.end() + offset, m.group()) for m in _GROUP.finditer(run)]
    for i in range(len(groups)):
        digits = ""
        for j in range(i, len(groups)):
            digits += groups[j][2]
            if len(digits) > PAN_MAX_DIGITS:
                break
            if len(digits) >= PAN_MIN_DIGITS and digits.strip("0") and luhn_valid(digits):
                yield PanMatch(groups[i][0], groups[j][1], digits[-4:])


def find_pans(text: str | None) -> list[PanMatch]:
    """Every span of ``text`` that reads as a card number."""
    if not text:
        return []
    normal = unicodedata.normalize("NFKC", text)
    found: list[PanMatch] = []
    for run in _RUN.finditer(normal):
        found.extend(_candidates(run.group(), run.start()))
    return found


def contains_pan(text: str | None) -> bool:
    return bool(find_pans(text))


def check(problems: Problems, field: str, text: str | None) -> None:
    """Add a problem on ``field`` when ``text`` holds a card number."""
    if contains_pan(text):
        problems.add(field, MESSAGE)

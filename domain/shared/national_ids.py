"""National identity and tax numbers of the network's countries, checked with python-stdnum.

A number is stored in its compact form (no dots, dashes or spaces; upper case) together
with its type; ``display`` gives the usual printed form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from stdnum import exceptions as stdnum_errors
from stdnum.ar import cuit as ar_cuit
from stdnum.ar import dni as ar_dni
from stdnum.cl import rut as cl_rut
from stdnum.co import nit as co_nit
from stdnum.mx import curp as mx_curp
from stdnum.mx import rfc as mx_rfc
from stdnum.pe import cui as pe_cui
from stdnum.pe import ruc as pe_ruc
from stdnum.util import clean, isdigits


class NationalIdType(StrEnum):
    CL_RUT = "CL_RUT"
    AR_CUIT = "AR_CUIT"
    AR_CUIL = "AR_CUIL"
    AR_DNI = "AR_DNI"
    MX_RFC = "MX_RFC"
    MX_CURP = "MX_CURP"
    CO_NIT = "CO_NIT"
    CO_CC = "CO_CC"
    PE_DNI = "PE_DNI"
    PE_RUC = "PE_RUC"

    @property
    def country(self) -> str:
        return self.value[:2]


class InvalidNationalId(ValueError):
    def __init__(self, id_type: NationalIdType | str, reason: str) -> None:
        name = id_type.value if isinstance(id_type, NationalIdType) else "national ID"
        super().__init__(f"not a valid {name}: {reason}")
        self.id_type = id_type
        self.reason = reason


@dataclass(frozen=True)
class NationalId:
    type: NationalIdType
    number: str  # compact, normalised

    @property
    def display(self) -> str:
        return display(self.type, self.number)


def _co_cc(number: str) -> str:
    # Cédula de ciudadanía: 3 to 10 digits, no check digit (Registraduría Nacional).
    number = clean(number, " .-").strip()
    if not isdigits(number):
        raise stdnum_errors.InvalidFormat()
    if not 3 <= len(number) <= 10 or number.startswith("0"):
        raise stdnum_errors.InvalidLength()
    return number


def _ar_cuil(number: str) -> str:
    # CUIL and CUIT share the algorithm; a CUIL belongs to a person (prefixes 20-27).
    number = ar_cuit.validate(number)
    if number[:2] not in {"20", "23", "24", "27"}:
        raise stdnum_errors.InvalidComponent()
    return number


def _pe_dni(number: str) -> str:
    # The DNI carries the CUI; the ninth (check) digit is optional on the card. It is
    # checked when given and then dropped, so one person has one compact form.
    return pe_cui.validate(number)[:8]


def _without_leading_zeros(validate: Callable[[str], str]) -> Callable[[str], str]:
    # "01.234.567" and "1.234.567" are the same document: store it one way only, and
    # the form without padding must be valid on its own.
    def check(number: str) -> str:
        return validate(validate(number).lstrip("0"))

    return check


_VALIDATORS: dict[NationalIdType, Callable[[str], str]] = {
    NationalIdType.CL_RUT: _without_leading_zeros(cl_rut.validate),
    NationalIdType.AR_CUIT: ar_cuit.validate,
    NationalIdType.AR_CUIL: _ar_cuil,
    NationalIdType.AR_DNI: _without_leading_zeros(ar_dni.validate),
    NationalIdType.MX_RFC: lambda n: mx_rfc.validate(n, validate_check_digits=True),
    NationalIdType.MX_CURP: mx_curp.validate,
    NationalIdType.CO_NIT: co_nit.validate,
    NationalIdType.CO_CC: _co_cc,
    NationalIdType.PE_DNI: _pe_dni,
    NationalIdType.PE_RUC: pe_ruc.validate,
}

_FORMATTERS: dict[NationalIdType, Callable[[str], str]] = {
    NationalIdType.CL_RUT: cl_rut.format,
    NationalIdType.AR_CUIT: ar_cuit.format,
    NationalIdType.AR_CUIL: ar_cuit.format,
    NationalIdType.AR_DNI: ar_dni.format,
    NationalIdType.CO_NIT: co_nit.format,
}

_REASONS: dict[type[Exception], str] = {
    stdnum_errors.InvalidChecksum: "the check digit does not match",
    stdnum_errors.InvalidLength: "it has the wrong length",
    stdnum_errors.InvalidFormat: "it has characters that do not belong in it",
    stdnum_errors.InvalidComponent: "a part of it is not valid",
}

_MAX_INPUT = 40
_SAFE = re.compile(r"^[0-9A-Za-zÑñ& .\-/]+$")


def parse(id_type: NationalIdType | str, number: str) -> NationalId:
    """Validate and normalise. Raises :class:`InvalidNationalId` with a readable reason."""
    try:
        kind = NationalIdType(id_type)
    except ValueError:
        raise InvalidNationalId(str(id_type), f"unknown type {str(id_type)[:20]!r}") from None
    raw = (number or "").strip()
    if not raw:
        raise InvalidNationalId(kind, "it is empty")
    if len(raw) > _MAX_INPUT or not _SAFE.match(raw):
        raise InvalidNationalId(kind, "it has characters that do not belong in it")
    if not clean(raw, " .-/").strip("0"):
        raise InvalidNationalId(kind, "it is all zeros")
    try:
        compact = _VALIDATORS[kind](raw)
    except stdnum_errors.ValidationError as exc:
        reason = next(
            (text for cls, text in _REASONS.items() if isinstance(exc, cls)), "it is not valid"
        )
        raise InvalidNationalId(kind, reason) from None
    if not compact.strip("0"):
        raise InvalidNationalId(kind, "it is all zeros")
    return NationalId(kind, compact.upper())


def display(id_type: NationalIdType, compact: str) -> str:
    formatter = _FORMATTERS.get(id_type)
    return formatter(compact) if formatter else compact


def mask(id_type: NationalIdType, compact: str) -> str:
    """Keep the last three letters or digits, hide the rest: ``••.•••.•78-5``."""
    shown = display(id_type, compact)
    keep = 3
    visible = 0
    out: list[str] = []
    for ch in reversed(shown):
        if ch.isalnum():
            if visible < keep:
                out.append(ch)
                visible += 1
            else:
                out.append("•")
        else:
            out.append(ch)
    return "".join(reversed(out))


_MX_ID = re.compile(r"^[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3,8}$")


def looks_like_national_id(text: str) -> bool:
    """True when ``text`` has the shape of an ID number rather than a name."""
    compact = clean(text, " .-/").upper()
    digits = sum(ch.isdigit() for ch in compact)
    return (digits >= 5 and digits >= len(compact) // 2) or bool(_MX_ID.match(compact))

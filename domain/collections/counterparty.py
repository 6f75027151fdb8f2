"""The payer's national ID on a statement line: given in a field (camt ``Dbtr/Id``, a CSV
column) or written in the free text (an MT940 ``:86:`` "TRANSF DE 12.345.678-5 …").

Only numbers that validate (``domain.shared.national_ids``, python-stdnum) are kept, as type
and compact number. Types by the account's country: Chile RUT; Argentina CUIT (companies,
prefixes 30/33/34) or CUIL (people), the same 11 digits either way; Mexico RFC or CURP;
Colombia NIT or CC; Peru RUC or DNI. In free text a number is taken only when it cannot be
something else: written with its check-digit hyphen (RUT, CUIT/CUIL), in the RFC/CURP shape,
or after its name ("NIT 900…", "DNI 4…").
"""

from __future__ import annotations

import re

from domain.shared import national_ids
from domain.shared.national_ids import InvalidNationalId, NationalId, NationalIdType

__all__ = ["from_field", "from_text"]

_FIELD_TYPES: dict[str, tuple[NationalIdType, ...]] = {
    "CL": (NationalIdType.CL_RUT,),
    "AR": (NationalIdType.AR_CUIL, NationalIdType.AR_CUIT, NationalIdType.AR_DNI),
    "MX": (NationalIdType.MX_RFC, NationalIdType.MX_CURP),
    "CO": (NationalIdType.CO_NIT, NationalIdType.CO_CC),
    "PE": (NationalIdType.PE_RUC, NationalIdType.PE_DNI),
}

_CUIT_COMPANY = ("30", "33", "34")


def _try(kind: NationalIdType, raw: str) -> NationalId | None:
    try:
        return national_ids.parse(kind, raw)
    except InvalidNationalId:
        return None


def from_field(raw: str | None, country: str) -> NationalId | None:
    """A national ID given as such (a field of its own), validated for ``country``."""
    if not raw or not raw.strip() or len(raw) > 40:
        return None
    text = raw.strip()
    # A scheme prefix some banks write: "RUT 12.345.678-5", "CUIT: 20-…".
    text = re.sub(r"^(RUT|RUN|CUIT|CUIL|DNI|RFC|CURP|NIT|CC|RUC)\s*[:#]?\s*", "", text, flags=re.I)
    digits = re.sub(r"\D", "", text)
    for kind in _FIELD_TYPES.get(country, ()):
        if kind is NationalIdType.AR_CUIL and digits[:2] in _CUIT_COMPANY:
            continue
        if kind is NationalIdType.AR_DNI and len(digits) > 8:
            continue
        if kind is NationalIdType.PE_DNI and len(digits) != 8:
            continue
        if kind is NationalIdType.CO_CC and ("-" in text or len(digits) > 10):
            continue
        found = _try(kind, text)
        if found is not None:
            return found
    return None


_TEXT_PATTERNS: dict[str, list[tuple[re.Pattern[str], tuple[NationalIdType, ...]]]] = {
    "CL": [
        (
            re.compile(r"(?<![\d.])(\d{1,2}\.\d{3}\.\d{3}-[\dkK]|\d{7,8}-[\dkK])(?![\w])"),
            (NationalIdType.CL_RUT,),
        ),
        (re.compile(r"\bRU[TN]\W{0,3}(\d{7,8}[\dkK])\b", re.I), (NationalIdType.CL_RUT,)),
    ],
    "AR": [
        (
            re.compile(r"(?<!\d)((?:20|23|24|27|30|33|34)-?\d{8}-?\d)(?!\d)"),
            (NationalIdType.AR_CUIL, NationalIdType.AR_CUIT),
        ),
        (re.compile(r"\bDNI\W{0,3}(\d{1,2}\.?\d{3}\.?\d{3})\b", re.I), (NationalIdType.AR_DNI,)),
    ],
    "MX": [
        (
            re.compile(r"\b([A-Z]{4}\d{6}[HM][A-Z]{5}[A-Z0-9]\d)\b"),
            (NationalIdType.MX_CURP,),
        ),
        (re.compile(r"\b([A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3})\b"), (NationalIdType.MX_RFC,)),
    ],
    "CO": [
        (re.compile(r"\bNIT\W{0,3}([\d.]{6,13}-?\d)\b", re.I), (NationalIdType.CO_NIT,)),
        (re.compile(r"\bC\.?C\.?\W{0,3}(\d{1,3}(?:\.?\d{3}){1,3})\b"), (NationalIdType.CO_CC,)),
    ],
    "PE": [
        (re.compile(r"\bRUC\W{0,3}(\d{11})\b", re.I), (NationalIdType.PE_RUC,)),
        (re.compile(r"\bDNI\W{0,3}(\d{8})\b", re.I), (NationalIdType.PE_DNI,)),
    ],
}


def from_text(text: str | None, country: str) -> NationalId | None:
    """The first valid national ID written in ``text`` (see the module's rules)."""
    if not text:
        return None
    for pattern, kinds in _TEXT_PATTERNS.get(country, ()):
        for match in pattern.finditer(text):
            raw = match.group(1)
            digits = re.sub(r"\D", "", raw)
            for kind in kinds:
                if kind is NationalIdType.AR_CUIL and digits[:2] in _CUIT_COMPANY:
                    continue
                found = _try(kind, raw)
                if found is not None:
                    return found
    return None

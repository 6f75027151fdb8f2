"""Who a legacy member is: the person behind a DNI, a CUIL or a CUIT.

An Argentine person has one DNI and one CUIL (or a CUIT, if self-employed) that contains it:
``20-12345678-3`` is the person of DNI 12.345.678. A legacy CRM may hold either, and Trama's
customer may have been registered with the other, so a member is matched to a customer by
every number that names the same person (the DNI, and the CUIL/CUIT it can be with each
person prefix), and two members are the same person when their *person key* (the DNI
digits, or a company's CUIT) is the same.
"""

from __future__ import annotations

from stdnum.ar import cuit as ar_cuit

from domain.shared.national_ids import NationalIdType

#: CUIT/CUIL prefixes of people (20 and 23/24 men, 27 and 23/24 women); 30, 33, 34 are
#: companies.
PERSON_PREFIXES = ("20", "23", "24", "27")


def person_key(id_type: str, number: str) -> str:
    """The DNI digits (no leading zeros) of a person, or a company's whole CUIT."""
    if id_type == NationalIdType.AR_DNI:
        return number.lstrip("0")
    if number[:2] in PERSON_PREFIXES:
        return number[2:10].lstrip("0")
    return number


def identities(id_type: str, number: str) -> list[tuple[str, str]]:
    """Every (type, compact number) the same person may be registered with in Trama."""
    key = person_key(id_type, number)
    if id_type in (NationalIdType.AR_CUIL, NationalIdType.AR_CUIT) and number[:2] not in (
        PERSON_PREFIXES
    ):
        return [(NationalIdType.AR_CUIT.value, number)]
    out = [(NationalIdType.AR_DNI.value, key)]
    body = key.rjust(8, "0")
    for prefix in PERSON_PREFIXES:
        base = prefix + body
        full = base + ar_cuit.calc_check_digit(base)
        out.append((NationalIdType.AR_CUIL.value, full))
        out.append((NationalIdType.AR_CUIT.value, full))
    if (id_type, number) not in out:
        out.append((id_type, number))
    return out

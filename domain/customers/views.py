"""A customer as shown: personal data in clear or masked, as the rule decides.

Whether a principal sees a customer's personal data is decided in SQL by
:func:`domain.customers.scopes.pii_visible_to`, selected beside the row (``pii_visible``);
:func:`present` only applies that decision. Masked, a customer shows: the national ID's
last three characters (``••.•••.•78-5``), the e-mail's first letter and top-level domain
(``c•••@•••.com``), the phone's last two digits (``+•••••••••34``), ``•••`` for each address
line, city, region and postal code (the country stays), and the initial of the first given
and first family name (``C•••`` / ``A•••``: ``C••• A•••`` wherever the name is shown whole).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from domain.customers.models import Customer
from domain.shared import national_ids

MASK = "•••"


@dataclass(frozen=True, slots=True)
class AddressView:
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str


@dataclass(frozen=True, slots=True)
class CustomerView:
    id: uuid.UUID
    national_id_type: str
    national_id: str
    given_names: str
    family_names: str
    email: str | None
    phone: str | None
    address: AddressView | None
    consent_marketing: bool
    consent_data_sharing: bool
    consent_updated_at: datetime | None
    home_partner_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    version: int
    pii_masked: bool


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    tld = domain.rsplit(".", 1)[-1] if "." in domain else ""
    return f"{local[:1]}{MASK}@{MASK}.{tld}" if tld else f"{local[:1]}{MASK}@{MASK}"


def mask_phone(value: str) -> str:
    """Keep the "+" and the last two digits: +56•••••••34."""
    digits = value.lstrip("+")
    hidden = max(len(digits) - 2, 0)
    return "+" + "•" * hidden + digits[hidden:]


def mask_name(names: str) -> str:
    """The initial of the first name: ``María José`` → ``M•••``."""
    first = names.split()[:1]
    return f"{first[0][0]}{MASK}" if first else MASK


def full_name(view: CustomerView) -> str:
    """``given family`` as shown (initials when masked: ``M••• R•••``)."""
    return join_names(view.given_names, view.family_names)


def join_names(given: str, family: str) -> str:
    return f"{given} {family}".strip()


# --- one rule per field: every read path shows a field through these ---------------------
def shown_national_id(id_type: str, number: str, clear: bool) -> str:
    """The national ID as printed, or its last three characters."""
    kind = national_ids.NationalIdType(id_type)
    return national_ids.display(kind, number) if clear else national_ids.mask(kind, number)


def national_id_country(id_type: str) -> str:
    return national_ids.NationalIdType(id_type).country


def shown_names(names: str, clear: bool) -> str:
    return names if clear else mask_name(names)


def shown_full_name(given: str, family: str, clear: bool) -> str:
    """:func:`full_name` of a customer row."""
    return join_names(shown_names(given, clear), shown_names(family, clear))


def shown_email(value: str | None, clear: bool) -> str | None:
    return (value if clear else mask_email(value)) if value else None


def shown_phone(value: str | None, clear: bool) -> str | None:
    return (value if clear else mask_phone(value)) if value else None


def shown_line(value: str | None, clear: bool) -> str:
    """A required address part (the first line): itself or :data:`MASK`."""
    return (value or "") if clear else MASK


def shown_optional_line(value: str | None, clear: bool) -> str | None:
    """An optional address part (second line, region, postal code): absent stays absent."""
    return (value if clear else MASK) if value else None


def address_country(value: str | None) -> str:
    return value or ""


def present(customer: Customer, *, visible: bool) -> CustomerView:
    """``customer`` as shown to a principal for whom :func:`pii_visible_to` is ``visible``."""
    clear = visible
    address = None
    if customer.address_line1 is not None:
        address = AddressView(
            line1=shown_line(customer.address_line1, clear),
            line2=shown_optional_line(customer.address_line2, clear),
            city=shown_line(customer.city, clear),
            region=shown_optional_line(customer.region, clear),
            postal_code=shown_optional_line(customer.postal_code, clear),
            country=address_country(customer.address_country),
        )
    return CustomerView(
        id=customer.id,
        national_id_type=customer.national_id_type,
        national_id=shown_national_id(customer.national_id_type, customer.national_id, clear),
        given_names=shown_names(customer.given_names, clear),
        family_names=shown_names(customer.family_names, clear),
        email=shown_email(customer.email, clear),
        phone=shown_phone(customer.phone, clear),
        address=address,
        consent_marketing=customer.consent_marketing,
        consent_data_sharing=customer.consent_data_sharing,
        consent_updated_at=customer.consent_updated_at,
        home_partner_id=customer.home_partner_id,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        version=customer.version,
        pii_masked=not clear,
    )

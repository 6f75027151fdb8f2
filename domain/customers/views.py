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
    return f"{view.given_names} {view.family_names}".strip()


def present(customer: Customer, *, visible: bool) -> CustomerView:
    """``customer`` as shown to a principal for whom :func:`pii_visible_to` is ``visible``."""
    clear = visible
    id_type = national_ids.NationalIdType(customer.national_id_type)
    address = None
    if customer.address_line1 is not None:
        address = AddressView(
            line1=customer.address_line1 if clear else MASK,
            line2=(customer.address_line2 if clear else MASK) if customer.address_line2 else None,
            city=customer.city or "" if clear else MASK,
            region=(customer.region if clear else MASK) if customer.region else None,
            postal_code=(customer.postal_code if clear else MASK) if customer.postal_code else None,
            country=customer.address_country or "",
        )
    return CustomerView(
        id=customer.id,
        national_id_type=customer.national_id_type,
        national_id=(
            national_ids.display(id_type, customer.national_id)
            if clear
            else national_ids.mask(id_type, customer.national_id)
        ),
        given_names=customer.given_names if clear else mask_name(customer.given_names),
        family_names=customer.family_names if clear else mask_name(customer.family_names),
        email=(customer.email if clear else mask_email(customer.email)) if customer.email else None,
        phone=(customer.phone if clear else mask_phone(customer.phone)) if customer.phone else None,
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

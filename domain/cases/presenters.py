"""What a principal may see of a case once it may see the case at all.

Which cases are visible is :mod:`domain.cases.scopes` (SQL). This module decides, per
operation and per case, what of a visible case is shown:

- personal data is masked where :func:`domain.cases.scopes.pii_visible` says so (the
  customers' rule for the case's customer, selected with the case): the customer's name
  and national ID (as :mod:`domain.customers.views` masks them everywhere), the card's last
  digits, and every free text (description, notes, reasons, comment bodies), which may
  hold personal data;
- internal comments and timeline entries are shown only to staff of the partners involved
  in the case (and administrators); anyone else who sees the case (a network viewer, a
  supervisor of another partner) sees what the customer may see;
- the card token never leaves Trama through the API (partner platforms receive it through
  the signed sync), nor does any connector secret.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from domain.cases import scopes
from domain.customers.views import CustomerView, full_name
from domain.shared import national_ids
from domain.shared.principal import Principal

MASK = "•••"

#: Keys of timeline before/after values that hold personal data or free text.
PII_KEYS = frozenset(
    {
        "description",
        "card_last4",
        "resolution_note",
        "pending_derivation_reason",
        "note",
        "reason",
        "body",
    }
)
#: Keys never shown at all.
HIDDEN_KEYS = frozenset({"card_token", "description_folded"})


class CaseLike(Protocol):
    """What the presenters read of a case (an ORM row or a search row)."""

    originating_partner_id: uuid.UUID
    handling_partner_id: uuid.UUID
    pending_derivation_to: uuid.UUID | None


def involved_partners(case: CaseLike, status_partner_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The partners of the ECOSYSTEM rule for one case, from its row and status rows."""
    out = set(status_partner_ids)
    out.update(
        p
        for p in (case.originating_partner_id, case.handling_partner_id, case.pending_derivation_to)
        if p is not None
    )
    return out


def sees_internal(principal: Principal, involved: Iterable[uuid.UUID]) -> bool:
    """Whether internal comments and timeline entries of a case are shown: to its involved
    partners' staff and systems, and to administrators."""
    if principal.is_admin:
        return True
    if principal.partner_id is None or not principal.has_role(*scopes.STAFF_ROLES):
        return False
    return principal.partner_id in set(involved)


def text(value: str | None, masked: bool) -> str | None:
    """Free text as shown: itself, or :data:`MASK` when personal data is masked."""
    if value is None:
        return None
    return MASK if masked else value


def required_text(value: str | None, masked: bool) -> str:
    """Free text a field always has (a description, a comment's body): never null."""
    return text(value, masked) or ""


def hidden(value: str | None, masked: bool) -> str | None:
    """A value shown only in clear (an actor, an author): null when masked."""
    return None if masked else value


def card_last4(value: str | None, masked: bool) -> str | None:
    return hidden(value, masked)


def changes(values: Mapping[str, Any] | None, masked: bool) -> dict[str, Any] | None:
    """A timeline entry's before/after: never the card token; masked personal data."""
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in HIDDEN_KEYS:
            continue
        out[key] = MASK if masked and key in PII_KEYS and value is not None else value
    return out


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    """The customer of a case as the case shows it."""

    id: uuid.UUID
    name: str
    national_id_type: str
    national_id: str
    country: str
    masked: bool


def customer_summary(customer: CustomerView) -> CustomerSummary:
    """The case's customer as the customers' rule shows them (the same masking as
    ``customer(id:)``: a case never shows more, nor less, of its customer)."""
    id_type = national_ids.NationalIdType(customer.national_id_type)
    return CustomerSummary(
        id=customer.id,
        name=full_name(customer),
        national_id_type=customer.national_id_type,
        national_id=customer.national_id,
        country=id_type.country,
        masked=customer.pii_masked,
    )

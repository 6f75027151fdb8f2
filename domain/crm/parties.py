"""A *party* is whom CRM works with: a lead of a lender, or a customer of the network.

:func:`find_party_by_contact` is how other parts of CRM (the lead form's deduplication, the
Cal.com webhook, the assistant) find the person a contact belongs to. The order is fixed:
the lender's open or disqualified lead first (a converted lead answers with its customer),
then a customer by e-mail, then by phone. E-mail is compared in lower case; the phone is
compared in E.164 (normalise it first with :func:`domain.crm.contact.phone`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.crm.models import CrmLead, LeadStatus
from domain.customers.models import Customer
from domain.shared.models import table_of


class PartyKind(StrEnum):
    LEAD = "LEAD"
    CUSTOMER = "CUSTOMER"


@dataclass(frozen=True, slots=True)
class Party:
    """A lead or a customer. For a lead, ``partner_id`` is its lender and ``advisor_id`` its
    advisor; for a customer, ``partner_id`` is the home partner and ``lead_id`` the lender's
    converted lead it came from (if any)."""

    kind: PartyKind
    id: uuid.UUID
    partner_id: uuid.UUID | None = None
    advisor_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None

    @classmethod
    def lead(cls, lead_id: uuid.UUID) -> Party:
        return cls(PartyKind.LEAD, lead_id)

    @classmethod
    def customer(cls, customer_id: uuid.UUID) -> Party:
        return cls(PartyKind.CUSTOMER, customer_id)

    @property
    def is_lead(self) -> bool:
        return self.kind is PartyKind.LEAD


def _lead_party(lead: CrmLead) -> Party:
    if lead.customer_id is not None:
        return Party(
            PartyKind.CUSTOMER,
            lead.customer_id,
            partner_id=None,
            advisor_id=lead.advisor_id,
            lead_id=lead.id,
        )
    return Party(PartyKind.LEAD, lead.id, partner_id=lead.partner_id, advisor_id=lead.advisor_id)


async def find_lead(
    session: AsyncSession,
    *,
    lender_id: uuid.UUID,
    email: str | None = None,
    phone_e164: str | None = None,
    national_id: tuple[str, str] | None = None,
) -> CrmLead | None:
    """The lender's lead with this national ID, else e-mail, else phone (oldest first)."""
    checks: list[sa.ColumnElement[bool]] = []
    if national_id is not None:
        checks.append(
            sa.and_(
                CrmLead.national_id_type == national_id[0],  # type: ignore[arg-type]
                CrmLead.national_id == national_id[1],  # type: ignore[arg-type]
            )
        )
    if email:
        checks.append(CrmLead.email_key == email.strip().lower())  # type: ignore[arg-type]
    if phone_e164:
        checks.append(CrmLead.phone == phone_e164)  # type: ignore[arg-type]
    for check in checks:
        row = await session.execute(
            sa.select(CrmLead)
            .where(CrmLead.partner_id == lender_id, check)  # type: ignore[arg-type]
            .order_by(
                # a lead still being worked on before a converted or disqualified one
                sa.case(
                    (CrmLead.status == LeadStatus.DISQUALIFIED.value, 2),  # type: ignore[arg-type]
                    (CrmLead.customer_id.is_(None), 0),  # type: ignore[union-attr]
                    else_=1,
                ),
                CrmLead.created_at,  # type: ignore[arg-type]
            )
            .limit(1)
        )
        lead = row.scalar_one_or_none()
        if lead is not None:
            return lead
    return None


async def find_customer(
    session: AsyncSession,
    *,
    email: str | None = None,
    phone_e164: str | None = None,
    national_id: tuple[str, str] | None = None,
) -> Customer | None:
    table = table_of(Customer)
    checks: list[sa.ColumnElement[bool]] = []
    if national_id is not None:
        checks.append(
            sa.and_(
                table.c.national_id_type == national_id[0], table.c.national_id == national_id[1]
            )
        )
    if email:
        checks.append(sa.func.lower(table.c.email) == email.strip().lower())
    if phone_e164:
        checks.append(table.c.phone == phone_e164)
    for check in checks:
        row = await session.execute(
            sa.select(Customer).where(check).order_by(table.c.created_at).limit(1)
        )
        customer = row.scalar_one_or_none()
        if customer is not None:
            return customer
    return None


async def find_party_by_contact(
    session: AsyncSession,
    *,
    lender_id: uuid.UUID,
    email: str | None,
    phone_e164: str | None,
    national_id: tuple[str, str] | None = None,
) -> Party | None:
    """The lead (of ``lender_id``) or customer (of the network) this contact belongs to.

    ``national_id`` is ``(type, compact number)`` as :mod:`domain.shared.national_ids`
    normalises it. None when nobody matches or no contact was given."""
    if not (email or phone_e164 or national_id):
        return None
    lead = await find_lead(
        session, lender_id=lender_id, email=email, phone_e164=phone_e164, national_id=national_id
    )
    if lead is not None:
        return _lead_party(lead)
    customer = await find_customer(
        session, email=email, phone_e164=phone_e164, national_id=national_id
    )
    if customer is not None:
        return Party(PartyKind.CUSTOMER, customer.id, partner_id=customer.home_partner_id)
    return None


async def party_of(session: AsyncSession, subject: Party | uuid.UUID) -> Party | None:
    """Resolve a bare id (a lead's or a customer's) or a thin :class:`Party` to a full one."""
    kind = subject.kind if isinstance(subject, Party) else None
    key = subject.id if isinstance(subject, Party) else subject
    if kind in (None, PartyKind.LEAD):
        lead = await session.get(CrmLead, key)
        if lead is not None:
            return Party(
                PartyKind.LEAD, lead.id, partner_id=lead.partner_id, advisor_id=lead.advisor_id
            )
    if kind in (None, PartyKind.CUSTOMER):
        customer = await session.get(Customer, key)
        if customer is not None:
            return Party(PartyKind.CUSTOMER, customer.id, partner_id=customer.home_partner_id)
    return None

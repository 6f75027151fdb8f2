"""Leads: capture from the landing page and the calculator, deduplication, assignment,
reassignment, conversion into a customer (issue 12).

Deduplication: a capture is matched, in this order, by national ID, e-mail (any case) and
phone (E.164) against the lender's leads and then the network's customers
(:func:`domain.crm.parties.find_party_by_contact`). A match writes the capture on the
existing record's timeline (and fills in contact data it lacked) instead of a new lead;
concurrent captures of the same contact are serialized by a lock per contact key
(PostgreSQL: transaction-scoped advisory locks taken in a fixed order; SQLite: writers
already hold the database's write lock), so two tabs sending the same form make one lead.

The public form's answer is the same whether the person was new or known: an anonymous
caller never learns whether an e-mail or a phone is already on file.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.crm import access, advisors, events
from domain.crm.business_time import add_business_hours
from domain.crm.errors import AlreadyConverted
from domain.crm.models import (
    CLOSED_STAGES,
    OPEN_LEAD_STATUSES,
    CrmAdvisor,
    CrmLead,
    CrmOpportunity,
    CrmTask,
    LeadStatus,
    Product,
    TaskKind,
    TaskStatus,
    TimelineKind,
)
from domain.crm.parties import Party, PartyKind, find_party_by_contact
from domain.crm.tasks import create_task
from domain.crm.timeline import add_timeline_item, move_lead_items
from domain.customers import rules as contact_rules
from domain.customers import service as customers
from domain.customers.models import Customer
from domain.partners.models import Partner, PartnerKind
from domain.shared import audit, national_ids, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import NotFound, Problems, ValidationFailed
from domain.shared.models import table_of
from domain.shared.money import Money, MoneyError
from domain.shared.pagination import Page, clamp_page_size, decode_cursor, encode_cursor
from domain.shared.principal import SYSTEM, Principal
from domain.shared.sql import advisory_xact_lock, dialect_of
from domain.shared.time import isoformat, utcnow

#: Who captured a lead through the public form (the audit trail's actor).
LANDING_PAGE = Principal(subject="public:lead-form", kind="system", display_name="Lead form")

MAX_SIMULATION_BYTES = 8_000
_CURSOR_TAG = "crm.leads.v1"
_LOCK_BASE = 7_461_200


@dataclass(frozen=True)
class LeadInput:
    lender_id: uuid.UUID
    name: str
    email: str | None = None
    phone: str | None = None
    national_id_type: str | None = None
    national_id: str | None = None
    product: str = Product.VEHICLE_CREDIT.value
    amount: str | None = None
    currency: str | None = None
    vehicle_description: str | None = None
    vehicle_id: uuid.UUID | None = None
    simulation: dict[str, Any] | None = None
    consent: bool = False
    consent_text_version: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    referrer: str | None = None


@dataclass
class Capture:
    """What a capture did (the public answer shows none of it)."""

    lead: CrmLead | None
    customer_id: uuid.UUID | None
    duplicate: bool
    task: CrmTask | None
    opportunity: CrmOpportunity | None


@dataclass(frozen=True)
class _Clean:
    name: str
    email: str | None
    phone: str | None
    nid: national_ids.NationalId | None
    product: str
    amount: Money | None
    vehicle_description: str | None
    simulation: dict[str, Any] | None
    consent_text_version: str
    utm: tuple[str | None, str | None, str | None]
    referrer: str | None


def lead_snapshot(lead: CrmLead) -> dict[str, Any]:
    return {
        "status": lead.status,
        "advisor_id": lead.advisor_id,
        "customer_id": lead.customer_id,
        "product": lead.product,
        "amount": lead.amount,
        "currency": lead.currency,
        "captures": lead.captures,
        "utm_campaign": lead.utm_campaign,
    }


def _short(problems: Problems, field: str, value: str | None, limit: int) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > limit:
        problems.add(field, f"at most {limit} characters")
        return None
    if pan.contains_pan(text):
        problems.add(field, pan.MESSAGE)
        return None
    return text


def _simulation(problems: Problems, value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"inputs", "result"} or "inputs" not in value:
        problems.add("simulation", "give an object with 'inputs' and 'result'")
        return None
    if not all(isinstance(value.get(k), dict | type(None)) for k in ("inputs", "result")):
        problems.add("simulation", "'inputs' and 'result' are objects")
        return None
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        problems.add("simulation", "is not plain JSON")
        return None
    if len(text.encode()) > MAX_SIMULATION_BYTES:
        problems.add("simulation", f"at most {MAX_SIMULATION_BYTES} bytes")
        return None
    if pan.contains_pan(text):
        problems.add("simulation", pan.MESSAGE)
        return None
    return value


def _referrer(problems: Problems, value: str | None) -> str | None:
    text = _short(problems, "referrer", value, 500)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.add("referrer", "is not an http(s) address")
        return None
    return text


def _national_id(
    problems: Problems, id_type: str | None, number: str | None
) -> national_ids.NationalId | None:
    if not (id_type or "").strip() and not (number or "").strip():
        return None
    if not (id_type or "").strip():
        problems.add("nationalIdType", "is required with a national ID")
        return None
    try:
        return national_ids.parse(id_type or "", number or "")
    except national_ids.InvalidNationalId as exc:
        problems.add("nationalId", str(exc))
        return None


async def _lender(
    session: AsyncSession, lender_id: uuid.UUID, problems: Problems
) -> Partner | None:
    partner = await session.get(Partner, lender_id)
    if partner is None or partner.kind != PartnerKind.LENDER or not partner.active:
        problems.add("lender", "no such lender")
        return None
    return partner


def _validate(data: LeadInput, country: str, problems: Problems) -> _Clean:
    name = contact_rules.name(problems, "name", data.name)
    email = contact_rules.email(problems, "email", data.email)
    phone = contact_rules.phone(problems, "phone", data.phone, country)
    if not (data.email or "").strip() and not (data.phone or "").strip():
        problems.add("email", "give an e-mail or a phone to be contacted")
    nid = _national_id(problems, data.national_id_type, data.national_id)
    if data.product not in {p.value for p in Product}:
        problems.add("product", f"unknown product {data.product!r}")
    amount: Money | None = None
    if data.amount is not None:
        try:
            amount = Money.parse(data.amount, data.currency or "")
            if amount.amount <= 0:
                problems.add("amount", "must be positive")
                amount = None
        except MoneyError as exc:
            problems.add("amount", str(exc))
    vehicle = _short(problems, "vehicleDescription", data.vehicle_description, 300)
    simulation = _simulation(problems, data.simulation)
    if not data.consent:
        problems.add("consent", "the person must accept to be contacted")
    version = _short(problems, "consentTextVersion", data.consent_text_version, 40)
    if data.consent and version is None:
        problems.add("consentTextVersion", "is required: the version of the text accepted")
    utm = (
        _short(problems, "utmSource", data.utm_source, 100),
        _short(problems, "utmMedium", data.utm_medium, 100),
        _short(problems, "utmCampaign", data.utm_campaign, 100),
    )
    referrer = _referrer(problems, data.referrer)
    return _Clean(
        name=name,
        email=email,
        phone=phone,
        nid=nid,
        product=data.product,
        amount=amount,
        vehicle_description=vehicle,
        simulation=simulation,
        consent_text_version=version or "",
        utm=utm,
        referrer=referrer,
    )


async def _lock_contacts(session: AsyncSession, lender_id: uuid.UUID, keys: Sequence[str]) -> None:
    if dialect_of(session) != "postgresql":
        return  # SQLite: this writer already holds the database's write lock
    numbers = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"{lender_id}:{k}".encode(), digest_size=8).digest(),
                "big",
                signed=True,
            )
            for k in keys
        }
    )
    for number in numbers:
        await advisory_xact_lock(session, number)


def _capture_payload(clean: _Clean, *, duplicate: bool) -> dict[str, Any]:
    return {
        "product": clean.product,
        "amount": None
        if clean.amount is None
        else wire.money(clean.amount.amount, clean.amount.currency),
        "vehicleDescription": clean.vehicle_description,
        "simulation": clean.simulation,
        "consentTextVersion": clean.consent_text_version,
        "utmSource": clean.utm[0],
        "utmMedium": clean.utm[1],
        "utmCampaign": clean.utm[2],
        "referrer": clean.referrer,
        "duplicate": duplicate,
    }


async def _first_contact_due(session: AsyncSession, lender: Partner, now: datetime) -> datetime:
    settings = await advisors.settings_of(session, lender.id)
    return add_business_hours(
        now,
        country=lender.country,
        hours=settings.first_contact_hours,
        opens=settings.business_day_start,
        closes=settings.business_day_end,
    )


async def assign(
    session: AsyncSession,
    *,
    principal: Principal,
    lead: CrmLead,
    advisor: CrmAdvisor,
    reason: str,
) -> None:
    """Give ``lead`` (its open tasks and open opportunities too) to ``advisor``."""
    previous = lead.advisor_id
    if previous == advisor.id:
        return
    before = lead_snapshot(lead)
    now = utcnow()
    lead.advisor_id = advisor.id
    lead.assigned_at = now
    lead.updated_at = now
    lead.version += 1
    tasks = table_of(CrmTask)
    await session.execute(
        sa.update(tasks)
        .where(tasks.c.lead_id == lead.id, tasks.c.status == TaskStatus.OPEN.value)
        .values(assignee_id=advisor.id, reminded_at=None, updated_at=now)
    )
    opps = table_of(CrmOpportunity)
    await session.execute(
        sa.update(opps)
        .where(opps.c.lead_id == lead.id, opps.c.stage.not_in([s.value for s in CLOSED_STAGES]))
        .values(advisor_id=advisor.id, updated_at=now)
    )
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="crm.assign_lead",
        entity_type="Lead",
        entity_id=lead.id,
        before=before,
        after={**lead_snapshot(lead), "reason": reason},
    )
    events.emit(
        session,
        "crm.lead_assigned",
        lead.partner_id,
        {
            "leadId": events.record_id(lead.id),
            "partnerId": wire.global_id("Partner", lead.partner_id),
            "advisorId": events.record_id(advisor.id),
            "previousAdvisorId": None if previous is None else events.record_id(previous),
            "reason": reason,
        },
        key=events.record_id(lead.id),
    )


def _emit_captured(
    session: AsyncSession,
    lender_id: uuid.UUID,
    clean: _Clean,
    *,
    lead_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    duplicate: bool,
) -> None:
    events.emit(
        session,
        "crm.lead_captured",
        lender_id,
        {
            "leadId": None if lead_id is None else events.record_id(lead_id),
            "customerId": None if customer_id is None else wire.global_id("Customer", customer_id),
            "partnerId": wire.global_id("Partner", lender_id),
            "product": clean.product,
            "utmCampaign": clean.utm[2],
            "duplicate": duplicate,
        },
        key=events.record_id(lead_id)
        if lead_id
        else wire.global_id("Customer", customer_id or uuid.UUID(int=0)),
    )


async def capture_lead(
    session: AsyncSession, *, data: LeadInput, source_ref: str | None = None
) -> Capture:
    """Capture what a person sent through the public form (see the module doc). Refused
    (VALIDATION, nothing written): an unknown lender, a bad name, e-mail, phone or national
    ID, no way to contact them, an unknown product, a wrong amount, no consent."""
    problems = Problems()
    lender = await _lender(session, data.lender_id, problems)
    clean = _validate(data, lender.country if lender else "CL", problems)
    problems.raise_if_any()
    assert lender is not None
    now = utcnow()
    keys = [k for k in (clean.email and clean.email.lower(), clean.phone) if k]
    if clean.nid is not None:
        keys.append(f"{clean.nid.type.value}:{clean.nid.number}")
    await _lock_contacts(session, lender.id, keys)
    party = await find_party_by_contact(
        session,
        lender_id=lender.id,
        email=clean.email,
        phone_e164=clean.phone,
        national_id=(clean.nid.type.value, clean.nid.number) if clean.nid else None,
    )
    ref = source_ref or f"crm.capture:{uuid.uuid4()}"
    if party is not None and party.kind is PartyKind.LEAD:
        return await _merge_into_lead(session, lender, party.id, clean, now, ref)
    if party is not None:
        return await _merge_into_customer(session, lender, party, clean, now, ref)
    return await _new_lead(session, lender, clean, now, ref)


async def _merge_into_lead(
    session: AsyncSession,
    lender: Partner,
    lead_id: uuid.UUID,
    clean: _Clean,
    now: datetime,
    ref: str,
) -> Capture:
    lead = await session.get(CrmLead, lead_id, populate_existing=True)
    assert lead is not None
    before = lead_snapshot(lead)
    if lead.email is None and clean.email:
        lead.email, lead.email_key = clean.email, clean.email.lower()
    if lead.phone is None and clean.phone:
        lead.phone = clean.phone
    if lead.national_id is None and clean.nid is not None:
        lead.national_id_type, lead.national_id = clean.nid.type.value, clean.nid.number
    if lead.status == LeadStatus.DISQUALIFIED.value:
        lead.status = LeadStatus.NEW.value  # they asked again: back on the list
    lead.captures += 1
    lead.last_captured_at = now
    lead.consent, lead.consent_text_version, lead.consent_at = True, clean.consent_text_version, now
    lead.updated_at = now
    lead.version += 1
    await session.flush()
    await add_timeline_item(
        session,
        subject=Party.lead(lead.id),
        kind=TimelineKind.LEAD_CAPTURED,
        occurred_at=now,
        visible_to_customer=False,
        partner_id=lender.id,
        payload=_capture_payload(clean, duplicate=True),
        source_ref=ref,
    )
    if lead.advisor_id is None:
        advisor = await advisors.pick_advisor(session, lender.id)
        if advisor is not None:
            await assign(
                session, principal=LANDING_PAGE, lead=lead, advisor=advisor, reason="AUTOMATIC"
            )
    audit.record(
        session,
        principal=LANDING_PAGE,
        action="crm.capture_lead",
        entity_type="Lead",
        entity_id=lead.id,
        before=before,
        after={**lead_snapshot(lead), "duplicate": True},
    )
    _emit_captured(session, lender.id, clean, lead_id=lead.id, customer_id=None, duplicate=True)
    return Capture(
        lead=lead, customer_id=lead.customer_id, duplicate=True, task=None, opportunity=None
    )


async def _merge_into_customer(
    session: AsyncSession, lender: Partner, party: Party, clean: _Clean, now: datetime, ref: str
) -> Capture:
    await add_timeline_item(
        session,
        subject=party,
        kind=TimelineKind.LEAD_CAPTURED,
        occurred_at=now,
        visible_to_customer=False,
        partner_id=lender.id,
        payload=_capture_payload(clean, duplicate=True),
        source_ref=ref,
    )
    advisor_id = party.advisor_id
    if advisor_id is None:
        advisor = await advisors.pick_advisor(session, lender.id)
        advisor_id = advisor.id if advisor else None
    task = await create_task(
        session,
        principal=SYSTEM,
        partner_id=lender.id,
        title="Contactar: el cliente pidió información",
        due_at=await _first_contact_due(session, lender, now),
        kind=TaskKind.FOLLOW_UP,
        assignee_id=advisor_id,
        customer_id=party.id,
        lead_id=party.lead_id,
        source_ref=f"{ref}:task",
    )
    audit.record(
        session,
        principal=LANDING_PAGE,
        action="crm.capture_lead",
        entity_type="Customer",
        entity_id=party.id,
        after={"duplicate": True, "lender_id": lender.id, "product": clean.product},
    )
    _emit_captured(
        session, lender.id, clean, lead_id=party.lead_id, customer_id=party.id, duplicate=True
    )
    return Capture(lead=None, customer_id=party.id, duplicate=True, task=task, opportunity=None)


async def _new_lead(
    session: AsyncSession, lender: Partner, clean: _Clean, now: datetime, ref: str
) -> Capture:
    from domain.crm import opportunities

    lead = CrmLead(
        partner_id=lender.id,
        name=clean.name,
        email=clean.email,
        email_key=clean.email.lower() if clean.email else None,
        phone=clean.phone,
        national_id_type=clean.nid.type.value if clean.nid else None,
        national_id=clean.nid.number if clean.nid else None,
        product=clean.product,
        amount=clean.amount.amount if clean.amount else None,
        currency=clean.amount.currency if clean.amount else None,
        vehicle_description=clean.vehicle_description,
        simulation=clean.simulation,
        consent=True,
        consent_text_version=clean.consent_text_version,
        consent_at=now,
        utm_source=clean.utm[0],
        utm_medium=clean.utm[1],
        utm_campaign=clean.utm[2],
        referrer=clean.referrer,
        last_captured_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(lead)
    await session.flush()
    await add_timeline_item(
        session,
        subject=Party.lead(lead.id),
        kind=TimelineKind.LEAD_CAPTURED,
        occurred_at=now,
        visible_to_customer=False,
        partner_id=lender.id,
        payload=_capture_payload(clean, duplicate=False),
        source_ref=ref,
    )
    audit.record(
        session,
        principal=LANDING_PAGE,
        action="crm.capture_lead",
        entity_type="Lead",
        entity_id=lead.id,
        after={**lead_snapshot(lead), "duplicate": False},
    )
    _emit_captured(session, lender.id, clean, lead_id=lead.id, customer_id=None, duplicate=False)
    advisor = await advisors.pick_advisor(session, lender.id)
    if advisor is not None:
        await assign(
            session, principal=LANDING_PAGE, lead=lead, advisor=advisor, reason="AUTOMATIC"
        )
    opportunity = await opportunities.open_opportunity(
        session,
        principal=SYSTEM,
        partner_id=lender.id,
        lead_id=lead.id,
        product=clean.product,
        amount=clean.amount,
        vehicle_description=clean.vehicle_description,
        advisor_id=lead.advisor_id,
    )
    task = await create_task(
        session,
        principal=SYSTEM,
        partner_id=lender.id,
        title="Primer contacto",
        due_at=await _first_contact_due(session, lender, now),
        kind=TaskKind.FIRST_CONTACT,
        assignee_id=lead.advisor_id,
        lead_id=lead.id,
        opportunity_id=opportunity.id,
        source_ref=f"{ref}:first-contact",
    )
    return Capture(lead=lead, customer_id=None, duplicate=False, task=task, opportunity=opportunity)


# --- reading ---------------------------------------------------------------------------------
async def get_lead(session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID) -> CrmLead:
    lead = await session.get(CrmLead, lead_id)
    if lead is None or not access.may_read(principal, lead.partner_id):
        raise NotFound("Lead", lead_id)
    return lead


async def list_leads(
    session: AsyncSession,
    *,
    principal: Principal,
    first: int | None = None,
    after: str | None = None,
    statuses: Sequence[str] | None = None,
    advisor_id: uuid.UUID | None = None,
    utm_campaign: str | None = None,
) -> Page[CrmLead]:
    """The lender's leads, newest first (keyset on ``created_at``, ``id``)."""
    access.ensure_can_read(principal)
    size = clamp_page_size(first, default=20, maximum=100)
    table = table_of(CrmLead)
    query = sa.select(CrmLead).where(access.visible(principal, table.c.partner_id))
    if statuses:
        wrong = [s for s in statuses if s not in {v.value for v in LeadStatus}]
        if wrong:
            raise ValidationFailed.on("status", f"unknown status {wrong[0]!r}")
        query = query.where(table.c.status.in_(list(statuses)))
    if advisor_id is not None:
        query = query.where(table.c.advisor_id == advisor_id)
    if utm_campaign is not None:
        query = query.where(table.c.utm_campaign == utm_campaign)
    if after is not None:
        at, key = decode_cursor(after, _CURSOR_TAG, 2)
        try:
            at_value = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
            key_value = uuid.UUID(str(key))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        query = query.where(
            sa.or_(
                table.c.created_at < at_value,
                sa.and_(table.c.created_at == at_value, table.c.id < key_value),
            )
        )
    query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(size + 1)
    rows = list((await session.execute(query)).scalars())
    items = rows[:size]
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR_TAG, isoformat(i.created_at), str(i.id)) for i in items],
        has_next=len(rows) > size,
        has_previous=after is not None,
    )


# --- changing --------------------------------------------------------------------------------
async def reassign_lead(
    session: AsyncSession,
    *,
    principal: Principal,
    lead_id: uuid.UUID,
    advisor_id: uuid.UUID | None = None,
) -> CrmLead:
    """Give a lead to ``advisor_id``, or (None) to the next advisor on shift other than its
    current one. NO_ADVISOR_AVAILABLE when nobody else is on shift."""
    from domain.crm.errors import NoAdvisorAvailable

    lead = await get_lead(session, principal=principal, lead_id=lead_id)
    access.ensure_can_write(principal, lead.partner_id)
    if lead.status not in {s.value for s in OPEN_LEAD_STATUSES}:
        raise ValidationFailed.on("leadId", f"a {lead.status} lead is not reassigned")
    if advisor_id is not None:
        advisor = await session.get(CrmAdvisor, advisor_id)
        if advisor is None or advisor.partner_id != lead.partner_id or not advisor.active:
            raise ValidationFailed.on("advisorId", "no such active advisor of this lender")
        reason = "MANUAL"
    else:
        picked = await advisors.pick_advisor(session, lead.partner_id, excluding=lead.advisor_id)
        if picked is None:
            raise NoAdvisorAvailable("no other advisor of this lender is on shift")
        advisor, reason = picked, "ADVISOR_AWAY"
    await assign(session, principal=principal, lead=lead, advisor=advisor, reason=reason)
    return lead


async def reassign_from_away(session: AsyncSession, *, limit: int = 200) -> list[uuid.UUID]:
    """The job: open leads whose advisor is away or inactive go to an advisor on shift
    (their open tasks and opportunities with them). Leads stay where they are when nobody
    of the lender is on shift. Returns the leads moved."""
    leads = table_of(CrmLead)
    people = table_of(CrmAdvisor)
    rows = (
        await session.execute(
            sa.select(leads.c.id, leads.c.partner_id)
            .select_from(leads.outerjoin(people, people.c.id == leads.c.advisor_id))
            .where(
                leads.c.status.in_([s.value for s in OPEN_LEAD_STATUSES]),
                sa.or_(
                    leads.c.advisor_id.is_(None),
                    people.c.on_shift.is_(False),
                    people.c.active.is_(False),
                ),
            )
            .order_by(leads.c.created_at)
            .limit(limit)
        )
    ).all()
    moved: list[uuid.UUID] = []
    nobody: set[uuid.UUID] = set()
    for lead_id, partner_id in rows:
        if partner_id in nobody:
            continue
        lead = await session.get(CrmLead, lead_id)
        assert lead is not None
        advisor = await advisors.pick_advisor(session, partner_id, excluding=lead.advisor_id)
        if advisor is None:
            nobody.add(partner_id)
            continue
        await assign(session, principal=SYSTEM, lead=lead, advisor=advisor, reason="ADVISOR_AWAY")
        moved.append(lead_id)
    # Open tasks of away advisors not tied to a lead: to an advisor on shift.
    tasks = table_of(CrmTask)
    loose = (
        await session.execute(
            sa.select(tasks.c.id, tasks.c.partner_id)
            .select_from(tasks.join(people, people.c.id == tasks.c.assignee_id))
            .where(
                tasks.c.status == TaskStatus.OPEN.value,
                tasks.c.lead_id.is_(None),
                sa.or_(people.c.on_shift.is_(False), people.c.active.is_(False)),
            )
            .limit(limit)
        )
    ).all()
    for task_id, partner_id in loose:
        if partner_id in nobody:
            continue
        advisor = await advisors.pick_advisor(session, partner_id)
        if advisor is None:
            nobody.add(partner_id)
            continue
        from domain.crm.tasks import reassign_task

        await reassign_task(session, principal=SYSTEM, task_id=task_id, assignee_id=advisor.id)
    return moved


async def set_lead_status(
    session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, status: str
) -> CrmLead:
    """Mark a lead CONTACTED, QUALIFIED or DISQUALIFIED (CONVERTED is :func:`convert_lead`'s)."""
    from domain.shared.errors import InvalidTransition

    if status not in {s.value for s in LeadStatus}:
        raise ValidationFailed.on("status", f"unknown status {status!r}")
    lead = await get_lead(session, principal=principal, lead_id=lead_id)
    access.ensure_can_write(principal, lead.partner_id)
    allowed = {
        LeadStatus.NEW.value: {"CONTACTED", "QUALIFIED", "DISQUALIFIED"},
        LeadStatus.CONTACTED.value: {"QUALIFIED", "DISQUALIFIED"},
        LeadStatus.QUALIFIED.value: {"DISQUALIFIED"},
        LeadStatus.DISQUALIFIED.value: {"NEW"},
    }
    if status not in allowed.get(lead.status, set()):
        raise InvalidTransition("Lead", lead.status, status)
    before = lead_snapshot(lead)
    lead.status = status
    lead.updated_at = utcnow()
    lead.version += 1
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="crm.set_lead_status",
        entity_type="Lead",
        entity_id=lead.id,
        before=before,
        after=lead_snapshot(lead),
    )
    return lead


async def convert_lead(
    session: AsyncSession,
    *,
    principal: Principal,
    lead_id: uuid.UUID,
    national_id_type: str | None,
    national_id: str | None,
    given_names: str,
    family_names: str,
) -> Customer:
    """Make the lead a customer (an existing customer with that national ID, or a new one
    of the lender), keeping its history: its timeline items, opportunities and tasks now
    show on the customer. Refused: an invalid national ID (VALIDATION), a converted lead
    (ALREADY_CONVERTED)."""
    lead = await get_lead(session, principal=principal, lead_id=lead_id)
    access.ensure_can_write(principal, lead.partner_id)
    if lead.customer_id is not None:
        raise AlreadyConverted("this lead is already a customer")
    id_type = national_id_type or lead.national_id_type
    number = national_id or lead.national_id
    problems = Problems()
    nid = _national_id(problems, id_type, number)
    if nid is None and not problems.items:
        problems.add("nationalId", "is required to make a customer")
    problems.raise_if_any()
    assert nid is not None
    existing = (
        await session.execute(
            sa.select(Customer).where(
                Customer.national_id_type == nid.type.value,  # type: ignore[arg-type]
                Customer.national_id == nid.number,  # type: ignore[arg-type]
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        customer = existing
    else:
        customer = await customers.create_customer(
            session,
            principal=principal,
            national_id_type=nid.type.value,
            national_id=nid.number,
            given_names=given_names,
            family_names=family_names,
            email=lead.email,
            phone=lead.phone,
            consent_marketing=False,
            home_partner_id=lead.partner_id,
        )
    before = lead_snapshot(lead)
    now = utcnow()
    lead.customer_id = customer.id
    lead.status = LeadStatus.CONVERTED.value
    lead.converted_at = now
    lead.national_id_type, lead.national_id = nid.type.value, nid.number
    lead.updated_at = now
    lead.version += 1
    await move_lead_items(session, lead_id=lead.id, customer_id=customer.id)
    for model in (CrmOpportunity, CrmTask):
        table = table_of(model)
        await session.execute(
            sa.update(table)
            .where(table.c.lead_id == lead.id, table.c.customer_id.is_(None))
            .values(customer_id=customer.id)
        )
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="crm.convert_lead",
        entity_type="Lead",
        entity_id=lead.id,
        before=before,
        after=lead_snapshot(lead),
    )
    events.emit(
        session,
        "crm.lead_converted",
        lead.partner_id,
        {
            "leadId": events.record_id(lead.id),
            "partnerId": wire.global_id("Partner", lead.partner_id),
            "customerId": wire.global_id("Customer", customer.id),
        },
        key=events.record_id(lead.id),
    )
    return customer


async def lender_by_code(session: AsyncSession, code: str) -> Partner:
    """The active lender with partner code ``code`` (VALIDATION on ``lender`` otherwise)."""
    text = (code or "").strip().upper()
    partner = None
    if text and len(text) <= 32:
        partner = (
            await session.execute(sa.select(Partner).where(Partner.code == text))  # type: ignore[arg-type]
        ).scalar_one_or_none()
    if partner is None or partner.kind != PartnerKind.LENDER or not partner.active:
        raise ValidationFailed.on("lender", "no such lender")
    return partner

"""Cases: open, read, update, move through the state machine, resolve.

Derivation between partners is in :mod:`domain.cases.derivation`, comments in
:mod:`domain.cases.comments`, partner platforms' status reports in
:mod:`domain.cases.reports`, homologation tables in :mod:`domain.cases.homologation`; this
module re-exports their services so callers import one place.

Every change takes the version the caller read (``expected_version``), locks the row, and
writes a timeline entry, an audit record and an outbox event for every involved partner
(:func:`domain.cases.journal.record`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import events as case_events
from domain.cases import journal, lifecycle, references, rules, scopes, sla
from domain.cases.comments import add_comment, list_comments
from domain.cases.derivation import accept_derivation, derive_case, reject_derivation
from domain.cases.models import (
    Case,
    CasePartnerStatus,
    Channel,
    Priority,
    ResolutionCode,
    TimelineKind,
    Visibility,
)
from domain.cases.reads import (
    get_case,
    get_case_by_reference,
    get_many,
    get_many_shown,
    list_partner_statuses,
    list_timeline,
)
from domain.cases.reports import ReportOutcome, ReportResult, report_partner_status
from domain.cases.reviews import close_review, list_reviews
from domain.cases.states import REOPEN_WINDOW, CaseStatus
from domain.cases.typologies import check_requirements, get_typology
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared import event_schemas as wire
from domain.shared.errors import Forbidden, Problems, ValidationFailed
from domain.shared.money import Money
from domain.shared.principal import Principal
from domain.shared.text import fold
from domain.shared.time import utcnow

__all__ = [
    "CaseChanges",
    "ReportOutcome",
    "ReportResult",
    "accept_derivation",
    "add_comment",
    "close_review",
    "derive_case",
    "get_case",
    "get_case_by_reference",
    "get_many",
    "get_many_shown",
    "list_comments",
    "list_partner_statuses",
    "list_reviews",
    "list_timeline",
    "open_case",
    "reject_derivation",
    "report_partner_status",
    "resolve_case",
    "transition_case",
    "update_case",
]


# --- open -------------------------------------------------------------------------------
def _origin(
    principal: Principal, requested: uuid.UUID | None, problems: Problems
) -> uuid.UUID | None:
    if principal.is_admin:
        origin = requested or principal.partner_id
        if origin is None:
            problems.add("originatingPartnerId", "is required for a principal without a partner")
        return origin
    if principal.partner_id is None or not principal.has_role(*scopes.STAFF_ROLES):
        raise Forbidden("only partner staff and partner systems open cases")
    if requested is not None and requested != principal.partner_id:
        raise Forbidden("you can only open cases for your own partner")
    return principal.partner_id


async def _external_ref_taken(
    session: AsyncSession, partner_id: uuid.UUID, external_ref: str
) -> bool:
    stmt = sa.select(col(CasePartnerStatus.case_id)).where(
        col(CasePartnerStatus.partner_id) == partner_id,
        col(CasePartnerStatus.external_ref) == external_ref,
    )
    return (await session.execute(stmt)).first() is not None


async def open_case(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: uuid.UUID,
    typology_code: str,
    channel: Channel | str,
    description: str,
    priority: Priority | str | None = None,
    card_last4: str | None = None,
    card_token: str | None = None,
    amount_in_dispute: Money | None = None,
    originating_partner_id: uuid.UUID | None = None,
    external_ref: str | None = None,
) -> Case:
    """Open a case at the principal's partner, which originates and first handles it."""
    scopes.ensure_can_write(principal)
    problems = Problems()
    origin = _origin(principal, originating_partner_id, problems)
    clean_description = rules.text(
        problems, "description", description, max_len=rules.DESCRIPTION_MAX
    )
    last4 = rules.card_last4(problems, "cardLast4", card_last4)
    token = rules.card_token(problems, "cardToken", card_token)
    clean_channel = rules.channel(problems, "channel", channel)
    clean_priority = rules.priority(problems, "priority", priority) if priority else None
    amount = rules.amount(problems, "amountInDispute", amount_in_dispute)
    ext = rules.external_ref(problems, "externalRef", external_ref)
    typology = None
    try:
        typology = await get_typology(session, typology_code, field="typologyCode")
    except ValidationFailed as exc:
        problems.items.extend(exc.problems)
    if typology is not None:
        check_requirements(problems, typology, amount=amount, card_last4=last4)
    partner = await session.get(Partner, origin) if origin else None
    if origin is not None and (partner is None or not partner.active):
        problems.add("originatingPartnerId", "is not an active partner")
    if await session.get(Customer, customer_id) is None:
        problems.add("customerId", "there is no such customer")
    if ext and origin and await _external_ref_taken(session, origin, ext):
        problems.add("externalRef", "another case of this partner already has this reference")
    problems.raise_if_any()
    assert typology is not None and partner is not None and clean_description is not None
    assert clean_channel is not None
    now = utcnow()
    reference = await references.next_reference(
        session, at=now.astimezone(sla.timezone_of(partner.country))
    )
    case = Case(
        reference=reference,
        customer_id=customer_id,
        card_last4=last4,
        card_token=token,
        typology_code=typology.code,
        originating_partner_id=partner.id,
        handling_partner_id=partner.id,
        channel=clean_channel.value,
        priority=(clean_priority or Priority(typology.default_priority)).value,
        status=CaseStatus.OPEN.value,
        status_changed_at=now,
        description=clean_description,
        description_folded=fold(clean_description)[: rules.DESCRIPTION_MAX],
        amount_in_dispute_minor=amount.amount if amount else None,
        amount_in_dispute_currency=amount.currency if amount else None,
        created_by=principal.subject,
        created_at=now,
        updated_at=now,
    )
    sla.start_window(case, typology=typology, country=partner.country, now=now)
    session.add(case)
    await session.flush()
    await journal.ensure_partner_row(session, case, partner.id, external_ref=ext)
    after = journal.snapshot(case)
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=TimelineKind.OPENED,
        topic="cases.opened",
        after=after,
        visibility=Visibility.CUSTOMER,
        payload={
            "customerId": wire.global_id("Customer", customer_id),
            "slaDueAt": wire.maybe_instant(case.sla_due_at),
        },
    )
    return case


# --- update -----------------------------------------------------------------------------
@dataclass
class CaseChanges:
    """Fields to change; a field absent from ``values`` is left as it is.

    Keys: ``description``, ``priority``, ``card_last4``, ``card_token``,
    ``amount_in_dispute`` (Money or None), ``typology_code``.
    """

    values: dict[str, Any] = field(default_factory=dict)

    ALLOWED = frozenset(
        {
            "description",
            "priority",
            "card_last4",
            "card_token",
            "amount_in_dispute",
            "typology_code",
        }
    )


def _dispute_of(case: Case) -> Money | None:
    if case.amount_in_dispute_minor is None or case.amount_in_dispute_currency is None:
        return None
    return Money(case.amount_in_dispute_minor, case.amount_in_dispute_currency)


async def update_case(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    expected_version: int,
    changes: CaseChanges,
) -> Case:
    """Correct a case's details (handling partner only, while the case is active)."""
    unknown = sorted(set(changes.values) - CaseChanges.ALLOWED)
    if unknown:
        raise ValidationFailed.on(unknown[0], "cannot be changed")
    case = await journal.load_for_change(session, principal=principal, case_id=case_id)
    scopes.ensure_can_act_on(principal, case)
    journal.ensure_version(case, expected_version)
    lifecycle.ensure_not_finished(case)
    v = changes.values
    problems = Problems()
    new: dict[str, Any] = {}
    if "description" in v:
        new["description"] = rules.text(
            problems, "description", v["description"], max_len=rules.DESCRIPTION_MAX
        )
    if "priority" in v:
        new["priority"] = rules.priority(problems, "priority", v["priority"])
    if "card_last4" in v:
        new["card_last4"] = rules.card_last4(problems, "cardLast4", v["card_last4"])
    if "card_token" in v:
        new["card_token"] = rules.card_token(problems, "cardToken", v["card_token"])
    amount = _dispute_of(case)
    if "amount_in_dispute" in v:
        amount = rules.amount(problems, "amountInDispute", v["amount_in_dispute"])
    typology = await lifecycle.typology_of(session, case.typology_code)
    if "typology_code" in v and v["typology_code"] != case.typology_code:
        try:
            typology = await get_typology(session, v["typology_code"], field="typologyCode")
        except ValidationFailed as exc:
            problems.items.extend(exc.problems)
    problems.raise_if_any()
    last4 = new.get("card_last4", case.card_last4)
    check_requirements(problems, typology, amount=amount, card_last4=last4)
    problems.raise_if_any()
    before = journal.snapshot(case)
    if new.get("description") is not None:
        case.description = new["description"]
        case.description_folded = fold(new["description"])[: rules.DESCRIPTION_MAX]
    if new.get("priority") is not None:
        case.priority = new["priority"].value
    if "card_last4" in new:
        case.card_last4 = new["card_last4"]
    if "card_token" in new:
        case.card_token = new["card_token"]
    case.amount_in_dispute_minor = amount.amount if amount else None
    case.amount_in_dispute_currency = amount.currency if amount else None
    now = utcnow()
    if typology.code != case.typology_code:
        case.typology_code = typology.code
        if case.sla_started_at is not None:
            country = await lifecycle.country_of(session, case.handling_partner_id)
            case.sla_due_at = sla.due_for(typology, country=country, start=case.sla_started_at)
            if case.sla_due_at > now:
                case.sla_state = "ON_TRACK"
                case.sla_at_risk_at = None
                case.sla_breached_at = None
    after = journal.snapshot(case)
    old, fresh = journal.changed(before, after)
    if not fresh:
        return case  # nothing changed: no new version, no noise
    case.version += 1
    case.updated_at = now
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=TimelineKind.UPDATED,
        topic="cases.updated",
        before=old,
        after=fresh,
        audit_before=before,
        audit_after=journal.snapshot(case),
        payload={"changed": case_events.changed_fields(fresh)},
    )
    return case


# --- state machine ----------------------------------------------------------------------
async def transition_case(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    expected_version: int,
    to_status: CaseStatus | str,
    note: str | None = None,
    reopen_window: timedelta = REOPEN_WINDOW,
) -> Case:
    """Move a case to another canonical status (a reopen included). Resolving goes through
    :func:`resolve_case`, which records the resolution; rejecting needs a note."""
    problems = Problems()
    target: CaseStatus | None = None
    try:
        target = CaseStatus(to_status)
    except ValueError:
        problems.add("toStatus", f"must be one of {', '.join(s.value for s in CaseStatus)}")
    if target is CaseStatus.RESOLVED:
        problems.add("toStatus", "use resolveCase: a resolution needs a code and a note")
    clean_note = rules.text(problems, "note", note, max_len=rules.NOTE_MAX, required=False)
    if target is CaseStatus.REJECTED and clean_note is None and not problems.items:
        problems.add("note", "is required to reject a case: say why")
    problems.raise_if_any()
    assert target is not None
    case = await journal.load_for_change(session, principal=principal, case_id=case_id)
    scopes.ensure_can_act_on(principal, case)
    journal.ensure_version(case, expected_version)
    before = journal.snapshot(case)
    now = utcnow()
    topic = await lifecycle.apply_status(
        session, case, target, now=now, reopen_window=reopen_window
    )
    if target is CaseStatus.REJECTED:
        case.resolution_code = ResolutionCode.REJECTED.value
        case.resolution_note = clean_note
    case.version += 1
    case.updated_at = now
    after = journal.snapshot(case)
    old, fresh = journal.changed(before, after)
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=TimelineKind.REOPENED if topic == "cases.reopened" else TimelineKind.STATUS_CHANGED,
        topic=topic,
        before=old,
        after=fresh,
        audit_before=before,
        audit_after=after,
        visibility=Visibility.CUSTOMER,
        note=clean_note,
        payload={"fromStatus": before["status"], "toStatus": case.status},
    )
    return case


async def resolve_case(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    expected_version: int,
    code: ResolutionCode | str,
    note: str,
    amount_refunded: Money | None = None,
) -> Case:
    """Resolve a case with a resolution code, a note and what was refunded (at most the
    amount in dispute, in its currency)."""
    case = await journal.load_for_change(session, principal=principal, case_id=case_id)
    scopes.ensure_can_act_on(principal, case)
    problems = Problems()
    chosen, clean_note, refund = rules.resolution(
        problems, code=code, note=note, refund=amount_refunded, dispute=_dispute_of(case)
    )
    problems.raise_if_any()
    assert chosen is not None
    journal.ensure_version(case, expected_version)
    before = journal.snapshot(case)
    now = utcnow()
    topic = await lifecycle.apply_status(session, case, CaseStatus.RESOLVED, now=now)
    case.resolution_code = chosen.value
    case.resolution_note = clean_note
    case.resolution_refund_minor = refund.amount if refund else None
    case.resolution_refund_currency = refund.currency if refund else None
    case.version += 1
    case.updated_at = now
    after = journal.snapshot(case)
    old, fresh = journal.changed(before, after)
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=TimelineKind.RESOLVED,
        topic=topic,
        before=old,
        after=fresh,
        audit_before=before,
        audit_after=after,
        visibility=Visibility.CUSTOMER,
        payload={
            "fromStatus": before["status"],
            "toStatus": case.status,
            "resolutionCode": chosen.value,
            "refund": wire.money(refund.amount, refund.currency) if refund else None,
        },
    )
    return case

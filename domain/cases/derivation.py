"""Derivation: the handling partner hands a case to another partner of the network.

The case shows as pending derivation (``pending_derivation_to``) until the target answers.
Accepting makes the target the handler: ownership, the SLA (a new window on the new
handler's calendar) and the OWN view follow it, while the originator and past handlers keep
seeing the case (their status rows stay). Rejecting leaves the handler as it was and keeps
the reason on the timeline.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from domain.cases import journal, lifecycle, rules, scopes
from domain.cases.models import Case, TimelineKind, Visibility
from domain.cases.states import FINISHED
from domain.partners.models import Partner
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, Forbidden, InvalidTransition, Problems, ValidationFailed
from domain.shared.principal import Principal
from domain.shared.time import utcnow


def _derivation_state(case: Case) -> dict[str, object]:
    return {
        "handling_partner_id": case.handling_partner_id,
        "pending_derivation_to": case.pending_derivation_to,
        "pending_derivation_reason": case.pending_derivation_reason,
        "sla_due_at": case.sla_due_at,
        "sla_state": case.sla_state,
    }


async def derive_case(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    expected_version: int,
    to_partner_id: uuid.UUID,
    reason: str,
) -> Case:
    """Ask another active partner to take the case over."""
    problems = Problems()
    clean_reason = rules.text(problems, "reason", reason, max_len=rules.REASON_MAX)
    problems.raise_if_any()
    case = await journal.load_for_change(session, principal=principal, case_id=case_id)
    scopes.ensure_can_act_on(principal, case)
    journal.ensure_version(case, expected_version)
    if case.status in FINISHED:
        raise InvalidTransition("Case", case.status, "DERIVED")
    if to_partner_id == case.handling_partner_id:
        raise ValidationFailed.on("to", "the case is already handled by this partner")
    target = await session.get(Partner, to_partner_id)
    if target is None or not target.active:
        raise ValidationFailed.on("to", "is not an active partner of the network")
    if case.pending_derivation_to is not None:
        raise Conflict(f"case {case.reference} is already waiting for another partner to accept it")
    before = _derivation_state(case)
    audit_before = journal.snapshot(case)
    now = utcnow()
    case.pending_derivation_to = target.id
    case.pending_derivation_reason = clean_reason
    case.pending_derivation_at = now
    case.pending_derivation_by = principal.subject
    case.version += 1
    case.updated_at = now
    old, fresh = journal.changed(before, _derivation_state(case))
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=TimelineKind.DERIVED,
        topic="cases.derived",
        before=old,
        after=fresh,
        audit_before=audit_before,
        audit_after=journal.snapshot(case),
        note=clean_reason,
        payload={
            "fromPartnerId": wire.global_id("Partner", case.handling_partner_id),
            "toPartnerId": wire.global_id("Partner", target.id),
        },
    )
    return case


async def _load_for_answer(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, expected_version: int
) -> Case:
    case = await journal.load_for_change(session, principal=principal, case_id=case_id)
    if case.pending_derivation_to is None:
        if not scopes.can_act_on(principal, case):
            raise Forbidden(f"case {case.reference} is not waiting for your partner")
        raise Conflict(f"case {case.reference} is not waiting for a partner to accept it")
    if not scopes.can_answer_derivation(principal, case):
        raise Forbidden(f"case {case.reference} is not waiting for your partner")
    journal.ensure_version(case, expected_version)
    return case


def _clear_pending(case: Case) -> None:
    case.pending_derivation_to = None
    case.pending_derivation_reason = None
    case.pending_derivation_at = None
    case.pending_derivation_by = None


async def accept_derivation(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    expected_version: int,
    note: str | None = None,
) -> Case:
    """The target partner takes the case: it becomes the handler, with a new SLA window."""
    problems = Problems()
    clean_note = rules.text(problems, "note", note, max_len=rules.NOTE_MAX, required=False)
    problems.raise_if_any()
    case = await _load_for_answer(session, principal, case_id, expected_version)
    target = await session.get(Partner, case.pending_derivation_to)
    if target is None or not target.active:
        raise ValidationFailed.on("caseId", "the partner this case was derived to is not active")
    previous = case.handling_partner_id
    before = _derivation_state(case)
    audit_before = journal.snapshot(case)
    now = utcnow()
    case.handling_partner_id = target.id
    _clear_pending(case)
    await journal.ensure_partner_row(session, case, previous)
    await journal.ensure_partner_row(session, case, target.id)
    await lifecycle.restart_sla(session, case, now)
    case.version += 1
    case.updated_at = now
    old, fresh = journal.changed(before, _derivation_state(case))
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=TimelineKind.DERIVATION_ACCEPTED,
        topic="cases.derivation_accepted",
        before=old,
        after=fresh,
        audit_before=audit_before,
        audit_after=journal.snapshot(case),
        visibility=Visibility.CUSTOMER,
        note=clean_note,
        payload={
            "fromPartnerId": wire.global_id("Partner", previous),
            "toPartnerId": wire.global_id("Partner", target.id),
        },
        extra_partners=[previous],
    )
    return case


async def reject_derivation(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    expected_version: int,
    reason: str,
) -> Case:
    """The target partner declines; the handler keeps the case and sees why."""
    problems = Problems()
    clean_reason = rules.text(problems, "reason", reason, max_len=rules.REASON_MAX)
    problems.raise_if_any()
    case = await _load_for_answer(session, principal, case_id, expected_version)
    declined_by = case.pending_derivation_to
    before = _derivation_state(case)
    audit_before = journal.snapshot(case)
    now = utcnow()
    _clear_pending(case)
    case.version += 1
    case.updated_at = now
    old, fresh = journal.changed(before, _derivation_state(case))
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=TimelineKind.DERIVATION_REJECTED,
        topic="cases.derivation_rejected",
        before=old,
        after=fresh,
        audit_before=audit_before,
        audit_after=journal.snapshot(case),
        note=clean_reason,
        payload={
            "fromPartnerId": wire.global_id("Partner", case.handling_partner_id),
            "toPartnerId": wire.maybe_global_id("Partner", declined_by),
        },
        extra_partners=[declined_by],
    )
    return case

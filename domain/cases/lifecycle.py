"""Moving a loaded case through the state machine, shared by people's transitions,
resolutions and partner platforms' reports."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import sla
from domain.cases.errors import CaseFinished
from domain.cases.models import Case, CaseTypology
from domain.cases.states import FINISHED, REOPEN_WINDOW, CaseStatus, ensure_transition, is_reopen
from domain.partners.models import Partner
from domain.shared.errors import Conflict


async def typology_of(session: AsyncSession, code: str) -> CaseTypology:
    """A case's typology (also when it has since been deactivated)."""
    stmt = sa.select(CaseTypology).where(col(CaseTypology.code) == code)
    return (await session.execute(stmt)).scalars().one()


async def country_of(session: AsyncSession, partner_id: object) -> str:
    partner = await session.get(Partner, partner_id)
    assert partner is not None  # a foreign key guarantees it
    return partner.country


async def restart_sla(session: AsyncSession, case: Case, now: datetime) -> None:
    """A new SLA window for the current handler, from ``now``."""
    typology = await typology_of(session, case.typology_code)
    country = await country_of(session, case.handling_partner_id)
    sla.start_window(case, typology=typology, country=country, now=now)


def ensure_not_finished(case: Case) -> None:
    if case.status in FINISHED:
        raise CaseFinished(case.reference, case.status)


def ensure_no_pending_derivation(case: Case, target: CaseStatus) -> None:
    if target in FINISHED and case.pending_derivation_to is not None:
        raise Conflict(
            f"case {case.reference} is waiting for another partner to accept it; it can be "
            "finished once that partner answers"
        )


async def apply_status(
    session: AsyncSession,
    case: Case,
    target: CaseStatus,
    *,
    now: datetime,
    reopen_window: timedelta = REOPEN_WINDOW,
) -> str:
    """Check and apply a move; returns the event topic that describes it
    (``cases.reopened``, ``cases.resolved`` or ``cases.status_changed``).

    The caller sets the resolution fields of a RESOLVED / REJECTED case and bumps the
    version. A reopen clears the resolution and starts a new SLA window.
    """
    source = CaseStatus(case.status)
    ensure_transition(
        source, target, resolved_at=case.resolved_at, now=now, reopen_window=reopen_window
    )
    ensure_no_pending_derivation(case, target)
    case.status = target.value
    case.status_changed_at = now
    if is_reopen(source, target):
        case.resolution_code = None
        case.resolution_note = None
        case.resolution_refund_minor = None
        case.resolution_refund_currency = None
        case.resolved_at = None
        case.closed_at = None
        await restart_sla(session, case, now)
        return "cases.reopened"
    if target in (CaseStatus.RESOLVED, CaseStatus.REJECTED):
        case.resolved_at = now
    if target is CaseStatus.CLOSED:
        case.closed_at = now
    if target not in FINISHED:
        sla.follow_status(case, target.value, now)
    return "cases.resolved" if target is CaseStatus.RESOLVED else "cases.status_changed"

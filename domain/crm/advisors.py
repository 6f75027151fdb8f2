"""A lender's advisors, its CRM settings, and automatic assignment (issue 12).

Assignment is atomic under concurrency: it locks the lender's :class:`CrmSettings` row
(PostgreSQL ``SELECT … FOR UPDATE``; SQLite writers begin ``IMMEDIATE`` and hold the only
write lock), picks one advisor and bumps the lender's ``assignment_seq`` in the same
transaction, so two leads captured at the same moment never read the same "next advisor".

- ``ROUND_ROBIN``: the active advisor on shift with the lowest ``last_assigned_seq`` (never
  assigned first; ties by id) — a strict rotation that a new advisor joins at the front.
- ``LOWEST_LOAD``: the active advisor on shift with the fewest open leads plus open
  opportunities; ties by the rotation above.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.crm import access, events
from domain.crm.models import (
    CLOSED_STAGES,
    OPEN_LEAD_STATUSES,
    AssignmentStrategy,
    CrmAdvisor,
    CrmLead,
    CrmOpportunity,
    CrmSettings,
)
from domain.customers import rules as contact_rules
from domain.partners.models import Partner, PartnerKind
from domain.shared import audit
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, NotFound, Problems
from domain.shared.models import table_of
from domain.shared.principal import Principal
from domain.shared.sql import for_update, insert_ignoring_conflicts
from domain.shared.text import clean_name
from domain.shared.time import utcnow


def advisor_snapshot(advisor: CrmAdvisor) -> dict[str, Any]:
    return {
        "subject": advisor.subject,
        "name": advisor.name,
        "supervisor_id": advisor.supervisor_id,
        "on_shift": advisor.on_shift,
        "active": advisor.active,
    }


async def lender(session: AsyncSession, partner_id: uuid.UUID) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None or partner.kind != PartnerKind.LENDER:
        raise NotFound("Lender", partner_id)
    return partner


async def settings_of(
    session: AsyncSession, partner_id: uuid.UUID, *, lock: bool = False
) -> CrmSettings:
    """The lender's settings (created with the defaults on first use); ``lock``: hold the
    row until the transaction ends (the assignment lock)."""
    await insert_ignoring_conflicts(
        session,
        table_of(CrmSettings),
        [
            {
                "partner_id": partner_id,
                "assignment_strategy": AssignmentStrategy.ROUND_ROBIN.value,
                "first_contact_hours": 2,
                "business_day_start": 9,
                "business_day_end": 18,
                "reminder_minutes": 60,
                "assignment_seq": 0,
                "updated_at": utcnow(),
                "version": 1,
            }
        ],
        index_elements=["partner_id"],
    )
    query = sa.select(CrmSettings).where(CrmSettings.partner_id == partner_id)  # type: ignore[arg-type]
    if lock:
        query = for_update(query, session)
    result = await session.execute(query.execution_options(populate_existing=True))
    return result.scalar_one()


async def update_settings(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID,
    assignment_strategy: str | None = None,
    first_contact_hours: int | None = None,
    reminder_minutes: int | None = None,
) -> CrmSettings:
    access.ensure_can_manage_advisors(principal, partner_id)
    await lender(session, partner_id)
    problems = Problems()
    if assignment_strategy is not None and assignment_strategy not in {
        s.value for s in AssignmentStrategy
    }:
        problems.add("assignmentStrategy", f"unknown strategy {assignment_strategy!r}")
    if first_contact_hours is not None and not 1 <= first_contact_hours <= 72:
        problems.add("firstContactHours", "must be 1-72 business hours")
    if reminder_minutes is not None and not 5 <= reminder_minutes <= 1440:
        problems.add("reminderMinutes", "must be 5-1440 minutes")
    problems.raise_if_any()
    settings = await settings_of(session, partner_id, lock=True)
    before = {
        "assignment_strategy": settings.assignment_strategy,
        "first_contact_hours": settings.first_contact_hours,
        "reminder_minutes": settings.reminder_minutes,
    }
    if assignment_strategy is not None:
        settings.assignment_strategy = assignment_strategy
    if first_contact_hours is not None:
        settings.first_contact_hours = first_contact_hours
    if reminder_minutes is not None:
        settings.reminder_minutes = reminder_minutes
    settings.updated_at = utcnow()
    settings.version += 1
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="crm.update_settings",
        entity_type="CrmSettings",
        entity_id=partner_id,
        before=before,
        after={
            "assignment_strategy": settings.assignment_strategy,
            "first_contact_hours": settings.first_contact_hours,
            "reminder_minutes": settings.reminder_minutes,
        },
    )
    return settings


def _emit_advisor(session: AsyncSession, advisor: CrmAdvisor) -> None:
    events.emit(
        session,
        "crm.advisor_changed",
        advisor.partner_id,
        {
            "advisorId": events.record_id(advisor.id),
            "partnerId": wire.global_id("Partner", advisor.partner_id),
            "onShift": advisor.on_shift,
            "active": advisor.active,
        },
        key=events.record_id(advisor.id),
    )


async def _supervisor(
    session: AsyncSession,
    partner_id: uuid.UUID,
    supervisor_id: uuid.UUID | None,
    problems: Problems,
) -> None:
    if supervisor_id is None:
        return
    supervisor = await session.get(CrmAdvisor, supervisor_id)
    if supervisor is None or supervisor.partner_id != partner_id:
        problems.add("supervisorId", "no such advisor of this lender")


async def add_advisor(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID,
    subject: str,
    name: str,
    email: str | None = None,
    supervisor_id: uuid.UUID | None = None,
    on_shift: bool = True,
) -> CrmAdvisor:
    """Add an advisor to the lender's roster (supervisors and administrators)."""
    access.ensure_can_manage_advisors(principal, partner_id)
    await lender(session, partner_id)
    problems = Problems()
    subject_text = (subject or "").strip()
    if not subject_text or len(subject_text) > 200:
        problems.add("subject", "is required (the subject of the advisor's token), 1-200")
    text = clean_name(name or "")
    if not text or len(text) > 200:
        problems.add("name", "is required, at most 200 characters")
    clean_email = contact_rules.email(problems, "email", email)
    await _supervisor(session, partner_id, supervisor_id, problems)
    problems.raise_if_any()
    taken = (
        await session.execute(
            sa.select(CrmAdvisor.id).where(  # type: ignore[call-overload]
                CrmAdvisor.partner_id == partner_id,
                CrmAdvisor.subject == subject_text,
            )
        )
    ).first()
    if taken is not None:
        raise Conflict("this lender already has an advisor with that subject")
    now = utcnow()
    advisor = CrmAdvisor(
        partner_id=partner_id,
        subject=subject_text,
        name=text,
        email=clean_email,
        supervisor_id=supervisor_id,
        on_shift=on_shift,
        created_at=now,
        updated_at=now,
    )
    session.add(advisor)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="crm.add_advisor",
        entity_type="CrmAdvisor",
        entity_id=advisor.id,
        after=advisor_snapshot(advisor),
    )
    _emit_advisor(session, advisor)
    return advisor


async def get_advisor(
    session: AsyncSession, *, principal: Principal, advisor_id: uuid.UUID
) -> CrmAdvisor:
    advisor = await session.get(CrmAdvisor, advisor_id)
    if advisor is None or not access.may_read(principal, advisor.partner_id):
        raise NotFound("Advisor", advisor_id)
    return advisor


async def update_advisor(
    session: AsyncSession,
    *,
    principal: Principal,
    advisor_id: uuid.UUID,
    on_shift: bool | None = None,
    active: bool | None = None,
    supervisor_id: uuid.UUID | None = None,
    clear_supervisor: bool = False,
) -> CrmAdvisor:
    """Change an advisor's shift, activity or supervisor. An advisor may set their own shift
    (on shift / away); everything else is the supervisors'."""
    advisor = await get_advisor(session, principal=principal, advisor_id=advisor_id)
    own_shift_only = (
        active is None
        and supervisor_id is None
        and not clear_supervisor
        and advisor.subject == principal.subject
        and access.lender_of(principal) == advisor.partner_id
    )
    if own_shift_only:
        access.ensure_can_write(principal, advisor.partner_id)
    else:
        access.ensure_can_manage_advisors(principal, advisor.partner_id)
    problems = Problems()
    if supervisor_id is not None:
        if supervisor_id == advisor.id:
            problems.add("supervisorId", "an advisor does not supervise themselves")
        await _supervisor(session, advisor.partner_id, supervisor_id, problems)
    problems.raise_if_any()
    before = advisor_snapshot(advisor)
    if on_shift is not None:
        advisor.on_shift = on_shift
    if active is not None:
        advisor.active = active
    if supervisor_id is not None:
        advisor.supervisor_id = supervisor_id
    elif clear_supervisor:
        advisor.supervisor_id = None
    after = advisor_snapshot(advisor)
    if after == before:
        return advisor
    advisor.updated_at = utcnow()
    advisor.version += 1
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="crm.update_advisor",
        entity_type="CrmAdvisor",
        entity_id=advisor.id,
        before=before,
        after=after,
    )
    _emit_advisor(session, advisor)
    return advisor


async def list_advisors(
    session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID | None = None
) -> list[CrmAdvisor]:
    access.ensure_can_read(principal)
    table = table_of(CrmAdvisor)
    query = sa.select(CrmAdvisor).where(access.visible(principal, table.c.partner_id))
    if partner_id is not None:
        query = query.where(table.c.partner_id == partner_id)
    query = query.order_by(table.c.partner_id, table.c.name, table.c.id).limit(500)
    return list((await session.execute(query)).scalars())


async def open_loads(
    session: AsyncSession, advisor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Open leads plus open opportunities of each advisor."""
    if not advisor_ids:
        return {}
    leads = table_of(CrmLead)
    opps = table_of(CrmOpportunity)
    loads = {advisor_id: 0 for advisor_id in advisor_ids}
    for table, condition in (
        (leads, leads.c.status.in_([s.value for s in OPEN_LEAD_STATUSES])),
        (opps, opps.c.stage.not_in([s.value for s in CLOSED_STAGES])),
    ):
        rows = await session.execute(
            sa.select(table.c.advisor_id, sa.func.count())
            .where(table.c.advisor_id.in_(list(advisor_ids)), condition)
            .group_by(table.c.advisor_id)
        )
        for advisor_id, count in rows.all():
            loads[advisor_id] += int(count)
    return loads


async def pick_advisor(
    session: AsyncSession, partner_id: uuid.UUID, *, excluding: uuid.UUID | None = None
) -> CrmAdvisor | None:
    """Choose the next advisor of the lender and count the assignment, under the lender's
    assignment lock (see the module doc). None when nobody is on shift."""
    settings = await settings_of(session, partner_id, lock=True)
    table = table_of(CrmAdvisor)
    query = sa.select(CrmAdvisor).where(
        table.c.partner_id == partner_id,
        table.c.active.is_(True),
        table.c.on_shift.is_(True),
    )
    if excluding is not None:
        query = query.where(table.c.id != excluding)
    candidates = list(
        (
            await session.execute(
                query.order_by(table.c.last_assigned_seq, table.c.id).execution_options(
                    populate_existing=True
                )
            )
        ).scalars()
    )
    if not candidates:
        return None
    chosen = candidates[0]
    if settings.assignment_strategy == AssignmentStrategy.LOWEST_LOAD.value:
        loads = await open_loads(session, [c.id for c in candidates])
        chosen = min(candidates, key=lambda c: (loads[c.id], c.last_assigned_seq, c.id))
    settings.assignment_seq += 1
    chosen.last_assigned_seq = settings.assignment_seq
    chosen.last_assigned_at = utcnow()
    chosen.assigned_count += 1
    await session.flush()
    return chosen

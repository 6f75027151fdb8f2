"""Tasks: something an advisor must do by a due time, linked to any record (issue 12).

A task is created by a person (``createTask``), by CRM itself (a new lead's first contact)
or by other parts of CRM (a no-show's call back, the assistant's handoff) with a
``source_ref`` that makes the creation idempotent. The periodic sweep (:func:`sweep_tasks`)
reminds the assignee once before the due time (the lender's ``reminder_minutes``) and
escalates once to the assignee's supervisor when it is overdue; each flag is set by a
conditional UPDATE, so two sweeps never do either twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.crm import access, events
from domain.crm.models import (
    CrmAdvisor,
    CrmLead,
    CrmOpportunity,
    CrmSettings,
    CrmTask,
    TaskKind,
    TaskStatus,
    TimelineKind,
)
from domain.crm.parties import Party
from domain.crm.timeline import add_timeline_item
from domain.customers.models import Customer
from domain.shared import audit
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, NotFound, Problems, ValidationFailed
from domain.shared.models import table_of
from domain.shared.pagination import Page, clamp_page_size, decode_cursor, encode_cursor
from domain.shared.principal import SYSTEM, Principal
from domain.shared.text import clean_name
from domain.shared.time import ensure_utc, isoformat, utcnow

_CURSOR_TAG = "crm.tasks.v1"
MAX_TITLE = 200
MAX_NOTE = 4000


def snapshot(task: CrmTask) -> dict[str, Any]:
    return {
        "title": task.title,
        "kind": task.kind,
        "status": task.status,
        "due_at": task.due_at,
        "assignee_id": task.assignee_id,
        "lead_id": task.lead_id,
        "customer_id": task.customer_id,
        "opportunity_id": task.opportunity_id,
        "case_id": task.case_id,
        "credit_id": task.credit_id,
        "application_id": task.application_id,
    }


def task_key(task_id: uuid.UUID) -> str:
    return events.record_id(task_id)


async def _advisor_of_partner(
    session: AsyncSession,
    partner_id: uuid.UUID,
    advisor_id: uuid.UUID,
    problems: Problems,
    field_name: str,
) -> CrmAdvisor | None:
    advisor = await session.get(CrmAdvisor, advisor_id)
    if advisor is None or advisor.partner_id != partner_id:
        problems.add(field_name, "no such advisor of this lender")
        return None
    if not advisor.active:
        problems.add(field_name, "this advisor is not active")
        return None
    return advisor


async def create_task(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID,
    title: str,
    due_at: datetime,
    kind: TaskKind | str = TaskKind.OTHER,
    note: str | None = None,
    assignee_id: uuid.UUID | None = None,
    lead_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    opportunity_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
    credit_id: uuid.UUID | None = None,
    application_id: uuid.UUID | None = None,
    source_ref: str | None = None,
) -> CrmTask:
    """Create a task of lender ``partner_id``. With ``source_ref``, a second call with the
    same ref returns the first task and changes nothing. Without an assignee, the linked
    lead's (or opportunity's) advisor takes it. Refused (VALIDATION, nothing written): an
    empty or too long title, a due time in the past, an assignee or linked record that is
    not this lender's."""
    access.ensure_can_write(principal, partner_id)
    if source_ref is not None:
        existing = (
            await session.execute(sa.select(CrmTask).where(CrmTask.source_ref == source_ref))  # type: ignore[arg-type]
        ).scalar_one_or_none()
        if existing is not None:
            if existing.partner_id != partner_id:
                raise Conflict("this source already made a task of another lender")
            return existing
    problems = Problems()
    text = clean_name(title or "")
    if not text:
        problems.add("title", "is required")
    elif len(text) > MAX_TITLE:
        problems.add("title", f"at most {MAX_TITLE} characters")
    body = (note or "").strip() or None
    if body is not None and len(body) > MAX_NOTE:
        problems.add("note", f"at most {MAX_NOTE} characters")
    try:
        kind_value = TaskKind(kind).value
    except ValueError:
        problems.add("kind", f"unknown kind {kind!r}")
        kind_value = TaskKind.OTHER.value
    now = utcnow()
    due = ensure_utc(due_at)
    if due <= now:
        problems.add("dueAt", "is in the past")
    lead: CrmLead | None = None
    if lead_id is not None:
        lead = await session.get(CrmLead, lead_id)
        if lead is None or lead.partner_id != partner_id:
            problems.add("leadId", "no such lead of this lender")
            lead = None
    opportunity: CrmOpportunity | None = None
    if opportunity_id is not None:
        opportunity = await session.get(CrmOpportunity, opportunity_id)
        if opportunity is None or opportunity.partner_id != partner_id:
            problems.add("opportunityId", "no such opportunity of this lender")
            opportunity = None
    if customer_id is not None and await session.get(Customer, customer_id) is None:
        problems.add("customerId", "no such customer")
    if assignee_id is None:
        assignee_id = (lead.advisor_id if lead else None) or (
            opportunity.advisor_id if opportunity else None
        )
    if assignee_id is not None:
        await _advisor_of_partner(session, partner_id, assignee_id, problems, "assigneeId")
    problems.raise_if_any()
    if lead is not None and customer_id is None and lead.customer_id is not None:
        customer_id = lead.customer_id
    task = CrmTask(
        partner_id=partner_id,
        kind=kind_value,
        title=text,
        note=body,
        due_at=due,
        assignee_id=assignee_id,
        lead_id=lead_id,
        customer_id=customer_id,
        opportunity_id=opportunity_id,
        case_id=case_id,
        credit_id=credit_id,
        application_id=application_id,
        source_ref=source_ref,
        created_by=principal.subject,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    await session.flush()
    subject: Party | None = (
        Party.lead(lead_id)
        if lead_id is not None
        else Party.customer(customer_id)
        if customer_id is not None
        else None
    )
    if subject is not None:
        await add_timeline_item(
            session,
            subject=subject,
            kind=TimelineKind.TASK,
            occurred_at=now,
            visible_to_customer=False,
            partner_id=partner_id,
            payload={
                "taskId": str(task.id),
                "kind": kind_value,
                "title": text,
                "dueAt": isoformat(due),
                "status": task.status,
            },
            source_ref=f"crm.task:{task.id}",
        )
    audit.record(
        session,
        principal=principal,
        action="crm.create_task",
        entity_type="CrmTask",
        entity_id=task.id,
        after=snapshot(task),
    )
    events.emit(
        session,
        "crm.task_created",
        partner_id,
        {
            "taskId": task_key(task.id),
            "partnerId": wire.global_id("Partner", partner_id),
            "kind": kind_value,
            "dueAt": wire.instant(due),
            "assigneeId": None if assignee_id is None else str(assignee_id),
        },
        key=task_key(task.id),
    )
    return task


async def get_task(session: AsyncSession, *, principal: Principal, task_id: uuid.UUID) -> CrmTask:
    task = await session.get(CrmTask, task_id)
    if task is None or not access.may_read(principal, task.partner_id):
        raise NotFound("CrmTask", task_id)
    return task


def _emit_changed(session: AsyncSession, task: CrmTask) -> None:
    events.emit(
        session,
        "crm.task_changed",
        task.partner_id,
        {
            "taskId": task_key(task.id),
            "partnerId": wire.global_id("Partner", task.partner_id),
            "status": task.status,
            "assigneeId": None if task.assignee_id is None else str(task.assignee_id),
        },
        key=task_key(task.id),
    )


async def complete_task(
    session: AsyncSession,
    *,
    principal: Principal,
    task_id: uuid.UUID,
    cancel: bool = False,
    version: int | None = None,
) -> CrmTask:
    task = await get_task(session, principal=principal, task_id=task_id)
    access.ensure_can_write(principal, task.partner_id)
    if version is not None and version != task.version:
        raise Conflict("the task changed since you read it", current_version=task.version)
    if task.status != TaskStatus.OPEN.value:
        from domain.shared.errors import InvalidTransition

        target = TaskStatus.CANCELLED if cancel else TaskStatus.DONE
        raise InvalidTransition("CrmTask", task.status, target.value)
    before = snapshot(task)
    now = utcnow()
    task.status = (TaskStatus.CANCELLED if cancel else TaskStatus.DONE).value
    task.completed_at = now
    task.updated_at = now
    task.version += 1
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="crm.cancel_task" if cancel else "crm.complete_task",
        entity_type="CrmTask",
        entity_id=task.id,
        before=before,
        after=snapshot(task),
    )
    _emit_changed(session, task)
    return task


async def reassign_task(
    session: AsyncSession,
    *,
    principal: Principal,
    task_id: uuid.UUID,
    assignee_id: uuid.UUID,
) -> CrmTask:
    task = await get_task(session, principal=principal, task_id=task_id)
    access.ensure_can_write(principal, task.partner_id)
    problems = Problems()
    await _advisor_of_partner(session, task.partner_id, assignee_id, problems, "assigneeId")
    problems.raise_if_any()
    if task.status != TaskStatus.OPEN.value:
        from domain.shared.errors import InvalidTransition

        raise InvalidTransition("CrmTask", task.status, "reassigned")
    if task.assignee_id == assignee_id:
        return task
    before = snapshot(task)
    task.assignee_id = assignee_id
    task.reminded_at = None
    task.updated_at = utcnow()
    task.version += 1
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="crm.reassign_task",
        entity_type="CrmTask",
        entity_id=task.id,
        before=before,
        after=snapshot(task),
    )
    _emit_changed(session, task)
    return task


def task_cursor(task: CrmTask) -> str:
    return encode_cursor(_CURSOR_TAG, isoformat(task.due_at), str(task.id))


async def my_tasks(
    session: AsyncSession,
    *,
    principal: Principal,
    statuses: Sequence[str] | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[CrmTask]:
    """The acting advisor's tasks, soonest due first (open ones by default)."""
    access.ensure_can_read(principal)
    size = clamp_page_size(first, default=20, maximum=100)
    wanted = list(statuses) if statuses else [TaskStatus.OPEN.value]
    for status in wanted:
        if status not in {s.value for s in TaskStatus}:
            raise ValidationFailed.on("status", f"unknown status {status!r}")
    advisor = await access.advisor_of(session, principal)
    if advisor is None:
        return Page(items=[], cursors=[], has_next=False, has_previous=False)
    table = table_of(CrmTask)
    query = sa.select(CrmTask).where(table.c.assignee_id == advisor.id, table.c.status.in_(wanted))
    if after is not None:
        at, key = decode_cursor(after, _CURSOR_TAG, 2)
        try:
            at_value = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
            key_value = uuid.UUID(str(key))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        query = query.where(
            sa.or_(
                table.c.due_at > at_value,
                sa.and_(table.c.due_at == at_value, table.c.id > key_value),
            )
        )
    query = query.order_by(table.c.due_at, table.c.id).limit(size + 1)
    rows = list((await session.execute(query)).scalars())
    items = rows[:size]
    return Page(
        items=items,
        cursors=[task_cursor(t) for t in items],
        has_next=len(rows) > size,
        has_previous=after is not None,
    )


@dataclass
class TaskSweep:
    reminded: list[uuid.UUID] = field(default_factory=list)
    escalated: list[uuid.UUID] = field(default_factory=list)


async def sweep_tasks(session: AsyncSession, *, limit: int = 500) -> TaskSweep:
    """Remind assignees of tasks due soon and escalate overdue ones, once each."""
    now = utcnow()
    out = TaskSweep()
    table = table_of(CrmTask)
    settings_t = table_of(CrmSettings)
    # Reminders: due within the lender's window (60 minutes without settings).
    rows = (
        await session.execute(
            sa.select(table.c.id, table.c.partner_id, table.c.due_at, table.c.assignee_id)
            .where(
                table.c.status == TaskStatus.OPEN.value,
                table.c.reminded_at.is_(None),
                table.c.due_at > now,
                table.c.due_at <= now + timedelta(days=2),
            )
            .order_by(table.c.due_at)
            .limit(limit)
        )
    ).all()
    windows: dict[uuid.UUID, int] = {}
    for row in rows:
        if row.partner_id not in windows:
            minutes = (
                await session.execute(
                    sa.select(settings_t.c.reminder_minutes).where(
                        settings_t.c.partner_id == row.partner_id
                    )
                )
            ).scalar_one_or_none()
            windows[row.partner_id] = 60 if minutes is None else int(minutes)
        if row.due_at - now > timedelta(minutes=windows[row.partner_id]):
            continue
        done = await session.execute(
            sa.update(table)
            .where(table.c.id == row.id, table.c.reminded_at.is_(None))
            .values(reminded_at=now)
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            continue
        out.reminded.append(row.id)
        events.emit(
            session,
            "crm.task_reminded",
            row.partner_id,
            {
                "taskId": task_key(row.id),
                "partnerId": wire.global_id("Partner", row.partner_id),
                "assigneeId": None if row.assignee_id is None else str(row.assignee_id),
                "dueAt": wire.instant(row.due_at),
            },
            key=task_key(row.id),
        )
    # Escalations: overdue, to the assignee's supervisor.
    advisors = table_of(CrmAdvisor)
    overdue = (
        await session.execute(
            sa.select(
                table.c.id,
                table.c.partner_id,
                table.c.due_at,
                table.c.assignee_id,
                advisors.c.supervisor_id,
            )
            .select_from(table.outerjoin(advisors, advisors.c.id == table.c.assignee_id))
            .where(
                table.c.status == TaskStatus.OPEN.value,
                table.c.escalated_at.is_(None),
                table.c.due_at <= now,
            )
            .order_by(table.c.due_at)
            .limit(limit)
        )
    ).all()
    for late in overdue:
        done = await session.execute(
            sa.update(table)
            .where(table.c.id == late.id, table.c.escalated_at.is_(None))
            .values(escalated_at=now, escalated_to=late.supervisor_id)
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            continue
        out.escalated.append(late.id)
        events.emit(
            session,
            "crm.task_escalated",
            late.partner_id,
            {
                "taskId": task_key(late.id),
                "partnerId": wire.global_id("Partner", late.partner_id),
                "assigneeId": None if late.assignee_id is None else str(late.assignee_id),
                "supervisorId": None if late.supervisor_id is None else str(late.supervisor_id),
                "dueAt": wire.instant(late.due_at),
            },
            key=task_key(late.id),
        )
    if out.reminded or out.escalated:
        audit.record(
            session,
            principal=SYSTEM,
            action="crm.sweep_tasks",
            entity_type="CrmTask",
            entity_id="sweep",
            after={"reminded": out.reminded, "escalated": out.escalated},
        )
    return out

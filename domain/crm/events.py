"""CRM's events: topics, keys and payload schemas (see domain/shared/event_schemas.py).

Every event goes to the lender (the lead's, opportunity's or task's partner). Ids and figures
only: never a lead's name, contact, national ID or a note's text.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.crm.models import Product, Stage, TaskKind, TaskStatus
from domain.shared import outbox
from domain.shared.event_schemas import (
    EventSpec,
    boolean,
    enum,
    nullable,
    obj,
    ref,
    string,
)

_AUDIENCE = "The lender the record belongs to."
#: CRM's own records by their plain ids (``Lead``, ``Opportunity``, ``CrmTask`` and the
#: advisors are shown with these ids in the API's ``rawId`` fields).
_LEAD_ID = ref("Uuid")
_OPPORTUNITY_ID = ref("Uuid")
_TASK_ID = ref("Uuid")
_ADVISOR = ref("Uuid")
_LEAD = {"leadId": _LEAD_ID, "partnerId": ref("PartnerId")}
_OPPORTUNITY = {"opportunityId": _OPPORTUNITY_ID, "partnerId": ref("PartnerId")}
_TASK = {"taskId": _TASK_ID, "partnerId": ref("PartnerId")}

EVENTS = (
    EventSpec(
        topic="crm.lead_captured",
        summary=(
            "A person filled the landing page's or the calculator's form: a new lead, or"
            " (duplicate true) an existing lead or customer asked again."
        ),
        key="The lead's global id (or the customer's when the person already is one).",
        audience=_AUDIENCE,
        payload=obj(
            "The lead (null when the capture was added to a customer's timeline).",
            {
                "leadId": nullable(_LEAD_ID),
                "customerId": nullable(ref("CustomerId")),
                "partnerId": ref("PartnerId"),
                "product": enum(Product),
                "utmCampaign": nullable(string()),
                "duplicate": boolean(),
            },
        ),
    ),
    EventSpec(
        topic="crm.lead_assigned",
        summary="A lead was given to an advisor (automatically, by reassignment or by hand).",
        key="The lead's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The lead and its advisors.",
            {
                **_LEAD,
                "advisorId": _ADVISOR,
                "previousAdvisorId": nullable(_ADVISOR),
                "reason": enum(["AUTOMATIC", "ADVISOR_AWAY", "MANUAL"]),
            },
        ),
    ),
    EventSpec(
        topic="crm.lead_converted",
        summary="A lead became a customer; its history now shows on the customer.",
        key="The lead's global id.",
        audience=_AUDIENCE,
        payload=obj("The lead and the customer.", {**_LEAD, "customerId": ref("CustomerId")}),
    ),
    EventSpec(
        topic="crm.opportunity_created",
        summary="An opportunity was opened for a lead or a customer.",
        key="The opportunity's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The new opportunity.",
            {
                **_OPPORTUNITY,
                "leadId": nullable(_LEAD_ID),
                "customerId": nullable(ref("CustomerId")),
                "product": enum(Product),
                "stage": enum(Stage),
                "amount": nullable(ref("Money")),
                "advisorId": nullable(_ADVISOR),
            },
        ),
    ),
    EventSpec(
        topic="crm.opportunity_stage_changed",
        summary="An opportunity moved to another stage (by a person or by an application's"
        " or a credit's event).",
        key="The opportunity's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The opportunity and its stages.",
            {
                **_OPPORTUNITY,
                "fromStage": enum(Stage),
                "toStage": enum(Stage),
                "changedAt": ref("DateTime"),
            },
        ),
    ),
    EventSpec(
        topic="crm.task_created",
        summary="A task was created for an advisor.",
        key="The task's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The task.",
            {
                **_TASK,
                "kind": enum(TaskKind),
                "dueAt": ref("DateTime"),
                "assigneeId": nullable(_ADVISOR),
            },
        ),
    ),
    EventSpec(
        topic="crm.task_changed",
        summary="A task was completed, cancelled or given to another advisor.",
        key="The task's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The task's status and assignee.",
            {**_TASK, "status": enum(TaskStatus), "assigneeId": nullable(_ADVISOR)},
        ),
    ),
    EventSpec(
        topic="crm.task_reminded",
        summary="A task's due time is near: its assignee is reminded (once).",
        key="The task's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The task.", {**_TASK, "assigneeId": nullable(_ADVISOR), "dueAt": ref("DateTime")}
        ),
    ),
    EventSpec(
        topic="crm.task_escalated",
        summary="A task is overdue: escalated to its assignee's supervisor (once).",
        key="The task's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "The task and whom it was escalated to.",
            {
                **_TASK,
                "assigneeId": nullable(_ADVISOR),
                "supervisorId": nullable(_ADVISOR),
                "dueAt": ref("DateTime"),
            },
        ),
    ),
    EventSpec(
        topic="crm.advisor_changed",
        summary="An advisor was added or changed (shift, active, supervisor).",
        key="The advisor's id.",
        audience=_AUDIENCE,
        payload=obj(
            "The advisor.",
            {
                "advisorId": _ADVISOR,
                "partnerId": ref("PartnerId"),
                "onShift": boolean(),
                "active": boolean(),
            },
        ),
    ),
)


def record_id(value: uuid.UUID) -> str:
    """How events name a CRM record (lead, opportunity, task, advisor)."""
    return str(value)


def emit(
    session: AsyncSession,
    topic: str,
    partner_id: uuid.UUID,
    payload: dict[str, Any],
    *,
    key: str,
) -> None:
    outbox.add(session, topic, payload, partner_ids=[partner_id], key=key)

"""CRM jobs (issue 12).

- ``crm.timeline``: other domains' events (cases, applications, credits, payments) on the
  customer's timeline, once per event id, and the opportunities they move
  (:mod:`domain.crm.feed`).
- ``crm.sweep_tasks``: every minute, reminds assignees of tasks due soon and escalates
  overdue ones to the assignee's supervisor (once each).
- ``crm.reassign_away``: every 5 minutes, open leads (and their tasks) of advisors away or
  inactive go to an advisor on shift.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from app.db import transaction
from domain.crm import feed, leads, tasks
from domain.shared.outbox import Event
from workers.registry import RetryPolicy, consumer, job

log = logging.getLogger("trama.workers.crm")


@consumer("crm.timeline", *feed.TOPICS)
async def timeline(session: Any, event: Event) -> None:
    await feed.record_event(session, event)


@job("crm.sweep_tasks", every=timedelta(minutes=1), retry=RetryPolicy(max_retries=3))
async def sweep_tasks() -> dict[str, Any]:
    async with transaction() as session:
        done = await tasks.sweep_tasks(session)
    if done.reminded or done.escalated:
        log.info("crm tasks: %d reminded, %d escalated", len(done.reminded), len(done.escalated))
    return {"reminded": len(done.reminded), "escalated": len(done.escalated)}


@job("crm.reassign_away", every=timedelta(minutes=5), retry=RetryPolicy(max_retries=3))
async def reassign_away() -> dict[str, Any]:
    async with transaction() as session:
        moved = await leads.reassign_from_away(session)
    if moved:
        log.info("crm: %d leads of advisors away reassigned", len(moved))
    return {"moved": len(moved)}

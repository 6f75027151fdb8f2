"""Every change to an application, in one place: the row's version, its timeline entry,
the audit record and the outbox event, in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.origination import events, states
from domain.origination.models import ApplicationEvent, ApplicationState, CreditApplication
from domain.shared import audit
from domain.shared.errors import Conflict, NotFound
from domain.shared.principal import Principal
from domain.shared.sql import for_update
from domain.shared.time import utcnow

#: Fields an audit snapshot of an application shows.
SNAPSHOT_FIELDS = (
    "state",
    "version",
    "vehicle_id",
    "requested_principal",
    "down_payment",
    "currency",
    "term_months",
    "grade",
    "decision_id",
    "decision_outcome",
    "due_at",
    "decided_at",
    "credit_id",
)


def snapshot(app: CreditApplication) -> dict[str, Any]:
    return {name: getattr(app, name) for name in SNAPSHOT_FIELDS}


async def load_for_change(session: AsyncSession, application_id: uuid.UUID) -> CreditApplication:
    stmt = for_update(
        sa.select(CreditApplication).where(col(CreditApplication.id) == application_id), session
    )
    app = (await session.execute(stmt)).scalars().first()
    if app is None:
        raise NotFound("CreditApplication", application_id)
    return app


def ensure_version(app: CreditApplication, expected: int | None) -> None:
    if expected is not None and expected != app.version:
        raise Conflict(
            f"application {app.reference} changed (version {app.version}, you had {expected})",
            current_version=app.version,
        )


async def _next_seq(session: AsyncSession, application_id: uuid.UUID) -> int:
    last = await session.scalar(
        sa.select(sa.func.max(col(ApplicationEvent.seq))).where(
            col(ApplicationEvent.application_id) == application_id
        )
    )
    return int(last or 0) + 1


async def record(
    session: AsyncSession,
    *,
    principal: Principal,
    app: CreditApplication,
    kind: str,
    topic: str | None,
    before: dict[str, Any] | None,
    from_state: str | None = None,
    note: str | None = None,
    public: bool = True,
    details: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    bump: bool = True,
) -> ApplicationEvent:
    """Bump the version (not for a new row), write the timeline entry, the audit record
    and the event."""
    now = utcnow()
    if bump:
        app.version += 1
        app.updated_at = now
    entry = ApplicationEvent(
        application_id=app.id,
        seq=await _next_seq(session, app.id),
        at=now,
        actor_subject=principal.subject,
        kind=kind,
        from_state=from_state,
        to_state=app.state,
        public=public,
        details=audit.jsonable(details) if details else None,
        note=note,
    )
    session.add(entry)
    audit.record(
        session,
        principal=principal,
        action=f"application.{kind}",
        entity_type="CreditApplication",
        entity_id=app.id,
        before=before,
        after={**snapshot(app), **({"note": note} if note else {}), **(details or {})},
    )
    if topic is not None:
        events.emit(session, topic, app, from_state=from_state, **(payload or {}))
    return entry


async def move(
    session: AsyncSession,
    *,
    principal: Principal,
    app: CreditApplication,
    to: ApplicationState,
    kind: str | None = None,
    topic: str | None = None,
    note: str | None = None,
    details: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
) -> ApplicationEvent:
    """A state change by the rules of :mod:`domain.origination.states`."""
    states.ensure_move(app.state, to.value)
    before = snapshot(app)
    from_state = app.state
    app.state = to.value
    return await record(
        session,
        principal=principal,
        app=app,
        kind=kind or to.value.lower(),
        topic=topic or events.TOPIC_OF_STATE[to],
        before=before,
        from_state=from_state,
        note=note,
        details=details,
        payload=payload,
    )

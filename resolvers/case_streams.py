"""Mass resolution (request, read, follow) and the partner case event stream.

``resolveCases`` records the request in one transaction and returns the job at once. The
job is started through the outbox, not by the resolver: the request commits with a
``cases.bulk_resolution_requested`` event, which the workers' ``cases.start_bulk`` consumer
turns into the ``cases.resolve_bulk`` job (``workers/actors/cases.py``). So a request is
never lost between the commit and a send, and a job is never started twice by the API; a
job that stalls is resumed by the workers' sweep. Asking again with the same request
returns the same job.

``bulkResolutionProgress`` reads the job's row each time its ``cases.bulk_progress`` event
arrives (or every few seconds, when this process has no event hub or an event is missed),
and ends once the job is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.db import read_session
from domain.cases import bulk as bulk_domain
from domain.cases import scopes
from domain.cases.models import BulkStatus
from domain.shared import outbox
from domain.shared.errors import NotFound, Problems, ValidationFailed
from domain.shared.event_schemas import parse_global_id
from resolvers.cases import to_domain_filter
from resolvers.context import principal_of
from resolvers.errors import mutate
from resolvers.events import _parse_after, _stream
from resolvers.ids import decode_node_id, encode_node_id
from resolvers.loaders import Loaders
from schema.case_bulk import (
    BulkResolution,
    CaseEvent,
    CaseEventView,
    ResolveCasesInput,
    ResolveCasesPayload,
    ResolveCasesSuccess,
)

#: How often a progress subscription re-reads the job when no event woke it.
PROGRESS_POLL_SECONDS = 2.0
_CASE_TOPICS = ("cases.*",)


def _case_ids(values: list[strawberry.ID] | None) -> list[uuid.UUID] | None:
    if values is None:
        return None
    problems = Problems()
    out: list[uuid.UUID] = []
    for index, value in enumerate(values):
        key = decode_node_id(value, "Case")
        if key is None:
            problems.add(f"ids[{index}]", "is not the id of a Case")
        else:
            out.append(key)
    problems.raise_if_any()
    return out


async def resolve_cases(info: Info, input: ResolveCasesInput) -> ResolveCasesPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> ResolveCasesSuccess:
        scopes.ensure_can_write(principal)
        scopes.ensure_can_resolve_in_bulk(principal)  # before any argument is judged
        job = await bulk_domain.request_bulk_resolution(
            session,
            principal=principal,
            code=input.code.value,
            note=input.note,
            ids=_case_ids(input.ids),
            filter=to_domain_filter(input.filter),
            view=input.view.value if input.view is not None else None,
        )
        return ResolveCasesSuccess(job=BulkResolution.from_model(job))

    return await mutate(ResolveCasesPayload, work)


def _bulk_key(id: strawberry.ID) -> uuid.UUID | None:
    return decode_node_id(id, "BulkResolution")


async def bulk_resolution(info: Info, id: strawberry.ID) -> BulkResolution | None:
    principal = principal_of(info)
    scopes.ensure_can_read(principal)
    key = _bulk_key(id)
    if key is None:
        return None
    async with read_session() as session:
        try:
            job = await bulk_domain.get_bulk_resolution(session, principal=principal, bulk_id=key)
        except NotFound:
            return None
    return BulkResolution.from_model(job)


async def _wake_on_progress(info: Info, key: uuid.UUID, wake: asyncio.Event) -> None:
    async for _ in _stream(
        info,
        # Anyone allowed to read the job may follow it: the event is only a signal, the
        # state comes from the checked read.
        scope=outbox.EventScope(None),
        topics=(bulk_domain.PROGRESS_TOPIC,),
        after=None,
        key=encode_node_id("BulkResolution", key),
    ):
        wake.set()


async def bulk_resolution_progress(
    info: Info, id: strawberry.ID
) -> AsyncGenerator[BulkResolution, None]:
    """The job each time its progress changes, until it is done."""
    principal = principal_of(info)
    scopes.ensure_can_read(principal)
    key = _bulk_key(id)
    if key is None:
        raise ValidationFailed.on("id", "is not the id of a BulkResolution")
    wake = asyncio.Event()
    pump: asyncio.Task[None] | None = None
    backbone = info.context.backbone
    if backbone is not None and getattr(backbone, "hub", None) is not None:
        pump = asyncio.create_task(_wake_on_progress(info, key, wake))
        await asyncio.sleep(0)  # subscribed before the first read: no event falls between
    last: tuple[Any, ...] | None = None
    try:
        while True:
            wake.clear()
            async with read_session() as session:
                job = await bulk_domain.get_bulk_resolution(
                    session, principal=principal, bulk_id=key
                )
            state = (job.status, job.processed, job.total)
            if state != last:
                last = state
                yield BulkResolution.from_model(job)
            if job.status in (BulkStatus.DONE.value, BulkStatus.FAILED.value):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), PROGRESS_POLL_SECONDS)
    finally:
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump


# --- the partner case stream ------------------------------------------------------------
def _case_of(event: outbox.Event) -> uuid.UUID | None:
    raw = event.payload.get("caseId") if isinstance(event.payload, dict) else None
    return parse_global_id(raw, "Case")


def _is_own(event: outbox.Event, partner: str) -> bool:
    """``partner``: the global id of the caller's partner."""
    payload = event.payload
    return partner in (payload.get("handlingPartnerId"), payload.get("pendingDerivationTo"))


async def case_events(
    info: Info,
    view: CaseEventView = CaseEventView.ECOSYSTEM,
    after: str | None = None,
) -> AsyncGenerator[CaseEvent, None]:
    """Events of the cases the caller's partner is involved in (its audience), or only of
    those it handles (OWN), replayed after ``after`` and then live."""
    principal = principal_of(info)
    scopes.ensure_can_read(principal)
    scope = outbox.scope_for(principal)  # partner staff and systems, and admins
    position = _parse_after(after)
    partner = encode_node_id("Partner", principal.partner_id) if principal.partner_id else None
    async for event in _stream(info, scope=scope, topics=_CASE_TOPICS, after=position):
        case_id = _case_of(event)
        if case_id is None:
            continue  # a job's progress, a homologation change: not a case's event
        if view is CaseEventView.OWN and partner is not None and not _is_own(event, partner):
            continue
        # Nested fields read the case as it is now, not as a previous event left the cache.
        info.context.loaders = Loaders()
        yield CaseEvent.from_event(event, case_id)

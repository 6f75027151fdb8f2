"""What every change to a case writes: a timeline entry, an audit record, an outbox event.

Also the shared steps of the services: loading a case for a change (row lock, visibility,
optimistic concurrency) and the event audience (every involved partner).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import scopes
from domain.cases.errors import CaseNotFound
from domain.cases.models import Case, CaseEvent, CasePartnerStatus, TimelineKind, Visibility
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import Principal
from domain.shared.sql import for_update
from domain.shared.time import utcnow

#: Fields of a case in audit snapshots (the timeline keeps only what changed).
SNAPSHOT_FIELDS = (
    "reference",
    "customer_id",
    "card_last4",
    "card_token",
    "typology_code",
    "originating_partner_id",
    "handling_partner_id",
    "pending_derivation_to",
    "pending_derivation_reason",
    "channel",
    "priority",
    "status",
    "description",
    "amount_in_dispute_minor",
    "amount_in_dispute_currency",
    "sla_due_at",
    "sla_state",
    "escalated_to",
    "resolution_code",
    "resolution_note",
    "resolution_refund_minor",
    "resolution_refund_currency",
    "resolved_at",
    "closed_at",
    "version",
)


def snapshot(case: Case) -> dict[str, Any]:
    return {name: getattr(case, name) for name in SNAPSHOT_FIELDS}


def changed(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value differs (``version`` aside)."""
    keys = [k for k in after if k != "version" and before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


# --- loading ----------------------------------------------------------------------------
async def load_case(session: AsyncSession, case_id: uuid.UUID, *, lock: bool) -> Case | None:
    stmt = sa.select(Case).where(col(Case.id) == case_id)
    if lock:
        stmt = for_update(stmt, session)
    stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalars().first()


async def load_for_change(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID
) -> Case:
    """The case, row-locked, if the principal may see it (else :class:`CaseNotFound`)."""
    scopes.ensure_can_write(principal)
    case = await load_case(session, case_id, lock=True)
    if case is None or not await scopes.is_visible(session, principal, case.id):
        raise CaseNotFound(case_id)
    return case


def ensure_version(case: Case, expected_version: int) -> None:
    if case.version != expected_version:
        raise Conflict(
            f"case {case.reference} changed since version {expected_version}; it is now at "
            f"version {case.version}",
            current_version=case.version,
        )


# --- audience ---------------------------------------------------------------------------
async def involved_partners(session: AsyncSession, case: Case) -> set[uuid.UUID]:
    """Every partner the case concerns: originator, handler, derivation target, and every
    partner with a status row (past handlers, partners it was synced to)."""
    rows = await session.execute(
        sa.select(col(CasePartnerStatus.partner_id)).where(
            col(CasePartnerStatus.case_id) == case.id
        )
    )
    out = set(rows.scalars().all())
    out.update(
        p
        for p in (case.originating_partner_id, case.handling_partner_id, case.pending_derivation_to)
        if p is not None
    )
    return out


async def ensure_partner_row(
    session: AsyncSession, case: Case, partner_id: uuid.UUID, *, external_ref: str | None = None
) -> CasePartnerStatus:
    """The partner's status row on the case, created when the partner becomes involved."""
    row = await session.get(CasePartnerStatus, (case.id, partner_id))
    if row is None:
        row = CasePartnerStatus(case_id=case.id, partner_id=partner_id, external_ref=external_ref)
        session.add(row)
    elif external_ref and not row.external_ref:
        row.external_ref = external_ref
        row.updated_at = utcnow()
    return row


def event_fields(
    *,
    case_id: uuid.UUID,
    reference: str,
    version: int,
    status: str,
    typology_code: str,
    originating_partner_id: uuid.UUID,
    handling_partner_id: uuid.UUID,
    pending_derivation_to: uuid.UUID | None,
) -> dict[str, Any]:
    """What every case event carries (``domain/cases/events.py``): ids and states in the
    API's conventions, no personal data."""
    return {
        "caseId": wire.global_id("Case", case_id),
        "reference": reference,
        "version": version,
        "status": status,
        "typologyCode": typology_code,
        "originatingPartnerId": wire.global_id("Partner", originating_partner_id),
        "handlingPartnerId": wire.global_id("Partner", handling_partner_id),
        "pendingDerivationTo": wire.maybe_global_id("Partner", pending_derivation_to),
    }


def event_payload(case: Case) -> dict[str, Any]:
    return event_fields(
        case_id=case.id,
        reference=case.reference,
        version=case.version,
        status=case.status,
        typology_code=case.typology_code,
        originating_partner_id=case.originating_partner_id,
        handling_partner_id=case.handling_partner_id,
        pending_derivation_to=case.pending_derivation_to,
    )


# --- recording --------------------------------------------------------------------------
async def record(
    session: AsyncSession,
    *,
    principal: Principal,
    case: Case,
    kind: TimelineKind,
    topic: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    visibility: Visibility = Visibility.INTERNAL,
    note: str | None = None,
    payload: Mapping[str, Any] | None = None,
    audit_before: Mapping[str, Any] | None = None,
    audit_after: Mapping[str, Any] | None = None,
    extra_partners: Iterable[uuid.UUID | None] = (),
) -> CaseEvent:
    """Append a timeline entry, queue an audit record and add an outbox event.

    ``topic`` is also the audit action. The audit record gets ``audit_before`` /
    ``audit_after`` (full snapshots) when given, else the timeline's before/after.
    """
    case.timeline_seq += 1
    entry = CaseEvent(
        case_id=case.id,
        seq=case.timeline_seq,
        at=utcnow(),
        actor_subject=principal.subject,
        actor_partner_id=principal.partner_id,
        kind=kind.value,
        visibility=visibility.value,
        before=audit.jsonable(dict(before)) if before is not None else None,
        after=audit.jsonable(dict(after)) if after is not None else None,
        note=note,
    )
    session.add(entry)
    audit.record(
        session,
        principal=principal,
        action=topic,
        entity_type="Case",
        entity_id=case.id,
        before=audit_before if audit_before is not None else before,
        after=audit_after if audit_after is not None else after,
    )
    partners = await involved_partners(session, case)
    partners.update(p for p in extra_partners if p is not None)
    if principal.partner_id is not None:
        partners.add(principal.partner_id)
    outbox.add(
        session,
        topic,
        {**event_payload(case), "seq": entry.seq, **audit.jsonable(dict(payload or {}))},
        partner_ids=partners,
        key=wire.global_id("Case", case.id),
    )
    return entry


# --- set-based changes ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BulkEntry:
    """One case's share of a set-based change, built from ``UPDATE … RETURNING`` rows
    that already bumped ``version`` and ``timeline_seq``."""

    case_id: uuid.UUID
    seq: int  # the case's ``timeline_seq`` after the update
    #: Partners named on the row (originator, handler, derivation target); partners with a
    #: status row are added by :func:`record_many`.
    partners: frozenset[uuid.UUID]
    payload: Mapping[str, Any]
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    note: str | None = None


async def involved_partners_of(
    session: AsyncSession, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Partners with a status row on each case (one query)."""
    table = table_of(CasePartnerStatus)
    out: dict[uuid.UUID, set[uuid.UUID]] = {cid: set() for cid in case_ids}
    if case_ids:
        rows = await session.execute(
            sa.select(table.c.case_id, table.c.partner_id).where(table.c.case_id.in_(case_ids))
        )
        for case_id, partner_id in rows.all():
            out[case_id].add(partner_id)
    return out


async def record_many(
    session: AsyncSession,
    *,
    principal: Principal,
    kind: TimelineKind,
    topic: str,
    entries: Sequence[BulkEntry],
    at: datetime,
    visibility: Visibility = Visibility.INTERNAL,
    audit_entity_type: str,
    audit_entity_id: str,
    audit_after: Mapping[str, Any],
) -> None:
    """:func:`record` for many cases at once (mass resolution, the SLA sweep): one
    ``INSERT`` of timeline entries, one of outbox events, and one audit record for the
    batch. Three statements whatever the batch size (plus one to find the audiences)."""
    if not entries:
        return
    involved = await involved_partners_of(session, [e.case_id for e in entries])
    timeline_rows: list[dict[str, Any]] = []
    outbox_rows: list[dict[str, Any]] = []
    for entry in entries:
        timeline_rows.append(
            {
                "id": uuid7(),
                "case_id": entry.case_id,
                "seq": entry.seq,
                "at": at,
                "actor_subject": principal.subject,
                "actor_partner_id": principal.partner_id,
                "kind": kind.value,
                "visibility": visibility.value,
                "before": audit.jsonable(dict(entry.before)) if entry.before is not None else None,
                "after": audit.jsonable(dict(entry.after)) if entry.after is not None else None,
                "note": entry.note,
            }
        )
        partners = set(entry.partners) | involved[entry.case_id]
        if principal.partner_id is not None:
            partners.add(principal.partner_id)
        outbox_rows.append(
            {
                "id": uuid7(),
                "topic": topic,
                "key": wire.global_id("Case", entry.case_id),
                "payload": {**audit.jsonable(dict(entry.payload)), "seq": entry.seq},
                "audience": outbox.audience_of(partners),
                "created_at": at,
            }
        )
    await session.execute(sa.insert(table_of(CaseEvent)), timeline_rows)
    await session.execute(sa.insert(table_of(outbox.OutboxEvent)), outbox_rows)
    session.info[outbox.ADDED_FLAG] = True
    audit.record(
        session,
        principal=principal,
        action=topic,
        entity_type=audit_entity_type,
        entity_id=audit_entity_id,
        after=audit_after,
    )

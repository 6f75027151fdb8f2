"""Mass resolution: resolve many cases with one code and note, as a job, set-based.

:func:`request_bulk_resolution` records the request (by ids, or by a search filter over a
view) and returns the job at once; the same principal sending the same request again gets
the same job back, so nothing is done twice. :func:`process_bulk_batch` does one batch in
the caller's transaction — the worker calls it until the job is done:

1. the next ``batch_size`` candidates after the last one processed (ids in order; or the
   cases the view and filter select, opened before the request, by id);
2. one locked read of those cases with the view's scope and :func:`scopes.actable_by`;
3. one ``UPDATE … RETURNING`` that resolves those still actable, RESOLVABLE and not waiting
   for a derivation (the same conditions again in its WHERE);
4. :func:`journal.record_many`: timeline entries, ``cases.resolved`` events to every
   involved partner, one audit record for the batch;
5. one outcome row per candidate (RESOLVED, SKIPPED_STATE, FORBIDDEN, NOT_FOUND — a case
   outside the view is NOT_FOUND, whether or not it exists), the job's counters, and a
   ``cases.bulk_progress`` event for the requester's partner.

The job acts with the roles and scopes the requester had when asking (kept with the job).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.cases import journal, rules, scopes, search
from domain.cases.bulk_reads import (
    BulkItemView,
    get_bulk_resolution,
    list_bulk_items,
    stalled_bulks,
)
from domain.cases.models import (
    BulkOutcome,
    BulkResolution,
    BulkResolutionItem,
    BulkStatus,
    Case,
    TimelineKind,
    Visibility,
)
from domain.cases.scopes import CaseView
from domain.cases.states import RESOLVABLE, CaseStatus
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import NotFound, Problems, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import Principal, Role, Scope
from domain.shared.sql import dialect_of, for_update, insert_ignoring_conflicts
from domain.shared.time import utcnow
from domain.shared.types import UUIDType

__all__ = [
    "MAX_IDS",
    "PROGRESS_TOPIC",
    "REQUESTED_TOPIC",
    "BulkItemView",
    "BulkProgress",
    "actor_of",
    "get_bulk_resolution",
    "list_bulk_items",
    "process_bulk_batch",
    "progress_of",
    "request_bulk_resolution",
    "stalled_bulks",
]

#: Most ids one request may name (a larger selection is a filter).
MAX_IDS = 10_000
DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 5_000
REQUESTED_TOPIC = "cases.bulk_resolution_requested"
PROGRESS_TOPIC = "cases.bulk_progress"
_RESOLVABLE = sorted(s.value for s in RESOLVABLE)


@dataclass(frozen=True, slots=True)
class BulkProgress:
    bulk_id: uuid.UUID
    status: BulkStatus
    total: int
    processed: int
    resolved: int
    skipped: int
    forbidden: int
    not_found: int
    #: Cases this call handled (0 when the job was already finished).
    batch: int = 0

    @property
    def finished(self) -> bool:
        return self.status in (BulkStatus.DONE, BulkStatus.FAILED)

    def to_json(self) -> dict[str, Any]:
        return {
            "bulk_id": str(self.bulk_id),
            "status": self.status.value,
            "total": self.total,
            "processed": self.processed,
            "resolved": self.resolved,
            "skipped": self.skipped,
            "forbidden": self.forbidden,
            "not_found": self.not_found,
        }

    def to_event(self) -> dict[str, Any]:
        """The ``cases.bulk_progress`` payload (``domain/cases/events.py``)."""
        return {
            "bulkId": wire.global_id("BulkResolution", self.bulk_id),
            "status": self.status.value,
            "total": self.total,
            "processed": self.processed,
            "resolved": self.resolved,
            "skipped": self.skipped,
            "forbidden": self.forbidden,
            "notFound": self.not_found,
        }


def progress_of(bulk: BulkResolution, batch: int = 0) -> BulkProgress:
    return BulkProgress(
        bulk_id=bulk.id,
        status=BulkStatus(bulk.status),
        total=bulk.total,
        processed=bulk.processed,
        resolved=bulk.resolved_count,
        skipped=bulk.skipped_count,
        forbidden=bulk.forbidden_count,
        not_found=bulk.not_found_count,
        batch=batch,
    )


# --- the requester, kept with the job --------------------------------------------------------
def _actor_json(principal: Principal) -> dict[str, Any]:
    return {
        "subject": principal.subject,
        "partner_id": str(principal.partner_id) if principal.partner_id else None,
        "partner_code": principal.partner_code,
        "roles": sorted(r.value for r in principal.roles),
        "scopes": sorted(s.value for s in principal.scopes),
        "kind": principal.kind,
        "display_name": principal.display_name,
    }


def actor_of(bulk: BulkResolution) -> Principal:
    """The requester as it was when it asked (the job acts with these rights)."""
    data = bulk.selection["by"]
    return Principal(
        subject=data["subject"],
        roles=frozenset(Role(r) for r in data["roles"]),
        scopes=frozenset(Scope(s) for s in data["scopes"]),
        partner_id=uuid.UUID(data["partner_id"]) if data["partner_id"] else None,
        partner_code=data.get("partner_code"),
        kind=data.get("kind") or "user",
        display_name=data.get("display_name"),
    )


# --- request ----------------------------------------------------------------------------------
def _clean_ids(problems: Problems, ids: Sequence[uuid.UUID | str]) -> list[uuid.UUID]:
    out: set[uuid.UUID] = set()
    for value in ids:
        try:
            out.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            problems.add("ids", f"{str(value)[:40]!r} is not a case id")
            return []
    if not out:
        problems.add("ids", "name at least one case")
    elif len(out) > MAX_IDS:
        problems.add("ids", f"at most {MAX_IDS} cases per request; use a filter for more")
    return sorted(out)


def request_hash(principal: Principal, selection: dict[str, Any], code: str, note: str) -> str:
    """What makes two requests the same: who (subject and partner), which cases, code
    and note."""
    key = {
        "subject": principal.subject,
        "partner_id": str(principal.partner_id) if principal.partner_id else None,
        "selection": {k: v for k, v in selection.items() if k != "by"},
        "code": code,
        "note": note,
    }
    return hashlib.sha256(orjson.dumps(key, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def _by_hash(session: AsyncSession, digest: str) -> BulkResolution | None:
    stmt = (
        sa.select(BulkResolution)
        .where(table_of(BulkResolution).c.request_hash == digest)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalars().first()


async def request_bulk_resolution(
    session: AsyncSession,
    *,
    principal: Principal,
    code: str,
    note: str,
    ids: Sequence[uuid.UUID | str] | None = None,
    filter: search.CaseFilter | None = None,
    view: CaseView | str | None = None,
) -> BulkResolution:
    """Ask for the cases named by ``ids`` — or selected by ``filter`` in ``view`` (default
    ECOSYSTEM) — to be resolved with ``code`` and ``note``. Returns the job (PENDING);
    the same request from the same principal returns the job it made the first time."""
    scopes.ensure_can_write(principal)
    scopes.ensure_can_resolve_in_bulk(principal)
    problems = Problems()
    chosen_code, clean_note, _ = rules.resolution(
        problems, code=code, note=note, refund=None, dispute=None
    )
    if (ids is None) == (filter is None):
        problems.add("ids", "give either ids or a filter")
    clean_ids = _clean_ids(problems, ids) if ids is not None else []
    chosen_view = CaseView.ECOSYSTEM
    if view is not None:
        try:
            chosen_view = CaseView(view)
        except ValueError:
            problems.add("view", "must be OWN, ECOSYSTEM or NETWORK")
    selection: dict[str, Any] = {"view": chosen_view.value}
    if filter is not None:
        try:
            clean_filter = search.validate_filter(filter)
        except ValidationFailed as exc:
            problems.items.extend(exc.problems)
        else:
            selection["filter"] = clean_filter.to_json()
            if not selection["filter"]:
                problems.add("filter", "give at least one condition (or name the cases by id)")
    else:
        selection["ids"] = [str(i) for i in clean_ids]
    problems.raise_if_any()
    assert chosen_code is not None and clean_note is not None
    scope = scopes.visible_to(principal, chosen_view)  # Forbidden for a view not allowed
    digest = request_hash(principal, selection, chosen_code.value, clean_note)
    existing = await _by_hash(session, digest)
    if existing is not None:
        return existing
    if filter is not None:
        conditions = [
            scope,
            *search.filter_conditions(
                clean_filter, principal=principal, dialect=dialect_of(session)
            ),
        ]
        total = int(
            (
                await session.execute(
                    sa.select(sa.func.count()).select_from(table_of(Case)).where(*conditions)
                )
            ).scalar_one()
        )
    else:
        total = len(clean_ids)
    now = utcnow()
    bulk_id = uuid7()
    row = {
        "id": bulk_id,
        "requested_by": principal.subject,
        "requested_by_partner_id": principal.partner_id,
        "request_hash": digest,
        "selection": {**selection, "by": _actor_json(principal)},
        "resolution_code": chosen_code.value,
        "resolution_note": clean_note,
        "status": BulkStatus.PENDING.value,
        "total": total,
        "processed": 0,
        "resolved_count": 0,
        "skipped_count": 0,
        "forbidden_count": 0,
        "not_found_count": 0,
        "created_at": now,
    }
    inserted = await insert_ignoring_conflicts(
        session, table_of(BulkResolution), [row], index_elements=["request_hash"]
    )
    bulk = await _by_hash(session, digest)
    assert bulk is not None
    if not inserted:
        return bulk  # the same request, sent concurrently, won the race
    audit.record(
        session,
        principal=principal,
        action=REQUESTED_TOPIC,
        entity_type="BulkResolution",
        entity_id=bulk.id,
        after={
            "selection": selection,
            "resolution_code": bulk.resolution_code,
            "resolution_note": bulk.resolution_note,
            "total": total,
        },
    )
    outbox.add(
        session,
        REQUESTED_TOPIC,
        {
            "bulkId": wire.global_id("BulkResolution", bulk.id),
            "total": total,
            "resolutionCode": bulk.resolution_code,
        },
        partner_ids=[principal.partner_id] if principal.partner_id else [],
        key=wire.global_id("BulkResolution", bulk.id),
    )
    return bulk


# --- processing -------------------------------------------------------------------------------
async def _last_processed(session: AsyncSession, bulk_id: uuid.UUID) -> uuid.UUID | None:
    items = table_of(BulkResolutionItem)
    # (PostgreSQL has no max(uuid); the primary key (bulk_id, case_id) serves this)
    stmt = (
        sa.select(items.c.case_id)
        .where(items.c.bulk_id == bulk_id)
        .order_by(items.c.case_id.desc())
        .limit(1)
    )
    value = (await session.execute(stmt)).scalar()
    return value if value is None or isinstance(value, uuid.UUID) else uuid.UUID(str(value))


async def _candidates(
    session: AsyncSession,
    bulk: BulkResolution,
    principal: Principal,
    after: uuid.UUID | None,
    batch_size: int,
) -> list[uuid.UUID]:
    selection = bulk.selection
    if "ids" in selection:
        ids = [uuid.UUID(i) for i in selection["ids"]]  # stored sorted
        if after is not None:
            ids = [i for i in ids if i > after]
        return ids[:batch_size]
    cases = table_of(Case)
    view = CaseView(selection["view"])
    chosen = search.CaseFilter.from_json(selection["filter"])
    conditions = [
        scopes.visible_to(principal, view),
        *search.filter_conditions(chosen, principal=principal, dialect=dialect_of(session)),
        cases.c.created_at <= bulk.created_at,  # what existed when it was asked
    ]
    if after is not None:
        conditions.append(cases.c.id > sa.literal(after, type_=UUIDType))
    stmt = sa.select(cases.c.id).where(*conditions).order_by(cases.c.id).limit(batch_size)
    return list((await session.execute(stmt)).scalars().all())


async def process_bulk_batch(
    session: AsyncSession, *, bulk_id: uuid.UUID, batch_size: int = DEFAULT_BATCH_SIZE
) -> BulkProgress:
    """Do the next batch of a mass resolution in the caller's transaction (see the module
    docstring). A finished job is left as it is. Statements per batch are constant."""
    if not 0 < batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be 1-{MAX_BATCH_SIZE}")
    bulk_table = table_of(BulkResolution)
    stmt = for_update(sa.select(BulkResolution).where(bulk_table.c.id == bulk_id), session)
    bulk = (await session.execute(stmt.execution_options(populate_existing=True))).scalars().first()
    if bulk is None:
        raise NotFound("BulkResolution", bulk_id)
    if bulk.status in (BulkStatus.DONE.value, BulkStatus.FAILED.value):
        return progress_of(bulk)
    now = utcnow()
    if bulk.status == BulkStatus.PENDING.value:
        bulk.status = BulkStatus.RUNNING.value
        bulk.started_at = now
    principal = actor_of(bulk)
    after = await _last_processed(session, bulk.id)
    candidates = await _candidates(session, bulk, principal, after, batch_size)
    outcomes = await _resolve(session, bulk, principal, candidates, now)
    if outcomes:
        await session.execute(
            sa.insert(table_of(BulkResolutionItem)),
            [
                {
                    "bulk_id": bulk.id,
                    "case_id": case_id,
                    "outcome": outcome.value,
                    "message": message,
                    "processed_at": now,
                }
                for case_id, (outcome, message) in outcomes.items()
            ],
        )
    counts = {o: 0 for o in BulkOutcome}
    for outcome, _ in outcomes.values():
        counts[outcome] += 1
    bulk.processed += len(outcomes)
    bulk.resolved_count += counts[BulkOutcome.RESOLVED]
    bulk.skipped_count += counts[BulkOutcome.SKIPPED_STATE]
    bulk.forbidden_count += counts[BulkOutcome.FORBIDDEN]
    bulk.not_found_count += counts[BulkOutcome.NOT_FOUND]
    if len(candidates) < batch_size:
        bulk.status = BulkStatus.DONE.value
        bulk.finished_at = now
        bulk.total = bulk.processed  # a filter's count was an estimate at request time
    else:
        bulk.total = max(bulk.total, bulk.processed)
    await session.flush()
    progress = progress_of(bulk, batch=len(outcomes))
    outbox.add(
        session,
        PROGRESS_TOPIC,
        progress.to_event(),
        partner_ids=[bulk.requested_by_partner_id] if bulk.requested_by_partner_id else [],
        key=wire.global_id("BulkResolution", bulk.id),
    )
    return progress


async def _resolve(
    session: AsyncSession,
    bulk: BulkResolution,
    principal: Principal,
    candidates: list[uuid.UUID],
    now: datetime,
) -> dict[uuid.UUID, tuple[BulkOutcome, str | None]]:
    """Resolve what may be resolved among ``candidates``; every candidate's outcome."""
    if not candidates:
        return {}
    cases = table_of(Case)
    view = CaseView(bulk.selection["view"])
    visible = scopes.visible_to(principal, view)
    actable = scopes.actable_by(principal)
    read = sa.select(
        cases.c.id,
        cases.c.reference,
        cases.c.status,
        cases.c.pending_derivation_to,
        sa.case((actable, sa.true()), else_=sa.false()).label("actable"),
    ).where(cases.c.id.in_(candidates), visible)
    rows = {r.id: r for r in (await session.execute(for_update(read, session))).all()}
    outcomes: dict[uuid.UUID, tuple[BulkOutcome, str | None]] = {}
    wanted: list[uuid.UUID] = []
    for case_id in candidates:
        row = rows.get(case_id)
        if row is None:
            outcomes[case_id] = (BulkOutcome.NOT_FOUND, "no such case in this view")
        elif not row.actable:
            outcomes[case_id] = (BulkOutcome.FORBIDDEN, "only the handling partner can resolve it")
        elif row.status not in _RESOLVABLE:
            outcomes[case_id] = (BulkOutcome.SKIPPED_STATE, f"the case is {row.status}")
        elif row.pending_derivation_to is not None:
            outcomes[case_id] = (
                BulkOutcome.SKIPPED_STATE,
                "the case is waiting for another partner to accept it",
            )
        else:
            wanted.append(case_id)
    if not wanted:
        return outcomes
    update = (
        cases.update()
        .where(
            cases.c.id.in_(wanted),
            cases.c.status.in_(_RESOLVABLE),
            cases.c.pending_derivation_to.is_(None),
            actable,
            visible,
        )
        .values(
            status=CaseStatus.RESOLVED.value,
            status_changed_at=now,
            resolved_at=now,
            resolution_code=bulk.resolution_code,
            resolution_note=bulk.resolution_note,
            resolution_refund_minor=None,
            resolution_refund_currency=None,
            version=cases.c.version + 1,
            timeline_seq=cases.c.timeline_seq + 1,
            updated_at=now,
        )
        .returning(
            cases.c.id,
            cases.c.reference,
            cases.c.version,
            cases.c.timeline_seq,
            cases.c.status,
            cases.c.typology_code,
            cases.c.originating_partner_id,
            cases.c.handling_partner_id,
            cases.c.pending_derivation_to,
        )
        .execution_options(synchronize_session=False)
    )
    resolved = (await session.execute(update)).all()
    entries: list[journal.BulkEntry] = []
    for r in resolved:
        before_status = rows[r.id].status
        outcomes[r.id] = (BulkOutcome.RESOLVED, None)
        entries.append(
            journal.BulkEntry(
                case_id=r.id,
                seq=r.timeline_seq,
                partners=frozenset({r.originating_partner_id, r.handling_partner_id}),
                payload={
                    **journal.event_fields(
                        case_id=r.id,
                        reference=r.reference,
                        version=r.version,
                        status=r.status,
                        typology_code=r.typology_code,
                        originating_partner_id=r.originating_partner_id,
                        handling_partner_id=r.handling_partner_id,
                        pending_derivation_to=None,
                    ),
                    "fromStatus": before_status,
                    "toStatus": r.status,
                    "resolutionCode": bulk.resolution_code,
                    "refund": None,
                    "bulkId": wire.global_id("BulkResolution", bulk.id),
                },
                before={"status": before_status},
                after={
                    "status": r.status,
                    "resolution_code": bulk.resolution_code,
                    "resolution_note": bulk.resolution_note,
                    "resolved_at": now,
                },
                note=bulk.resolution_note,
            )
        )
    for case_id in wanted:
        if case_id not in outcomes:  # changed between the read and the update
            outcomes[case_id] = (BulkOutcome.SKIPPED_STATE, "the case changed meanwhile")
    await journal.record_many(
        session,
        principal=principal,
        kind=TimelineKind.BULK_RESOLVED,
        topic="cases.resolved",
        entries=entries,
        at=now,
        visibility=Visibility.CUSTOMER,
        audit_entity_type="BulkResolution",
        audit_entity_id=str(bulk.id),
        audit_after={
            "resolution_code": bulk.resolution_code,
            "resolution_note": bulk.resolution_note,
            "cases": sorted(r.reference for r in resolved),
        },
    )
    return outcomes

"""Outbound synchronization: what Trama pushes to each partner's platform, and how far it got.

Sync is *state based*. A push carries the case's current state (its version, canonical
status, the partner's own code for it, amounts, timestamps) rather than the change that
triggered it, so pushes that are repeated, reordered or coalesced all end the same way:
the platform holds the latest state, and the version it was told never goes down.

- :func:`plan_push` reads what to send to one partner now, or why nothing needs sending
  (no enabled connector, the partner already has this version or a newer one);
- :func:`sign` is the request signature partners verify;
- :func:`record_push` notes the outcome on the partner's :class:`CasePartnerStatus` row
  (``last_synced_version`` only ever grows; an error is kept until a push succeeds);
- :func:`lagging_pairs` finds (case, partner) pairs left behind (a lost message, a
  connector enabled or fixed after failures) for the periodic sweep;
- :func:`sync_status` is the per-partner view of a case's sync for people.

HTTP itself is the worker's business (``workers/actors/case_sync.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import connectors, homologation, journal, reads
from domain.cases.events import CASE_STATE_LAYOUT
from domain.cases.models import Case, CasePartnerStatus, PartnerConnector
from domain.partners.models import Partner
from domain.shared import event_schemas as wire
from domain.shared.errors import ValidationFailed
from domain.shared.models import table_of
from domain.shared.principal import Principal, Scope
from domain.shared.sql import dialect_of, for_update
from domain.shared.time import utcnow

#: Version of the body's layout (``schema`` in the JSON; its JSON Schema is
#: ``domain.cases.events.CASE_STATE``). v2: ids and money in the API's conventions.
BODY_SCHEMA = CASE_STATE_LAYOUT
SIGNATURE_PREFIX = "sha256="
ERROR_MAX = 2000


# --- signing ----------------------------------------------------------------------------
def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Trama-Signature``: ``sha256=`` + hex HMAC-SHA256(secret, timestamp "." body)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a platform does with our requests (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature or "")


def idempotency_key(case_id: uuid.UUID, version: int, partner_id: uuid.UUID) -> str:
    return f"{case_id}:{version}:{partner_id}"


# --- planning a push --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PushPlan:
    """One request to one partner's platform. Holds secrets: never log it whole."""

    case_id: uuid.UUID
    partner_id: uuid.UUID
    reference: str
    version: int
    endpoint_url: str
    auth_type: str
    timeout_seconds: int
    connector_version: int
    body: bytes
    idempotency_key: str
    auth_credentials: str | None = field(default=None, repr=False)
    signing_secret: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Skipped:
    """Nothing to send (and nothing to record)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Blocked:
    """Something to send that cannot be sent until a person fixes the configuration
    (the case's status has no outbound code in the partner's homologation)."""

    version: int
    reason: str


_money = wire.maybe_money
_when = wire.maybe_instant


def case_body(
    case: Case,
    *,
    partner_code: str,
    codes: dict[uuid.UUID, str],
    external_ref: str | None,
) -> dict[str, Any]:
    """The JSON a platform receives: the case's state, no personal data (no names,
    descriptions or notes; the customer by Trama's id only)."""
    resolution = None
    if case.resolution_code is not None:
        resolution = {
            "code": case.resolution_code,
            "amountRefunded": _money(case.resolution_refund_minor, case.resolution_refund_currency),
        }
    pending = case.pending_derivation_to
    return {
        "schema": BODY_SCHEMA,
        "case": {
            "id": wire.global_id("Case", case.id),
            "reference": case.reference,
            "externalRef": external_ref,
            "version": case.version,
            "status": case.status,
            "partnerStatus": partner_code,
            "typology": case.typology_code,
            "priority": case.priority,
            "channel": case.channel,
            "customerId": wire.global_id("Customer", case.customer_id),
            "originatingPartner": codes.get(case.originating_partner_id),
            "handlingPartner": codes.get(case.handling_partner_id),
            "pendingDerivationTo": codes.get(pending) if pending is not None else None,
            "amountInDispute": _money(
                case.amount_in_dispute_minor, case.amount_in_dispute_currency
            ),
            "resolution": resolution,
            "sla": {"dueAt": _when(case.sla_due_at), "state": case.sla_state},
            "createdAt": _when(case.created_at),
            "updatedAt": _when(case.updated_at),
            "statusChangedAt": _when(case.status_changed_at),
            "resolvedAt": _when(case.resolved_at),
            "closedAt": _when(case.closed_at),
        },
    }


async def _partner_codes(session: AsyncSession, case: Case) -> dict[uuid.UUID, str]:
    ids = {
        p
        for p in (case.originating_partner_id, case.handling_partner_id, case.pending_derivation_to)
        if p is not None
    }
    rows = await session.execute(
        sa.select(col(Partner.id), col(Partner.code)).where(col(Partner.id).in_(sorted(ids)))
    )
    return {key: code for key, code in rows.all()}


async def try_lock_pair(session: AsyncSession, case_id: uuid.UUID, partner_id: uuid.UUID) -> bool:
    """Take the lock that serializes pushes of one case to one partner across processes,
    held until ``session``'s transaction ends; False when another process holds it.

    PostgreSQL: ``pg_try_advisory_xact_lock``. SQLite deployments run their workers in one
    process, whose own exclusion (the caller's) is enough: always True.
    """
    if dialect_of(session) != "postgresql":
        return True
    digest = hashlib.sha256(case_id.bytes + partner_id.bytes).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    taken = (await session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(key)))).scalar()
    return bool(taken)


async def plan_push(
    session: AsyncSession, *, case_id: uuid.UUID, partner_id: uuid.UUID
) -> PushPlan | Skipped | Blocked:
    """What to send ``partner_id`` about ``case_id`` now (its current state), why nothing
    needs sending, or why it cannot be sent."""
    connector = await connectors.connector_for_sync(session, partner_id)
    if connector is None:
        return Skipped("the partner has no enabled connector")
    case = await journal.load_case(session, case_id, lock=False)
    if case is None:
        return Skipped("the case does not exist")
    row = await session.get(CasePartnerStatus, (case_id, partner_id))
    synced = row.last_synced_version if row is not None else None
    if synced is not None and synced >= case.version:
        return Skipped(f"the partner already has version {synced}")
    try:
        code = await homologation.to_partner_code(session, partner_id, case.status)
    except ValidationFailed as exc:
        return Blocked(case.version, exc.problems[0].message)
    body = case_body(
        case,
        partner_code=code,
        codes=await _partner_codes(session, case),
        external_ref=row.external_ref if row is not None else None,
    )
    return PushPlan(
        case_id=case.id,
        partner_id=partner_id,
        reference=case.reference,
        version=case.version,
        endpoint_url=connector.endpoint_url,
        auth_type=connector.auth_type,
        timeout_seconds=connector.timeout_seconds,
        connector_version=connector.version,
        body=orjson.dumps(body, option=orjson.OPT_SORT_KEYS),
        idempotency_key=idempotency_key(case.id, case.version, partner_id),
        auth_credentials=connector.auth_credentials,
        signing_secret=connector.signing_secret,
    )


async def partners_to_push(
    session: AsyncSession, audience: Iterable[uuid.UUID | str]
) -> list[uuid.UUID]:
    """The partners of an event's audience whose platform is connected (enabled)."""
    return await connectors.enabled_partners(session, audience)


# --- recording the outcome --------------------------------------------------------------
async def record_push(
    session: AsyncSession,
    *,
    case_id: uuid.UUID,
    partner_id: uuid.UUID,
    version: int,
    error: str | None = None,
    at: datetime | None = None,
) -> CasePartnerStatus | None:
    """Note a push's outcome on the partner's row (made when missing: a partner Trama
    pushed a case to is involved in it). Success raises ``last_synced_version`` (never
    lowers it) and clears the error; failure keeps the last version synced and sets the
    error. Not a change of the case: no version, timeline entry or event."""
    when = at or utcnow()
    case = await journal.load_case(session, case_id, lock=False)
    if case is None:
        return None
    stmt = for_update(
        sa.select(CasePartnerStatus).where(
            col(CasePartnerStatus.case_id) == case_id,
            col(CasePartnerStatus.partner_id) == partner_id,
        ),
        session,
    ).execution_options(populate_existing=True)
    row = (await session.execute(stmt)).scalars().first()
    if row is None:
        row = await journal.ensure_partner_row(session, case, partner_id)
    row.last_sync_attempt_at = when
    if error is None:
        row.last_synced_version = max(row.last_synced_version or 0, version)
        row.last_synced_at = when
        row.last_sync_error = None
    else:
        row.last_sync_error = f"version {version}: {error}"[:ERROR_MAX]
    row.updated_at = when
    await session.flush()
    return row


# --- catching up ------------------------------------------------------------------------
async def lagging_pairs(
    session: AsyncSession, *, idle_since: datetime, limit: int = 500
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(case, partner) pairs an enabled connector's platform is behind on, with nothing
    tried since ``idle_since``, for the sweep to push again:

    - never tried, and the case last changed before ``idle_since`` (its push was lost);
    - tried without error before ``idle_since`` and behind (a newer push was lost);
    - failed, but before the connector last changed (an administrator fixed or enabled it
      again). Other failures are left to the retries and the failed-jobs list.

    A partner is involved when it originated, handles or is asked to take the case, or
    has a status row on it.
    """
    cases = table_of(Case)
    statuses = table_of(CasePartnerStatus)
    conns = table_of(PartnerConnector)
    involved = sa.or_(
        statuses.c.case_id.is_not(None),
        conns.c.partner_id == cases.c.originating_partner_id,
        conns.c.partner_id == cases.c.handling_partner_id,
        conns.c.partner_id == cases.c.pending_derivation_to,
    )
    attempted = statuses.c.last_sync_attempt_at
    stmt = (
        sa.select(cases.c.id, conns.c.partner_id)
        .select_from(
            cases.join(conns, conns.c.enabled.is_(True)).outerjoin(
                statuses,
                sa.and_(
                    statuses.c.case_id == cases.c.id,
                    statuses.c.partner_id == conns.c.partner_id,
                ),
            )
        )
        .where(
            involved,
            sa.func.coalesce(statuses.c.last_synced_version, 0) < cases.c.version,
            sa.or_(
                sa.and_(attempted.is_(None), cases.c.updated_at < idle_since),
                sa.and_(attempted < idle_since, statuses.c.last_sync_error.is_(None)),
                sa.and_(attempted < idle_since, attempted < conns.c.updated_at),
            ),
        )
        .order_by(cases.c.updated_at, cases.c.id)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]


# --- reading ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PartnerSync:
    partner_id: uuid.UUID
    connector_enabled: bool
    last_synced_version: int | None
    last_synced_at: datetime | None
    last_sync_attempt_at: datetime | None
    last_sync_error: str | None
    #: The platform has the case's current version.
    in_sync: bool


@dataclass(frozen=True, slots=True)
class CaseSync:
    case_id: uuid.UUID
    reference: str
    version: int
    partners: list[PartnerSync]


async def sync_status(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID
) -> CaseSync:
    """How far each involved partner's platform got with a case. Case administrators see
    every partner; others who may see the case see their own partner's line only."""
    case = await reads.get_case(session, principal=principal, case_id=case_id)
    rows = {
        r.partner_id: r
        for r in (
            await session.execute(
                sa.select(CasePartnerStatus).where(col(CasePartnerStatus.case_id) == case.id)
            )
        )
        .scalars()
        .all()
    }
    partners = set(rows) | {
        p
        for p in (case.originating_partner_id, case.handling_partner_id, case.pending_derivation_to)
        if p is not None
    }
    if not principal.has_scope(Scope.CASES_ADMIN):
        partners &= {principal.partner_id} if principal.partner_id else set()
    enabled = set(await connectors.enabled_partners(session, partners))
    lines = []

    def order(partner_id: uuid.UUID) -> tuple[bool, datetime, str]:
        row = rows.get(partner_id)
        return (row is None, row.involved_since if row else case.created_at, str(partner_id))

    for partner_id in sorted(partners, key=order):
        row = rows.get(partner_id)
        synced = row.last_synced_version if row is not None else None
        lines.append(
            PartnerSync(
                partner_id=partner_id,
                connector_enabled=partner_id in enabled,
                last_synced_version=synced,
                last_synced_at=row.last_synced_at if row is not None else None,
                last_sync_attempt_at=row.last_sync_attempt_at if row is not None else None,
                last_sync_error=row.last_sync_error if row is not None else None,
                in_sync=synced is not None and synced >= case.version,
            )
        )
    return CaseSync(case.id, case.reference, case.version, lines)

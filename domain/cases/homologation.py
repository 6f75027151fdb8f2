"""Homologation: each partner's status vocabulary mapped to the canonical states and back.

A partner's table is versioned. Changing it inserts a complete new version and never
touches an older one, so the meaning a code had at any moment can still be answered
(:func:`mapping_at`). The current table is the highest version whose ``active_from`` has
passed. Codes match inbound without regard to case or surrounding spaces; outbound, the
partner's code is sent exactly as written in the table.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import scopes
from domain.cases.models import MappingDirection, StatusMapping
from domain.cases.states import CaseStatus
from domain.partners.models import Partner
from domain.shared import audit, outbox, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, Forbidden, NotFound, Problems, ValidationFailed
from domain.shared.principal import Principal
from domain.shared.time import ensure_utc, utcnow

_CODE = re.compile(r"^[\w][\w .\-/]{0,59}$")
MAX_LINES = 100
#: ``active_from`` may lag the server clock by this much (a client's clock skew).
_SKEW = timedelta(minutes=5)

#: A sensible starting vocabulary (the common Spanish names); ``trama seed`` gives it to the
#: demo partners that have none.
DEFAULT_LINES: tuple[tuple[str, CaseStatus, MappingDirection], ...] = (
    ("ABIERTO", CaseStatus.OPEN, MappingDirection.BOTH),
    ("INGRESADO", CaseStatus.OPEN, MappingDirection.INBOUND),
    ("EN_PROCESO", CaseStatus.IN_PROGRESS, MappingDirection.BOTH),
    ("EN_ANALISIS", CaseStatus.IN_PROGRESS, MappingDirection.INBOUND),
    ("ESPERA_CLIENTE", CaseStatus.WAITING_CUSTOMER, MappingDirection.BOTH),
    ("ESPERA_SOCIO", CaseStatus.WAITING_PARTNER, MappingDirection.BOTH),
    ("RESUELTO", CaseStatus.RESOLVED, MappingDirection.BOTH),
    ("RECHAZADO", CaseStatus.REJECTED, MappingDirection.BOTH),
    ("CERRADO", CaseStatus.CLOSED, MappingDirection.BOTH),
)


@dataclass(frozen=True, slots=True)
class MappingLine:
    partner_code: str
    canonical_status: CaseStatus
    direction: MappingDirection = MappingDirection.BOTH

    @property
    def inbound(self) -> bool:
        return self.direction in (MappingDirection.INBOUND, MappingDirection.BOTH)

    @property
    def outbound(self) -> bool:
        return self.direction in (MappingDirection.OUTBOUND, MappingDirection.BOTH)


@dataclass(frozen=True, slots=True)
class MappingTable:
    """One version of a partner's table (``version`` 0 and no lines: none yet)."""

    partner_id: uuid.UUID
    version: int
    active_from: datetime | None
    created_by: str | None
    lines: tuple[MappingLine, ...]

    def to_canonical(self, partner_code: str) -> CaseStatus | None:
        key = _key(partner_code)
        for line in self.lines:
            if line.inbound and _key(line.partner_code) == key:
                return line.canonical_status
        return None

    def to_partner_code(self, status: CaseStatus | str) -> str | None:
        for line in self.lines:
            if line.outbound and line.canonical_status == status:
                return line.partner_code
        return None


def _key(code: str) -> str:
    return (code or "").strip().casefold()


def _table_of_rows(partner_id: uuid.UUID, rows: Sequence[StatusMapping]) -> MappingTable:
    if not rows:
        return MappingTable(partner_id, 0, None, None, ())
    first = rows[0]
    return MappingTable(
        partner_id=partner_id,
        version=first.version,
        active_from=first.active_from,
        created_by=first.created_by,
        lines=tuple(
            MappingLine(
                r.partner_code, CaseStatus(r.canonical_status), MappingDirection(r.direction)
            )
            for r in sorted(rows, key=lambda r: (r.canonical_status, r.partner_code))
        ),
    )


# --- reading ----------------------------------------------------------------------------
async def _version_at(session: AsyncSession, partner_id: uuid.UUID, at: datetime) -> int | None:
    stmt = sa.select(sa.func.max(col(StatusMapping.version))).where(
        col(StatusMapping.partner_id) == partner_id, col(StatusMapping.active_from) <= at
    )
    value = (await session.execute(stmt)).scalar()
    return int(value) if value is not None else None


async def _latest_version(session: AsyncSession, partner_id: uuid.UUID) -> int:
    stmt = sa.select(sa.func.max(col(StatusMapping.version))).where(
        col(StatusMapping.partner_id) == partner_id
    )
    return int((await session.execute(stmt)).scalar() or 0)


async def _rows(session: AsyncSession, partner_id: uuid.UUID, version: int) -> list[StatusMapping]:
    stmt = sa.select(StatusMapping).where(
        col(StatusMapping.partner_id) == partner_id, col(StatusMapping.version) == version
    )
    return list((await session.execute(stmt)).scalars().all())


async def mapping_at(
    session: AsyncSession, partner_id: uuid.UUID, *, at: datetime | None = None
) -> MappingTable:
    """The table in force at ``at`` (now by default); no authorization (internal use)."""
    version = await _version_at(session, partner_id, ensure_utc(at) if at else utcnow())
    if version is None:
        return MappingTable(partner_id, 0, None, None, ())
    return _table_of_rows(partner_id, await _rows(session, partner_id, version))


async def to_canonical(
    session: AsyncSession, partner_id: uuid.UUID, partner_code: str, *, field: str = "partnerStatus"
) -> CaseStatus:
    """Homologate a partner's status code, or :class:`ValidationFailed` on ``field``."""
    table = await mapping_at(session, partner_id)
    status = table.to_canonical(partner_code)
    if status is None:
        where = f"version {table.version} of its table" if table.version else "its (empty) table"
        raise ValidationFailed.on(
            field,
            f"status {partner_code.strip()[:60]!r} has no mapping for this partner "
            f"(not in {where}); ask a case administrator to homologate it",
        )
    return status


async def to_partner_code(
    session: AsyncSession, partner_id: uuid.UUID, status: CaseStatus | str
) -> str:
    """The partner's code for a canonical status (outbound sync)."""
    table = await mapping_at(session, partner_id)
    code = table.to_partner_code(status)
    if code is None:
        raise ValidationFailed.on(
            "status", f"{CaseStatus(status).value} has no outbound mapping for this partner"
        )
    return code


def _ensure_can_read(principal: Principal, partner_id: uuid.UUID) -> None:
    """Case administrators read every table; a partner's own staff read theirs."""
    if scopes.may_use_view(principal, scopes.CaseView.OWN) and principal.partner_id == partner_id:
        return
    scopes.ensure_can_administer(principal)


async def _partner(session: AsyncSession, partner_id: uuid.UUID) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("Partner", partner_id)
    return partner


async def get_mapping(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID,
    version: int | None = None,
    at: datetime | None = None,
) -> MappingTable:
    """A version of a partner's table: ``version``, or the one in force ``at`` (now)."""
    _ensure_can_read(principal, partner_id)
    await _partner(session, partner_id)
    if version is None:
        return await mapping_at(session, partner_id, at=at)
    return _table_of_rows(partner_id, await _rows(session, partner_id, version))


@dataclass(frozen=True, slots=True)
class MappingVersion:
    version: int
    active_from: datetime
    created_by: str
    lines: int


async def list_versions(
    session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID
) -> list[MappingVersion]:
    """Every version of a partner's table, newest first."""
    _ensure_can_read(principal, partner_id)
    await _partner(session, partner_id)
    stmt = (
        sa.select(
            col(StatusMapping.version),
            sa.func.min(col(StatusMapping.active_from)),
            sa.func.min(col(StatusMapping.created_by)),
            sa.func.count(),
        )
        .where(col(StatusMapping.partner_id) == partner_id)
        .group_by(col(StatusMapping.version))
        .order_by(col(StatusMapping.version).desc())
    )
    return [
        MappingVersion(int(v), a, c, int(n)) for v, a, c, n in (await session.execute(stmt)).all()
    ]


# --- changing ---------------------------------------------------------------------------
def _clean_lines(lines: Sequence[MappingLine | tuple[str, str, str]]) -> list[MappingLine]:
    problems = Problems()
    if not lines:
        problems.add("lines", "give at least one line")
    if len(lines) > MAX_LINES:
        problems.add("lines", f"at most {MAX_LINES} lines")
    problems.raise_if_any()
    clean: list[MappingLine] = []
    seen_codes: dict[str, int] = {}
    outbound_for: dict[CaseStatus, int] = {}
    for index, raw in enumerate(lines):
        where = f"lines[{index}]"
        code, status, direction = (
            (raw.partner_code, raw.canonical_status, raw.direction)
            if isinstance(raw, MappingLine)
            else raw
        )
        code = (code or "").strip()
        if not _CODE.match(code):
            problems.add(f"{where}.partnerCode", "use 1-60 letters, digits, spaces or _ . - /")
        elif pan.contains_pan(code):
            problems.add(f"{where}.partnerCode", pan.MESSAGE)
        try:
            canonical = CaseStatus(status)
        except ValueError:
            problems.add(
                f"{where}.canonicalStatus",
                f"must be one of {', '.join(s.value for s in CaseStatus)}",
            )
            continue
        try:
            way = MappingDirection(direction)
        except ValueError:
            problems.add(
                f"{where}.direction",
                f"must be one of {', '.join(d.value for d in MappingDirection)}",
            )
            continue
        if _key(code) in seen_codes:
            problems.add(
                f"{where}.partnerCode", f"repeats lines[{seen_codes[_key(code)]}] ({code!r})"
            )
        seen_codes.setdefault(_key(code), index)
        line = MappingLine(code, canonical, way)
        if line.outbound:
            if canonical in outbound_for:
                problems.add(
                    f"{where}.direction",
                    f"{canonical.value} already has an outbound code in "
                    f"lines[{outbound_for[canonical]}]; mark one of them INBOUND",
                )
            outbound_for.setdefault(canonical, index)
        clean.append(line)
    problems.raise_if_any()
    return clean


async def update_mapping(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID,
    lines: Sequence[MappingLine | tuple[str, str, str]],
    expected_version: int,
    active_from: datetime | None = None,
) -> MappingTable:
    """Write a new version of a partner's table (case administrators only).

    ``expected_version`` is the latest version the caller read (0 when there is none); a
    concurrent change makes this one a :class:`Conflict`. ``active_from`` (default now) may
    be in the future, never in the past: history is not rewritten.
    """
    scopes.ensure_can_administer(principal)
    if not principal.is_admin and principal.partner_id not in (None, partner_id):
        raise Forbidden("you can only change your own partner's homologation")
    await _partner(session, partner_id)
    clean = _clean_lines(lines)
    now = utcnow()
    start = ensure_utc(active_from) if active_from is not None else now
    if start < now - _SKEW:
        raise ValidationFailed.on("activeFrom", "must not be in the past")
    start = max(start, now)
    latest = await _latest_version(session, partner_id)
    if latest != expected_version:
        raise Conflict(
            f"the homologation of this partner changed since version {expected_version}; "
            f"it is now at version {latest}",
            current_version=latest,
        )
    before = _table_of_rows(partner_id, await _rows(session, partner_id, latest))
    version = latest + 1
    rows = [
        StatusMapping(
            partner_id=partner_id,
            version=version,
            partner_code=line.partner_code,
            canonical_status=line.canonical_status.value,
            direction=line.direction.value,
            active_from=start,
            created_by=principal.subject,
            created_at=now,
        )
        for line in clean
    ]
    session.add_all(rows)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent writer took the same version number
        raise Conflict(
            "the homologation of this partner changed while saving; read it again"
        ) from exc
    table = _table_of_rows(partner_id, rows)
    audit.record(
        session,
        principal=principal,
        action="cases.homologation_changed",
        entity_type="PartnerStatusMapping",
        entity_id=partner_id,
        before=_describe(before) if before.version else None,
        after=_describe(table),
    )
    outbox.add(
        session,
        "cases.homologation_changed",
        {
            "partnerId": wire.global_id("Partner", partner_id),
            "version": version,
            "activeFrom": wire.instant(start),
        },
        partner_ids=[partner_id],
        key=wire.global_id("Partner", partner_id),
    )
    return table


def _describe(table: MappingTable) -> dict[str, object]:
    return {
        "version": table.version,
        "active_from": table.active_from,
        "lines": [
            [ln.partner_code, ln.canonical_status.value, ln.direction.value] for ln in table.lines
        ],
    }


async def ensure_default_mapping(
    session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID
) -> MappingTable | None:
    """Give a partner :data:`DEFAULT_LINES` when it has no table yet (seeding)."""
    if await _latest_version(session, partner_id):
        return None
    return await update_mapping(
        session,
        principal=principal,
        partner_id=partner_id,
        lines=[MappingLine(c, s, d) for c, s, d in DEFAULT_LINES],
        expected_version=0,
    )

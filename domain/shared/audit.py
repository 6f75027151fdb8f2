"""Append-only, hash-chained audit trail.

Services call :func:`record` while they work; the records wait on the session and are
chained and written by :func:`seal`, which the edge's ``transaction()`` calls right before
commit. Sealing takes one lock for the shortest time possible: read the chain's head,
hash the new records onto it, insert them. The records therefore commit or roll back with
the change they describe, and the chain has no forks because sealers are serialised
(PostgreSQL: a transaction-scoped advisory lock; SQLite: writers already begin IMMEDIATE).
"""

from __future__ import annotations

import enum
import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, col

from domain.shared import pan
from domain.shared.context import current_request_id
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import SQLModel, table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal, Scope
from domain.shared.time import ensure_utc, isoformat, utcnow
from domain.shared.types import JSONType, UTCDateTime, UUIDType

GENESIS = "0" * 64
_PENDING_KEY = "trama.audit.pending"
_CURSOR_TAG = "audit.v1"
_LOCK_KEY = 0x7472616D61  # "trama" — advisory lock id for the audit chain

log = logging.getLogger("trama.audit")


class AuditRecord(SQLModel, table=True):
    __tablename__ = "audit_records"
    __table_args__ = (sa.Index("ix_audit_records_entity", "entity_id", "seq"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    seq: int = Field(sa_type=sa.BigInteger, unique=True)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    actor_kind: str = Field(max_length=20)
    partner_id: uuid.UUID | None = Field(default=None, sa_type=UUIDType)
    action: str = Field(max_length=100)
    entity_type: str = Field(max_length=60)
    entity_id: str = Field(max_length=100)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    request_id: str | None = Field(default=None, max_length=100)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


def jsonable(value: Any) -> Any:
    """Turn a snapshot into plain JSON values that hash the same after a database trip."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise TypeError("floats are not allowed in audit snapshots")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=orjson.dumps) if isinstance(value, set | frozenset) else items
    if hasattr(value, "amount") and hasattr(value, "currency"):
        return {"amount": value.amount, "currency": value.currency}
    raise TypeError(f"cannot put {type(value).__name__} in an audit snapshot")


@dataclass
class _Pending:
    id: uuid.UUID
    occurred_at: datetime
    actor: str
    actor_kind: str
    partner_id: uuid.UUID | None
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


def record(
    session: AsyncSession,
    *,
    principal: Principal,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Queue an audit record on the session; it is chained and written at commit.

    No card number is ever kept (the trail is forever): every text of the record is
    searched and a card number found is kept as its last four digits (``****1111``), with
    a warning naming where it was — an input path that let it in is a bug to fix."""
    found: list[str] = []
    record_ = _Pending(
        id=uuid7(),
        occurred_at=utcnow(),
        actor=_no_card_numbers(principal.subject, "actor", found),
        actor_kind=principal.kind,
        partner_id=principal.partner_id,
        action=action,
        entity_type=entity_type,
        entity_id=_no_card_numbers(str(entity_id), "entity_id", found),
        before=(
            _no_card_numbers(jsonable(dict(before)), "before", found)
            if before is not None
            else None
        ),
        after=(
            _no_card_numbers(jsonable(dict(after)), "after", found) if after is not None else None
        ),
        request_id=_no_card_numbers(current_request_id(), "request_id", found),
    )
    if found:
        log.warning(
            "a card number reached the audit trail (%s %s, in %s): kept as its last four digits",
            entity_type,
            action,
            ", ".join(found),
        )
    pending: list[_Pending] = session.info.setdefault(_PENDING_KEY, [])
    pending.append(record_)


def _no_card_numbers(value: Any, where: str, found: list[str]) -> Any:
    """``value`` (plain JSON) with every card number in its texts (keys too) redacted to
    its last four digits; ``found`` gets where each was."""
    if isinstance(value, str):
        if pan.contains_pan(value):
            found.append(where)
            return pan.redact(value)
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            clean = _no_card_numbers(key, f"{where} key", found)
            out[clean] = _no_card_numbers(item, f"{where}.{clean}", found)
        return out
    if isinstance(value, list):
        return [_no_card_numbers(item, f"{where}[{i}]", found) for i, item in enumerate(value)]
    return value


def has_pending(session: AsyncSession) -> bool:
    return bool(session.info.get(_PENDING_KEY))


def discard_pending(session: AsyncSession) -> None:
    session.info.pop(_PENDING_KEY, None)


def _digest(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _hashed_fields(
    *,
    seq: int,
    id: uuid.UUID | str,
    occurred_at: datetime,
    actor: str,
    actor_kind: str,
    partner_id: uuid.UUID | None,
    action: str,
    entity_type: str,
    entity_id: str,
    before: Any,
    after: Any,
    request_id: str | None,
    prev_hash: str,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "id": str(id),
        "occurred_at": isoformat(ensure_utc(occurred_at)),
        "actor": actor,
        "actor_kind": actor_kind,
        "partner_id": str(partner_id) if partner_id else None,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "before": before,
        "after": after,
        "request_id": request_id,
        "prev_hash": prev_hash,
    }


async def seal(session: AsyncSession) -> int:
    """Chain and insert the queued records. Returns how many were written."""
    pending: list[_Pending] = session.info.pop(_PENDING_KEY, [])
    if not pending:
        return 0
    await session.flush()
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
    table = table_of(AuditRecord)
    head = (
        await session.execute(
            sa.select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
        )
    ).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    rows = []
    for item in pending:
        seq += 1
        fields = _hashed_fields(seq=seq, prev_hash=prev, **item.__dict__)
        digest = _digest(fields)
        rows.append({**item.__dict__, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    await session.execute(sa.insert(table), rows)
    return len(rows)


@dataclass(frozen=True)
class CardNumberFinding:
    """A record written before the audit writer redacted card numbers that still holds one:
    its ``seq`` and where in it (``after.description``, ``request_id`` …)."""

    seq: int
    occurred_at: datetime
    action: str
    places: tuple[str, ...]


async def find_card_numbers(session: AsyncSession, *, batch: int = 2000) -> list[CardNumberFinding]:
    """Every record that holds a card number, oldest first. New records never do (the writer
    redacts them); this finds those written before. It only reports: rewriting a record
    would break the hash chain, so what to do with them is a decision for compliance."""
    table = table_of(AuditRecord)
    columns = ("actor", "entity_id", "before", "after", "request_id")
    found: list[CardNumberFinding] = []
    last_seq = 0
    while True:
        rows = (
            await session.execute(
                sa.select(table.c.seq, table.c.occurred_at, table.c.action, *table.c[columns])
                .where(table.c.seq > last_seq)
                .order_by(table.c.seq)
                .limit(batch)
            )
        ).all()
        if not rows:
            return found
        for row in rows:
            places: list[str] = []
            for name in columns:
                _no_card_numbers(getattr(row, name), name, places)
            if places:
                found.append(CardNumberFinding(row.seq, row.occurred_at, row.action, tuple(places)))
        last_seq = rows[-1].seq


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"ok ({self.checked} records)"
        return f"broken at seq {self.broken_seq}: {self.reason}"


async def verify(session: AsyncSession, *, batch: int = 2000) -> VerifyResult:
    """Walk the whole chain in order and report the first record that does not fit."""
    table = table_of(AuditRecord)
    prev = GENESIS
    expected_seq = 1
    checked = 0
    last_seq = 0
    while True:
        result = await session.execute(
            sa.select(table).where(table.c.seq > last_seq).order_by(table.c.seq).limit(batch)
        )
        rows = result.mappings().all()
        if not rows:
            return VerifyResult(ok=True, checked=checked)
        for row in rows:
            if row["seq"] != expected_seq:
                return VerifyResult(
                    False, checked, expected_seq, f"record {expected_seq} is missing"
                )
            if row["prev_hash"] != prev:
                return VerifyResult(
                    False, checked, row["seq"], "it does not point at the previous record"
                )
            fields = _hashed_fields(
                seq=row["seq"],
                id=row["id"],
                occurred_at=row["occurred_at"],
                actor=row["actor"],
                actor_kind=row["actor_kind"],
                partner_id=row["partner_id"],
                action=row["action"],
                entity_type=row["entity_type"],
                entity_id=row["entity_id"],
                before=row["before"],
                after=row["after"],
                request_id=row["request_id"],
                prev_hash=row["prev_hash"],
            )
            if _digest(fields) != row["hash"]:
                return VerifyResult(False, checked, row["seq"], "its content was altered")
            prev = row["hash"]
            expected_seq += 1
            checked += 1
            last_seq = row["seq"]


def ensure_can_read(principal: Principal) -> None:
    if not principal.has_scope(Scope.AUDIT_READ):
        raise Forbidden("only administrators can read the audit trail")


async def trail(
    session: AsyncSession,
    *,
    principal: Principal,
    entity_id: str,
    limit: int,
    after: str | None = None,
    with_total: bool = False,
) -> Page[AuditRecord]:
    """Records about one entity, oldest first, for administrators; ``with_total`` also
    counts all of them (every page gives the same total)."""
    ensure_can_read(principal)
    of_entity = col(AuditRecord.entity_id) == entity_id
    stmt = sa.select(AuditRecord).where(of_entity)
    if after:
        (value,) = decode_cursor(after, _CURSOR_TAG, 1)
        if not isinstance(value, int):
            raise ValidationFailed.on("after", "this cursor is not valid")
        stmt = stmt.where(col(AuditRecord.seq) > value)
    stmt = stmt.order_by(col(AuditRecord.seq)).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    items = rows[:limit]
    total = None
    if with_total:
        count = sa.select(sa.func.count()).select_from(AuditRecord).where(of_entity)
        total = int((await session.execute(count)).scalar_one())
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR_TAG, r.seq) for r in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
        total=total,
    )

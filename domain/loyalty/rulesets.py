"""Rule set versions: publish, replace from a day, retire; which one is in force.

Versions of a program are numbered 1, 2, …; each is in force on the program's days
``[effective_from, effective_until)``. ACTIVE versions never overlap: a new one whose dates
overlap is refused (``OVERLAPPING_DATES``). Changing rules is publishing a new version:
:func:`replace_rule_set` shortens the version in force to end the day the new one starts
(or supersedes it when it had not started); accruals keep the version they were made with.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.loyalty import access
from domain.loyalty import accounts as accounts_service
from domain.loyalty import events as loyalty_events
from domain.loyalty.errors import OverlappingDates
from domain.loyalty.models import LoyaltyProgram, LoyaltyRuleSet, RuleSetStatus
from domain.loyalty.rules import RuleSet, parse_rule_set
from domain.shared import audit, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, NotFound, Problems
from domain.shared.principal import Principal
from domain.shared.sql import for_update
from domain.shared.time import local_today, utcnow

MAX_DOCUMENT_BYTES = 256 * 1024


def document_hash(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _check(
    p: Problems,
    *,
    name: str,
    effective_from: date,
    effective_until: date | None,
    document: object,
    currency: str,
) -> RuleSet | None:
    text = (name or "").strip()
    if not text or len(text) > 200:
        p.add("name", "between 1 and 200 characters")
    pan.check(p, "name", text)
    if effective_until is not None and effective_until <= effective_from:
        p.add("effectiveUntil", "after effectiveFrom (the version ends the day before it)")
    if len(json.dumps(document, default=str)) > MAX_DOCUMENT_BYTES:
        p.add("document", f"at most {MAX_DOCUMENT_BYTES // 1024} KiB")
        return None
    try:
        parsed = parse_rule_set(document)
    except Exception as exc:  # ValidationFailed: gather its problems with the others
        problems = getattr(exc, "problems", None)
        if problems is None:
            raise
        p.items.extend(problems)
        return None
    if parsed.currency != currency:
        p.add("document.currency", f"the program's currency is {currency}")
    pan.check(p, "document", json.dumps(document, ensure_ascii=False))
    return parsed


def _overlaps(a_from: date, a_until: date | None, b_from: date, b_until: date | None) -> bool:
    return (b_until is None or a_from < b_until) and (a_until is None or b_from < a_until)


async def _active_versions(
    session: AsyncSession, program_id: uuid.UUID, *, lock: bool = False
) -> list[LoyaltyRuleSet]:
    query = (
        sa.select(LoyaltyRuleSet)
        .where(
            col(LoyaltyRuleSet.program_id) == program_id,
            col(LoyaltyRuleSet.status) == RuleSetStatus.ACTIVE.value,
        )
        .order_by(col(LoyaltyRuleSet.effective_from))
    )
    if lock:
        query = for_update(query, session)
    return list((await session.execute(query)).scalars())


async def _next_version(session: AsyncSession, program_id: uuid.UUID) -> int:
    top = await session.scalar(
        sa.select(sa.func.max(col(LoyaltyRuleSet.version))).where(
            col(LoyaltyRuleSet.program_id) == program_id
        )
    )
    return int(top or 0) + 1


def _emit(
    session: AsyncSession, program: LoyaltyProgram, rule_set: LoyaltyRuleSet, change: str
) -> None:
    loyalty_events.emit(
        session,
        "loyalty.rule_set_changed",
        program,
        {
            "ruleSetId": wire.global_id("LoyaltyRuleSet", rule_set.id),
            "version": rule_set.version,
            "status": rule_set.status,
            "effectiveFrom": wire.day(rule_set.effective_from),
            "effectiveUntil": wire.maybe_day(rule_set.effective_until),
            "change": change,
        },
    )


def snapshot(rule_set: LoyaltyRuleSet) -> dict[str, Any]:
    return {
        "version": rule_set.version,
        "name": rule_set.name,
        "status": rule_set.status,
        "effectiveFrom": rule_set.effective_from.isoformat(),
        "effectiveUntil": rule_set.effective_until.isoformat()
        if rule_set.effective_until
        else None,
        "documentHash": rule_set.document_hash,
    }


async def create_rule_set(
    session: AsyncSession,
    principal: Principal,
    *,
    program_id: uuid.UUID,
    name: str,
    effective_from: date,
    effective_until: date | None,
    document: dict[str, Any],
    supersedes: LoyaltyRuleSet | None = None,
) -> LoyaltyRuleSet:
    """Publish a version. Refused with ``OVERLAPPING_DATES`` when an ACTIVE version's days
    meet the new one's."""
    access.ensure_can_manage(principal)
    program = await accounts_service.get_program(session, program_id, lock=True)
    access.ensure_staff_of(principal, program)
    p = Problems()
    _check(
        p,
        name=name,
        effective_from=effective_from,
        effective_until=effective_until,
        document=document,
        currency=program.currency,
    )
    p.raise_if_any()
    for other in await _active_versions(session, program.id, lock=True):
        if supersedes is not None and other.id == supersedes.id:
            continue
        if _overlaps(effective_from, effective_until, other.effective_from, other.effective_until):
            raise OverlappingDates(
                f"version {other.version} is in force from {other.effective_from.isoformat()}"
                f" until {other.effective_until.isoformat() if other.effective_until else 'open'}"
                "; end it first or publish the new rules as its replacement"
            )
    rule_set = LoyaltyRuleSet(
        program_id=program.id,
        version=await _next_version(session, program.id),
        name=name.strip(),
        effective_from=effective_from,
        effective_until=effective_until,
        document=document,
        document_hash=document_hash(document),
        supersedes_id=supersedes.id if supersedes else None,
        created_by=principal.subject,
    )
    session.add(rule_set)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.rule_set.publish",
        entity_type="LoyaltyRuleSet",
        entity_id=rule_set.id,
        after=snapshot(rule_set),
    )
    _emit(session, program, rule_set, "PUBLISHED")
    return rule_set


async def get_rule_set(
    session: AsyncSession, rule_set_id: uuid.UUID, *, lock: bool = False
) -> LoyaltyRuleSet:
    query = sa.select(LoyaltyRuleSet).where(col(LoyaltyRuleSet.id) == rule_set_id)
    if lock:
        query = for_update(query, session)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound("LoyaltyRuleSet", rule_set_id)
    return found


async def replace_rule_set(
    session: AsyncSession,
    principal: Principal,
    *,
    rule_set_id: uuid.UUID,
    expected_version: int,
    name: str,
    effective_from: date,
    document: dict[str, Any],
) -> LoyaltyRuleSet:
    """New rules in place of a version from ``effective_from``: the old version ends the
    day before (or is superseded whole when it had not started by then). Days already
    lived keep their rules: ``effective_from`` cannot be before the program's today."""
    access.ensure_can_manage(principal)
    old = await get_rule_set(session, rule_set_id, lock=True)
    program = await accounts_service.get_program(session, old.program_id, lock=True)
    access.ensure_staff_of(principal, program)
    if old.version != expected_version:
        raise Conflict(f"this is version {old.version}", current_version=old.version)
    if old.status != RuleSetStatus.ACTIVE.value:
        raise Conflict(f"version {old.version} is {old.status.lower()}")
    today = local_today(program.timezone)
    p = Problems()
    if effective_from < today:
        p.add("effectiveFrom", f"today ({today.isoformat()}) or later: past days keep their rules")
    if effective_from < old.effective_from:
        p.add("effectiveFrom", "on or after the replaced version's first day")
    if old.effective_until is not None and effective_from >= old.effective_until:
        p.add("effectiveFrom", "before the replaced version's end")
    p.raise_if_any()
    before = snapshot(old)
    if effective_from <= old.effective_from:
        old.status = RuleSetStatus.SUPERSEDED.value
        change = "SUPERSEDED"
    else:
        change = "SHORTENED"
    until = old.effective_until
    if change == "SHORTENED":
        old.effective_until = effective_from
    old.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.rule_set.replace",
        entity_type="LoyaltyRuleSet",
        entity_id=old.id,
        before=before,
        after=snapshot(old),
    )
    _emit(session, program, old, change)
    return await create_rule_set(
        session,
        principal,
        program_id=program.id,
        name=name,
        effective_from=effective_from,
        effective_until=until,
        document=document,
        supersedes=old,
    )


async def end_rule_set(
    session: AsyncSession,
    principal: Principal,
    *,
    rule_set_id: uuid.UUID,
    expected_version: int,
    effective_until: date | None,
) -> LoyaltyRuleSet:
    """Retire a version that has not started, or end one in force on a day from tomorrow
    on (``effective_until``; None retires)."""
    access.ensure_can_manage(principal)
    rule_set = await get_rule_set(session, rule_set_id, lock=True)
    program = await accounts_service.get_program(session, rule_set.program_id)
    access.ensure_staff_of(principal, program)
    if rule_set.version != expected_version:
        raise Conflict(f"this is version {rule_set.version}", current_version=rule_set.version)
    if rule_set.status != RuleSetStatus.ACTIVE.value:
        raise Conflict(f"version {rule_set.version} is {rule_set.status.lower()}")
    today = local_today(program.timezone)
    before = snapshot(rule_set)
    if effective_until is None:
        if rule_set.effective_from <= today:
            raise Conflict("a version in force is ended on a day, not retired: days lived keep it")
        rule_set.status = RuleSetStatus.RETIRED.value
        change = "RETIRED"
    else:
        p = Problems()
        if effective_until <= today:
            p.add("effectiveUntil", "tomorrow or later: days lived keep their rules")
        if effective_until <= rule_set.effective_from:
            p.add("effectiveUntil", "after the version's first day")
        if rule_set.effective_until is not None and effective_until > rule_set.effective_until:
            p.add("effectiveUntil", "a version is shortened here, never lengthened")
        p.raise_if_any()
        rule_set.effective_until = effective_until
        change = "SHORTENED"
    rule_set.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.rule_set.end",
        entity_type="LoyaltyRuleSet",
        entity_id=rule_set.id,
        before=before,
        after=snapshot(rule_set),
    )
    _emit(session, program, rule_set, change)
    return rule_set


# --- in force ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VersionInForce:
    id: uuid.UUID
    version: int
    effective_from: date
    effective_until: date | None
    rules: RuleSet

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_until is None or day < self.effective_until
        )


class Calendar:
    """A program's ACTIVE versions, parsed once, looked up by day."""

    def __init__(self, versions: Sequence[VersionInForce]) -> None:
        self.versions = sorted(versions, key=lambda v: v.effective_from)

    def at(self, day: date) -> VersionInForce | None:
        for version in self.versions:
            if version.covers(day):
                return version
        return None

    def resolve(self, day: date) -> tuple[RuleSet, VersionInForce] | None:
        found = self.at(day)
        return (found.rules, found) if found else None


def version_of(row: LoyaltyRuleSet) -> VersionInForce:
    return VersionInForce(
        row.id, row.version, row.effective_from, row.effective_until, parse_rule_set(row.document)
    )


async def calendar(session: AsyncSession, program_id: uuid.UUID) -> Calendar:
    return Calendar([version_of(r) for r in await _active_versions(session, program_id)])


async def list_rule_sets(
    session: AsyncSession, principal: Principal, *, program_id: uuid.UUID
) -> list[LoyaltyRuleSet]:
    access.ensure_can_read(principal)
    program = await accounts_service.get_program(session, program_id)
    if not access.may_see_program(principal, program):
        raise NotFound("LoyaltyProgram", program_id)
    rows = await session.execute(
        sa.select(LoyaltyRuleSet)
        .where(col(LoyaltyRuleSet.program_id) == program_id)
        .order_by(col(LoyaltyRuleSet.version).desc())
    )
    return list(rows.scalars())

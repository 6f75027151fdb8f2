"""Collectors and the assignment rules that give them accounts.

A **collector** is a directory user of the lender (an agent or a supervisor, active)
enrolled by a supervisor; a collector switched off keeps its history and gets no new work.

The **assignment rules** of a lender are an ordered list, kept as data and versioned (each
change is a new version; the old ones stay). A rule matches a queue item by its queue(s),
its aging bucket(s) and the amount due (a range in one currency; an item in another
currency does not match a rule with an amount range), and names a pool of collectors:

```json
{"name": "Mora temprana alta", "queues": ["PAST_DUE"], "buckets": ["1-30"],
 "currency": "CLP", "minAmount": 500000, "maxAmount": null,
 "collectorIds": ["…", "…"]}
```

The first rule that matches and has an active collector in its pool wins, and its pool is
served in **round robin** (a cursor per pool, kept in the database, so the turn survives
restarts and is shared by every worker). No rule matching: every active collector of the
lender, in round robin. An item keeps its collector while that collector stays active and
in the pool that now matches (continuity: the customer keeps talking to the same person).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.collections import work_access as access
from domain.collections.work_models import (
    AssignmentRuleSet,
    Collector,
    QueueKind,
    RoundRobinCursor,
)
from domain.credits.states import AgingBucket
from domain.identity.models import User
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, NotFound, Problems, ValidationFailed
from domain.shared.models import table_of
from domain.shared.money import CURRENCY_EXPONENTS, Money
from domain.shared.principal import Principal, Role
from domain.shared.sql import advisory_xact_lock, for_update, insert_ignoring_conflicts
from domain.shared.time import utcnow

__all__ = [
    "Assigner",
    "CollectorView",
    "RuleInput",
    "collector_for_subject",
    "current_rules",
    "enroll_collector",
    "list_collectors",
    "set_collector_active",
    "set_rules",
]

MAX_RULES = 50
MAX_POOL = 200
NAME_MAX = 100


# --- collectors -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CollectorView:
    id: uuid.UUID
    partner_id: uuid.UUID
    user_id: uuid.UUID
    subject: str
    display_name: str
    active: bool
    created_at: datetime
    version: int


def _view(collector: Collector, user: User) -> CollectorView:
    return CollectorView(
        id=collector.id,
        partner_id=collector.partner_id,
        user_id=user.id,
        subject=user.subject,
        display_name=user.display_name,
        active=collector.active,
        created_at=collector.created_at,
        version=collector.version,
    )


def _collector_event(session: AsyncSession, collector: Collector) -> None:
    outbox.add(
        session,
        "collections.collector_changed",
        {
            "partnerId": wire.global_id("Partner", collector.partner_id),
            "collectorId": str(collector.id),
            "active": collector.active,
            "version": collector.version,
        },
        partner_ids=[collector.partner_id],
        key=wire.global_id("Partner", collector.partner_id),
    )


async def enroll_collector(
    session: AsyncSession,
    *,
    principal: Principal,
    lender_id: uuid.UUID | None,
    user_id: uuid.UUID | None = None,
    subject: str | None = None,
) -> CollectorView:
    """Enroll a user of the lender (by id or sign-in subject) as a collector. Enrolling one
    already enrolled switches it on again."""
    access.ensure_can_manage(principal)
    partner_id = access.lender_for(principal, lender_id)
    if (user_id is None) == (subject is None):
        raise ValidationFailed.on("userId", "name the user by userId or by subject (one of them)")
    stmt = sa.select(User)
    stmt = (
        stmt.where(col(User.id) == user_id)
        if user_id
        else stmt.where(col(User.subject) == (subject or "").strip())
    )
    user = (await session.execute(stmt)).scalars().first()
    field = "userId" if user_id else "subject"
    if user is None or user.partner_id != partner_id:
        raise ValidationFailed.on(field, "is not a user of this lender")
    if not user.active:
        raise ValidationFailed.on(field, "this user is not active")
    if not {Role.AGENT.value, Role.SUPERVISOR.value} & set(user.roles or []):
        raise ValidationFailed.on(field, "collectors are the lender's agents and supervisors")
    existing = (
        (
            await session.execute(
                for_update(
                    sa.select(Collector).where(
                        col(Collector.partner_id) == partner_id, col(Collector.user_id) == user.id
                    ),
                    session,
                )
            )
        )
        .scalars()
        .first()
    )
    if existing is not None:
        if existing.active:
            return _view(existing, user)
        return await _switch(session, principal, existing, user, True)
    collector = Collector(partner_id=partner_id, user_id=user.id, created_by=principal.subject)
    session.add(collector)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="collections.collector_enrolled",
        entity_type="Collector",
        entity_id=collector.id,
        after={"partner_id": partner_id, "user_id": user.id, "active": True},
    )
    _collector_event(session, collector)
    return _view(collector, user)


async def _switch(
    session: AsyncSession, principal: Principal, collector: Collector, user: User, active: bool
) -> CollectorView:
    before = {"active": collector.active, "version": collector.version}
    collector.active = active
    collector.version += 1
    collector.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="collections.collector_enabled" if active else "collections.collector_disabled",
        entity_type="Collector",
        entity_id=collector.id,
        before=before,
        after={"active": active, "version": collector.version},
    )
    _collector_event(session, collector)
    return _view(collector, user)


async def set_collector_active(
    session: AsyncSession,
    *,
    principal: Principal,
    collector_id: uuid.UUID,
    active: bool,
    expected_version: int,
) -> CollectorView:
    """Switch a collector on or off (off: its open items go to others at the next run)."""
    access.ensure_can_manage(principal)
    collector = (
        (
            await session.execute(
                for_update(sa.select(Collector).where(col(Collector.id) == collector_id), session)
            )
        )
        .scalars()
        .first()
    )
    if collector is None:
        raise NotFound("Collector", collector_id)
    access.ensure_same_lender(principal, collector.partner_id, "Collector", collector_id)
    if collector.version != expected_version:
        raise Conflict(
            f"the collector changed since version {expected_version}; it is now at version "
            f"{collector.version}",
            current_version=collector.version,
        )
    user = await session.get(User, collector.user_id)
    assert user is not None
    if collector.active == active:
        return _view(collector, user)
    return await _switch(session, principal, collector, user, active)


async def list_collectors(
    session: AsyncSession, *, principal: Principal, lender_id: uuid.UUID | None
) -> list[CollectorView]:
    partner_id = access.lender_for(principal, lender_id)
    rows = await session.execute(
        sa.select(Collector, User)
        .join(User, col(User.id) == col(Collector.user_id))
        .where(col(Collector.partner_id) == partner_id)
        .order_by(col(User.display_name), col(Collector.id))
    )
    return [_view(c, u) for c, u in rows.all()]


async def collectors_by_id(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, CollectorView]:
    """Collectors by id, no access check (DataLoaders of already-checked rows)."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(Collector, User)
        .join(User, col(User.id) == col(Collector.user_id))
        .where(col(Collector.id).in_(wanted))
    )
    return {c.id: _view(c, u) for c, u in rows.all()}


async def collector_for_subject(
    session: AsyncSession, partner_id: uuid.UUID, subject: str
) -> Collector | None:
    """The collector a signed-in person is at a lender (None: not one)."""
    row = (
        (
            await session.execute(
                sa.select(Collector)
                .join(User, col(User.id) == col(Collector.user_id))
                .where(col(Collector.partner_id) == partner_id, col(User.subject) == subject)
            )
        )
        .scalars()
        .first()
    )
    return row


# --- rules ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RuleInput:
    name: str
    queues: Sequence[str] = ()
    buckets: Sequence[str] = ()
    min_amount: Money | None = None
    max_amount: Money | None = None
    collector_ids: Sequence[uuid.UUID] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule as stored (``AssignmentRuleSet.rules`` items)."""

    name: str
    queues: tuple[str, ...]
    buckets: tuple[str, ...]
    currency: str | None
    min_amount: int | None
    max_amount: int | None
    collector_ids: tuple[uuid.UUID, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "queues": list(self.queues),
            "buckets": list(self.buckets),
            "currency": self.currency,
            "minAmount": self.min_amount,
            "maxAmount": self.max_amount,
            "collectorIds": [str(c) for c in self.collector_ids],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rule:
        return cls(
            name=str(data["name"]),
            queues=tuple(data.get("queues") or ()),
            buckets=tuple(data.get("buckets") or ()),
            currency=data.get("currency"),
            min_amount=data.get("minAmount"),
            max_amount=data.get("maxAmount"),
            collector_ids=tuple(uuid.UUID(c) for c in data.get("collectorIds") or ()),
        )

    def matches(self, queue: str, bucket: str, amount: int, currency: str) -> bool:
        if self.queues and queue not in self.queues:
            return False
        if self.buckets and bucket not in self.buckets:
            return False
        if self.min_amount is None and self.max_amount is None:
            return True
        if currency != self.currency:
            return False
        if self.min_amount is not None and amount < self.min_amount:
            return False
        return self.max_amount is None or amount <= self.max_amount


@dataclass(frozen=True, slots=True)
class RuleSetView:
    partner_id: uuid.UUID
    version: int  # 0: none set yet (every active collector, in turn)
    rules: list[Rule]
    created_at: datetime | None
    created_by: str | None


async def _latest_rules(session: AsyncSession, partner_id: uuid.UUID) -> AssignmentRuleSet | None:
    return (
        (
            await session.execute(
                sa.select(AssignmentRuleSet)
                .where(col(AssignmentRuleSet.partner_id) == partner_id)
                .order_by(col(AssignmentRuleSet.version).desc())
                .limit(1)
            )
        )
        .scalars()
        .first()
    )


def _rule_set_view(partner_id: uuid.UUID, row: AssignmentRuleSet | None) -> RuleSetView:
    if row is None:
        return RuleSetView(partner_id, 0, [], None, None)
    return RuleSetView(
        partner_id,
        row.version,
        [Rule.from_json(r) for r in row.rules],
        row.created_at,
        row.created_by,
    )


async def current_rules(
    session: AsyncSession, *, principal: Principal, lender_id: uuid.UUID | None
) -> RuleSetView:
    partner_id = access.lender_for(principal, lender_id)
    return _rule_set_view(partner_id, await _latest_rules(session, partner_id))


def _amount(
    problems: Problems, field: str, value: Money | None, currency: str | None
) -> tuple[int | None, str | None]:
    if value is None:
        return None, currency
    if value.amount < 0:
        problems.add(field, "must not be negative")
    if currency is not None and value.currency != currency:
        problems.add(field, f"use one currency per rule ({currency})")
    return value.amount, value.currency


async def set_rules(
    session: AsyncSession,
    *,
    principal: Principal,
    lender_id: uuid.UUID | None,
    rules: Sequence[RuleInput],
    expected_version: int,
) -> RuleSetView:
    """Replace the lender's assignment rules by a new version (the whole ordered list at
    once; ``expected_version`` is the version read, 0 when there is none)."""
    access.ensure_can_manage(principal)
    partner_id = access.lender_for(principal, lender_id)
    await _lock_partner_config(session, partner_id)
    latest = await _latest_rules(session, partner_id)
    current = latest.version if latest is not None else 0
    if expected_version != current:
        raise Conflict(
            f"the assignment rules changed since version {expected_version}; they are now at "
            f"version {current}",
            current_version=current,
        )
    problems = Problems()
    if len(rules) > MAX_RULES:
        problems.add("rules", f"at most {MAX_RULES} rules")
    names: set[str] = set()
    known_buckets = {b.value for b in AgingBucket}
    known_queues = {q.value for q in QueueKind}
    collectors = {
        c.id: c
        for c in (
            await session.execute(
                sa.select(Collector).where(col(Collector.partner_id) == partner_id)
            )
        ).scalars()
    }
    stored: list[Rule] = []
    for index, rule in enumerate(rules[:MAX_RULES]):
        at = f"rules[{index}]"
        name = " ".join((rule.name or "").split())
        if not name or len(name) > NAME_MAX:
            problems.add(f"{at}.name", f"1 to {NAME_MAX} characters")
        elif name.lower() in names:
            problems.add(f"{at}.name", "two rules have this name")
        names.add(name.lower())
        bad_queues = [q for q in rule.queues if q not in known_queues]
        if bad_queues:
            problems.add(f"{at}.queues", f"unknown queue {bad_queues[0]!r}")
        bad_buckets = [b for b in rule.buckets if b not in known_buckets]
        if bad_buckets:
            problems.add(f"{at}.buckets", f"unknown aging bucket {bad_buckets[0]!r}")
        low, currency = _amount(problems, f"{at}.minAmount", rule.min_amount, None)
        high, currency = _amount(problems, f"{at}.maxAmount", rule.max_amount, currency)
        if low is not None and high is not None and low > high:
            problems.add(f"{at}.maxAmount", "must not be below minAmount")
        if currency is not None and currency not in CURRENCY_EXPONENTS:
            problems.add(f"{at}.minAmount", f"unknown currency {currency!r}")
        pool = list(dict.fromkeys(rule.collector_ids))
        if not pool:
            problems.add(f"{at}.collectorIds", "name at least one collector")
        if len(pool) > MAX_POOL:
            problems.add(f"{at}.collectorIds", f"at most {MAX_POOL} collectors")
        for key in pool:
            if key not in collectors:
                problems.add(f"{at}.collectorIds", f"{key} is not a collector of this lender")
                break
        stored.append(
            Rule(
                name=name,
                queues=tuple(dict.fromkeys(rule.queues)),
                buckets=tuple(dict.fromkeys(rule.buckets)),
                currency=currency,
                min_amount=low,
                max_amount=high,
                collector_ids=tuple(pool),
            )
        )
    problems.raise_if_any()
    row = AssignmentRuleSet(
        partner_id=partner_id,
        version=current + 1,
        rules=[r.to_json() for r in stored],
        created_by=principal.subject,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="collections.rules_changed",
        entity_type="AssignmentRuleSet",
        entity_id=row.id,
        before={"version": current, "rules": latest.rules if latest is not None else []},
        after={"version": row.version, "rules": row.rules},
    )
    outbox.add(
        session,
        "collections.rules_changed",
        {
            "partnerId": wire.global_id("Partner", partner_id),
            "version": row.version,
            "ruleCount": len(stored),
        },
        partner_ids=[partner_id],
        key=wire.global_id("Partner", partner_id),
    )
    return _rule_set_view(partner_id, row)


async def _lock_partner_config(session: AsyncSession, partner_id: uuid.UUID) -> None:
    """Serialise the collections work of one lender (two supervisors saving at once, a run
    and a payment refreshing the same queue): a transaction-scoped advisory lock on
    PostgreSQL (SQLite's writers are serialised already). No row is locked, so nothing
    else of the partner waits."""
    await lock_lender(session, partner_id, "collections-work")


def lender_lock_key(partner_id: uuid.UUID, purpose: str) -> int:
    """A 63-bit advisory lock key for ``purpose`` on one lender."""
    digest = hashlib.sha256(f"{purpose}:{partner_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


async def lock_lender(session: AsyncSession, partner_id: uuid.UUID, purpose: str) -> None:
    await advisory_xact_lock(session, lender_lock_key(partner_id, purpose))


# --- assigning ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Choice:
    collector_id: uuid.UUID | None
    how: str  # RULE, DEFAULT, KEPT, NONE
    rule_name: str | None = None


class Assigner:
    """The assignment of one lender for one batch of a run: rules, active collectors and
    the round-robin cursors, loaded once (cursors locked) and saved with :meth:`save`."""

    def __init__(
        self,
        partner_id: uuid.UUID,
        version: int,
        rules: list[Rule],
        active: list[uuid.UUID],
        cursors: dict[str, int],
    ) -> None:
        self.partner_id = partner_id
        self.version = version
        self.rules = rules
        self.active = active
        self._active_set = set(active)
        self.cursors = cursors
        self._touched: set[str] = set()

    @classmethod
    async def load(cls, session: AsyncSession, partner_id: uuid.UUID) -> Assigner:
        await _lock_partner_config(session, partner_id)  # one run of a lender at a time
        latest = await _latest_rules(session, partner_id)
        rules = [Rule.from_json(r) for r in latest.rules] if latest is not None else []
        active = list(
            (
                await session.execute(
                    sa.select(col(Collector.id))
                    .where(col(Collector.partner_id) == partner_id, col(Collector.active).is_(True))
                    .order_by(col(Collector.id))
                )
            ).scalars()
        )
        cursor_table = table_of(RoundRobinCursor)
        rows = await session.execute(
            for_update(
                sa.select(cursor_table.c.pool, cursor_table.c.next_index).where(
                    cursor_table.c.partner_id == partner_id
                ),
                session,
            )
        )
        cursors = {r.pool: int(r.next_index) for r in rows}
        return cls(partner_id, latest.version if latest else 0, rules, active, cursors)

    def _pool_of(
        self, queue: str, bucket: str, amount: int, currency: str
    ) -> tuple[str, list[uuid.UUID], str, str | None]:
        for index, rule in enumerate(self.rules):
            if not rule.matches(queue, bucket, amount, currency):
                continue
            pool = [c for c in rule.collector_ids if c in self._active_set]
            if pool:
                return f"rule:{self.version}:{index}", pool, "RULE", rule.name
        return "default", list(self.active), "DEFAULT", None

    def choose(
        self,
        *,
        queue: str,
        bucket: str,
        amount: int,
        currency: str,
        current: uuid.UUID | None,
    ) -> Choice:
        key, pool, how, rule_name = self._pool_of(queue, bucket, amount, currency)
        if not pool:
            return Choice(None, "NONE")
        if current is not None and current in pool:
            return Choice(current, "KEPT", rule_name)
        turn = self.cursors.get(key, 0)
        self.cursors[key] = turn + 1
        self._touched.add(key)
        return Choice(pool[turn % len(pool)], how, rule_name)

    async def save(self, session: AsyncSession) -> None:
        if not self._touched:
            return
        table = table_of(RoundRobinCursor)
        keys = sorted(self._touched)
        await insert_ignoring_conflicts(
            session,
            table,
            [{"partner_id": self.partner_id, "pool": k, "next_index": 0} for k in keys],
            index_elements=["partner_id", "pool"],
        )
        await session.execute(
            table.update()
            .where(table.c.partner_id == self.partner_id, table.c.pool == sa.bindparam("b_pool"))
            .values(next_index=sa.bindparam("b_next")),
            [{"b_pool": k, "b_next": self.cursors[k]} for k in keys],
            execution_options={"synchronize_session": False},
        )
        self._touched.clear()

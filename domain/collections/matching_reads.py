"""Reading the reconciliation: the queue people work, a line's decision history, and the
lenders' rule sets (create a version, list them, explain a line with them).

The queue is the lender's lines in the states that need a person (SUGGESTED, EXCEPTION,
UNMATCHED by default), oldest booking first — the payments waiting longest — with keyset
pagination over ``(booking_date, id)``. Each item carries the line, its current decision
(rule, confidence, evidence, candidates), what it booked, and its "unidentified payment"
case if it opened one, read in one statement each for the whole page.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.collections import access
from domain.collections.matching import RuleSetInForce, rule_set_in_force
from domain.collections.matching_engine import Decision, decide
from domain.collections.matching_index import LINE_COLUMNS, build_index, line_views
from domain.collections.matching_models import (
    LineApplication,
    LineCase,
    LineDecision,
    MatchRuleSet,
)
from domain.collections.matching_rules import DEFAULT_RULES, parse_rules, rules_to_data
from domain.collections.models import LineState, StatementLine
from domain.credits.policy import COUNTRY_TIMEZONES, get_policy
from domain.partners.models import Partner
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal, Role
from domain.shared.time import ensure_utc, local_today, utcnow

__all__ = [
    "QUEUE_STATES",
    "QueueFilter",
    "QueueItem",
    "RuleTrace",
    "create_rule_set",
    "explain_line",
    "get_item",
    "history_of",
    "items_for",
    "list_rule_sets",
    "queue",
]

#: The states that need a person, the queue's default.
QUEUE_STATES = (LineState.SUGGESTED, LineState.EXCEPTION, LineState.UNMATCHED)
_CURSOR = "reconciliation_queue"
#: A version may take effect at most this far back (clock skew between client and server).
PAST_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    states: Sequence[str] | None = None
    account_id: uuid.UUID | None = None
    min_age_days: int | None = None
    max_age_days: int | None = None
    reason: str | None = None
    partner_id: uuid.UUID | None = None  # administrators: one lender


@dataclass
class QueueItem:
    line: StatementLine
    decision: LineDecision | None = None
    applications: list[LineApplication] = field(default_factory=list)
    case: LineCase | None = None


async def _today_of(session: AsyncSession, partner_id: uuid.UUID | None) -> date:
    from zoneinfo import ZoneInfo

    country = "CL"
    if partner_id is not None:
        partner = await session.get(Partner, partner_id)
        country = partner.country if partner else country
    return local_today(ZoneInfo(COUNTRY_TIMEZONES.get(country, COUNTRY_TIMEZONES["CL"])))


async def items_for(session: AsyncSession, lines: Sequence[StatementLine]) -> list[QueueItem]:
    """The decision, applications and case of each line (three statements)."""
    ids = [line.id for line in lines]
    items = {line.id: QueueItem(line) for line in lines}
    if not ids:
        return []
    for decision in (
        await session.execute(
            sa.select(LineDecision)
            .where(col(LineDecision.line_id).in_(ids), col(LineDecision.current).is_(True))
            .order_by(col(LineDecision.created_at), col(LineDecision.id))
        )
    ).scalars():
        items[decision.line_id].decision = decision
    for application in (
        await session.execute(
            sa.select(LineApplication)
            .where(col(LineApplication.line_id).in_(ids))
            .order_by(col(LineApplication.created_at), col(LineApplication.id))
        )
    ).scalars():
        items[application.line_id].applications.append(application)
    for case in (
        await session.execute(sa.select(LineCase).where(col(LineCase.line_id).in_(ids)))
    ).scalars():
        items[case.line_id].case = case
    return [items[i] for i in ids]


async def queue(
    session: AsyncSession,
    *,
    principal: Principal,
    filter: QueueFilter,
    limit: int,
    after: str | None = None,
    with_total: bool = False,
) -> Page[QueueItem]:
    """The lender's lines waiting for a person, oldest booking first."""
    access.ensure_can_read(principal)
    try:
        states = [LineState(s).value for s in (filter.states or QUEUE_STATES)]
    except ValueError:
        raise ValidationFailed.on("filter.states", "not a state of a line") from None
    conditions: list[sa.ColumnElement[bool]] = [
        access.lines_visible_to(principal),
        col(StatementLine.state).in_(states),
    ]
    partner = principal.partner_id if not principal.is_admin else filter.partner_id
    if filter.partner_id is not None:
        conditions.append(col(StatementLine.partner_id) == filter.partner_id)
    if filter.account_id is not None:
        conditions.append(col(StatementLine.account_id) == filter.account_id)
    today = await _today_of(session, partner)
    for name, days in (("minAgeDays", filter.min_age_days), ("maxAgeDays", filter.max_age_days)):
        if days is not None and not 0 <= days <= 3650:
            raise ValidationFailed.on(f"filter.{name}", "0 to 3650 days")
    if filter.min_age_days is not None:
        conditions.append(
            col(StatementLine.booking_date) <= today - timedelta(days=filter.min_age_days)
        )
    if filter.max_age_days is not None:
        conditions.append(
            col(StatementLine.booking_date) >= today - timedelta(days=filter.max_age_days)
        )
    if filter.reason is not None:
        current = (
            sa.select(col(LineDecision.line_id))
            .where(col(LineDecision.current).is_(True), col(LineDecision.reason) == filter.reason)
            .scalar_subquery()
        )
        conditions.append(col(StatementLine.id).in_(current))
    stmt = sa.select(StatementLine).where(*conditions)
    if after:
        raw_day, raw_id = decode_cursor(after, _CURSOR, 2)
        try:
            last_day = date.fromisoformat(str(raw_day))
            last_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        stmt = stmt.where(
            sa.or_(
                col(StatementLine.booking_date) > last_day,
                sa.and_(
                    col(StatementLine.booking_date) == last_day, col(StatementLine.id) > last_id
                ),
            )
        )
    stmt = stmt.order_by(col(StatementLine.booking_date), col(StatementLine.id)).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    page = rows[:limit]
    total = None
    if with_total:
        total = (
            await session.execute(
                sa.select(sa.func.count()).select_from(StatementLine).where(*conditions)
            )
        ).scalar_one()
    return Page(
        items=await items_for(session, page),
        cursors=[encode_cursor(_CURSOR, r.booking_date.isoformat(), str(r.id)) for r in page],
        has_next=len(rows) > limit,
        has_previous=after is not None,
        total=total,
    )


async def get_item(session: AsyncSession, *, principal: Principal, line_id: uuid.UUID) -> QueueItem:
    access.ensure_can_read(principal)
    line = (
        await session.execute(
            sa.select(StatementLine).where(
                col(StatementLine.id) == line_id, access.lines_visible_to(principal)
            )
        )
    ).scalar_one_or_none()
    if line is None:
        raise NotFound("StatementLine", line_id)
    (item,) = await items_for(session, [line])
    return item


async def history_of(
    session: AsyncSession, *, principal: Principal, line_id: uuid.UUID
) -> list[LineDecision]:
    """Every decision the line had, oldest first (its explanation over time)."""
    await get_item(session, principal=principal, line_id=line_id)
    rows = await session.execute(
        sa.select(LineDecision)
        .where(col(LineDecision.line_id) == line_id)
        .order_by(col(LineDecision.created_at), col(LineDecision.id))
    )
    return list(rows.scalars())


# --- rule sets -----------------------------------------------------------------------------
def _ensure_can_manage(principal: Principal, partner_id: uuid.UUID) -> None:
    access.ensure_can_read(principal)
    access.ensure_owner(principal, partner_id)
    from domain.shared.errors import Forbidden
    from domain.shared.principal import Scope

    if not principal.has_scope(Scope.COLLECTIONS_WRITE) or not (
        principal.is_admin or principal.has_role(Role.SUPERVISOR, Role.PARTNER_SYSTEM)
    ):
        raise Forbidden("only a lender's supervisors and administrators change matching rules")


def _partner_of(principal: Principal, partner_id: uuid.UUID | None) -> uuid.UUID:
    chosen = partner_id or principal.partner_id
    if chosen is None:
        raise ValidationFailed.on("partnerId", "say which lender's rules (administrators)")
    return chosen


async def create_rule_set(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID | None,
    rules: Any,
    description: str,
    effective_from: datetime | None = None,
) -> MatchRuleSet:
    """A new version of the lender's rules, in effect from ``effective_from`` (now by
    default). Versions already in place are never changed, and every line keeps the version
    that decided it."""
    lender = _partner_of(principal, partner_id)
    _ensure_can_manage(principal, lender)
    partner = await session.get(Partner, lender)
    if partner is None:
        raise NotFound("Partner", lender)
    text = " ".join(description.split()) if isinstance(description, str) else ""
    if not text or len(text) > 300:
        raise ValidationFailed.on("description", "1 to 300 characters")
    parsed = parse_rules(rules)
    now = utcnow()
    when = now
    if effective_from is not None:
        try:
            when = ensure_utc(effective_from)
        except ValueError:
            raise ValidationFailed.on("effectiveFrom", "must carry a timezone") from None
        if when < now - PAST_TOLERANCE:
            raise ValidationFailed.on(
                "effectiveFrom", "cannot be in the past: lines already decided keep their rules"
            )
    table = sa.select(sa.func.max(col(MatchRuleSet.version))).where(
        col(MatchRuleSet.partner_id) == lender
    )
    version = int((await session.execute(table)).scalar() or 0) + 1
    row = MatchRuleSet(
        partner_id=lender,
        version=version,
        effective_from=when,
        description=text,
        rules=rules_to_data(parsed),
        created_by=principal.subject,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="collections.match_rule_set_created",
        entity_type="MatchRuleSet",
        entity_id=row.id,
        after={
            "partner_id": lender,
            "version": version,
            "effective_from": when,
            "description": text,
            "rules": row.rules,
        },
    )
    outbox.add(
        session,
        "collections.match_rule_set_created",
        {
            "partnerId": wire.global_id("Partner", lender),
            "ruleSetId": str(row.id),
            "version": version,
            "effectiveFrom": wire.instant(when),
            "ruleCount": len(parsed),
        },
        partner_ids=[lender],
        key=wire.global_id("Partner", lender),
    )
    return row


async def list_rule_sets(
    session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID | None
) -> tuple[list[MatchRuleSet], RuleSetInForce]:
    """Every version of the lender's rules, newest first, and the one in force now."""
    access.ensure_can_read(principal)
    lender = _partner_of(principal, partner_id)
    access.ensure_owner(principal, lender)
    rows = await session.execute(
        sa.select(MatchRuleSet)
        .where(col(MatchRuleSet.partner_id) == lender)
        .order_by(col(MatchRuleSet.version).desc())
    )
    return list(rows.scalars()), await rule_set_in_force(session, lender, utcnow())


def default_rules() -> list[dict[str, Any]]:
    return rules_to_data(parse_rules(DEFAULT_RULES))


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """What one rule would make of a line on its own."""

    rule_code: str
    rule_name: str
    decision: Decision


async def explain_line(
    session: AsyncSession,
    *,
    principal: Principal,
    line_id: uuid.UUID,
    rules: Any | None = None,
) -> tuple[Decision, list[RuleTrace], RuleSetInForce]:
    """The rule set in force (or ``rules`` given, to try a draft) on one line, now, nothing
    written: the decision it would reach, and what each rule alone makes of the line."""
    item = await get_item(session, principal=principal, line_id=line_id)
    line_row = item.line
    partner = await session.get(Partner, line_row.partner_id)
    country = partner.country if partner else "CL"
    in_force = await rule_set_in_force(session, line_row.partner_id, utcnow())
    if rules is not None:
        in_force = RuleSetInForce(None, in_force.version, parse_rules(rules))
    table = StatementLine.__table__  # type: ignore[attr-defined]
    (view,) = line_views(
        (
            await session.execute(
                sa.select(*(table.c[name] for name in LINE_COLUMNS)).where(table.c.id == line_id)
            )
        ).all()
    )
    # as if it were new: the rules look at it afresh
    view.state = LineState.NEW.value
    index = await build_index(
        session,
        partner_id=line_row.partner_id,
        country=country,
        lines=[view],
        rules=in_force.rules,
        policy=get_policy(),
    )
    (overall,), _ = decide([view], in_force.rules, index)
    traces = []
    for rule in in_force.rules:
        if not rule.enabled:
            continue
        (alone,), _ = decide([view], [rule], index)
        traces.append(RuleTrace(rule.code, rule.name, alone))
    return overall, traces, in_force

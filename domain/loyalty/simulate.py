"""``simulateLoyaltyRules``: a draft rule set run over recorded purchases, writing nothing.

Reads are set-based (the period's processed purchases and refunds of the members, the
accounts' tiers and segments, the tier history, the accruals the caps count before the
period) with only the columns the evaluator needs; the evaluation is pure Python in a
worker thread (it never holds the event loop). Both sides are computed the same way: the
rules in force (each purchase under the version of its day) and the draft (every purchase
of the period under it), caps accumulating from the same recorded history, refunds taking
back the same share. The answer: totals, the members that changed most, and the scenarios
(the rate rule, multipliers and promotions that applied on each side, and the tier) that
changed most — in points and in liability money.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty import access, rulesets
from domain.loyalty import accounts as accounts_service
from domain.loyalty.lots import local_date, start_of_day
from domain.loyalty.models import (
    EntryKind,
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltyPurchase,
    LoyaltyTierChange,
    PurchaseKind,
    PurchaseStatus,
    SourceType,
)
from domain.loyalty.rules import (
    CapCounters,
    Evaluation,
    MemberFacts,
    PurchaseFacts,
    RuleSet,
    clawback_due,
    evaluate,
    parse_rule_set,
)
from domain.shared.errors import Problems, ValidationFailed
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.principal import Principal

MAX_DAYS = 3 * 366
MAX_MEMBERS_LISTED = 500
#: Bounded work: more purchases than this is refused (narrow the period or the members).
MAX_PURCHASES = 2_000_000
MAX_MEMBER_FILTER = 10_000
CHUNK = 20_000


@dataclass
class MemberDiff:
    account_id: uuid.UUID
    number: str
    purchases: int = 0
    current: int = 0
    draft: int = 0

    @property
    def difference(self) -> int:
        return self.draft - self.current


@dataclass
class Scenario:
    key: str
    current_rule: str
    draft_rule: str
    purchases: int = 0
    current: int = 0
    draft: int = 0
    members: set[uuid.UUID] = field(default_factory=set)

    @property
    def difference(self) -> int:
        return self.draft - self.current


@dataclass
class Simulation:
    program_id: uuid.UUID
    period_from: date
    period_until: date
    members: int
    purchases: int
    current: int
    draft: int
    current_liability: Money
    draft_liability: Money
    changed_members: int
    top_members: list[MemberDiff]
    scenarios: list[Scenario]

    @property
    def difference(self) -> int:
        return self.draft - self.current

    @property
    def liability_difference(self) -> Money:
        return Money(
            self.draft_liability.amount - self.current_liability.amount,
            self.draft_liability.currency,
        )


@dataclass(slots=True)
class _Row:
    id: uuid.UUID
    account_id: uuid.UUID
    kind: str
    refund_of_id: uuid.UUID | None
    amount: int
    facts: PurchaseFacts
    in_period: bool


def _label(evaluation: Evaluation) -> str:
    exp = evaluation.explanation
    parts = [str(exp.get("rate", {}).get("rule") or exp.get("result") or "-")]
    parts += [str(f["id"]) for f in exp.get("factors", [])]
    if "event" in exp:
        parts = [f"event:{exp['event']['id']}"]
    if exp.get("caps") and exp.get("points", 0) < exp.get("beforeCaps", 0):
        parts.append("capped")
    return "+".join(parts)


async def simulate(
    session: AsyncSession,
    principal: Principal,
    *,
    program_id: uuid.UUID,
    document: dict[str, Any],
    period_from: date,
    period_until: date,
    members: Sequence[uuid.UUID] | None = None,
    top: int = 20,
) -> Simulation:
    """Run ``document`` (a draft rule set) over the program's purchases of the local days
    ``[period_from, period_until]`` (of ``members`` only, if given)."""
    access.ensure_can_manage(principal)
    program = await accounts_service.get_program(session, program_id)
    access.ensure_staff_of(principal, program)
    p = Problems()
    if period_until < period_from:
        p.add("period.until", "on or after period.from")
    elif (period_until - period_from).days > MAX_DAYS:
        p.add("period", f"at most {MAX_DAYS} days")
    if members is not None and len(members) > MAX_MEMBER_FILTER:
        p.add("members", f"at most {MAX_MEMBER_FILTER} members (or none: all of them)")
    if not 1 <= top <= MAX_MEMBERS_LISTED:
        p.add("top", f"from 1 to {MAX_MEMBERS_LISTED}")
    draft: RuleSet | None = None
    try:
        draft = parse_rule_set(document, field_name="ruleSet")
    except ValidationFailed as exc:
        p.items.extend(exc.problems)
    if draft is not None and draft.currency != program.currency:
        p.add("ruleSet.currency", f"the program's currency is {program.currency}")
    p.raise_if_any()
    assert draft is not None
    zone = ZoneInfo(program.timezone)
    calendar = await rulesets.calendar(session, program.id)
    start = start_of_day(period_from, zone)
    end = start_of_day(period_until + timedelta(days=1), zone)
    purchases = table_of(LoyaltyPurchase)
    accounts = table_of(LoyaltyAccount)
    member_filter = purchases.c.account_id.in_(list(members)) if members is not None else sa.true()
    count = int(
        await session.scalar(
            sa.select(sa.func.count()).where(
                purchases.c.program_id == program.id,
                purchases.c.status == PurchaseStatus.ACCRUED.value,
                purchases.c.occurred_at >= start,
                purchases.c.occurred_at < end,
                member_filter,
            )
        )
        or 0
    )
    if count > MAX_PURCHASES:
        raise ValidationFailed.on(
            "period", f"{count} purchases: at most {MAX_PURCHASES}; narrow the period or members"
        )
    rows: list[_Row] = []
    refunded_originals: set[uuid.UUID] = set()
    columns = (
        purchases.c.id,
        purchases.c.account_id,
        purchases.c.kind,
        purchases.c.refund_of_id,
        purchases.c.amount,
        purchases.c.currency,
        purchases.c.mcc,
        purchases.c.merchant_partner,
        purchases.c.channel,
        purchases.c.card_product,
        purchases.c.event_type,
        purchases.c.occurred_at,
    )
    order = (purchases.c.account_id, purchases.c.occurred_at, purchases.c.id)
    last: tuple[Any, ...] | None = None
    while True:  # keyset chunks: no server-side cursor, bounded memory per round trip
        query = sa.select(*columns).where(
            purchases.c.program_id == program.id,
            purchases.c.status == PurchaseStatus.ACCRUED.value,
            purchases.c.occurred_at >= start,
            purchases.c.occurred_at < end,
            member_filter,
        )
        if last is not None:
            query = query.where(sa.tuple_(*order) > sa.tuple_(*last))
        chunk = (await session.execute(query.order_by(*order).limit(CHUNK))).all()
        for r in chunk:
            rows.append(
                _Row(
                    r.id,
                    r.account_id,
                    r.kind,
                    r.refund_of_id,
                    r.amount,
                    PurchaseFacts(
                        r.amount,
                        r.currency,
                        local_date(r.occurred_at, zone),
                        r.mcc,
                        r.merchant_partner,
                        r.channel,
                        r.card_product,
                        r.kind,
                        r.event_type,
                    ),
                    True,
                )
            )
            if r.refund_of_id is not None:
                refunded_originals.add(r.refund_of_id)
        if len(chunk) < CHUNK:
            break
        tail = chunk[-1]
        last = (tail.account_id, tail.occurred_at, tail.id)
    # refunds in the period of purchases made before it: evaluate those purchases too
    known = {r.id for r in rows}
    missing = [i for i in refunded_originals if i not in known]
    for chunk_start in range(0, len(missing), 5000):
        for r in await session.execute(
            sa.select(purchases).where(
                purchases.c.id.in_(missing[chunk_start : chunk_start + 5000])
            )
        ):
            rows.append(
                _Row(
                    r.id,
                    r.account_id,
                    r.kind,
                    r.refund_of_id,
                    r.amount,
                    PurchaseFacts(
                        r.amount,
                        r.currency,
                        local_date(r.occurred_at, zone),
                        r.mcc,
                        r.merchant_partner,
                        r.channel,
                        r.card_product,
                        r.kind,
                        r.event_type,
                    ),
                    False,
                )
            )
    account_ids = sorted({r.account_id for r in rows})
    info: dict[uuid.UUID, tuple[str, str | None, frozenset[str]]] = {}
    history: dict[uuid.UUID, list[tuple[date, str | None, str | None]]] = defaultdict(list)
    changes = table_of(LoyaltyTierChange)
    for chunk_start in range(0, len(account_ids), 5000):
        some = account_ids[chunk_start : chunk_start + 5000]
        for a in await session.execute(
            sa.select(
                accounts.c.id, accounts.c.number, accounts.c.tier_code, accounts.c.segments
            ).where(accounts.c.id.in_(some))
        ):
            info[a.id] = (a.number, a.tier_code, frozenset(a.segments or ()))
        for c in await session.execute(
            sa.select(
                changes.c.account_id, changes.c.changed_at, changes.c.from_tier, changes.c.to_tier
            )
            .where(changes.c.account_id.in_(some))
            .order_by(changes.c.changed_at)
        ):
            history[c.account_id].append((local_date(c.changed_at, zone), c.from_tier, c.to_tier))
    primed = await _recorded_counters(session, account_ids, calendar, draft, period_from, zone)
    return await asyncio.to_thread(
        _evaluate_all,
        program_id=program.id,
        rows=rows,
        calendar=calendar,
        draft=draft,
        info=info,
        history=history,
        primed=primed,
        point_value=program,
        period=(period_from, period_until),
        top=top,
    )


async def _recorded_counters(
    session: AsyncSession,
    account_ids: Sequence[uuid.UUID],
    calendar: rulesets.Calendar,
    draft: RuleSet,
    period_from: date,
    zone: ZoneInfo,
) -> dict[uuid.UUID, dict[date, int]]:
    """Points the caps count from before the period (recorded accruals), per day."""
    caps = [v.rules.caps for v in calendar.versions] + [draft.caps]
    if not any(c.day or c.month or c.year for c in caps):
        return {}
    since = period_from.replace(month=1, day=1)
    entries = table_of(LoyaltyEntry)
    out: dict[uuid.UUID, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for chunk_start in range(0, len(account_ids), 5000):
        chunk = list(account_ids[chunk_start : chunk_start + 5000])
        for account_id, occurred_at, points in await session.execute(
            sa.select(entries.c.account_id, entries.c.occurred_at, entries.c.points).where(
                entries.c.account_id.in_(chunk),
                entries.c.kind == EntryKind.ACCRUAL.value,
                entries.c.source_type.in_([SourceType.PURCHASE.value, SourceType.EVENT.value]),
                entries.c.occurred_at >= start_of_day(since, zone),
                entries.c.occurred_at < start_of_day(period_from, zone),
            )
        ):
            out[account_id][local_date(occurred_at, zone)] += int(points)
    return out


def _tier_at(
    history: list[tuple[date, str | None, str | None]], current: str | None, day: date
) -> str | None:
    """The tier on ``day``: the ``from_tier`` of the first change after it, else now's."""
    for changed_on, from_tier, _ in history:
        if changed_on > day:
            return from_tier
    return current


def _evaluate_all(
    *,
    program_id: uuid.UUID,
    rows: list[_Row],
    calendar: rulesets.Calendar,
    draft: RuleSet,
    info: dict[uuid.UUID, tuple[str, str | None, frozenset[str]]],
    history: dict[uuid.UUID, list[tuple[date, str | None, str | None]]],
    primed: dict[uuid.UUID, dict[date, int]],
    point_value: Any,
    period: tuple[date, date],
    top: int,
) -> Simulation:
    rows.sort(key=lambda r: (r.account_id, r.facts.day, r.kind == PurchaseKind.REFUND.value))
    members: dict[uuid.UUID, MemberDiff] = {}
    scenarios: dict[str, Scenario] = {}
    # purchase -> (points in force, draft points, scenario, amount)
    earned: dict[uuid.UUID, tuple[int, int, str, int]] = {}
    refunded: dict[uuid.UUID, tuple[int, int, int]] = defaultdict(lambda: (0, 0, 0))
    counters: dict[uuid.UUID, tuple[CapCounters, CapCounters]] = {}
    total_purchases = 0
    for row in rows:
        number, tier_now, segments = info.get(row.account_id, ("?", None, frozenset()))
        pair = counters.get(row.account_id)
        if pair is None:
            pair = (CapCounters(), CapCounters())
            for day, points in primed.get(row.account_id, {}).items():
                pair[0].add(day, points)
                pair[1].add(day, points)
            counters[row.account_id] = pair
        member = members.setdefault(row.account_id, MemberDiff(row.account_id, number))
        if row.kind == PurchaseKind.REFUND.value:
            if row.refund_of_id is None or row.refund_of_id not in earned:
                continue
            current_points, draft_points, key, base_amount = earned[row.refund_of_id]
            amount_total, taken_current, taken_draft = refunded[row.refund_of_id]
            now_total = amount_total + row.amount
            back_current = clawback_due(current_points, base_amount, now_total, taken_current)
            back_draft = clawback_due(draft_points, base_amount, now_total, taken_draft)
            refunded[row.refund_of_id] = (
                now_total,
                taken_current + back_current,
                taken_draft + back_draft,
            )
            if row.in_period:
                member.current -= back_current
                member.draft -= back_draft
                refunded_in = scenarios.get(key)
                if refunded_in is not None:
                    refunded_in.current -= back_current
                    refunded_in.draft -= back_draft
            continue
        facts = MemberFacts(
            _tier_at(history.get(row.account_id, []), tier_now, row.facts.day), segments
        )
        found = calendar.resolve(row.facts.day)
        if found is None:
            current = Evaluation(0, {"result": "NO_RULE_SET", "points": 0})
        else:
            current = evaluate(found[0], row.facts, facts, pair[0])
        proposed = evaluate(draft, row.facts, facts, pair[1]) if row.in_period else current
        pair[0].add(row.facts.day, current.points)
        pair[1].add(row.facts.day, proposed.points)
        current_label, draft_label = _label(current), _label(proposed)
        key = f"{current_label} -> {draft_label} | tier {facts.tier or '-'}"
        earned[row.id] = (current.points, proposed.points, key, row.amount)
        if not row.in_period:
            continue
        total_purchases += 1
        member.purchases += 1
        member.current += current.points
        member.draft += proposed.points
        scenario = scenarios.setdefault(key, Scenario(key, current_label, draft_label))
        scenario.purchases += 1
        scenario.current += current.points
        scenario.draft += proposed.points
        scenario.members.add(row.account_id)
    listed = [m for m in members.values() if m.purchases or m.current or m.draft]
    current_total = sum(m.current for m in listed)
    draft_total = sum(m.draft for m in listed)
    return Simulation(
        program_id=program_id,
        period_from=period[0],
        period_until=period[1],
        members=len(listed),
        purchases=total_purchases,
        current=current_total,
        draft=draft_total,
        current_liability=accounts_service.liability(current_total, point_value),
        draft_liability=accounts_service.liability(draft_total, point_value),
        changed_members=sum(1 for m in listed if m.difference),
        top_members=sorted(listed, key=lambda m: (-abs(m.difference), m.number))[:top],
        scenarios=sorted(
            scenarios.values(), key=lambda s: (-abs(s.difference), -s.purchases, s.key)
        )[:top],
    )

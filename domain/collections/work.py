"""The daily collections run: work queues, assignment, promise deadlines and strategy steps.

For each business day of each lender timezone (the job runs every hour and takes each
timezone once, after its local midnight, like the delinquency run), every open credit of
that timezone is looked at **as of that day**, from its live ledger (late interest to the
day, installments paid by then), in batches of its own transactions:

1. its promises are decided (:func:`domain.collections.promises.evaluate_credit`): a promise
   whose window closed unpaid is broken;
2. its queue items are refreshed: ``PAST_DUE`` while something is past due (by aging
   bucket, with the amount overdue), ``DUE_SOON`` when the next installment falls due within
   the strategy's horizon and nothing is late, ``BROKEN_PROMISE`` for 30 days after a broken
   (or partly kept) promise while the debt remains and no new promise was made; items whose
   condition went away are resolved (cured, paid, promise made, credit closed);
3. each open item is assigned by the lender's rules (``domain.collections.collectors``),
   keeping its collector while that collector is active and in the pool that matches;
4. the strategy's steps reached are fired once per installment (``StrategyAction`` plus
   one ``Notification`` per channel and a ``collections.step_triggered`` event for the
   notifier workers); see ``domain.collections.strategies`` for which step fires.

Everything is keyed so that running a day again changes nothing: one open item per credit
and kind, one action per credit, installment and step. The payments worker calls
:func:`refresh_credit` when a payment arrives or is reversed (steps are the daily run's
only), so queues follow payments in real time.

Work order (``priority``, lowest first): broken promises, then past due from the oldest
debt, then past due with a promise pending, then due soon.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.collections import notifications, promises, queues
from domain.collections.collectors import Assigner
from domain.collections.strategies import StrategyView, pick, strategy_for
from domain.collections.work_models import (
    ActionStatus,
    Notification,
    Promise,
    PromiseStatus,
    QueueItem,
    QueueKind,
    QueueStatus,
    StrategyAction,
)
from domain.credits import batches
from domain.credits.allocation import AllocationResult, InstallmentState
from domain.credits.models import Credit
from domain.credits.states import OPEN_STATUSES, aging_bucket
from domain.shared import event_schemas as wire
from domain.shared import outbox
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import SYSTEM, Principal
from domain.shared.sql import insert_ignoring_conflicts
from domain.shared.time import utcnow

__all__ = ["RunTotals", "open_timezones", "refresh_credit", "run_collections"]

#: Days a broken promise keeps the account in the broken-promise queue.
BROKEN_PROMISE_DAYS = 30
_MAX_DPD = 99_999


@dataclass
class RunTotals:
    as_of: date
    examined: int = 0
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    steps_fired: int = 0
    steps_skipped: int = 0
    promises_decided: int = 0
    last_id: uuid.UUID | None = None
    done: bool = True
    fired: list[uuid.UUID] = field(default_factory=list)

    def add(self, other: RunTotals) -> None:
        for name in (
            "examined",
            "opened",
            "updated",
            "resolved",
            "steps_fired",
            "steps_skipped",
            "promises_decided",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.fired.extend(other.fired)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "examined": self.examined,
            "opened": self.opened,
            "updated": self.updated,
            "resolved": self.resolved,
            "steps_fired": self.steps_fired,
            "steps_skipped": self.steps_skipped,
            "promises_decided": self.promises_decided,
        }


@dataclass
class _PartnerTotals:
    examined: int = 0
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    fired: int = 0
    decided: int = 0


async def open_timezones(session: AsyncSession, partner_id: uuid.UUID | None = None) -> list[str]:
    stmt = sa.select(col(Credit.timezone)).where(
        col(Credit.status).in_([s.value for s in OPEN_STATUSES])
    )
    if partner_id is not None:
        stmt = stmt.where(col(Credit.partner_id) == partner_id)
    stmt = stmt.distinct().order_by(col(Credit.timezone))
    return list((await session.execute(stmt)).scalars())


async def _candidates(
    session: AsyncSession,
    *,
    timezone: str | None,
    partner_id: uuid.UUID | None,
    after_id: uuid.UUID | None,
    limit: int | None,
) -> list[Credit]:
    stmt = sa.select(Credit).where(col(Credit.status).in_([s.value for s in OPEN_STATUSES]))
    if timezone is not None:
        stmt = stmt.where(col(Credit.timezone) == timezone)
    if partner_id is not None:
        stmt = stmt.where(col(Credit.partner_id) == partner_id)
    if after_id is not None:
        stmt = stmt.where(col(Credit.id) > after_id)
    stmt = stmt.order_by(col(Credit.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.execute(stmt)).scalars())


async def _resolve_closed(
    session: AsyncSession, *, timezone: str | None, partner_id: uuid.UUID | None, as_of: date
) -> dict[uuid.UUID, int]:
    """Open items of credits no longer open (paid off, written off…): resolved."""
    stmt = (
        sa.select(QueueItem, col(Credit.status))
        .join(Credit, col(Credit.id) == col(QueueItem.credit_id))
        .where(
            col(QueueItem.status) == QueueStatus.OPEN,
            col(Credit.status).not_in([s.value for s in OPEN_STATUSES]),
        )
    )
    if timezone is not None:
        stmt = stmt.where(col(Credit.timezone) == timezone)
    if partner_id is not None:
        stmt = stmt.where(col(QueueItem.partner_id) == partner_id)
    by_status: dict[str, list[QueueItem]] = defaultdict(list)
    counts: dict[uuid.UUID, int] = defaultdict(int)
    for item, status in (await session.execute(stmt)).all():
        by_status[status].append(item)
        counts[item.partner_id] += 1
    for status, items in by_status.items():
        await queues.resolve_items(session, items, resolution=status, on=as_of)
    return counts


@dataclass(frozen=True)
class _Want:
    kind: QueueKind
    bucket: str
    days_past_due: int
    amount: int
    due: InstallmentState
    priority: int
    promise_id: uuid.UUID | None


def _first_unpaid(result: AllocationResult) -> InstallmentState | None:
    return next((r for r in result.installments if r.paid_on is None), None)


def _wanted(
    credit: Credit,
    result: AllocationResult,
    as_of: date,
    strategy: StrategyView,
    latest: Promise | None,
) -> dict[QueueKind, _Want]:
    dpd = result.days_past_due
    first = _first_unpaid(result)
    if first is None:
        return {}
    open_promise = latest if latest is not None and latest.status == PromiseStatus.OPEN else None
    wants: dict[QueueKind, _Want] = {}
    if dpd > 0:
        bucket = aging_bucket(dpd).value
        overdue = result.overdue()
        days = min(dpd, _MAX_DPD)
        wants[QueueKind.PAST_DUE] = _Want(
            QueueKind.PAST_DUE,
            bucket,
            dpd,
            overdue,
            first,
            (300_000 if open_promise else 200_000) - days,
            open_promise.id if open_promise else None,
        )
        if (
            open_promise is None
            and latest is not None
            and latest.status in {PromiseStatus.BROKEN, PromiseStatus.PARTIALLY_KEPT}
            and latest.decided_on is not None
            and latest.decided_on >= as_of - timedelta(days=BROKEN_PROMISE_DAYS)
        ):
            wants[QueueKind.BROKEN_PROMISE] = _Want(
                QueueKind.BROKEN_PROMISE, bucket, dpd, overdue, first, 100_000 - days, latest.id
            )
        return wants
    upcoming = next(
        (r for r in result.installments if r.paid_on is None and r.due_date >= as_of), None
    )
    if upcoming is not None and (upcoming.due_date - as_of).days <= strategy.horizon:
        wants[QueueKind.DUE_SOON] = _Want(
            QueueKind.DUE_SOON,
            aging_bucket(0).value,
            0,
            max(0, upcoming.outstanding),
            upcoming,
            400_000 + (upcoming.due_date - as_of).days,
            open_promise.id if open_promise else None,
        )
    return wants


def _resolution(kind: str, wants: dict[QueueKind, _Want], closed: bool, open_promise: bool) -> str:
    if closed:
        return "CLOSED"
    if kind == QueueKind.DUE_SOON:
        return "FELL_DUE" if QueueKind.PAST_DUE in wants else "PAID"
    if kind == QueueKind.BROKEN_PROMISE:
        if open_promise:
            return "PROMISE_MADE"
        return "EXPIRED" if QueueKind.PAST_DUE in wants else "CURED"
    return "CURED"


async def _latest_promises(
    session: AsyncSession, credit_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Promise]:
    rows = await session.execute(
        sa.select(Promise)
        .where(
            col(Promise.credit_id).in_(list(credit_ids)),
            col(Promise.status) != PromiseStatus.CANCELLED,
        )
        .order_by(col(Promise.credit_id), col(Promise.made_on), col(Promise.created_at))
    )
    out: dict[uuid.UUID, Promise] = {}
    for promise in rows.scalars():
        out[promise.credit_id] = promise  # the last one per credit wins
    return out


async def _done_steps(
    session: AsyncSession, credit_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, int, int], set[str]]:
    table = table_of(StrategyAction)
    rows = await session.execute(
        sa.select(
            table.c.credit_id, table.c.schedule_no, table.c.installment_number, table.c.step_code
        ).where(table.c.credit_id.in_(list(credit_ids)))
    )
    out: dict[tuple[uuid.UUID, int, int], set[str]] = defaultdict(set)
    for r in rows:
        out[(r.credit_id, r.schedule_no, r.installment_number)].add(r.step_code)
    return out


async def _process(
    session: AsyncSession,
    credits: Sequence[Credit],
    *,
    as_of: date,
    fire_steps: bool,
    actor: Principal,
    totals: RunTotals,
) -> dict[uuid.UUID, _PartnerTotals]:
    per_partner: dict[uuid.UUID, _PartnerTotals] = defaultdict(_PartnerTotals)
    if not credits:
        return per_partner
    ids = [c.id for c in credits]
    # 1. promise deadlines, from the stored payments
    with_promises = set(
        (
            await session.execute(
                sa.select(col(Promise.credit_id))
                .where(
                    col(Promise.credit_id).in_(ids), col(Promise.status) != PromiseStatus.CANCELLED
                )
                .distinct()
            )
        ).scalars()
    )
    for credit in credits:
        if credit.id in with_promises:
            changes = await promises.evaluate_credit(
                session, credit=credit, as_of=as_of, actor=actor
            )
            decided = sum(1 for c in changes if c.after != PromiseStatus.OPEN)
            totals.promises_decided += decided
            per_partner[credit.partner_id].decided += decided
    positions = await batches.positions_of(session, list(credits), as_of=as_of)
    latest = await _latest_promises(session, ids)
    existing = await queues.open_items_of(session, ids)
    done = await _done_steps(session, ids) if fire_steps else {}
    assigners: dict[uuid.UUID, Assigner] = {}
    strategies: dict[uuid.UUID, StrategyView] = {}
    for partner_id in sorted({c.partner_id for c in credits}):
        assigners[partner_id] = await Assigner.load(session, partner_id)
        strategies[partner_id] = await strategy_for(session, partner_id)
    now = utcnow()
    actions: list[dict[str, Any]] = []
    call_items: dict[uuid.UUID, QueueItem] = {}
    for credit in credits:
        result = positions.get(credit.id)
        totals.examined += 1
        totals.last_id = credit.id
        mine = per_partner[credit.partner_id]
        mine.examined += 1
        if result is None:
            continue
        strategy = strategies[credit.partner_id]
        promise = latest.get(credit.id)
        wants = _wanted(credit, result, as_of, strategy, promise)
        open_promise = promise is not None and promise.status == PromiseStatus.OPEN
        have = existing.get(credit.id, {})
        for kind, item in list(have.items()):
            if kind not in wants:
                resolution = _resolution(kind, wants, False, open_promise)
                totals.resolved += await queues.resolve_items(
                    session, [item], resolution=resolution, on=as_of
                )
                mine.resolved += 1
        assigner = assigners[credit.partner_id]
        for kind, want in wants.items():
            found = have.get(kind)
            values: dict[str, Any] = {
                "bucket": want.bucket,
                "days_past_due": want.days_past_due,
                "amount_due": want.amount,
                "due_date": want.due.due_date,
                "installment_number": want.due.number,
                "schedule_no": credit.schedule_no,
                "priority": want.priority,
                "promise_id": want.promise_id,
            }
            if found is None:
                item = QueueItem(
                    partner_id=credit.partner_id,
                    credit_id=credit.id,
                    customer_id=credit.customer_id,
                    kind=kind.value,
                    status=QueueStatus.OPEN,
                    currency=credit.currency,
                    opened_on=as_of,
                    last_run_on=as_of,
                    **values,
                )
                session.add(item)
                totals.opened += 1
                mine.opened += 1
            else:
                item = found
                changed = {k: v for k, v in values.items() if getattr(item, k) != v}
                if changed or item.last_run_on != as_of:
                    for k, v in changed.items():
                        setattr(item, k, v)
                    item.last_run_on = max(item.last_run_on, as_of)
                    if changed:
                        item.version += 1
                        item.updated_at = now
                        totals.updated += 1
                        mine.updated += 1
            if item.assigned_how == "MANUAL" and item.collector_id in assigner._active_set:
                pass  # a supervisor's choice stands while the collector is active
            else:
                choice = assigner.choose(
                    queue=kind.value,
                    bucket=want.bucket,
                    amount=want.amount,
                    currency=credit.currency,
                    current=item.collector_id if item.assigned_how != "MANUAL" else None,
                )
                if choice.collector_id != item.collector_id:
                    queues.assign(
                        session,
                        item,
                        choice.collector_id,
                        how=choice.how if choice.collector_id else "RULE",
                        rule_name=choice.rule_name,
                        at=now,
                    )
            if kind == QueueKind.PAST_DUE:
                call_items[credit.id] = item
        if not fire_steps:
            continue
        first = _first_unpaid(result)
        if first is None:
            continue
        if result.days_past_due > 0:
            if open_promise:
                continue  # past-due steps wait for the promise's deadline
            episode = first
            reached = strategy.reached(days_past_due=result.days_past_due, days_until_due=None)
            amount = result.overdue()
        else:
            upcoming = next(
                (r for r in result.installments if r.paid_on is None and r.due_date >= as_of),
                None,
            )
            if upcoming is None:
                continue
            episode = upcoming
            reached = strategy.reached(
                days_past_due=0, days_until_due=(upcoming.due_date - as_of).days
            )
            amount = max(0, upcoming.outstanding)
        codes = done.get((credit.id, credit.schedule_no, episode.number), set())
        fire, skipped = pick(reached, codes)
        for step, status in [
            *((s, ActionStatus.SKIPPED) for s in skipped),
            *([(fire, ActionStatus.FIRED)] if fire is not None else []),
        ]:
            actions.append(
                {
                    "id": uuid7(),
                    "partner_id": credit.partner_id,
                    "credit_id": credit.id,
                    "customer_id": credit.customer_id,
                    "strategy_version": strategy.version,
                    "step_code": step.code,
                    "action": step.action.value,
                    "day_offset": step.day_offset,
                    "channels": [c.value for c in step.channels],
                    "schedule_no": credit.schedule_no,
                    "installment_number": episode.number,
                    "due_date": episode.due_date,
                    "run_date": as_of,
                    "days_past_due": result.days_past_due,
                    "amount_due": amount,
                    "currency": credit.currency,
                    "status": status.value,
                    "created_at": now,
                }
            )
    await session.flush()
    await queues.write_assignments(session)
    for assigner in assigners.values():
        await assigner.save(session)
    if actions:
        await _store_actions(session, actions, call_items, totals, per_partner)
    for partner_id, counts in per_partner.items():
        if counts.opened or counts.updated or counts.resolved or counts.fired or counts.decided:
            outbox.add(
                session,
                "collections.queues_refreshed",
                {
                    "partnerId": wire.global_id("Partner", partner_id),
                    "runDate": wire.day(as_of),
                    "examined": counts.examined,
                    "opened": counts.opened,
                    "updated": counts.updated,
                    "resolved": counts.resolved,
                    "stepsFired": counts.fired,
                    "promisesDecided": counts.decided,
                },
                partner_ids=[partner_id],
                key=wire.global_id("Partner", partner_id),
            )
    return per_partner


async def _store_actions(
    session: AsyncSession,
    actions: list[dict[str, Any]],
    call_items: dict[uuid.UUID, QueueItem],
    totals: RunTotals,
    per_partner: dict[uuid.UUID, _PartnerTotals],
) -> None:
    table = table_of(StrategyAction)
    await insert_ignoring_conflicts(
        session,
        table,
        actions,
        index_elements=["credit_id", "schedule_no", "installment_number", "step_code"],
    )
    wanted = [a["id"] for a in actions]
    stored = {
        row.id: row
        for row in (
            await session.execute(
                sa.select(StrategyAction).where(col(StrategyAction.id).in_(wanted))
            )
        ).scalars()
    }
    rows: list[dict[str, Any]] = []
    for data in actions:
        action = stored.get(data["id"])
        if action is None:
            continue  # another run recorded this step first
        if action.status == ActionStatus.SKIPPED:
            totals.steps_skipped += 1
            continue
        totals.steps_fired += 1
        totals.fired.append(action.id)
        per_partner[action.partner_id].fired += 1
        item = call_items.get(action.credit_id)
        if item is not None and action.action != "REMINDER":
            item.next_action = action.action
        rows.extend(notifications.new_notifications(action))
        outbox.add(
            session,
            "collections.step_triggered",
            {
                "creditId": wire.global_id("Credit", action.credit_id),
                "customerId": wire.global_id("Customer", action.customer_id),
                "partnerId": wire.global_id("Partner", action.partner_id),
                "actionId": str(action.id),
                "strategyVersion": action.strategy_version,
                "stepCode": action.step_code,
                "action": action.action,
                "dayOffset": action.day_offset,
                "channels": list(action.channels),
                "installmentNumber": action.installment_number,
                "dueDate": wire.day(action.due_date),
                "daysPastDue": action.days_past_due,
                "amountDue": wire.money(action.amount_due, action.currency),
                "runDate": wire.day(action.run_date),
            },
            partner_ids=[action.partner_id],
            key=wire.global_id("Credit", action.credit_id),
        )
    if rows:
        await session.execute(sa.insert(table_of(Notification)), rows)
    await session.flush()


async def run_collections(
    session: AsyncSession,
    *,
    as_of: date,
    timezone: str | None = None,
    partner_id: uuid.UUID | None = None,
    after_id: uuid.UUID | None = None,
    limit: int | None = None,
    actor: Principal = SYSTEM,
) -> RunTotals:
    """One batch of the run of business day ``as_of`` over the open credits of
    ``timezone`` (and of ``partner_id``), in id order after ``after_id``. ``done`` and
    ``last_id`` let the caller continue in another transaction. Idempotent per day."""
    totals = RunTotals(as_of=as_of)
    if after_id is None:
        closed = await _resolve_closed(
            session, timezone=timezone, partner_id=partner_id, as_of=as_of
        )
        totals.resolved += sum(closed.values())
    credits = await _candidates(
        session, timezone=timezone, partner_id=partner_id, after_id=after_id, limit=limit
    )
    await _process(session, credits, as_of=as_of, fire_steps=True, actor=actor, totals=totals)
    totals.done = limit is None or len(credits) < limit
    return totals


async def refresh_credit(
    session: AsyncSession, *, credit_id: uuid.UUID, as_of: date | None = None
) -> RunTotals:
    """Bring one credit's promises and queue items up to date now (a payment arrived or was
    reversed). Steps are left to the daily run."""
    from domain.credits.policy import today

    credit = await session.get(Credit, credit_id)
    if credit is None:
        return RunTotals(as_of=as_of or date.min)
    day = as_of or today(credit.timezone)
    totals = RunTotals(as_of=day)
    if credit.status not in OPEN_STATUSES:
        items = (await queues.open_items_of(session, [credit.id]))[credit.id]
        if items:
            totals.resolved += await queues.resolve_items(
                session, list(items.values()), resolution=credit.status, on=day
            )
        await promises.evaluate_credit(session, credit=credit, as_of=day)
        return totals
    await _process(session, [credit], as_of=day, fire_steps=False, actor=SYSTEM, totals=totals)
    return totals

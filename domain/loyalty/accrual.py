"""``loyalty.accrue``: purchases, refunds and events waiting as ``RECEIVED`` become ledger
entries under the rule set in force on the purchase's local day.

A batch claims its rows with ``FOR UPDATE SKIP LOCKED`` (several workers share the queue),
locks their accounts in id order, loads their open lots and the accruals the caps count,
evaluates every purchase in time order with the pure evaluator (``rules.evaluate``) and
writes the result set-based (``ledger.LedgerWriter``). A refund takes back its purchase's
share of points (``lots.Book.clawback``); one whose purchase is still waiting is left for
a later batch. Accruals may raise tiers at once.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty import accounts as accounts_service
from domain.loyalty import events as loyalty_events
from domain.loyalty import rulesets, tiers
from domain.loyalty.ledger import EntrySpec, LedgerWriter, credit, load_books
from domain.loyalty.lots import local_date, start_of_day
from domain.loyalty.models import (
    AccountStatus,
    EntryKind,
    LotKind,
    LoyaltyEntry,
    LoyaltyLot,
    LoyaltyLotMove,
    LoyaltyProgram,
    LoyaltyPurchase,
    PurchaseKind,
    PurchaseStatus,
    SourceType,
)
from domain.loyalty.rules import CapCounters, MemberFacts, PurchaseFacts, clawback_due, evaluate
from domain.shared import event_schemas as wire
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.sql import dialect_of, for_update
from domain.shared.time import local_today, utcnow

ACTOR = "system:loyalty.accrue"
BATCH = 500


@dataclass
class AccrualReport:
    claimed: int = 0
    accrued: int = 0
    zero: int = 0
    refunds: int = 0
    rejected: int = 0
    deferred: int = 0
    points: int = 0
    tier_changes: int = 0
    programs: set[uuid.UUID] = field(default_factory=set)

    def add(self, other: AccrualReport) -> None:
        for name in ("claimed", "accrued", "zero", "refunds", "rejected", "deferred", "points"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.tier_changes += other.tier_changes
        self.programs |= other.programs

    @property
    def progressed(self) -> int:
        return self.claimed - self.deferred


@dataclass
class _Original:
    id: uuid.UUID
    external_id: str
    status: str
    amount: int
    points: int
    entry_id: uuid.UUID | None
    lot_id: uuid.UUID | None = None
    expired: int = 0  # points its lot lost to expiry
    taken: int = 0  # taken back by earlier refunds
    waived: int = 0  # let off by earlier refunds
    refunded: int = 0  # amount refunded by earlier refunds


async def accrue_batch(
    session: AsyncSession,
    *,
    limit: int = BATCH,
    program_id: uuid.UUID | None = None,
    purchase_ids: Sequence[uuid.UUID] | None = None,
) -> AccrualReport:
    """Process up to ``limit`` waiting rows (oldest first) in the caller's transaction."""
    table = table_of(LoyaltyPurchase)
    query = sa.select(table).where(table.c.status == PurchaseStatus.RECEIVED.value)
    if program_id is not None:
        query = query.where(table.c.program_id == program_id)
    if purchase_ids is not None:
        query = query.where(table.c.id.in_(list(purchase_ids)))
    query = query.order_by(table.c.received_at, table.c.id).limit(limit)
    rows = list((await session.execute(for_update(query, session, skip_locked=True))).all())
    report = AccrualReport(claimed=len(rows))
    if not rows:
        return report
    by_program: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        by_program[row.program_id].append(row)
    programs = await accounts_service.get_programs(session, list(by_program))
    for pid, items in by_program.items():
        report.programs.add(pid)
        await _program_batch(session, programs[pid], items, report)
    return report


async def _program_batch(
    session: AsyncSession, program: LoyaltyProgram, rows: list[Any], report: AccrualReport
) -> None:
    zone = ZoneInfo(program.timezone)
    calendar = await rulesets.calendar(session, program.id)
    accounts = await accounts_service.lock_accounts(session, list({r.account_id for r in rows}))
    # refunds need the whole books (a clawback takes from any lot); accruals only the debt
    whole = {r.account_id for r in rows if r.kind == PurchaseKind.REFUND.value}
    books = await load_books(session, sorted(whole))
    books.update(await load_books(session, [a for a in accounts if a not in whole], debt_only=True))
    batch_ids = {r.id for r in rows}
    originals = await _originals(
        session,
        [r.refund_of_id for r in rows if r.refund_of_id and r.refund_of_id not in batch_ids],
    )
    counters = await _counters(session, calendar, list(accounts), rows, zone)
    writer = LedgerWriter(program)
    events = loyalty_events.EventBuffer()
    updates: list[dict[str, Any]] = []
    accrued_accounts: set[uuid.UUID] = set()
    now = utcnow()
    processed: dict[uuid.UUID, _Original] = {}
    for row in sorted(rows, key=lambda r: (r.account_id, r.occurred_at, r.id)):
        account = accounts[row.account_id]
        book = books[row.account_id]
        day = local_date(row.occurred_at, zone)
        update: dict[str, Any] = {
            "b_id": row.id,
            "status": PurchaseStatus.ACCRUED.value,
            "points": 0,
            "entry_id": None,
            "rule_set_id": None,
            "processed_at": now,
            "error_code": None,
            "error": None,
        }
        if row.kind == PurchaseKind.REFUND.value:
            original = processed.get(row.refund_of_id) or originals.get(row.refund_of_id)
            if original is None or original.status == PurchaseStatus.RECEIVED.value:
                report.deferred += 1  # its purchase is not accrued yet: a later batch
                continue
            _refund(events, writer, program, book, row, original, update, day, report)
            original.refunded += row.amount
            updates.append(update)
            continue
        if account.status != AccountStatus.ACTIVE.value:
            update.update(
                status=PurchaseStatus.REJECTED.value,
                error_code="ACCOUNT_NOT_ACTIVE",
                error=f"the account was {account.status.lower()}",
            )
            report.rejected += 1
            updates.append(update)
            continue
        found = calendar.at(day)
        if found is None:
            update.update(error_code="NO_RULE_SET", error=f"no rule set in force on {day}")
            report.zero += 1
            updates.append(update)
            continue
        facts = PurchaseFacts(
            amount=row.amount,
            currency=row.currency,
            day=day,
            mcc=row.mcc,
            merchant_partner=row.merchant_partner,
            channel=row.channel,
            card_product=row.card_product,
            kind=row.kind,
            event_type=row.event_type,
        )
        member = MemberFacts(account.tier_code, frozenset(account.segments or ()))
        counter = counters.setdefault(account.id, CapCounters())
        evaluation = evaluate(found.rules, facts, member, counter)
        update["rule_set_id"] = found.id
        if evaluation.points <= 0:
            update["error_code"] = evaluation.explanation.get("result")
            report.zero += 1
            updates.append(update)
            processed[row.id] = _Original(
                row.id, row.external_id, PurchaseStatus.ACCRUED.value, row.amount, 0, None
            )
            continue
        counter.add(day, evaluation.points)
        entry_id = uuid7()
        pending = row.kind == PurchaseKind.PURCHASE.value
        posting = credit(
            book,
            program,
            entry_id=entry_id,
            points=evaluation.points,
            at=row.occurred_at,
            pending=pending,
        )
        lot = posting.opened[0]
        is_event = row.kind == PurchaseKind.EVENT.value
        writer.add(
            book,
            posting,
            EntrySpec(
                kind=EntryKind.ACCRUAL.value,
                reason=(f"Event {row.event_type}" if is_event else f"Purchase {row.external_id}"),
                source_type=SourceType.EVENT.value if is_event else SourceType.PURCHASE.value,
                actor=ACTOR,
                occurred_at=row.occurred_at,
                source_ref=row.external_id,
                dedupe_key=f"{'event' if is_event else 'purchase'}:{row.external_id}",
                purchase_id=row.id,
                rule_set_id=found.id,
                rule_set_version=found.version,
                campaign=evaluation.campaign,
                explanation={
                    **evaluation.explanation,
                    "ruleSet": {"id": str(found.id), "version": found.version},
                    "availableOn": lot.available_on.isoformat(),
                    "expiresOn": lot.expires_on.isoformat() if lot.expires_on else None,
                },
            ),
        )
        update.update(points=evaluation.points, entry_id=entry_id)
        updates.append(update)
        processed[row.id] = _Original(
            row.id,
            row.external_id,
            PurchaseStatus.ACCRUED.value,
            row.amount,
            evaluation.points,
            entry_id,
            lot_id=lot.id,
        )
        accrued_accounts.add(account.id)
        report.accrued += 1
        report.points += evaluation.points
        events.emit(
            "loyalty.points_accrued",
            program,
            {
                **loyalty_events.movement(
                    account_id=account.id,
                    entry_id=entry_id,
                    kind=EntryKind.ACCRUAL.value,
                    points=evaluation.points,
                    occurred_at=row.occurred_at,
                ),
                "purchaseId": row.external_id,
                "ruleSetVersion": found.version,
                "availableOn": wire.day(lot.available_on),
                "expiresOn": wire.maybe_day(lot.expires_on),
            },
            key=loyalty_events.account_key(account.id),
        )
    await writer.flush(session)
    await events.flush(session)
    if updates:
        table = table_of(LoyaltyPurchase)
        await session.execute(
            table.update()
            .where(table.c.id == sa.bindparam("b_id"))
            .values(
                status=sa.bindparam("status"),
                points=sa.bindparam("points"),
                entry_id=sa.bindparam("entry_id"),
                rule_set_id=sa.bindparam("rule_set_id"),
                processed_at=sa.bindparam("processed_at"),
                error_code=sa.bindparam("error_code"),
                error=sa.bindparam("error"),
            ),
            updates,
            execution_options={"synchronize_session": False},
        )
    if accrued_accounts:
        moves = await tiers.review_tiers(
            session,
            program=program,
            calendar=calendar,
            accounts=[accounts[a] for a in sorted(accrued_accounts)],
            today=local_today(program.timezone),
            upgrades_only=True,
        )
        report.tier_changes += len(moves)


def _refund(
    events: loyalty_events.EventBuffer,
    writer: LedgerWriter,
    program: LoyaltyProgram,
    book: Any,
    row: Any,
    original: _Original,
    update: dict[str, Any],
    day: date,
    report: AccrualReport,
) -> None:
    due = clawback_due(
        original.points, original.amount, original.refunded + row.amount, original.taken
    )
    report.refunds += 1
    if due <= 0:
        update.update(error_code="NOTHING_TO_TAKE_BACK")
        return
    entry_id = uuid7()
    posting = book.clawback(
        entry_id=entry_id,
        points=due,
        lot_id=original.lot_id,
        expired_unwaived=max(0, original.expired - original.waived),
        day=day,
        at=row.occurred_at,
        allow_debt=program.allow_debt,
    )
    taken = -posting.points
    original.taken += due
    original.waived += posting.waived
    from_own = sum(-m.points for m in posting.moves if m.lot.id == original.lot_id)
    explanation = {
        "formula": "floor(earned * refundedTotal / amount) - takenBefore",
        "earned": original.points,
        "amount": original.amount,
        "refundedTotal": original.refunded + row.amount,
        "takenBefore": original.taken - due,
        "due": due,
        "fromPurchaseLot": from_own,
        "fromOtherLots": taken - from_own - posting.debt,
        "waived": posting.waived,
        "debt": posting.debt,
        "forgiven": posting.forgiven,
        "purchase": original.external_id,
    }
    if taken == 0:
        update.update(error_code="NOTHING_TO_TAKE_BACK", error=_note(explanation))
        return
    writer.add(
        book,
        posting,
        EntrySpec(
            kind=EntryKind.REFUND.value,
            reason=f"Refund {row.external_id} of purchase {original.external_id}",
            source_type=SourceType.REFUND.value,
            actor=ACTOR,
            occurred_at=row.occurred_at,
            source_ref=row.external_id,
            dedupe_key=f"refund:{row.external_id}",
            purchase_id=row.id,
            explanation=explanation,
        ),
    )
    update.update(points=-taken, entry_id=entry_id)
    report.points -= taken
    events.emit(
        "loyalty.points_refunded",
        program,
        {
            **loyalty_events.movement(
                account_id=row.account_id,
                entry_id=entry_id,
                kind=EntryKind.REFUND.value,
                points=-taken,
                occurred_at=row.occurred_at,
            ),
            "purchaseId": original.external_id,
            "waived": posting.waived,
            "debt": posting.debt,
            "forgiven": posting.forgiven,
        },
        key=loyalty_events.account_key(row.account_id),
    )


def _note(explanation: dict[str, Any]) -> str:
    return (
        f"{explanation['due']} due: {explanation['waived']} had expired,"
        f" {explanation['forgiven']} forgiven"
    )[:500]


async def _originals(
    session: AsyncSession, ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID, _Original]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    purchases = table_of(LoyaltyPurchase)
    entries = table_of(LoyaltyEntry)
    rows = (await session.execute(sa.select(purchases).where(purchases.c.id.in_(wanted)))).all()
    out = {
        r.id: _Original(r.id, r.external_id, r.status, r.amount, int(r.points or 0), r.entry_id)
        for r in rows
    }
    lots = table_of(LoyaltyLot)
    entry_ids = [o.entry_id for o in out.values() if o.entry_id is not None]
    by_entry: dict[uuid.UUID, _Original] = {o.entry_id: o for o in out.values() if o.entry_id}
    if entry_ids:
        for lot_id, entry_id in await session.execute(
            sa.select(lots.c.id, lots.c.entry_id).where(
                lots.c.entry_id.in_(entry_ids), lots.c.kind == LotKind.EARN.value
            )
        ):
            by_entry[entry_id].lot_id = lot_id
    by_lot = {o.lot_id: o for o in out.values() if o.lot_id is not None}
    if by_lot:
        moves = table_of(LoyaltyLotMove)
        for lot_id, expired in await session.execute(
            sa.select(moves.c.lot_id, sa.func.sum(moves.c.points))
            .join(entries, entries.c.id == moves.c.entry_id)
            .where(moves.c.lot_id.in_(list(by_lot)), entries.c.kind == EntryKind.EXPIRY.value)
            .group_by(moves.c.lot_id)
        ):
            by_lot[lot_id].expired = -int(expired or 0)
    # earlier refunds of these purchases: amounts, points taken, points let off
    earlier = (
        await session.execute(
            sa.select(
                purchases.c.refund_of_id,
                purchases.c.amount,
                purchases.c.points,
                entries.c.explanation,
            )
            .select_from(purchases.outerjoin(entries, entries.c.id == purchases.c.entry_id))
            .where(
                purchases.c.refund_of_id.in_(wanted),
                purchases.c.status == PurchaseStatus.ACCRUED.value,
            )
        )
    ).all()
    for refund_of_id, amount, points, explanation in earlier:
        original = out[refund_of_id]
        original.refunded += int(amount)
        due = int((explanation or {}).get("due", -int(points or 0)))
        original.taken += due
        original.waived += int((explanation or {}).get("waived", 0))
    return out


async def _counters(
    session: AsyncSession,
    calendar: rulesets.Calendar,
    accounts: Sequence[uuid.UUID],
    rows: Sequence[Any],
    zone: ZoneInfo,
) -> dict[uuid.UUID, CapCounters]:
    """What the caps count, from the ledger: accruals of purchases and events of these
    accounts since the start of the widest cap window of the batch's days."""
    caps = [v.rules.caps for v in calendar.versions]
    if not rows or not any(c.day or c.month or c.year for c in caps):
        return {}
    first = min(local_date(r.occurred_at, zone) for r in rows)
    if any(c.year for c in caps):
        since = first.replace(month=1, day=1)
    elif any(c.month for c in caps):
        since = first.replace(day=1)
    else:
        since = first
    entries = table_of(LoyaltyEntry)
    out: dict[uuid.UUID, CapCounters] = defaultdict(CapCounters)
    postgres = dialect_of(session) == "postgresql"
    for start in range(0, len(accounts), 2000):
        where = (
            entries.c.account_id.in_(list(accounts[start : start + 2000])),
            entries.c.kind == EntryKind.ACCRUAL.value,
            entries.c.source_type.in_([SourceType.PURCHASE.value, SourceType.EVENT.value]),
            entries.c.occurred_at >= start_of_day(since, zone),
        )
        if postgres:  # summed per local day by the database
            day = sa.cast(sa.func.timezone(zone.key, entries.c.occurred_at), sa.Date)
            result = await session.execute(
                sa.select(entries.c.account_id, day, sa.func.sum(entries.c.points))
                .where(*where)
                .group_by(entries.c.account_id, day)
            )
            for account_id, local, points in result:
                out[account_id].add(local, int(points))
            continue
        result = await session.execute(
            sa.select(entries.c.account_id, entries.c.occurred_at, entries.c.points).where(*where)
        )
        for account_id, occurred_at, points in result:
            out[account_id].add(local_date(occurred_at, zone), int(points))
    return dict(out)


async def accrue_all(
    session_factory: Any, *, program_id: uuid.UUID | None = None, batch: int = BATCH
) -> AccrualReport:
    """Batches in their own transactions until the queue has nothing this worker can
    take (``session_factory()`` is ``app.db.transaction``)."""
    total = AccrualReport()
    while True:
        async with session_factory() as session:
            report = await accrue_batch(session, limit=batch, program_id=program_id)
        total.add(report)
        if report.claimed == 0 or report.progressed == 0:
            return total

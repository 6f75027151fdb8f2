"""The set-based path for history written in bulk (the legacy CRM migration).

:func:`write_history` takes a batch of movements of many accounts, runs them through the lot
engine (:mod:`domain.loyalty.lots`, the same rules as every other writer) and writes the
entries, lots, moves and purchases with ``COPY`` on PostgreSQL (executemany on SQLite) in
the caller's transaction. :func:`create_accounts` enrols members the same way. No ORM object
per row, no outbox event or audit record per row: the caller records one per batch.

See ``/work/notes/loyalty-interfaces.md`` §4 (semantics) and ``docs/loyalty.md``.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty.lots import (
    Book,
    BookBalance,
    Lot,
    Overdraw,
    Posting,
    expiry_date,
    expiry_instant,
    local_date,
)
from domain.loyalty.models import (
    AccountStatus,
    EntryKind,
    LotKind,
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltyLot,
    LoyaltyLotMove,
    LoyaltyProgram,
    LoyaltyPurchase,
    PurchaseKind,
    PurchaseStatus,
    SourceType,
)
from domain.shared.errors import Conflict, FieldProblem, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.sql import dialect_of
from domain.shared.time import ensure_utc, utcnow


class _Policy:
    def __repr__(self) -> str:
        return "POLICY"


#: ``expires_on`` default: the program's expiry policy from the day earned.
POLICY: Final = _Policy()

_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class HistoryPurchase:
    external_id: str
    amount: int  # minor units
    currency: str
    mcc: str | None = None
    merchant_partner: str | None = None
    channel: str | None = None
    card_product: str | None = None
    kind: str = PurchaseKind.PURCHASE.value


@dataclass(frozen=True, slots=True)
class HistoryMovement:
    account_id: uuid.UUID
    kind: EntryKind | str
    points: int  # signed, never 0
    occurred_at: datetime
    dedupe_key: str
    reason: str
    source_ref: str | None = None
    available_on: date | None = None
    expires_on: date | _Policy | None = POLICY
    rule_set_id: uuid.UUID | None = None
    rule_set_version: int | None = None
    campaign: str | None = None
    explanation: dict[str, Any] | None = None
    purchase: HistoryPurchase | None = None
    #: A debit that refunds a purchase: the ``dedupe_key`` of the credit that purchase
    #: earned (in this batch or written before). Its points are taken back from that
    #: credit's own lot first (``Book.clawback``), then from the account like any debit;
    #: when no such credit is known, it is an ordinary debit (earliest expiry first).
    refund_of: str | None = None


@dataclass
class HistoryResult:
    entries: int = 0
    lots: int = 0
    moves: int = 0
    purchases: int = 0
    expiries: int = 0
    #: Debits beyond the points there were: ``(account_id, dedupe_key, points in debt)``.
    overdrawn: list[tuple[uuid.UUID, str, int]] = field(default_factory=list)
    #: Each account's balance after the batch, as of ``as_of`` (or the last movement's day).
    balances: dict[uuid.UUID, BookBalance] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewAccount:
    customer_id: uuid.UUID
    number: str | None = None  # None: the program's next member number
    external_ref: str | None = None
    tier_code: str | None = None
    segments: tuple[str, ...] = ()
    enrolled_at: datetime | None = None
    status: str = AccountStatus.ACTIVE.value


_ENTRY_COLUMNS = (
    "id",
    "program_id",
    "account_id",
    "kind",
    "points",
    "occurred_at",
    "recorded_at",
    "reason",
    "source_type",
    "source_ref",
    "dedupe_key",
    "purchase_id",
    "rule_set_id",
    "rule_set_version",
    "campaign",
    "actor",
    "migration_batch_id",
    "counterparty_account_id",
    "redemption_id",
    "explanation",
)
_LOT_COLUMNS = (
    "id",
    "program_id",
    "account_id",
    "entry_id",
    "kind",
    "points",
    "remaining",
    "opened_at",
    "available_on",
    "expires_on",
)
_MOVE_COLUMNS = ("entry_id", "lot_id", "points", "occurred_at")
_PURCHASE_COLUMNS = (
    "id",
    "program_id",
    "account_id",
    "external_id",
    "kind",
    "refund_of_id",
    "event_type",
    "amount",
    "currency",
    "mcc",
    "merchant_partner",
    "merchant_name",
    "channel",
    "card_product",
    "occurred_at",
    "received_at",
    "status",
    "points",
    "entry_id",
    "rule_set_id",
    "processed_at",
    "error_code",
    "error",
    "migration_batch_id",
)
_ACCOUNT_COLUMNS = (
    "id",
    "program_id",
    "customer_id",
    "number",
    "external_ref",
    "status",
    "tier_code",
    "tier_since",
    "segments",
    "enrolled_at",
    "created_at",
    "updated_at",
    "version",
)
_JSON_COLUMNS = frozenset({"explanation", "segments"})


# --- writing rows ---------------------------------------------------------------------------
async def copy_rows(
    session: AsyncSession, table: sa.Table, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    """Insert ``records`` (tuples in ``columns`` order) in the session's transaction:
    binary ``COPY`` on PostgreSQL, executemany on SQLite. JSON columns take Python values."""
    if not records:
        return
    json_at = [i for i, name in enumerate(columns) if name in _JSON_COLUMNS]
    if dialect_of(session) == "postgresql":
        if json_at:
            records = [_json_encoded(r, json_at) for r in records]
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(table.name, records=records, columns=list(columns))
        return
    rows = [dict(zip(columns, r, strict=True)) for r in records]
    for start in range(0, len(rows), _CHUNK):
        await session.execute(table.insert(), rows[start : start + _CHUNK])


def _json_encoded(record: tuple[Any, ...], at: Sequence[int]) -> tuple[Any, ...]:
    out = list(record)
    for i in at:
        if out[i] is not None:
            out[i] = json.dumps(out[i], separators=(",", ":"), ensure_ascii=False)
    return tuple(out)


async def update_remaining(session: AsyncSession, lots: Iterable[Lot]) -> int:
    """Write the new ``remaining`` of lots written earlier."""
    table = table_of(LoyaltyLot)
    params = [{"b_id": lot.id, "b_remaining": lot.remaining} for lot in lots]
    if not params:
        return 0
    for start in range(0, len(params), _CHUNK):
        await session.execute(
            table.update()
            .where(table.c.id == sa.bindparam("b_id"))
            .values(remaining=sa.bindparam("b_remaining")),
            params[start : start + _CHUNK],
            execution_options={"synchronize_session": False},
        )
    return len(params)


def lot_of(row: Any) -> Lot:
    return Lot(
        id=row.id,
        kind=row.kind,
        points=int(row.points),
        remaining=int(row.remaining),
        opened_at=row.opened_at,
        available_on=row.available_on,
        expires_on=row.expires_on,
        entry_id=row.entry_id,
    )


async def open_lots(
    session: AsyncSession, account_ids: Sequence[uuid.UUID], *, kind: str | None = None
) -> dict[uuid.UUID, list[Lot]]:
    """The open lots of ``account_ids`` (one query per 5,000 accounts); of one ``kind``
    only when given (an accrual needs only the debt it repays)."""
    table = table_of(LoyaltyLot)
    out: dict[uuid.UUID, list[Lot]] = defaultdict(list)
    ids = list(account_ids)
    for start in range(0, len(ids), _CHUNK):
        query = sa.select(table).where(
            table.c.account_id.in_(ids[start : start + _CHUNK]), table.c.remaining != 0
        )
        if kind is not None:
            query = query.where(table.c.kind == kind)
        rows = (await session.execute(query)).all()
        for row in rows:
            out[row.account_id].append(lot_of(row))
    return out


# --- history --------------------------------------------------------------------------------
async def write_history(
    session: AsyncSession,
    *,
    program: LoyaltyProgram,
    batch_id: uuid.UUID | None,
    actor: str,
    movements: Sequence[HistoryMovement],
    as_of: date | None = None,
    expire: bool = False,
) -> HistoryResult:
    """Write ``movements`` (any accounts; each account's in time order, input order breaking
    ties) after each account's existing ledger. Positive points credit, negative points
    debit (available, then pending, then debt: history is never refused; overdraws are
    listed); a debit with ``refund_of`` takes its purchase's lot first. ``expire``: apply
    the program's expiry policy on the way (EXPIRY entries) and up to ``as_of``. The
    result's balances are as of ``as_of`` (default: each account's last movement's day)."""
    zone = ZoneInfo(program.timezone)
    result = HistoryResult()
    by_account: dict[uuid.UUID, list[HistoryMovement]] = defaultdict(list)
    problems: list[FieldProblem] = []
    for index, movement in enumerate(movements):
        if movement.points == 0 or isinstance(movement.points, bool):
            problems.append(FieldProblem(f"movements[{index}].points", "never 0"))
        by_account[movement.account_id].append(movement)
        if len(problems) > 50:
            break
    if problems:
        raise ValidationFailed(problems)
    accounts = list(by_account)
    await _check_accounts(session, program.id, accounts)
    latest = await _latest_entries(session, accounts)
    lots = await open_lots(session, accounts)
    # the lot each credit opened, by its dedupe key: those written before (refunded in this
    # batch) now, those of this batch as they are opened
    in_batch = {m.dedupe_key for m in movements if m.points > 0}
    opened_by = await _earn_lots_of(
        session,
        program.id,
        {m.refund_of for m in movements if m.refund_of and m.points < 0} - in_batch,
    )
    now = utcnow()
    entries: list[tuple[Any, ...]] = []
    new_lots: list[tuple[Any, ...]] = []
    moves: list[tuple[Any, ...]] = []
    purchases: list[tuple[Any, ...]] = []
    dirty: list[Lot] = []
    program_id = program.id
    policy, count = program.expiry_policy, program.expiry_count

    def emit(
        posting: Posting,
        *,
        account_id: uuid.UUID,
        kind: str,
        occurred_at: datetime,
        reason: str,
        source_type: str,
        source_ref: str | None,
        dedupe_key: str,
        rule_set_id: uuid.UUID | None = None,
        rule_set_version: int | None = None,
        campaign: str | None = None,
        explanation: dict[str, Any] | None = None,
        purchase_id: uuid.UUID | None = None,
    ) -> None:
        points = posting.points
        if posting.forgiven or posting.debt:
            explanation = dict(explanation or {})
            if posting.debt:
                explanation["debt"] = posting.debt
        entries.append(
            (
                posting.entry_id,
                program_id,
                account_id,
                kind,
                points,
                occurred_at,
                now,
                reason,
                source_type,
                source_ref,
                dedupe_key,
                purchase_id,
                rule_set_id,
                rule_set_version,
                campaign,
                actor,
                batch_id,
                None,
                None,
                explanation,
            )
        )
        for lot in posting.opened:
            new_lots.append(
                (
                    lot.id,
                    program_id,
                    account_id,
                    posting.entry_id,
                    lot.kind,
                    lot.points,
                    0,  # set when written (the final remaining)
                    lot.opened_at,
                    lot.available_on,
                    lot.expires_on,
                )
            )
        for move in posting.moves:
            moves.append((posting.entry_id, move.lot.id, move.points, occurred_at))

    def expire_until(book: Book, account_id: uuid.UUID, before: date) -> None:
        for last_day in book.expiring_days(before):
            posting = book.expire(entry_id=uuid7(), last_day=last_day)
            if posting.moves:
                result.expiries += 1
                emit(
                    posting,
                    account_id=account_id,
                    kind=EntryKind.EXPIRY.value,
                    occurred_at=expiry_instant(last_day, zone),
                    reason=f"Points whose last day was {last_day.isoformat()} expired",
                    source_type=SourceType.EXPIRY.value,
                    source_ref=None,
                    dedupe_key=f"expiry:{account_id}:{last_day.isoformat()}",
                    explanation={
                        "formula": "remaining of lots past their last day",
                        "lastDay": last_day.isoformat(),
                        "policy": policy,
                    },
                )

    remaining: dict[uuid.UUID, int] = {}
    for account_id, items in by_account.items():
        items.sort(key=lambda m: m.occurred_at)
        book = Book(account_id, lots.get(account_id, []))
        newest = latest.get(account_id)
        first = ensure_utc(items[0].occurred_at)
        if newest is not None and first < newest:
            raise ValidationFailed.on(
                "movements",
                f"account {account_id}: a movement of {first.isoformat()} comes before the "
                f"account's last entry ({newest.isoformat()}); history is written in order",
            )
        day = local_date(first, zone)
        for m in items:
            at = ensure_utc(m.occurred_at)
            day = local_date(at, zone)
            if expire:
                expire_until(book, account_id, day)
            entry_id = uuid7()
            kind = str(m.kind)
            if m.points > 0:
                expires = (
                    expiry_date(policy, count, day)
                    if isinstance(m.expires_on, _Policy)
                    else m.expires_on
                )
                posting = book.credit(
                    entry_id=entry_id,
                    points=m.points,
                    opened_at=at,
                    available_on=m.available_on or day,
                    expires_on=expires,
                )
                opened_by[m.dedupe_key] = posting.opened[0].id
            else:
                own_lot = opened_by.get(m.refund_of) if m.refund_of else None
                if own_lot is not None:
                    # The legacy figure is taken whole (nothing let off for expiry: the
                    # history says what was taken), its purchase's lot first.
                    posting = book.clawback(
                        entry_id=entry_id,
                        points=-m.points,
                        lot_id=own_lot,
                        expired_unwaived=0,
                        day=day,
                        at=at,
                        allow_debt=True,
                    )
                else:
                    posting = book.debit(
                        entry_id=entry_id,
                        points=-m.points,
                        day=day,
                        at=at,
                        overdraw=Overdraw.PENDING_THEN_DEBT,
                        include_expired=kind == EntryKind.EXPIRY.value,
                    )
                if posting.debt:
                    result.overdrawn.append((account_id, m.dedupe_key, posting.debt))
            purchase_id = None
            if m.purchase is not None:
                purchase_id = uuid7()
                pu = m.purchase
                purchases.append(
                    (
                        purchase_id,
                        program_id,
                        account_id,
                        pu.external_id,
                        pu.kind,
                        None,
                        None,
                        pu.amount,
                        pu.currency,
                        pu.mcc,
                        pu.merchant_partner,
                        None,
                        pu.channel,
                        pu.card_product,
                        at,
                        now,
                        PurchaseStatus.ACCRUED.value,
                        m.points,
                        entry_id,
                        m.rule_set_id,
                        now,
                        None,
                        None,
                        batch_id,
                    )
                )
            emit(
                posting,
                account_id=account_id,
                kind=kind,
                occurred_at=at,
                reason=m.reason,
                source_type=SourceType.MIGRATION.value,
                source_ref=m.source_ref,
                dedupe_key=m.dedupe_key,
                rule_set_id=m.rule_set_id,
                rule_set_version=m.rule_set_version,
                campaign=m.campaign,
                explanation=m.explanation,
                purchase_id=purchase_id,
            )
        final_day = as_of or day
        if expire and as_of is not None:
            expire_until(book, account_id, as_of)
        result.balances[account_id] = book.balance(final_day)
        for lot in book.lots:
            if lot.new:
                remaining[lot.id] = lot.remaining
            elif lot.dirty:
                dirty.append(lot)
    # the lots' final remaining (column 6)
    new_lots = [(*r[:6], remaining[r[0]], *r[7:]) for r in new_lots]
    try:
        await copy_rows(session, table_of(LoyaltyEntry), _ENTRY_COLUMNS, entries)
        await copy_rows(session, table_of(LoyaltyLot), _LOT_COLUMNS, new_lots)
        await copy_rows(session, table_of(LoyaltyLotMove), _MOVE_COLUMNS, moves)
        await copy_rows(session, table_of(LoyaltyPurchase), _PURCHASE_COLUMNS, purchases)
    except IntegrityError as exc:
        raise Conflict(f"this history is already (partly) written: {_first_line(exc)}") from exc
    except Exception as exc:  # asyncpg raises its own UniqueViolationError on COPY
        if type(exc).__name__ in ("UniqueViolationError", "ForeignKeyViolationError"):
            raise Conflict(f"this history is already (partly) written: {_first_line(exc)}") from exc
        raise
    await update_remaining(session, dirty)
    result.entries = len(entries)
    result.lots = len(new_lots)
    result.moves = len(moves)
    result.purchases = len(purchases)
    return result


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


async def _check_accounts(
    session: AsyncSession, program_id: uuid.UUID, account_ids: Sequence[uuid.UUID]
) -> None:
    table = table_of(LoyaltyAccount)
    found: set[uuid.UUID] = set()
    for start in range(0, len(account_ids), _CHUNK):
        chunk = account_ids[start : start + _CHUNK]
        found.update(
            (
                await session.execute(
                    sa.select(table.c.id).where(
                        table.c.id.in_(chunk), table.c.program_id == program_id
                    )
                )
            ).scalars()
        )
    missing = [a for a in account_ids if a not in found]
    if missing:
        raise ValidationFailed.on(
            "movements", f"{len(missing)} accounts are not of this program (first: {missing[0]})"
        )


async def _earn_lots_of(
    session: AsyncSession, program_id: uuid.UUID, dedupe_keys: Iterable[str]
) -> dict[str, uuid.UUID]:
    """The open ``EARN`` lots of the program's entries already written with ``dedupe_keys``
    (by key)."""
    keys = sorted(dedupe_keys)
    out: dict[str, uuid.UUID] = {}
    if not keys:
        return out
    entry, lot = table_of(LoyaltyEntry), table_of(LoyaltyLot)
    for start in range(0, len(keys), _CHUNK):
        rows = await session.execute(
            sa.select(entry.c.dedupe_key, lot.c.id)
            .join(lot, lot.c.entry_id == entry.c.id)
            .where(
                entry.c.program_id == program_id,
                entry.c.dedupe_key.in_(keys[start : start + _CHUNK]),
                lot.c.kind == LotKind.EARN.value,
                lot.c.remaining > 0,
            )
        )
        for key, lot_id in rows:
            out[key] = lot_id
    return out


async def _latest_entries(
    session: AsyncSession, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    table = table_of(LoyaltyEntry)
    out: dict[uuid.UUID, datetime] = {}
    for start in range(0, len(account_ids), _CHUNK):
        chunk = account_ids[start : start + _CHUNK]
        rows = (
            await session.execute(
                sa.select(table.c.account_id, sa.func.max(table.c.occurred_at))
                .where(table.c.account_id.in_(chunk))
                .group_by(table.c.account_id)
            )
        ).all()
        for account_id, newest in rows:
            if newest is not None:
                out[account_id] = _aware(newest)
    return out


def _aware(value: Any) -> datetime:
    """max() over a UTCDateTime column comes back as the driver's value (SQLite: text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return ensure_utc(value)


# --- accounts --------------------------------------------------------------------------------
async def create_accounts(
    session: AsyncSession, *, program: LoyaltyProgram, rows: Sequence[NewAccount]
) -> dict[str, uuid.UUID]:
    """Enrol many members at once; returns account ids by ``external_ref`` (or by number
    when a row has no external ref). Member numbers not given are the program's next ones
    (the program row is locked to take them)."""
    if not rows:
        return {}
    from domain.loyalty.accounts import take_member_numbers

    wanting = sum(1 for r in rows if r.number is None)
    numbers = iter(await take_member_numbers(session, program=program, count=wanting))
    now = utcnow()
    records: list[tuple[Any, ...]] = []
    out: dict[str, uuid.UUID] = {}
    for r in rows:
        account_id = uuid7()
        number = r.number if r.number is not None else next(numbers)
        enrolled = ensure_utc(r.enrolled_at) if r.enrolled_at is not None else now
        records.append(
            (
                account_id,
                program.id,
                r.customer_id,
                number,
                r.external_ref,
                r.status,
                r.tier_code,
                enrolled if r.tier_code else None,
                list(r.segments),
                enrolled,
                now,
                now,
                1,
            )
        )
        out[r.external_ref or number] = account_id
    try:
        await copy_rows(session, table_of(LoyaltyAccount), _ACCOUNT_COLUMNS, records)
    except IntegrityError as exc:
        raise Conflict(f"a member is already enrolled: {_first_line(exc)}") from exc
    except Exception as exc:
        if type(exc).__name__ in ("UniqueViolationError", "ForeignKeyViolationError"):
            raise Conflict(f"a member is already enrolled: {_first_line(exc)}") from exc
        raise
    return out

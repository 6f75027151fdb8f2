"""The ledger's writers: every movement of points goes through here or through ``bulk.py``.

Each operation locks the accounts it moves (``accounts.lock_accounts``: ``FOR UPDATE`` in id
order on PostgreSQL, the write lock on SQLite), loads their open lots into a
:class:`~domain.loyalty.lots.Book`, lets the lot engine decide, and writes the result with a
:class:`LedgerWriter` (entries, new lots, moves, changed lots) — so two redemptions at once
never overdraw: the second one reads the lots the first one left.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.loyalty import access, bulk
from domain.loyalty import accounts as accounts_service
from domain.loyalty import events as loyalty_events
from domain.loyalty.errors import (
    AccountNotActive,
    InsufficientPoints,
    LimitReached,
    OutOfStock,
    RewardUnavailable,
)
from domain.loyalty.lots import (
    Book,
    Lot,
    Posting,
    expiry_date,
    local_date,
    start_of_day,
)
from domain.loyalty.lots import InsufficientPoints as EngineShort
from domain.loyalty.models import (
    AccountStatus,
    EntryKind,
    LimitPeriod,
    LotKind,
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltyLot,
    LoyaltyLotMove,
    LoyaltyProgram,
    LoyaltyRedemption,
    LoyaltyReward,
    RedemptionStatus,
    SourceType,
)
from domain.shared import audit, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, NotFound, Problems, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import Principal
from domain.shared.sql import for_update
from domain.shared.time import utcnow

MAX_POINTS_PER_MOVE = 10**10
MAX_QUANTITY = 100


@dataclass(slots=True)
class EntrySpec:
    """What the caller says of a movement (the engine gives its points)."""

    kind: str
    reason: str
    source_type: str
    actor: str
    occurred_at: datetime
    source_ref: str | None = None
    dedupe_key: str | None = None
    purchase_id: uuid.UUID | None = None
    rule_set_id: uuid.UUID | None = None
    rule_set_version: int | None = None
    campaign: str | None = None
    counterparty_account_id: uuid.UUID | None = None
    redemption_id: uuid.UUID | None = None
    migration_batch_id: uuid.UUID | None = None
    explanation: dict[str, Any] | None = None


@dataclass
class LedgerWriter:
    """Collects postings of one program and writes them in a few statements."""

    program: LoyaltyProgram
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    opened: list[tuple[uuid.UUID, Lot]] = field(default_factory=list)
    moves: list[tuple[Any, ...]] = field(default_factory=list)
    books: dict[uuid.UUID, Book] = field(default_factory=dict)

    def add(self, book: Book, posting: Posting, spec: EntrySpec) -> int:
        """Queue one entry (its points are the posting's); returns them. A posting of 0
        points writes nothing."""
        points = posting.points
        if points == 0:
            return 0
        self.books[book.account_id] = book
        explanation = spec.explanation
        if posting.debt or posting.forgiven or posting.waived:
            explanation = dict(explanation or {})
            explanation.update(
                {"debt": posting.debt, "forgiven": posting.forgiven, "waived": posting.waived}
            )
        self.entries.append(
            (
                posting.entry_id,
                self.program.id,
                book.account_id,
                spec.kind,
                points,
                spec.occurred_at,
                utcnow(),
                spec.reason,
                spec.source_type,
                spec.source_ref,
                spec.dedupe_key,
                spec.purchase_id,
                spec.rule_set_id,
                spec.rule_set_version,
                spec.campaign,
                spec.actor,
                spec.migration_batch_id,
                spec.counterparty_account_id,
                spec.redemption_id,
                explanation,
            )
        )
        for lot in posting.opened:
            self.opened.append((book.account_id, lot))
        for move in posting.moves:
            self.moves.append((posting.entry_id, move.lot.id, move.points, spec.occurred_at))
        return points

    async def flush(self, session: AsyncSession) -> None:
        lots = [
            (
                lot.id,
                self.program.id,
                account_id,
                lot.entry_id,
                lot.kind,
                lot.points,
                lot.remaining,
                lot.opened_at,
                lot.available_on,
                lot.expires_on,
            )
            for account_id, lot in self.opened
        ]
        dirty = [
            lot for book in self.books.values() for lot in book.lots if lot.dirty and not lot.new
        ]
        await bulk.copy_rows(session, table_of(LoyaltyEntry), bulk._ENTRY_COLUMNS, self.entries)
        await bulk.copy_rows(session, table_of(LoyaltyLot), bulk._LOT_COLUMNS, lots)
        await bulk.copy_rows(session, table_of(LoyaltyLotMove), bulk._MOVE_COLUMNS, self.moves)
        await bulk.update_remaining(session, dirty)
        for book in self.books.values():
            for lot in book.lots:
                lot.new = lot.dirty = False
            book.forget_closed()
        self.entries.clear()
        self.opened.clear()
        self.moves.clear()
        self.books.clear()


def zone_of(program: LoyaltyProgram) -> ZoneInfo:
    return ZoneInfo(program.timezone)


async def load_books(
    session: AsyncSession, account_ids: Sequence[uuid.UUID], *, debt_only: bool = False
) -> dict[uuid.UUID, Book]:
    """The accounts' open lots (locked by the caller). ``debt_only``: only the DEBT lot —
    enough for a credit, which only repays debt, and far less to read for members with many
    open lots."""
    found = await bulk.open_lots(
        session, account_ids, kind=LotKind.DEBT.value if debt_only else None
    )
    return {a: Book(a, found.get(a, [])) for a in account_ids}


def credit(
    book: Book,
    program: LoyaltyProgram,
    *,
    entry_id: uuid.UUID,
    points: int,
    at: datetime,
    pending: bool,
) -> Posting:
    """Open a lot of ``points`` earned at ``at``: pending for the program's refund lock
    when ``pending``, expiring by the program's policy."""
    zone = zone_of(program)
    day = local_date(at, zone)
    available_on = day + timedelta(days=program.pending_days) if pending else day
    return book.credit(
        entry_id=entry_id,
        points=points,
        opened_at=at,
        available_on=available_on,
        expires_on=expiry_date(program.expiry_policy, program.expiry_count, day),
    )


def consumed_detail(posting: Posting) -> list[dict[str, Any]]:
    return [
        {
            "lot": str(lot.id),
            "points": points,
            "expiresOn": lot.expires_on.isoformat() if lot.expires_on else None,
        }
        for lot, points in posting.consumed()
    ]


async def _context(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID
) -> tuple[LoyaltyAccount, LoyaltyProgram]:
    account = (await accounts_service.lock_accounts(session, [account_id])).get(account_id)
    if account is None:
        raise NotFound("LoyaltyAccount", account_id)
    program = await accounts_service.get_program(session, account.program_id)
    access.ensure_sees_account(principal, account, program)
    return account, program


def _ensure_active(account: LoyaltyAccount) -> None:
    if account.status != AccountStatus.ACTIVE.value:
        raise AccountNotActive(f"the account is {account.status.lower()}")


async def _existing_entry(
    session: AsyncSession, program_id: uuid.UUID, dedupe_key: str
) -> LoyaltyEntry | None:
    return (
        await session.execute(
            sa.select(LoyaltyEntry).where(
                col(LoyaltyEntry.program_id) == program_id,
                col(LoyaltyEntry.dedupe_key) == dedupe_key,
            )
        )
    ).scalar_one_or_none()


def _check_key(p: Problems, field_name: str, key: str | None) -> None:
    if key is None:
        return
    if not key.strip() or len(key) > 100:
        p.add(field_name, "between 1 and 100 characters")
    pan.check(p, field_name, key)


def _reason(p: Problems, reason: str | None, *, required: bool) -> str | None:
    if reason is None or not reason.strip():
        if required:
            p.add("reason", "say why")
        return None
    text = reason.strip()
    if len(text) > 500:
        p.add("reason", "at most 500 characters")
    pan.check(p, "reason", text)
    return text


# --- manual adjustments ----------------------------------------------------------------------
async def adjust_points(
    session: AsyncSession,
    principal: Principal,
    *,
    account_id: uuid.UUID,
    points: int,
    reason: str,
    idempotency_key: str | None = None,
) -> LoyaltyEntry:
    """A person's correction: positive points open an available lot (expiring by the
    program's policy from today); negative points take available points, earliest expiry
    first, never more than there are."""
    access.ensure_can_manage(principal)
    p = Problems()
    if points == 0 or not -MAX_POINTS_PER_MOVE <= points <= MAX_POINTS_PER_MOVE:
        p.add("points", f"a whole number of points, not 0, at most {MAX_POINTS_PER_MOVE}")
    text = _reason(p, reason, required=True)
    _check_key(p, "idempotencyKey", idempotency_key)
    p.raise_if_any()
    account, program = await _context(session, principal, account_id)
    access.ensure_staff_of(principal, program)
    key = f"adjust:{account.id}:{idempotency_key}" if idempotency_key else None
    if key is not None:
        existing = await _existing_entry(session, program.id, key)
        if existing is not None:
            if existing.points != points:
                raise Conflict("this idempotency key was used for another adjustment")
            return existing
    if account.status == AccountStatus.CLOSED.value:
        raise AccountNotActive("the account is closed")
    now = utcnow()
    books = await load_books(session, [account.id])
    book = books[account.id]
    entry_id = uuid7()
    day = local_date(now, zone_of(program))
    if points > 0:
        posting = credit(book, program, entry_id=entry_id, points=points, at=now, pending=False)
    else:
        try:
            posting = book.debit(entry_id=entry_id, points=-points, day=day, at=now)
        except EngineShort as exc:
            raise InsufficientPoints(exc.wanted, exc.available) from None
    person = principal.display_name or principal.subject
    writer = LedgerWriter(program)
    spec = EntrySpec(
        kind=EntryKind.ADJUSTMENT.value,
        reason=text or "",
        source_type=SourceType.MANUAL.value,
        actor=principal.subject,
        occurred_at=now,
        dedupe_key=key,
        explanation={
            "formula": "manual adjustment",
            "person": person,
            "subject": principal.subject,
            "reason": text,
            "points": points,
            "consumed": consumed_detail(posting),
        },
    )
    writer.add(book, posting, spec)
    await writer.flush(session)
    entry = await session.get(LoyaltyEntry, entry_id)
    assert entry is not None
    audit.record(
        session,
        principal=principal,
        action="loyalty.points.adjust",
        entity_type="LoyaltyAccount",
        entity_id=account.id,
        after={"entry": str(entry_id), "points": points, "reason": text, "person": person},
    )
    loyalty_events.emit(
        session,
        "loyalty.points_adjusted",
        program,
        loyalty_events.movement(
            account_id=account.id,
            entry_id=entry_id,
            kind=EntryKind.ADJUSTMENT.value,
            points=points,
            occurred_at=now,
        ),
        key=loyalty_events.account_key(account.id),
    )
    return entry


# --- transfers -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Transfer:
    id: uuid.UUID
    from_account_id: uuid.UUID
    to_account_id: uuid.UUID
    points: int
    out_entry_id: uuid.UUID
    in_entry_id: uuid.UUID
    occurred_at: datetime


async def transfer_points(
    session: AsyncSession,
    principal: Principal,
    *,
    from_account_id: uuid.UUID,
    to_account_id: uuid.UUID,
    points: int,
    reason: str | None = None,
    idempotency_key: str | None = None,
) -> Transfer:
    """Move available points to another member of the same program. The receiver gets
    them with the dates they had (a transfer never makes points live longer)."""
    access.ensure_can_write(principal)
    p = Problems()
    if not 0 < points <= MAX_POINTS_PER_MOVE:
        p.add("points", "a positive whole number of points")
    if from_account_id == to_account_id:
        p.add("toAccountId", "a different account")
    text = _reason(p, reason, required=False)
    _check_key(p, "idempotencyKey", idempotency_key)
    p.raise_if_any()
    locked = await accounts_service.lock_accounts(session, [from_account_id, to_account_id])
    source = locked.get(from_account_id)
    target = locked.get(to_account_id)
    if source is None:
        raise NotFound("LoyaltyAccount", from_account_id)
    program = await accounts_service.get_program(session, source.program_id)
    access.ensure_moves_account(principal, source, program)
    if target is None or target.program_id != source.program_id:
        raise ValidationFailed.on("toAccountId", "not a member of the same program")
    transfer_id = (
        uuid.uuid5(from_account_id, f"transfer:{idempotency_key}") if idempotency_key else uuid7()
    )
    out_key = f"transfer:{transfer_id}:out"
    existing = await _existing_entry(session, program.id, out_key)
    if existing is not None:
        if existing.points != -points or existing.counterparty_account_id != to_account_id:
            raise Conflict("this idempotency key was used for another transfer")
        incoming = await _existing_entry(session, program.id, f"transfer:{transfer_id}:in")
        assert incoming is not None
        return Transfer(
            transfer_id,
            from_account_id,
            to_account_id,
            points,
            existing.id,
            incoming.id,
            existing.occurred_at,
        )
    _ensure_active(source)
    if target.status != AccountStatus.ACTIVE.value:
        raise AccountNotActive(f"the receiving account is {target.status.lower()}")
    now = utcnow()
    day = local_date(now, zone_of(program))
    books = await load_books(session, [source.id, target.id])
    out_id, in_id = uuid7(), uuid7()
    try:
        out = books[source.id].debit(entry_id=out_id, points=points, day=day, at=now)
    except EngineShort as exc:
        raise InsufficientPoints(exc.wanted, exc.available) from None
    incoming_posting = books[target.id].transfer_in(
        entry_id=in_id, slices=out.consumed(), opened_at=now, day=day
    )
    writer = LedgerWriter(program)
    detail = consumed_detail(out)
    common = {"transfer": str(transfer_id), "points": points, "reason": text, "lots": detail}
    writer.add(
        books[source.id],
        out,
        EntrySpec(
            kind=EntryKind.TRANSFER_OUT.value,
            reason=text or f"Transfer to member {target.number}",
            source_type=SourceType.TRANSFER.value,
            actor=principal.subject,
            occurred_at=now,
            source_ref=str(transfer_id),
            dedupe_key=out_key,
            counterparty_account_id=target.id,
            explanation={"formula": "available lots, earliest expiry first", **common},
        ),
    )
    writer.add(
        books[target.id],
        incoming_posting,
        EntrySpec(
            kind=EntryKind.TRANSFER_IN.value,
            reason=text or f"Transfer from member {source.number}",
            source_type=SourceType.TRANSFER.value,
            actor=principal.subject,
            occurred_at=now,
            source_ref=str(transfer_id),
            dedupe_key=f"transfer:{transfer_id}:in",
            counterparty_account_id=source.id,
            explanation={"formula": "one lot per lot sent, with its expiry", **common},
        ),
    )
    await writer.flush(session)
    audit.record(
        session,
        principal=principal,
        action="loyalty.points.transfer",
        entity_type="LoyaltyAccount",
        entity_id=source.id,
        after={"transfer": str(transfer_id), "to": str(target.id), "points": points},
    )
    loyalty_events.emit(
        session,
        "loyalty.points_transferred",
        program,
        {
            "transferId": str(transfer_id),
            "fromAccountId": wire.global_id("LoyaltyAccount", source.id),
            "toAccountId": wire.global_id("LoyaltyAccount", target.id),
            "points": points,
            "occurredAt": wire.instant(now),
        },
        key=loyalty_events.account_key(source.id),
    )
    return Transfer(transfer_id, source.id, target.id, points, out_id, in_id, now)


# --- redemptions -----------------------------------------------------------------------------
def _period_start(period: str, day: date) -> date | None:
    if period == LimitPeriod.DAY.value:
        return day
    if period == LimitPeriod.MONTH.value:
        return day.replace(day=1)
    if period == LimitPeriod.YEAR.value:
        return day.replace(month=1, day=1)
    return None


async def redeem_reward(
    session: AsyncSession,
    principal: Principal,
    *,
    account_id: uuid.UUID,
    reward_id: uuid.UUID,
    quantity: int = 1,
    idempotency_key: str | None = None,
) -> LoyaltyRedemption:
    """Take a reward: its cost times ``quantity`` from available lots (earliest expiry
    first), one unit of stock each, within the reward's limit per member and period."""
    access.ensure_can_write(principal)
    p = Problems()
    if not 1 <= quantity <= MAX_QUANTITY:
        p.add("quantity", f"from 1 to {MAX_QUANTITY}")
    _check_key(p, "idempotencyKey", idempotency_key)
    p.raise_if_any()
    account, program = await _context(session, principal, account_id)
    access.ensure_moves_account(principal, account, program)
    if idempotency_key is not None:
        done = (
            await session.execute(
                sa.select(LoyaltyRedemption).where(
                    col(LoyaltyRedemption.account_id) == account.id,
                    col(LoyaltyRedemption.idempotency_key) == idempotency_key,
                )
            )
        ).scalar_one_or_none()
        if done is not None:
            if done.reward_id != reward_id or done.quantity != quantity:
                raise Conflict("this idempotency key was used for another redemption")
            return done
    _ensure_active(account)
    reward = (
        await session.execute(
            for_update(
                sa.select(LoyaltyReward).where(col(LoyaltyReward.id) == reward_id),
                session,
            ).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if reward is None or reward.program_id != program.id:
        raise NotFound("LoyaltyReward", reward_id)
    now = utcnow()
    zone = zone_of(program)
    today = local_date(now, zone)
    if not reward.active or (
        (reward.valid_from is not None and today < reward.valid_from)
        or (reward.valid_until is not None and today > reward.valid_until)
    ):
        raise RewardUnavailable(f"reward {reward.code} is not available today")
    if reward.limit_per_member is not None and reward.limit_period is not None:
        since = _period_start(reward.limit_period, today)
        query = sa.select(sa.func.coalesce(sa.func.sum(col(LoyaltyRedemption.quantity)), 0)).where(
            col(LoyaltyRedemption.account_id) == account.id,
            col(LoyaltyRedemption.reward_id) == reward.id,
            col(LoyaltyRedemption.status) == RedemptionStatus.COMPLETED.value,
        )
        if since is not None:
            query = query.where(col(LoyaltyRedemption.created_at) >= start_of_day(since, zone))
        taken = int((await session.execute(query)).scalar_one())
        if taken + quantity > reward.limit_per_member:
            raise LimitReached(
                f"at most {reward.limit_per_member} of {reward.code} per member"
                f" ({reward.limit_period.lower()}); {taken} taken"
            )
    if reward.stock is not None and reward.stock < quantity:
        raise OutOfStock(f"{reward.code}: {reward.stock} left, {quantity} asked")
    cost = reward.cost_points * quantity
    books = await load_books(session, [account.id])
    book = books[account.id]
    entry_id = uuid7()
    try:
        posting = book.debit(entry_id=entry_id, points=cost, day=today, at=now)
    except EngineShort as exc:
        raise InsufficientPoints(exc.wanted, exc.available) from None
    redemption = LoyaltyRedemption(
        program_id=program.id,
        account_id=account.id,
        reward_id=reward.id,
        quantity=quantity,
        points=cost,
        idempotency_key=idempotency_key,
        entry_id=entry_id,
        created_at=now,
        created_by=principal.subject,
    )
    if reward.stock is not None:
        reward.stock -= quantity
        reward.updated_at = now
    writer = LedgerWriter(program)
    writer.add(
        book,
        posting,
        EntrySpec(
            kind=EntryKind.REDEMPTION.value,
            reason=f"Redeemed {quantity} x {reward.name}",
            source_type=SourceType.REDEMPTION.value,
            actor=principal.subject,
            occurred_at=now,
            source_ref=reward.code,
            dedupe_key=f"redeem:{redemption.id}",
            redemption_id=redemption.id,
            explanation={
                "formula": "costPoints * quantity, from available lots, earliest expiry first",
                "reward": reward.code,
                "costPoints": reward.cost_points,
                "quantity": quantity,
                "points": cost,
                "consumed": consumed_detail(posting),
            },
        ),
    )
    await writer.flush(session)
    session.add(redemption)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.reward.redeem",
        entity_type="LoyaltyAccount",
        entity_id=account.id,
        after={
            "redemption": str(redemption.id),
            "reward": reward.code,
            "quantity": quantity,
            "points": cost,
        },
    )
    loyalty_events.emit(
        session,
        "loyalty.points_redeemed",
        program,
        {
            **loyalty_events.movement(
                account_id=account.id,
                entry_id=entry_id,
                kind=EntryKind.REDEMPTION.value,
                points=-cost,
                occurred_at=now,
            ),
            "redemptionId": wire.global_id("LoyaltyRedemption", redemption.id),
            "rewardId": wire.global_id("LoyaltyReward", reward.id),
            "quantity": quantity,
        },
        key=loyalty_events.account_key(account.id),
    )
    return redemption


async def cancel_redemption(
    session: AsyncSession, principal: Principal, *, redemption_id: uuid.UUID, reason: str
) -> LoyaltyRedemption:
    """Give a redemption's points back (with the dates they had) and its stock."""
    access.ensure_can_manage(principal)
    p = Problems()
    text = _reason(p, reason, required=True)
    p.raise_if_any()
    redemption = await session.get(LoyaltyRedemption, redemption_id)
    if redemption is None:
        raise NotFound("LoyaltyRedemption", redemption_id)
    account, program = await _context(session, principal, redemption.account_id)
    access.ensure_staff_of(principal, program)
    await session.refresh(redemption, with_for_update=True)
    if redemption.status != RedemptionStatus.COMPLETED.value:
        raise Conflict("the redemption is already cancelled")
    lots_table = table_of(LoyaltyLot)
    moves_table = table_of(LoyaltyLotMove)
    rows = (
        await session.execute(
            sa.select(lots_table, moves_table.c.points.label("moved"))
            .join(moves_table, moves_table.c.lot_id == lots_table.c.id)
            .where(moves_table.c.entry_id == redemption.entry_id)
        )
    ).all()
    slices = [(bulk.lot_of(r), -int(r.moved)) for r in rows if int(r.moved) < 0]
    now = utcnow()
    day = local_date(now, zone_of(program))
    books = await load_books(session, [account.id])
    book = books[account.id]
    entry_id = uuid7()
    posting = book.transfer_in(entry_id=entry_id, slices=slices, opened_at=now, day=day)
    writer = LedgerWriter(program)
    writer.add(
        book,
        posting,
        EntrySpec(
            kind=EntryKind.REDEMPTION_REVERSAL.value,
            reason=text or "",
            source_type=SourceType.REDEMPTION.value,
            actor=principal.subject,
            occurred_at=now,
            dedupe_key=f"redeem:{redemption.id}:cancel",
            redemption_id=redemption.id,
            explanation={
                "formula": "the redeemed points back, one lot per lot taken, with its expiry",
                "reason": text,
                "points": redemption.points,
            },
        ),
    )
    await writer.flush(session)
    reward = (
        await session.execute(
            for_update(
                sa.select(LoyaltyReward).where(col(LoyaltyReward.id) == redemption.reward_id),
                session,
            )
        )
    ).scalar_one()
    if reward.stock is not None:
        reward.stock += redemption.quantity
        reward.updated_at = now
    redemption.status = RedemptionStatus.CANCELLED.value
    redemption.cancelled_at = now
    redemption.cancel_entry_id = entry_id
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.redemption.cancel",
        entity_type="LoyaltyRedemption",
        entity_id=redemption.id,
        before={"status": RedemptionStatus.COMPLETED.value},
        after={"status": redemption.status, "reason": text},
    )
    loyalty_events.emit(
        session,
        "loyalty.redemption_cancelled",
        program,
        {
            **loyalty_events.movement(
                account_id=account.id,
                entry_id=entry_id,
                kind=EntryKind.REDEMPTION_REVERSAL.value,
                points=redemption.points,
                occurred_at=now,
            ),
            "redemptionId": wire.global_id("LoyaltyRedemption", redemption.id),
        },
        key=loyalty_events.account_key(account.id),
    )
    return redemption

"""The lot engine: what one movement does to an account's open lots (pure, no database).

Every writer of the ledger goes through it — the online services (``ledger.py``), the
accrual worker, the expiry job and the legacy migration's bulk path (``bulk.py``) — so the
invariants hold whoever writes:

- a credit opens one ``EARN`` lot; if the account is in debt, the new lot repays it first
  (a move off the new lot and a move onto the ``DEBT`` lot, both of the crediting entry);
- a debit consumes **available** lots, earliest expiry first (lots that never expire last),
  then earliest earned; what it may take beyond them is said by ``overdraw``;
- an expiry consumes whatever is left of the lots whose last day has passed;
- a refund's clawback takes the purchase's own lot first, then lets off what that lot lost
  to expiry (those points are already gone: never charged twice), then charges the rest to
  the account (available, then pending lots, then debt or forgiven);
- an account never holds a ``DEBT`` lot and a positive lot (not past its day) at once.

A :class:`Book` is one account's open lots, mutated in place; each operation returns a
:class:`Posting`: the lots it opened and the moves it made, which the caller writes
(entry, new lots, moves, changed ``remaining``).
"""

from __future__ import annotations

import uuid
from calendar import monthrange
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from domain.loyalty.models import ExpiryPolicy, LotKind
from domain.shared.ids import uuid7


class Overdraw(StrEnum):
    """What a debit does when the available points are not enough."""

    REFUSE = "REFUSE"  # InsufficientPoints, nothing changed
    PENDING_THEN_REFUSE = "PENDING_THEN_REFUSE"  # take pending lots too, then refuse
    PENDING_THEN_DEBT = "PENDING_THEN_DEBT"  # take pending lots, then the rest is debt
    PENDING_THEN_FORGIVE = "PENDING_THEN_FORGIVE"  # take pending lots, forgive the rest


class InsufficientPoints(Exception):
    def __init__(self, wanted: int, available: int) -> None:
        super().__init__(f"{wanted} points wanted, {available} available")
        self.wanted = wanted
        self.available = available


# --- days ------------------------------------------------------------------------------------
def local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The instant ``day`` begins in ``zone`` (as UTC)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def expiry_date(policy: str, count: int | None, earned_on: date) -> date | None:
    """The last day points earned on ``earned_on`` count (``None``: they never expire).

    ``AFTER_DAYS`` N: through ``earned_on + N - 1`` (gone on day N after). ``END_OF_MONTH``
    N: the last day of the month N months after the month earned (0: that month).
    ``END_OF_NTH_YEAR`` N: 31 December of the year N years after the year earned.
    """
    if policy == ExpiryPolicy.NEVER.value:
        return None
    n = int(count or 0)
    if policy == ExpiryPolicy.AFTER_DAYS.value:
        return earned_on + timedelta(days=max(n, 1) - 1)
    if policy == ExpiryPolicy.END_OF_MONTH.value:
        months = earned_on.year * 12 + (earned_on.month - 1) + n
        year, month = divmod(months, 12)
        return date(year, month + 1, monthrange(year, month + 1)[1])
    if policy == ExpiryPolicy.END_OF_NTH_YEAR.value:
        return date(earned_on.year + n, 12, 31)
    raise ValueError(f"unknown expiry policy {policy!r}")


def expiry_instant(expires_on: date, zone: ZoneInfo) -> datetime:
    """When points whose last day is ``expires_on`` are gone: the next day's start."""
    return start_of_day(expires_on + timedelta(days=1), zone)


# --- state -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Lot:
    id: uuid.UUID
    kind: str
    points: int
    remaining: int
    opened_at: datetime
    available_on: date
    expires_on: date | None
    entry_id: uuid.UUID
    #: opened by this computation (to insert) / remaining changed (to update).
    new: bool = False
    dirty: bool = False

    def is_available(self, day: date) -> bool:
        return self.available_on <= day and not self.expired(day)

    def expired(self, day: date) -> bool:
        return self.expires_on is not None and self.expires_on < day


def _spend_order(lot: Lot) -> tuple[Any, ...]:
    return (lot.expires_on is None, lot.expires_on or date.max, lot.opened_at, lot.id)


@dataclass(slots=True)
class Move:
    lot: Lot
    points: int


@dataclass(slots=True)
class Posting:
    """What one entry did: ``points`` is its signed total (lots opened + moves)."""

    entry_id: uuid.UUID
    opened: list[Lot] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    #: Debit beyond the points there were: put in debt / forgiven (explanation figures).
    debt: int = 0
    forgiven: int = 0
    #: Clawback only: points let off because the purchase's lot had expired.
    waived: int = 0

    @property
    def points(self) -> int:
        return sum(lot.points for lot in self.opened) + sum(m.points for m in self.moves)

    def _move(self, lot: Lot, points: int) -> None:
        if points == 0:
            return
        lot.remaining += points
        if not lot.new:
            lot.dirty = True
        for move in self.moves:
            if move.lot is lot:
                move.points += points
                return
        self.moves.append(Move(lot, points))

    def consumed(self) -> list[tuple[Lot, int]]:
        """EARN lots this posting took points from, with how many (positive)."""
        return [(m.lot, -m.points) for m in self.moves if m.lot.kind == LotKind.EARN.value]


@dataclass(frozen=True, slots=True)
class BookBalance:
    available: int  # negative when in debt
    pending: int
    debt: int  # positive figure of the debt (0 when none)

    @property
    def total(self) -> int:
        return self.available + self.pending


@dataclass(slots=True)
class Book:
    """One account's open lots."""

    account_id: uuid.UUID
    lots: list[Lot] = field(default_factory=list)
    new_id: Callable[[], uuid.UUID] = uuid7

    # reading --------------------------------------------------------------------------------
    def open_lots(self) -> list[Lot]:
        return [lot for lot in self.lots if lot.remaining != 0]

    def debt_lot(self) -> Lot | None:
        for lot in self.lots:
            if lot.kind == LotKind.DEBT.value and lot.remaining != 0:
                return lot
        return None

    def balance(self, day: date) -> BookBalance:
        available = pending = debt = 0
        for lot in self.lots:
            if lot.remaining == 0 or lot.expired(day):
                continue
            if lot.kind == LotKind.DEBT.value:
                debt -= lot.remaining
                available += lot.remaining
            elif lot.available_on > day:
                pending += lot.remaining
            else:
                available += lot.remaining
        return BookBalance(available, pending, debt)

    def changed(self) -> tuple[list[Lot], list[Lot]]:
        """(lots to insert, existing lots whose ``remaining`` changed)."""
        return [x for x in self.lots if x.new], [x for x in self.lots if x.dirty and not x.new]

    def forget_closed(self) -> None:
        """Drop closed lots already written (keeps long replays small)."""
        self.lots = [x for x in self.lots if x.remaining != 0 or x.new or x.dirty]

    # writing --------------------------------------------------------------------------------
    def credit(
        self,
        *,
        entry_id: uuid.UUID,
        points: int,
        opened_at: datetime,
        available_on: date,
        expires_on: date | None,
        posting: Posting | None = None,
    ) -> Posting:
        """Open a lot of ``points`` (> 0); repay debt from it first."""
        if points <= 0:
            raise ValueError("a credit is a positive number of points")
        out = posting or Posting(entry_id)
        lot = Lot(
            id=self.new_id(),
            kind=LotKind.EARN.value,
            points=points,
            remaining=points,
            opened_at=opened_at,
            available_on=available_on,
            expires_on=expires_on,
            entry_id=entry_id,
            new=True,
        )
        self.lots.append(lot)
        out.opened.append(lot)
        debt = self.debt_lot()
        if debt is not None:
            repay = min(points, -debt.remaining)
            out._move(lot, -repay)
            out._move(debt, repay)
        return out

    def debit(
        self,
        *,
        entry_id: uuid.UUID,
        points: int,
        day: date,
        at: datetime,
        overdraw: Overdraw = Overdraw.REFUSE,
        posting: Posting | None = None,
        include_expired: bool = False,
    ) -> Posting:
        """Take ``points`` (> 0): available lots earliest expiry first, then as
        ``overdraw`` says. Refusing raises :class:`InsufficientPoints` with nothing
        changed. ``include_expired``: lots past their day count too (a migrated expiry
        movement of a legacy system that expired on its own schedule)."""
        if points <= 0:
            raise ValueError("a debit is a positive number of points")
        live = [x for x in self.lots if x.kind == LotKind.EARN.value and x.remaining > 0]
        if not include_expired:
            live = [x for x in live if not x.expired(day)]
        available = sorted((x for x in live if x.available_on <= day), key=_spend_order)
        pending = sorted((x for x in live if x.available_on > day), key=_spend_order)
        sources = available if overdraw is Overdraw.REFUSE else available + pending
        have = sum(x.remaining for x in sources)
        if have < points and overdraw in (Overdraw.REFUSE, Overdraw.PENDING_THEN_REFUSE):
            raise InsufficientPoints(points, have)
        out = posting or Posting(entry_id)
        left = points
        for lot in sources:
            if left == 0:
                break
            take = min(lot.remaining, left)
            out._move(lot, -take)
            left -= take
        if left:
            if overdraw is Overdraw.PENDING_THEN_FORGIVE:
                out.forgiven += left
            else:
                self._add_debt(out, entry_id=entry_id, points=left, at=at, day=day)
        return out

    def _add_debt(
        self, out: Posting, *, entry_id: uuid.UUID, points: int, at: datetime, day: date
    ) -> None:
        out.debt += points
        debt = self.debt_lot()
        if debt is not None:
            out._move(debt, -points)
            return
        lot = Lot(
            id=self.new_id(),
            kind=LotKind.DEBT.value,
            points=-points,
            remaining=-points,
            opened_at=at,
            available_on=day,
            expires_on=None,
            entry_id=entry_id,
            new=True,
        )
        self.lots.append(lot)
        out.opened.append(lot)

    def expire(self, *, entry_id: uuid.UUID, last_day: date) -> Posting:
        """Take what is left of every lot whose last day is ``last_day`` (one EXPIRY entry
        per account and last day, dated :func:`expiry_instant` of it)."""
        out = Posting(entry_id)
        for lot in sorted(self.lots, key=_spend_order):
            if lot.kind == LotKind.EARN.value and lot.remaining > 0 and lot.expires_on == last_day:
                out._move(lot, -lot.remaining)
        return out

    def expiring_days(self, before: date) -> list[date]:
        """The distinct last days (before ``before``) of lots with points left."""
        days = {
            x.expires_on
            for x in self.lots
            if x.kind == LotKind.EARN.value and x.remaining > 0 and x.expires_on is not None
        }
        return sorted(d for d in days if d < before)

    def clawback(
        self,
        *,
        entry_id: uuid.UUID,
        points: int,
        lot_id: uuid.UUID | None,
        expired_unwaived: int,
        day: date,
        at: datetime,
        allow_debt: bool,
    ) -> Posting:
        """Take back ``points`` (> 0) a refunded purchase earned. Its lot (``lot_id``)
        first; then up to ``expired_unwaived`` points are let off (what that lot already
        lost to expiry and no earlier clawback let off); the rest is charged to the account
        (available, then pending, then debt if ``allow_debt`` else forgiven)."""
        if points <= 0:
            raise ValueError("a clawback is a positive number of points")
        out = Posting(entry_id)
        left = points
        own = next((x for x in self.lots if x.id == lot_id), None) if lot_id else None
        if own is not None and own.remaining > 0 and not own.expired(day):
            take = min(own.remaining, left)
            out._move(own, -take)
            left -= take
        if left and expired_unwaived > 0:
            out.waived = min(left, expired_unwaived)
            left -= out.waived
        if left:
            self.debit(
                entry_id=entry_id,
                points=left,
                day=day,
                at=at,
                overdraw=Overdraw.PENDING_THEN_DEBT
                if allow_debt
                else Overdraw.PENDING_THEN_FORGIVE,
                posting=out,
            )
        return out

    def transfer_in(
        self,
        *,
        entry_id: uuid.UUID,
        slices: Iterable[tuple[Lot, int]],
        opened_at: datetime,
        day: date,
    ) -> Posting:
        """Credit what another account's debit consumed, one lot per slice, keeping each
        slice's expiry (a transfer never extends a point's life); available at once."""
        out = Posting(entry_id)
        for source, points in slices:
            if points > 0:
                self.credit(
                    entry_id=entry_id,
                    points=points,
                    opened_at=opened_at,
                    available_on=min(day, source.available_on),
                    expires_on=source.expires_on,
                    posting=out,
                )
        return out

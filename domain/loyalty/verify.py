"""``trama loyalty verify``: prove every account's balance from its ledger.

Four set-based checks per program (one query each, whatever the number of accounts):

1. every entry's points are what it did to lots: the lots it opened plus its moves;
2. every lot's ``remaining`` is its points plus its moves (recomputed from the moves);
3. every account's sum of entries equals the sum of its lots' ``remaining`` (its balance);
4. no account holds a debt and positive points (not past their last day) at once.

A difference is listed with the account, the entry or lot, and both figures.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty.models import LotKind, LoyaltyEntry, LoyaltyLot, LoyaltyLotMove, LoyaltyProgram
from domain.shared.errors import NotFound
from domain.shared.models import table_of
from domain.shared.time import local_today

MAX_LISTED = 1000


@dataclass(frozen=True, slots=True)
class Problem:
    check: str  # ENTRY | LOT | ACCOUNT | DEBT_AND_POINTS
    account_id: uuid.UUID
    subject_id: uuid.UUID | None
    expected: int
    found: int

    def describe(self) -> str:
        what = {
            "ENTRY": "entry points vs. lots opened + moves",
            "LOT": "lot remaining vs. points + moves",
            "ACCOUNT": "sum of entries vs. sum of open lots",
            "DEBT_AND_POINTS": "debt vs. positive points held at once",
        }[self.check]
        return (
            f"{self.check} account={self.account_id} id={self.subject_id}: {what}:"
            f" {self.expected} != {self.found}"
        )


@dataclass
class Report:
    program_id: uuid.UUID
    code: str = ""
    accounts: int = 0
    entries: int = 0
    lots: int = 0
    points: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(problem)


async def verify_program(session: AsyncSession, *, program_id: uuid.UUID) -> Report:
    program = await session.get(LoyaltyProgram, program_id)
    if program is None:
        raise NotFound("LoyaltyProgram", program_id)
    today = local_today(program.timezone)
    entries = table_of(LoyaltyEntry)
    lots = table_of(LoyaltyLot)
    moves = table_of(LoyaltyLotMove)
    report = Report(program_id, program.code)

    # 1. entries
    opened = (
        sa.select(lots.c.entry_id, sa.func.sum(lots.c.points).label("opened"))
        .where(lots.c.program_id == program_id)
        .group_by(lots.c.entry_id)
        .subquery()
    )
    moved = (
        sa.select(moves.c.entry_id, sa.func.sum(moves.c.points).label("moved"))
        .join(entries, entries.c.id == moves.c.entry_id)
        .where(entries.c.program_id == program_id)
        .group_by(moves.c.entry_id)
        .subquery()
    )
    did = sa.func.coalesce(opened.c.opened, 0) + sa.func.coalesce(moved.c.moved, 0)
    entry_rows = await session.execute(
        sa.select(entries.c.id, entries.c.account_id, entries.c.points, did)
        .select_from(
            entries.outerjoin(opened, opened.c.entry_id == entries.c.id).outerjoin(
                moved, moved.c.entry_id == entries.c.id
            )
        )
        .where(entries.c.program_id == program_id, entries.c.points != did)
    )
    for entry_id, account_id, points, found in entry_rows:
        report.add(Problem("ENTRY", account_id, entry_id, int(points), int(found)))

    # 2. lots
    lot_moves = (
        sa.select(moves.c.lot_id, sa.func.sum(moves.c.points).label("moved"))
        .join(lots, lots.c.id == moves.c.lot_id)
        .where(lots.c.program_id == program_id)
        .group_by(moves.c.lot_id)
        .subquery()
    )
    recomputed = lots.c.points + sa.func.coalesce(lot_moves.c.moved, 0)
    lot_rows = await session.execute(
        sa.select(lots.c.id, lots.c.account_id, recomputed, lots.c.remaining)
        .select_from(lots.outerjoin(lot_moves, lot_moves.c.lot_id == lots.c.id))
        .where(lots.c.program_id == program_id, lots.c.remaining != recomputed)
    )
    for lot_id, account_id, expected, found in lot_rows:
        report.add(Problem("LOT", account_id, lot_id, int(expected), int(found)))

    # 3. accounts
    by_entries = (
        sa.select(
            entries.c.account_id.label("account_id"),
            sa.func.sum(entries.c.points).label("points"),
            sa.func.count().label("n"),
        )
        .where(entries.c.program_id == program_id)
        .group_by(entries.c.account_id)
        .subquery()
    )
    by_lots = (
        sa.select(
            lots.c.account_id.label("account_id"),
            sa.func.sum(lots.c.remaining).label("points"),
            sa.func.count().label("n"),
        )
        .where(lots.c.program_id == program_id)
        .group_by(lots.c.account_id)
        .subquery()
    )
    account = sa.func.coalesce(by_entries.c.account_id, by_lots.c.account_id)
    ledger_points = sa.func.coalesce(by_entries.c.points, 0)
    lot_points = sa.func.coalesce(by_lots.c.points, 0)
    account_rows = await session.execute(
        sa.select(
            account,
            ledger_points,
            lot_points,
            sa.func.coalesce(by_entries.c.n, 0),
            sa.func.coalesce(by_lots.c.n, 0),
        ).select_from(
            by_entries.join(by_lots, by_lots.c.account_id == by_entries.c.account_id, full=True)
        )
    )
    for account_id, expected, found, n_entries, n_lots in account_rows:
        report.accounts += 1
        report.entries += int(n_entries)
        report.lots += int(n_lots)
        report.points += int(found)
        if int(expected) != int(found):
            report.add(Problem("ACCOUNT", account_id, None, int(expected), int(found)))

    # 4. debt and positive points at once
    debt = sa.alias(lots)
    debt_rows = await session.execute(
        sa.select(debt.c.account_id, debt.c.remaining, sa.func.sum(lots.c.remaining))
        .join(lots, lots.c.account_id == debt.c.account_id)
        .where(
            debt.c.program_id == program_id,
            debt.c.kind == LotKind.DEBT.value,
            debt.c.remaining < 0,
            lots.c.kind == LotKind.EARN.value,
            lots.c.remaining > 0,
            # lots past their last day wait for the expiry job; they count for nothing
            sa.or_(lots.c.expires_on.is_(None), lots.c.expires_on >= today),
        )
        .group_by(debt.c.account_id, debt.c.remaining)
    )
    for account_id, debt_points, points in debt_rows:
        report.add(Problem("DEBT_AND_POINTS", account_id, None, int(debt_points), int(points)))
    return report


async def verify_all(session: AsyncSession) -> list[Report]:
    programs = table_of(LoyaltyProgram)
    ids = (await session.execute(sa.select(programs.c.id).order_by(programs.c.code))).scalars()
    return [await verify_program(session, program_id=pid) for pid in list(ids)]

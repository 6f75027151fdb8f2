"""After the migration: prove it from the database.

- **Balances, member by member**: every migrated account's balance at the end of the
  cut-off day, read back from the ledger (``loyalty.balances``: the lots as of that instant),
  against the legacy balance. A member whose balance differs has a discrepancy saying by how
  much and what explains it (written by the batch; a read-back that disagrees with the
  batch's own figure gets one of its own).
- **Months**: the points of each kind of movement in each month, legacy against Trama.
- **Shadow run**: the legacy period's purchases recomputed with the program's rule sets
  (the migrated ones, from the legacy parameters, unless the program has its own) through
  the rule engine Trama accrues with (``loyalty.rules.replay``: the rules in force on each
  purchase's day, caps accumulating), against the points the legacy system gave; per-member
  differences with the purchases that differ most.

Reconciling again replaces the month and shadow findings; it never changes the ledger.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty import accounts as loyalty_accounts
from domain.loyalty import balances as loyalty_balances
from domain.loyalty import rules, rulesets
from domain.loyalty.lots import start_of_day
from domain.loyalty.models import EntryKind, LoyaltyProgram, PurchaseKind
from domain.loyalty_migration import events, importer
from domain.loyalty_migration.mapping import MovementKind
from domain.loyalty_migration.models import (
    DiscrepancyKind,
    LegacyAccount,
    LegacyBalance,
    LegacyMember,
    LegacyMovement,
    MigrationDiscrepancy,
    MigrationRun,
    RunStatus,
)
from domain.shared import audit
from domain.shared.errors import Conflict, NotFound
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import Principal
from domain.shared.sql import dialect_of
from domain.shared.time import utcnow

_ENTRY_KIND = {k.value: v.value for k, v in importer._KIND_TO_ENTRY.items()}
_EXAMPLES = 5


@dataclass
class Reconciliation:
    run_id: uuid.UUID
    members: int = 0
    agreeing: int = 0
    differing: int = 0
    difference_points: int = 0
    months: list[dict[str, Any]] = field(default_factory=list)
    months_differing: int = 0
    shadow_members: int = 0
    shadow_purchases: int = 0
    shadow_differing: int = 0
    shadow_difference_points: int = 0
    shadow_legacy_points: int = 0
    shadow_points: int = 0


Progress = Callable[[str, dict[str, Any]], Awaitable[None] | None]


async def _say(progress: Progress | None, what: str, **figures: Any) -> None:
    if progress is not None:
        out = progress(what, figures)
        if out is not None:
            await out


def end_of_day(day: date, zone: ZoneInfo) -> Any:
    return start_of_day(day + timedelta(days=1), zone) - timedelta(microseconds=1)


async def reconcile(
    uow: importer.UnitOfWork,
    *,
    principal: Principal,
    run_id: uuid.UUID,
    shadow: bool = True,
    progress: Progress | None = None,
) -> Reconciliation:
    async with uow() as session:
        run = await session.get(MigrationRun, run_id, with_for_update=True)
        if run is None:
            raise NotFound("LoyaltyMigration", run_id)
        if run.batches_done < run.batches_planned:
            raise Conflict(
                f"run {run_id} has written {run.batches_done} of {run.batches_planned} batches:"
                " resume the import first"
            )
        run.status = RunStatus.RECONCILING.value
        run.updated_at = utcnow()
        program = await loyalty_accounts.get_program(session, run.program_id)
        batches = run.batches_done
        cutoff = run.cutoff
        out = Reconciliation(run_id)
    zone = ZoneInfo(program.timezone)
    instant = end_of_day(cutoff, zone)

    # balances, member by member, read back
    for seq in range(1, batches + 1):
        async with uow() as session:
            await _balances(session, out, run_id, seq, instant)
    await _say(progress, "balances", agreeing=out.agreeing, differing=out.differing)

    # months
    async with uow() as session:
        await _months(session, out, run_id, program)
    await _say(progress, "months", differing=out.months_differing)

    # shadow run
    if shadow:
        async with uow() as session:
            await _clear(session, run_id, DiscrepancyKind.SHADOW)
            calendar = await rulesets.calendar(session, program.id)
        for seq in range(1, batches + 1):
            async with uow() as session:
                await _shadow(session, out, run_id, seq, calendar, program)
        await _say(
            progress,
            "shadow",
            purchases=out.shadow_purchases,
            members_differing=out.shadow_differing,
        )

    async with uow() as session:
        run = await session.get(MigrationRun, run_id, with_for_update=True)
        assert run is not None
        run.balances_agreeing = out.agreeing
        run.balances_differing = out.differing
        run.difference_points = out.difference_points
        run.months_differing = out.months_differing
        if shadow:
            run.shadow_members_differing = out.shadow_differing
            run.shadow_difference_points = out.shadow_difference_points
            run.counts = {
                **run.counts,
                "shadowPurchases": out.shadow_purchases,
                "shadowLegacyPoints": out.shadow_legacy_points,
                "shadowPoints": out.shadow_points,
            }
        run.status = RunStatus.COMPLETED.value
        run.error = None
        run.finished_at = run.updated_at = utcnow()
        audit.record(
            session,
            principal=principal,
            action="loyalty.migration.complete",
            entity_type="LoyaltyMigration",
            entity_id=run.id,
            after={
                "balancesAgreeing": out.agreeing,
                "balancesDiffering": out.differing,
                "differencePoints": out.difference_points,
                "monthsDiffering": out.months_differing,
                "shadowMembersDiffering": out.shadow_differing,
                "journalHead": run.journal_head,
            },
        )
        events.emit(
            session,
            "loyalty.migration_completed",
            run,
            program,
            {
                "status": RunStatus.COMPLETED.value,
                "balancesAgreeing": out.agreeing,
                "balancesDiffering": out.differing,
                "monthsDiffering": out.months_differing,
                "shadowMembersDiffering": out.shadow_differing,
                "journalHead": run.journal_head,
            },
        )
    return out


async def _clear(session: AsyncSession, run_id: uuid.UUID, kind: DiscrepancyKind) -> None:
    table = table_of(MigrationDiscrepancy)
    await session.execute(
        sa.delete(table).where(table.c.run_id == run_id, table.c.kind == kind.value)
    )


async def _of_batch(
    session: AsyncSession, model: type[Any], run_id: uuid.UUID, seq: int, *where: Any
) -> list[Any]:
    table = table_of(model)
    query = sa.select(table).where(table.c.run_id == run_id, table.c.batch_seq == seq, *where)
    return list((await session.execute(query)).all())


async def _balances(
    session: AsyncSession, out: Reconciliation, run_id: uuid.UUID, seq: int, instant: Any
) -> None:
    members = {m.member_no: m for m in await _of_batch(session, LegacyMember, run_id, seq)}
    legacy = {b.member_no: b.points for b in await _of_batch(session, LegacyBalance, run_id, seq)}
    by_account = {m.account_id: m.member_no for m in members.values() if m.account_id}
    figures = await loyalty_balances.balances(session, account_ids=list(by_account), as_of=instant)
    table = table_of(MigrationDiscrepancy)
    written = {
        row.member_no: row.trama_points
        for row in (
            await session.execute(
                sa.select(table.c.member_no, table.c.trama_points).where(
                    table.c.run_id == run_id,
                    table.c.kind == DiscrepancyKind.BALANCE.value,
                    table.c.member_no.in_(list(members)),
                )
            )
        ).all()
    }
    fresh: list[dict[str, Any]] = []
    movements: dict[str, list[Any]] | None = None
    for account_id, member_no in by_account.items():
        found = figures.get(account_id)
        trama = found.total if found is not None else 0
        out.members += 1
        if trama == legacy[member_no]:
            out.agreeing += 1
            continue
        out.differing += 1
        out.difference_points += abs(trama - legacy[member_no])
        if written.get(member_no) == trama:
            continue
        if movements is None:
            movements = defaultdict(list)
            for mv in await _of_batch(session, LegacyMovement, run_id, seq):
                movements[mv.member_no].append(mv)
        mine = movements.get(member_no, [])
        row = importer.balance_discrepancy(
            run_id=run_id,
            member_no=member_no,
            account_id=account_id,
            legacy_balance=legacy[member_no],
            trama=trama,
            movements=mine,
            expiry_rows=[],
            overdrawn=[],
            expiries_known=False,
            read_back=True,
        )
        fresh.append(row)
    if fresh:
        await session.execute(sa.insert(table), fresh)


async def _months(
    session: AsyncSession, out: Reconciliation, run_id: uuid.UUID, program: LoyaltyProgram
) -> None:
    await _clear(session, run_id, DiscrepancyKind.MONTH)
    movements = table_of(LegacyMovement)
    if dialect_of(session) == "postgresql":
        month = sa.func.to_char(movements.c.occurred_on, "YYYY-MM")
    else:
        month = sa.func.substr(movements.c.occurred_on, 1, 7)
    rows = (
        await session.execute(
            sa.select(
                month.label("month"),
                movements.c.kind,
                sa.func.sum(movements.c.points),
                sa.func.count(),
            )
            .where(movements.c.run_id == run_id, movements.c.points != 0)
            .group_by(month, movements.c.kind)
        )
    ).all()
    legacy: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for month_text, kind, points, count in rows:
        slot = legacy[(str(month_text), _ENTRY_KIND.get(kind, kind))]
        slot[0] += int(points)
        slot[1] += int(count)
    trama: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for total in await loyalty_balances.program_totals_by_month(session, program=program):
        trama[(total.month, total.kind)] = [total.points, total.entries]
    last_month = f"{max(m for m, _ in legacy)}" if legacy else ""
    by_day = await _expiry_days_by_month(session, run_id)
    fresh: list[dict[str, Any]] = []
    out.months = []
    for key in sorted(set(legacy) | {k for k in trama if k[0] <= last_month}):
        month_text, kind = key
        lp, lc = legacy.get(key, [0, 0])
        tp, tc = trama.get(key, [0, 0])
        out.months.append(
            {"month": month_text, "kind": kind, "legacyPoints": lp, "legacyMovements": lc,
             "tramaPoints": tp, "tramaEntries": tc}
        )  # fmt: skip
        if lp == tp:
            continue
        out.months_differing += 1
        explanation: dict[str, Any] = {"legacyMovements": lc, "tramaEntries": tc}
        if kind == EntryKind.EXPIRY.value:
            members, points = by_day.get(month_text, (0, 0))
            explanation["expiryDiscrepancies"] = {"members": members, "points": points}
            explanation["text"] = (
                "the expirations Trama computed differ from the legacy system's"
                + (
                    f"; all of it is the {members} member(s) of the expiry report"
                    if points == tp - lp
                    else f"; the expiry report's members account for {points} of it"
                )
            )
        else:
            explanation["text"] = (
                "the program holds other entries of this month, or some movements were not written"
            )
        fresh.append(
            {
                "id": uuid7(),
                "run_id": run_id,
                "kind": DiscrepancyKind.MONTH.value,
                "member_no": None,
                "account_id": None,
                "period": month_text,
                "movement_kind": kind,
                "legacy_points": lp,
                "trama_points": tp,
                "difference": tp - lp,
                "explanation": explanation,
            }
        )
    if fresh:
        await session.execute(sa.insert(table_of(MigrationDiscrepancy)), fresh)


async def _expiry_days_by_month(
    session: AsyncSession, run_id: uuid.UUID
) -> dict[str, tuple[int, int]]:
    """The run's EXPIRY discrepancies (a member's last day where the two systems expired
    different points) per month the expiry ran in (the day after the last day, as both the
    legacy expiry rows and Trama's EXPIRY entries are dated): (members, points) — points
    signed as a month's difference (Trama less legacy)."""
    table = table_of(MigrationDiscrepancy)
    rows = await session.execute(
        sa.select(table.c.member_no, table.c.period, table.c.difference).where(
            table.c.run_id == run_id, table.c.kind == DiscrepancyKind.EXPIRY.value
        )
    )
    members: dict[str, set[str]] = defaultdict(set)
    points: dict[str, int] = defaultdict(int)
    for member_no, period, difference in rows:
        ran = date.fromisoformat(str(period)) + timedelta(days=1)
        month = f"{ran.year:04d}-{ran.month:02d}"
        members[month].add(str(member_no))
        points[month] += int(difference)
    return {m: (len(members[m]), points[m]) for m in points}


async def _shadow(
    session: AsyncSession,
    out: Reconciliation,
    run_id: uuid.UUID,
    seq: int,
    calendar: rulesets.Calendar,
    program: LoyaltyProgram,
) -> None:
    movements = table_of(LegacyMovement)
    purchases = await _of_batch(
        session, LegacyMovement, run_id, seq, movements.c.kind == MovementKind.ACCRUAL.value
    )
    if not purchases:
        return
    products = {
        a.account_no: a.product for a in await _of_batch(session, LegacyAccount, run_id, seq)
    }
    members = {m.member_no: m for m in await _of_batch(session, LegacyMember, run_id, seq)}
    by_member: dict[str, list[Any]] = defaultdict(list)
    for row in purchases:
        by_member[row.member_no].append(row)
    fresh: list[dict[str, Any]] = []
    for member_no, rows in sorted(by_member.items()):
        rows.sort(
            key=lambda r: (r.occurred_on, r.occurred_time or "", len(r.movement_id), r.movement_id)
        )
        member = members.get(member_no)
        facts = rules.MemberFacts(
            tier=None,
            segments=frozenset({member.segment})
            if member is not None and member.segment
            else frozenset(),
        )
        evaluated = rules.replay(
            calendar.resolve,
            (
                rules.PurchaseFacts(
                    amount=abs(r.amount or 0),
                    currency=program.currency,
                    day=r.occurred_on,
                    mcc=r.mcc,
                    card_product=products.get(r.account_no or ""),
                    kind=PurchaseKind.PURCHASE.value,
                )
                for r in rows
            ),
            facts,
        )
        legacy_total = sum(r.points for r in rows)
        shadow_total = sum(e.points for e, _ in evaluated)
        out.shadow_members += 1
        out.shadow_purchases += len(rows)
        out.shadow_legacy_points += legacy_total
        out.shadow_points += shadow_total
        differing = [
            (r, e, tag) for r, (e, tag) in zip(rows, evaluated, strict=True) if e.points != r.points
        ]
        if not differing:
            continue
        out.shadow_differing += 1
        out.shadow_difference_points += abs(shadow_total - legacy_total)
        worst = sorted(differing, key=lambda x: -abs(x[1].points - x[0].points))[:_EXAMPLES]
        fresh.append(
            {
                "id": uuid7(),
                "run_id": run_id,
                "kind": DiscrepancyKind.SHADOW.value,
                "member_no": member_no,
                "account_id": member.account_id if member is not None else None,
                "period": None,
                "movement_kind": EntryKind.ACCRUAL.value,
                "legacy_points": legacy_total,
                "trama_points": shadow_total,
                "difference": shadow_total - legacy_total,
                "explanation": {
                    "purchases": len(rows),
                    "purchasesDiffering": len(differing),
                    "examples": [
                        {
                            "id": r.movement_id,
                            "line": r.line,
                            "on": r.occurred_on.isoformat(),
                            "amount": r.amount,
                            "mcc": r.mcc,
                            "cardProduct": products.get(r.account_no or ""),
                            "legacyPoints": r.points,
                            "tramaPoints": e.points,
                            "ruleSetVersion": tag.version if tag is not None else None,
                            "rule": e.rule_id,
                            "result": e.explanation.get("result"),
                            "raw": e.explanation.get("raw"),
                            "caps": e.explanation.get("caps"),
                        }
                        for r, e, tag in worst
                    ],
                },
            }
        )
    if fresh:
        await session.execute(sa.insert(table_of(MigrationDiscrepancy)), fresh)

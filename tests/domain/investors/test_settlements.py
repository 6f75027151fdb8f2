"""Settlement runs: one statement per investor with every line, idempotent per period,
forward only, negative nets roll over; paying a statement is audited."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.db import Database, read_session, transaction
from domain.credits.models import Installment
from domain.investors import distributions, settlements
from domain.investors.models import DistributionLine, SettlementRun, SettlementStatement
from domain.shared import outbox
from domain.shared.audit import AuditRecord
from domain.shared.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from domain.shared.event_schemas import global_id as gid
from domain.shared.event_schemas import money
from domain.shared.models import table_of
from domain.shared.principal import Role
from domain.shared.time import utcnow
from tests.conftest import IS_POSTGRES
from tests.domain.investors.conftest import (
    ADMIN,
    NO_PII,
    World,
    counts,
    disburse_credit,
    fund,
    investor_principal,
    make_credit,
    make_investor,
    pay,
    reverse,
    staff,
)


async def run(start: date, end: date) -> SettlementRun:
    async with transaction() as session:
        return await settlements.run_settlement(
            session, principal=ADMIN, period_start=start, period_end=end
        )


async def statements_of(run_id: uuid.UUID) -> list[SettlementStatement]:
    async with read_session() as session:
        page = await settlements.run_statements(session, principal=ADMIN, run_id=run_id, limit=100)
    return page.items


async def investor_lines(investor_id: uuid.UUID) -> list[DistributionLine]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(DistributionLine)
            .where(DistributionLine.investor_id == investor_id)  # type: ignore[arg-type]
            .order_by(DistributionLine.id)  # type: ignore[arg-type]
        )
    return list(rows.scalars().all())


async def dues(credit_id: uuid.UUID) -> list[tuple[date, int]]:
    async with read_session() as session:
        t = table_of(Installment)
        rows = await session.execute(
            sa.select(t.c.due_date, t.c.amount)
            .where(t.c.credit_id == credit_id, t.c.schedule_no == 1)
            .order_by(t.c.number)
        )
    return [(r[0], int(r[1])) for r in rows]


@pytest.fixture
async def funded(world: World) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, date]:
    """A credit 25 % / 50 % funded, disbursed 130 days ago."""
    credit = await make_credit(world, disburse=False)
    a, b = await make_investor(), await make_investor()
    await fund(credit.id, a.id, "0.25")
    await fund(credit.id, b.id, "0.5")
    start = utcnow().date() - timedelta(days=130)
    await disburse_credit(credit.id, start)
    return credit.id, a.id, b.id, start


async def test_run_statements_lines_idempotent(
    db: Database, funded: tuple[uuid.UUID, uuid.UUID, uuid.UUID, date]
) -> None:
    credit_id, a, b, start = funded
    (due1, amount1), (due2, amount2), *_ = await dues(credit_id)
    await pay(credit_id, amount1, due1)
    await pay(credit_id, amount2, due2)

    first = await run(start, due1)
    statements = await statements_of(first.id)
    assert {s.investor_id for s in statements} == {a, b}
    assert first.statement_count == 2
    for statement in statements:
        lines = [
            line
            for line in await investor_lines(statement.investor_id)
            if line.statement_id == statement.id
        ]
        assert lines and all(line.value_date <= due1 for line in lines)
        assert statement.total == sum(line.amount for line in lines)
        assert statement.line_count == len(lines)
        assert statement.fees < 0 < statement.interest
        assert statement.total == statement.interest + statement.principal + statement.fees
        async with read_session() as session:
            page = await settlements.statement_lines(
                session,
                principal=investor_principal(statement.investor_id),
                statement_id=statement.id,
                limit=3,
            )
            listed = list(page.items)
            while page.has_next:
                page = await settlements.statement_lines(
                    session,
                    principal=ADMIN,
                    statement_id=statement.id,
                    limit=3,
                    after=page.cursors[-1],
                )
                listed += page.items
        assert [line.id for line in listed] == [line.id for line in lines]
    # lines of the second payment are not in the first period
    unsettled = [line for line in await investor_lines(a) if line.statement_id is None]
    assert unsettled and all(line.value_date == due2 for line in unsettled)

    before = await counts()
    again = await run(start, due1)
    assert again.id == first.id
    assert await counts() == before
    with pytest.raises(Conflict, match="move forward"):
        await run(due1, due2)
    with pytest.raises(Conflict, match="move forward"):
        await run(start - timedelta(days=30), start - timedelta(days=1))
    assert await counts() == before

    second = await run(due1 + timedelta(days=1), utcnow().date())
    assert second.statement_count == 2
    assert all(line.statement_id is not None for line in await investor_lines(a))
    async with read_session() as session:
        events = (
            (
                await session.execute(
                    sa.select(outbox.OutboxEvent).where(
                        outbox.OutboxEvent.topic == "settlements.completed"  # type: ignore[arg-type]
                    )
                )
            )
            .scalars()
            .all()
        )
    ours = [gid("SettlementRun", first.id), gid("SettlementRun", second.id)]
    events = [e for e in events if e.payload["runId"] in ours]  # the demo data has its own run
    assert [e.payload["runId"] for e in events] == ours
    assert events[0].payload["statementCount"] == 2


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (date(2026, 2, 1), date(2026, 1, 31), "periodEnd"),
        (utcnow().date(), utcnow().date() + timedelta(days=1), "periodEnd"),
        (date(2020, 1, 1), date(2022, 1, 1), "periodEnd"),
    ],
)
async def test_bad_periods_are_refused(db: Database, start: date, end: date, field: str) -> None:
    before = await counts()
    with pytest.raises(ValidationFailed) as caught:
        await run(start, end)
    assert caught.value.problems[0].field == field
    assert await counts() == before


async def test_negative_net_rolls_into_the_next_run(
    db: Database,
    funded: tuple[uuid.UUID, uuid.UUID, uuid.UUID, date],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    credit_id, a, _, start = funded
    (due1, amount1), (_, amount2), (due3, amount3), *_ = await dues(credit_id)
    first_payment = await pay(credit_id, amount1, due1)
    settled = await run(start, due1)
    assert settled.statement_count == 2
    # The payment bounces after it was settled; the adjustment is booked on due1 + 5.
    monkeypatch.setattr(distributions, "today", lambda _tz: due1 + timedelta(days=5))
    await reverse(first_payment)
    negative = [line for line in await investor_lines(a) if line.statement_id is None]
    assert negative and sum(line.amount for line in negative) < 0
    assert all(line.kind == "ADJUSTMENT" for line in negative)
    assert all(line.occurred_on == due1 + timedelta(days=5) for line in negative)
    empty = await run(due1 + timedelta(days=1), due1 + timedelta(days=10))
    assert empty.statement_count == 0  # nobody is paid a negative amount
    assert all(line.statement_id is None for line in negative)
    monkeypatch.undo()
    await pay(credit_id, amount1 + amount2 + amount3, due3)
    later = await run(due1 + timedelta(days=11), utcnow().date())
    mine = [s for s in await statements_of(later.id) if s.investor_id == a]
    assert len(mine) == 1
    lines = [line for line in await investor_lines(a) if line.statement_id == mine[0].id]
    assert {line.id for line in negative} <= {line.id for line in lines}
    assert mine[0].total == sum(line.amount for line in lines) > 0
    # every investor line is settled exactly once
    assert all(line.statement_id is not None for line in await investor_lines(a))


async def test_mark_paid(
    db: Database, funded: tuple[uuid.UUID, uuid.UUID, uuid.UUID, date]
) -> None:
    credit_id, a, b, start = funded
    (due1, amount1), *_ = await dues(credit_id)
    await pay(credit_id, amount1, due1)
    done = await run(start, due1)
    statement = next(s for s in await statements_of(done.id) if s.investor_id == a)
    when = utcnow() - timedelta(hours=1)
    async with transaction() as session:
        paid = await settlements.mark_settlement_paid(
            session, principal=ADMIN, statement_id=statement.id, paid_at=when, reference=" TRX-1 "
        )
    assert (paid.status, paid.payment_reference, paid.paid_at) == ("PAID", "TRX-1", when)
    before = await counts()
    async with transaction() as session:  # the same transfer again: nothing new
        again = await settlements.mark_settlement_paid(
            session, principal=ADMIN, statement_id=statement.id, paid_at=when, reference="TRX-1"
        )
        assert again.version == paid.version
    assert await counts() == before
    async with transaction() as session:
        with pytest.raises(InvalidTransition):
            await settlements.mark_settlement_paid(
                session,
                principal=ADMIN,
                statement_id=statement.id,
                paid_at=when,
                reference="TRX-2",
            )
        for bad in (
            {"paid_at": when, "reference": "  "},
            {"paid_at": datetime(2026, 1, 1), "reference": "X"},  # naive
            {"paid_at": utcnow() + timedelta(days=2), "reference": "X"},
            {"paid_at": when, "reference": "X" * 101},
        ):
            with pytest.raises(ValidationFailed):
                await settlements.mark_settlement_paid(
                    session,
                    principal=ADMIN,
                    statement_id=statement.id,
                    **bad,  # type: ignore[arg-type]
                )
        with pytest.raises(NotFound):
            await settlements.mark_settlement_paid(
                session, principal=ADMIN, statement_id=uuid.uuid4(), paid_at=when, reference="X"
            )
        with pytest.raises(Forbidden):
            await settlements.mark_settlement_paid(
                session,
                principal=investor_principal(a),
                statement_id=statement.id,
                paid_at=when,
                reference="X",
            )
    assert await counts() == before
    async with read_session() as session:
        audits = (
            (
                await session.execute(
                    sa.select(AuditRecord.action).where(  # type: ignore[call-overload]
                        AuditRecord.entity_id == str(statement.id)  # type: ignore[arg-type]
                    )
                )
            )
            .scalars()
            .all()
        )
        assert audits == ["settlements.pay"]
        event = (
            await session.execute(
                sa.select(outbox.OutboxEvent).where(outbox.OutboxEvent.topic == "settlements.paid")  # type: ignore[arg-type]
            )
        ).scalar_one()
        assert event.payload["total"] == money(statement.total, statement.currency)
        # who sees what
        mine = await settlements.investor_statements(
            session, principal=investor_principal(a), investor_id=a, limit=10
        )
        assert [s.id for s in mine.items] == [statement.id]
        with pytest.raises(Forbidden):
            await settlements.investor_statements(
                session, principal=investor_principal(b), investor_id=a, limit=10
            )
        with pytest.raises(Forbidden):
            await settlements.get_statement(
                session, principal=investor_principal(b), statement_id=statement.id
            )
        with pytest.raises(Forbidden):
            await settlements.run_statements(
                session, principal=investor_principal(a), run_id=done.id, limit=10
            )
        assert (
            await settlements.get_settlement_run(session, principal=NO_PII, run_id=done.id)
        ).id == done.id
    with pytest.raises(Forbidden):
        async with transaction() as session:
            await settlements.run_settlement(
                session,
                principal=staff(Role.AGENT),
                period_start=due1 + timedelta(days=1),
                period_end=utcnow().date(),
            )


async def test_batches_cover_every_investor(
    db: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domain.investors import policy

    monkeypatch.setattr(
        settlements, "get_policy", lambda: policy.InvestorPolicy(settlement_batch_size=2)
    )
    credit = await make_credit(world, disburse=False)
    investors = [await make_investor() for _ in range(5)]
    for investor in investors:
        await fund(credit.id, investor.id, "0.1")
    start = utcnow().date() - timedelta(days=60)
    await disburse_credit(credit.id, start)
    (due1, amount1), *_ = await dues(credit.id)
    await pay(credit.id, amount1, due1)
    done = await run(start, utcnow().date())
    statements = await statements_of(done.id)
    assert {s.investor_id for s in statements} == {i.id for i in investors}
    for investor in investors:
        assert all(line.statement_id is not None for line in await investor_lines(investor.id))
    assert done.line_count == sum(s.line_count for s in statements)


async def test_statement_totals_are_recounted_from_their_lines(
    db: Database, funded: tuple[uuid.UUID, uuid.UUID, uuid.UUID, date]
) -> None:
    """The path a line committed mid-run takes: totals are what the attached lines sum to."""
    credit_id, a, _, start = funded
    (due1, amount1), *_ = await dues(credit_id)
    await pay(credit_id, amount1, due1)
    done = await run(start, due1)
    statement = next(s for s in await statements_of(done.id) if s.investor_id == a)
    template = (await investor_lines(a))[0]
    async with transaction() as session:
        extra = {c.name: getattr(template, c.name) for c in table_of(DistributionLine).columns}
        extra.update(id=uuid.uuid4(), amount=7, component="PRINCIPAL", kind="ADJUSTMENT")
        await session.execute(sa.insert(table_of(DistributionLine)), [extra])
        await settlements._recount(session, [statement.id])
    async with read_session() as session:
        fresh = await session.get(SettlementStatement, statement.id)
    assert fresh is not None
    assert fresh.total == statement.total + 7
    assert fresh.principal == statement.principal + 7
    assert fresh.line_count == statement.line_count + 1


@pytest.mark.skipif(not IS_POSTGRES, reason="SQLite has a single writer: nothing to race")
async def test_concurrent_runs_of_one_period_make_one_run(
    db: Database, funded: tuple[uuid.UUID, uuid.UUID, uuid.UUID, date]
) -> None:
    credit_id, _, _, start = funded
    (due1, amount1), *_ = await dues(credit_id)
    await pay(credit_id, amount1, due1)
    runs = await asyncio.gather(*(run(start, due1) for _ in range(4)))
    assert len({r.id for r in runs}) == 1
    async with read_session() as session:
        count = (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(SettlementStatement)
                .where(SettlementStatement.run_id == runs[0].id)  # type: ignore[arg-type]
            )
        ).scalar_one()
    assert count == 2  # the run's (the demo data has a run of its own)

"""The bulk path of migrated history: the lot engine's rules, COPY on PostgreSQL, the
invariants verify checks, and as-of balances read from the moves."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.db import read_session, transaction
from domain.loyalty import accounts, balances, bulk, verify
from domain.loyalty.models import EntryKind
from domain.shared.errors import Conflict, ValidationFailed
from tests.domain.loyalty.conftest import World, at, enroll


def _m(account, kind, points, day, key, **kw):  # type: ignore[no-untyped-def]
    return bulk.HistoryMovement(
        account_id=account,
        kind=kind,
        points=points,
        occurred_at=at(day),
        dedupe_key=key,
        reason=f"legacy {key}",
        **kw,
    )


async def test_history_writes_lots_and_balances_as_of(world: World) -> None:
    a = await enroll(world, 0)
    b = await enroll(world, 1)
    d0 = date(2025, 3, 10)
    movements = [
        _m(a, EntryKind.ACCRUAL, 1000, d0, "L1"),
        _m(a, EntryKind.ACCRUAL, 500, d0 + timedelta(days=30), "L2"),
        _m(a, EntryKind.REDEMPTION, -1200, d0 + timedelta(days=40), "L3"),
        _m(b, EntryKind.ACCRUAL, 300, d0, "L4"),
        _m(b, EntryKind.REDEMPTION, -400, d0 + timedelta(days=1), "L5"),  # overdraws
        _m(b, EntryKind.ACCRUAL, 250, d0 + timedelta(days=2), "L6"),  # repays debt first
    ]
    async with transaction() as session:
        program = await accounts.get_program(session, world.program_id)
        result = await bulk.write_history(
            session, program=program, batch_id=None, actor="test", movements=movements
        )
    assert result.entries == 6
    assert result.overdrawn == [(b, "L5", 100)]
    assert result.balances[a].available == 300
    assert result.balances[b].available == 150 and result.balances[b].debt == 0
    async with read_session() as session:
        # the redemption took the earliest-expiring lot whole, then 200 of the next
        before = await balances.balance(session, account_id=a, as_of=at(d0 + timedelta(days=35)))
        assert before.available == 1500
        after = await balances.balance(session, account_id=a, as_of=at(d0 + timedelta(days=41)))
        assert after.available == 300
        in_debt = await balances.balance(session, account_id=b, as_of=at(d0 + timedelta(days=1)))
        assert (in_debt.available, in_debt.debt) == (-100, 100)
        # 365 days after: the first lots expired (no expiry entries written: the reads say so)
        report = await verify.verify_program(session, program_id=world.program_id)
        assert report.ok, report.problems


async def test_history_expires_on_the_way_and_refuses_a_second_write(world: World) -> None:
    a = await enroll(world, 2)
    d0 = date(2024, 1, 15)
    movements = [
        _m(a, EntryKind.ACCRUAL, 700, d0, "X1"),
        _m(a, EntryKind.ACCRUAL, 100, d0 + timedelta(days=400), "X2"),
    ]
    async with transaction() as session:
        program = await accounts.get_program(session, world.program_id)
        result = await bulk.write_history(
            session,
            program=program,
            batch_id=None,
            actor="test",
            movements=movements,
            expire=True,
            as_of=d0 + timedelta(days=401),
        )
    assert result.expiries == 1
    assert result.balances[a].available == 100
    with pytest.raises(Conflict):
        async with transaction() as session:
            program = await accounts.get_program(session, world.program_id)
            await bulk.write_history(
                session,
                program=program,
                batch_id=None,
                actor="test",
                movements=[_m(a, EntryKind.ACCRUAL, 5, d0 + timedelta(days=402), "X2")],
            )
    with pytest.raises(ValidationFailed):
        async with transaction() as session:
            program = await accounts.get_program(session, world.program_id)
            await bulk.write_history(
                session,
                program=program,
                batch_id=None,
                actor="test",
                movements=[_m(a, EntryKind.ACCRUAL, 5, d0, "X9")],  # before its last entry
            )
    async with read_session() as session:
        report = await verify.verify_program(session, program_id=world.program_id)
        assert report.ok, report.problems

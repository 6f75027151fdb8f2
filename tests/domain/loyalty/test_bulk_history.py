"""The bulk path of migrated history: the lot engine's rules, COPY on PostgreSQL, the
invariants verify checks, and as-of balances read from the moves."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.loyalty import accounts, balances, bulk, verify
from domain.loyalty.models import EntryKind, LoyaltyEntry, LoyaltyLot
from domain.shared.errors import Conflict, ValidationFailed
from domain.shared.models import table_of
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


async def _remaining_by_key(account: object) -> dict[str, int]:
    """What is left of each lot of ``account``, by the dedupe key of the entry that opened it."""
    lots, entries = table_of(LoyaltyLot), table_of(LoyaltyEntry)
    async with read_session() as session:
        rows = await session.execute(
            sa.select(entries.c.dedupe_key, lots.c.remaining)
            .join(entries, entries.c.id == lots.c.entry_id)
            .where(lots.c.account_id == account)
        )
        return {key: int(remaining) for key, remaining in rows}


async def test_a_refund_takes_back_its_own_purchase_lot_not_the_earliest_expiring(
    world: World,
) -> None:
    a = await enroll(world, 3)
    d0 = date(2025, 5, 2)
    soon, later = d0 + timedelta(days=59), d0 + timedelta(days=364)
    movements = [
        _m(a, EntryKind.ACCRUAL, 100, d0, "R1", expires_on=soon),
        _m(a, EntryKind.ACCRUAL, 200, d0 + timedelta(days=1), "R2", expires_on=later),
        # the refund of R2's purchase: R1 expires first, but R2's points are the ones refunded
        _m(a, EntryKind.REFUND, -200, d0 + timedelta(days=5), "R3", refund_of="R2"),
    ]
    async with transaction() as session:
        program = await accounts.get_program(session, world.program_id)
        result = await bulk.write_history(
            session, program=program, batch_id=None, actor="test", movements=movements
        )
    assert result.overdrawn == []
    assert result.balances[a].available == 100
    # earliest expiry first would have left R1 at 0 and R2 at 100
    assert await _remaining_by_key(a) == {"R1": 100, "R2": 0}
    async with read_session() as session:
        # R1's 100 points expire on their day: nothing of R2 is left to outlive them
        before = await balances.balance(session, account_id=a, as_of=at(soon))
        after = await balances.balance(session, account_id=a, as_of=at(soon + timedelta(days=1)))
        assert (before.available, after.available) == (100, 0)
        report = await verify.verify_program(session, program_id=world.program_id)
        assert report.ok, report.problems


async def test_a_refund_finds_its_purchase_lot_written_before_and_takes_the_rest_elsewhere(
    world: World,
) -> None:
    a = await enroll(world, 4)
    d0 = date(2025, 6, 3)
    first = [
        _m(a, EntryKind.ACCRUAL, 80, d0, "W1", expires_on=d0 + timedelta(days=30)),
        _m(a, EntryKind.ACCRUAL, 150, d0, "W2", expires_on=d0 + timedelta(days=300)),
        _m(a, EntryKind.REDEMPTION, -100, d0 + timedelta(days=1), "W3"),  # W1 80, W2 20
        _m(a, EntryKind.ACCRUAL, 30, d0 + timedelta(days=2), "W4", expires_on=d0 + timedelta(20)),
    ]
    # W2's purchase refunded in a later write: W2's 130 first (though W4 expires first), the
    # 20 more from the account, earliest expiry first (W4)
    second = [_m(a, EntryKind.REFUND, -150, d0 + timedelta(days=3), "W5", refund_of="W2")]
    async with transaction() as session:
        program = await accounts.get_program(session, world.program_id)
        await bulk.write_history(
            session, program=program, batch_id=None, actor="test", movements=first
        )
    async with transaction() as session:
        program = await accounts.get_program(session, world.program_id)
        result = await bulk.write_history(
            session, program=program, batch_id=None, actor="test", movements=second
        )
    assert result.overdrawn == []
    assert result.balances[a].available == 10
    # earliest expiry first would have left W2 at 10 and W4 at 0
    assert await _remaining_by_key(a) == {"W1": 0, "W2": 0, "W4": 10}
    async with read_session() as session:
        # W4's last day is d0 + 20: then nothing is left
        gone = await balances.balance(session, account_id=a, as_of=at(d0 + timedelta(days=21)))
        assert gone.available == 0
        report = await verify.verify_program(session, program_id=world.program_id)
        assert report.ok, report.problems


async def test_a_refund_of_an_unknown_purchase_is_an_ordinary_debit(world: World) -> None:
    a = await enroll(world, 5)
    d0 = date(2025, 7, 4)
    soon, later = d0 + timedelta(days=40), d0 + timedelta(days=200)
    movements = [
        _m(a, EntryKind.ACCRUAL, 100, d0, "U1", expires_on=soon),
        _m(a, EntryKind.ACCRUAL, 200, d0 + timedelta(days=1), "U2", expires_on=later),
        # its purchase is not in the ledger: earliest expiry first, as any debit
        _m(a, EntryKind.REFUND, -150, d0 + timedelta(days=5), "U3", refund_of="NOPE"),
    ]
    async with transaction() as session:
        program = await accounts.get_program(session, world.program_id)
        result = await bulk.write_history(
            session, program=program, batch_id=None, actor="test", movements=movements
        )
    assert result.balances[a].available == 150
    assert await _remaining_by_key(a) == {"U1": 0, "U2": 150}

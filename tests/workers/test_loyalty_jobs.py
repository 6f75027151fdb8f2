"""Loyalty's actors: an on-time credit payment earns the program's event points (once),
the accrual job drains the queue, the daily run expires and records the day."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.credits.models import Credit
from domain.loyalty import accounts, balances, bulk
from domain.loyalty.models import EntryKind, LoyaltyEntry, LoyaltyProgram
from domain.shared import time as clock
from domain.shared.event_schemas import global_id
from domain.shared.outbox import Event
from tests.conftest import IS_POSTGRES
from tests.domain.loyalty.conftest import at, make_program, today
from workers.actors import loyalty as actors
from workers.registry import REGISTRY, load_modules


def _payment_event(credit: Credit, *, days_past_due: int = 0) -> Event:
    payment = uuid.uuid4()
    return Event(
        id=uuid.uuid4(),
        position=1,
        topic="payments.received",
        key=None,
        payload={
            "creditId": global_id("Credit", credit.id),
            "paymentId": global_id("Payment", payment),
            "paidAt": clock.isoformat(clock.utcnow()),
            "daysPastDue": days_past_due,
            "backdated": False,
            "allocatedAmount": {"amount": "150000", "currency": credit.currency},
        },
        partner_ids=frozenset(),
        created_at=clock.utcnow(),
    )


def test_the_actors_are_loaded_and_subscribed() -> None:
    load_modules()
    assert {"loyalty.accrue", "loyalty.expire"} <= set(REGISTRY.jobs)
    assert "loyalty.reward_payments" in REGISTRY.consumers_for("payments.received")
    assert "loyalty.accrue_recorded" in REGISTRY.consumers_for("loyalty.purchases_recorded")


async def test_an_on_time_payment_earns_event_points_once(db: Any) -> None:
    world = await make_program()
    async with read_session() as session:
        credit = (await session.execute(sa.select(Credit).limit(1))).scalar_one_or_none()
    assert credit is not None, "the demo seed has credits"
    async with transaction() as session:
        account = await accounts.enroll(
            session, world.agent, program_id=world.program_id, customer_id=credit.customer_id
        )
    event = _payment_event(credit)
    for _ in range(2):  # delivered twice: earned once
        async with transaction() as session:
            await actors.reward_payments(session, event)
    async with transaction() as session:
        await actors.reward_payments(session, _payment_event(credit, days_past_due=3))
    async with read_session() as session:
        got = await balances.balance(session, account_id=account.id)
        kinds = (
            (
                await session.execute(
                    sa.select(LoyaltyEntry.source_type).where(LoyaltyEntry.account_id == account.id)
                )
            )
            .scalars()
            .all()
        )
    assert got.available == 150
    assert kinds == ["EVENT"]


async def test_the_daily_run_expires_and_records_the_day(db: Any) -> None:
    world = await make_program()
    async with transaction() as session:
        account = await accounts.enroll(
            session, world.agent, program_id=world.program_id, customer_id=world.customers[0]
        )
        program = await accounts.get_program(session, world.program_id)
        await bulk.write_history(
            session,
            program=program,
            batch_id=None,
            actor="test",
            movements=[
                bulk.HistoryMovement(
                    account.id, EntryKind.ACCRUAL, 40, at(today() - timedelta(days=500)), "x", "x"
                )
            ],
        )
    runs = await actors.expire()
    mine = [r for r in runs if r["program"] == "TEST_PUNTOS"]
    assert mine and mine[0]["expired_points"] == 40
    async with read_session() as session:
        program = await session.get(LoyaltyProgram, world.program_id)
        assert program is not None and program.expired_through == today() - timedelta(days=1)
    assert [r for r in await actors.expire() if r["program"] == "TEST_PUNTOS"] == []


async def _history(program_id: Any, rows: list[tuple[Any, int, Any, Any]]) -> None:
    """(account, points, occurred_at, expires_on) accruals through the bulk path."""
    async with transaction() as session:
        program = await accounts.get_program(session, program_id)
        await bulk.write_history(
            session,
            program=program,
            batch_id=None,
            actor="test",
            movements=[
                bulk.HistoryMovement(
                    account, EntryKind.ACCRUAL, points, when, f"h{i}", "historia", expires_on=last
                )
                for i, (account, points, when, last) in enumerate(rows)
            ],
        )


async def test_the_daily_run_expires_on_each_programs_own_day(db: Any) -> None:
    # UTC+14 and UTC-11: at any instant at least one of them is not on the UTC date
    results = {}
    for index, (code, zone) in enumerate(
        (("KIRITIMATI", "Pacific/Kiritimati"), ("PAGO_PAGO", "Pacific/Pago_Pago"))
    ):
        world = await make_program(code, timezone=zone)
        async with transaction() as session:
            account = await accounts.enroll(
                session,
                world.agent,
                program_id=world.program_id,
                customer_id=world.customers[index],
            )
        local = clock.local_today(zone)
        earned = clock.utcnow() - timedelta(days=30)
        await _history(
            world.program_id,
            [
                (account.id, 7, earned, local - timedelta(days=1)),  # its last day was yesterday
                (account.id, 5, earned, local),  # usable until the end of today
            ],
        )
        results[code] = (world, account.id)
    runs = {r["program"]: r for r in await actors.expire()}
    for code, (world, account_id) in results.items():
        assert runs[code]["expired_points"] == 7, code
        async with read_session() as session:
            got = await balances.balance(session, account_id=account_id)
            program = await session.get(LoyaltyProgram, world.program_id)
        assert got.available == 5, code
        assert program is not None
        assert program.expired_through == clock.local_today(program.timezone) - timedelta(days=1)


async def test_the_daily_run_reviews_tiers_over_the_rolling_window(db: Any) -> None:
    from domain.loyalty.models import LoyaltyAccount, LoyaltyTierChange

    world = await make_program()  # ORO: qualify 5000, keep 4000, over 365 days
    ids = []
    async with transaction() as session:
        for i in range(3):
            account = await accounts.enroll(
                session, world.agent, program_id=world.program_id, customer_id=world.customers[i]
            )
            ids.append(account.id)
    lapsed, kept, risen = ids
    async with transaction() as session:
        await session.execute(
            sa.update(LoyaltyAccount)
            .where(LoyaltyAccount.id.in_([lapsed, kept]))  # type: ignore[attr-defined]
            .values(tier_code="ORO")
        )
    now = clock.utcnow()
    await _history(
        world.program_id,
        [
            (lapsed, 9000, now - timedelta(days=400), None),  # out of the window now
            (lapsed, 3000, now - timedelta(days=20), None),
            (kept, 4100, now - timedelta(days=300), None),  # under qualify, over keep
            (risen, 5200, now - timedelta(days=100), None),
        ],
    )
    runs = {r["program"]: r for r in await actors.expire()}
    assert runs["TEST_PUNTOS"]["tier_changes"] == 2
    async with read_session() as session:
        tiers = dict(
            (
                await session.execute(
                    sa.select(LoyaltyAccount.id, LoyaltyAccount.tier_code).where(
                        LoyaltyAccount.id.in_(ids)  # type: ignore[attr-defined]
                    )
                )
            ).all()
        )
        changes = (
            await session.execute(
                sa.select(
                    LoyaltyTierChange.account_id,
                    LoyaltyTierChange.from_tier,
                    LoyaltyTierChange.to_tier,
                ).where(LoyaltyTierChange.account_id.in_(ids))  # type: ignore[attr-defined]
            )
        ).all()
    assert tiers == {lapsed: "CLASICO", kept: "ORO", risen: "ORO"}
    assert sorted(changes) == sorted([(lapsed, "ORO", "CLASICO"), (risen, None, "ORO")])


@pytest.mark.skipif(not IS_POSTGRES, reason="row locks skipped are PostgreSQL's")
async def test_the_tier_sweep_skips_an_account_busy_elsewhere(db: Any) -> None:
    from domain.loyalty import rulesets, tiers
    from domain.loyalty.models import LoyaltyAccount

    world = await make_program()
    ids = []
    async with transaction() as session:
        for i in range(3):
            account = await accounts.enroll(
                session, world.agent, program_id=world.program_id, customer_id=world.customers[i]
            )
            ids.append(account.id)
        await session.execute(
            sa.update(LoyaltyAccount)
            .where(LoyaltyAccount.id.in_(ids))  # type: ignore[attr-defined]
            .values(tier_code="ORO")  # none has points: all should go down
        )
    ids.sort()
    async with read_session() as session:
        program = await accounts.get_program(session, world.program_id)
        calendar = await rulesets.calendar(session, world.program_id)
    async with transaction() as holder:  # the first account is busy in another transaction
        await accounts.lock_accounts(holder, [ids[0]])
        cursor = None
        moved = []
        while True:
            async with transaction() as session:
                moves, cursor = await tiers.sweep_tiers(
                    session,
                    program=program,
                    calendar=calendar,
                    today=today(),
                    after=cursor,
                    limit=2,
                )
            moved += [m.account_id for m in moves]
            if cursor is None:
                break
    assert sorted(moved) == ids[1:]


async def test_a_program_whose_rules_reward_no_payment_gives_nothing(db: Any) -> None:
    import copy

    from domain.loyalty.models import LoyaltyPurchase
    from tests.domain.loyalty.conftest import RULES

    rules = copy.deepcopy(RULES)
    rules["events"] = []
    world = await make_program("SIN_EVENTOS", rules=rules)
    async with read_session() as session:
        credit = (await session.execute(sa.select(Credit).limit(1))).scalar_one()
    async with transaction() as session:
        account = await accounts.enroll(
            session, world.agent, program_id=world.program_id, customer_id=credit.customer_id
        )
    async with transaction() as session:
        await actors.reward_payments(session, _payment_event(credit))
    async with read_session() as session:
        rows = (
            await session.execute(
                sa.select(sa.func.count()).where(LoyaltyPurchase.account_id == account.id)
            )
        ).scalar_one()
        got = await balances.balance(session, account_id=account.id)
    assert (rows, got.available) == (0, 0)

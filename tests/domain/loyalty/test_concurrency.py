"""Redemptions and transfers at once never overdraw: each locks its accounts (row locks on
PostgreSQL, in id order so crossing transfers never deadlock; the write lock on SQLite).
Run on PostgreSQL with TRAMA_TEST_DATABASE_URL for real concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

from app.db import read_session, transaction
from domain.loyalty import balances, ledger, rewards, verify
from domain.loyalty.errors import InsufficientPoints
from tests.domain.loyalty.conftest import World, enroll


async def _attempt(work: Any) -> str:
    try:
        async with transaction() as session:
            await work(session)
        return "ok"
    except InsufficientPoints:
        return "short"


async def test_simultaneous_redemptions_never_overdraw(world: World) -> None:
    a = await enroll(world, 0)
    async with transaction() as session:
        await ledger.adjust_points(
            session, world.supervisor, account_id=a, points=1000, reason="carga"
        )
        reward = await rewards.create_reward(
            session,
            world.supervisor,
            program_id=world.program_id,
            code="CINE",
            values=rewards.RewardInput(name="Cine", cost_points=300),
        )

    def redeem(session: Any) -> Any:
        return ledger.redeem_reward(session, world.agent, account_id=a, reward_id=reward.id)

    outcomes = await asyncio.gather(*(_attempt(redeem) for _ in range(6)))
    assert sorted(outcomes) == ["ok"] * 3 + ["short"] * 3
    async with read_session() as session:
        assert (await balances.balance(session, account_id=a)).available == 100
        assert (await verify.verify_program(session, program_id=world.program_id)).ok


async def test_crossing_transfers_do_not_deadlock_or_overdraw(world: World) -> None:
    a = await enroll(world, 1)
    b = await enroll(world, 2)
    async with transaction() as session:
        for account in (a, b):
            await ledger.adjust_points(
                session, world.supervisor, account_id=account, points=500, reason="carga"
            )

    def move(source: Any, target: Any) -> Any:
        return lambda session: ledger.transfer_points(
            session, world.agent, from_account_id=source, to_account_id=target, points=200
        )

    work = [move(a, b), move(b, a)] * 4
    outcomes = await asyncio.gather(*(_attempt(w) for w in work))
    async with read_session() as session:
        found = await balances.balances(session, account_ids=[a, b])
        assert found[a].available + found[b].available == 1000
        assert min(found[a].available, found[b].available) >= 0
        assert (await verify.verify_program(session, program_id=world.program_id)).ok
    assert "ok" in outcomes

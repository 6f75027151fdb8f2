"""Cancelling a redemption: the points come back into lots with the expiry they had (one
lot per lot taken), the reward's stock is restored, a second cancellation is refused with
nothing written, and the ledger is still provable."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.loyalty import accounts, balances, bulk, ledger, rewards, verify
from domain.loyalty.models import EntryKind, LoyaltyLot, LoyaltyRedemption, LoyaltyReward
from tests.domain.loyalty.conftest import World, at, enroll, snapshot, today


async def test_a_cancelled_redemption_gives_back_points_dates_and_stock(world: World) -> None:
    account = await enroll(world, 10)
    old_end = today() + timedelta(days=20)
    new_end = today() + timedelta(days=300)
    async with transaction() as session:
        program = await accounts.get_program(session, world.program_id)
        await bulk.write_history(
            session,
            program=program,
            batch_id=None,
            actor="test",
            movements=[
                bulk.HistoryMovement(
                    account,
                    EntryKind.ACCRUAL,
                    40,
                    at(today() - timedelta(days=100)),
                    "a",
                    "a",
                    expires_on=old_end,
                ),
                bulk.HistoryMovement(
                    account,
                    EntryKind.ACCRUAL,
                    100,
                    at(today() - timedelta(days=5)),
                    "b",
                    "b",
                    expires_on=new_end,
                ),
            ],
        )
        reward = await rewards.create_reward(
            session,
            world.supervisor,
            program_id=world.program_id,
            code="CENA",
            values=rewards.RewardInput(name="Cena", cost_points=70, stock=3),
        )
    async with transaction() as session:
        redemption = await ledger.redeem_reward(
            session, world.agent, account_id=account, reward_id=reward.id
        )
    async with read_session() as session:
        assert (await balances.balance(session, account_id=account)).available == 70
    async with transaction() as session:
        cancelled = await ledger.cancel_redemption(
            session, world.supervisor, redemption_id=redemption.id, reason="sin cupo en el local"
        )
    assert cancelled.status == "CANCELLED"
    async with read_session() as session:
        assert (await balances.balance(session, account_id=account)).available == 140
        open_lots = sorted(
            (lot.expires_on, lot.remaining)
            for lot in (
                await session.execute(
                    sa.select(LoyaltyLot).where(
                        LoyaltyLot.account_id == account, LoyaltyLot.remaining > 0
                    )
                )
            ).scalars()
        )
        stock = (await session.get(LoyaltyReward, reward.id)).stock  # type: ignore[union-attr]
        assert (await verify.verify_program(session, program_id=world.program_id)).ok
    # 40 from the lot ending sooner and 30 from the other came back with those same days
    assert open_lots == [(old_end, 40), (new_end, 30), (new_end, 70)]
    assert stock == 3
    before = await snapshot()
    with pytest.raises(Exception) as raised:
        async with transaction() as session:
            await ledger.cancel_redemption(
                session, world.supervisor, redemption_id=redemption.id, reason="otra vez"
            )
    assert getattr(raised.value, "code", None) == "CONFLICT"
    assert await snapshot() == before
    # an agent may not cancel (managers only); a customer cannot either
    async with transaction() as session:
        again = await ledger.redeem_reward(
            session, world.agent, account_id=account, reward_id=reward.id
        )
    before = await snapshot()
    for who in (world.agent, world.customer(world.customers[10])):
        with pytest.raises(Exception) as refused:
            async with transaction() as session:
                await ledger.cancel_redemption(
                    session, who, redemption_id=again.id, reason="intento"
                )
        assert getattr(refused.value, "code", None) in {"FORBIDDEN", "NOT_FOUND"}
    assert await snapshot() == before
    async with read_session() as session:
        still = await session.get(LoyaltyRedemption, again.id)
    assert still is not None and still.status == "COMPLETED"

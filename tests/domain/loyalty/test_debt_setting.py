"""The debt setting: with ``allow_debt`` a refund of redeemed points leaves a debt the next
accruals repay first; without it what cannot be taken back is forgiven and the next points
are the member's at once. Transfers stay inside one program."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.loyalty import accounts, accrual, balances, ledger, purchases, rewards, verify
from domain.loyalty.models import LoyaltyEntry, LoyaltyPurchase
from domain.shared import time as clock
from domain.shared.errors import ValidationFailed
from tests.domain.loyalty.conftest import make_program, snapshot


async def _run(program: Any, number: str, *items: purchases.PurchaseInput) -> None:
    async with transaction() as session:
        await purchases.record_purchases(
            session, program.agent, program_id=program.program_id, purchases=list(items)
        )
    async with transaction() as session:
        await accrual.accrue_batch(session)


def _buy(key: str, amount: str, number: str, **kw: Any) -> purchases.PurchaseInput:
    return purchases.PurchaseInput(
        external_id=key,
        amount=amount,
        currency="ARS",
        occurred_at=clock.utcnow() - timedelta(hours=kw.pop("hours_ago", 1)),
        member_number=number,
        **kw,
    )


@pytest.mark.parametrize("allow_debt", [True, False])
async def test_a_refund_of_spent_points_with_and_without_debt(db: Any, allow_debt: bool) -> None:
    world = await make_program(f"DEUDA_{allow_debt}", allow_debt=allow_debt)
    async with transaction() as session:
        account = await accounts.enroll(
            session, world.agent, program_id=world.program_id, customer_id=world.customers[0]
        )
        reward = await rewards.create_reward(
            session,
            world.supervisor,
            program_id=world.program_id,
            code="VALE",
            values=rewards.RewardInput(name="Vale", cost_points=100),
        )
    number = account.number
    await _run(world, number, _buy("D-1", "10000.00", number, hours_ago=5))  # 100 points
    async with transaction() as session:
        await ledger.redeem_reward(session, world.agent, account_id=account.id, reward_id=reward.id)
    refund = _buy("D-1R", "10000.00", number, hours_ago=3, kind="REFUND", refund_of="D-1")
    await _run(world, number, refund)
    async with read_session() as session:
        after_refund = await balances.balance(session, account_id=account.id)
        entries = (
            await session.execute(
                sa.select(LoyaltyEntry.points, LoyaltyEntry.explanation).where(
                    LoyaltyEntry.kind == "REFUND", LoyaltyEntry.account_id == account.id
                )
            )
        ).all()
        row = (
            await session.execute(
                sa.select(LoyaltyPurchase.points, LoyaltyPurchase.error_code).where(
                    LoyaltyPurchase.program_id == world.program_id,
                    LoyaltyPurchase.external_id == "D-1R",
                )
            )
        ).one()
    if allow_debt:
        assert (after_refund.available, after_refund.debt) == (-100, 100)
        [(points, explanation)] = entries
        assert points == -100 and explanation["debt"] == 100
        assert tuple(row) == (-100, None)
    else:  # nothing could be taken: no entry, the refund says why
        assert (after_refund.available, after_refund.debt) == (0, 0)
        assert entries == []
        assert tuple(row) == (0, "NOTHING_TO_TAKE_BACK")
    await _run(world, number, _buy("D-2", "15000.00", number))  # 150 points
    async with read_session() as session:
        final = await balances.balance(session, account_id=account.id)
        assert (await verify.verify_program(session, program_id=world.program_id)).ok
    assert (final.available, final.debt) == ((50, 0) if allow_debt else (150, 0))


async def test_a_transfer_to_another_program_is_refused(db: Any) -> None:
    one = await make_program("UNO")
    other = await make_program("OTRO")
    async with transaction() as session:
        a = await accounts.enroll(
            session, one.agent, program_id=one.program_id, customer_id=one.customers[0]
        )
        b = await accounts.enroll(
            session, other.agent, program_id=other.program_id, customer_id=one.customers[1]
        )
        await ledger.adjust_points(
            session, one.supervisor, account_id=a.id, points=300, reason="bienvenida"
        )
    before = await snapshot()
    with pytest.raises(ValidationFailed) as raised:
        async with transaction() as session:
            await ledger.transfer_points(
                session, one.agent, from_account_id=a.id, to_account_id=b.id, points=100
            )
    assert raised.value.code == "VALIDATION"
    assert [p.field for p in raised.value.problems] == ["toAccountId"]
    assert await snapshot() == before

"""Redemptions, manual adjustments, transfers, refunds and expiry through the services:
lots consumed earliest expiry first, every refusal coded with nothing written, the ledger
provable after each step."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.loyalty import accrual, balances, expiry, ledger, purchases, rewards, verify
from domain.loyalty.errors import (
    InsufficientPoints,
    LimitReached,
    OutOfStock,
)
from domain.loyalty.models import LoyaltyEntry, LoyaltyLot
from domain.shared import time as clock
from domain.shared.errors import ValidationFailed
from tests.domain.loyalty.conftest import World, at, enroll, snapshot, today


async def _grant(world: World, account: Any, points: int, key: str | None = None) -> None:
    async with transaction() as session:
        await ledger.adjust_points(
            session,
            world.supervisor,
            account_id=account,
            points=points,
            reason="bienvenida",
            idempotency_key=key,
        )


async def _balance(account: Any, as_of: datetime | None = None) -> balances.Balance:
    async with read_session() as session:
        return await balances.balance(session, account_id=account, as_of=as_of)


async def _proved(world: World) -> None:
    async with read_session() as session:
        report = await verify.verify_program(session, program_id=world.program_id)
    assert report.ok, [p.describe() for p in report.problems]


async def _reward(world: World, code: str, cost: int, **kw: Any) -> Any:
    async with transaction() as session:
        reward = await rewards.create_reward(
            session,
            world.supervisor,
            program_id=world.program_id,
            code=code,
            values=rewards.RewardInput(name=f"Premio {code}", cost_points=cost, **kw),
        )
        return reward.id


async def test_adjust_redeem_and_refusals_write_nothing(world: World) -> None:
    a = await enroll(world, 0)
    await _grant(world, a, 1000, key="k1")
    await _grant(world, a, 1000, key="k1")  # the same key: nothing more
    assert (await _balance(a)).available == 1000
    cheap = await _reward(world, "CAFE", 300, stock=1, limit_per_member=2, limit_period="MONTH")
    dear = await _reward(world, "VIAJE", 5000)
    async with transaction() as session:
        await ledger.redeem_reward(session, world.agent, account_id=a, reward_id=cheap)
    before = await snapshot()
    for reward_id, error in ((dear, InsufficientPoints), (cheap, OutOfStock)):
        with pytest.raises(error) as raised:
            async with transaction() as session:
                await ledger.redeem_reward(session, world.agent, account_id=a, reward_id=reward_id)
        assert raised.value.code in {"INSUFFICIENT_POINTS", "OUT_OF_STOCK"}
    assert await snapshot() == before
    # the limit per member holds even with stock
    async with transaction() as session:
        reward = await session.get(rewards.LoyaltyReward, cheap)
        assert reward is not None
        reward.stock = 10
    async with transaction() as session:
        await ledger.redeem_reward(session, world.agent, account_id=a, reward_id=cheap)
    with pytest.raises(LimitReached):
        async with transaction() as session:
            await ledger.redeem_reward(session, world.agent, account_id=a, reward_id=cheap)
    with pytest.raises(InsufficientPoints):
        async with transaction() as session:
            await ledger.adjust_points(
                session, world.supervisor, account_id=a, points=-401, reason="error de carga"
            )
    with pytest.raises(ValidationFailed):
        async with transaction() as session:
            await ledger.adjust_points(
                session, world.supervisor, account_id=a, points=5, reason="4111 1111 1111 1111"
            )
    assert (await _balance(a)).available == 400
    await _proved(world)


async def test_redemption_takes_the_earliest_expiry_first(world: World) -> None:
    a = await enroll(world, 1)
    await _grant(world, a, 100)  # expires in 365 days
    b = await enroll(world, 2)
    async with transaction() as session:  # older history expiring sooner, through bulk
        from domain.loyalty import accounts, bulk
        from domain.loyalty.models import EntryKind

        program = await accounts.get_program(session, world.program_id)
        await bulk.write_history(
            session,
            program=program,
            batch_id=None,
            actor="test",
            movements=[
                bulk.HistoryMovement(
                    b, EntryKind.ACCRUAL, 50, at(today() - timedelta(days=300)), "old", "viejo"
                ),
                bulk.HistoryMovement(
                    b, EntryKind.ACCRUAL, 80, at(today() - timedelta(days=10)), "new", "nuevo"
                ),
            ],
        )
    reward = await _reward(world, "PELI", 60)
    async with transaction() as session:
        redemption = await ledger.redeem_reward(
            session, world.agent, account_id=b, reward_id=reward
        )
    async with read_session() as session:
        lots = {
            row.points: row.remaining
            for row in (
                await session.execute(sa.select(LoyaltyLot).where(LoyaltyLot.account_id == b))
            ).scalars()
        }
        entry = await session.get(LoyaltyEntry, redemption.entry_id)
    assert lots == {50: 0, 80: 70}
    assert entry is not None and entry.explanation is not None
    assert [c["points"] for c in entry.explanation["consumed"]] == [50, 10]
    await _proved(world)


async def test_transfer_keeps_expiry_and_refuses_overdraw(world: World) -> None:
    a = await enroll(world, 3)
    b = await enroll(world, 4)
    await _grant(world, a, 500)
    async with transaction() as session:
        t = await ledger.transfer_points(
            session,
            world.agent,
            from_account_id=a,
            to_account_id=b,
            points=200,
            idempotency_key="t-1",
        )
    async with transaction() as session:  # a retry does nothing more
        again = await ledger.transfer_points(
            session,
            world.agent,
            from_account_id=a,
            to_account_id=b,
            points=200,
            idempotency_key="t-1",
        )
    assert again.id == t.id
    assert (await _balance(a)).available == 300
    assert (await _balance(b)).available == 200
    async with read_session() as session:
        sent = (
            (await session.execute(sa.select(LoyaltyLot).where(LoyaltyLot.account_id == a)))
            .scalars()
            .one()
        )
        got = (
            (await session.execute(sa.select(LoyaltyLot).where(LoyaltyLot.account_id == b)))
            .scalars()
            .one()
        )
    assert got.expires_on == sent.expires_on
    before = await snapshot()
    with pytest.raises(InsufficientPoints):
        async with transaction() as session:
            await ledger.transfer_points(
                session, world.agent, from_account_id=b, to_account_id=a, points=201
            )
    # a customer moves points only from their own account
    with pytest.raises(Exception) as raised:
        async with transaction() as session:
            await ledger.transfer_points(
                session,
                world.customer(world.customers[4]),
                from_account_id=a,
                to_account_id=b,
                points=1,
            )
    assert getattr(raised.value, "code", "") == "NOT_FOUND"
    assert await snapshot() == before
    await _proved(world)


async def test_expiry_job_dates_entries_on_the_last_day(world: World) -> None:
    a = await enroll(world, 5)
    day0 = today() - timedelta(days=400)
    async with transaction() as session:
        from domain.loyalty import accounts, bulk
        from domain.loyalty.models import EntryKind

        program = await accounts.get_program(session, world.program_id)
        await bulk.write_history(
            session,
            program=program,
            batch_id=None,
            actor="test",
            movements=[bulk.HistoryMovement(a, EntryKind.ACCRUAL, 90, at(day0), "e1", "viejo")],
        )
    assert (await _balance(a)).available == 0  # reads never count a lot past its day
    async with transaction() as session:
        program = await accounts.get_program(session, world.program_id)
        batch = await expiry.expire_batch(session, program=program, today=today())
    assert (batch.entries, batch.points) == (1, 90)
    last_day = day0 + timedelta(days=364)
    async with read_session() as session:
        entry = (
            await session.execute(
                sa.select(LoyaltyEntry).where(
                    LoyaltyEntry.account_id == a, LoyaltyEntry.kind == "EXPIRY"
                )
            )
        ).scalar_one()
    assert entry.dedupe_key == f"expiry:{a}:{last_day.isoformat()}"
    assert (await _balance(a, as_of=at(last_day, 23))).available == 90
    assert (await _balance(a, as_of=at(last_day + timedelta(days=1), 1))).available == 0
    async with transaction() as session:  # a second run finds nothing
        program = await accounts.get_program(session, world.program_id)
        assert (await expiry.expire_batch(session, program=program, today=today())).entries == 0
    await _proved(world)


def _buy(
    key: str, amount: str, *, member: str, when: datetime, **kw: Any
) -> purchases.PurchaseInput:
    return purchases.PurchaseInput(
        external_id=key, amount=amount, currency="ARS", occurred_at=when, member_number=member, **kw
    )


async def test_accrual_pending_refund_and_debt(world: World) -> None:
    from domain.loyalty import accounts as accounts_service

    async with transaction() as session:
        program = await accounts_service.get_program(session, world.program_id, lock=True)
        program.pending_days = 30
        account = await accounts_service.get_account(session, await _enroll_in(session, world, 6))
        number = account.number
        account_id = account.id
    now = clock.utcnow()
    async with transaction() as session:
        result = await purchases.record_purchases(
            session,
            world.agent,
            program_id=world.program_id,
            purchases=[
                _buy("T-1", "10000.00", member=number, when=now - timedelta(days=40), mcc="5411"),
                _buy("T-2", "2500.50", member=number, when=now - timedelta(hours=2), mcc="5732"),
                _buy("T-3", "400.00", member=number, when=now - timedelta(hours=1)),
            ],
        )
    assert (result.accepted, result.duplicates) == (3, 0)
    async with transaction() as session:
        report = await accrual.accrue_batch(session)
    assert (report.accrued, report.zero, report.points) == (2, 1, 200 + 25)
    bal = await _balance(account_id)
    assert (bal.available, bal.pending) == (200, 25)  # T-2 is within the refund lock
    # redeem 150 of T-1's points, then T-1 is refunded whole: 50 back from its lot, 25 from
    # T-2's pending lot, 125 become debt that the next accrual repays first
    reward = await _reward(world, "VALE", 150)
    async with transaction() as session:
        await ledger.redeem_reward(session, world.agent, account_id=account_id, reward_id=reward)
    async with transaction() as session:
        await purchases.record_purchases(
            session,
            world.agent,
            program_id=world.program_id,
            purchases=[
                _buy(
                    "R-1",
                    "10000.00",
                    member=number,
                    when=now - timedelta(minutes=30),
                    kind="REFUND",
                    refund_of="T-1",
                ),
            ],
        )
        await accrual.accrue_batch(session)
    bal = await _balance(account_id)
    assert (bal.available, bal.pending, bal.debt) == (-125, 0, 125)
    async with transaction() as session:
        await purchases.record_purchases(
            session,
            world.agent,
            program_id=world.program_id,
            purchases=[_buy("T-4", "20000.00", member=number, when=now - timedelta(minutes=5))],
        )
        await accrual.accrue_batch(session)
    bal = await _balance(account_id)
    assert (bal.available, bal.pending, bal.debt) == (0, 75, 0)
    await _proved(world)


async def _enroll_in(session: Any, world: World, index: int) -> Any:
    from domain.loyalty import accounts as accounts_service

    account = await accounts_service.enroll(
        session, world.agent, program_id=world.program_id, customer_id=world.customers[index]
    )
    return account.id


async def test_refund_never_charges_expired_points_twice(world: World) -> None:
    from domain.loyalty import accounts as accounts_service

    async with transaction() as session:
        account_id = await _enroll_in(session, world, 7)
        number = (await accounts_service.get_account(session, account_id)).number
    long_ago = clock.utcnow() - timedelta(days=370)
    async with transaction() as session:
        await purchases.record_purchases(
            session,
            world.agent,
            program_id=world.program_id,
            purchases=[_buy("OLD-1", "5000.00", member=number, when=long_ago)],
        )
        await accrual.accrue_batch(session)
        program = await accounts_service.get_program(session, world.program_id)
        await expiry.expire_batch(session, program=program, today=today())
    await _grant(world, account_id, 100)
    async with transaction() as session:
        await purchases.record_purchases(
            session,
            world.agent,
            program_id=world.program_id,
            purchases=[
                _buy(
                    "OLD-R",
                    "5000.00",
                    member=number,
                    when=clock.utcnow(),
                    kind="REFUND",
                    refund_of="OLD-1",
                )
            ],
        )
        report = await accrual.accrue_batch(session)
    assert report.refunds == 1
    assert (await _balance(account_id)).available == 100  # the 50 had expired: let off
    await _proved(world)


async def test_refund_beyond_purchase_and_bad_input_refused(world: World) -> None:
    from domain.loyalty import accounts as accounts_service

    async with transaction() as session:
        account_id = await _enroll_in(session, world, 8)
        number = (await accounts_service.get_account(session, account_id)).number
    now = clock.utcnow()
    async with transaction() as session:
        await purchases.record_purchases(
            session,
            world.agent,
            program_id=world.program_id,
            purchases=[_buy("P-9", "1000.00", member=number, when=now)],
        )
    before = await snapshot()
    bad = [
        _buy("R-9", "1000.01", member=number, when=now, kind="REFUND", refund_of="P-9"),
        _buy("P-10", "10.00", member=number, when=now, mcc="54A1"),
        _buy("P-11", "10.00", member=number, when=now, merchant_name="card 4111111111111111"),
        _buy("P-12", "10.001", member=number, when=now),
        _buy("P-13", "10.00", member="nobody", when=now),
        _buy("P-14", "10.00", member=number, when=now + timedelta(days=1)),
        _buy("P-9", "999.00", member=number, when=now),  # the same id, other figures
    ]
    with pytest.raises(ValidationFailed) as raised:
        async with transaction() as session:
            await purchases.record_purchases(
                session, world.agent, program_id=world.program_id, purchases=bad
            )
    fields = {p.field for p in raised.value.problems}
    assert fields >= {
        "purchases[0].amount",
        "purchases[1].mcc",
        "purchases[2].merchantName",
        "purchases[3].amount",
        "purchases[4].memberNumber",
        "purchases[5].occurredAt",
        "purchases[6].externalId",
    }
    assert await snapshot() == before


async def test_verify_finds_a_tampered_lot(world: World) -> None:
    a = await enroll(world, 9)
    await _grant(world, a, 100)
    async with transaction() as session:
        await session.execute(
            sa.update(LoyaltyLot).where(LoyaltyLot.account_id == a).values(remaining=99)
        )
    async with read_session() as session:
        report = await verify.verify_program(session, program_id=world.program_id)
    assert {p.check for p in report.problems} == {"LOT", "ACCOUNT"}

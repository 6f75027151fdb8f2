"""A draft rule set over recorded purchases: differences per member and scenario, in
points and liability, nothing written."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

import pytest

from app.db import read_session, transaction
from domain.loyalty import accounts, accrual, purchases, simulate
from domain.shared import time as clock
from domain.shared.errors import ValidationFailed
from domain.shared.principal import Role
from tests.domain.loyalty.conftest import RULES, World, enroll, principal, snapshot, today


async def test_simulation_reports_differences_and_writes_nothing(world: World) -> None:
    ids = [await enroll(world, i) for i in range(3)]
    async with read_session() as session:
        numbers = [(await accounts.get_account(session, a)).number for a in ids]
    now = clock.utcnow()
    batch = []
    for i, number in enumerate(numbers):
        for j in range(3):
            batch.append(
                purchases.PurchaseInput(
                    external_id=f"S-{i}-{j}",
                    amount=f"{(i + 1) * 1000}.00",
                    currency="ARS",
                    occurred_at=now - timedelta(days=j + 1),
                    member_number=number,
                    mcc="5411" if j == 0 else "5999",
                )
            )
    async with transaction() as session:
        await purchases.record_purchases(
            session, world.agent, program_id=world.program_id, purchases=batch
        )
        await accrual.accrue_batch(session)
    draft = copy.deepcopy(RULES)
    draft["earn"]["rules"][0]["points"] = "5"  # supermarkets: 5 per 100 instead of 2
    before = await snapshot()
    async with transaction() as session:
        result = await simulate.simulate(
            session,
            world.supervisor,
            program_id=world.program_id,
            document=draft,
            period_from=today() - timedelta(days=10),
            period_until=today(),
        )
    assert await snapshot() == before
    # supermarket purchases: 10, 20, 30 ARS-hundreds: +3 points per 100 each
    assert result.purchases == 9
    assert result.difference == 3 * (10 + 20 + 30)
    assert result.top_members[0].difference == 90
    assert result.scenarios[0].key.startswith("supermercados -> supermercados")
    assert result.liability_difference.amount == 180 * 50  # 0.50 ARS a point, in cents
    with pytest.raises(ValidationFailed):
        async with transaction() as session:
            await simulate.simulate(
                session,
                world.supervisor,
                program_id=world.program_id,
                document={"format": "nope"},
                period_from=today(),
                period_until=today(),
            )


async def test_simulation_of_chosen_members_only(world: World) -> None:
    ids = [await enroll(world, i) for i in range(3)]
    async with read_session() as session:
        numbers = [(await accounts.get_account(session, a)).number for a in ids]
    now = clock.utcnow()
    async with transaction() as session:
        await purchases.record_purchases(
            session,
            world.agent,
            program_id=world.program_id,
            purchases=[
                purchases.PurchaseInput(
                    external_id=f"M-{i}",
                    amount="1000.00",
                    currency="ARS",
                    occurred_at=now - timedelta(days=1),
                    member_number=number,
                )
                for i, number in enumerate(numbers)
            ],
        )
        await accrual.accrue_batch(session)
    draft = copy.deepcopy(RULES)
    draft["earn"]["base"]["points"] = "4"  # 10 points become 40
    async with read_session() as session:
        result = await simulate.simulate(
            session,
            world.supervisor,
            program_id=world.program_id,
            document=draft,
            period_from=today() - timedelta(days=3),
            period_until=today(),
            members=[ids[0], ids[2]],
        )
    assert (result.members, result.purchases, result.current, result.draft) == (2, 2, 20, 80)
    assert sorted(m.number for m in result.top_members) == sorted([numbers[0], numbers[2]])
    assert result.changed_members == 2
    # another partner's staff cannot simulate this program
    stranger = principal(Role.SUPERVISOR, uuid.uuid4())
    with pytest.raises(Exception) as raised:
        async with read_session() as session:
            await simulate.simulate(
                session,
                stranger,
                program_id=world.program_id,
                document=draft,
                period_from=today() - timedelta(days=3),
                period_until=today(),
            )
    assert getattr(raised.value, "code", None) in {"NOT_FOUND", "FORBIDDEN"}

"""A program's expiry policy as a user sets it: the day an accrued lot expires under each
policy, and settings that make no sense refused field by field with nothing written."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.loyalty import accounts, accrual, purchases
from domain.loyalty.models import LoyaltyLot
from domain.shared import time as clock
from domain.shared.errors import ValidationFailed
from tests.domain.loyalty.conftest import BUENOS_AIRES, make_program, snapshot


def _expected(policy: str, count: int | None, day: date) -> date | None:
    if policy == "NEVER":
        return None
    if policy == "AFTER_DAYS":
        assert count is not None
        return day + timedelta(days=count - 1)
    if policy == "END_OF_MONTH":  # the last day of the month ``count`` months on
        assert count is not None
        month = day.month - 1 + count
        first_after = date(day.year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
        return first_after - timedelta(days=1)
    assert count is not None
    return date(day.year + count, 12, 31)


@pytest.mark.parametrize(
    ("policy", "count"),
    [
        ("NEVER", None),
        ("AFTER_DAYS", 90),
        ("END_OF_MONTH", 0),
        ("END_OF_MONTH", 2),
        ("END_OF_NTH_YEAR", 1),
    ],
)
async def test_each_expiry_policy_dates_the_lots(db: Any, policy: str, count: int | None) -> None:
    code = f"EXP_{policy}_{count or 0}"[:32]
    world = await make_program(code, expiry_policy=policy, expiry_count=count)
    async with transaction() as session:
        account = await accounts.enroll(
            session, world.agent, program_id=world.program_id, customer_id=world.customers[0]
        )
    bought = clock.utcnow() - timedelta(days=3)
    async with transaction() as session:
        await purchases.record_purchases(
            session,
            world.agent,
            program_id=world.program_id,
            purchases=[
                purchases.PurchaseInput(
                    external_id="X-1",
                    amount="1000.00",
                    currency="ARS",
                    occurred_at=bought,
                    account_id=account.id,
                )
            ],
        )
        await accrual.accrue_batch(session)
    async with read_session() as session:
        lot = (
            await session.execute(sa.select(LoyaltyLot).where(LoyaltyLot.account_id == account.id))
        ).scalar_one()
    assert lot.expires_on == _expected(policy, count, bought.astimezone(BUENOS_AIRES).date())


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"expiry_policy": "NEVER", "expiry_count": 30}, {"expiryCount"}),
        ({"expiry_policy": "AFTER_DAYS", "expiry_count": None}, {"expiryCount"}),
        ({"expiry_policy": "AFTER_DAYS", "expiry_count": 0}, {"expiryCount"}),
        ({"expiry_policy": "SOMETIMES", "expiry_count": 1}, {"expiryPolicy"}),
        ({"timezone": "Mars/Olympus_Mons"}, {"timezone"}),
        ({"point_value": "-1", "currency": "XYZ"}, {"pointValue", "currency"}),
        ({"pending_days": 400}, {"pendingDays"}),
    ],
)
async def test_settings_that_make_no_sense_are_refused(
    db: Any, changes: dict[str, Any], fields: set[str]
) -> None:
    world = await make_program("BASE")
    before = await snapshot()
    values: dict[str, Any] = {
        "name": "Otro",
        "unit_name": "millas",
        "point_value": "1.00",
        "currency": "ARS",
        "timezone": "America/Argentina/Buenos_Aires",
        "expiry_policy": "AFTER_DAYS",
        "expiry_count": 365,
        **changes,
    }
    with pytest.raises(ValidationFailed) as raised:
        async with transaction() as session:
            await accounts.create_program(
                session,
                world.supervisor,
                partner_id=world.partner_id,
                code="OTRO",
                settings=accounts.ProgramSettings(**values),
            )
    assert raised.value.code == "VALIDATION"
    assert {p.field for p in raised.value.problems} == fields
    assert await snapshot() == before

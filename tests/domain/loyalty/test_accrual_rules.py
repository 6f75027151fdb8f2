"""The accrual worker applying a rule set as a user configures it: rates by merchant partner,
channel and card product, a multiplier for a segment, a dated promotion, the minimum
purchase, caps per month and year counted from the ledger across batches; pending points
that become available on their day; one event per accrual in the outbox."""

from __future__ import annotations

import copy
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from app.db import read_session, transaction
from domain.loyalty import accounts, accrual, balances, purchases
from domain.loyalty.models import LoyaltyPurchase
from domain.shared import time as clock
from domain.shared.event_schemas import global_id
from domain.shared.outbox import OutboxEvent
from tests.domain.loyalty.conftest import BUENOS_AIRES, RULES, World, at, make_program
from tests.event_contract import check

CHANNEL_RULES: dict[str, Any] = {
    **copy.deepcopy(RULES),
    "earn": {
        "base": {"points": "1", "per": "100.00"},
        "minimumPurchase": "10.00",
        "rules": [
            {
                "id": "socio",
                "match": {"merchantPartners": ["FARMACITY"]},
                "points": "3",
                "per": "100.00",
            },
            {"id": "online", "match": {"channels": ["ECOMMERCE"]}, "points": "2", "per": "100.00"},
            {
                "id": "black",
                "match": {"cardProducts": ["MASTER_BLACK"]},
                "points": "4",
                "per": "100.00",
            },
        ],
    },
    "multipliers": [{"id": "jovenes", "match": {"segments": ["joven"]}, "factor": "2"}],
    "promotions": [
        {
            "id": "navidad",
            "from": "2026-12-01",
            "until": "2026-12-25",
            "match": {"channels": ["POS"]},
            "factor": "1.5",
            "bonus": 5,
        }
    ],
    "caps": {"day": None, "month": None, "year": None},
    "tiers": None,
}


async def _member(world: World, index: int, **kw: Any) -> tuple[uuid.UUID, str]:
    async with transaction() as session:
        account = await accounts.enroll(
            session,
            world.agent,
            program_id=world.program_id,
            customer_id=world.customers[index],
            **kw,
        )
        return account.id, account.number


def _buy(key: str, amount: str, number: str, when: datetime, **kw: Any) -> purchases.PurchaseInput:
    return purchases.PurchaseInput(
        external_id=key,
        amount=amount,
        currency="ARS",
        occurred_at=when,
        member_number=number,
        **kw,
    )


async def _record_and_accrue(world: World, batch: list[purchases.PurchaseInput]) -> None:
    async with transaction() as session:
        await purchases.record_purchases(
            session, world.agent, program_id=world.program_id, purchases=batch
        )
    async with transaction() as session:
        await accrual.accrue_batch(session)


async def _points(world: World) -> dict[str, tuple[int, str | None]]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(
                LoyaltyPurchase.external_id, LoyaltyPurchase.points, LoyaltyPurchase.error_code
            ).where(LoyaltyPurchase.program_id == world.program_id)
        )
        return {key: (points, code) for key, points, code in rows}


async def test_rates_by_partner_channel_product_segment_and_promotion(db: Any) -> None:
    world = await make_program("CANALES", rules=CHANNEL_RULES)
    _, plain = await _member(world, 0)
    _, young = await _member(world, 1, segments=["joven"])
    november = date(2026, 11, 10)
    await _record_and_accrue(
        world,
        [
            _buy("P1", "1000.00", plain, at(november), merchant_partner="FARMACITY", channel="POS"),
            _buy("P2", "1000.00", plain, at(november), channel="ECOMMERCE"),
            _buy("P3", "1000.00", plain, at(november), card_product="MASTER_BLACK", channel="POS"),
            _buy("P4", "1000.00", plain, at(november), card_product="VISA_CLASICA"),
            _buy("P5", "9.99", plain, at(november)),
            _buy("P6", "1000.00", young, at(november)),
            # the promotion's dates and channel
            _buy("P7", "1000.00", plain, at(date(2026, 12, 1)), channel="POS"),
            _buy("P8", "1000.00", plain, at(date(2026, 12, 1)), channel="ECOMMERCE"),
            _buy("P9", "1000.00", plain, at(date(2026, 11, 30)), channel="POS"),
        ],
    )
    assert await _points(world) == {
        "P1": (30, None),
        "P2": (20, None),
        "P3": (40, None),
        "P4": (10, None),
        "P5": (0, "BELOW_MINIMUM"),
        "P6": (20, None),  # 10 doubled for the segment
        "P7": (20, None),  # 10 * 1.5 + 5
        "P8": (20, None),  # online: no promotion
        "P9": (10, None),  # the day before the promotion
    }
    async with read_session() as session:
        from domain.loyalty.models import LoyaltyEntry

        entries = {
            e.source_ref: e
            for e in (
                await session.execute(
                    sa.select(LoyaltyEntry).where(LoyaltyEntry.program_id == world.program_id)
                )
            ).scalars()
        }
    assert entries["P1"].explanation["rate"]["rule"] == "socio"  # type: ignore[index]
    assert entries["P7"].campaign == "navidad"
    assert entries["P6"].explanation["factors"] == [  # type: ignore[index]
        {"id": "jovenes", "kind": "multiplier", "factor": "2"}
    ]
    assert entries["P1"].rule_set_version == 1


async def test_month_and_year_caps_count_earlier_batches(db: Any) -> None:
    rules = copy.deepcopy(RULES)
    rules["caps"] = {"day": None, "month": 1000, "year": 1500}
    rules["tiers"] = None
    world = await make_program("TOPES", rules=rules)
    _, number = await _member(world, 2)
    # each purchase accrued by its own batch: the caps read what the ledger already holds
    for key, amount, day in (
        ("C1", "60000.00", date(2026, 10, 5)),  # 600
        ("C2", "60000.00", date(2026, 10, 20)),  # 600 -> 400 left in October
        ("C3", "60000.00", date(2026, 11, 3)),  # 600 -> 500 left in the year
        ("C4", "1000.00", date(2026, 11, 4)),  # the year is full
    ):
        await _record_and_accrue(world, [_buy(key, amount, number, at(day, hour=23))])
    found = await _points(world)
    assert {k: v[0] for k, v in found.items()} == {"C1": 600, "C2": 400, "C3": 500, "C4": 0}


async def test_pending_points_become_available_on_their_day(db: Any) -> None:
    world = await make_program("PENDIENTES", pending_days=10)
    account, number = await _member(world, 3)
    bought = clock.utcnow() - timedelta(days=2)
    await _record_and_accrue(world, [_buy("L1", "1000.00", number, bought)])
    async with read_session() as session:
        now = await balances.balance(session, account_id=account)
    assert (now.available, now.pending) == (0, 10)
    # the lot's day: the purchase's local day + 10 (no job has to run)
    available_on = clock.local_now(BUENOS_AIRES).date() - timedelta(days=2) + timedelta(days=10)
    with clock.clock_at(at(available_on, hour=0) + timedelta(minutes=1)):
        async with read_session() as session:
            later = await balances.balance(session, account_id=account)
    assert (later.available, later.pending) == (10, 0)
    with clock.clock_at(at(available_on, hour=0) - timedelta(minutes=1)):
        async with read_session() as session:
            before = await balances.balance(session, account_id=account)
    assert (before.available, before.pending) == (0, 10)


async def test_each_accrual_writes_its_event(db: Any) -> None:
    world = await make_program("EVENTOS")
    first, one = await _member(world, 4)
    second, two = await _member(world, 5)
    start = clock.utcnow()
    when = start - timedelta(hours=3)
    await _record_and_accrue(
        world,
        [
            _buy("E1", "1000.00", one, when),
            _buy("E2", "2000.00", two, when),
            _buy("E3", "3000.00", one, when + timedelta(minutes=1)),
            _buy("E4", "5.00", one, when),  # below the minimum: no points, no event
        ],
    )
    async with read_session() as session:
        events = list(
            (
                await session.execute(
                    sa.select(OutboxEvent)
                    .where(
                        OutboxEvent.topic == "loyalty.points_accrued",
                        OutboxEvent.created_at >= start,
                    )
                    .order_by(OutboxEvent.id)
                )
            ).scalars()
        )
    program = global_id("LoyaltyProgram", world.program_id)
    mine = [e for e in events if e.payload["programId"] == program]
    # one per accrual with points, written in the batch's order: accounts in id order, each
    # account's purchases in time order
    by_account = {first: [("E1", 10), ("E3", 30)], second: [("E2", 20)]}
    expected = [p for a in sorted(by_account) for p in by_account[a]]
    assert [(e.payload["purchaseId"], e.payload["points"]) for e in mine] == expected
    for event in mine:
        account = first if event.payload["purchaseId"] in {"E1", "E3"} else second
        assert event.key == global_id("LoyaltyAccount", account)
        assert event.audience == f",{world.partner_id},"
        assert check(event.topic, event.payload, event.key) == []


async def test_the_rule_set_in_force_on_the_purchases_local_day(db: Any) -> None:
    from domain.loyalty import rulesets
    from domain.shared.principal import SYSTEM

    world = await make_program("VERSIONES")
    doubled = copy.deepcopy(RULES)
    doubled["earn"]["base"]["points"] = "2"
    day = clock.local_today(BUENOS_AIRES)  # a new version starts today at the earliest
    async with transaction() as session:
        await rulesets.replace_rule_set(
            session,
            SYSTEM,
            rule_set_id=world.rule_set_id,
            expected_version=1,
            name="Doble",
            effective_from=day,
            document=doubled,
        )
    _, number = await _member(world, 6)
    midnight = datetime.combine(day, time(0, 0), tzinfo=BUENOS_AIRES)
    since = clock.utcnow() - midnight
    await _record_and_accrue(
        world,
        [
            # late yesterday in Buenos Aires (already today in UTC): still version 1
            _buy("V1", "1000.00", number, midnight - timedelta(minutes=30)),
            _buy("V2", "1000.00", number, midnight + min(timedelta(minutes=30), since / 2)),
        ],
    )
    assert await _points(world) == {"V1": (10, None), "V2": (20, None)}
    async with read_session() as session:
        from domain.loyalty.models import LoyaltyEntry

        versions = dict(
            (
                await session.execute(
                    sa.select(LoyaltyEntry.source_ref, LoyaltyEntry.rule_set_version).where(
                        LoyaltyEntry.program_id == world.program_id
                    )
                )
            ).all()
        )
    assert versions == {"V1": 1, "V2": 2}


async def test_an_accrual_raises_the_tier_at_once(db: Any) -> None:
    from domain.loyalty.models import LoyaltyAccount, LoyaltyTierChange

    world = await make_program("NIVELES")  # ORO from 5000 points in 365 days
    rising, one = await _member(world, 7)
    gold, two = await _member(world, 8)
    async with transaction() as session:
        await session.execute(
            sa.update(LoyaltyAccount).where(LoyaltyAccount.id == gold).values(tier_code="ORO")
        )
    when = clock.utcnow() - timedelta(hours=2)
    await _record_and_accrue(
        world,
        [
            _buy("N1", "250000.00", one, when, mcc="5411"),  # 5000 points
            _buy("N2", "1000.00", two, when, mcc="5411"),  # 20 * 1.5 for ORO
        ],
    )
    async with read_session() as session:
        tiers = dict(
            (
                await session.execute(
                    sa.select(LoyaltyAccount.id, LoyaltyAccount.tier_code).where(
                        LoyaltyAccount.program_id == world.program_id
                    )
                )
            ).all()
        )
        changes = (
            await session.execute(
                sa.select(LoyaltyTierChange.account_id, LoyaltyTierChange.to_tier).where(
                    LoyaltyTierChange.account_id.in_([rising, gold])  # type: ignore[attr-defined]
                )
            )
        ).all()
    assert (tiers[rising], tiers[gold]) == ("ORO", "ORO")
    assert [tuple(c) for c in changes] == [(rising, "ORO")]
    assert {k: v[0] for k, v in (await _points(world)).items()} == {"N1": 5000, "N2": 30}

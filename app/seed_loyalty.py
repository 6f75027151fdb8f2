"""Demo loyalty data: Banco de la Pampa's points program (the Argentine bank of the demo
network) with tiers, two rule set versions, rewards, and members with a year of history —
purchases and refunds accrued by the worker's own code, redemptions, a transfer, a manual
adjustment, expired points. Deterministic; added once (a program already there is kept).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col

from app.db import transaction
from domain.customers.models import Customer
from domain.loyalty import accounts, accrual, expiry, ledger, purchases, rewards, rulesets
from domain.loyalty.errors import InsufficientPoints, LimitReached, OutOfStock
from domain.partners.models import Partner
from domain.shared.principal import SYSTEM
from domain.shared.time import local_today

CODE = "PAMPA_PUNTOS"
ZONE = "America/Argentina/Buenos_Aires"
MEMBERS = 40
MCCS = ["5411", "5412", "5812", "5814", "5541", "5732", "5912", "4111", "5999", "5311"]
CHANNELS = ["POS", "POS", "POS", "ECOMMERCE", "CONTACTLESS"]
PRODUCTS = ["VISA_CLASICA", "VISA_GOLD", "MASTER_BLACK"]


def rules(version: int) -> dict[str, Any]:
    """Version 1: a point per 100 pesos, supermarkets double. Version 2 (from five months
    ago): fuel triple, e-commerce promotion on weekends, a tighter monthly cap."""
    doc: dict[str, Any] = {
        "format": "trama.loyalty.rules/1",
        "currency": "ARS",
        "rounding": "ROUND_DOWN",
        "stacking": "MULTIPLY",
        "earn": {
            "base": {"points": "1", "per": "100.00"},
            "minimumPurchase": "1000.00",
            "rules": [
                {
                    "id": "supermercados",
                    "match": {"mcc": ["5411-5412"]},
                    "points": "2",
                    "per": "100.00",
                },
            ],
        },
        "multipliers": [
            {"id": "oro", "match": {"tiers": ["ORO"]}, "factor": "1.25"},
            {"id": "platino", "match": {"tiers": ["PLATINO"]}, "factor": "1.5"},
        ],
        "promotions": [],
        "caps": {"day": 20000, "month": 100000, "year": None},
        "events": [{"id": "pago-puntual", "type": "credit_payment_on_time", "points": 300}],
        "tiers": {
            "windowDays": 365,
            "levels": [
                {"code": "CLASICO", "name": "Clásico", "qualifyPoints": 0, "keepPoints": 0},
                {"code": "ORO", "name": "Oro", "qualifyPoints": 3000, "keepPoints": 2000},
                {"code": "PLATINO", "name": "Platino", "qualifyPoints": 8000, "keepPoints": 6000},
            ],
        },
    }
    if version == 2:
        doc["earn"]["rules"].append(
            {"id": "combustible", "match": {"mcc": ["5541"]}, "points": "3", "per": "100.00"}
        )
        doc["promotions"] = [
            {
                "id": "finde-online",
                "from": "2020-01-01",
                "until": "2099-12-31",
                "match": {"channels": ["ECOMMERCE"], "daysOfWeek": [6, 7]},
                "factor": "2",
                "bonus": 50,
            },
        ]
        doc["caps"] = {"day": 15000, "month": 60000, "year": None}
    return doc


REWARDS = [
    ("CAFE", "Café en sucursal", 400, None, (2, "MONTH")),
    ("CINE", "Entrada de cine 2D", 1500, 200, (4, "MONTH")),
    ("VUELO-CABOTAJE", "Pasaje de cabotaje", 45000, 10, (1, "YEAR")),
    ("CASHBACK-1000", "Reintegro de $1.000", 2500, None, None),
]


def _at(day: date, rng: random.Random) -> datetime:
    local = datetime.combine(day, time(rng.randint(9, 21), rng.randint(0, 59)), ZoneInfo(ZONE))
    return local.astimezone(UTC)


async def seed_loyalty(customers_per_member: int = MEMBERS) -> int:
    """Add the program and its members; returns how many members were added."""
    async with transaction() as session:
        if await accounts.find_program(session, CODE) is not None:
            return 0
        bank = (
            await session.execute(sa.select(Partner).where(col(Partner.code) == "BANCO_PAMPA"))
        ).scalar_one_or_none()
        if bank is None:
            return 0
        program = await accounts.create_program(
            session,
            SYSTEM,
            partner_id=bank.id,
            code=CODE,
            settings=accounts.ProgramSettings(
                name="Pampa Puntos",
                unit_name="Puntos Pampa",
                point_value="0.35",
                currency="ARS",
                timezone=ZONE,
                expiry_policy="AFTER_DAYS",
                expiry_count=365,
                pending_days=10,
                allow_debt=True,
            ),
        )
        today = local_today(ZONE)
        change = today - timedelta(days=150)
        await rulesets.create_rule_set(
            session,
            SYSTEM,
            program_id=program.id,
            name="Reglas de lanzamiento",
            effective_from=today - timedelta(days=730),
            effective_until=change,
            document=rules(1),
        )
        await rulesets.create_rule_set(
            session,
            SYSTEM,
            program_id=program.id,
            name="Reglas con combustible y fin de semana",
            effective_from=change,
            effective_until=None,
            document=rules(2),
        )
        reward_ids = {}
        for code, name, cost, stock, limit in REWARDS:
            reward = await rewards.create_reward(
                session,
                SYSTEM,
                program_id=program.id,
                code=code,
                values=rewards.RewardInput(
                    name=name,
                    cost_points=cost,
                    stock=stock,
                    limit_per_member=limit[0] if limit else None,
                    limit_period=limit[1] if limit else None,
                ),
            )
            reward_ids[code] = reward.id
        argentines = list(
            (
                await session.execute(
                    sa.select(col(Customer.id))
                    .join(Partner, col(Partner.id) == col(Customer.home_partner_id))
                    .where(col(Partner.country) == "AR")
                    .order_by(col(Customer.sort_name), col(Customer.id))
                    .limit(customers_per_member)
                )
            ).scalars()
        )
        members = []
        for i, customer_id in enumerate(argentines):
            account = await accounts.enroll(
                session,
                SYSTEM,
                program_id=program.id,
                customer_id=customer_id,
                segments=["joven"] if i % 3 == 0 else ["familia"] if i % 3 == 1 else [],
            )
            members.append(account)
    if not members:
        return 0
    rng = random.Random(13)  # noqa: S311 - demo data, deterministic on purpose
    batch: list[purchases.PurchaseInput] = []
    refundable: list[tuple[str, str, str]] = []
    for m, account in enumerate(members):
        for k in range(rng.randint(6, 24)):
            day = today - timedelta(days=rng.randint(1, 420))
            amount = rng.choice([1500, 4200, 8900, 15000, 23000, 48000, 120000])
            key = f"PAMPA-{m:03d}-{k:03d}"
            batch.append(
                purchases.PurchaseInput(
                    external_id=key,
                    amount=f"{amount}.{rng.randint(0, 99):02d}",
                    currency="ARS",
                    occurred_at=_at(day, rng),
                    member_number=account.number,
                    mcc=rng.choice(MCCS),
                    channel=rng.choice(CHANNELS),
                    card_product=rng.choice(PRODUCTS),
                    merchant_name="Comercio adherido",
                )
            )
            if k == 0 and m % 7 == 0:
                refundable.append((key, account.number, batch[-1].amount))
    async with transaction() as session:
        for start in range(0, len(batch), 1000):
            await purchases.record_purchases(
                session, SYSTEM, program_id=program.id, purchases=batch[start : start + 1000]
            )
    await accrual.accrue_all(transaction)
    refunds = [
        purchases.PurchaseInput(
            external_id=f"{key}-DEV",
            amount=amount,
            currency="ARS",
            occurred_at=_at(today - timedelta(days=rng.randint(0, 3)), rng) - timedelta(days=1),
            member_number=number,
            kind="REFUND",
            refund_of=key,
        )
        for key, number, amount in refundable
    ]
    if refunds:
        async with transaction() as session:
            await purchases.record_purchases(
                session, SYSTEM, program_id=program.id, purchases=refunds
            )
        await accrual.accrue_all(transaction)
    async with transaction() as session:
        fresh = await accounts.get_program(session, program.id)
        after = None
        while True:
            done = await expiry.expire_batch(session, program=fresh, today=today, after=after)
            if done.done or done.last_account is None:
                break
            after = done.last_account
    for i, account in enumerate(members[:12]):
        code = ["CAFE", "CINE", "CASHBACK-1000"][i % 3]
        try:
            async with transaction() as session:
                await ledger.redeem_reward(
                    session,
                    SYSTEM,
                    account_id=account.id,
                    reward_id=reward_ids[code],
                    idempotency_key=f"seed-{i}",
                )
        except (InsufficientPoints, OutOfStock, LimitReached):
            pass
    async with transaction() as session:
        await ledger.adjust_points(
            session,
            SYSTEM,
            account_id=members[0].id,
            points=500,
            reason="Compensación por reclamo de puntos no acreditados",
            idempotency_key="seed-adjust-1",
        )
    if len(members) > 1:
        try:
            async with transaction() as session:
                await ledger.transfer_points(
                    session,
                    SYSTEM,
                    from_account_id=members[0].id,
                    to_account_id=members[1].id,
                    points=200,
                    reason="Regalo",
                    idempotency_key="seed-transfer-1",
                )
        except InsufficientPoints:
            pass
    return len(members)

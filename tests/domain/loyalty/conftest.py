"""Fixtures of the loyalty domain tests: a program of Banco de la Pampa (the demo's
Argentine bank) with a rule set, members, principals and a snapshot of every loyalty table
(to prove that refused input wrote nothing)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.customers.models import Customer
from domain.loyalty import accounts, rulesets
from domain.loyalty.models import (
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltyLot,
    LoyaltyLotMove,
    LoyaltyProgram,
    LoyaltyPurchase,
    LoyaltyRedemption,
    LoyaltyReward,
    LoyaltyRuleSet,
    LoyaltyTierChange,
)
from domain.partners.models import Partner
from domain.shared import time as clock
from domain.shared.audit import AuditRecord
from domain.shared.models import table_of
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role

BUENOS_AIRES = ZoneInfo("America/Argentina/Buenos_Aires")

RULES: dict[str, Any] = {
    "format": "trama.loyalty.rules/1",
    "currency": "ARS",
    "rounding": "ROUND_DOWN",
    "stacking": "MULTIPLY",
    "earn": {
        "base": {"points": "1", "per": "100.00"},
        "minimumPurchase": "500.00",
        "rules": [
            {
                "id": "supermercados",
                "match": {"mcc": ["5411", "5412-5499"]},
                "points": "2",
                "per": "100.00",
            },
        ],
    },
    "multipliers": [{"id": "oro", "match": {"tiers": ["ORO"]}, "factor": "1.5"}],
    "promotions": [],
    "caps": {"day": 20000, "month": None, "year": None},
    "events": [{"id": "pago-puntual", "type": "credit_payment_on_time", "points": 150}],
    "tiers": {
        "windowDays": 365,
        "levels": [
            {"code": "CLASICO", "name": "Clásico", "qualifyPoints": 0, "keepPoints": 0},
            {"code": "ORO", "name": "Oro", "qualifyPoints": 5000, "keepPoints": 4000},
        ],
    },
}


def principal(role: Role, partner: uuid.UUID | None = None, **changes: Any) -> Principal:
    return Principal(
        subject=f"test:{role.value}",
        roles=frozenset({role}),
        scopes=ROLE_SCOPES[role],
        partner_id=partner,
        display_name=f"Test {role.value}",
        **changes,
    )


def today() -> date:
    return clock.local_today(BUENOS_AIRES)


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=BUENOS_AIRES).astimezone(UTC)


@dataclass
class World:
    partner_id: uuid.UUID
    program_id: uuid.UUID
    rule_set_id: uuid.UUID
    supervisor: Principal
    agent: Principal
    customers: list[uuid.UUID]

    def customer(self, customer_id: uuid.UUID) -> Principal:
        return Principal(
            subject=f"customer:{customer_id}",
            roles=frozenset({Role.CUSTOMER}),
            scopes=ROLE_SCOPES[Role.CUSTOMER],
            customer_id=customer_id,
        )


async def make_program(
    code: str = "TEST_PUNTOS", *, rules: dict[str, Any] | None = None, **settings: Any
) -> World:
    async with transaction() as session:
        partner = (
            await session.execute(sa.select(Partner).where(Partner.code == "BANCO_PAMPA"))
        ).scalar_one()
        values: dict[str, Any] = {
            "name": "Puntos de prueba",
            "unit_name": "puntos",
            "point_value": "0.50",
            "currency": "ARS",
            "timezone": "America/Argentina/Buenos_Aires",
            "expiry_policy": "AFTER_DAYS",
            "expiry_count": 365,
            "pending_days": 0,
            "allow_debt": True,
        }
        values.update(settings)
        program = await accounts.create_program(
            session,
            SYSTEM,
            partner_id=partner.id,
            code=code,
            settings=accounts.ProgramSettings(**values),
        )
        rule_set = await rulesets.create_rule_set(
            session,
            SYSTEM,
            program_id=program.id,
            name="Reglas 2026",
            effective_from=date(2026, 1, 1),
            effective_until=None,
            document=rules or RULES,
        )
        # customers in no program yet (the demo seed enrols some in Banco de la Pampa's)
        members = sa.select(LoyaltyAccount.customer_id)
        customers = list(
            (
                await session.execute(
                    sa.select(Customer.id)
                    .where(Customer.id.not_in(members))
                    .order_by(Customer.id)
                    .limit(12)
                )
            ).scalars()
        )
        return World(
            partner.id,
            program.id,
            rule_set.id,
            principal(Role.SUPERVISOR, partner.id),
            principal(Role.AGENT, partner.id),
            customers,
        )


@pytest.fixture
async def world(db: Any) -> World:
    return await make_program()


async def enroll(world: World, index: int, **kwargs: Any) -> uuid.UUID:
    async with transaction() as session:
        account = await accounts.enroll(
            session,
            world.agent,
            program_id=world.program_id,
            customer_id=world.customers[index],
            **kwargs,
        )
        return account.id


LOYALTY_TABLES = (
    LoyaltyProgram,
    LoyaltyAccount,
    LoyaltyRuleSet,
    LoyaltyPurchase,
    LoyaltyEntry,
    LoyaltyLot,
    LoyaltyLotMove,
    LoyaltyReward,
    LoyaltyRedemption,
    LoyaltyTierChange,
)


async def snapshot() -> dict[str, Any]:
    """Every loyalty row, the audit trail's and the outbox's size."""
    out: dict[str, Any] = {}
    async with read_session() as session:
        for model in LOYALTY_TABLES:
            table = table_of(model)
            rows = (await session.execute(sa.select(table))).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
        out["audit"] = await session.scalar(sa.select(sa.func.count()).select_from(AuditRecord))
        out["outbox"] = await session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent))
    return out


Snapshot = Callable[[], Awaitable[dict[str, Any]]]

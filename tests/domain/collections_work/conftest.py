"""Fixtures of the collections-work tests: a registry without the demo credits, the demo
lender's people (its seeded agent and supervisor users, enrolled as collectors), credits
disbursed a number of days ago, and the daily run as the worker runs it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.collections import collectors, work
from domain.credits import payments, service
from domain.credits.models import Credit, Installment
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared import time as clock
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role
from tests.domain.credits.conftest import clear_demo_credits

SANTIAGO = ZoneInfo("America/Santiago")


def person(role: Role, partner: uuid.UUID | None, subject: str, **changes: Any) -> Principal:
    return Principal(
        subject=subject,
        roles=frozenset({role}),
        scopes=ROLE_SCOPES[role],
        partner_id=partner,
        **changes,
    )


def today() -> date:
    return clock.local_today(SANTIAGO)


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=SANTIAGO).astimezone(UTC)


@pytest.fixture
async def db(db):  # the suite's fresh database, without the demo credits
    await clear_demo_credits()
    return db


@pytest.fixture
async def ids(db) -> dict[str, uuid.UUID]:
    async with read_session() as session:
        rows = (await session.execute(sa.select(Partner.code, Partner.id))).all()  # type: ignore[call-overload]
    return {code: key for code, key in rows}


@pytest.fixture
def lender(ids) -> uuid.UUID:
    return ids["AUTOCREDITO"]


@pytest.fixture
def supervisor(lender) -> Principal:
    return person(Role.SUPERVISOR, lender, "supervisor@autocredito")


@pytest.fixture
def agent(lender) -> Principal:
    return person(Role.AGENT, lender, "agent@autocredito")


@pytest.fixture
def outsider(ids) -> Principal:
    return person(Role.SUPERVISOR, ids["BANCO_ANDINO"], "supervisor@bancoandino")


@pytest.fixture
def admin() -> Principal:
    return person(Role.ADMIN, None, "admin@trama")


@pytest.fixture
async def customers(db) -> list[uuid.UUID]:
    async with read_session() as session:
        stmt = sa.select(Customer.id).order_by(Customer.id).limit(10)  # type: ignore[call-overload]
        return list((await session.execute(stmt)).scalars())


@pytest.fixture
async def team(supervisor, lender) -> dict[str, uuid.UUID]:
    """The lender's agent and supervisor enrolled as collectors: {"agent": id, ...}."""
    out = {}
    async with transaction() as session:
        for name in ("agent", "supervisor"):
            view = await collectors.enroll_collector(
                session, principal=supervisor, lender_id=None, subject=f"{name}@autocredito"
            )
            out[name] = view.id
    return out


CreditFactory = Callable[..., Awaitable[Credit]]


@pytest.fixture
def make_credit(lender, customers) -> CreditFactory:
    """``await make_credit(disbursed_days_ago=70)``: a CLP credit of the demo lender."""
    counter = {"n": 0}

    async def make(
        *, disbursed_days_ago: int, customer: int | None = None, **overrides: Any
    ) -> Credit:
        counter["n"] += 1
        values: dict[str, Any] = {
            "customer_id": customers[
                (customer if customer is not None else counter["n"]) % len(customers)
            ],
            "product_code": "AUTO",
            "currency": "CLP",
            "amount": "1200000",
            "annual_rate": Decimal("0.24"),
            "term_months": 12,
            "disbursement_date": today(),
            "partner_id": lender,
        }
        values.update(overrides)
        async with transaction() as session:
            credit = await service.create_credit(session, principal=SYSTEM, **values)
            return await service.disburse_credit(
                session,
                principal=SYSTEM,
                credit_id=credit.id,
                expected_version=credit.version,
                disbursement_date=today() - timedelta(days=disbursed_days_ago),
            )

    return make


async def rows(credit_id: uuid.UUID) -> list[Installment]:
    async with read_session() as session:
        stmt = (
            sa.select(Installment)
            .where(Installment.credit_id == credit_id)  # type: ignore[arg-type]
            .order_by(Installment.number)  # type: ignore[arg-type]
        )
        return list((await session.execute(stmt)).scalars())


async def pay(
    credit_id: uuid.UUID, amount: int, day: date | None = None, key: str | None = None, **extra: Any
) -> Any:
    from domain.shared.money import Money

    async with transaction() as session:
        return await payments.register_payment(
            session,
            principal=SYSTEM,
            credit_id=credit_id,
            amount=Money(amount, "CLP"),
            paid_at=at_noon(day or today()),
            reference="TRF-TEST",
            idempotency_key=key or f"test-{uuid.uuid4().hex[:12]}",
            **extra,
        )


async def run_day(as_of: date | None = None, **options: Any) -> work.RunTotals:
    async with transaction() as session:
        return await work.run_collections(
            session, as_of=as_of or today(), timezone="America/Santiago", **options
        )


async def refresh(credit_id: uuid.UUID) -> work.RunTotals:
    async with transaction() as session:
        return await work.refresh_credit(session, credit_id=credit_id)


async def all_rows(model: Any, **where: Any) -> list[Any]:
    async with read_session() as session:
        stmt = sa.select(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return list((await session.execute(stmt)).scalars())


async def topics(prefix: str) -> list[OutboxEvent]:
    async with read_session() as session:
        stmt = sa.select(OutboxEvent).order_by(OutboxEvent.created_at, OutboxEvent.id)  # type: ignore[arg-type]
        return [e for e in (await session.execute(stmt)).scalars() if e.topic.startswith(prefix)]

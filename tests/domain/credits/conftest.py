"""Fixtures of the credit registry tests: principals, a customer, a credit factory, and a
snapshot of every table a credit mutation writes (to prove that refused input wrote
nothing)."""

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
from domain.credits import service
from domain.credits.models import (
    Allocation,
    Credit,
    CreditSchedule,
    Installment,
    Payment,
    Refund,
    UFValue,
)
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared import time as clock
from domain.shared.audit import AuditRecord
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import ROLE_SCOPES, Principal, Role

SANTIAGO = ZoneInfo("America/Santiago")


def principal(role: Role, partner: uuid.UUID | None = None, **changes: Any) -> Principal:
    return Principal(
        subject=f"test:{role.value}",
        roles=frozenset({role}),
        scopes=ROLE_SCOPES[role],
        partner_id=partner,
        **changes,
    )


def local_today() -> date:
    return clock.local_today(SANTIAGO)


def at_noon(day: date) -> datetime:
    """An instant on ``day`` in Santiago (its business date is ``day``)."""
    return datetime.combine(day, time(12, 0), tzinfo=SANTIAGO).astimezone(UTC)


async def clear_demo_credits() -> None:
    """Remove the demo credits ``trama seed`` put in the test template (and every row that
    depends on them, their events, the UF values and reference counters), so these tests
    start from an empty registry as they assume."""
    from domain.tables import metadata

    doomed = {"credits"}
    changed = True
    while changed:
        changed = False
        for table in metadata.sorted_tables:
            if table.name not in doomed and any(
                fk.column.table.name in doomed for fk in table.foreign_keys
            ):
                doomed.add(table.name)
                changed = True
    doomed |= {"uf_values", "credit_reference_counters"}
    async with transaction() as session:
        for table in reversed(metadata.sorted_tables):
            if table.name in doomed:
                await session.execute(table.delete())
        events = OutboxEvent.__table__  # type: ignore[attr-defined]
        await session.execute(
            events.delete().where(
                sa.or_(events.c.topic.like("credits.%"), events.c.topic.like("payments.%"))
            )
        )


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
def agent(lender) -> Principal:
    return principal(Role.AGENT, lender)


@pytest.fixture
def supervisor(lender) -> Principal:
    return principal(Role.SUPERVISOR, lender)


@pytest.fixture
def partner_system(lender) -> Principal:
    return principal(Role.PARTNER_SYSTEM, lender, kind="client")


@pytest.fixture
def admin() -> Principal:
    return principal(Role.ADMIN)


@pytest.fixture
def outsider(ids) -> Principal:
    return principal(Role.AGENT, ids["BANCO_ANDINO"])


@pytest.fixture
async def customer_id(db) -> uuid.UUID:
    async with read_session() as session:
        stmt = sa.select(Customer.id).order_by(Customer.id).limit(1)  # type: ignore[call-overload]
        return (await session.execute(stmt)).scalar_one()


CreditFactory = Callable[..., Awaitable[Credit]]


@pytest.fixture
def make_credit(agent, customer_id) -> CreditFactory:
    """``await make_credit(disbursed_days_ago=40, amount="1000000", ...)``: a credit
    created (and disbursed that many days ago unless None) by the lender's agent."""

    async def make(
        *,
        disbursed_days_ago: int | None = 0,
        actor: Principal | None = None,
        **overrides: Any,
    ) -> Credit:
        values: dict[str, Any] = {
            "customer_id": customer_id,
            "product_code": "AUTO-NEW",
            "currency": "CLP",
            "amount": "1000000",
            "annual_rate": Decimal("0.12"),
            "term_months": 12,
            "disbursement_date": local_today(),
        }
        values.update(overrides)
        who = actor or agent
        async with transaction() as session:
            credit = await service.create_credit(session, principal=who, **values)
        if disbursed_days_ago is None:
            return credit
        async with transaction() as session:
            credit = await service.disburse_credit(
                session,
                principal=who,
                credit_id=credit.id,
                expected_version=credit.version,
                disbursement_date=local_today() - timedelta(days=disbursed_days_ago),
            )
        return credit

    return make


TABLES = (
    Credit,
    CreditSchedule,
    Installment,
    Payment,
    Allocation,
    Refund,
    UFValue,
    AuditRecord,
    OutboxEvent,
)


async def db_state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a credit mutation touches."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with read_session() as session:
        for model in TABLES:
            table = model.__table__  # type: ignore[attr-defined]
            rows = await session.execute(sa.select(table).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
    return out


async def reload(credit_id: uuid.UUID) -> Credit:
    async with read_session() as session:
        credit = await session.get(Credit, credit_id)
        assert credit is not None
        return credit


async def rows_of(model: Any, **where: Any) -> list[Any]:
    async with read_session() as session:
        stmt = sa.select(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return list((await session.execute(stmt)).scalars().all())


async def events(topic_prefix: str = "") -> list[OutboxEvent]:
    async with read_session() as session:
        stmt = sa.select(OutboxEvent).order_by(OutboxEvent.id)  # type: ignore[arg-type]
        rows = list((await session.execute(stmt)).scalars().all())
    return [e for e in rows if e.topic.startswith(topic_prefix)]


def fields(exc: Exception) -> list[str]:
    return [p.field for p in exc.problems]  # type: ignore[attr-defined]

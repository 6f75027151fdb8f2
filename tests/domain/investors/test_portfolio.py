"""Portfolios: holdings, earnings, expected vs received, XIRR, exposure; who may see them."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.db import Database, read_session
from domain.credits.models import Credit, Installment
from domain.investors import portfolio
from domain.investors.models import DistributionLine
from domain.shared.errors import Forbidden, NotFound
from domain.shared.models import table_of
from domain.shared.principal import Role
from domain.shared.time import utcnow
from tests.domain.investors.conftest import (
    ADMIN,
    NO_PII,
    World,
    disburse_credit,
    fund,
    investor_principal,
    make_credit,
    make_investor,
    pay,
    staff,
)


async def schedule(credit_id: uuid.UUID) -> list[tuple[date, int, int, int]]:
    t = table_of(Installment)
    async with read_session() as session:
        rows = await session.execute(
            sa.select(t.c.due_date, t.c.amount, t.c.interest, t.c.principal)
            .where(t.c.credit_id == credit_id)
            .order_by(t.c.number)
        )
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def view(investor_id: uuid.UUID, principal: object = ADMIN) -> portfolio.Portfolio:
    async with read_session() as session:
        return await portfolio.investor_portfolio(
            session,
            principal=principal,  # type: ignore[arg-type]
            investor_id=investor_id,
        )


async def test_paid_off_credit_yields_its_rate(db: Database, world: World) -> None:
    credit = await make_credit(world, disburse=False, amount=9_000_000, rate="0.18", term=3)
    investor = await make_investor()
    await fund(credit.id, investor.id, "0.5", fee="0")
    start = utcnow().date() - timedelta(days=100)
    await disburse_credit(credit.id, start)
    rows = await schedule(credit.id)
    for due, amount, _, _ in rows:
        await pay(credit.id, amount, due)
    book = (await view(investor.id)).currencies[0]
    assert book.currency == "CLP"
    assert book.invested.amount == 4_500_000
    assert book.outstanding_principal.amount == 0
    assert book.received_principal.amount == 4_500_000
    interest = sum(r[2] for r in rows)
    assert abs(book.received_interest.amount - interest / 2) <= 1
    assert book.fees.amount == 0 and book.interest_earned == book.received_interest
    assert book.expected_principal.amount == 4_500_000
    assert abs(book.expected_interest.amount - book.received_interest.amount) <= 1
    assert book.xirr is not None
    # 1.5 % a month (30/360) is about 19.5 % a year effective; ACT/365 days shift it a bit
    assert Decimal("0.18") < book.xirr < Decimal("0.21"), book.xirr
    assert book.positions[0].credit_status == "PAID_OFF"
    assert book.positions[0].share == Decimal("0.5")


async def test_delinquent_credit_exposure_and_expected_vs_received(
    db: Database, world: World
) -> None:
    credit = await make_credit(world, disburse=False, amount=12_000_000)
    investor = await make_investor()
    other = await make_investor()
    await fund(credit.id, investor.id, "0.25")
    await fund(credit.id, other.id, "0.25")
    start = utcnow().date() - timedelta(days=130)
    await disburse_credit(credit.id, start)
    rows = await schedule(credit.id)
    await pay(credit.id, rows[0][1], rows[0][0])  # only the first installment
    async with read_session() as session:
        fresh = await session.get(Credit, credit.id)
        assert fresh is not None
        lines = (
            (
                await session.execute(
                    sa.select(DistributionLine).where(
                        DistributionLine.investor_id == investor.id  # type: ignore[arg-type]
                    )
                )
            )
            .scalars()
            .all()
        )
    book = (await view(investor.id)).currencies[0]
    assert book.outstanding_principal.amount == fresh.outstanding_principal * 250_000 // 1_000_000
    assert fresh.days_past_due > 0
    bucket = book.positions[0].aging_bucket
    assert bucket != "CURRENT"
    assert book.exposure[bucket] == book.outstanding_principal
    assert sum(m.amount for m in book.exposure.values()) == book.outstanding_principal.amount
    due = [r for r in rows if r[0] <= utcnow().date()]
    assert book.expected_principal.amount == sum(r[3] for r in due) * 250_000 // 1_000_000
    assert book.received.amount < book.expected.amount
    assert book.fees.amount == -sum(
        line.amount for line in lines if line.component == "SERVICING_FEE"
    )
    assert book.interest_earned.amount == book.received_interest.amount - book.fees.amount
    assert book.xirr is not None


async def test_empty_portfolio(db: Database) -> None:
    investor = await make_investor()
    result = await view(investor.id)
    assert result.currencies == [] and result.investor_id == investor.id


async def test_who_may_see_a_portfolio(db: Database) -> None:
    mine = await make_investor()
    other = await make_investor()
    assert (await view(mine.id, investor_principal(mine.id))).investor_id == mine.id
    assert (await view(mine.id, NO_PII)).investor_id == mine.id
    for principal in (
        investor_principal(other.id),
        investor_principal(None),
        investor_principal("not-a-uuid"),
        staff(Role.AGENT),
        staff(Role.NETWORK_VIEWER),
    ):
        with pytest.raises(Forbidden):
            await view(mine.id, principal)
    with pytest.raises(NotFound):
        await view(uuid.uuid4())

"""Funding credits: shares in ppm, never above 100 %, only verified investors and fundable
credits; refusals write nothing; concurrent fundings cannot overshoot."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.db import Database, read_session, transaction
from domain.credits import service as credits
from domain.credits.models import Credit
from domain.investors import fundings, service
from domain.investors.models import CreditFunding
from domain.partners.models import Partner
from domain.shared import outbox
from domain.shared.errors import Forbidden, NotFound, ValidationFailed
from domain.shared.event_schemas import global_id as gid
from domain.shared.principal import Role
from domain.shared.time import utcnow
from tests.conftest import IS_POSTGRES
from tests.domain.investors.conftest import (
    ADMIN,
    World,
    counts,
    fund,
    investor_principal,
    make_credit,
    make_investor,
    staff,
)


async def test_fund_approved_credit_from_the_start(db: Database, world: World) -> None:
    credit = await make_credit(world, disburse=False, amount=10_000_000)
    a = await make_investor()
    b = await make_investor()
    fa = await fund(credit.id, a.id, "0.25")
    fb = await fund(credit.id, b.id, "0.750000")
    assert (fa.share_ppm, fa.amount, fa.effective_on) == (250_000, 2_500_000, None)
    assert (fb.share_ppm, fb.amount) == (750_000, 7_500_000)
    assert fa.servicing_fee_ppm == 10_000  # the policy's 1 %
    async with read_session() as session:
        assert await fundings.funded_ppm(session, credit.id) == 1_000_000
        listed = await service.credit_fundings(session, principal=ADMIN, credit_id=credit.id)
        assert [f.id for f in listed] == [fa.id, fb.id]
        own = await service.credit_fundings(
            session, principal=investor_principal(a.id), credit_id=credit.id
        )
        assert [f.id for f in own] == [fa.id]
        mine = await service.investor_fundings(
            session, principal=investor_principal(b.id), investor_id=b.id
        )
        assert [f.id for f in mine] == [fb.id]
        unknown = uuid.uuid4()
        assert await service.funded_ppm_many(session, [credit.id, unknown]) == {
            credit.id: 1_000_000,
            unknown: 0,
        }
        batch = await service.fundings_of_credits(
            session, principal=investor_principal(a.id), credit_ids=[credit.id, unknown]
        )
        assert {k: [f.id for f in v] for k, v in batch.items()} == {
            credit.id: [fa.id],
            unknown: [],
        }
        with pytest.raises(Forbidden):
            await service.fundings_of_credits(
                session, principal=staff(Role.AGENT), credit_ids=[credit.id]
            )
        events = (
            (
                await session.execute(
                    sa.select(outbox.OutboxEvent)
                    .where(outbox.OutboxEvent.topic == "credits.funded")  # type: ignore[arg-type]
                    .order_by(outbox.OutboxEvent.id)  # type: ignore[arg-type]
                )
            )
            .scalars()
            .all()
        )
    events = [e for e in events if e.payload["creditId"] == gid("Credit", credit.id)]  # not seed's
    assert len(events) == 2
    assert events[0].payload["share"] == "0.25"
    assert events[0].payload["creditId"] == gid("Credit", credit.id)
    assert str(world.lender_id) in events[0].audience
    # Full: nothing more fits, not even one ppm.
    c = await make_investor()
    before = await counts()
    with pytest.raises(ValidationFailed, match="100% funded; at most 0% is left"):
        await fund(credit.id, c.id, "0.000001")
    assert await counts() == before


async def test_fund_active_credit_from_the_next_day(db: Database, world: World) -> None:
    credit = await make_credit(
        world, amount=6_000_000, disbursed_on=utcnow().date() - timedelta(days=20)
    )
    a = await make_investor()
    funding = await fund(credit.id, a.id, "0.5", fee="0.02")
    async with read_session() as session:
        fresh = await session.get(Credit, credit.id)
    assert fresh is not None and fresh.outstanding_principal > 0
    assert funding.amount == fresh.outstanding_principal // 2
    assert funding.effective_on is not None and funding.effective_on > utcnow().date() - timedelta(
        1
    )
    assert funding.servicing_fee_ppm == 20_000


@pytest.mark.parametrize(
    ("share", "message"),
    [
        (Decimal("1.000001"), "more than 1"),
        (Decimal("0"), "more than zero"),
        (Decimal("-0.1"), "more than zero"),
        (Decimal("0.0000001"), "six decimals"),
        (Decimal("NaN"), "finite"),
        (0.5, "decimal fraction"),
        ("0.5", "decimal fraction"),
    ],
)
async def test_bad_shares_are_refused(
    db: Database, world: World, share: object, message: str
) -> None:
    credit = await make_credit(world, disburse=False)
    investor = await make_investor()
    before = await counts()
    async with transaction() as session:
        with pytest.raises(ValidationFailed, match=message) as caught:
            await service.fund_credit(
                session,
                principal=ADMIN,
                credit_id=credit.id,
                investor_id=investor.id,
                share=share,  # type: ignore[arg-type]
            )
    assert caught.value.problems[0].field == "share"
    assert await counts() == before


async def test_over_100_percent_across_investors(db: Database, world: World) -> None:
    credit = await make_credit(world, disburse=False)
    a, b = await make_investor(), await make_investor()
    await fund(credit.id, a.id, "0.6")
    before = await counts()
    with pytest.raises(ValidationFailed, match="60% funded; at most 40% is left"):
        await fund(credit.id, b.id, "0.400001")
    assert await counts() == before
    await fund(credit.id, b.id, "0.4")


async def test_refusals_write_nothing(db: Database, world: World) -> None:
    credit = await make_credit(world, disburse=False)
    pending = await make_investor(verified=False)
    verified = await make_investor()
    before = await counts()
    with pytest.raises(ValidationFailed, match="KYC is PENDING") as caught:
        await fund(credit.id, pending.id, "0.1")
    assert caught.value.problems[0].field == "investorId"
    with pytest.raises(NotFound, match="Investor"):
        await fund(credit.id, uuid.uuid4(), "0.1")
    with pytest.raises(NotFound, match="Credit"):
        await fund(uuid.uuid4(), verified.id, "0.1")
    with pytest.raises(ValidationFailed, match="servicingFeeRate"):
        await fund(credit.id, verified.id, "0.1", fee="1")
    with pytest.raises(ValidationFailed, match="servicingFeeRate"):
        await fund(credit.id, verified.id, "0.1", fee="-0.01")
    async with transaction() as session:
        with pytest.raises(Forbidden):
            await service.fund_credit(
                session,
                principal=staff(Role.AGENT),
                credit_id=credit.id,
                investor_id=verified.id,
                share=Decimal("0.1"),
            )
        with pytest.raises(Forbidden):
            await service.fund_credit(
                session,
                principal=investor_principal(verified.id),
                credit_id=credit.id,
                investor_id=verified.id,
                share=Decimal("0.1"),
            )
    async with transaction() as session:
        row = await session.get(Credit, credit.id)
        assert row is not None
        await credits.cancel_credit(
            session,
            principal=ADMIN,
            credit_id=credit.id,
            expected_version=row.version,
            reason="customer withdrew",
        )
    before = await counts()
    with pytest.raises(ValidationFailed, match="CANCELLED; only APPROVED or ACTIVE"):
        await fund(credit.id, verified.id, "0.1")
    assert await counts() == before


@pytest.mark.skipif(not IS_POSTGRES, reason="SQLite has a single writer: nothing to race")
async def test_concurrent_fundings_cannot_overshoot(db: Database, world: World) -> None:
    credit = await make_credit(world, disburse=False)
    investors = [await make_investor() for _ in range(4)]

    async def attempt(investor_id: uuid.UUID) -> bool:
        try:
            await fund(credit.id, investor_id, "0.4")
        except ValidationFailed:
            return False
        return True

    results = await asyncio.gather(*(attempt(i.id) for i in investors))
    assert sum(results) == 2
    async with read_session() as session:
        total = (
            await session.execute(
                sa.select(sa.func.sum(CreditFunding.share_ppm)).where(  # type: ignore[arg-type]
                    CreditFunding.credit_id == credit.id  # type: ignore[arg-type]
                )
            )
        ).scalar_one()
    assert total == 800_000


async def test_share_round_trip() -> None:
    assert fundings.share_of(250_000) == Decimal("0.25")
    assert fundings.share_of(1) == Decimal("0.000001")
    assert fundings.share_of(1_000_000) == Decimal("1")
    assert fundings.share_of(0) == Decimal(0)


async def test_supervisors_fund_only_their_lenders_credits(db: Database, world: World) -> None:
    credit = await make_credit(world, disburse=False)
    investor = await make_investor()
    async with read_session() as session:
        other = (
            await session.execute(sa.select(Partner.id).where(Partner.code == "BANCO_ANDINO"))  # type: ignore[arg-type]
        ).scalar_one()
    before = await counts()
    async with transaction() as session:
        with pytest.raises(NotFound, match="Credit"):
            await service.fund_credit(
                session,
                principal=staff(Role.SUPERVISOR, other),
                credit_id=credit.id,
                investor_id=investor.id,
                share=Decimal("0.1"),
            )
    assert await counts() == before
    async with transaction() as session:
        funding = await service.fund_credit(
            session,
            principal=staff(Role.SUPERVISOR, world.lender_id),
            credit_id=credit.id,
            investor_id=investor.id,
            share=Decimal("0.1"),
        )
    assert funding.share_ppm == 100_000
    assert funding.funded_by == "test:supervisor"

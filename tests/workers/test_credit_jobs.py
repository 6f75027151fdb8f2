"""The daily delinquency job, run as the scheduler would (the job function itself): once per
business day and timezone, in batches, moving credits into and out of delinquency."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.credits import delinquency, service
from domain.credits.models import Credit
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared.event_schemas import global_id as gid
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import SYSTEM
from domain.shared.time import local_today
from workers.actors import credits as credit_jobs
from workers.registry import BUILTIN_MODULES, REGISTRY

SANTIAGO = ZoneInfo("America/Santiago")
BUENOS_AIRES = ZoneInfo("America/Argentina/Buenos_Aires")


def today(zone: ZoneInfo = SANTIAGO) -> Any:
    return local_today(zone)


async def new_credit(days_ago: int) -> Credit:
    """A CLP credit of AUTOCREDITO disbursed ``days_ago`` (its first due date a month later)."""
    async with read_session() as session:
        lender = (
            await session.execute(sa.select(Partner).where(Partner.code == "AUTOCREDITO"))  # type: ignore[arg-type]
        ).scalar_one()
        customer_id = (
            await session.execute(sa.select(Customer.id).order_by(Customer.id).limit(1))  # type: ignore[call-overload]
        ).scalar_one()
    async with transaction() as session:
        credit = await service.create_credit(
            session,
            principal=SYSTEM,
            customer_id=customer_id,
            product_code="AUTO",
            currency="CLP",
            amount="2000000",
            annual_rate=Decimal("0.12"),
            term_months=12,
            disbursement_date=today(),
            partner_id=lender.id,
        )
        return await service.disburse_credit(
            session,
            principal=SYSTEM,
            credit_id=credit.id,
            expected_version=credit.version,
            disbursement_date=today() - timedelta(days=days_ago),
        )


async def status_of(credit_id: uuid.UUID) -> str:
    async with read_session() as session:
        credit = await session.get(Credit, credit_id)
        assert credit is not None
        return credit.status


async def topics_about(credit_id: uuid.UUID) -> list[str]:
    async with read_session() as session:
        rows = (await session.execute(sa.select(OutboxEvent).order_by(OutboxEvent.id))).scalars()  # type: ignore[arg-type]
        return [e.topic for e in rows if e.payload.get("creditId") == gid("Credit", credit_id)]


def test_the_job_is_declared_and_loaded_with_the_builtin_actors():
    assert "workers.actors.credits" in BUILTIN_MODULES
    spec = REGISTRY.jobs["credits.run_delinquency"]
    assert spec.fn is credit_jobs.run_delinquency
    assert spec.every == timedelta(hours=1) and not spec.transactional


async def test_each_timezone_runs_once_per_business_day(db):
    first = await credit_jobs.run_delinquency()
    by_zone = {run["timezone"]: run for run in first}
    assert set(by_zone) == {"America/Santiago", "America/Argentina/Buenos_Aires"}
    assert by_zone["America/Santiago"]["as_of"] == today().isoformat()
    assert by_zone["America/Argentina/Buenos_Aires"]["as_of"] == today(BUENOS_AIRES).isoformat()
    assert by_zone["America/Santiago"]["examined"] >= 1  # the demo delinquent credit at least
    # The seed left every credit as of today: nothing moves.
    assert all(r["became_delinquent"] == r["cured"] == 0 for r in first)
    async with read_session() as session:
        assert await delinquency.day_done(session, timezone="America/Santiago", as_of=today())
    assert await credit_jobs.run_delinquency() == []  # the next hours of the same day


async def test_credits_move_into_and_out_of_delinquency_in_batches(db):
    credit = await new_credit(days_ago=20)  # first installment due in about 10 days
    assert await status_of(credit.id) == "ACTIVE"
    ahead = (today() + timedelta(days=15)).isoformat()
    runs = await credit_jobs.run_delinquency(as_of=ahead, batch_size=2)
    santiago = next(r for r in runs if r["timezone"] == "America/Santiago")
    assert santiago["as_of"] == ahead and santiago["batches"] >= 2
    assert santiago["became_delinquent"] >= 1
    assert await status_of(credit.id) == "DELINQUENT"
    assert "credits.delinquent" in await topics_about(credit.id)
    # A forced day records nothing: the scheduled run of that day still happens.
    async with read_session() as session:
        ahead_day = today() + timedelta(days=15)
        assert not await delinquency.day_done(session, timezone="America/Santiago", as_of=ahead_day)
    back = await credit_jobs.run_delinquency(as_of=today().isoformat(), batch_size=3)
    assert next(r for r in back if r["timezone"] == "America/Santiago")["cured"] >= 1
    assert await status_of(credit.id) == "ACTIVE"
    assert (await topics_about(credit.id))[-1] == "credits.cured"


async def test_a_run_cut_short_is_done_again(db, monkeypatch):
    calls = {"n": 0}
    real = delinquency.run_delinquency

    async def flaky(session: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the database went away")
        return await real(session, **kwargs)

    monkeypatch.setattr(delinquency, "run_delinquency", flaky)
    with pytest.raises(RuntimeError):
        await credit_jobs.run_delinquency(batch_size=1)
    async with read_session() as session:
        assert not await delinquency.day_done(
            session, timezone="America/Santiago", as_of=today()
        ) or not await delinquency.day_done(
            session, timezone="America/Argentina/Buenos_Aires", as_of=today(BUENOS_AIRES)
        )
    runs = await credit_jobs.run_delinquency(batch_size=1)
    assert runs, "the day that failed runs again"
    assert await credit_jobs.run_delinquency() == []

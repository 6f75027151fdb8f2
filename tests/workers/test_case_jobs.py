"""Case jobs: mass resolution run directly and through the event backbone (request →
event → consumer → job → batches with progress events), resuming stalled jobs, and the
SLA sweep."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.cases import bulk
from domain.cases.models import BulkResolution, Case
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared.event_schemas import global_id as gid
from domain.shared.models import table_of
from domain.shared.time import utcnow
from tests.domain.cases.conftest import Network, events, load, open_case, run
from tests.workers.conftest import eventually
from workers.actors import cases as case_jobs
from workers.backbone import Backbone
from workers.registry import REGISTRY, load_modules

Start = Callable[..., Awaitable[Backbone]]


@pytest.fixture
async def net(db: Any) -> Network:
    """The demo partners and a few customers (as in the cases domain tests)."""
    async with read_session() as session:
        partners = table_of(Partner)
        customers = table_of(Customer)
        rows = (await session.execute(sa.select(partners.c.code, partners.c.id))).all()
        people = (
            await session.execute(sa.select(customers.c.id).order_by(customers.c.id).limit(5))
        ).scalars()
        return Network(ids={code: key for code, key in rows}, customers=list(people))


async def request(net: Network, ids: list[uuid.UUID]) -> BulkResolution:
    return await run(
        bulk.request_bulk_resolution,
        net.supervisor("BANCO_ANDINO"),
        ids=ids,
        code="INFORMATION_PROVIDED",
        note="Se informó al cliente.",
    )


async def status_of(bulk_id: uuid.UUID) -> str:
    async with read_session() as session:
        job = await session.get(BulkResolution, bulk_id, populate_existing=True)
        assert job is not None
        return job.status


def test_the_jobs_are_declared() -> None:
    load_modules()
    assert "cases.resolve_bulk" in REGISTRY.jobs
    assert REGISTRY.jobs["cases.evaluate_sla"].every == timedelta(minutes=5)
    assert REGISTRY.jobs["cases.resume_bulk"].every is not None
    assert REGISTRY.consumers["cases.start_bulk"].topics == (bulk.REQUESTED_TOPIC,)


async def test_running_a_mass_resolution_directly(net: Network) -> None:
    cases = [await open_case(net) for _ in range(5)]
    job = await request(net, [c.id for c in cases])
    result = await case_jobs.resolve_bulk(bulk_id=str(job.id), batch_size=2)
    assert result["status"] == "DONE" and result["resolved"] == 5 and result["processed"] == 5
    assert [e.payload["processed"] for e in await events(bulk.PROGRESS_TOPIC)] == [2, 4, 5]
    assert {(await load(c.id)).status for c in cases} == {"RESOLVED"}
    again = await case_jobs.resolve_bulk(bulk_id=str(job.id))  # a repeated message
    assert again == result
    assert len(await events(bulk.PROGRESS_TOPIC)) == 3


async def test_a_request_runs_through_the_backbone(net: Network, start_backbone: Start) -> None:
    cases = [await open_case(net) for _ in range(3)]
    await start_backbone()
    job = await request(net, [c.id for c in cases] + [uuid.uuid4()])

    async def done() -> bool:
        return await status_of(job.id) == "DONE"

    await eventually(done, timeout=30)
    assert {(await load(c.id)).status for c in cases} == {"RESOLVED"}
    progress = await events(bulk.PROGRESS_TOPIC)
    assert progress[-1].payload == {
        "bulkId": gid("BulkResolution", job.id),
        "status": "DONE",
        "total": 4,
        "processed": 4,
        "resolved": 3,
        "skipped": 0,
        "forbidden": 0,
        "notFound": 1,
    }


async def test_stalled_jobs_are_sent_again(net: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    job = await request(net, [(await open_case(net)).id])
    sent: list[str] = []
    monkeypatch.setattr(case_jobs, "_send_resolve", sent.append)
    assert await case_jobs.resume_bulk() == 0  # just asked: not stalled
    monkeypatch.setattr(case_jobs, "BULK_IDLE", timedelta(seconds=-60))
    assert await case_jobs.resume_bulk() == 1
    assert sent == [str(job.id)]
    await case_jobs.resolve_bulk(bulk_id=str(job.id))
    sent.clear()
    assert await case_jobs.resume_bulk() == 0 and sent == []


async def test_without_a_broker_the_consumer_fails_to_be_retried(net: Network) -> None:
    with pytest.raises(RuntimeError):
        case_jobs._send_resolve(str(uuid.uuid4()))


async def test_the_sla_sweep_job(net: Network) -> None:
    case = await open_case(net)
    cases = table_of(Case)
    async with transaction() as session:
        await session.execute(
            cases.update()
            .where(cases.c.id == case.id)
            .values(
                sla_started_at=utcnow() - timedelta(days=3),
                sla_due_at=utcnow() - timedelta(minutes=1),
            )
        )
    assert await case_jobs.evaluate_sla() == {"at_risk": 0, "breached": 1}
    flagged = await load(case.id)
    assert flagged.sla_state == "BREACHED" and flagged.escalated_to == flagged.handling_partner_id
    assert await case_jobs.evaluate_sla() == {"at_risk": 0, "breached": 0}
    [event] = await events("cases.sla_breached")
    assert event.payload["caseId"] == gid("Case", case.id)


def _kwargs(**kw: Any) -> dict[str, Any]:
    return kw


async def test_the_sla_sweep_through_the_backbone(net: Network, start_backbone: Start) -> None:
    case = await open_case(net)
    cases = table_of(Case)
    async with transaction() as session:
        await session.execute(
            cases.update()
            .where(cases.c.id == case.id)
            .values(sla_due_at=utcnow() - timedelta(minutes=1))
        )
    backbone = await start_backbone()
    assert backbone.broker is not None
    backbone.broker.send_job("cases.evaluate_sla", _kwargs())

    async def flagged() -> bool:
        async with read_session() as session:
            row = (
                await session.execute(sa.select(cases.c.sla_state).where(cases.c.id == case.id))
            ).scalar()
        return row == "BREACHED"

    await eventually(flagged, timeout=30)

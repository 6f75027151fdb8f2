"""Mass resolution: requests (idempotent), set-based batches with per-case outcomes,
timeline/events/audit, who may ask and what they may touch, progress, refusals."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.cases import bulk, service
from domain.cases.bulk import BulkProgress
from domain.cases.models import (
    BulkOutcome,
    BulkResolution,
    BulkResolutionItem,
    BulkStatus,
    Case,
    TimelineKind,
)
from domain.cases.search import CaseFilter
from domain.shared.errors import Forbidden, NotFound, ValidationFailed
from domain.shared.event_schemas import global_id as gid
from domain.shared.models import table_of
from domain.shared.principal import Principal, Role
from tests.conftest import StatementCounter
from tests.domain.cases.conftest import (
    ADMIN,
    Network,
    audience,
    audits,
    events,
    fingerprint,
    load,
    open_case,
    principal,
    run,
    timeline,
)

NOTE = "Resueltos en bloque tras la revisión del lote de cargos."


async def request(by: Principal, **kw: Any) -> BulkResolution:
    kw.setdefault("code", "FAVORABLE")
    kw.setdefault("note", NOTE)
    return await run(bulk.request_bulk_resolution, by, **kw)


async def step(bulk_id: uuid.UUID, batch_size: int = 100) -> BulkProgress:
    async with transaction() as session:
        return await bulk.process_bulk_batch(session, bulk_id=bulk_id, batch_size=batch_size)


async def finish(bulk_id: uuid.UUID, batch_size: int = 100) -> list[BulkProgress]:
    out = []
    while True:
        progress = await step(bulk_id, batch_size)
        out.append(progress)
        if progress.finished:
            return out


async def outcomes(bulk_id: uuid.UUID) -> dict[uuid.UUID, str]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(BulkResolutionItem.case_id, BulkResolutionItem.outcome).where(  # type: ignore[call-overload]
                BulkResolutionItem.bulk_id == bulk_id
            )
        )
        return dict(rows.all())


async def jobs() -> list[tuple[Any, ...]]:
    async with read_session() as session:
        return sorted(
            tuple(map(repr, r))
            for r in (await session.execute(sa.select(table_of(BulkResolution)))).all()
        )


async def refused(error: type[Exception], by: Principal, **kw: Any) -> Exception:
    before = (await fingerprint(), await jobs())
    with pytest.raises(error) as caught:
        await request(by, **kw)
    assert (await fingerprint(), await jobs()) == before
    return caught.value


@pytest.fixture
async def world(net: Network) -> dict[str, Case]:
    """BANCO_ANDINO handles a (open), e (resolved) and f (waiting for RETAIL_SUR to take
    it); b is RETAIL_SUR's, waiting for BANCO_ANDINO; c belongs to BANCO_PAMPA alone."""
    andino = net.agent("BANCO_ANDINO")
    a = await open_case(net)
    e = await open_case(net)
    e = await run(
        service.resolve_case,
        andino,
        case_id=e.id,
        expected_version=e.version,
        code="UNFAVORABLE",
        note="No procede.",
    )
    f = await open_case(net)
    f = await run(
        service.derive_case,
        andino,
        case_id=f.id,
        expected_version=f.version,
        to_partner_id=net.ids["RETAIL_SUR"],
        reason="comercio",
    )
    b = await open_case(net, net.agent("RETAIL_SUR"))
    b = await run(
        service.derive_case,
        net.agent("RETAIL_SUR"),
        case_id=b.id,
        expected_version=b.version,
        to_partner_id=net.ids["BANCO_ANDINO"],
        reason="emisor",
    )
    c = await open_case(net, net.agent("BANCO_PAMPA"))
    return {"a": a, "b": b, "c": c, "e": e, "f": f}


# --- by ids ----------------------------------------------------------------------------------
async def test_resolution_by_ids_gives_each_case_its_outcome(
    net: Network, world: dict[str, Case]
) -> None:
    boss = net.supervisor("BANCO_ANDINO")
    ghost = uuid.uuid4()
    ids = [world[k].id for k in "abcef"] + [ghost]
    job = await request(boss, ids=ids)
    assert job.status == BulkStatus.PENDING.value and job.total == 6
    [requested] = await events(bulk.REQUESTED_TOPIC)
    assert audience(requested) == {net.ids["BANCO_ANDINO"]}
    assert requested.payload["bulkId"] == gid("BulkResolution", job.id)

    steps = await finish(job.id, batch_size=4)
    assert [s.status for s in steps] == [BulkStatus.RUNNING, BulkStatus.DONE]
    assert [s.batch for s in steps] == [4, 2]
    done = steps[-1]
    assert (done.processed, done.resolved, done.skipped, done.forbidden, done.not_found) == (
        6,
        1,
        2,
        1,
        2,
    )
    assert await outcomes(job.id) == {
        world["a"].id: "RESOLVED",
        world["b"].id: "FORBIDDEN",  # visible (waiting for us) but not ours to resolve
        world["c"].id: "NOT_FOUND",  # outside the ecosystem: we may not learn it exists
        world["e"].id: "SKIPPED_STATE",  # already resolved
        world["f"].id: "SKIPPED_STATE",  # waiting for another partner to accept it
        ghost: "NOT_FOUND",
    }
    a = await load(world["a"].id)
    assert a.status == "RESOLVED" and a.resolution_code == "FAVORABLE"
    assert a.resolution_note == NOTE and a.resolved_at is not None
    assert a.version == world["a"].version + 1
    [*_, entry] = await timeline(a.id)
    assert entry.kind == TimelineKind.BULK_RESOLVED.value and entry.seq == a.timeline_seq
    assert entry.actor_subject == boss.subject and entry.before == {"status": "OPEN"}
    for key in "bcef":  # untouched
        assert (await load(world[key].id)).version == world[key].version
    [resolved] = [e for e in await events("cases.resolved") if "bulkId" in e.payload]
    assert resolved.payload["caseId"] == gid("Case", a.id)
    assert resolved.payload["bulkId"] == gid("BulkResolution", job.id)
    assert resolved.payload["version"] == a.version
    assert audience(resolved) == {net.ids["BANCO_ANDINO"]}
    progress = await events(bulk.PROGRESS_TOPIC)
    assert [e.payload["processed"] for e in progress] == [4, 6]
    assert progress[-1].payload["status"] == "DONE"
    assert all(audience(e) == {net.ids["BANCO_ANDINO"]} for e in progress)
    [batch_audit] = [r for r in await audits("cases.resolved") if r.entity_type == "BulkResolution"]
    assert batch_audit.after is not None and batch_audit.after["cases"] == [a.reference]
    assert len(await audits(bulk.REQUESTED_TOPIC)) == 1


async def test_the_same_request_is_one_job_and_runs_once(
    net: Network, world: dict[str, Case]
) -> None:
    boss = net.supervisor("BANCO_ANDINO")
    ids = [world["a"].id]
    job = await request(boss, ids=ids)
    again = await request(boss, ids=[str(world["a"].id), world["a"].id], note=f"  {NOTE} ")
    assert again.id == job.id
    await finish(job.id)
    state = (await fingerprint(), await jobs())
    assert (await step(job.id)).status is BulkStatus.DONE  # a finished job does nothing
    assert (await request(boss, ids=ids)).id == job.id  # nor does asking again
    assert (await fingerprint(), await jobs()) == state
    assert len(await events(bulk.REQUESTED_TOPIC)) == 1
    # another note, code or requester is another request
    other = await request(boss, ids=ids, note="Otra nota")
    assert other.id != job.id
    await finish(other.id)
    assert await outcomes(other.id) == {world["a"].id: "SKIPPED_STATE"}
    colleague = principal(Role.SUPERVISOR, net.ids["BANCO_ANDINO"], name="otra")
    assert (await request(colleague, ids=ids)).id not in (job.id, other.id)


# --- by filter -------------------------------------------------------------------------------
async def test_resolution_by_filter_covers_what_existed_when_asked(
    net: Network, world: dict[str, Case]
) -> None:
    boss = net.supervisor("BANCO_ANDINO")
    job = await request(boss, filter=CaseFilter(typologies=["DEVOLUCION_INTERESES"]))
    assert job.total == 4  # a, b, e, f: the interest refunds in BANCO_ANDINO's ecosystem
    late = await open_case(net)  # opened after the request: not part of it
    await finish(job.id, batch_size=2)
    result = await outcomes(job.id)
    assert world["c"].id not in result and late.id not in result
    assert result[world["a"].id] == "RESOLVED"
    assert result[world["b"].id] == "FORBIDDEN"
    assert result[world["e"].id] == result[world["f"].id] == "SKIPPED_STATE"
    assert (await load(late.id)).status == "OPEN"
    async with read_session() as session:
        final = await bulk.get_bulk_resolution(session, principal=boss, bulk_id=job.id)
    assert final.status == "DONE" and final.total == final.processed == len(result)


async def test_an_admin_acts_across_the_network(net: Network, world: dict[str, Case]) -> None:
    job = await request(
        ADMIN, filter=CaseFilter(statuses=["OPEN"], pending_derivation=False), view="NETWORK"
    )
    await finish(job.id)
    assert await outcomes(job.id) == {
        world["a"].id: "RESOLVED",
        world["c"].id: "RESOLVED",
    }
    assert (await load(world["c"].id)).status == "RESOLVED"


async def test_statements_per_batch_do_not_grow_with_the_batch(
    net: Network, sql_counter: StatementCounter
) -> None:
    for _ in range(12):
        await open_case(net)
    boss = net.supervisor("BANCO_ANDINO")
    counts = []
    for size in (2, 10):
        job = await request(boss, filter=CaseFilter(statuses=["OPEN"]), note=f"lote {size}")
        sql_counter.reset()
        progress = await step(job.id, batch_size=size)
        assert progress.batch == size and progress.resolved == size
        counts.append(len([s for s in sql_counter.statements if s.strip().upper() != "BEGIN"]))
    assert counts[0] == counts[1], counts


# --- access and refusals -----------------------------------------------------------------------
async def test_who_may_ask(net: Network, world: dict[str, Case]) -> None:
    ids = [world["a"].id]
    await refused(Forbidden, net.agent("BANCO_ANDINO"), ids=ids)  # no cases:resolve_bulk
    await refused(Forbidden, net.viewer(), ids=ids)
    await refused(Forbidden, net.system("BANCO_ANDINO"), ids=ids)
    # supervisors may look at the network, and act only on their own cases there
    job = await request(net.supervisor("BANCO_PAMPA"), ids=ids, view="NETWORK")
    await finish(job.id)
    assert await outcomes(job.id) == {world["a"].id: "FORBIDDEN"}
    assert (await load(world["a"].id)).version == world["a"].version


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"code": "PARTNER_REPORTED"}, "code"),
        ({"code": "WHATEVER"}, "code"),
        ({"note": "  "}, "note"),
        ({"note": "tarjeta 4111111111111111"}, "note"),
        ({"ids": None}, "ids"),  # neither ids nor a filter
        ({"filter": CaseFilter(statuses=["OPEN"])}, "ids"),  # both
        ({"ids": []}, "ids"),
        ({"ids": ["not-a-uuid"]}, "ids"),
        ({"ids": [uuid.uuid4() for _ in range(bulk.MAX_IDS + 1)]}, "ids"),
        ({"view": "ALL"}, "view"),
    ],
)
async def test_bad_requests_are_refused(
    net: Network, world: dict[str, Case], kw: dict[str, Any], field: str
) -> None:
    kw = {"ids": [world["a"].id], **kw}
    if kw["ids"] is None:
        del kw["ids"]
    error = await refused(ValidationFailed, net.supervisor("BANCO_ANDINO"), **kw)
    assert isinstance(error, ValidationFailed) and error.problems[0].field == field


async def test_bad_filters_are_refused(net: Network) -> None:
    boss = net.supervisor("BANCO_ANDINO")
    error = await refused(ValidationFailed, boss, filter=CaseFilter())
    assert isinstance(error, ValidationFailed) and error.problems[0].field == "filter"
    error = await refused(ValidationFailed, boss, filter=CaseFilter(statuses=["LOST"]))
    assert isinstance(error, ValidationFailed) and error.problems[0].field == "filter.statuses"


async def test_who_may_follow_a_job(net: Network, world: dict[str, Case]) -> None:
    job = await request(net.supervisor("BANCO_ANDINO"), ids=[world["a"].id, world["c"].id])
    await finish(job.id)
    async with read_session() as session:
        for who in (
            net.supervisor("BANCO_ANDINO"),
            principal(Role.SUPERVISOR, net.ids["BANCO_ANDINO"], name="otra"),
            ADMIN,
        ):
            got = await bulk.get_bulk_resolution(session, principal=who, bulk_id=job.id)
            assert got.id == job.id
        for who in (net.supervisor("RETAIL_SUR"), net.agent("BANCO_ANDINO")):
            with pytest.raises(NotFound):
                await bulk.get_bulk_resolution(session, principal=who, bulk_id=job.id)
        page = await bulk.list_bulk_items(session, principal=ADMIN, bulk_id=job.id, first=1)
        rest = await bulk.list_bulk_items(
            session, principal=ADMIN, bulk_id=job.id, first=1, after=page.cursors[-1]
        )
        items = page.items + rest.items
        assert page.has_next and not rest.has_next
        by_case = {i.case_id: i for i in items}
        assert by_case[world["a"].id].reference == world["a"].reference
        assert by_case[world["c"].id].outcome is BulkOutcome.NOT_FOUND
        assert by_case[world["c"].id].reference is None  # not revealed
        only = await bulk.list_bulk_items(
            session, principal=ADMIN, bulk_id=job.id, outcome="RESOLVED"
        )
        assert [i.case_id for i in only.items] == [world["a"].id]
        with pytest.raises(ValidationFailed):
            await bulk.list_bulk_items(session, principal=ADMIN, bulk_id=job.id, outcome="X")


async def test_stalled_jobs_are_found(net: Network, world: dict[str, Case]) -> None:
    from datetime import timedelta

    from domain.shared.time import utcnow

    job = await request(net.supervisor("BANCO_ANDINO"), ids=[world["a"].id])
    async with read_session() as session:
        assert await bulk.stalled_bulks(session, idle_since=utcnow() + timedelta(minutes=1)) == [
            job.id
        ]
        assert await bulk.stalled_bulks(session, idle_since=utcnow() - timedelta(minutes=1)) == []
    await finish(job.id)
    async with read_session() as session:
        assert await bulk.stalled_bulks(session, idle_since=utcnow() + timedelta(minutes=1)) == []

"""The outbox and the relay's serialized step, without a broker."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.db import Database, read_session, transaction
from domain.shared import outbox
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.models import table_of
from domain.shared.principal import SYSTEM, Principal, Role
from domain.shared.time import utcnow

PARTNER_A = uuid.uuid4()
PARTNER_B = uuid.uuid4()


def consumers(topic: str) -> list[str]:
    return ["tests.one", "tests.two"] if topic.startswith("tests.") else []


async def relay_all() -> list[outbox.Event]:
    out: list[outbox.Event] = []
    while True:
        async with transaction() as session:
            batch = await outbox.relay_batch(session, consumers_for=consumers, limit=3)
        out.extend(batch.events)
        if not batch.events:
            return out


@pytest.fixture
async def db(db: Database) -> Database:
    """The seeded template has events of its own (the seed's imports): relay them first."""
    await relay_all()
    return db


async def head() -> int:
    async with read_session() as session:
        return await outbox.last_position(session)


async def test_an_event_is_written_with_its_transaction_or_not_at_all(db: Database) -> None:
    start = await head()
    with pytest.raises(RuntimeError):
        async with transaction() as session:
            outbox.add(session, "tests.happened", {"n": 1}, partner_ids=[PARTNER_A])
            raise RuntimeError("the change failed")
    assert await relay_all() == []
    async with transaction() as session:
        outbox.add(session, "tests.happened", {"n": 2}, partner_ids=[PARTNER_A], key="k")
    relayed = await relay_all()
    assert [(e.topic, e.payload, e.key) for e in relayed] == [("tests.happened", {"n": 2}, "k")]
    assert relayed[0].position == start + 1
    assert relayed[0].partner_ids == {str(PARTNER_A)}


async def test_positions_are_gap_free_and_deliveries_are_created_once(db: Database) -> None:
    start = await head()
    async with transaction() as session:
        for n in range(7):
            outbox.add(session, "tests.happened", {"n": n})
        outbox.add(session, "other.happened", {})
    relayed = await relay_all()  # batches of 3
    assert [e.position for e in relayed] == list(range(start + 1, start + 9))
    assert [e.payload.get("n") for e in relayed[:7]] == list(range(7))
    deliveries = table_of(outbox.EventDelivery)
    async with read_session() as session:
        rows = (await session.execute(sa.select(deliveries.c.consumer))).scalars().all()
    assert sorted(rows) == sorted(["tests.one", "tests.two"] * 7)
    assert await relay_all() == []  # nothing relayed twice


async def test_a_transaction_committing_late_is_delivered_after_earlier_positions(
    db: Database,
) -> None:
    """Transaction A creates its event first but commits after B was relayed: A still gets
    a position (after B's), so a reader resuming after B's position sees A."""
    start = await head()
    async with transaction() as session:
        late = outbox.add(session, "tests.late", {})
        late.created_at = utcnow() - timedelta(seconds=30)  # written before B's, committed after
        early_commit_guard = late.id
    # B commits and is relayed before A "commits": simulate by relaying only B.
    async with transaction() as session:
        events = table_of(outbox.OutboxEvent)
        await session.execute(
            events.update().where(events.c.id == early_commit_guard).values(position=-1)
        )
    async with transaction() as session:
        outbox.add(session, "tests.early", {})
    first = await relay_all()
    assert [e.topic for e in first] == ["tests.early"]
    # A becomes visible (committed) now.
    async with transaction() as session:
        await session.execute(
            events.update().where(events.c.id == early_commit_guard).values(position=None)
        )
    second = await relay_all()
    assert [e.topic for e in second] == ["tests.late"]
    assert second[0].position == first[0].position + 1 == start + 2
    async with read_session() as session:
        resumed = await outbox.read_log(
            session, scope=outbox.EventScope(None), after=first[0].position
        )
    assert [e.topic for e in resumed] == ["tests.late"]


async def test_a_delivery_is_claimed_once_and_a_failed_consumer_leaves_it_pending(
    db: Database,
) -> None:
    async with transaction() as session:
        event = outbox.add(session, "tests.happened", {})
    await relay_all()
    with pytest.raises(RuntimeError):
        async with transaction() as session:
            claimed = await outbox.claim_delivery(session, event_id=event.id, consumer="tests.one")
            assert claimed is not None
            raise RuntimeError("consumer failed")
    async with transaction() as session:
        again = await outbox.claim_delivery(session, event_id=event.id, consumer="tests.one")
    assert again is not None and again.id == event.id
    async with transaction() as session:
        twice = await outbox.claim_delivery(session, event_id=event.id, consumer="tests.one")
    assert twice is None  # a redelivered message does nothing twice


async def test_stale_deliveries_are_found_for_redelivery(db: Database) -> None:
    async with transaction() as session:
        event = outbox.add(session, "tests.happened", {})
    await relay_all()
    async with transaction() as session:
        assert await outbox.stale_deliveries(session, older_than=timedelta(hours=1)) == []
    async with transaction() as session:
        stale = await outbox.stale_deliveries(session, older_than=timedelta(seconds=-1))
    assert sorted(stale) == sorted([(event.id, "tests.one"), (event.id, "tests.two")])
    async with transaction() as session:
        # just re-sent: not stale again until the interval passes
        assert await outbox.stale_deliveries(session, older_than=timedelta(seconds=60)) == []


async def test_the_log_is_scoped_to_the_reader_and_filtered_by_topic(db: Database) -> None:
    start = await head()
    async with transaction() as session:
        outbox.add(session, "tests.opened", {}, partner_ids=[PARTNER_A])
        outbox.add(session, "tests.derived", {}, partner_ids=[PARTNER_A, PARTNER_B])
        outbox.add(session, "other.received", {}, partner_ids=[PARTNER_B])
    await relay_all()
    async with read_session() as session:
        a = await outbox.read_log(session, scope=outbox.EventScope(str(PARTNER_A)), after=start)
        b_cases = await outbox.read_log(
            session,
            scope=outbox.EventScope(str(PARTNER_B)),
            after=start,
            topics=("tests.*",),
        )
        everything = await outbox.read_log(session, scope=outbox.EventScope(None), after=start)
    assert [e.topic for e in a] == ["tests.opened", "tests.derived"]
    assert [e.topic for e in b_cases] == ["tests.derived"]
    assert len(everything) == 3


def test_who_may_follow_events() -> None:
    admin = SYSTEM
    assert outbox.scope_for(admin).partner_id is None
    agent = Principal("a", roles=frozenset({Role.AGENT}), partner_id=PARTNER_A)
    assert outbox.scope_for(agent).partner_id == str(PARTNER_A)
    viewer = Principal("v", roles=frozenset({Role.NETWORK_VIEWER}))
    with pytest.raises(Forbidden):
        outbox.scope_for(viewer)
    investor = Principal("i", roles=frozenset({Role.INVESTOR}), partner_id=PARTNER_A)
    with pytest.raises(Forbidden):
        outbox.scope_for(investor)


@pytest.mark.parametrize("bad", ["", "*", "cases*", "cases.*.x", "x" * 101, "*.opened"])
def test_bad_topic_filters_are_refused(bad: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        outbox.validate_topics([bad])
    assert refused.value.problems[0].field == "topics[0]"


def test_topic_matching() -> None:
    assert outbox.matches_topics("cases.opened", None)
    assert outbox.matches_topics("cases.opened", ("cases.*",))
    assert not outbox.matches_topics("casesx.opened", ("cases.*",))
    assert outbox.matches_topics("cases.opened", ("payments.*", "cases.opened"))
    assert not outbox.matches_topics("cases.opened", ())


def test_bad_topics_are_refused_when_writing() -> None:
    for bad in ("", "nodot", "x" * 101):
        with pytest.raises(ValueError):
            outbox.add(None, bad, {})  # type: ignore[arg-type]


async def test_purge_keeps_the_retention_and_open_deliveries(db: Database) -> None:
    async with transaction() as session:
        old_done = outbox.add(session, "other.happened", {})
        old_open = outbox.add(session, "tests.happened", {})
        fresh = outbox.add(session, "other.happened", {})
    await relay_all()
    events = table_of(outbox.OutboxEvent)
    async with transaction() as session:
        await session.execute(
            events.update()
            .where(events.c.id.in_([old_done.id, old_open.id]))
            .values(created_at=utcnow() - timedelta(days=40))
        )
    async with transaction() as session:
        await outbox.purge(session, older_than=timedelta(days=30))
    async with read_session() as session:
        left = set((await session.execute(sa.select(events.c.id))).scalars().all())
    assert old_done.id not in left
    assert old_open.id in left  # a consumer has not had it yet
    assert fresh.id in left


async def test_backlog_counts_unrelayed_events_and_pending_deliveries(db: Database) -> None:
    async with transaction() as session:
        outbox.add(session, "tests.happened", {})
    async with read_session() as session:
        before = await outbox.backlog(session)
    assert before.unrelayed >= 1
    assert before.oldest_unrelayed_age >= 0
    await relay_all()
    async with read_session() as session:
        after = await outbox.backlog(session)
    assert after.unrelayed == 0
    assert after.pending_deliveries >= 2

"""Outbound sync of cases to partner platforms, against fake platforms on loopback ports,
with the event backbone running in the test process."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.cases import homologation, service, sync
from domain.cases.homologation import MappingLine
from domain.cases.models import MappingDirection
from domain.cases.states import CaseStatus
from domain.shared import jobs, outbox
from domain.shared.event_schemas import global_id as gid
from domain.shared.models import table_of
from domain.shared.principal import SYSTEM
from domain.shared.time import utcnow
from tests.conftest import IS_POSTGRES, GraphQLClient
from tests.domain.cases.conftest import Network, derived_to, load, open_case, run
from tests.workers.case_sync_support import (
    SECRETS,
    FastSync,
    connect,
    default_mappings,
    fast_sync_policy,
    load_network,
    status_row,
    synced_version,
)
from tests.workers.conftest import eventually
from tests.workers.fake_platform import FakePlatform
from workers.backbone import Backbone

Start = Callable[..., Awaitable[Backbone]]
Platforms = Callable[..., Awaitable[FakePlatform]]


@pytest.fixture
async def net(db: Any) -> Network:
    network = await load_network()
    await default_mappings(network)
    return network


@pytest.fixture
def fast_sync() -> Iterator[FastSync]:
    yield from fast_sync_policy()


@pytest.fixture
async def platforms() -> AsyncIterator[Platforms]:
    started: list[FakePlatform] = []

    async def make(code: str, **options: Any) -> FakePlatform:
        platform = FakePlatform(name=code, secret=SECRETS[code], **options)
        await platform.start()
        started.append(platform)
        return platform

    yield make
    for platform in started:
        await platform.stop()


async def transition(net: Network, case: Any, to: CaseStatus, code: str = "BANCO_ANDINO") -> Any:
    current = await load(case.id)
    return await run(
        service.transition_case,
        net.agent(code),
        case_id=case.id,
        expected_version=current.version,
        to_status=to,
        note="sigue",
    )


async def lagging(idle_after: float) -> list[tuple[uuid.UUID, uuid.UUID]]:
    async with read_session() as session:
        return await sync.lagging_pairs(
            session, idle_since=utcnow() - timedelta(seconds=idle_after), limit=100_000
        )


async def fanned_out() -> bool:
    """Every case event relayed so far went through the sync consumer."""
    deliveries = table_of(outbox.EventDelivery)
    events = table_of(outbox.OutboxEvent)
    async with read_session() as session:
        unrelayed = (
            await session.execute(
                sa.select(sa.func.count()).where(
                    events.c.position.is_(None), events.c.topic.startswith("cases.")
                )
            )
        ).scalar_one()
        pending = (
            await session.execute(
                sa.select(sa.func.count()).where(
                    deliveries.c.consumer == "cases.sync_partners",
                    deliveries.c.status != "done",
                )
            )
        ).scalar_one()
    return unrelayed == 0 and pending == 0


def non_decreasing(values: list[int]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(values))


async def test_a_change_is_pushed_signed_with_an_idempotency_key(
    start_backbone: Start, net: Network, fast_sync: FastSync, platforms: Platforms
) -> None:
    andino = await platforms("BANCO_ANDINO")
    await connect(net, "BANCO_ANDINO", andino)
    await start_backbone()
    partner = net.ids["BANCO_ANDINO"]
    case = await open_case(net)

    await eventually(lambda: andino.versions(case.reference) == [1])
    got = andino.accepted(case.reference)[0]
    assert got.key == f"{case.id}:1:{partner}"
    timestamp = got.headers["x-trama-timestamp"]
    expected = hmac.new(
        SECRETS["BANCO_ANDINO"].encode(), timestamp.encode() + b"." + got.raw, hashlib.sha256
    ).hexdigest()
    assert got.headers["x-trama-signature"] == f"sha256={expected}"
    assert got.headers["x-trama-case-version"] == "1"
    body = got.body["case"]
    assert body["reference"] == case.reference
    assert body["status"] == "OPEN" and body["partnerStatus"] == "ABIERTO"
    assert got.body["schema"] == "trama.case.v2"
    assert body["id"] == gid("Case", case.id)
    assert body["amountInDispute"] == {"amount": "150000", "currency": "CLP"}
    assert body["originatingPartner"] == body["handlingPartner"] == "BANCO_ANDINO"
    # No personal data: neither the description nor the card's digits travel.
    text = str(got.body)
    assert case.description not in text and "4321" not in text
    assert andino.refused == 0
    await eventually(lambda: synced_version(case.id, partner), timeout=5)
    assert await synced_version(case.id, partner) == 1

    # The same version again (a redelivered job, the sweep) sends nothing.
    assert (
        await fast_sync.module.push_to_partner(case_id=str(case.id), partner_id=str(partner))
    ).startswith("skipped")
    await fast_sync.module.send_pushes([(case.id, partner)])
    await asyncio.sleep(0.5)
    assert andino.versions(case.reference) == [1]

    # The next change carries the next version, in the partner's own vocabulary.
    await transition(net, case, CaseStatus.IN_PROGRESS)
    await eventually(lambda: andino.versions(case.reference) == [1, 2])
    latest = andino.latest(case.reference)
    assert latest is not None and latest["partnerStatus"] == "EN_PROCESO"
    await eventually(lambda: _eq(synced_version(case.id, partner), 2))
    row = await status_row(case.id, partner)
    assert row is not None and row.last_sync_error is None and row.last_synced_at is not None


async def _eq(value: Awaitable[Any], expected: Any) -> bool:
    return (await value) == expected


@pytest.mark.parametrize("outage", ["http_500", "connection_refused"])
async def test_a_partner_that_is_down_catches_up_in_order_when_it_returns(
    start_backbone: Start,
    net: Network,
    fast_sync: FastSync,
    platforms: Platforms,
    outage: str,
) -> None:
    andino = await platforms("BANCO_ANDINO")
    await connect(net, "BANCO_ANDINO", andino)
    partner = net.ids["BANCO_ANDINO"]
    await start_backbone()
    if outage == "http_500":
        andino.fail_status = 500
    else:
        await andino.stop()

    case = await open_case(net)
    await transition(net, case, CaseStatus.IN_PROGRESS)
    await transition(net, case, CaseStatus.WAITING_CUSTOMER)

    async def error_recorded() -> bool:
        row = await status_row(case.id, partner)
        return row is not None and row.last_sync_error is not None

    await eventually(error_recorded)
    row = await status_row(case.id, partner)
    assert row is not None and row.last_synced_version is None
    assert ("HTTP 500" if outage == "http_500" else "ConnectError") in (row.last_sync_error or "")

    if outage == "http_500":
        assert andino.failed >= 1
        andino.fail_status = None
    else:
        await andino.start()
    await eventually(lambda: _eq(synced_version(case.id, partner), 3), timeout=20)
    latest = andino.latest(case.reference)
    assert latest is not None and latest["version"] == 3
    assert latest["status"] == "WAITING_CUSTOMER" and latest["partnerStatus"] == "ESPERA_CLIENTE"
    versions = andino.versions(case.reference)
    assert non_decreasing(versions), versions
    assert not any(r.regressed for r in andino.received)
    row = await status_row(case.id, partner)
    assert row is not None and row.last_sync_error is None

    # Later changes go on as usual.
    await transition(net, case, CaseStatus.IN_PROGRESS)
    await eventually(lambda: _eq(synced_version(case.id, partner), 4))
    assert non_decreasing(andino.versions(case.reference))


async def test_one_partner_down_does_not_hold_up_another(
    start_backbone: Start, net: Network, fast_sync: FastSync, platforms: Platforms
) -> None:
    andino = await platforms("BANCO_ANDINO")
    retail = await platforms("RETAIL_SUR")
    await connect(net, "BANCO_ANDINO", andino)
    await connect(net, "RETAIL_SUR", retail, timeout=1)
    retail.delay = 3.0  # answers later than Trama waits: every push times out
    await start_backbone()

    case = await open_case(net)
    case = await derived_to(net, case, "RETAIL_SUR")  # v3, handled by RETAIL_SUR now
    await transition(net, case, CaseStatus.IN_PROGRESS, code="RETAIL_SUR")  # v4
    await transition(net, case, CaseStatus.WAITING_CUSTOMER, code="RETAIL_SUR")  # v5

    await eventually(lambda: _eq(synced_version(case.id, net.ids["BANCO_ANDINO"]), 5), timeout=20)
    latest = andino.latest(case.reference)
    assert latest is not None and latest["handlingPartner"] == "RETAIL_SUR"
    assert non_decreasing(andino.versions(case.reference))

    async def timed_out() -> bool:
        row = await status_row(case.id, net.ids["RETAIL_SUR"])
        return row is not None and "no answer within 1 s" in (row.last_sync_error or "")

    await eventually(timed_out)
    row = await status_row(case.id, net.ids["RETAIL_SUR"])
    assert row is not None and row.last_synced_version is None

    retail.delay = 0.0
    await eventually(lambda: _eq(synced_version(case.id, net.ids["RETAIL_SUR"]), 5), timeout=20)
    latest = retail.latest(case.reference)
    assert latest is not None and latest["version"] == 5
    assert not any(r.regressed for r in retail.received)


async def test_pushes_pause_for_a_platform_that_keeps_failing(
    start_backbone: Start, net: Network, fast_sync: FastSync, platforms: Platforms
) -> None:
    fast_sync.breaker.threshold, fast_sync.breaker.cooldown = 2, 0.5
    andino = await platforms("BANCO_ANDINO")
    await connect(net, "BANCO_ANDINO", andino)
    andino.fail_status = 503
    await start_backbone()
    partner = net.ids["BANCO_ANDINO"]
    case = await open_case(net)

    async def paused() -> bool:
        row = await status_row(case.id, partner)
        return row is not None and "paused" in (row.last_sync_error or "")

    await eventually(paused)
    calls = andino.failed
    andino.fail_status = None
    await eventually(lambda: _eq(synced_version(case.id, partner), 1), timeout=20)
    assert calls >= 2


def test_the_breaker_opens_after_failures_in_a_row_and_lets_one_trial_through() -> None:
    from workers.actors.case_sync import Breaker

    breaker = Breaker(threshold=2, cooldown=0.0)
    partner, other = uuid.uuid4(), uuid.uuid4()
    assert breaker.allow(partner)
    breaker.failed(partner)
    assert breaker.allow(partner)
    breaker.failed(partner)  # open (cooldown over at once): one trial at a time
    assert breaker.allow(partner)
    assert not breaker.allow(partner)
    assert breaker.allow(other)
    breaker.failed(partner)  # the trial failed: still open, next trial allowed
    assert breaker.allow(partner)
    breaker.succeeded(partner)
    assert breaker.allow(partner) and breaker.allow(partner)


async def test_a_refused_push_goes_to_failed_jobs_and_a_fixed_connector_catches_up(
    start_backbone: Start, net: Network, fast_sync: FastSync, platforms: Platforms
) -> None:
    andino = await platforms("BANCO_ANDINO")
    await connect(net, "BANCO_ANDINO", andino)
    andino.fail_status = 422  # the platform refuses the request: not retried
    await start_backbone()
    partner = net.ids["BANCO_ANDINO"]
    case = await open_case(net)

    async def failed_jobs() -> list[Any]:
        async with read_session() as session:
            page = await jobs.list_failed(session, principal=SYSTEM, actor="cases.push_to_partner")
        return [j for j in page.items if j.job_kwargs.get("case_id") == str(case.id)]

    await eventually(lambda: _len_is(failed_jobs(), 1))
    (failed,) = await failed_jobs()
    assert failed.job_kwargs == {"case_id": str(case.id), "partner_id": str(partner)}
    assert andino.failed == 1  # refused once, not retried
    row = await status_row(case.id, partner)
    assert row is not None and "HTTP 422" in (row.last_sync_error or "")

    # The sweep leaves a failure alone (it is in the failed jobs list)…
    assert (case.id, partner) not in await lagging(0)
    # …until an administrator fixes the connector: then it is pushed again.
    andino.fail_status = None
    await connect(net, "BANCO_ANDINO", andino, timeout=3)
    assert (case.id, partner) in await lagging(0)
    assert await fast_sync.module.sync_sweep(idle_after=0) >= 1
    await eventually(lambda: _eq(synced_version(case.id, partner), 1))
    assert (case.id, partner) not in await lagging(0)


async def _len_is(value: Awaitable[list[Any]], size: int) -> bool:
    return len(await value) == size


async def test_the_sweep_pushes_cases_a_platform_missed(
    start_backbone: Start, net: Network, fast_sync: FastSync, platforms: Platforms
) -> None:
    await start_backbone()
    case = await open_case(net)  # no connector yet: nothing is pushed
    await eventually(fanned_out)
    andino = await platforms("BANCO_ANDINO")
    await connect(net, "BANCO_ANDINO", andino)
    partner = net.ids["BANCO_ANDINO"]
    await asyncio.sleep(0.3)
    assert andino.versions(case.reference) == []
    # Not yet idle long enough: left alone.
    assert (case.id, partner) not in await lagging(3600)
    assert (case.id, partner) in await lagging(0)
    assert await fast_sync.module.sync_sweep(idle_after=0) >= 1
    await eventually(lambda: _eq(synced_version(case.id, partner), 1))
    assert andino.versions(case.reference) == [1]

    # A disabled connector receives nothing; enabled again, it catches up at the sweep.
    await connect(net, "BANCO_ANDINO", andino, enabled=False)
    await transition(net, case, CaseStatus.IN_PROGRESS)
    await asyncio.sleep(0.5)
    assert andino.versions(case.reference) == [1]
    assert (case.id, partner) not in await lagging(0)  # disabled: not wanted
    await connect(net, "BANCO_ANDINO", andino, enabled=True)
    assert (case.id, partner) in await lagging(0)
    assert await fast_sync.module.sync_sweep(idle_after=0) >= 1
    await eventually(lambda: _eq(synced_version(case.id, partner), 2))


async def test_a_status_without_an_outbound_code_is_held_with_a_clear_error(
    start_backbone: Start, net: Network, fast_sync: FastSync, platforms: Platforms
) -> None:
    andino = await platforms("BANCO_ANDINO")
    await connect(net, "BANCO_ANDINO", andino)
    partner = net.ids["BANCO_ANDINO"]
    async with transaction() as session:
        table = await homologation.mapping_at(session, partner)
        await homologation.update_mapping(
            session,
            principal=SYSTEM,
            partner_id=partner,
            lines=[
                MappingLine(line.partner_code, line.canonical_status, MappingDirection.INBOUND)
                if line.canonical_status is CaseStatus.IN_PROGRESS
                else line
                for line in table.lines
            ],
            expected_version=table.version,
        )
    await start_backbone()
    case = await open_case(net)
    await eventually(lambda: _eq(synced_version(case.id, partner), 1))
    await transition(net, case, CaseStatus.IN_PROGRESS)

    async def held() -> bool:
        row = await status_row(case.id, partner)
        return row is not None and "no outbound mapping" in (row.last_sync_error or "")

    await eventually(held)
    assert andino.versions(case.reference) == [1]


async def test_pushes_carry_the_connector_credentials(
    start_backbone: Start, net: Network, fast_sync: FastSync, platforms: Platforms
) -> None:
    andino = await platforms("BANCO_ANDINO", expect_authorization="Bearer tok-BANCO_ANDINO")
    retail = await platforms("RETAIL_SUR", expect_authorization="Basic dHJhbWE6czNjcmV0")
    credentials = orjson.dumps(
        {
            "token_url": f"http://127.0.0.1:{andino.port}/oauth/token",
            "client_id": "trama",
            "client_secret": "s3cret",
        }
    ).decode()
    await connect(
        net,
        "BANCO_ANDINO",
        andino,
        auth_type="OAUTH2_CLIENT_CREDENTIALS",
        auth_credentials=credentials,
    )
    await connect(net, "RETAIL_SUR", retail, auth_type="BASIC", auth_credentials="trama:s3cret")
    await start_backbone()
    case = await open_case(net)
    case = await derived_to(net, case, "RETAIL_SUR")
    await eventually(lambda: _eq(synced_version(case.id, net.ids["BANCO_ANDINO"]), 3))
    await eventually(lambda: _eq(synced_version(case.id, net.ids["RETAIL_SUR"]), 3))
    assert andino.refused == retail.refused == 0
    assert andino.token_requests == 1  # the token is reused


async def test_the_platform_reports_back_and_sees_its_change_echoed(
    start_backbone: Start,
    net: Network,
    fast_sync: FastSync,
    platforms: Platforms,
    gql: GraphQLClient,
    token: Callable[..., str],
) -> None:
    """The handler's platform reports its status through Trama's GraphQL API; Trama moves
    the case and pushes the new state to every connected platform, the reporter's too
    (it learns the version Trama gave its change)."""
    andino = await platforms("BANCO_ANDINO")
    retail = await platforms("RETAIL_SUR")
    await connect(net, "BANCO_ANDINO", andino)
    await connect(net, "RETAIL_SUR", retail)
    await start_backbone()
    case = await open_case(net)
    case = await derived_to(net, case, "RETAIL_SUR")
    # Retail learns of the case at the derivation (v2) and its acceptance (v3); pushes are
    # state-based, so under load v2 may be folded into v3: what matters is the order.
    await eventually(lambda: retail.versions(case.reference)[-1:] == [3])
    assert retail.versions(case.reference) in ([2, 3], [3])

    system = token("partner_system", partner="RETAIL_SUR")
    answer = await retail.report(
        gql, system, "EN_ANALISIS", case_ref=case.reference, external_ref="RS-77", version=1
    )
    assert answer["__typename"] == "ReportPartnerCaseStatusSuccess", answer
    assert answer["outcome"] == "APPLIED" and answer["caseStatus"] == "IN_PROGRESS"
    assert answer["caseVersion"] == 4
    for platform in (andino, retail):
        await eventually(lambda p=platform: (p.latest(case.reference) or {}).get("version") == 4)
    echoed = retail.latest(case.reference)
    assert echoed is not None
    # Its own vocabulary's outbound code, and its own reference, come back.
    assert echoed["partnerStatus"] == "EN_PROCESO" and echoed["externalRef"] == "RS-77"
    seen_by_andino = andino.latest(case.reference)
    assert seen_by_andino is not None and seen_by_andino["externalRef"] is None

    # A retried report (now by the platform's own reference) changes nothing and pushes
    # nothing new.
    again = await retail.report(gql, system, "EN_ANALISIS", external_ref="RS-77", version=1)
    assert again["outcome"] == "DUPLICATE" and again["caseVersion"] == 4
    await asyncio.sleep(0.5)
    assert max(retail.versions(case.reference)) == 4
    assert (await load(case.id)).version == 4


async def test_pushes_of_one_case_to_one_partner_never_overlap_nor_regress(
    start_backbone: Start, net: Network, fast_sync: FastSync, platforms: Platforms
) -> None:
    andino = await platforms("BANCO_ANDINO")
    await connect(net, "BANCO_ANDINO", andino, timeout=5)
    andino.delay = 0.4  # slow enough for the next changes to arrive mid-push
    partner = net.ids["BANCO_ANDINO"]
    await start_backbone()
    case = await open_case(net)
    for status in (
        CaseStatus.IN_PROGRESS,
        CaseStatus.WAITING_CUSTOMER,
        CaseStatus.IN_PROGRESS,
        CaseStatus.WAITING_PARTNER,
        CaseStatus.IN_PROGRESS,
    ):
        await transition(net, case, status)
    # Redelivered jobs for the same pair, all at once.
    await fast_sync.module.send_pushes([(case.id, partner)] * 5)
    await eventually(lambda: _eq(synced_version(case.id, partner), 6), timeout=20)
    await asyncio.sleep(0.6)
    assert andino.most_in_flight[case.reference] == 1
    versions = andino.versions(case.reference)
    assert non_decreasing(versions) and versions[-1] == 6, versions
    assert not any(r.regressed for r in andino.received)
    # Pushes coalesce: fewer requests than versions and jobs.
    assert len(versions) < 6 + 5


@pytest.mark.skipif(not IS_POSTGRES, reason="the lock across processes is PostgreSQL's")
async def test_a_pair_pushed_by_another_process_is_tried_again_shortly(
    start_backbone: Start, net: Network, fast_sync: FastSync, platforms: Platforms
) -> None:
    andino = await platforms("BANCO_ANDINO")
    await connect(net, "BANCO_ANDINO", andino, enabled=False)
    partner = net.ids["BANCO_ANDINO"]
    await start_backbone()
    case = await open_case(net)
    await eventually(fanned_out)  # the connector was off: nothing was sent
    await connect(net, "BANCO_ANDINO", andino, enabled=True)
    async with read_session() as other_process:
        assert await sync.try_lock_pair(other_process, case.id, partner)
        outcome = await fast_sync.module.push_to_partner(
            case_id=str(case.id), partner_id=str(partner)
        )
        assert outcome.startswith("another process")
        await asyncio.sleep(0.3)
        assert andino.versions(case.reference) == []
    await eventually(lambda: _eq(synced_version(case.id, partner), 1), timeout=20)
    assert andino.versions(case.reference) == [1]

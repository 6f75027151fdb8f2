"""The worker path: ``applications.submitted`` → ``scoring.score_application`` → the decision
stored and origination's ``apply_decision`` moving the application, in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.origination.models import ApplicationState, CreditApplication
from domain.partners.models import Partner
from domain.scoring import service
from domain.scoring.bureau import HttpBureauClient
from domain.scoring.defaults import reference_document
from domain.scoring.models import ScoringDecision
from domain.shared import event_schemas as wire
from domain.shared.outbox import Event
from domain.shared.principal import SYSTEM
from domain.shared.time import utcnow
from tests.domain.scoring.fake_bureau import API_KEY, SECRET, FakeBureau
from workers.actors import scoring as actor
from workers.registry import REGISTRY, PermanentError

MakeApp = Callable[..., Awaitable[CreditApplication]]


@pytest.fixture(scope="module")
async def bureau() -> AsyncIterator[FakeBureau]:
    fake = await FakeBureau().start()
    yield fake
    await fake.stop()


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch, bureau: FakeBureau) -> FakeBureau:
    monkeypatch.setattr(
        actor,
        "bureau_client",
        lambda: HttpBureauClient(url=bureau.url, api_key=API_KEY, secret=SECRET, timeout=5),
    )
    return bureau


async def _activate(lender: Partner) -> None:
    async with transaction() as session:
        card = await service.create_scorecard(
            session, principal=SYSTEM, lender_id=lender.id, name="r", document=reference_document()
        )
        await service.activate_scorecard(session, principal=SYSTEM, scorecard_id=card.id)


def test_declared_with_explicit_policies() -> None:
    consumer = REGISTRY.consumers["scoring.application_submitted"]
    assert consumer.topics == ("applications.submitted",)
    job = REGISTRY.jobs["scoring.score_application"]
    assert job.retry.max_retries == 8 and job.retry.time_limit_ms == 60_000
    assert PermanentError in job.retry.throws


async def test_consumer_sends_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[uuid.UUID] = []
    monkeypatch.setattr(actor, "_send", sent.append)
    key = uuid.uuid4()
    event = Event(
        id=uuid.uuid4(),
        position=1,
        topic="applications.submitted",
        key=None,
        payload={"applicationId": wire.global_id("CreditApplication", key)},
        partner_ids=frozenset(),
        created_at=utcnow(),
    )
    await actor.application_submitted(None, event)
    assert sent == [key]
    bad = Event(
        id=uuid.uuid4(),
        position=1,
        topic="applications.submitted",
        key=None,
        payload={"applicationId": "nope"},
        partner_ids=frozenset(),
        created_at=utcnow(),
    )
    with pytest.raises(PermanentError):
        await actor.application_submitted(None, bad)


async def test_job_decides_through_origination(
    lender: Partner, make_application: MakeApp, wired: FakeBureau
) -> None:
    await _activate(lender)
    good = await make_application()
    result: dict[str, Any] = await actor.score_application(application_id=str(good.id))
    assert result["status"] == "SCORED" and result["outcome"] == "approve"
    async with read_session() as session:
        app = await session.get(CreditApplication, good.id)
        assert app is not None
        # pre-approved, and origination moves a pre-approval on to its offer at once
        assert app.decision_outcome == "approve"
        assert app.state in (ApplicationState.PRE_APPROVED.value, ApplicationState.OFFERED.value)
        assert str(app.decision_id) == result["decisionId"]
        assert app.grade == result["grade"]
    # redelivered: the application moved on, nothing is done twice
    again = await actor.score_application(application_id=str(good.id))
    assert again["status"] == "SKIPPED"
    # the bureau down: referred, with the reason first
    wired.mode = "error"
    try:
        down = await make_application()
        await actor.score_application(application_id=str(down.id))
    finally:
        wired.mode = "ok"
    async with read_session() as session:
        app = await session.get(CreditApplication, down.id)
        assert app is not None and app.state == ApplicationState.REFERRED.value
        assert app.decision_reasons[0] == "BUREAU_UNAVAILABLE"
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(ScoringDecision)
            .where(ScoringDecision.application_id.in_([good.id, down.id]))  # type: ignore[attr-defined]
        )
    assert count == 2
    with pytest.raises(PermanentError):
        await actor.score_application(application_id="not-a-uuid")

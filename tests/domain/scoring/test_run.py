"""One scoring run as the worker does it: facts (application, Trama history, bureau on a
loopback fake), the engine, the decision stored and handed to origination in one
transaction; idempotent; a bureau that fails refers; nothing half-written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.credits.models import Credit
from domain.origination.models import ApplicationState, CreditApplication
from domain.partners.models import Partner
from domain.scoring import facts, run, service
from domain.scoring.bureau import HttpBureauClient
from domain.scoring.defaults import reference_document
from domain.scoring.errors import NoActiveScorecard
from domain.scoring.models import ScoringDecision
from domain.shared.audit import AuditRecord
from domain.shared.principal import SYSTEM
from tests.domain.scoring.fake_bureau import API_KEY, SECRET, FakeBureau

MakeApp = Callable[..., Awaitable[CreditApplication]]


@pytest.fixture(scope="module")
async def bureau() -> AsyncIterator[FakeBureau]:
    fake = await FakeBureau().start()
    yield fake
    await fake.stop()


def client(fake: FakeBureau, timeout: float = 5.0) -> HttpBureauClient:
    return HttpBureauClient(url=fake.url, api_key=API_KEY, secret=SECRET, timeout=timeout)


class Recorder:
    """Stands in for origination's ``apply_decision`` (its own tests cover it): records
    what scoring hands over, and can fail to prove the decision rolls back with it."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    async def __call__(self, session: Any, **kwargs: Any) -> None:
        assert session.in_transaction()
        self.calls.append(kwargs)
        if self.fail:
            raise RuntimeError("origination refused")


async def _activate(lender: Partner) -> None:
    async with transaction() as session:
        card = await service.create_scorecard(
            session,
            principal=SYSTEM,
            lender_id=lender.id,
            name="ref",
            document=reference_document(),
        )
        await service.activate_scorecard(session, principal=SYSTEM, scorecard_id=card.id)


async def _decisions(application_id: uuid.UUID) -> list[ScoringDecision]:
    async with read_session() as session:
        return list(
            (
                await session.execute(
                    sa.select(ScoringDecision).where(
                        ScoringDecision.application_id == application_id  # type: ignore[arg-type]
                    )
                )
            ).scalars()
        )


async def test_scores_stores_and_hands_over_once(
    lender: Partner, make_application: MakeApp, bureau: FakeBureau
) -> None:
    await _activate(lender)
    app = await make_application()
    async with read_session() as session:
        customer_national_id = (await facts.gather(session, app.id)).subject.national_id
    bureau.subjects[customer_national_id] = (810, 1, 0, 1)
    apply = Recorder()
    first = await run.score_application(
        app.id, read=read_session, write=transaction, bureau=client(bureau), apply_decision=apply
    )
    assert first.status == "SCORED" and first.outcome == "approve"
    rows = await _decisions(app.id)
    assert len(rows) == 1
    row = rows[0]
    assert row.bureau_status == "OK" and row.bureau is not None
    assert row.bureau["score"] == 810
    assert row.inputs["bureau_score"] == "810"
    assert row.inputs["debt_to_income"] == "0.1000"  # 150,000 / 1,500,000
    assert row.inputs["down_payment_ratio"] == "0.2000"  # 2,000,000 / 10,000,000
    assert row.total == sum(a["points"] for a in row.attributes)
    assert apply.calls == [
        {
            "application_id": app.id,
            "decision_id": row.id,
            "outcome": "approve",
            "grade": row.grade,
            "reasons": [r["code"] for r in row.reasons],
        }
    ]
    # a message delivered again: the same inputs make the same decision, stored once
    again = await run.score_application(
        app.id, read=read_session, write=transaction, bureau=client(bureau), apply_decision=apply
    )
    assert again.status == "DUPLICATE" and again.decision_id == row.id
    assert len(await _decisions(app.id)) == 1
    async with read_session() as session:
        audited = await session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.entity_id == str(row.id))  # type: ignore[arg-type]
        )
    assert audited == 1


async def test_bureau_down_refers(
    lender: Partner, make_application: MakeApp, bureau: FakeBureau
) -> None:
    await _activate(lender)
    app = await make_application()
    bureau.mode = "error"
    try:
        result = await run.score_application(
            app.id,
            read=read_session,
            write=transaction,
            bureau=client(bureau),
            apply_decision=Recorder(),
        )
    finally:
        bureau.mode = "ok"
    assert result.outcome == "refer"
    (row,) = await _decisions(app.id)
    assert row.bureau_status == "UNAVAILABLE"
    assert row.reasons[0]["code"] == "BUREAU_UNAVAILABLE"
    assert row.inputs["bureau_score"] is None
    # no bureau configured at all: referred the same way
    other = await make_application()
    result = await run.score_application(
        other.id, read=read_session, write=transaction, bureau=None, apply_decision=Recorder()
    )
    assert result.outcome == "refer"


async def test_nothing_half_written(
    bare_lender: Partner, make_application: MakeApp, bureau: FakeBureau
) -> None:
    lender = bare_lender
    app = await make_application()
    with pytest.raises(NoActiveScorecard):
        await run.score_application(
            app.id,
            read=read_session,
            write=transaction,
            bureau=client(bureau),
            apply_decision=Recorder(),
        )
    await _activate(lender)
    with pytest.raises(RuntimeError, match="origination refused"):
        await run.score_application(
            app.id,
            read=read_session,
            write=transaction,
            bureau=client(bureau),
            apply_decision=Recorder(fail=True),
        )
    assert await _decisions(app.id) == []
    draft = await make_application(state=ApplicationState.DRAFT.value)
    skipped = await run.score_application(
        draft.id,
        read=read_session,
        write=transaction,
        bureau=client(bureau),
        apply_decision=Recorder(),
    )
    assert skipped.status == "SKIPPED" and await _decisions(draft.id) == []


async def test_history_in_trama_counts(lender: Partner, make_application: MakeApp) -> None:
    async with read_session() as session:
        credit = (
            await session.execute(
                sa.select(Credit).where(Credit.days_past_due > 0).limit(1)  # type: ignore[arg-type]
            )
        ).scalar_one_or_none()
    if credit is None:
        pytest.fail("the seed has a delinquent credit")
    app = await make_application(customer_id=credit.customer_id)
    async with read_session() as session:
        gathered = await facts.gather(session, app.id)
    assert gathered.facts["trama_max_dpd"] >= credit.days_past_due
    assert gathered.facts["trama_credits"] >= 1

"""Scorecard versions: drafts, one active per lender, retire, audit and events, access,
grade terms for pre-qualification."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.partners.models import Partner
from domain.scoring import service
from domain.scoring.defaults import reference_document
from domain.scoring.errors import NoActiveScorecard, ScorecardInvalid, UnknownGrade
from domain.scoring.models import Scorecard, ScorecardStatus
from domain.shared.audit import AuditRecord
from domain.shared.errors import Forbidden, InvalidTransition
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import Role
from tests.domain.scoring.conftest import staff


async def _count(model: Any) -> int:
    async with read_session() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def _scoring_events() -> list[str]:
    async with read_session() as session:
        return list(
            (
                await session.execute(
                    sa.select(OutboxEvent.topic)
                    .where(OutboxEvent.topic.like("scoring.%"))  # type: ignore[attr-defined]
                    .order_by(OutboxEvent.created_at, OutboxEvent.id)
                )
            ).scalars()
        )


async def test_draft_activate_retire(bare_lender: Partner) -> None:
    lender = bare_lender
    boss = staff(lender)
    events_before = await _scoring_events()
    async with transaction() as session:
        v1 = await service.create_scorecard(
            session,
            principal=boss,
            lender_id=lender.id,
            name="Autos 2026",
            document=reference_document(),
        )
    async with transaction() as session:
        assert await service.active_scorecard(session, lender_id=lender.id) is None
        with pytest.raises(NoActiveScorecard):
            await service.grade_terms(session, lender_id=lender.id, grade="A")
    async with transaction() as session:
        await service.activate_scorecard(session, principal=boss, scorecard_id=v1.id)
    doc = copy.deepcopy(reference_document())
    doc["grades"][0]["annualRate"] = "0.1190"
    async with transaction() as session:
        v2 = await service.create_scorecard(
            session, principal=boss, lender_id=lender.id, name="Autos 2026 b", document=doc
        )
        assert v2.version == v1.version + 1 and v2.status == ScorecardStatus.DRAFT.value
    async with transaction() as session:
        terms = await service.grade_terms(session, lender_id=lender.id, grade="A")
        assert terms.annual_rate == Decimal("0.1290") and terms.max_term_months == 72
        await service.activate_scorecard(session, principal=boss, scorecard_id=v2.id)
    async with transaction() as session:
        terms = await service.grade_terms(session, lender_id=lender.id, grade="A")
        assert terms.annual_rate == Decimal("0.1190")
        with pytest.raises(UnknownGrade):
            await service.grade_terms(session, lender_id=lender.id, grade="F")
        old = await session.get(Scorecard, v1.id)
        assert old is not None and old.status == ScorecardStatus.RETIRED.value
        assert old.retired_by == boss.subject
    async with transaction() as session:
        with pytest.raises(InvalidTransition):
            await service.activate_scorecard(session, principal=boss, scorecard_id=v1.id)
    async with transaction() as session:
        await service.retire_scorecard(session, principal=boss, scorecard_id=v2.id)
    async with read_session() as session:
        assert await service.active_scorecard(session, lender_id=lender.id) is None
        actions = list(
            (
                await session.execute(
                    sa.select(AuditRecord.action)
                    .where(
                        AuditRecord.entity_type == "Scorecard",  # type: ignore[arg-type]
                        AuditRecord.entity_id.in_([str(v1.id), str(v2.id)]),  # type: ignore[attr-defined]
                    )
                    .order_by(AuditRecord.seq)
                )
            ).scalars()
        )
    assert actions == [
        "scoring.scorecard_created",
        "scoring.scorecard_activated",
        "scoring.scorecard_created",
        "scoring.scorecard_retired",
        "scoring.scorecard_activated",
        "scoring.scorecard_retired",
    ]
    topics = (await _scoring_events())[len(events_before) :]
    assert sorted(topics) == sorted(actions)


async def test_one_active_per_lender_in_the_database(lender: Partner) -> None:
    boss = staff(lender)
    async with transaction() as session:
        a = await service.create_scorecard(
            session, principal=boss, lender_id=lender.id, name="a", document=reference_document()
        )
        b = await service.create_scorecard(
            session, principal=boss, lender_id=lender.id, name="b", document=reference_document()
        )
    with pytest.raises(sa.exc.IntegrityError):
        async with transaction() as session:
            for card in (a, b):
                row = await session.get(Scorecard, card.id)
                assert row is not None
                row.status = ScorecardStatus.ACTIVE.value
                await session.flush()


async def test_invalid_or_forbidden_writes_nothing(lender: Partner, other_partner: Partner) -> None:
    before = (await _count(Scorecard), await _count(AuditRecord), await _count(OutboxEvent))
    doc = copy.deepcopy(reference_document())
    doc["cutoffs"] = {"approve": 500, "refer": 600}
    with pytest.raises(ScorecardInvalid) as info:
        async with transaction() as session:
            await service.create_scorecard(
                session, principal=staff(lender), lender_id=lender.id, name="x", document=doc
            )
    assert info.value.codes == ["CUTOFFS_ORDER"]
    with pytest.raises(Forbidden):  # another partner's staff
        async with transaction() as session:
            await service.create_scorecard(
                session,
                principal=staff(other_partner),
                lender_id=lender.id,
                name="x",
                document=reference_document(),
            )
    with pytest.raises(Forbidden):  # an agent reads scoring but does not manage it
        async with transaction() as session:
            await service.create_scorecard(
                session,
                principal=staff(lender, Role.AGENT),
                lender_id=lender.id,
                name="x",
                document=reference_document(),
            )
    after = (await _count(Scorecard), await _count(AuditRecord), await _count(OutboxEvent))
    assert after == before


async def test_lists_are_scoped(lender: Partner, other_partner: Partner) -> None:
    async with transaction() as session:
        card = await service.create_scorecard(
            session,
            principal=staff(lender),
            lender_id=lender.id,
            name="scoped",
            document=reference_document(),
        )
    async with read_session() as session:
        mine = await service.list_scorecards(session, principal=staff(lender, Role.AGENT))
        assert card.id in [c.id for c in mine.items]
        theirs = await service.list_scorecards(session, principal=staff(other_partner))
        assert card.id not in [c.id for c in theirs.items]
        page = await service.list_scorecards(session, principal=staff(lender), first=1)
        assert len(page.items) == 1

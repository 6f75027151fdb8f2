"""Scoring's root fields: scorecards, decisions, the score dashboard, activation."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.db import read_session
from domain.scoring import analytics, service
from domain.scoring.models import ScorecardStatus as DomainStatus
from domain.shared.errors import NotFound, ValidationFailed
from resolvers.context import principal_of
from resolvers.errors import mutate
from resolvers.ids import require_node_id
from schema.scoring import (
    ChangeScorecardInput,
    CreateScorecardInput,
    ScoreAnalytics,
    Scorecard,
    ScorecardPage,
    ScorecardPayload,
    ScorecardStatus,
    ScorecardSuccess,
    ScorePeriodInput,
    ScoringDecision,
)


def _uuid(value: object, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed.on(field, "is not a scorecard or decision id") from None


def _type(m: Any) -> Scorecard:
    return Scorecard.from_model(m, service.parsed(m))


async def scorecards(
    info: Info,
    lender_id: strawberry.ID | None = None,
    status: ScorecardStatus | None = None,
    first: int = 20,
    after: str | None = None,
) -> ScorecardPage:
    principal = principal_of(info)
    async with read_session() as session:
        page = await service.list_scorecards(
            session,
            principal=principal,
            lender_id=require_node_id(lender_id, "Partner", "lenderId") if lender_id else None,
            status=DomainStatus(status.value) if status else None,
            first=first,
            after=after,
        )
    return ScorecardPage(
        items=[_type(m) for m in page.items],
        end_cursor=page.cursors[-1] if page.cursors else None,
        has_next_page=page.has_next,
    )


async def scorecard(info: Info, id: strawberry.ID) -> Scorecard | None:
    principal = principal_of(info)
    async with read_session() as session:
        try:
            m = await service.get_scorecard(
                session, principal=principal, scorecard_id=_uuid(id, "id")
            )
        except NotFound:
            return None
    return _type(m)


async def scoring_decision(info: Info, id: strawberry.ID) -> ScoringDecision | None:
    principal = principal_of(info)
    async with read_session() as session:
        try:
            row, full = await service.read_decision(
                session, principal=principal, decision_id=_uuid(id, "id")
            )
        except NotFound:
            return None
    return ScoringDecision.from_model(row, full=full)


async def score_analytics(
    info: Info, lender_id: strawberry.ID, period: ScorePeriodInput
) -> ScoreAnalytics:
    principal = principal_of(info)
    async with read_session() as session:
        result = await analytics.score_analytics(
            session,
            principal=principal,
            lender_id=require_node_id(lender_id, "Partner", "lenderId"),
            since=period.from_,
            until=period.to,
        )
    return ScoreAnalytics.from_domain(result)


async def create_scorecard(info: Info, input: CreateScorecardInput) -> ScorecardPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> ScorecardSuccess:
        if not isinstance(input.document, dict):
            raise ValidationFailed.on("document", "a scorecard is a JSON object")
        m = await service.create_scorecard(
            session,
            principal=principal,
            lender_id=require_node_id(input.lender_id, "Partner", "lenderId"),
            name=input.name,
            document=input.document,
        )
        return ScorecardSuccess(scorecard=_type(m))

    return await mutate(ScorecardPayload, work)


async def activate_scorecard(info: Info, input: ChangeScorecardInput) -> ScorecardPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> ScorecardSuccess:
        m = await service.activate_scorecard(
            session,
            principal=principal,
            scorecard_id=_uuid(input.id, "id"),
            expected_version=input.row_version,
        )
        return ScorecardSuccess(scorecard=_type(m))

    return await mutate(ScorecardPayload, work)


async def retire_scorecard(info: Info, input: ChangeScorecardInput) -> ScorecardPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> ScorecardSuccess:
        m = await service.retire_scorecard(
            session,
            principal=principal,
            scorecard_id=_uuid(input.id, "id"),
            expected_version=input.row_version,
        )
        return ScorecardSuccess(scorecard=_type(m))

    return await mutate(ScorecardPayload, work)

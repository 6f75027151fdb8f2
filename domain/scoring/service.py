"""Scoring's use cases: scorecard versions (draft → active → retired), the terms of a grade,
and the decision records of scoring runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.partners.models import Partner
from domain.scoring import access, psi
from domain.scoring import card as cards
from domain.scoring import events as scoring_events
from domain.scoring.engine import Decision
from domain.scoring.errors import NoActiveScorecard, UnknownGrade
from domain.scoring.models import (
    Scorecard,
    ScorecardSource,
    ScorecardStatus,
    ScoringDecision,
)
from domain.shared import audit
from domain.shared.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from domain.shared.pagination import Page, clamp_page_size, decode_cursor, encode_cursor
from domain.shared.principal import SYSTEM, Principal, Scope
from domain.shared.sql import for_update
from domain.shared.time import utcnow

_CURSOR = "scorecards.v1"
#: Parsed cards by document hash (a document never changes once stored).
_PARSED: dict[str, cards.Card] = {}


@dataclass(frozen=True)
class GradeTerms:
    grade: str
    annual_rate: Decimal
    max_term_months: int


def parsed(scorecard: Scorecard) -> cards.Card:
    found = _PARSED.get(scorecard.document_hash)
    if found is None:
        found = cards.parse(scorecard.document)
        if len(_PARSED) > 256:
            _PARSED.clear()
        _PARSED[scorecard.document_hash] = found
    return found


def _snapshot(card: Scorecard) -> dict[str, Any]:
    return {
        "lenderId": card.lender_id,
        "version": card.version,
        "status": card.status,
        "documentHash": card.document_hash,
        "source": card.source,
    }


async def create_scorecard(
    session: AsyncSession,
    *,
    principal: Principal,
    lender_id: uuid.UUID,
    name: str,
    document: dict[str, Any],
    source: ScorecardSource = ScorecardSource.MANUAL,
    development: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Scorecard:
    """Store a new DRAFT version of ``lender_id``'s scorecard (validated first)."""
    access.ensure_can_manage(principal, lender_id)
    text = (name or "").strip()
    if not text or len(text) > 200:
        raise ValidationFailed.on("name", "between 1 and 200 characters")
    cards.parse(document)  # ScorecardInvalid with every problem
    if await session.get(Partner, lender_id) is None:
        raise NotFound("Partner", lender_id)
    top = await session.scalar(
        sa.select(sa.func.max(col(Scorecard.version))).where(col(Scorecard.lender_id) == lender_id)
    )
    card = Scorecard(
        lender_id=lender_id,
        version=int(top or 0) + 1,
        name=text,
        status=ScorecardStatus.DRAFT.value,
        source=source.value,
        document=document,
        document_hash=cards.document_hash(document),
        development=development,
        metrics=metrics,
        created_by=principal.subject,
        created_at=utcnow(),
    )
    session.add(card)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="scoring.scorecard_created",
        entity_type="Scorecard",
        entity_id=card.id,
        after=_snapshot(card),
    )
    scoring_events.emit_card(session, "scoring.scorecard_created", card, source=card.source)
    return card


async def _locked(session: AsyncSession, scorecard_id: uuid.UUID) -> Scorecard:
    card = (
        await session.execute(
            for_update(sa.select(Scorecard).where(col(Scorecard.id) == scorecard_id), session)
        )
    ).scalar_one_or_none()
    if card is None:
        raise NotFound("Scorecard", scorecard_id)
    return card


async def activate_scorecard(
    session: AsyncSession,
    *,
    principal: Principal,
    scorecard_id: uuid.UUID,
    expected_version: int | None = None,
) -> Scorecard:
    """Make a DRAFT version the lender's active one; the active one before it is retired."""
    card = await _locked(session, scorecard_id)
    access.ensure_can_manage(principal, card.lender_id)
    if expected_version is not None and expected_version != card.row_version:
        raise Conflict("the scorecard changed since you read it", current_version=card.row_version)
    if card.status != ScorecardStatus.DRAFT.value:
        raise InvalidTransition("Scorecard", card.status, ScorecardStatus.ACTIVE.value)
    parsed(card)  # a stored document is valid; a rule added since then would refuse it here
    now = utcnow()
    current = (
        await session.execute(
            for_update(
                sa.select(Scorecard).where(
                    col(Scorecard.lender_id) == card.lender_id,
                    col(Scorecard.status) == ScorecardStatus.ACTIVE.value,
                ),
                session,
            )
        )
    ).scalar_one_or_none()
    if current is not None:
        before = _snapshot(current)
        current.status = ScorecardStatus.RETIRED.value
        current.retired_at = now
        current.retired_by = principal.subject
        current.row_version += 1
        await session.flush()  # the one-active index holds at every statement
        audit.record(
            session,
            principal=principal,
            action="scoring.scorecard_retired",
            entity_type="Scorecard",
            entity_id=current.id,
            before=before,
            after=_snapshot(current),
        )
        scoring_events.emit_card(session, "scoring.scorecard_retired", current)
    before = _snapshot(card)
    card.status = ScorecardStatus.ACTIVE.value
    card.activated_at = now
    card.activated_by = principal.subject
    card.row_version += 1
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="scoring.scorecard_activated",
        entity_type="Scorecard",
        entity_id=card.id,
        before=before,
        after=_snapshot(card),
    )
    scoring_events.emit_card(
        session,
        "scoring.scorecard_activated",
        card,
        retiredScorecardId=str(current.id) if current is not None else None,
    )
    return card


async def retire_scorecard(
    session: AsyncSession,
    *,
    principal: Principal,
    scorecard_id: uuid.UUID,
    expected_version: int | None = None,
) -> Scorecard:
    """Retire a DRAFT or ACTIVE version (an active one leaves the lender without a card:
    applications wait, unscored, until another is activated)."""
    card = await _locked(session, scorecard_id)
    access.ensure_can_manage(principal, card.lender_id)
    if expected_version is not None and expected_version != card.row_version:
        raise Conflict("the scorecard changed since you read it", current_version=card.row_version)
    if card.status == ScorecardStatus.RETIRED.value:
        raise InvalidTransition("Scorecard", card.status, ScorecardStatus.RETIRED.value)
    before = _snapshot(card)
    card.status = ScorecardStatus.RETIRED.value
    card.retired_at = utcnow()
    card.retired_by = principal.subject
    card.row_version += 1
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="scoring.scorecard_retired",
        entity_type="Scorecard",
        entity_id=card.id,
        before=before,
        after=_snapshot(card),
    )
    scoring_events.emit_card(session, "scoring.scorecard_retired", card)
    return card


# --- reads ------------------------------------------------------------------------------------
async def active_scorecard(session: AsyncSession, *, lender_id: uuid.UUID) -> Scorecard | None:
    """The lender's active version (``None`` without one). For scoring and pre-qualification."""
    result = await session.execute(
        sa.select(Scorecard).where(
            col(Scorecard.lender_id) == lender_id,
            col(Scorecard.status) == ScorecardStatus.ACTIVE.value,
        )
    )
    return result.scalar_one_or_none()


async def grade_terms(session: AsyncSession, *, lender_id: uuid.UUID, grade: str) -> GradeTerms:
    """The annual rate and maximum term of ``grade`` in the lender's active scorecard."""
    card = await active_scorecard(session, lender_id=lender_id)
    if card is None:
        raise NoActiveScorecard(lender_id)
    found = parsed(card).grade_named(grade)
    if found is None:
        raise UnknownGrade(grade)
    return GradeTerms(found.grade, found.annual_rate, found.max_term_months)


async def all_grade_terms(session: AsyncSession, *, lender_id: uuid.UUID) -> list[GradeTerms]:
    card = await active_scorecard(session, lender_id=lender_id)
    if card is None:
        raise NoActiveScorecard(lender_id)
    return [GradeTerms(g.grade, g.annual_rate, g.max_term_months) for g in parsed(card).grades]


async def get_scorecard(
    session: AsyncSession, *, principal: Principal, scorecard_id: uuid.UUID
) -> Scorecard:
    access.ensure_can_read(principal)
    card = (
        await session.execute(
            sa.select(Scorecard).where(
                col(Scorecard.id) == scorecard_id, access.scorecards_visible_to(principal)
            )
        )
    ).scalar_one_or_none()
    if card is None:
        raise NotFound("Scorecard", scorecard_id)
    return card


async def list_scorecards(
    session: AsyncSession,
    *,
    principal: Principal,
    lender_id: uuid.UUID | None = None,
    status: ScorecardStatus | None = None,
    first: int = 20,
    after: str | None = None,
) -> Page[Scorecard]:
    """Versions the principal may see, newest first (keyset on the time-ordered id)."""
    access.ensure_can_read(principal)
    first = clamp_page_size(first, default=20, maximum=100)
    query = sa.select(Scorecard).where(access.scorecards_visible_to(principal))
    if lender_id is not None:
        query = query.where(col(Scorecard.lender_id) == lender_id)
    if status is not None:
        query = query.where(col(Scorecard.status) == status.value)
    if after:
        (key,) = decode_cursor(after, _CURSOR, 1)
        try:
            last = uuid.UUID(str(key))
        except ValueError as exc:
            raise ValidationFailed.on("after", "this cursor is not valid") from exc
        query = query.where(col(Scorecard.id) < last)
    rows = list(
        (await session.execute(query.order_by(col(Scorecard.id).desc()).limit(first + 1))).scalars()
    )
    items = rows[:first]
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR, str(c.id)) for c in items],
        has_next=len(rows) > first,
        has_previous=bool(after),
    )


# --- decisions --------------------------------------------------------------------------------
async def find_decision(
    session: AsyncSession, *, application_id: uuid.UUID, scorecard_id: uuid.UUID, input_hash: str
) -> ScoringDecision | None:
    return (
        await session.execute(
            sa.select(ScoringDecision).where(
                col(ScoringDecision.application_id) == application_id,
                col(ScoringDecision.scorecard_id) == scorecard_id,
                col(ScoringDecision.input_hash) == input_hash,
            )
        )
    ).scalar_one_or_none()


async def record_decision(
    session: AsyncSession,
    *,
    application_id: uuid.UUID,
    lender_id: uuid.UUID,
    customer_id: uuid.UUID,
    scorecard: Scorecard,
    decision: Decision,
    inputs: dict[str, Any],
    input_hash: str,
    bureau_status: str,
    bureau: dict[str, Any] | None,
    started_at: datetime,
) -> tuple[ScoringDecision, bool]:
    """Store a decision (``created`` False: the same run was stored before, that one is
    returned). Audited as the system's act; on the outbox."""
    existing = await find_decision(
        session, application_id=application_id, scorecard_id=scorecard.id, input_hash=input_hash
    )
    if existing is not None:
        return existing, False
    row = ScoringDecision(
        application_id=application_id,
        lender_id=lender_id,
        customer_id=customer_id,
        scorecard_id=scorecard.id,
        scorecard_version=scorecard.version,
        input_hash=input_hash,
        inputs=inputs,
        attributes=[a.to_json() for a in decision.attributes],
        total=decision.total,
        pd=decision.pd,
        grade=decision.grade,
        outcome=decision.outcome.value,
        reasons=[r.to_json() for r in decision.reasons],
        bureau_status=bureau_status,
        bureau=bureau,
        started_at=started_at,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        principal=SYSTEM,
        action="scoring.application_scored",
        entity_type="ScoringDecision",
        entity_id=row.id,
        after={
            "applicationId": application_id,
            "scorecardVersion": scorecard.version,
            "total": decision.total,
            "pd": decision.pd,
            "grade": decision.grade,
            "outcome": decision.outcome.value,
            "reasons": decision.reason_codes,
            "bureauStatus": bureau_status,
        },
    )
    scoring_events.emit_decision(session, row)
    return row, True


async def decisions_of_applications(
    session: AsyncSession, application_ids: list[uuid.UUID]
) -> dict[uuid.UUID, ScoringDecision]:
    """The latest decision of each application (for loaders; no access check: the caller
    decides what of it the principal sees)."""
    if not application_ids:
        return {}
    rows = (
        await session.execute(
            sa.select(ScoringDecision)
            .where(col(ScoringDecision.application_id).in_(application_ids))
            .order_by(col(ScoringDecision.created_at), col(ScoringDecision.id))
        )
    ).scalars()
    out: dict[uuid.UUID, ScoringDecision] = {}
    for row in rows:
        out[row.application_id] = row  # later ones win
    return out


async def get_decision(
    session: AsyncSession, *, principal: Principal, decision_id: uuid.UUID
) -> ScoringDecision:
    access.ensure_can_read(principal)
    row = (
        await session.execute(
            sa.select(ScoringDecision).where(
                col(ScoringDecision.id) == decision_id, access.decisions_visible_to(principal)
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("ScoringDecision", decision_id)
    return row


# --- population stability -------------------------------------------------------------------
async def psi_report(
    session: AsyncSession, *, lender_id: uuid.UUID, since: datetime, until: datetime
) -> tuple[Scorecard, psi.PsiReport] | None:
    """PSI of the decisions made with the lender's active version in [since, until) against
    its development sample; ``None`` without an active version or a development sample."""
    card = await active_scorecard(session, lender_id=lender_id)
    if card is None or not card.development:
        return None
    rows = (
        await session.execute(
            sa.select(col(ScoringDecision.total), col(ScoringDecision.attributes)).where(
                col(ScoringDecision.scorecard_id) == card.id,
                col(ScoringDecision.created_at) >= since,
                col(ScoringDecision.created_at) < until,
            )
        )
    ).all()
    return card, psi.report(parsed(card), card.development, [(r[0], r[1]) for r in rows])


async def read_decision(
    session: AsyncSession, *, principal: Principal, decision_id: uuid.UUID
) -> tuple[ScoringDecision, bool]:
    """A decision and whether the principal sees it in full (the lender's staff with
    ``scoring:read``, administrators) or only its reasons (the applicant). Anyone else:
    :class:`NotFound`."""
    row = await session.get(ScoringDecision, decision_id)
    if row is None:
        raise NotFound("ScoringDecision", decision_id)
    staff = principal.is_admin or (
        principal.has_scope(Scope.SCORING_READ) and principal.partner_id == row.lender_id
    )
    if staff:
        return row, True
    if access.customer_reasons_visible(principal, row.customer_id):
        return row, False
    raise NotFound("ScoringDecision", decision_id)

"""One scoring run of a submitted application, as the worker does it:

1. read the facts and the lender's active scorecard (a short read session);
2. ask the bureau, outside any transaction (a bureau that is down or answers nonsense is
   recorded as UNAVAILABLE and the application is referred, never silently approved);
3. score with the pure engine;
4. in one transaction: store the decision (idempotent per application, scorecard version
   and input hash) and hand it to origination (``apply_decision``), which moves the
   application on — both or neither.

An application no longer SUBMITTED when the run starts or commits (withdrawn, decided by
an earlier run) is left alone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from domain.origination.models import ApplicationState, CreditApplication
from domain.scoring import facts as facts_module
from domain.scoring import service
from domain.scoring.bureau import BureauClient
from domain.scoring.engine import Outcome, score
from domain.scoring.errors import BureauUnavailable, NoActiveScorecard
from domain.scoring.features import BUREAU_FEATURES
from domain.shared.time import utcnow

log = logging.getLogger("trama.scoring")

SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class ApplyDecision(Protocol):
    def __call__(
        self,
        session: AsyncSession,
        *,
        application_id: uuid.UUID,
        decision_id: uuid.UUID,
        outcome: str,
        grade: str | None,
        reasons: list[str],
    ) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class RunResult:
    application_id: uuid.UUID
    status: str  # SCORED | DUPLICATE | SKIPPED
    decision_id: uuid.UUID | None = None
    outcome: str | None = None
    grade: str | None = None
    total: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "applicationId": str(self.application_id),
            "status": self.status,
            "decisionId": str(self.decision_id) if self.decision_id else None,
            "outcome": self.outcome,
            "grade": self.grade,
            "total": self.total,
        }


async def score_application(
    application_id: uuid.UUID,
    *,
    read: SessionFactory,
    write: SessionFactory,
    bureau: BureauClient | None,
    apply_decision: ApplyDecision,
) -> RunResult:
    started = utcnow()
    async with read() as session:
        gathered = await facts_module.gather(session, application_id)
        if gathered.state != ApplicationState.SUBMITTED.value:
            return RunResult(application_id, "SKIPPED")
        scorecard = await service.active_scorecard(session, lender_id=gathered.lender_id)
        if scorecard is None:
            raise NoActiveScorecard(gathered.lender_id)
    card = service.parsed(scorecard)
    facts = dict(gathered.facts)
    bureau_summary: dict[str, Any] | None = None
    bureau_status = "OK"
    if card.features & BUREAU_FEATURES:
        try:
            if bureau is None:
                raise BureauUnavailable("no bureau is configured (TRAMA_BUREAU_URL)")
            report = await bureau.report(gathered.subject)
        except BureauUnavailable as exc:
            log.warning("bureau unavailable for application %s: %s", application_id, exc.reason)
            bureau_status = "UNAVAILABLE"
            bureau_summary = {"error": exc.reason[:200]}
            facts.update(dict.fromkeys(BUREAU_FEATURES))
        else:
            bureau_summary = report.summary()
            facts.update(report.facts())
    decision = score(card, facts, bureau_available=bureau_status == "OK")
    inputs = facts_module.canonical(facts)
    digest = facts_module.input_hash(facts, {"status": bureau_status})
    async with write() as session:
        app = await session.get(CreditApplication, application_id)
        if app is None or app.state != ApplicationState.SUBMITTED.value:
            return RunResult(application_id, "SKIPPED")
        row, created = await service.record_decision(
            session,
            application_id=application_id,
            lender_id=gathered.lender_id,
            customer_id=gathered.customer_id,
            scorecard=scorecard,
            decision=decision,
            inputs=inputs,
            input_hash=digest,
            bureau_status=bureau_status,
            bureau=bureau_summary,
            started_at=started,
        )
        await apply_decision(
            session,
            application_id=application_id,
            decision_id=row.id,
            outcome=row.outcome,
            grade=row.grade if row.outcome != Outcome.REJECT.value else None,
            reasons=[r["code"] for r in row.reasons],
        )
    return RunResult(
        application_id,
        "SCORED" if created else "DUPLICATE",
        decision_id=row.id,
        outcome=row.outcome,
        grade=row.grade,
        total=row.total,
    )

"""Demo scoring data: every lender gets the reference scorecard as its active version 1,
with a development distribution from a synthetic history of 4,000 applications, and that
history as a CSV file (``var/scoring/history-<LENDER>.csv``) for ``trama scoring fit``.
Deterministic; a lender that has a scorecard already is left alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col

from app.db import transaction
from domain.partners.models import Partner, PartnerKind
from domain.scoring import history, psi, service
from domain.scoring.card import parse
from domain.scoring.defaults import reference_document
from domain.scoring.models import Scorecard, ScorecardSource
from domain.shared.principal import SYSTEM

HISTORY_ROWS = 4000


async def seed_scoring(var_dir: Path) -> int:
    """Scorecards activated (one per lender that had none)."""
    document = reference_document()
    rows = history.synthetic_rows(HISTORY_ROWS)
    facts = [{k: r[k] for k in history.HISTORY_FEATURES} for r in rows]
    development = psi.development(parse(document), facts)
    activated = 0
    async with transaction() as session:
        lenders = list(
            (
                await session.execute(
                    sa.select(Partner)
                    .where(col(Partner.kind) == PartnerKind.LENDER.value)
                    .order_by(col(Partner.code))
                )
            ).scalars()
        )
        for lender in lenders:
            has = await session.scalar(
                sa.select(sa.func.count())
                .select_from(Scorecard)
                .where(col(Scorecard.lender_id) == lender.id)
            )
            if has:
                continue
            card = await service.create_scorecard(
                session,
                principal=SYSTEM,
                lender_id=lender.id,
                name="Autos 2026 (reference)",
                document=document,
                source=ScorecardSource.SEED,
                development=development,
                metrics={"rows": HISTORY_ROWS, "note": "reference card, not fitted"},
            )
            await service.activate_scorecard(session, principal=SYSTEM, scorecard_id=card.id)
            activated += 1
    folder = var_dir / "scoring"
    for lender in lenders:
        path = folder / f"history-{lender.code}.csv"
        if not path.exists():
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(history.write_csv, rows, path)
    return activated

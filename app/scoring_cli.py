"""``trama scoring fit|activate|psi``: fit a new scorecard version from a lender's history
(stored as a DRAFT), activate a version, and the population stability report.

``fit --history FILE``: a CSV with a header naming features (``domain/scoring/features.py``)
and ``bad`` (0/1); see ``domain/scoring/history.py``. pandas, scikit-learn and optbinning
are loaded by this command only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.settings import Settings

EXIT_OK = 0
EXIT_REFUSED = 2


async def _lender(session: Any, code: str | None) -> Any:
    import sqlalchemy as sa

    from domain.partners.models import Partner, PartnerKind

    query = sa.select(Partner)
    if code:
        query = query.where(Partner.code == code)  # type: ignore[arg-type]
    else:
        query = query.where(Partner.kind == PartnerKind.LENDER.value).order_by(Partner.code)  # type: ignore[arg-type]
    return (await session.execute(query.limit(1))).scalar_one_or_none()


def cmd_fit(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _with_db
    from app.db import read_session, transaction
    from domain.scoring import history, service
    from domain.scoring.fit import fit
    from domain.scoring.models import ScorecardSource
    from domain.shared.errors import DomainError
    from domain.shared.principal import SYSTEM

    try:
        features, rows, targets = history.read_rows(Path(args.history))
    except (OSError, history.HistoryProblem) as exc:
        print(f"trama scoring fit: {exc}", file=sys.stderr)
        return EXIT_REFUSED

    async def work() -> dict[str, Any] | str:
        async with read_session() as session:
            lender = await _lender(session, args.lender)
            if lender is None:
                return f"no lender {args.lender or '(none in the network)'}"
            active = await service.active_scorecard(session, lender_id=lender.id)
        result = await asyncio.to_thread(
            fit, features, rows, targets, base=active.document if active else None
        )
        async with transaction() as session:
            card = await service.create_scorecard(
                session,
                principal=SYSTEM,
                lender_id=lender.id,
                name=args.name or f"Fitted from {Path(args.history).name}",
                document=result.document,
                source=ScorecardSource.FIT,
                development=result.development,
                metrics=result.metrics,
            )
        return {
            "scorecardId": str(card.id),
            "lender": lender.code,
            "version": card.version,
            "status": card.status,
            **result.metrics,
        }

    try:
        out = asyncio.run(_with_db(settings, work))
    except DomainError as exc:
        print(f"trama scoring fit: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    if isinstance(out, str):
        print(f"trama scoring fit: {out}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(out, indent=2))
    return EXIT_OK


def cmd_activate(args: argparse.Namespace, settings: Settings) -> int:
    import sqlalchemy as sa

    from app.cli import _with_db
    from app.db import transaction
    from domain.scoring import service
    from domain.scoring.models import Scorecard
    from domain.shared.errors import DomainError
    from domain.shared.principal import SYSTEM

    async def work() -> dict[str, Any] | str:
        async with transaction() as session:
            lender = await _lender(session, args.lender)
            if lender is None:
                return f"no lender {args.lender}"
            card = (
                await session.execute(
                    sa.select(Scorecard).where(
                        Scorecard.lender_id == lender.id,
                        Scorecard.version == args.version,
                    )
                )
            ).scalar_one_or_none()
            if card is None:
                return f"{lender.code} has no scorecard version {args.version}"
            card = await service.activate_scorecard(session, principal=SYSTEM, scorecard_id=card.id)
            return {"lender": lender.code, "version": card.version, "status": card.status}

    try:
        out = asyncio.run(_with_db(settings, work))
    except DomainError as exc:
        print(f"trama scoring activate: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    if isinstance(out, str):
        print(f"trama scoring activate: {out}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(out))
    return EXIT_OK


def cmd_psi(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _with_db
    from app.db import read_session
    from domain.scoring import service
    from domain.shared.time import utcnow

    async def work() -> dict[str, Any] | str:
        async with read_session() as session:
            lender = await _lender(session, args.lender)
            if lender is None:
                return f"no lender {args.lender}"
            until = utcnow()
            found = await service.psi_report(
                session, lender_id=lender.id, since=until - timedelta(days=args.days), until=until
            )
        if found is None:
            return f"{lender.code} has no active scorecard with a development sample"
        card, report = found
        return {
            "lender": lender.code,
            "version": card.version,
            "days": args.days,
            "rows": report.rows,
            "developmentRows": report.development_rows,
            "lines": [{"name": x.name, "psi": str(x.psi), "band": x.band} for x in report.lines],
        }

    out = asyncio.run(_with_db(settings, work))
    if isinstance(out, str):
        print(f"trama scoring psi: {out}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(out, indent=2))
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser("scoring", help="scorecards: fit a version, activate it, stability")
    scoring_sub = p.add_subparsers(dest="scoring_command", required=True)
    f = scoring_sub.add_parser("fit", help="fit a DRAFT scorecard version from a history CSV")
    f.add_argument("--history", required=True, help="CSV: feature columns and bad (0/1)")
    f.add_argument("--lender", help="the lender partner's code (default: the first lender)")
    f.add_argument("--name", help="the version's name")
    f.set_defaults(func=cmd_fit)
    a = scoring_sub.add_parser("activate", help="make a version the lender's active one")
    a.add_argument("--lender", required=True)
    a.add_argument("--version", required=True, type=int)
    a.set_defaults(func=cmd_activate)
    s = scoring_sub.add_parser("psi", help="population stability of recent decisions")
    s.add_argument("--lender", help="the lender partner's code (default: the first lender)")
    s.add_argument("--days", type=int, default=30, help="decisions of the last N days")
    s.set_defaults(func=cmd_psi)

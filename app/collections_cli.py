"""``trama collections …`` and ``trama reports …``: collections work and financial reports
from the command line, as the system (the same services as the workers and the API).

``trama collections run [--lender CODE] [--day YYYY-MM-DD]``
    Today's run in every timezone of open credits (or of one lender's credits), batch by
    batch, as ``collections.run_daily`` does; ``--day`` runs that business day instead and
    records nothing (the scheduled runs go on). Prints one JSON object per timezone.

``trama reports generate --lender CODE --kind KIND --period PERIOD [--restate]``
    Compute and keep a report (its files in the report store); prints it as JSON.

``trama reports rerun ID``
    Compute a kept report again from the same facts; exit status 1 if it is not byte for
    byte the same.

``trama reports list --lender CODE``
    The lender's kept reports, newest first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import date
from typing import Any

from app.settings import Settings


def register_collections(sub: Any) -> None:
    r = sub.add_parser("run", help="run the day's collections work (queues, steps, promises)")
    r.add_argument("--lender", help="only this lender (partner code)")
    r.add_argument("--day", help="this business day (YYYY-MM-DD) instead of today; records nothing")
    r.set_defaults(func=cmd_run)


def register_reports(sub: Any) -> None:
    g = sub.add_parser("generate", help="compute and keep a financial report")
    g.add_argument("--lender", required=True, help="partner code")
    g.add_argument(
        "--kind", required=True, choices=["RECONCILIATION", "AGING", "COLLECTIONS", "PORTFOLIO"]
    )
    g.add_argument("--period", required=True, help="2026-11-30, 2026-11 or 2026-11-01/2026-11-15")
    g.add_argument("--restate", action="store_true", help="a new revision from the facts known now")
    g.set_defaults(func=cmd_generate)
    r = sub.add_parser("rerun", help="compute a kept report again and compare")
    r.add_argument("id", help="the report's id")
    r.set_defaults(func=cmd_rerun)
    listing = sub.add_parser("list", help="a lender's kept reports")
    listing.add_argument("--lender", required=True, help="partner code")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(func=cmd_list)


async def _partner_id(code: str) -> uuid.UUID:
    import sqlalchemy as sa

    from app.db import read_session
    from domain.partners.models import Partner

    async with read_session() as session:
        found = (
            await session.execute(
                sa.select(Partner.id).where(Partner.code == code.strip().upper())  # type: ignore[call-overload]
            )
        ).first()
    if found is None:
        raise SystemExit(f"trama: no partner {code!r}")
    return uuid.UUID(str(found[0]))


def _report_json(report: Any) -> dict[str, Any]:
    return {
        "id": str(report.id),
        "kind": report.kind,
        "periodStart": report.period_start.isoformat(),
        "periodEnd": report.period_end.isoformat(),
        "revision": report.revision,
        "knownAt": report.known_at.isoformat(),
        "figuresSha256": report.figures_sha256,
        "csv": {"key": report.csv_key, "sha256": report.csv_sha256, "size": report.csv_size},
        "xlsx": {"key": report.xlsx_key, "sha256": report.xlsx_sha256, "size": report.xlsx_size},
    }


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    import domain.tables  # noqa: F401 - every table, for the foreign keys
    from app.cli import _with_db

    async def work() -> int:
        from app.db import read_session
        from domain.collections import work as collections
        from domain.credits.policy import today
        from workers.actors.collections_work import run_day

        partner = await _partner_id(args.lender) if args.lender else None
        forced = date.fromisoformat(args.day) if args.day else None
        async with read_session() as session:
            timezones = await collections.open_timezones(session, partner)
        for timezone in timezones:
            totals = await run_day(
                timezone,
                forced or today(timezone),
                partner_id=partner,
                record=forced is None and partner is None,
            )
            print(json.dumps(totals, ensure_ascii=False))
        return 0

    return int(asyncio.run(_with_db(settings, work)))


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    import domain.tables  # noqa: F401
    from app.cli import _with_db

    async def work() -> int:
        from app.db import transaction
        from app.report_links import report_store
        from domain.collections.reports import service as reports
        from domain.shared.principal import SYSTEM

        partner = await _partner_id(args.lender)
        async with transaction() as session:
            report = await reports.generate_report(
                session,
                principal=SYSTEM,
                store=report_store(settings),
                lender_id=partner,
                kind=args.kind,
                period=args.period,
                restate=args.restate,
            )
        print(json.dumps(_report_json(report), ensure_ascii=False))
        return 0

    return int(asyncio.run(_with_db(settings, work)))


def cmd_rerun(args: argparse.Namespace, settings: Settings) -> int:
    import domain.tables  # noqa: F401
    from app.cli import _with_db

    async def work() -> int:
        from app.db import transaction
        from domain.collections.reports import service as reports
        from domain.shared.principal import SYSTEM

        async with transaction() as session:
            result = await reports.rerun_report(
                session, principal=SYSTEM, report_id=uuid.UUID(args.id)
            )
        print(
            json.dumps(
                {
                    **_report_json(result.report),
                    "identical": result.identical,
                    "rerunFiguresSha256": result.figures_sha256,
                },
                ensure_ascii=False,
            )
        )
        return 0 if result.identical else 1

    return int(asyncio.run(_with_db(settings, work)))


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    import domain.tables  # noqa: F401
    from app.cli import _with_db

    async def work() -> int:
        from app.db import read_session
        from domain.collections.reports import service as reports
        from domain.shared.principal import SYSTEM

        partner = await _partner_id(args.lender)
        async with read_session() as session:
            page = await reports.list_reports(
                session, principal=SYSTEM, lender_id=partner, limit=args.limit
            )
        for report in page.items:
            print(json.dumps(_report_json(report), ensure_ascii=False))
        return 0

    return int(asyncio.run(_with_db(settings, work)))

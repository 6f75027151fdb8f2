"""Scheduled financial reports.

``collections.scheduled_reports`` (every hour): for each lender (a partner holding credits)
and each day that is over in its timezone, the daily reports of yesterday
(``TRAMA_REPORTS_DAILY``) and, on the first of a month, the monthly reports of the month
before (``TRAMA_REPORTS_MONTHLY``) are generated and kept with their files, each in a
transaction of its own. Generating is idempotent (a period reported is not reported
again), so the hourly job only works once per day and lender; a lender that could not be
reported one hour is tried the next.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from app.db import read_session, transaction
from app.report_links import report_store
from app.settings import get_settings
from domain.collections.reports import service as reports
from domain.shared.principal import SYSTEM
from domain.shared.time import local_today
from workers.registry import RetryPolicy, job

log = logging.getLogger("trama.workers.reports")

REPORT_JOB = "collections.scheduled_reports"


def due_reports(today: date, daily: list[str], monthly: list[str]) -> list[tuple[str, str]]:
    """(kind, period) of the reports due on ``today``: yesterday's daily ones, and on the
    first of a month the month before's."""
    yesterday = today - timedelta(days=1)
    wanted = [(kind, yesterday.isoformat()) for kind in daily]
    if today.day == 1:
        wanted += [(kind, yesterday.strftime("%Y-%m")) for kind in monthly]
    return wanted


@job(
    REPORT_JOB,
    every=timedelta(hours=1),
    retry=RetryPolicy(max_retries=3, time_limit_ms=60 * 60_000),
)
async def scheduled_reports(*, on: str | None = None) -> list[dict[str, Any]]:
    """``on`` (ISO date, a manual run): act as if that were today everywhere."""
    settings = get_settings()
    store = report_store(settings)
    async with read_session() as session:
        lenders = await reports.lenders_to_report(session)
    made: list[dict[str, Any]] = []
    for partner in lenders:
        today = date.fromisoformat(on) if on else local_today(reports.lender_timezone(partner))
        for kind, period in due_reports(today, settings.reports_daily, settings.reports_monthly):
            try:
                async with transaction() as session:
                    report = await reports.generate_report(
                        session,
                        principal=SYSTEM,
                        store=store,
                        lender_id=partner.id,
                        kind=kind,
                        period=period,
                        trigger="SCHEDULED",
                    )
            except Exception:
                log.exception(
                    "report %s %s of %s failed; the next hour tries again",
                    kind,
                    period,
                    partner.code,
                )
                continue
            if report.trigger == "SCHEDULED" and report.generated_by == SYSTEM.subject:
                made.append(
                    {
                        "lender": partner.code,
                        "kind": kind,
                        "period": period,
                        "revision": report.revision,
                    }
                )
    return made

"""Scheduled financial reports.

``collections.scheduled_reports`` (every hour): for each lender (a partner holding credits
or collection accounts) and each day that is over in its timezone, the daily reports
(``TRAMA_REPORTS_DAILY``) of the last :data:`CATCH_UP_DAYS` days and the monthly reports
(``TRAMA_REPORTS_MONTHLY``) of the month before are generated and kept with their files,
each in a transaction of its own. Generating is idempotent (a period reported is returned,
not reported again), so a run costs a lookup per report once the day's are made, and
an outage of the workers (a whole 1st of the month, a long weekend) is caught up by the
next run; a lender that could not be reported one hour is tried the next.
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
from domain.shared.time import local_today, utcnow
from workers.registry import RetryPolicy, job

log = logging.getLogger("trama.workers.reports")

REPORT_JOB = "collections.scheduled_reports"


#: Days back a daily report is still made when the job did not run on its day.
CATCH_UP_DAYS = 7


def due_reports(today: date, daily: list[str], monthly: list[str]) -> list[tuple[str, str]]:
    """(kind, period) of the reports due on ``today``: the daily ones of the last
    :data:`CATCH_UP_DAYS` days (yesterday first) and the monthly ones of the month before."""
    days = [today - timedelta(days=n) for n in range(1, CATCH_UP_DAYS + 1)]
    wanted = [(kind, day.isoformat()) for day in days for kind in daily]
    last_month = today.replace(day=1) - timedelta(days=1)
    wanted += [(kind, last_month.strftime("%Y-%m")) for kind in monthly]
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
    started = utcnow()
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
            if report.known_at >= started:  # made by this run, not one kept before
                made.append(
                    {
                        "lender": partner.code,
                        "kind": kind,
                        "period": period,
                        "revision": report.revision,
                    }
                )
    return made

"""The collections jobs as the scheduler runs them: ``collections.run_daily`` runs each
timezone's business day of its lenders once (the lender's day, not the UTC date; a forced
day records nothing), and ``collections.scheduled_reports`` keeps every lender's daily and
monthly reports, catching up the days the workers missed and making nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from app.db import read_session, transaction
from app.settings import get_settings
from domain.collections import accounts
from domain.collections.work_models import QueueItem, Report
from domain.partners import service as partners
from domain.partners.models import PartnerKind
from domain.shared.jobs import ScheduledRun
from domain.shared.principal import SYSTEM
from domain.shared.time import clock_at
from tests.domain.collections_work.conftest import SANTIAGO, all_rows, today
from tests.domain.collections_work.conftest import customers as customers
from tests.domain.collections_work.conftest import db as db
from tests.domain.collections_work.conftest import ids as ids
from tests.domain.collections_work.conftest import lender as lender
from tests.domain.collections_work.conftest import make_credit as make_credit
from tests.domain.collections_work.conftest import supervisor as supervisor
from tests.domain.collections_work.conftest import team as team
from workers.actors import collections_reports, collections_work
from workers.registry import REGISTRY, load_modules


def _at(day: Any, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SANTIAGO).astimezone(UTC)


async def _ticks() -> list[tuple[str, int]]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(ScheduledRun.job, ScheduledRun.tick).where(  # type: ignore[call-overload]
                ScheduledRun.job.like("collections.daily:%")  # type: ignore[attr-defined]
            )
        )
        return sorted((r[0], r[1]) for r in rows)


def test_both_are_hourly_jobs() -> None:
    load_modules()
    assert REGISTRY.jobs[collections_work.RUN_JOB].every == timedelta(hours=1)
    assert REGISTRY.jobs[collections_reports.REPORT_JOB].every == timedelta(hours=1)


async def test_the_daily_run_takes_the_lenders_day_once(make_credit, team) -> None:
    late = await make_credit(disbursed_days_ago=70)
    day = today()
    evening = _at(day, 22, 30)  # in Santiago; already the next day in UTC
    assert evening.date() != day

    with clock_at(evening):
        first = await collections_work.run_daily()
        again = await collections_work.run_daily()
    assert [(r["timezone"], r["as_of"], r["opened"]) for r in first] == [
        ("America/Santiago", day.isoformat(), 1)
    ]
    assert again == []  # the day is done
    assert await _ticks() == [("collections.daily:America/Santiago", day.toordinal())]
    assert {i.credit_id for i in await all_rows(QueueItem)} == {late.id}

    # A day later the job runs that day; a forced run (``as_of``) runs a day and records none.
    with clock_at(_at(day + timedelta(days=1), 8)):
        forced = await collections_work.run_daily(as_of=(day + timedelta(days=3)).isoformat())
        assert [r["as_of"] for r in forced] == [(day + timedelta(days=3)).isoformat()]
        assert len(await _ticks()) == 1
        nxt = await collections_work.run_daily()
    assert [r["as_of"] for r in nxt] == [(day + timedelta(days=1)).isoformat()]
    assert len(await _ticks()) == 2


async def _reports() -> set[tuple[str, str, str, str]]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(Report.partner_id, Report.kind, Report.period_start, Report.trigger)  # type: ignore[call-overload]
        )
        return {(str(r[0]), r[1], r[2].isoformat(), r[3]) for r in rows}


async def test_scheduled_reports_catch_up_and_are_made_once(make_credit, lender) -> None:
    await make_credit(disbursed_days_ago=70)
    async with transaction() as session:
        newcomer = await partners.create_partner(
            session,
            principal=SYSTEM,
            code="PRESTA_NORTE",
            name="Presta Norte",
            country="MX",
            kind=PartnerKind.LENDER,
        )
        await accounts.register_bank_account(
            session,
            principal=SYSTEM,
            partner_id=newcomer.id,
            data=accounts.AccountInput(
                country="MX",
                bank_code=None,
                bank_name="BBVA México",
                number_kind="CLABE",
                account_number="002010077777777771",
                currency="MXN",
                label="Recaudación MXN",
            ),
        )
    # Last month, whose 1st the workers were down all day: the run three days later (its
    # lenders' day, by the clock) still makes the month before's reports and each day's.
    first_of_month = (today().replace(day=1) - timedelta(days=1)).replace(day=1)
    day = first_of_month + timedelta(days=3)
    with clock_at(_at(day, 10)):
        made = await collections_reports.scheduled_reports()
    last_month = (first_of_month - timedelta(days=1)).replace(day=1)
    by_lender: dict[str, set[tuple[str, str]]] = {}
    for m in made:
        by_lender.setdefault(m["lender"], set()).add((m["kind"], m["period"]))
    assert set(by_lender) >= {"AUTOCREDITO", "PRESTA_NORTE"}  # credits / an account only
    wanted_days = [first_of_month + timedelta(days=n) for n in (2, 1, 0, -1, -2, -3, -4)]
    settings = get_settings()
    expected = {(k, d.isoformat()) for d in wanted_days for k in settings.reports_daily}
    expected |= {(k, last_month.strftime("%Y-%m")) for k in settings.reports_monthly}
    assert by_lender["AUTOCREDITO"] == expected
    kept = await _reports()
    assert (str(lender), "PORTFOLIO", last_month.isoformat(), "SCHEDULED") in kept
    assert all(trigger == "SCHEDULED" for *_, trigger in kept)

    # The next hour: everything is kept already, nothing is made again.
    with clock_at(_at(day, 11)):
        again = await collections_reports.scheduled_reports()
    assert again == []
    assert await _reports() == kept

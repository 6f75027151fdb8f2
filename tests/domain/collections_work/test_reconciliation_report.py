"""The reconciliation report from the statement lines and the matcher's history of
decisions and bookings: per-account counts by state, matched by rule, exceptions by
reason, the backlog by age, applied amounts; as known at the report's instant (later
decisions and reversals do not change a rerun)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import transaction
from app.storage import LocalFileStore
from domain.collections.matching_models import LineApplication, LineDecision
from domain.collections.models import BankAccount, BankStatement, StatementFile, StatementLine
from domain.collections.reports import service as reports
from domain.shared.time import clock_at, utcnow
from domain.tables import metadata
from tests.domain.collections_work.conftest import SANTIAGO, pay


def _at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SANTIAGO).astimezone(UTC)


async def _clear_statements() -> None:
    doomed = {"bank_accounts"}
    changed = True
    while changed:
        changed = False
        for table in metadata.sorted_tables:
            if table.name not in doomed and any(
                fk.column.table.name in doomed for fk in table.foreign_keys
            ):
                doomed.add(table.name)
                changed = True
    async with transaction() as session:
        lines = metadata.tables["statement_lines"]
        await session.execute(lines.update().values(reverses_line_id=None))
        for table in reversed(metadata.sorted_tables):
            if table.name in doomed:
                await session.execute(table.delete())


@pytest.fixture
async def account(lender: uuid.UUID) -> BankAccount:
    await _clear_statements()
    async with transaction() as session:
        account = BankAccount(
            partner_id=lender,
            country="CL",
            bank_code="012",
            bank_name="Banco del Estado",
            number_kind="LOCAL",
            account_number="98765432100",
            currency="CLP",
            label="Recaudación",
        )
        session.add(account)
        await session.flush()
        return account


class Book:
    def __init__(self, account: BankAccount) -> None:
        self.account = account
        self.statement: uuid.UUID | None = None
        self.position = 0

    async def line(self, booked: date, amount: int) -> uuid.UUID:
        async with transaction() as session:
            if self.statement is None:
                file = StatementFile(
                    partner_id=self.account.partner_id,
                    sha256="0" * 64,
                    file_name="cartola.sta",
                    size=100,
                    kind="MT940",
                    channel="API",
                    received_by="test",
                )
                session.add(file)
                await session.flush()
                statement = BankStatement(
                    file_id=file.id,
                    account_id=self.account.id,
                    partner_id=self.account.partner_id,
                    kind="MT940",
                    statement_ref="S1",
                    currency="CLP",
                    integrity="OK",
                    schema_status="NOT_APPLICABLE",
                )
                session.add(statement)
                await session.flush()
                self.statement = statement.id
            self.position += 1
            line = StatementLine(
                statement_id=self.statement,
                booked_statement_id=self.statement,
                account_id=self.account.id,
                partner_id=self.account.partner_id,
                identity_key=f"ref:{self.position}",
                position=self.position,
                booking_date=booked,
                amount=amount,
                currency="CLP",
                direction="CREDIT" if amount > 0 else "DEBIT",
            )
            session.add(line)
            await session.flush()
            return line.id

    async def decide(self, line_id: uuid.UUID, state: str, **extra: Any) -> uuid.UUID:
        async with transaction() as session:
            await session.execute(
                sa.update(LineDecision).where(LineDecision.line_id == line_id).values(current=False)  # type: ignore[arg-type]
            )
            decision = LineDecision(
                line_id=line_id,
                partner_id=self.account.partner_id,
                state=state,
                kind=extra.pop("kind", "AUTO"),
                decided_by="collections.reconcile",
                **extra,
            )
            session.add(decision)
            await session.execute(
                sa.update(StatementLine).where(StatementLine.id == line_id).values(state=state)  # type: ignore[arg-type]
            )
            await session.flush()
            return decision.id


async def test_the_reconciliation_of_a_day(account, make_credit, supervisor, tmp_path: Path):
    book = Book(account)
    day = date(2026, 11, 30)
    credit = await make_credit(disbursed_days_ago=40)
    with clock_at(_at(day, 18)):
        matched = await book.line(day, 100_000)
        decision = await book.decide(
            matched, "AUTO_MATCHED", rule_code="REFERENCIA", rule_set_version=1, confidence=100
        )
        payment = await pay(credit.id, 100_000, day)
        async with transaction() as session:
            session.add(
                LineApplication(
                    line_id=matched,
                    decision_id=decision,
                    partner_id=account.partner_id,
                    credit_id=credit.id,
                    payment_id=payment.id,
                    kind="PAYMENT",
                    amount=100_000,
                    currency="CLP",
                    idempotency_key=f"line:{matched}",
                    status="BOOKED",
                )
            )
        odd = await book.line(day, 50_000)
        await book.decide(odd, "EXCEPTION", reason="AMOUNT_MISMATCH")
        untouched = await book.line(day, 30_000)
        fee = await book.line(day, -1_500)
        await book.decide(fee, "IGNORED", reason="BANK_FEE")
        manual = await book.line(day, 20_000)
        await book.decide(manual, "AUTO_MATCHED", kind="USER")
    with clock_at(_at(day - timedelta(days=19))):
        old = await book.line(day - timedelta(days=20), 70_000)
        await book.decide(old, "UNMATCHED")

    store = LocalFileStore(tmp_path / "files")
    async with transaction() as session:
        report = await reports.generate_report(
            session,
            principal=supervisor,
            store=store,
            lender_id=None,
            kind="RECONCILIATION",
            period="2026-11-30",
        )
    data = report.data

    def table(name: str) -> list[dict[str, Any]]:
        found = next(t for t in data["tables"] if t["name"] == name)
        keys = [c["key"] for c in found["columns"]]
        return [dict(zip(keys, row, strict=True)) for row in found["rows"]]

    lines = table("lines")[0]
    assert lines["account"] == "Recaudación (Banco del Estado)"
    assert (lines["lines"], lines["credited"], lines["debited"]) == (
        5,
        {"amount": "200000", "currency": "CLP"},
        {"amount": "1500", "currency": "CLP"},
    )
    assert [lines[s] for s in ("NEW", "AUTO_MATCHED", "EXCEPTION", "IGNORED", "UNMATCHED")] == [
        1,
        2,
        1,
        1,
        0,
    ]
    assert {(r["rule"], r["lines"]) for r in table("rules")} == {("REFERENCIA", 1), ("MANUAL", 1)}
    assert table("exceptions") == [
        {
            "currency": "CLP",
            "reason": "AMOUNT_MISMATCH",
            "lines": 1,
            "amount": {"amount": "50000", "currency": "CLP"},
        }
    ]
    backlog = {r["age"]: r for r in table("unmatched")}
    assert (backlog["0-1"]["lines"], backlog["0-1"]["NEW"], backlog["0-1"]["EXCEPTION"]) == (
        2,
        1,
        1,
    )
    old_lines = backlog["16-30"]
    assert (old_lines["lines"], old_lines["UNMATCHED"], old_lines["oldest"]) == (
        1,
        1,
        "2026-11-10",
    )
    applied = table("accounts")[0]
    assert applied["applied"] == {"amount": "100000", "currency": "CLP"} and applied["credits"] == 1
    summary = {f["key"]: f["value"] for f in data["summary"]}
    assert summary["autoMatchRate"] == "0.2500"  # 1 of 4 money-in lines by a rule
    assert summary["backlog"] == 3 and summary["oldestOpenDays"] == 20

    # worked afterwards: the untouched line matched, the booking reversed — a rerun does not move
    await book.decide(untouched, "AUTO_MATCHED", rule_code="RUT_Y_MONTO", rule_set_version=1)
    async with transaction() as session:
        await session.execute(
            sa.update(LineApplication).values(status="REVERSED", reversed_at=utcnow())
        )
    async with transaction() as session:
        rerun = await reports.rerun_report(session, principal=supervisor, report_id=report.id)
    assert rerun.identical and rerun.csv_sha256 == report.csv_sha256

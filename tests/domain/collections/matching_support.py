"""Helpers of the matching tests: credits of the demo lender for customers with a known RUT,
statement lines written straight into a statement of a test account (what ingestion
stores), runs of the reconciliation, and reading back decisions and payments."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.db import read_session, transaction
from domain.collections import matching
from domain.collections.matching_models import LineApplication, LineDecision
from domain.collections.models import BankStatement, StatementFile, StatementLine
from domain.credits import service as credits
from domain.credits.models import Credit, Installment, Payment
from domain.customers.models import Customer
from domain.shared import time as clock
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import SYSTEM
from domain.shared.time import utcnow

SANTIAGO = ZoneInfo("America/Santiago")


def today() -> date:
    return clock.local_today(SANTIAGO)


async def customers_with_rut(count: int) -> list[tuple[uuid.UUID, str]]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(Customer.id, Customer.national_id)  # type: ignore[call-overload]
            .where(Customer.national_id_type == "CL_RUT")
            .order_by(Customer.id)
            .limit(count)
        )
        return [(r[0], r[1]) for r in rows]


async def make_credit(
    lender: uuid.UUID,
    customer_id: uuid.UUID,
    *,
    amount: str = "1200000",
    term: int = 12,
    days_ago: int = 40,
    currency: str = "CLP",
) -> Credit:
    async with transaction() as session:
        credit = await credits.create_credit(
            session,
            principal=SYSTEM,
            customer_id=customer_id,
            product_code="AUTO",
            currency=currency,
            amount=amount,
            annual_rate=Decimal("0.12"),
            term_months=term,
            disbursement_date=today() - timedelta(days=days_ago),
            partner_id=lender,
        )
        return await credits.disburse_credit(
            session,
            principal=SYSTEM,
            credit_id=credit.id,
            expected_version=credit.version,
            disbursement_date=today() - timedelta(days=days_ago),
        )


async def installments(credit_id: uuid.UUID) -> list[Installment]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(Installment)
            .where(Installment.credit_id == credit_id)  # type: ignore[arg-type]
            .order_by(Installment.number)  # type: ignore[arg-type]
        )
        return list(rows.scalars())


async def owed(credit_id: uuid.UUID) -> int:
    """What the first unpaid installment owes today (late interest of the stored ledger)."""
    first = next(i for i in await installments(credit_id) if i.status != "PAID")
    return (
        first.amount
        + first.late_interest_accrued
        - first.principal_paid
        - first.interest_paid
        - first.charges_paid
        - first.late_interest_paid
        - first.principal_written_off
        - first.interest_written_off
        - first.charges_written_off
        - first.late_interest_written_off
    )


_OPTIONAL = (
    "instructed_amount",
    "instructed_currency",
    "reverses_line_id",
    "bank_reference",
    "end_to_end_id",
    "transaction_id",
    "customer_reference",
    "creditor_reference",
    "remittance_info",
    "counterparty_name",
    "counterparty_account",
    "counterparty_bank",
    "counterparty_national_id_type",
    "counterparty_national_id",
    "counterparty_id_raw",
    "bank_transaction_code",
    "bank_transaction_text",
    "batch_key",
    "batch_amount",
    "batch_size",
)


def line(amount: int, **values: Any) -> dict[str, Any]:
    """A statement line's columns (credit unless the amount is negative)."""
    return {"amount": amount, **values}


async def statement(
    account_id: uuid.UUID,
    partner_id: uuid.UUID,
    lines: list[dict[str, Any]],
    day: date | None = None,
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A statement of ``lines`` stored as ingestion stores one (lines NEW)."""
    day = day or today()
    now = utcnow()
    file_id, statement_id = uuid7(), uuid7()
    ids = []
    rows = []
    for n, values in enumerate(lines, start=1):
        line_id = values.pop("id", None) or uuid7()
        ids.append(line_id)
        amount = values.pop("amount")
        booking = values.pop("booking_date", day)
        optional = dict.fromkeys(_OPTIONAL)
        optional.update(values)
        rows.append(
            {
                **optional,
                "id": line_id,
                "statement_id": statement_id,
                "booked_statement_id": statement_id,
                "account_id": account_id,
                "partner_id": partner_id,
                "identity_key": f"h:{hashlib.sha256(str(line_id).encode()).hexdigest()[:32]}",
                "position": n,
                "booking_date": booking,
                "value_date": values.pop("value_date", booking),
                "amount": amount,
                "currency": values.pop("currency", "CLP"),
                "direction": "CREDIT" if amount > 0 else "DEBIT",
                "is_reversal": values.pop("is_reversal", False),
                "state": "NEW",
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    async with transaction() as session:
        await session.execute(
            sa.insert(table_of(StatementFile)).values(
                id=file_id,
                partner_id=partner_id,
                sha256=hashlib.sha256(str(file_id).encode()).hexdigest(),
                file_name="test.sta",
                size=1,
                kind="MT940",
                channel="CLI",
                received_by="test",
                received_at=now,
                statement_count=1,
                line_count=len(rows),
                new_line_count=len(rows),
            )
        )
        await session.execute(
            sa.insert(table_of(BankStatement)).values(
                id=statement_id,
                file_id=file_id,
                account_id=account_id,
                partner_id=partner_id,
                kind="MT940",
                statement_ref=f"T{statement_id.hex[:12]}",
                currency="CLP",
                credit_total=sum(r["amount"] for r in rows if r["amount"] > 0),
                debit_total=sum(r["amount"] for r in rows if r["amount"] < 0),
                line_count=len(rows),
                new_line_count=len(rows),
                interim=False,
                integrity="UNCHECKED",
                schema_status="NOT_APPLICABLE",
                problems=[],
                received_at=now,
            )
        )
        if rows:
            await session.execute(sa.insert(table_of(StatementLine)), rows)
    return statement_id, ids


async def reconcile(lender: uuid.UUID, statement_id: uuid.UUID) -> matching.RunResult:
    async with transaction() as session:
        return await matching.reconcile(session, partner_id=lender, statement_id=statement_id)


async def line_row(line_id: uuid.UUID) -> StatementLine:
    async with read_session() as session:
        found = await session.get(StatementLine, line_id)
        assert found is not None
        return found


async def decisions(line_id: uuid.UUID) -> list[LineDecision]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(LineDecision)
            .where(LineDecision.line_id == line_id)  # type: ignore[arg-type]
            .order_by(LineDecision.created_at, LineDecision.id)  # type: ignore[arg-type]
        )
        return list(rows.scalars())


async def current(line_id: uuid.UUID) -> LineDecision:
    return [d for d in await decisions(line_id) if d.current][-1]


async def applications(line_id: uuid.UUID) -> list[LineApplication]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(LineApplication).where(LineApplication.line_id == line_id)  # type: ignore[arg-type]
        )
        return list(rows.scalars())


async def payments_of(credit_id: uuid.UUID) -> list[Payment]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(Payment)
            .where(Payment.credit_id == credit_id)  # type: ignore[arg-type]
            .order_by(Payment.paid_at, Payment.id)  # type: ignore[arg-type]
        )
        return list(rows.scalars())

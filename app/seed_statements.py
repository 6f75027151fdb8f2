"""Demo data of statements in: a collection account of the demo lender (AutoCrédito Club,
CLP at BancoEstado) and one MT940 of yesterday, ingested, whose lines pay some demo credits
the way customers pay (for the reconciliation to match):

- the next installment, exactly, with the credit's reference in the transfer's text;
- the next installment of another credit, naming only the payer's RUT;
- a third credit's installment plus 1,000 pesos too much, with the reference;
- a bank fee (a debit) and a deposit nobody can identify.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.db import read_session, transaction
from domain.collections import accounts, ingestion
from domain.collections.models import BankAccount, Channel
from domain.credits.models import Credit, Installment
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared import national_ids
from domain.shared.national_ids import NationalIdType
from domain.shared.principal import SYSTEM
from domain.shared.time import local_today

ACCOUNT_NUMBER = "000012345678"
IDENTIFIER = "BECHCLRM/000012345678"
TIMEZONE = "America/Santiago"


async def _due(lender: Partner, limit: int) -> list[tuple[str, int, str | None]]:
    """(credit reference, next installment still owed, payer's RUT) of open CLP credits."""
    credits, installments, customers = (
        Credit.__table__,  # type: ignore[attr-defined]
        Installment.__table__,  # type: ignore[attr-defined]
        Customer.__table__,  # type: ignore[attr-defined]
    )
    owed = (
        installments.c.amount
        - installments.c.principal_paid
        - installments.c.interest_paid
        - installments.c.charges_paid
    )
    other = installments.alias("open_installments")
    first_open = (
        sa.select(sa.func.min(other.c.number))
        .where(
            other.c.credit_id == credits.c.id,
            other.c.schedule_no == credits.c.schedule_no,
            other.c.status.in_(("PENDING", "PARTIAL")),
        )
        .correlate(credits)
        .scalar_subquery()
    )
    query = (
        sa.select(credits.c.reference, owed, customers.c.national_id_type, customers.c.national_id)
        .select_from(credits)
        .join(
            installments,
            sa.and_(
                installments.c.credit_id == credits.c.id,
                installments.c.schedule_no == credits.c.schedule_no,
                installments.c.number == first_open,
            ),
        )
        .join(customers, customers.c.id == credits.c.customer_id)
        .where(
            credits.c.partner_id == lender.id,
            credits.c.currency == "CLP",
            credits.c.status.in_(("ACTIVE", "DELINQUENT")),
        )
        .order_by(credits.c.reference)
        .limit(limit)
    )
    async with read_session() as session:
        rows = (await session.execute(query)).all()
    out = []
    for reference, amount, id_type, number in rows:
        rut = None
        if id_type == NationalIdType.CL_RUT.value:
            rut = national_ids.display(NationalIdType.CL_RUT, number)
        out.append((reference, int(amount), rut))
    return [row for row in out if row[1] > 0]


def _mt940(day_text: str, lines: list[tuple[int, str, str]]) -> bytes:
    yymmdd = day_text
    mmdd = day_text[2:]
    body = []
    total = 0
    for index, (amount, reference, details) in enumerate(lines, start=1):
        mark = "C" if amount > 0 else "D"
        total += amount
        body.append(
            f":61:{yymmdd}{mmdd}{mark}{abs(amount)},NTRF{reference}//DEMO{yymmdd}{index:04d}"
        )
        body.append(f":86:{details}")
    opening = 2_500_000
    closing = opening + total
    text = "\r\n".join(
        [
            "{1:F01BECHCLRMAXXX0000000000}{2:O9401900"
            + yymmdd
            + "BECHCLRMAXXX0000000000"
            + yymmdd
            + "1900N}{4:",
            f":20:DEMO{yymmdd}",
            f":25:{IDENTIFIER}",
            ":28C:00001/001",
            f":60F:C{yymmdd}CLP{opening},",
            *body,
            f":62F:C{yymmdd}CLP{closing},",
            "-}",
            "",
        ]
    )
    return text.encode()


async def seed_statements(lender: Partner) -> int:
    """Register the demo account and ingest yesterday's statement; lines stored."""
    async with read_session() as session:
        exists = (
            await session.execute(
                sa.select(BankAccount.id).where(BankAccount.account_number == ACCOUNT_NUMBER)  # type: ignore[call-overload]
            )
        ).first()
    if exists is not None:
        return 0
    async with transaction() as session:
        await accounts.register_bank_account(
            session,
            principal=SYSTEM,
            partner_id=lender.id,
            data=accounts.AccountInput(
                country="CL",
                bank_code="012",
                bank_name="Banco del Estado de Chile",
                number_kind="LOCAL",
                account_number=ACCOUNT_NUMBER,
                currency="CLP",
                label="Recaudación cuotas (CLP)",
                bic="BECHCLRM",
                statement_identifier=IDENTIFIER,
            ),
        )
    due = await _due(lender, 3)
    lines: list[tuple[int, str, str]] = []
    if len(due) > 0:
        reference, amount, rut = due[0]
        lines.append(
            (amount, reference, f"TRANSFERENCIA DE {rut or ''} PAGO CUOTA {reference}".strip())
        )
    if len(due) > 1:
        reference, amount, rut = due[1]
        lines.append((amount, "NONREF", f"TRANSF. ELECTRONICA DE RUT {rut or 'SIN RUT'}"))
    if len(due) > 2:
        reference, amount, rut = due[2]
        lines.append((amount + 1000, reference, f"DEPOSITO CUOTA {reference}"))
    lines.append((-1_190, "NONREF", "COMISION TRANSFERENCIA ENTRANTE"))
    lines.append((37_500, "NONREF", "DEPOSITO EN EFECTIVO SUCURSAL 045"))
    yesterday = local_today(TIMEZONE) - timedelta(days=1)
    content = _mt940(yesterday.strftime("%y%m%d"), lines)
    async with transaction() as session:
        result = await ingestion.ingest_file(
            session,
            principal=SYSTEM,
            content=content,
            file_name=f"demo-{yesterday.isoformat()}.sta",
            channel=Channel.SEED,
        )
    return result.new_line_count

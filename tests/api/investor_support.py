"""Helpers for the investors API tests: documents, tokens, demo rows, credits and payments."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from stdnum.cl import rut
from strawberry import relay

from app.db import read_session, transaction
from app.seed_investors import INVESTORS
from domain.credits import payments as credit_payments
from domain.credits import service as credits
from domain.credits.models import Credit, Installment
from domain.customers.models import Customer
from domain.investors import service as investors
from domain.investors.models import (
    CreditFunding,
    DistributionLine,
    Investor,
    SettlementRun,
    SettlementStatement,
)
from domain.investors.rules import BankAccount
from domain.partners.models import Partner
from domain.shared import national_ids, outbox
from domain.shared.audit import AuditRecord
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.principal import SYSTEM
from domain.shared.time import utcnow

SANTIAGO = ZoneInfo("America/Santiago")

INVESTOR_FIELDS = """
    id kind legalName country email piiMasked version kycStatus kycNote
    nationalId { type number country }
    bankAccount { bankCode accountType number }
"""

BASE_ERRORS = """
    ... on UserError { message code }
    ... on ValidationError { field problems { field message } }
"""
NOT_FOUND = "... on NotFoundError { entity id }"
CONFLICT = "... on ConflictError { currentVersion }"

CREATE = f"""
mutation Create($input: CreateInvestorInput!) {{
  createInvestor(input: $input) {{
    __typename
    ... on CreateInvestorSuccess {{ investor {{ {INVESTOR_FIELDS} }} }}
    {BASE_ERRORS}
  }}
}}
"""

UPDATE = f"""
mutation Update($input: UpdateInvestorInput!) {{
  updateInvestor(input: $input) {{
    __typename
    ... on UpdateInvestorSuccess {{ investor {{ {INVESTOR_FIELDS} }} }}
    {BASE_ERRORS} {NOT_FOUND} {CONFLICT}
  }}
}}
"""

KYC = f"""
mutation Kyc($input: ChangeInvestorKycInput!) {{
  changeInvestorKyc(input: $input) {{
    __typename
    ... on ChangeInvestorKycSuccess {{ investor {{ {INVESTOR_FIELDS} }} }}
    ... on InvalidTransitionError {{ fromState toState }}
    {BASE_ERRORS} {NOT_FOUND} {CONFLICT}
  }}
}}
"""

FUND = f"""
mutation Fund($input: FundCreditInput!) {{
  fundCredit(input: $input) {{
    __typename
    ... on FundCreditSuccess {{
      creditFundedShare
      funding {{
        id creditId creditReference share servicingFeeRate effectiveOn
        invested {{ amount currency minorUnits }}
        investor {{ id legalName }}
      }}
    }}
    {BASE_ERRORS} {NOT_FOUND}
  }}
}}
"""

GET = f"query Get($id: ID!) {{ investor(id: $id) {{ {INVESTOR_FIELDS} }} }}"

LIST = """
query List($filter: InvestorFilter, $first: Int, $after: String) {
  investors(filter: $filter, first: $first, after: $after) {
    totalCount
    edges { cursor node { id legalName kycStatus nationalId { number } } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""

PORTFOLIO_FIELDS = """
    asOf
    investor { id legalName }
    currencies {
      currency xirr xirrPercent
      invested { amount minorUnits }
      outstandingPrincipal { minorUnits }
      writtenOffPrincipal { minorUnits }
      receivedPrincipal { minorUnits }
      receivedInterest { minorUnits }
      receivedLateInterest { minorUnits }
      fees { minorUnits }
      interestEarned { minorUnits }
      expectedPrincipal { minorUnits }
      expectedInterest { minorUnits }
      expected { minorUnits }
      received { minorUnits }
      exposure { bucket outstandingPrincipal { minorUnits } }
      positions {
        creditId creditReference creditStatus share daysPastDue agingBucket
        invested { minorUnits } outstandingPrincipal { minorUnits }
      }
    }
"""

PORTFOLIO = f"""
query P($id: ID!, $asOf: Date) {{
  investorPortfolio(investorId: $id, asOf: $asOf) {{ {PORTFOLIO_FIELDS} }}
}}
"""

MY_PORTFOLIO = f"query {{ myInvestorPortfolio {{ {PORTFOLIO_FIELDS} }} }}"

_bodies = itertools.count(20_000_000 + (uuid.uuid4().int % 1000) * 10_000)


def new_rut() -> str:
    body = next(_bodies)
    return f"{body}-{rut.calc_check_digit(str(body))}"


def gid(type_name: str, key: uuid.UUID | str) -> str:
    return str(relay.GlobalID(type_name, str(key)))


def key_of(global_id: str) -> uuid.UUID:
    return uuid.UUID(relay.GlobalID.from_id(global_id).node_id)


def data(body: dict[str, Any], field: str) -> Any:
    assert "errors" not in body, body
    return body["data"][field]


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def investor_token(runtime: Any, investor_id: uuid.UUID | str | None, **extra: Any) -> str:
    issued, _ = runtime.tokens.issue(
        subject=f"investor:{investor_id}",
        roles=["investor"],
        investor_id=str(investor_id) if investor_id else None,
        **extra,
    )
    return str(issued)


def new_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "COMPANY",
        "legalName": "  Inversiones   Pacífico SpA ",
        "nationalId": {"type": "CL_RUT", "number": new_rut()},
        "bankAccount": {"bankCode": "012", "accountType": "VISTA", "number": "12-345-678"},
        "email": "Tesoreria@Pacifico.CL",
    }
    values.update(overrides)
    return values


# --- database ---------------------------------------------------------------------------------
COUNTED: dict[str, Any] = {
    "investors": Investor,
    "fundings": CreditFunding,
    "lines": DistributionLine,
    "runs": SettlementRun,
    "statements": SettlementStatement,
    "audit": AuditRecord,
    "outbox": outbox.OutboxEvent,
}


async def counts() -> dict[str, int]:
    """Rows of every table the investors domain writes, plus audit and outbox."""
    out = {}
    async with read_session() as session:
        for name, model in COUNTED.items():
            query = sa.select(sa.func.count()).select_from(model)
            out[name] = int((await session.execute(query)).scalar_one())
    return out


async def investor_rows() -> list[tuple[Any, ...]]:
    investors_table = table_of(Investor)
    async with read_session() as session:
        rows = await session.execute(sa.select(investors_table).order_by(investors_table.c.id))
    return [tuple(r) for r in rows]


async def demo_investors() -> dict[str, Investor]:
    """The investors of ``app/seed_investors.py`` by their code."""
    wanted = {national_ids.parse("CL_RUT", d.rut).number: d.code for d in INVESTORS}
    async with read_session() as session:
        rows = (await session.execute(sa.select(Investor))).scalars().all()
    return {wanted[i.national_id]: i for i in rows if i.national_id in wanted}


async def credits_by_plate() -> dict[str, Credit]:
    async with read_session() as session:
        rows = (await session.execute(sa.select(Credit))).scalars().all()
    return {c.vehicle_ref: c for c in rows if c.vehicle_ref}


async def partner_id(code: str) -> uuid.UUID:
    async with read_session() as session:
        found = await session.execute(sa.select(Partner.id).where(Partner.code == code))  # type: ignore[arg-type]
    return found.scalar_one()


async def make_investor(*, verified: bool = True, name: str = "Capital Sur SpA") -> Investor:
    async with transaction() as session:
        investor = await investors.create_investor(
            session,
            principal=SYSTEM,
            kind="COMPANY",
            legal_name=name,
            national_id_type="CL_RUT",
            national_id=new_rut(),
            bank_account=BankAccount("001", "CHECKING", "0012345678"),
            email="finanzas@capitalsur.example.cl",
        )
        if verified:
            investor = await investors.change_kyc_status(
                session, principal=SYSTEM, investor_id=investor.id, status="VERIFIED"
            )
    return investor


async def make_credit(*, amount: int = 12_000_000, term: int = 12) -> Credit:
    """An APPROVED CLP credit of AUTOCREDITO, to be disbursed ``disburse`` days ago."""
    lender = await partner_id("AUTOCREDITO")
    async with read_session() as session:
        customer = (await session.execute(sa.select(Customer.id).limit(1))).scalar_one()  # type: ignore[call-overload]
    async with transaction() as session:
        return await credits.create_credit(
            session,
            principal=SYSTEM,
            customer_id=customer,
            product_code="AUTO",
            currency="CLP",
            amount=Money(amount, "CLP"),
            annual_rate=Decimal("0.18"),
            term_months=term,
            disbursement_date=utcnow().date() - timedelta(days=100),
            partner_id=lender,
        )


async def disburse(credit_id: uuid.UUID, on: date) -> Credit:
    async with transaction() as session:
        credit = await session.get(Credit, credit_id)
        assert credit is not None
        return await credits.disburse_credit(
            session,
            principal=SYSTEM,
            credit_id=credit_id,
            expected_version=credit.version,
            disbursement_date=on,
        )


async def dues(credit_id: uuid.UUID) -> list[tuple[date, int]]:
    async with read_session() as session:
        t = table_of(Installment)
        rows = await session.execute(
            sa.select(t.c.due_date, t.c.amount)
            .where(t.c.credit_id == credit_id, t.c.schedule_no == 1)
            .order_by(t.c.number)
        )
    return [(r[0], int(r[1])) for r in rows]


async def pay(credit_id: uuid.UUID, amount: int, on: date) -> None:
    async with transaction() as session:
        await credit_payments.register_payment(
            session,
            principal=SYSTEM,
            credit_id=credit_id,
            amount=Money(amount, "CLP"),
            paid_at=datetime.combine(on, time(12), tzinfo=SANTIAGO).astimezone(UTC),
            reference=f"ref-{uuid.uuid4().hex[:8]}",
            idempotency_key=uuid.uuid4().hex,
        )

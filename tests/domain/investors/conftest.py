"""Helpers for the investors tests: principals, investors, credits and payments."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from stdnum.cl import rut

from app.db import Database, read_session, transaction
from domain.credits import payments as credit_payments
from domain.credits import service as credits
from domain.credits.models import Credit
from domain.customers.models import Customer
from domain.investors import service
from domain.investors.models import (
    CreditFunding,
    DistributionLine,
    Investor,
    SettlementRun,
    SettlementStatement,
)
from domain.investors.rules import BankAccount
from domain.partners.models import Partner
from domain.shared import outbox
from domain.shared.audit import AuditRecord
from domain.shared.money import Money
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role, Scope
from domain.shared.time import utcnow

_bodies = itertools.count(11_000_000 + (uuid.uuid4().int % 1000) * 10_000)


def new_rut() -> str:
    body = next(_bodies)
    return f"{body}-{rut.calc_check_digit(str(body))}"


def staff(role: Role = Role.SUPERVISOR, partner: uuid.UUID | None = None) -> Principal:
    return Principal(
        subject=f"test:{role.value}",
        roles=frozenset({role}),
        scopes=ROLE_SCOPES[role],
        partner_id=partner,
    )


def investor_principal(investor_id: uuid.UUID | str | None) -> Principal:
    claims: dict[str, object] = {} if investor_id is None else {"investor_id": str(investor_id)}
    return Principal(
        subject=f"test:investor:{investor_id}",
        roles=frozenset({Role.INVESTOR}),
        scopes=ROLE_SCOPES[Role.INVESTOR],
        claims=claims,
    )


ADMIN = SYSTEM
NO_PII = Principal(
    subject="test:reader",
    roles=frozenset({Role.SUPERVISOR}),
    scopes=frozenset({Scope.INVESTORS_READ}),
)


def cl_account(number: str = "00123456789") -> BankAccount:
    return BankAccount(bank_code="012", account_type="VISTA", number=number)


async def make_investor(
    *, verified: bool = True, name: str = "Inversiones Andes SpA", principal: Principal = ADMIN
) -> Investor:
    async with transaction() as session:
        investor = await service.create_investor(
            session,
            principal=principal,
            kind="COMPANY",
            legal_name=name,
            national_id_type="CL_RUT",
            national_id=new_rut(),
            bank_account=cl_account(),
            email="tesoreria@andes.cl",
        )
        if verified:
            investor = await service.change_kyc_status(
                session, principal=principal, investor_id=investor.id, status="VERIFIED"
            )
    return investor


@dataclass
class World:
    lender_id: uuid.UUID
    customer_ids: list[uuid.UUID]


@pytest.fixture
async def world(db: Database) -> World:
    async with read_session() as session:
        lender = (
            await session.execute(sa.select(Partner.id).where(Partner.code == "AUTOCREDITO"))  # type: ignore[arg-type]
        ).scalar_one()
        customers = list(
            (await session.execute(sa.select(Customer.id).limit(20))).scalars().all()  # type: ignore[call-overload]
        )
    return World(lender_id=lender, customer_ids=customers)


async def make_credit(
    world: World,
    *,
    amount: int = 12_000_000,
    rate: str = "0.18",
    term: int = 12,
    disbursed_on: date | None = None,
    disburse: bool = True,
    monthly_insurance: int = 0,
) -> Credit:
    planned = disbursed_on or (utcnow().date() - timedelta(days=200))
    async with transaction() as session:
        credit = await credits.create_credit(
            session,
            principal=ADMIN,
            customer_id=world.customer_ids[0],
            product_code="AUTO",
            currency="CLP",
            amount=Money(amount, "CLP"),
            annual_rate=Decimal(rate),
            term_months=term,
            disbursement_date=planned,
            monthly_insurance=Money(monthly_insurance, "CLP") if monthly_insurance else None,
            partner_id=world.lender_id,
        )
    if disburse:
        credit = await disburse_credit(credit.id, planned)
    return credit


async def disburse_credit(credit_id: uuid.UUID, on: date) -> Credit:
    async with transaction() as session:
        credit = await session.get(Credit, credit_id)
        assert credit is not None
        return await credits.disburse_credit(
            session,
            principal=ADMIN,
            credit_id=credit_id,
            expected_version=credit.version,
            disbursement_date=on,
        )


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(16, 0), tzinfo=UTC)  # midday in Santiago


async def pay(credit_id: uuid.UUID, amount: int, on: date, key: str | None = None) -> uuid.UUID:
    async with transaction() as session:
        payment = await credit_payments.register_payment(
            session,
            principal=ADMIN,
            credit_id=credit_id,
            amount=Money(amount, "CLP"),
            paid_at=at_noon(on),
            reference=f"ref-{key or uuid.uuid4().hex[:8]}",
            idempotency_key=key or uuid.uuid4().hex,
        )
    return payment.id


async def reverse(payment_id: uuid.UUID) -> None:
    async with transaction() as session:
        await credit_payments.reverse_payment(
            session, principal=ADMIN, payment_id=payment_id, reason="bounced cheque"
        )


async def fund(
    credit_id: uuid.UUID, investor_id: uuid.UUID, share: str, fee: str | None = None
) -> CreditFunding:
    async with transaction() as session:
        return await service.fund_credit(
            session,
            principal=ADMIN,
            credit_id=credit_id,
            investor_id=investor_id,
            share=Decimal(share),
            servicing_fee_rate=Decimal(fee) if fee is not None else None,
        )


async def counts() -> dict[str, int]:
    """Rows of every table the investors domain writes, plus audit and outbox."""
    tables: dict[str, Any] = {
        "investors": Investor,
        "fundings": CreditFunding,
        "lines": DistributionLine,
        "runs": SettlementRun,
        "statements": SettlementStatement,
        "audit": AuditRecord,
        "outbox": outbox.OutboxEvent,
    }
    out = {}
    async with read_session() as session:
        for name, model in tables.items():
            out[name] = int(
                (await session.execute(sa.select(sa.func.count()).select_from(model))).scalar_one()
            )
    return out

"""Helpers of the statements tests: the demo lender and a second lender, their staff, bank
accounts, the statement files written for the tests (``files/``), and reading back what
ingestion stored."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.collections import accounts, ingestion
from domain.collections.ingestion import IngestPolicy, IngestResult
from domain.collections.models import (
    BankAccount,
    BankStatement,
    Channel,
    StatementFile,
    StatementLine,
)
from domain.partners import service as partners
from domain.partners.models import Partner, PartnerKind
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role

FILES = Path(__file__).with_name("files")


def read(name: str) -> bytes:
    return (FILES / name).read_bytes()


def person(role: Role, partner: uuid.UUID | None, subject: str = "test:person") -> Principal:
    return Principal(
        subject=subject, roles=frozenset({role}), scopes=ROLE_SCOPES[role], partner_id=partner
    )


@pytest.fixture
async def lender(db: Any) -> uuid.UUID:
    async with read_session() as session:
        partner = (
            await session.execute(sa.select(Partner).where(Partner.code == "AUTOCREDITO"))  # type: ignore[arg-type]
        ).scalar_one()
    return partner.id


@pytest.fixture
async def other_lender(db: Any) -> uuid.UUID:
    async with transaction() as session:
        partner = await partners.create_partner(
            session,
            principal=SYSTEM,
            code="PRESTA_NORTE",
            name="Presta Norte",
            country="MX",
            kind=PartnerKind.LENDER,
        )
    return partner.id


@pytest.fixture
def supervisor(lender: uuid.UUID) -> Principal:
    return person(Role.SUPERVISOR, lender, "test:supervisor")


AccountFactory = Callable[..., Awaitable[BankAccount]]


@pytest.fixture
def make_account(lender: uuid.UUID) -> AccountFactory:
    async def make(
        *,
        partner: uuid.UUID | None = None,
        country: str = "CL",
        bank_code: str | None = "012",
        kind: str = "LOCAL",
        number: str = "000123456789",
        currency: str = "CLP",
        identifier: str | None = None,
        mapping: dict[str, Any] | None = None,
        refuse_broken: bool | None = None,
        bank_name: str = "Banco del Estado de Chile",
    ) -> BankAccount:
        async with transaction() as session:
            return await accounts.register_bank_account(
                session,
                principal=SYSTEM,
                partner_id=partner or lender,
                data=accounts.AccountInput(
                    country=country,
                    bank_code=bank_code,
                    bank_name=bank_name,
                    number_kind=kind,
                    account_number=number,
                    currency=currency,
                    label=f"Recaudación {currency}",
                    statement_identifier=identifier,
                    column_mapping=mapping,
                    refuse_broken=refuse_broken,
                ),
            )

    return make


async def ingest(
    content: bytes,
    name: str,
    *,
    principal: Principal = SYSTEM,
    account: uuid.UUID | None = None,
    policy: IngestPolicy | None = None,
    channel: Channel = Channel.CLI,
) -> IngestResult:
    async with transaction() as session:
        return await ingestion.ingest_file(
            session,
            principal=principal,
            content=content,
            file_name=name,
            channel=channel,
            account_id=account,
            policy=policy,
        )


async def lines_of(account_id: uuid.UUID) -> list[StatementLine]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(StatementLine)
            .where(StatementLine.account_id == account_id)  # type: ignore[arg-type]
            .order_by(
                StatementLine.booking_date, StatementLine.statement_id, StatementLine.position
            )  # type: ignore[arg-type]
        )
        return list(rows.scalars())


async def statements_of(account_id: uuid.UUID) -> list[BankStatement]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(BankStatement)
            .where(BankStatement.account_id == account_id)  # type: ignore[arg-type]
            .order_by(BankStatement.id)  # type: ignore[arg-type]
        )
        return list(rows.scalars())


async def counts() -> dict[str, int]:
    """Rows of every table a refused file must leave untouched."""
    async with read_session() as session:
        out = {}
        for model in (StatementFile, BankStatement, StatementLine, OutboxEvent):
            out[model.__name__] = (
                await session.execute(sa.select(sa.func.count()).select_from(model))
            ).scalar_one()
        return out

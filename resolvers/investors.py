"""Investors, fundings, settlements and portfolios: one function per root field.

Reads check the permission first (so the answer never depends on the arguments of a caller
who may not ask), then call a checked domain service; nested fields use the request's
DataLoaders (``resolvers/investor_loaders.py``). Mutations run in one transaction through
``mutate`` and answer expected failures as typed errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.db import read_session
from domain.investors import access, settlements
from domain.investors import service as investors
from domain.investors.fundings import share_of
from domain.investors.portfolio import investor_portfolio as build_portfolio
from domain.investors.rules import BankAccount
from domain.shared.errors import Forbidden, NotFound, Problems, ValidationFailed
from domain.shared.pagination import clamp_page_size
from resolvers.context import principal_of
from resolvers.errors import mutate
from resolvers.ids import decode_node_id, require_node_id
from resolvers.pagination import selects, to_connection
from schema.investor_inputs import (
    BankAccountInput,
    ChangeInvestorKycInput,
    ChangeInvestorKycPayload,
    ChangeInvestorKycSuccess,
    CreateInvestorInput,
    CreateInvestorPayload,
    CreateInvestorSuccess,
    FundCreditInput,
    FundCreditPayload,
    FundCreditSuccess,
    InvestorFilter,
    MarkSettlementPaidInput,
    MarkSettlementPaidPayload,
    MarkSettlementPaidSuccess,
    RunSettlementInput,
    RunSettlementPayload,
    RunSettlementSuccess,
    UpdateInvestorInput,
    UpdateInvestorPayload,
    UpdateInvestorSuccess,
)
from schema.investor_portfolio import InvestorPortfolio
from schema.investors import (
    CreditFunding,
    Investor,
    InvestorConnection,
    SettlementRun,
    SettlementStatement,
    ensure_may_read_investors,
)

T = TypeVar("T")


def _limit(info: Info, first: int | None) -> int:
    settings = info.context.settings
    return clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )


# --- reads ----------------------------------------------------------------------------------
async def investors_list(
    info: Info,
    filter: InvestorFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> InvestorConnection:
    principal = principal_of(info)
    ensure_may_read_investors(principal)  # before any argument is judged
    limit = _limit(info, first)
    f = filter or InvestorFilter()
    async with read_session() as session:
        page = await investors.search_investors(
            session,
            principal=principal,
            text=f.search,
            kyc_status=f.kyc_status.value if f.kyc_status else None,
            limit=limit,
            after=after,
            with_total=selects(info, "totalCount"),
        )
    info.context.loaders.investors.prime_investors(page.items)
    return to_connection(page, lambda m: Investor.from_model(m, principal))


async def investor(info: Info, id: strawberry.ID) -> Investor | None:
    principal = principal_of(info)
    ensure_may_read_investors(principal)
    key = decode_node_id(id, "Investor")
    if key is None:
        return None
    async with read_session() as session:
        try:
            model = await investors.get_investor(session, principal=principal, investor_id=key)
        except NotFound:
            return None
    info.context.loaders.investors.prime_investors([model])
    return Investor.from_model(model, principal)


async def _portfolio(
    info: Info, investor_id: uuid.UUID, as_of: date | None
) -> InvestorPortfolio | None:
    principal = principal_of(info)
    async with read_session() as session:
        try:
            portfolio = await build_portfolio(
                session, principal=principal, investor_id=investor_id, as_of=as_of
            )
        except NotFound:
            return None
    return InvestorPortfolio.from_domain(portfolio)


async def investor_portfolio(
    info: Info, investor_id: strawberry.ID, as_of: date | None = None
) -> InvestorPortfolio | None:
    principal = principal_of(info)
    ensure_may_read_investors(principal)
    key = decode_node_id(investor_id, "Investor")
    if key is None:
        return None
    return await _portfolio(info, key, as_of)


async def my_investor_portfolio(info: Info, as_of: date | None = None) -> InvestorPortfolio:
    principal = principal_of(info)
    own = access.claimed_investor(principal)
    if own is None:
        raise Forbidden("only an investor has a portfolio of its own (an investor token)")
    portfolio = await _portfolio(info, own, as_of)
    if portfolio is None:
        raise NotFound("Investor", own)
    return portfolio


async def settlement_run(info: Info, id: strawberry.ID) -> SettlementRun | None:
    principal = principal_of(info)
    access.ensure_can_read_any(principal)
    key = decode_node_id(id, "SettlementRun")
    if key is None:
        return None
    async with read_session() as session:
        try:
            run = await settlements.get_settlement_run(session, principal=principal, run_id=key)
        except NotFound:
            return None
    return SettlementRun.from_model(run)


async def settlement_statement(info: Info, id: strawberry.ID) -> SettlementStatement | None:
    principal = principal_of(info)
    ensure_may_read_investors(principal)
    key = decode_node_id(id, "SettlementStatement")
    if key is None:
        return None
    async with read_session() as session:
        try:
            statement = await settlements.get_statement(
                session, principal=principal, statement_id=key
            )
        except NotFound:
            return None
    return SettlementStatement.from_model(statement)


# --- mutations ------------------------------------------------------------------------------
async def _run(info: Info, payload: Any, work: Callable[[AsyncSession], Awaitable[T]]) -> T | Any:
    """``mutate``, with the request's investor loaders emptied afterwards (a later field of
    the same document must not see stale rows)."""
    try:
        return await mutate(payload, work)
    finally:
        info.context.loaders.investors.forget()


def _account(value: BankAccountInput) -> BankAccount:
    return BankAccount(
        bank_code=value.bank_code, account_type=value.account_type.value, number=value.number
    )


async def create_investor(info: Info, input: CreateInvestorInput) -> CreateInvestorPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CreateInvestorSuccess:
        model = await investors.create_investor(
            session,
            principal=principal,
            kind=input.kind.value,
            legal_name=input.legal_name,
            national_id_type=input.national_id.type.value,
            national_id=input.national_id.number,
            bank_account=_account(input.bank_account),
            email=input.email,
        )
        return CreateInvestorSuccess(investor=Investor.from_model(model, principal))

    return await _run(info, CreateInvestorPayload, work)


async def update_investor(info: Info, input: UpdateInvestorInput) -> UpdateInvestorPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> UpdateInvestorSuccess:
        key = require_node_id(input.id, "Investor", "id")
        values: dict[str, Any] = {}
        problems = Problems()
        if input.legal_name is not strawberry.UNSET:
            if input.legal_name is None:
                problems.add("legalName", "cannot be removed")
            values["legal_name"] = input.legal_name
        if input.email is not strawberry.UNSET:
            values["email"] = input.email
        if input.national_id is not strawberry.UNSET:
            if input.national_id is None:
                problems.add("nationalId", "cannot be removed")
            else:
                values["national_id_type"] = input.national_id.type.value
                values["national_id"] = input.national_id.number
        if input.bank_account is not strawberry.UNSET:
            if input.bank_account is None:
                problems.add("bankAccount", "cannot be removed")
            else:
                values["bank_account"] = _account(input.bank_account)
        problems.raise_if_any()
        model = await investors.update_investor(
            session,
            principal=principal,
            investor_id=key,
            expected_version=input.version,
            changes=investors.InvestorChanges(values),
        )
        return UpdateInvestorSuccess(investor=Investor.from_model(model, principal))

    return await _run(info, UpdateInvestorPayload, work)


async def change_investor_kyc(
    info: Info, input: ChangeInvestorKycInput
) -> ChangeInvestorKycPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> ChangeInvestorKycSuccess:
        key = require_node_id(input.id, "Investor", "id")
        model = await investors.change_kyc_status(
            session,
            principal=principal,
            investor_id=key,
            status=input.status.value,
            note=input.note,
            expected_version=input.version,
        )
        return ChangeInvestorKycSuccess(investor=Investor.from_model(model, principal))

    return await _run(info, ChangeInvestorKycPayload, work)


async def fund_credit(info: Info, input: FundCreditInput) -> FundCreditPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> FundCreditSuccess:
        access.ensure_can_write(principal)  # before the ids are judged
        problems = Problems()
        credit_id = decode_node_id(input.credit_id, "Credit")
        if credit_id is None:
            problems.add("creditId", "is not the id of a Credit")
        investor_id = decode_node_id(input.investor_id, "Investor")
        if investor_id is None:
            problems.add("investorId", "is not the id of an Investor")
        problems.raise_if_any()
        assert credit_id is not None and investor_id is not None
        funding = await investors.fund_credit(
            session,
            principal=principal,
            credit_id=credit_id,
            investor_id=investor_id,
            share=input.share,
            servicing_fee_rate=input.servicing_fee_rate,
        )
        funded = await investors.funded_ppm(session, credit_id)
        return FundCreditSuccess(
            funding=CreditFunding.from_model(funding), credit_funded_share=share_of(funded)
        )

    return await _run(info, FundCreditPayload, work)


async def run_settlement(info: Info, input: RunSettlementInput) -> RunSettlementPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> RunSettlementSuccess:
        run = await settlements.run_settlement(
            session,
            principal=principal,
            period_start=input.period_start,
            period_end=input.period_end,
        )
        return RunSettlementSuccess(run=SettlementRun.from_model(run))

    return await _run(info, RunSettlementPayload, work)


async def mark_settlement_paid(
    info: Info, input: MarkSettlementPaidInput
) -> MarkSettlementPaidPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> MarkSettlementPaidSuccess:
        access.ensure_can_write(principal)  # before the id is judged
        key = decode_node_id(input.statement_id, "SettlementStatement")
        if key is None:
            raise ValidationFailed.on("statementId", "is not the id of a SettlementStatement")
        statement = await settlements.mark_settlement_paid(
            session,
            principal=principal,
            statement_id=key,
            paid_at=input.paid_at,
            reference=input.reference,
        )
        return MarkSettlementPaidSuccess(statement=SettlementStatement.from_model(statement))

    return await _run(info, MarkSettlementPaidPayload, work)

"""Mutations of the credit registry: each runs one transaction through ``mutate``; expected
failures come back as the payload's typed errors, with nothing written.

The permission is checked first, then the arguments. Domain field names are renamed to the
paths of the GraphQL input where they differ (``principal.amount``, ``lenderId``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.credits import payments, uf
from domain.credits import service as credits
from domain.credits.models import Credit as CreditModel
from domain.shared.errors import Problems, ValidationFailed
from domain.shared.money import Money as DomainMoney
from resolvers.context import principal_of
from resolvers.credits import money_from_input, renamed
from resolvers.errors import mutate
from resolvers.ids import require_node_id
from schema.credit_inputs import (
    CancelCreditInput,
    CancelCreditPayload,
    CancelCreditSuccess,
    CreateCreditInput,
    CreateCreditPayload,
    CreateCreditSuccess,
    CreditRefund,
    DisburseCreditInput,
    DisburseCreditPayload,
    DisburseCreditSuccess,
    LoadUfValuesPayload,
    LoadUfValuesSuccess,
    RefundCreditBalanceInput,
    RefundCreditBalancePayload,
    RefundCreditBalanceSuccess,
    RegisterPaymentInput,
    RegisterPaymentPayload,
    RegisterPaymentSuccess,
    RestructureCreditInput,
    RestructureCreditPayload,
    RestructureCreditSuccess,
    ReversePaymentInput,
    ReversePaymentPayload,
    ReversePaymentSuccess,
    WriteOffCreditInput,
    WriteOffCreditPayload,
    WriteOffCreditSuccess,
)
from schema.credit_ledger import money_of
from schema.credit_registry import Credit, Payment

T = TypeVar("T")

_CREATE_FIELDS = {
    "amount": "principal.amount",
    "currency": "principal.currency",
    "partnerId": "lenderId",
}
_AMOUNT_FIELDS = {"amount": "amount.amount", "currency": "amount.currency"}


def _plain(amount: Decimal) -> str:
    return format(amount, "f")


async def _run(
    info: Info,
    payload: Any,
    work: Callable[[AsyncSession], Awaitable[T]],
    names: Mapping[str, str] | None = None,
) -> T | Any:
    """``mutate`` with the domain's field names renamed, and the request's credit loaders
    emptied afterwards (a later field of the same document must not see stale rows)."""

    async def renaming(session: AsyncSession) -> T:
        try:
            return await work(session)
        except ValidationFailed as exc:
            raise renamed(exc, names or {}) from None

    try:
        return await mutate(payload, renaming)
    finally:
        info.context.loaders.credits.forget()


def _money_inputs(input: Any, *fields: str) -> dict[str, DomainMoney | None]:
    """Optional ``MoneyInput`` fields as domain ``Money`` (their own currency, checked)."""
    problems = Problems()
    out = {}
    for name in fields:
        camel = "".join(w if i == 0 else w.title() for i, w in enumerate(name.split("_")))
        out[name] = money_from_input(getattr(input, name), camel, problems)
    problems.raise_if_any()
    return out


# --- registry -------------------------------------------------------------------------------
async def create_credit(info: Info, input: CreateCreditInput) -> CreateCreditPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CreateCreditSuccess:
        credits.ensure_can_write(principal)
        customer_id = require_node_id(input.customer_id, "Customer", "customerId")
        lender_id = (
            require_node_id(input.lender_id, "Partner", "lenderId") if input.lender_id else None
        )
        charges = _money_inputs(input, "opening_fee", "monthly_insurance", "monthly_charges")
        model = await credits.create_credit(
            session,
            principal=principal,
            customer_id=customer_id,
            product_code=input.product_code,
            currency=input.principal.currency,
            amount=_plain(input.principal.amount),
            annual_rate=input.annual_rate,
            term_months=input.term_months,
            disbursement_date=input.disbursement_date,
            scheme=input.scheme.value,
            day_count=input.day_count.value,
            grace_months=input.grace_months,
            grace_kind=input.grace_kind.value,
            opening_fee=charges["opening_fee"],
            opening_fee_mode=input.opening_fee_mode.value,
            monthly_insurance=charges["monthly_insurance"],
            monthly_charges=charges["monthly_charges"],
            vehicle_ref=input.vehicle_ref,
            late_annual_rate=input.late_annual_rate,
            allocation_order=(
                [c.value for c in input.allocation_order] if input.allocation_order else None
            ),
            allocation_mode=input.allocation_mode.value if input.allocation_mode else None,
            partner_id=lender_id,
        )
        return CreateCreditSuccess(credit=Credit.from_model(model))

    return await _run(info, CreateCreditPayload, work, _CREATE_FIELDS)


async def disburse_credit(info: Info, input: DisburseCreditInput) -> DisburseCreditPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> DisburseCreditSuccess:
        credits.ensure_can_write(principal)
        model = await credits.disburse_credit(
            session,
            principal=principal,
            credit_id=require_node_id(input.id, "Credit", "id"),
            expected_version=input.version,
            disbursement_date=input.disbursement_date,
        )
        return DisburseCreditSuccess(credit=Credit.from_model(model))

    return await _run(info, DisburseCreditPayload, work)


async def cancel_credit(info: Info, input: CancelCreditInput) -> CancelCreditPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CancelCreditSuccess:
        credits.ensure_can_write(principal)
        model = await credits.cancel_credit(
            session,
            principal=principal,
            credit_id=require_node_id(input.id, "Credit", "id"),
            expected_version=input.version,
            reason=input.reason,
        )
        return CancelCreditSuccess(credit=Credit.from_model(model))

    return await _run(info, CancelCreditPayload, work)


async def write_off_credit(info: Info, input: WriteOffCreditInput) -> WriteOffCreditPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> WriteOffCreditSuccess:
        credits.ensure_can_write(principal)
        credits.ensure_supervisor(principal, "write off a credit")
        model = await credits.write_off_credit(
            session,
            principal=principal,
            credit_id=require_node_id(input.id, "Credit", "id"),
            expected_version=input.version,
            reason=input.reason,
        )
        return WriteOffCreditSuccess(credit=Credit.from_model(model))

    return await _run(info, WriteOffCreditPayload, work)


async def restructure_credit(info: Info, input: RestructureCreditInput) -> RestructureCreditPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> RestructureCreditSuccess:
        credits.ensure_can_write(principal)
        credits.ensure_supervisor(principal, "restructure a credit")
        model = await credits.restructure_credit(
            session,
            principal=principal,
            credit_id=require_node_id(input.id, "Credit", "id"),
            expected_version=input.version,
            term_months=input.term_months,
            reason=input.reason,
            annual_rate=input.annual_rate,
            scheme=input.scheme.value if input.scheme else None,
            grace_months=input.grace_months,
            grace_kind=input.grace_kind.value if input.grace_kind else None,
            restructure_date=input.restructure_date,
        )
        return RestructureCreditSuccess(credit=Credit.from_model(model))

    return await _run(info, RestructureCreditPayload, work)


# --- payments -------------------------------------------------------------------------------
async def _reloaded(session: AsyncSession, principal: Any, credit_id: Any) -> CreditModel:
    """The credit as the transaction left it (the services change it in place)."""
    return await credits.get_credit(session, principal=principal, credit_id=credit_id)


async def register_payment(info: Info, input: RegisterPaymentInput) -> RegisterPaymentPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> RegisterPaymentSuccess:
        payments.ensure_can_pay(principal)
        payment = await payments.register_payment(
            session,
            principal=principal,
            credit_id=require_node_id(input.credit_id, "Credit", "creditId"),
            amount=_plain(input.amount.amount),
            currency=input.amount.currency,
            paid_at=input.paid_at,
            reference=input.reference,
            idempotency_key=input.idempotency_key,
            prepayment=input.prepayment.value if input.prepayment else None,
            expected_version=input.expected_version,
        )
        credit = await _reloaded(session, principal, payment.credit_id)
        return RegisterPaymentSuccess(
            payment=Payment.from_model(payment, credit.currency), credit=Credit.from_model(credit)
        )

    return await _run(info, RegisterPaymentPayload, work, _AMOUNT_FIELDS)


async def reverse_payment(info: Info, input: ReversePaymentInput) -> ReversePaymentPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> ReversePaymentSuccess:
        payments.ensure_can_pay(principal)
        payment = await payments.reverse_payment(
            session,
            principal=principal,
            payment_id=require_node_id(input.id, "Payment", "id"),
            reason=input.reason,
            expected_version=input.expected_version,
        )
        credit = await _reloaded(session, principal, payment.credit_id)
        return ReversePaymentSuccess(
            payment=Payment.from_model(payment, credit.currency), credit=Credit.from_model(credit)
        )

    return await _run(info, ReversePaymentPayload, work)


async def refund_credit_balance(
    info: Info, input: RefundCreditBalanceInput
) -> RefundCreditBalancePayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> RefundCreditBalanceSuccess:
        credits.ensure_can_write(principal)
        credit_id = require_node_id(input.credit_id, "Credit", "creditId")
        amount = _money_inputs(input, "amount")["amount"]
        refund = await payments.refund_credit_balance(
            session,
            principal=principal,
            credit_id=credit_id,
            expected_version=input.version,
            reference=input.reference,
            amount=amount,
        )
        credit = await _reloaded(session, principal, credit_id)
        return RefundCreditBalanceSuccess(
            refund=CreditRefund(
                id=strawberry.ID(str(refund.id)),
                amount=money_of(refund.amount, credit.currency),
                refunded_at=refund.refunded_at,
                refunded_on=refund.refunded_on,
                reference=refund.reference,
            ),
            credit=Credit.from_model(credit),
        )

    return await _run(info, RefundCreditBalancePayload, work, _AMOUNT_FIELDS)


async def load_uf_values(info: Info, csv: str) -> LoadUfValuesPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> LoadUfValuesSuccess:
        uf.ensure_can_load(principal)
        result = await uf.load_uf_csv(session, principal=principal, csv_text=csv)
        return LoadUfValuesSuccess(
            inserted=result.inserted,
            updated=result.updated,
            unchanged=result.unchanged,
            first_day=result.first_day,
            last_day=result.last_day,
        )

    return await _run(info, LoadUfValuesPayload, work)

"""The credit registry in the API: credits (a federation entity) and their payments.

Rules behind the figures: ``docs/credits-ledger.md``. Every amount is ``Money`` in the
credit's currency unless said otherwise (a CLP payment on a UF credit keeps both).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from domain.credits import service as credits
from domain.credits.models import Credit as CreditModel
from domain.credits.models import Payment as PaymentModel
from domain.credits.plans import AllocationMode as AllocationModeEnum
from domain.credits.plans import Component as ComponentEnum
from domain.credits.plans import Prepayment as PrepaymentEnum
from domain.credits.states import CreditStatus as CreditStatusEnum
from domain.credits.states import PaymentStatus as PaymentStatusEnum
from domain.shared.pagination import clamp_page_size
from resolvers.context import principal_of
from resolvers.credit_loaders import PaymentsKey, PositionKey
from resolvers.ids import decode_node_id
from resolvers.pagination import selects, to_connection
from schema.common import Connection
from schema.credit_ledger import (
    AgingBucket,
    AllocationComponent,
    AllocationMode,
    CreditCharges,
    CreditInstallment,
    CreditPosition,
    CreditScheduleVersion,
    CreditStatus,
    PaymentAllocation,
    PaymentStatus,
    Prepayment,
    money_of,
)
from schema.credit_payoff import NextInstallment, PayoffQuote
from schema.credits import CreditScheme, DayCountConvention, GraceKind, OpeningFeeMode
from schema.customers import Customer
from schema.money import Money
from schema.partners import Partner


@strawberry.type(description="A payment received on a credit.")
class Payment(relay.Node):
    id: relay.NodeID[str]
    amount: Money = strawberry.field(description="As paid (CLP on a UF credit paid in pesos).")
    credit_amount: Money = strawberry.field(description="In the credit's currency.")
    uf_value: Decimal | None = strawberry.field(
        description="CLP per UF the payment was converted at (the value of its business date)."
    )
    paid_at: datetime
    paid_on: date = strawberry.field(description="Business date of paidAt for the lender.")
    reference: str
    idempotency_key: str
    prepayment: Prepayment | None
    status: PaymentStatus
    schedule_no: int = strawberry.field(description="The schedule in force when it was paid.")
    allocated_amount: Money = strawberry.field(description="Applied to installments.")
    held_amount: Money = strawberry.field(description="Kept as credit balance.")
    refunded_amount: Money = strawberry.field(description="Of the balance, paid back.")
    reversed_at: datetime | None
    reversal_reason: str | None
    created_at: datetime
    credit_id: strawberry.Private[uuid.UUID]
    currency: strawberry.Private[str]
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The credit it was paid on.")
    async def credit(self, info: Info) -> Credit:
        model = await info.context.loaders.credits.credit.load(self.credit_id)
        return Credit.from_model(model)

    @strawberry.field(description="Where the payment went (none once reversed).")
    async def allocations(self, info: Info) -> list[PaymentAllocation]:
        rows = await info.context.loaders.credits.allocations.load(self.key)
        return [PaymentAllocation.from_model(r, self.currency) for r in rows]

    @classmethod
    def from_model(cls, payment: PaymentModel, credit_currency: str) -> Payment:
        def m(amount: int) -> Money:
            return money_of(amount, credit_currency)

        return cls(
            id=str(payment.id),
            amount=money_of(payment.amount, payment.currency),
            credit_amount=m(payment.credit_amount),
            uf_value=payment.uf_value,
            paid_at=payment.paid_at,
            paid_on=payment.paid_on,
            reference=payment.reference,
            idempotency_key=payment.idempotency_key,
            prepayment=PrepaymentEnum(payment.prepayment) if payment.prepayment else None,
            status=PaymentStatusEnum(payment.status),
            schedule_no=payment.schedule_no,
            allocated_amount=m(payment.allocated_amount),
            held_amount=m(payment.held_amount),
            refunded_amount=m(payment.refunded_amount),
            reversed_at=payment.reversed_at,
            reversal_reason=payment.reversal_reason,
            created_at=payment.created_at,
            credit_id=payment.credit_id,
            currency=credit_currency,
            key=payment.id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Payment | None]:
        principal = principal_of(info)
        credits.ensure_can_read(principal)
        keys = [decode_node_id(n, "Payment") for n in node_ids]
        loaders = info.context.loaders.credits
        found = [p for p in await loaders.payment.load_many([k for k in keys if k]) if p]
        owners = await loaders.credit.load_many(list({p.credit_id for p in found}))
        visible = {c.id: c for c in owners if c is not None and credits.may_see(principal, c)}
        by_id = {p.id: p for p in found if p.credit_id in visible}
        return [
            cls.from_model(by_id[k], visible[by_id[k].credit_id].currency) if k in by_id else None
            for k in keys
        ]


PaymentConnection = Connection[Payment]


# --- credits --------------------------------------------------------------------------------
@strawberry.federation.type(keys=["id"], description="A credit granted by a lender to a customer.")
class Credit(relay.Node):
    id: relay.NodeID[str]
    reference: str = strawberry.field(description="CR-<year>-<number>.")
    product_code: str
    currency: str
    principal: Money = strawberry.field(description="The amount lent.")
    annual_rate: Decimal = strawberry.field(description="Nominal, as a fraction.")
    late_annual_rate: Decimal = strawberry.field(
        description="Late interest on overdue principal (applied capped at the policy maximum)."
    )
    term_months: int
    scheme: CreditScheme
    day_count: DayCountConvention
    grace_months: int
    grace_kind: GraceKind
    charges: CreditCharges
    allocation_order: list[AllocationComponent] = strawberry.field(
        description="The order a payment pays the components of what is due."
    )
    allocation_mode: AllocationMode
    vehicle_ref: str | None
    timezone: str = strawberry.field(description="The lender's: the credit's business dates.")
    planned_disbursement_date: date
    disbursement_date: date | None
    status: CreditStatus
    status_reason: str | None
    schedule_no: int = strawberry.field(description="The schedule in force.")
    days_past_due: int = strawberry.field(
        description="As of the last replay (a payment, or the daily run); position has today's."
    )
    aging_bucket: AgingBucket
    delinquent_since: date | None
    credit_balance: Money = strawberry.field(
        description="Overpayment held for the next installment or a refund."
    )
    outstanding_principal: Money
    paid_off_on: date | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int = strawberry.field(description="Send it back with changes; stale conflicts.")
    customer_id: strawberry.Private[uuid.UUID]
    partner_id: strawberry.Private[uuid.UUID]
    key: strawberry.Private[uuid.UUID]
    model: strawberry.Private[CreditModel]

    @strawberry.field
    async def customer(self, info: Info) -> Customer:
        shown = await Customer.load(info, self.customer_id)
        assert shown is not None  # a credit's customer always exists (foreign key)
        return shown

    @strawberry.field(description="The partner that lent it.")
    async def lender(self, info: Info) -> Partner:
        model = await info.context.loaders.partner.load(self.partner_id)
        return Partner.from_model(model)

    @strawberry.field(description="The installments of the schedule in force (stored figures).")
    async def installments(self, info: Info) -> list[CreditInstallment]:
        rows = await info.context.loaders.credits.current_rows.load(self.key)
        return [CreditInstallment.build(r, self.currency, self.schedule_no) for r in rows]

    @strawberry.field(description="Every schedule, the original first; restructures keep the old.")
    async def schedules(self, info: Info) -> list[CreditScheduleVersion]:
        headers = await info.context.loaders.credits.schedules.load(self.key)
        return [
            CreditScheduleVersion.from_model(h, self.currency, self.schedule_no) for h in headers
        ]

    @strawberry.field(description="Payments in the order they are allocated (paidAt, then id).")
    async def payments(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        include_reversed: bool = True,
    ) -> PaymentConnection:
        settings = info.context.settings
        limit = clamp_page_size(
            first, default=settings.default_page_size, maximum=settings.max_page_size
        )
        loaders = info.context.loaders.credits
        page = await loaders.payments.load(PaymentsKey(self.key, limit, include_reversed, after))
        connection = to_connection(page, lambda p: Payment.from_model(p, self.currency))
        if selects(info, "totalCount"):
            connection.total_count = await loaders.payment_counts.load((self.key, include_reversed))
        return connection

    @strawberry.field(
        description="Live figures as of a day (today in the lender's timezone by default); "
        "null for a credit not disbursed or cancelled."
    )
    async def position(self, info: Info, as_of: date | None = None) -> CreditPosition | None:
        result = await info.context.loaders.credits.positions.load(
            PositionKey(self.key, as_of, self.model)
        )
        if result is None:
            return None
        return CreditPosition.from_domain(result, self.currency, self.schedule_no)

    @strawberry.field(
        description="The first installment not fully paid (an overdue one first), as of "
        "today; null when nothing is owed or the credit is not running."
    )
    async def next_installment(self, info: Info) -> NextInstallment | None:
        from resolvers.credit_payoff import next_installment

        return await next_installment(info, self.key, self.model)

    @strawberry.field(
        description="What pays the credit off if paid by validUntil (today by default, at "
        "most 90 days ahead), to the minor unit. Null with a VALIDATION error when the "
        "credit is not running (paid off, written off, not disbursed)."
    )
    async def payoff_quote(self, info: Info, valid_until: date | None = None) -> PayoffQuote | None:
        from resolvers.credit_payoff import payoff_quote

        return await payoff_quote(info, self.key, valid_until)

    @classmethod
    def from_model(cls, credit: CreditModel) -> Credit:
        def m(amount: int) -> Money:
            return money_of(amount, credit.currency)

        return cls(
            id=str(credit.id),
            reference=credit.reference,
            product_code=credit.product_code,
            currency=credit.currency,
            principal=m(credit.principal),
            annual_rate=credit.annual_rate,
            late_annual_rate=credit.late_annual_rate,
            term_months=credit.term_months,
            scheme=CreditScheme(credit.scheme),
            day_count=DayCountConvention(credit.day_count),
            grace_months=credit.grace_months,
            grace_kind=GraceKind(credit.grace_kind),
            charges=CreditCharges(
                opening_fee=m(credit.opening_fee),
                opening_fee_mode=OpeningFeeMode(credit.opening_fee_mode),
                monthly_insurance=m(credit.monthly_insurance),
                monthly_charges=m(credit.monthly_charges),
            ),
            allocation_order=[ComponentEnum(c) for c in credit.allocation_order.split(",") if c],
            allocation_mode=AllocationModeEnum(credit.allocation_mode),
            vehicle_ref=credit.vehicle_ref,
            timezone=credit.timezone,
            planned_disbursement_date=credit.planned_disbursement_date,
            disbursement_date=credit.disbursement_date,
            status=CreditStatusEnum(credit.status),
            status_reason=credit.status_reason,
            schedule_no=credit.schedule_no,
            days_past_due=credit.days_past_due,
            aging_bucket=AgingBucket(credit.aging_bucket),
            delinquent_since=credit.delinquent_since,
            credit_balance=m(credit.credit_balance),
            outstanding_principal=m(credit.outstanding_principal),
            paid_off_on=credit.paid_off_on,
            closed_at=credit.closed_at,
            created_at=credit.created_at,
            updated_at=credit.updated_at,
            version=credit.version,
            customer_id=credit.customer_id,
            partner_id=credit.partner_id,
            key=credit.id,
            model=credit,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Credit | None]:
        principal = principal_of(info)
        credits.ensure_can_read(principal)
        keys = [decode_node_id(n, "Credit") for n in node_ids]
        found = await info.context.loaders.credits.credit.load_many([k for k in keys if k])
        visible = {c.id: c for c in found if c is not None and credits.may_see(principal, c)}
        return [cls.from_model(visible[k]) if k in visible else None for k in keys]

    @classmethod
    async def resolve_reference(cls, info: Info, **representation: Any) -> Credit | None:
        key = decode_node_id(representation.get("id"), "Credit")
        if key is None:
            return None
        principal = principal_of(info)
        credits.ensure_can_read(principal)
        model = await info.context.loaders.credits.credit.load(key)
        if model is None or not credits.may_see(principal, model):
            return None
        return cls.from_model(model)


CreditConnection = Connection[Credit]

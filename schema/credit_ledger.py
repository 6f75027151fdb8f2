"""Credit ledger figures in the API: statuses, schedules and their installments, live
positions, allocations (the parts of ``Credit`` and ``Payment`` with no link back to them).

Rules behind the figures: ``docs/credits-ledger.md``.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import TypeAlias

import strawberry
from strawberry.types import Info

from domain.credits import figures
from domain.credits.allocation import AllocationResult, InstallmentState
from domain.credits.models import Allocation as AllocationModel
from domain.credits.models import CreditSchedule as ScheduleModel
from domain.credits.models import Installment as InstallmentModel
from domain.credits.plans import AllocationMode as AllocationModeEnum
from domain.credits.plans import Component as ComponentEnum
from domain.credits.plans import Prepayment as PrepaymentEnum
from domain.credits.states import CreditStatus as CreditStatusEnum
from domain.credits.states import InstallmentStatus as InstallmentStatusEnum
from domain.credits.states import PaymentStatus as PaymentStatusEnum
from domain.credits.states import ScheduleReason as ScheduleReasonEnum
from domain.shared.money import Money as DomainMoney
from schema.credits import CreditScheme, DayCountConvention, GraceKind, OpeningFeeMode
from schema.money import Money

strawberry.enum(
    CreditStatusEnum,
    name="CreditStatus",
    description="APPROVED (registered, not disbursed) -> ACTIVE -> PAID_OFF; DELINQUENT while "
    "something is past due; RESTRUCTURED (paying a new schedule); WRITTEN_OFF; CANCELLED.",
)
strawberry.enum(
    InstallmentStatusEnum,
    name="InstallmentStatus",
    description="PENDING (nothing paid), PARTIAL, PAID (late interest included), "
    "RESTRUCTURED (replaced by a later schedule with something unpaid).",
)
strawberry.enum(PaymentStatusEnum, name="PaymentStatus")
strawberry.enum(
    ScheduleReasonEnum,
    name="ScheduleReason",
    description="ORIGINAL: built when the credit was registered (rebuilt on disbursement). "
    "RESTRUCTURE: built from the outstanding balance by a restructure.",
)
strawberry.enum(
    PrepaymentEnum,
    name="Prepayment",
    description="What a payment larger than what is due does with the rest. SHORTER_TERM: "
    "keep the installment, drop rows from the end. SMALLER_INSTALLMENT: keep the rows, lower "
    "the installment. Without it the rest is kept as credit balance.",
)
strawberry.enum(
    ComponentEnum,
    name="AllocationComponent",
    description="What part of an installment a payment paid.",
)
strawberry.enum(
    AllocationModeEnum,
    name="AllocationMode",
    description="INSTALLMENT_FIRST: the oldest installment first, each of its components in "
    "order. COMPONENT_FIRST: each component across every due installment before the next.",
)
CreditStatus: TypeAlias = CreditStatusEnum
InstallmentStatus: TypeAlias = InstallmentStatusEnum
PaymentStatus: TypeAlias = PaymentStatusEnum
ScheduleReason: TypeAlias = ScheduleReasonEnum
Prepayment: TypeAlias = PrepaymentEnum
AllocationComponent: TypeAlias = ComponentEnum
AllocationMode: TypeAlias = AllocationModeEnum


@strawberry.enum(description="Days past due, in the buckets collections and investors report.")
class AgingBucket(Enum):
    CURRENT = "CURRENT"
    DAYS_1_30 = "1-30"
    DAYS_31_60 = "31-60"
    DAYS_61_90 = "61-90"
    DAYS_91_180 = "91-180"
    OVER_180 = "180+"


def money_of(amount: int, currency: str) -> Money:
    return Money.from_domain(DomainMoney(amount, currency))


# --- schedules ------------------------------------------------------------------------------
@strawberry.type(description="One installment of a credit's schedule and what was paid on it.")
class CreditInstallment:
    schedule_no: int
    number: int
    due_date: date
    days: int = strawberry.field(description="Days of the period under the day count.")
    opening_balance: Money
    interest: Money
    capitalised: Money
    principal: Money
    insurance: Money
    other_charges: Money
    charges: Money = strawberry.field(description="insurance + otherCharges.")
    installment: Money = strawberry.field(
        description="interest - capitalised + principal + charges (late interest aside)."
    )
    closing_balance: Money
    principal_paid: Money
    interest_paid: Money
    charges_paid: Money
    late_interest_accrued: Money = strawberry.field(
        description="Late interest on this row's overdue principal, to the day the figures "
        "are as of (a stored row: the credit's last replay; a position: its asOf)."
    )
    late_interest_paid: Money
    paid: Money = strawberry.field(description="Everything paid on the row, late interest too.")
    principal_written_off: Money
    interest_written_off: Money
    charges_written_off: Money
    late_interest_written_off: Money
    written_off: Money = strawberry.field(
        description="What partial write-offs forgave on the row (a shortfall within a "
        "collections tolerance): never cash, not in paid."
    )
    outstanding: Money = strawberry.field(
        description="What is still owed on the row (0 once restructured: it was carried into "
        "the next schedule); what was paid or written off is not owed."
    )
    status: InstallmentStatus
    paid_on: date | None

    @classmethod
    def build(
        cls, row: InstallmentModel | InstallmentState, currency: str, schedule_no: int
    ) -> CreditInstallment:
        def m(amount: int) -> Money:
            return money_of(amount, currency)

        charges = figures.charges(row.insurance, row.other_charges)
        amount = figures.installment_amount(
            row.interest, row.capitalised, row.principal, row.insurance, row.other_charges
        )
        paid = figures.paid(
            row.principal_paid, row.interest_paid, row.charges_paid, row.late_interest_paid
        )
        written_off = figures.written_off(
            row.principal_written_off,
            row.interest_written_off,
            row.charges_written_off,
            row.late_interest_written_off,
        )
        status = InstallmentStatusEnum(row.status)
        owed = figures.outstanding(row.status, amount, row.late_interest_accrued, paid, written_off)
        return cls(
            schedule_no=schedule_no,
            number=row.number,
            due_date=row.due_date,
            days=row.days,
            opening_balance=m(row.opening_balance),
            interest=m(row.interest),
            capitalised=m(row.capitalised),
            principal=m(row.principal),
            insurance=m(row.insurance),
            other_charges=m(row.other_charges),
            charges=m(charges),
            installment=m(amount),
            closing_balance=m(
                figures.closing_balance(row.opening_balance, row.capitalised, row.principal)
            ),
            principal_paid=m(row.principal_paid),
            interest_paid=m(row.interest_paid),
            charges_paid=m(row.charges_paid),
            late_interest_accrued=m(row.late_interest_accrued),
            late_interest_paid=m(row.late_interest_paid),
            paid=m(paid),
            principal_written_off=m(row.principal_written_off),
            interest_written_off=m(row.interest_written_off),
            charges_written_off=m(row.charges_written_off),
            late_interest_written_off=m(row.late_interest_written_off),
            written_off=m(written_off),
            outstanding=m(owed),
            status=status,
            paid_on=row.paid_on,
        )


@strawberry.type(
    description="The terms one schedule of a credit was built from. Number 1 is the "
    "original; each restructure adds the next from the outstanding balance and keeps the old."
)
class CreditScheduleVersion:
    number: int
    reason: ScheduleReason
    in_force: bool
    start_date: date = strawberry.field(description="Disbursement or restructure date.")
    closed_on: date | None = strawberry.field(description="When a restructure replaced it.")
    principal: Money = strawberry.field(description="The amount this schedule amortises.")
    annual_rate: Decimal
    term_months: int
    scheme: CreditScheme
    day_count: DayCountConvention
    grace_months: int
    grace_kind: GraceKind
    opening_fee: Money
    opening_fee_mode: OpeningFeeMode
    monthly_insurance: Money
    monthly_charges: Money
    rounding: str
    carried_principal: Money = strawberry.field(
        description="Restructures: unpaid principal capitalised into this schedule."
    )
    carried_interest: Money
    carried_charges: Money
    carried_late_interest: Money
    carried_balance: Money = strawberry.field(
        description="Credit balance carried in, applied to the first installments."
    )
    credit_id: strawberry.Private[uuid.UUID]
    currency: strawberry.Private[str]

    @strawberry.field(description="The installments of this schedule, in order.")
    async def rows(self, info: Info) -> list[CreditInstallment]:
        rows = await info.context.loaders.credits.all_rows.load(self.credit_id)
        return [
            CreditInstallment.build(r, self.currency, self.number)
            for r in rows
            if r.schedule_no == self.number
        ]

    @classmethod
    def from_model(
        cls, header: ScheduleModel, currency: str, in_force: int
    ) -> CreditScheduleVersion:
        def m(amount: int) -> Money:
            return money_of(amount, currency)

        return cls(
            number=header.schedule_no,
            reason=ScheduleReasonEnum(header.reason),
            in_force=header.schedule_no == in_force,
            start_date=header.start_date,
            closed_on=header.closed_on,
            principal=m(header.principal),
            annual_rate=header.annual_rate,
            term_months=header.term_months,
            scheme=CreditScheme(header.scheme),
            day_count=DayCountConvention(header.day_count),
            grace_months=header.grace_months,
            grace_kind=GraceKind(header.grace_kind),
            opening_fee=m(header.opening_fee),
            opening_fee_mode=OpeningFeeMode(header.opening_fee_mode),
            monthly_insurance=m(header.monthly_insurance),
            monthly_charges=m(header.monthly_charges),
            rounding=header.rounding,
            carried_principal=m(header.carried_principal),
            carried_interest=m(header.carried_interest),
            carried_charges=m(header.carried_charges),
            carried_late_interest=m(header.carried_late_interest),
            carried_balance=m(figures.carried_balance(header.carried_balance)),
            credit_id=header.credit_id,
            currency=currency,
        )


@strawberry.type(description="Costs of a credit besides interest.")
class CreditCharges:
    opening_fee: Money
    opening_fee_mode: OpeningFeeMode
    monthly_insurance: Money
    monthly_charges: Money = strawberry.field(description="Other fixed monthly charges.")


@strawberry.type(
    description="A credit's live figures as of a day: late interest to the day, what is due, "
    "days past due. Computed from the payments; nothing is written."
)
class CreditPosition:
    as_of: date
    days_past_due: int
    aging_bucket: AgingBucket
    outstanding_principal: Money
    overdue: Money = strawberry.field(
        description="Everything owed on installments due before asOf, late interest included."
    )
    late_interest_due: Money = strawberry.field(description="Late interest accrued and unpaid.")
    credit_balance: Money = strawberry.field(
        description="Overpayment held for the next installment (or a refund)."
    )
    level_installment: Money | None = strawberry.field(
        description="FRENCH: the level installment now in force (prepayments may lower it)."
    )
    paid_off_on: date | None
    next_installment: CreditInstallment | None = strawberry.field(
        description="The first installment not paid, due on or after asOf."
    )
    installments: list[CreditInstallment]

    @classmethod
    def from_domain(
        cls, result: AllocationResult, currency: str, schedule_no: int
    ) -> CreditPosition:
        figure = figures.position(result)
        rows = [CreditInstallment.build(r, currency, schedule_no) for r in figure.installments]
        upcoming = figure.next_installment
        return cls(
            as_of=figure.as_of,
            days_past_due=figure.days_past_due,
            aging_bucket=AgingBucket(figure.aging_bucket),
            outstanding_principal=money_of(figure.outstanding_principal, currency),
            overdue=money_of(figure.overdue, currency),
            late_interest_due=money_of(figure.late_interest_due, currency),
            credit_balance=money_of(figure.credit_balance, currency),
            level_installment=(
                None
                if figure.level_installment is None
                else money_of(figure.level_installment, currency)
            ),
            paid_off_on=figure.paid_off_on,
            next_installment=next(
                (
                    row
                    for row, state in zip(rows, figure.installments, strict=True)
                    if state is upcoming
                ),
                None,
            ),
            installments=rows,
        )


# --- payments -------------------------------------------------------------------------------
@strawberry.type(description="How much of a payment went to one part of one installment.")
class PaymentAllocation:
    schedule_no: int
    installment_number: int
    component: AllocationComponent
    amount: Money

    @classmethod
    def from_model(cls, row: AllocationModel, currency: str) -> PaymentAllocation:
        return cls(
            schedule_no=row.schedule_no,
            installment_number=row.installment_number,
            component=ComponentEnum(row.component),
            amount=money_of(row.amount, currency),
        )

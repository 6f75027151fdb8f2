"""Credits in the API: the public calculators (simulation, scheme comparison, investment).

The rules behind every figure are in ``docs/credits-math.md``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TypeAlias

import strawberry

from domain.credits import cae as cae_math
from domain.credits import investments
from domain.credits import schedules as engine
from domain.credits.calendar import DayCount as DayCountEnum
from domain.credits.schedules import FeeMode as FeeModeEnum
from domain.credits.schedules import GraceKind as GraceKindEnum
from domain.credits.schedules import Scheme as SchemeEnum
from schema.money import Money, MoneyInput

strawberry.enum(
    SchemeEnum,
    name="CreditScheme",
    description="How a credit is repaid. FRENCH: equal installments, interest on the "
    "outstanding balance. GERMAN: equal principal parts. BULLET: interest only, the whole "
    "principal in the last installment.",
)
strawberry.enum(
    DayCountEnum,
    name="DayCountConvention",
    description="How a period's interest is counted (annual rate x days / basis). "
    "THIRTY_360: every month counts 30 days of a 360-day year. ACT_365_FIXED: actual days "
    "over 365, leap years too. ACT_360: actual days over 360.",
)
strawberry.enum(
    GraceKindEnum,
    name="GraceKind",
    description="What the grace months at the start pay. INTEREST_ONLY: the interest and "
    "the charges. CAPITALISED: only the charges; the interest joins the balance.",
)
strawberry.enum(
    FeeModeEnum,
    name="OpeningFeeMode",
    description="How the opening fee is paid. DEDUCTED: taken from the amount the customer "
    "receives. FINANCED: added to the amount amortised.",
)
CreditScheme: TypeAlias = SchemeEnum
DayCountConvention: TypeAlias = DayCountEnum
GraceKind: TypeAlias = GraceKindEnum
OpeningFeeMode: TypeAlias = FeeModeEnum

_RATE = 'Annual nominal rate as a fraction: "0.18" is 18% a year.'
_DATE = "Defaults to today (UTC). Installment k falls due k months later, same day of month."


# --- inputs -------------------------------------------------------------------------------
@strawberry.input(description="A credit to compare under every scheme.")
class CompareCreditSchemesInput:
    principal: MoneyInput = strawberry.field(description="The amount lent.")
    annual_rate: Decimal = strawberry.field(description=_RATE)
    term_months: int = strawberry.field(description="Monthly installments, grace included.")
    disbursement_date: date | None = strawberry.field(default=None, description=_DATE)
    day_count: DayCountConvention = DayCountEnum.THIRTY_360
    grace_months: int = 0
    grace_kind: GraceKind = GraceKindEnum.INTEREST_ONLY
    opening_fee: MoneyInput | None = None
    opening_fee_mode: OpeningFeeMode = FeeModeEnum.DEDUCTED
    monthly_insurance: MoneyInput | None = None
    monthly_charges: MoneyInput | None = strawberry.field(
        default=None, description="Other fixed monthly charges."
    )


@strawberry.input(description="A credit to simulate.")
class SimulateCreditInput(CompareCreditSchemesInput):
    scheme: CreditScheme = SchemeEnum.FRENCH


@strawberry.input(description="An investor funds a credit and receives its repayments.")
class SimulateInvestmentInput:
    amount: MoneyInput = strawberry.field(description="The amount invested.")
    annual_rate: Decimal = strawberry.field(description=_RATE)
    term_months: int
    scheme: CreditScheme = SchemeEnum.FRENCH
    start_date: date | None = strawberry.field(default=None, description=_DATE)
    day_count: DayCountConvention = DayCountEnum.THIRTY_360


# --- schedules ----------------------------------------------------------------------------
@strawberry.type(description="One installment of a repayment schedule.")
class ScheduleRow:
    number: int
    due_date: date
    days: int = strawberry.field(description="Days of the period under the day count.")
    opening_balance: Money
    interest: Money = strawberry.field(description="Accrued: opening x rate x days / basis.")
    capitalised: Money = strawberry.field(
        description="Part of the interest added to the balance instead of paid."
    )
    principal: Money
    insurance: Money
    other_charges: Money
    charges: Money = strawberry.field(description="insurance + otherCharges.")
    installment: Money = strawberry.field(
        description="What the customer pays: interest - capitalised + principal + charges."
    )
    closing_balance: Money

    @classmethod
    def from_domain(cls, row: engine.ScheduleRow) -> ScheduleRow:
        m = Money.from_domain
        return cls(
            number=row.number,
            due_date=row.due_date,
            days=row.days,
            opening_balance=m(row.opening_balance),
            interest=m(row.interest),
            capitalised=m(row.capitalised),
            principal=m(row.principal),
            insurance=m(row.insurance),
            other_charges=m(row.other_charges),
            charges=m(row.charges),
            installment=m(row.installment),
            closing_balance=m(row.closing_balance),
        )


@strawberry.type(description="Sums of a schedule's rows, each exact.")
class ScheduleTotals:
    interest: Money
    capitalised: Money
    principal: Money
    insurance: Money
    other_charges: Money
    charges: Money
    installments: Money

    @classmethod
    def from_domain(cls, totals: engine.ScheduleTotals) -> ScheduleTotals:
        m = Money.from_domain
        return cls(
            interest=m(totals.interest),
            capitalised=m(totals.capitalised),
            principal=m(totals.principal),
            insurance=m(totals.insurance),
            other_charges=m(totals.other_charges),
            charges=m(totals.charges),
            installments=m(totals.installments),
        )


@strawberry.type(description="A repayment schedule and what it costs.")
class CreditSchedule:
    scheme: CreditScheme
    currency: str
    annual_rate: Decimal = strawberry.field(description="Nominal, as a fraction.")
    term_months: int
    grace_months: int
    grace_kind: GraceKind
    disbursement_date: date
    day_count: DayCountConvention = strawberry.field(
        description="The convention every row's interest was counted with."
    )
    day_count_name: str = strawberry.field(description='"30/360", "ACT/365F" or "ACT/360".')
    rounding: str = strawberry.field(
        description="Rounding of each row's interest to the minor unit, e.g. ROUND_HALF_UP."
    )
    principal: Money = strawberry.field(description="The amount requested.")
    opening_fee: Money
    opening_fee_mode: OpeningFeeMode
    financed: Money = strawberry.field(description="The amount amortised.")
    net_disbursed: Money = strawberry.field(description="What the customer receives.")
    level_installment: Money | None = strawberry.field(
        description="FRENCH: interest + principal of every row but the last (charges aside)."
    )
    rows: list[ScheduleRow]
    totals: ScheduleTotals
    total_cost: Money = strawberry.field(
        description="Costo total del crédito: every installment plus a deducted opening fee."
    )
    finance_charge: Money = strawberry.field(
        description="totalCost - principal: what the credit costs beyond the amount lent."
    )

    @classmethod
    def from_domain(cls, schedule: engine.Schedule) -> CreditSchedule:
        request = schedule.request
        m = Money.from_domain
        day_count = DayCountEnum(request.day_count)
        return cls(
            scheme=schedule.scheme,
            currency=schedule.currency,
            annual_rate=request.annual_rate,
            term_months=request.term_months,
            grace_months=request.grace_months,
            grace_kind=GraceKindEnum(request.grace_kind),
            disbursement_date=request.disbursement_date,
            day_count=day_count,
            day_count_name=day_count.value,
            rounding=schedule.rounding,
            principal=m(schedule.principal),
            opening_fee=m(schedule.opening_fee),
            opening_fee_mode=FeeModeEnum(request.opening_fee_mode),
            financed=m(schedule.financed),
            net_disbursed=m(schedule.net_disbursed),
            level_installment=(
                None if schedule.level_installment is None else m(schedule.level_installment)
            ),
            rows=[ScheduleRow.from_domain(row) for row in schedule.rows],
            totals=ScheduleTotals.from_domain(schedule.totals),
            total_cost=m(schedule.total_cost),
            finance_charge=m(schedule.finance_charge),
        )


@strawberry.type(
    description="Carga Anual Equivalente (Ley 19.496 art. 17 G, Decreto 43 of 2012): the "
    "monthly rate that equates the net amount received with every installment, times 12."
)
class Cae:
    rate: Decimal = strawberry.field(description="12 x the monthly rate, as a fraction.")
    percent: Decimal = strawberry.field(
        description='The published figure: a percentage with two decimals ("19.08").'
    )
    monthly_rate: Decimal = strawberry.field(description="The monthly rate (IRR), a fraction.")
    convention: str

    @classmethod
    def from_domain(cls, cae: cae_math.Cae) -> Cae:
        return cls(
            rate=cae.annual_rate,
            percent=cae.percent,
            monthly_rate=cae.monthly_rate,
            convention=CAE_CONVENTION,
        )


CAE_CONVENTION = (
    "monthly IRR of the net amount received and every installment (whole months), "
    "annualised x12 (nominal); percent rounded half up to 2 decimals"
)


@strawberry.type(description="A simulated credit: its schedule and its CAE.")
class CreditSimulation:
    schedule: CreditSchedule
    cae: Cae

    @classmethod
    def from_domain(cls, schedule: engine.Schedule, cae: cae_math.Cae) -> CreditSimulation:
        return cls(schedule=CreditSchedule.from_domain(schedule), cae=Cae.from_domain(cae))


@strawberry.type(description="The same credit under every scheme, side by side.")
class CreditSchemeComparison:
    simulations: list[CreditSimulation] = strawberry.field(
        description="One per scheme: FRENCH, GERMAN, BULLET.",
        metadata={"cost_items": 3},  # schema/cost.py: always three, whatever the data
    )


# --- investments --------------------------------------------------------------------------
@strawberry.type(description="What the investor receives on a due date.")
class InvestorFlow:
    due_date: date
    interest: Money
    principal: Money
    amount: Money = strawberry.field(description="interest + principal.")
    balance: Money = strawberry.field(description="Principal still outstanding after it.")

    @classmethod
    def from_domain(cls, flow: investments.InvestorFlow) -> InvestorFlow:
        m = Money.from_domain
        return cls(
            due_date=flow.due_date,
            interest=m(flow.interest),
            principal=m(flow.principal),
            amount=m(flow.amount),
            balance=m(flow.balance),
        )


@strawberry.type(description="An investor's projected cash flows, return and yield.")
class InvestmentProjection:
    amount: Money
    annual_rate: Decimal = strawberry.field(description="Nominal, as a fraction.")
    term_months: int
    scheme: CreditScheme
    start_date: date
    day_count: DayCountConvention
    day_count_name: str
    flows: list[InvestorFlow]
    total_interest: Money = strawberry.field(description="Interest earned on the balance.")
    total_received: Money
    total_return: Money = strawberry.field(description="totalReceived - amount.")
    return_ratio: Decimal = strawberry.field(description="totalReturn / amount, 10 decimals.")
    annualised_yield: Decimal = strawberry.field(
        description="XIRR of the investment and the flows: effective annual, ACT/365."
    )

    @classmethod
    def from_domain(cls, projection: investments.InvestmentProjection) -> InvestmentProjection:
        m = Money.from_domain
        day_count = DayCountEnum(projection.schedule.request.day_count)
        return cls(
            amount=m(projection.amount),
            annual_rate=projection.annual_rate,
            term_months=projection.term_months,
            scheme=projection.scheme,
            start_date=projection.start_date,
            day_count=day_count,
            day_count_name=day_count.value,
            flows=[InvestorFlow.from_domain(f) for f in projection.flows],
            total_interest=m(projection.total_interest),
            total_received=m(projection.total_received),
            total_return=m(projection.total_return),
            return_ratio=projection.return_ratio,
            annualised_yield=projection.annualised_yield,
        )

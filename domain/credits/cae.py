"""CAE (Carga Anual Equivalente), the annual cost figure of Chilean consumer credit.

Ley 19.496 art. 17 G (added by Ley 20.555, "SERNAC Financiero") requires the CAE in every
quotation, advertisement and contract; Decreto 43 of 2012 (Ministerio de Economía,
"Reglamento sobre información al consumidor de créditos de consumo") defines it. What this
module computes (``docs/credits-math.md`` gives the sources and what remains to confirm):

- the flows are the customer's: at month 0 the net amount received (*monto líquido*: the
  principal minus every up-front charge deducted from it), then at month ``k`` the full
  installment ``k`` (*valor de la cuota*: interest, principal, insurance and every other
  charge, grace months included);
- ``i`` is the monthly rate that equates them:
  ``monto líquido = sum_k cuota_k / (1 + i)^k`` (IRR of the monthly flows, periods counted
  in whole months, the schedule's first installment falling one month after disbursement);
- ``CAE = 12 * i``: annualised by multiplying by 12 (a nominal annual rate, not compounded);
- the published figure is a percentage with two decimals, rounded half up (``18.53%``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from domain.credits.schedules import Schedule, ScheduleRequest, build_schedule
from domain.shared.errors import ValidationFailed
from domain.shared.money import Money
from domain.shared.xirr import CONTEXT, irr

__all__ = ["Cae", "CreditSimulation", "cae_from_flows", "compute_cae", "simulate_credit"]

#: Months in the year: the CAE is the monthly rate times this.
MONTHS_PER_YEAR = 12
#: Quantum of the published percentage (two decimals).
PUBLISHED_QUANTUM = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Cae:
    monthly_rate: Decimal  # i, the monthly IRR (20 decimals)
    annual_rate: Decimal  # 12 * i, a fraction (0.1853 is 18.53%)
    percent: Decimal  # the published figure: 100 * 12 * i, two decimals, half up


@dataclass(frozen=True, slots=True)
class CreditSimulation:
    schedule: Schedule
    cae: Cae


def cae_from_flows(net_received: Money, installments: Sequence[Money]) -> Cae:
    """CAE of a credit paying ``net_received`` today and ``installments[k-1]`` at month k."""
    if not isinstance(net_received, Money) or net_received.amount <= 0:
        raise ValidationFailed.on("net_received", "must be a positive amount of money")
    if not installments:
        raise ValidationFailed.on("installments", "a credit needs at least one installment")
    if any(not isinstance(m, Money) or m.currency != net_received.currency for m in installments):
        raise ValidationFailed.on(
            "installments", f"every installment must be in {net_received.currency}"
        )
    flows = [net_received.amount, *(-m.amount for m in installments)]
    monthly = irr(flows, guess=Decimal("0.01"))
    with localcontext(CONTEXT):
        annual = monthly * MONTHS_PER_YEAR
        percent = (annual * 100).quantize(PUBLISHED_QUANTUM, rounding=ROUND_HALF_UP)
    return Cae(monthly_rate=monthly, annual_rate=annual, percent=percent)


def compute_cae(schedule: Schedule) -> Cae:
    """CAE of a built schedule: its net disbursed amount against all its installments."""
    return cae_from_flows(schedule.net_disbursed, [row.installment for row in schedule.rows])


def simulate_credit(request: ScheduleRequest) -> CreditSimulation:
    """The schedule of ``request`` and its CAE, from the same rows."""
    schedule = build_schedule(request)
    return CreditSimulation(schedule=schedule, cae=compute_cae(schedule))

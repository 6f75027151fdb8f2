"""An investor's portfolio: what it holds, what it earned, how it performs.

Per currency (an investor may fund CLP and UF credits; amounts of different currencies are
never added):

- ``invested``: the principal put into its fundings.
- ``outstanding_principal``: per funded credit, what it put in minus the principal
  distributed to it (every line, whatever its value date) — its share of the credit's
  outstanding principal, rounded as its invested amount was (``docs/investors.md`` §2);
  written-off credits aside (``written_off_principal``).
- ``received_*`` / ``fees`` / ``interest_earned``: the sums of its distribution lines with a
  value date up to ``as_of`` (gross interest, late interest and principal; fees positive;
  interest earned = interest + late interest - fees).
- ``expected_*``: its share of the interest and principal the schedules put due up to
  ``as_of`` (rows of every schedule the credit had except rows a restructure replaced;
  for a funding made on an active credit, rows due from its ``effective_on``).
- ``xirr``: the effective annual rate (ACT/365) of: minus each invested amount on the day it
  was paid in (the disbursement day for a funding made before disbursement, else the day of
  the funding), the net distributions on their value dates, plus the outstanding principal
  at ``as_of`` (valued at par). ``None`` while it cannot be computed (no sign change yet).
- ``exposure``: outstanding principal by the credits' aging bucket (CURRENT, 1-30, 31-60,
  61-90, 91-180, 180+).

Investors see only their own portfolio; staff with ``investors:read`` see any.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.credits.models import Credit, Installment
from domain.credits.states import AgingBucket, CreditStatus, InstallmentStatus, aging_bucket
from domain.investors import access
from domain.investors.fundings import share_of
from domain.investors.models import PPM, CreditFunding, DistributionLine, Investor, LineComponent
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.principal import Principal
from domain.shared.time import utcnow
from domain.shared.xirr import xirr

__all__ = [
    "CurrencyPortfolio",
    "Portfolio",
    "Position",
    "investor_portfolio",
    "rate_fraction",
    "rate_percent",
]

BUCKETS = tuple(AgingBucket)


@dataclass(frozen=True, slots=True)
class Position:
    """One funded credit (several fundings of one credit are added up)."""

    credit_id: uuid.UUID
    credit_reference: str
    credit_status: str
    share: Decimal  # fraction of the credit, e.g. Decimal("0.25")
    invested: Money
    outstanding_principal: Money
    days_past_due: int
    aging_bucket: str


@dataclass(slots=True)
class CurrencyPortfolio:
    currency: str
    invested: Money
    outstanding_principal: Money
    written_off_principal: Money
    received_principal: Money
    received_interest: Money
    received_late_interest: Money
    fees: Money
    interest_earned: Money
    expected_principal: Money
    expected_interest: Money
    xirr: Decimal | None
    exposure: dict[str, Money]
    positions: list[Position] = field(default_factory=list)

    @property
    def received(self) -> Money:
        """Gross interest and principal received (late interest aside): to set against
        ``expected``."""
        return self.received_principal + self.received_interest

    @property
    def expected(self) -> Money:
        return self.expected_principal + self.expected_interest


@dataclass(frozen=True, slots=True)
class Portfolio:
    investor_id: uuid.UUID
    as_of: date
    currencies: list[CurrencyPortfolio]


def _zero(currency: str) -> Money:
    return Money(0, currency)


async def investor_portfolio(
    session: AsyncSession,
    *,
    principal: Principal,
    investor_id: uuid.UUID,
    as_of: date | None = None,
) -> Portfolio:
    """The portfolio of ``investor_id`` as of ``as_of`` (default: today, UTC)."""
    access.ensure_can_read(principal, investor_id)
    if await session.get(Investor, investor_id) is None:
        raise NotFound("Investor", investor_id)
    day = as_of or utcnow().date()
    if not isinstance(day, date):
        raise ValidationFailed.on("asOf", "must be a date")

    fundings = table_of(CreditFunding)
    credits = table_of(Credit)
    lines = table_of(DistributionLine)
    installments = table_of(Installment)

    # 1. positions: fundings joined to their credits (one row per credit)
    held = (
        await session.execute(
            sa.select(
                credits.c.id,
                credits.c.reference,
                credits.c.status,
                credits.c.currency,
                credits.c.days_past_due,
                sa.func.sum(fundings.c.share_ppm),
                sa.func.sum(fundings.c.amount),
            )
            .join(credits, credits.c.id == fundings.c.credit_id)
            .where(fundings.c.investor_id == investor_id)
            .group_by(
                credits.c.id,
                credits.c.reference,
                credits.c.status,
                credits.c.currency,
                credits.c.days_past_due,
            )
            .order_by(credits.c.id)
        )
    ).all()

    # 1b. principal distributed to it per credit: what it holds is invested minus that
    returned = dict(
        (
            await session.execute(
                sa.select(lines.c.credit_id, sa.func.sum(lines.c.amount))
                .where(
                    lines.c.investor_id == investor_id,
                    lines.c.component == LineComponent.PRINCIPAL.value,
                )
                .group_by(lines.c.credit_id)
            )
        ).all()
    )

    # 2. invested amounts by day, for the rate of return: a funding from the start pays for
    #    the disbursement (its day), one of an active credit is paid when it is made
    invested_by_day = (
        await session.execute(
            sa.select(
                fundings.c.currency,
                fundings.c.funded_at,
                fundings.c.effective_on,
                credits.c.disbursement_date,
                fundings.c.amount,
            )
            .join(credits, credits.c.id == fundings.c.credit_id)
            .where(fundings.c.investor_id == investor_id)
        )
    ).all()

    # 3. distributions by currency and component, and net by value date
    received = (
        await session.execute(
            sa.select(lines.c.currency, lines.c.component, sa.func.sum(lines.c.amount))
            .where(lines.c.investor_id == investor_id, lines.c.value_date <= day)
            .group_by(lines.c.currency, lines.c.component)
        )
    ).all()
    net_by_day = (
        await session.execute(
            sa.select(lines.c.currency, lines.c.value_date, sa.func.sum(lines.c.amount))
            .where(lines.c.investor_id == investor_id, lines.c.value_date <= day)
            .group_by(lines.c.currency, lines.c.value_date)
            .order_by(lines.c.currency, lines.c.value_date)
        )
    ).all()

    # 4. what the schedules put due, times each funding's share
    due_filter = sa.and_(
        installments.c.credit_id == fundings.c.credit_id,
        installments.c.due_date <= day,
        installments.c.status != InstallmentStatus.RESTRUCTURED.value,
        sa.or_(
            fundings.c.effective_on.is_(None), installments.c.due_date >= fundings.c.effective_on
        ),
    )
    expected = (
        await session.execute(
            sa.select(
                fundings.c.currency,
                sa.func.sum(
                    fundings.c.share_ppm * (installments.c.interest - installments.c.capitalised)
                ),
                sa.func.sum(fundings.c.share_ppm * installments.c.principal),
            )
            .join(installments, due_filter)
            .where(fundings.c.investor_id == investor_id)
            .group_by(fundings.c.currency)
        )
    ).all()

    books: dict[str, CurrencyPortfolio] = {}

    def book(currency: str) -> CurrencyPortfolio:
        if currency not in books:
            zero = _zero(currency)
            books[currency] = CurrencyPortfolio(
                currency=currency,
                invested=zero,
                outstanding_principal=zero,
                written_off_principal=zero,
                received_principal=zero,
                received_interest=zero,
                received_late_interest=zero,
                fees=zero,
                interest_earned=zero,
                expected_principal=zero,
                expected_interest=zero,
                xirr=None,
                exposure={b.value: zero for b in BUCKETS},
            )
        return books[currency]

    for row in held:
        credit_id, reference, status, currency, dpd, share_ppm, amount = row
        b = book(currency)
        share_ppm = int(share_ppm)
        mine = Money(int(amount) - int(returned.get(credit_id) or 0), currency)
        bucket = aging_bucket(int(dpd or 0)).value
        b.invested += Money(int(amount), currency)
        if status == CreditStatus.WRITTEN_OFF.value:
            b.written_off_principal += mine
        else:
            b.outstanding_principal += mine
            b.exposure[bucket] += mine
        b.positions.append(
            Position(
                credit_id=credit_id,
                credit_reference=reference,
                credit_status=status,
                share=share_of(share_ppm),
                invested=Money(int(amount), currency),
                outstanding_principal=mine,
                days_past_due=int(dpd or 0),
                aging_bucket=bucket,
            )
        )
    for currency, component, amount in received:
        b = book(currency)
        value = Money(int(amount), currency)
        if component == LineComponent.PRINCIPAL.value:
            b.received_principal += value
        elif component == LineComponent.INTEREST.value:
            b.received_interest += value
        elif component == LineComponent.LATE_INTEREST.value:
            b.received_late_interest += value
        elif component == LineComponent.SERVICING_FEE.value:
            b.fees -= value
    for currency, interest_ppm, principal_ppm in expected:
        b = book(currency)
        b.expected_interest = Money(int(interest_ppm or 0) // PPM, currency)
        b.expected_principal = Money(int(principal_ppm or 0) // PPM, currency)

    flows: dict[str, list[tuple[date, int]]] = defaultdict(list)
    for currency, funded_at, effective_on, disbursed_on, amount in invested_by_day:
        paid_in = disbursed_on if effective_on is None and disbursed_on else funded_at.date()
        flows[currency].append((paid_in, -int(amount)))
    for currency, value_date, amount in net_by_day:
        flows[currency].append((value_date, int(amount)))
    for b in books.values():
        b.interest_earned = b.received_interest + b.received_late_interest - b.fees
        cash = flows.get(b.currency, [])
        if b.outstanding_principal.amount:
            cash = [*cash, (day, b.outstanding_principal.amount)]
        b.xirr = _rate(cash)
    return Portfolio(
        investor_id=investor_id,
        as_of=day,
        currencies=[books[c] for c in sorted(books)],
    )


_RATE_PLACES = Decimal("1e-10")
_PERCENT_PLACES = Decimal("0.01")


def rate_fraction(rate: Decimal | None) -> Decimal | None:
    """The rate of return as shown: a fraction with ten decimals ("0.1532000000")."""
    return None if rate is None else rate.quantize(_RATE_PLACES, rounding=ROUND_HALF_EVEN)


def rate_percent(rate: Decimal | None) -> Decimal | None:
    """The rate of return as a percentage with two decimals ("15.32")."""
    if rate is None:
        return None
    return (rate * 100).quantize(_PERCENT_PLACES, rounding=ROUND_HALF_EVEN)


def _rate(flows: list[tuple[date, int]]) -> Decimal | None:
    merged: dict[date, int] = defaultdict(int)
    for day, amount in flows:
        merged[day] += amount
    cash = [(d, a) for d, a in sorted(merged.items()) if a]
    if len(cash) < 2 or not any(a > 0 for _, a in cash) or not any(a < 0 for _, a in cash):
        return None
    if cash[0][0] == cash[-1][0]:
        return None
    try:
        return xirr(cash)
    except (ValidationFailed, ArithmeticError):
        return None

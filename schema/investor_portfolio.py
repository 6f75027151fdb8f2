"""An investor's portfolio in the API: per currency, what it holds, earned and expects."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import strawberry
from strawberry.types import Info

from domain.investors.portfolio import (
    CurrencyPortfolio,
    Portfolio,
    Position,
    rate_fraction,
    rate_percent,
)
from resolvers.context import principal_of
from resolvers.ids import encode_node_id
from schema.credit_ledger import AgingBucket, CreditStatus
from schema.investors import Investor
from schema.money import Money


@strawberry.type(description="Outstanding principal in one bucket of days past due.")
class PortfolioExposure:
    bucket: AgingBucket
    outstanding_principal: Money


@strawberry.type(description="One funded credit (several fundings of it are added up).")
class PortfolioPosition:
    credit_id: strawberry.ID = strawberry.field(description="The credit's global id.")
    credit_reference: str
    credit_status: CreditStatus
    share: Decimal = strawberry.field(description="Fraction of the credit held.")
    invested: Money
    outstanding_principal: Money = strawberry.field(
        description="Invested minus the principal distributed to the investor: its share of "
        "the credit's outstanding principal, rounded down."
    )
    days_past_due: int
    aging_bucket: AgingBucket

    @classmethod
    def from_domain(cls, p: Position) -> PortfolioPosition:
        return cls(
            credit_id=strawberry.ID(encode_node_id("Credit", p.credit_id)),
            credit_reference=p.credit_reference,
            credit_status=CreditStatus(p.credit_status),
            share=p.share,
            invested=Money.from_domain(p.invested),
            outstanding_principal=Money.from_domain(p.outstanding_principal),
            days_past_due=p.days_past_due,
            aging_bucket=AgingBucket(p.aging_bucket),
        )


@strawberry.type(description="The portfolio in one currency (currencies are never added).")
class InvestorPortfolioCurrency:
    currency: str
    invested: Money = strawberry.field(description="Principal put into the fundings.")
    outstanding_principal: Money = strawberry.field(
        description="Invested minus the principal distributed, over its credits (written-off "
        "credits aside)."
    )
    written_off_principal: Money
    received_principal: Money
    received_interest: Money = strawberry.field(description="Gross, late interest aside.")
    received_late_interest: Money
    fees: Money = strawberry.field(description="Servicing fees kept by the servicer (positive).")
    interest_earned: Money = strawberry.field(
        description="receivedInterest + receivedLateInterest - fees."
    )
    expected_principal: Money = strawberry.field(
        description="The share of the principal the schedules put due up to asOf."
    )
    expected_interest: Money
    expected: Money = strawberry.field(description="expectedPrincipal + expectedInterest.")
    received: Money = strawberry.field(
        description="receivedPrincipal + receivedInterest: to set against expected."
    )
    xirr: Decimal | None = strawberry.field(
        description='Annualised return (XIRR, ACT/365) as a fraction, e.g. "0.1532" (ten '
        "decimals); null until the cash flows change sign."
    )
    xirr_percent: Decimal | None = strawberry.field(
        description='The same as a percentage with two decimals, e.g. "15.32".'
    )
    exposure: list[PortfolioExposure] = strawberry.field(
        description="Outstanding principal by the credits' aging bucket, every bucket in order."
    )
    positions: list[PortfolioPosition]

    @classmethod
    def from_domain(cls, c: CurrencyPortfolio) -> InvestorPortfolioCurrency:
        def m(value: object) -> Money:
            return Money.from_domain(value)  # type: ignore[arg-type]

        rate = c.xirr
        return cls(
            currency=c.currency,
            invested=m(c.invested),
            outstanding_principal=m(c.outstanding_principal),
            written_off_principal=m(c.written_off_principal),
            received_principal=m(c.received_principal),
            received_interest=m(c.received_interest),
            received_late_interest=m(c.received_late_interest),
            fees=m(c.fees),
            interest_earned=m(c.interest_earned),
            expected_principal=m(c.expected_principal),
            expected_interest=m(c.expected_interest),
            expected=m(c.expected),
            received=m(c.received),
            xirr=rate_fraction(rate),
            xirr_percent=rate_percent(rate),
            exposure=[
                PortfolioExposure(bucket=AgingBucket(bucket), outstanding_principal=m(amount))
                for bucket, amount in c.exposure.items()
            ],
            positions=[PortfolioPosition.from_domain(p) for p in c.positions],
        )


@strawberry.type(description="What an investor holds, earned and expects, per currency.")
class InvestorPortfolio:
    as_of: date
    currencies: list[InvestorPortfolioCurrency]
    investor_key: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def investor(self, info: Info) -> Investor:
        model = await info.context.loaders.investors.investor.load(self.investor_key)
        return Investor.from_model(model, principal_of(info))

    @classmethod
    def from_domain(cls, portfolio: Portfolio) -> InvestorPortfolio:
        return cls(
            as_of=portfolio.as_of,
            currencies=[InvestorPortfolioCurrency.from_domain(c) for c in portfolio.currencies],
            investor_key=portfolio.investor_id,
        )

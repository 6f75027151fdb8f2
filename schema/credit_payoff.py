"""What a customer sees of their own status besides the schedule: the next installment to
pay and a payoff quote valid to a date (``domain/credits/payoff.py``)."""

from __future__ import annotations

from datetime import date

import strawberry

from domain.credits.payoff import NextInstallment as NextInstallmentModel
from domain.credits.payoff import PayoffQuote as PayoffQuoteModel
from schema.credit_ledger import money_of
from schema.money import Money


@strawberry.type(
    description="The first installment not fully paid (an overdue one first), as of today "
    "in the lender's timezone."
)
class NextInstallment:
    number: int
    due_date: date
    amount: Money = strawberry.field(description="The installment as scheduled.")
    outstanding: Money = strawberry.field(
        description="Still owed on it today, late interest included."
    )
    days_past_due: int = strawberry.field(description="0 when it is not due yet.")
    overdue_total: Money = strawberry.field(
        description="Everything past due on the credit today (this and older installments)."
    )
    as_of: date

    @classmethod
    def from_domain(cls, value: NextInstallmentModel, currency: str) -> NextInstallment:
        return cls(
            number=value.number,
            due_date=value.due_date,
            amount=money_of(value.amount, currency),
            outstanding=money_of(value.outstanding, currency),
            days_past_due=value.days_past_due,
            overdue_total=money_of(value.overdue_total, currency),
            as_of=value.as_of,
        )


@strawberry.type(
    description="What pays the credit off if paid by validUntil: computed by the ledger's own "
    "rules (a payment with SHORTER_TERM prepayment on that day), to the minor unit. Paid "
    "earlier, it also pays the credit off (interest only grows); what is left over is kept "
    "as credit balance."
)
class PayoffQuote:
    quoted_on: date = strawberry.field(description="Today in the lender's timezone.")
    valid_until: date
    amount: Money = strawberry.field(description="What to pay.")
    principal_due: Money = strawberry.field(description="Principal of installments due by then.")
    interest_due: Money
    charges_due: Money
    late_interest: Money = strawberry.field(description="Late interest accrued to validUntil.")
    principal_not_due: Money = strawberry.field(description="Principal not yet due.")
    accrued_interest: Money = strawberry.field(
        description="Interest the principal not yet due accrued in the current period, to "
        "validUntil."
    )
    installments_due: int
    credit_balance: Money = strawberry.field(
        description="Credit balance held from earlier overpayments: not part of the payoff "
        "(the ledger applies a balance to installments as they fall due), refundable once "
        "the credit is paid off."
    )

    @classmethod
    def from_domain(cls, quote: PayoffQuoteModel) -> PayoffQuote:
        def m(amount: int) -> Money:
            return money_of(amount, quote.currency)

        return cls(
            quoted_on=quote.quoted_on,
            valid_until=quote.valid_until,
            amount=m(quote.amount),
            principal_due=m(quote.principal_due),
            interest_due=m(quote.interest_due),
            charges_due=m(quote.charges_due),
            late_interest=m(quote.late_interest),
            principal_not_due=m(quote.principal_not_due),
            accrued_interest=m(quote.accrued_interest),
            installments_due=quote.installments_due,
            credit_balance=m(quote.credit_balance),
        )

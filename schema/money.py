"""Money in the API: exact major-unit amounts with their currency, and the minor units."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from domain.shared.money import Money as DomainMoney
from schema.scalars import Long


@strawberry.type(description="An amount of money, exactly.")
class Money:
    amount: Decimal = strawberry.field(
        description='Major units with exactly the currency\'s decimals: "1500000" CLP, '
        '"1234.50" USD, "25.1234" CLF.'
    )
    currency: str = strawberry.field(description="ISO 4217 code (CLF is the Unidad de Fomento).")
    minor_units: Long = strawberry.field(
        description="The amount as an integer count of the currency's minor unit."
    )

    @classmethod
    def from_domain(cls, value: DomainMoney) -> Money:
        return cls(
            amount=value.to_decimal(), currency=value.currency, minor_units=Long(value.amount)
        )


@strawberry.input(description="An amount of money in major units.")
class MoneyInput:
    amount: Decimal = strawberry.field(
        description='Major units as a string, at most the currency\'s decimals ("1500000", '
        '"1234.50").'
    )
    currency: str = strawberry.field(
        description="ISO 4217 code: CLP, CLF (UF), ARS, MXN, COP, PEN or USD."
    )

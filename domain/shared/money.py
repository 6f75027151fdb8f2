"""Money: an integer count of a currency's minor unit plus its ISO 4217 code.

No float ever touches an amount. Arithmetic that needs fractions goes through ``Decimal``
with an explicit rounding mode; splits use the largest-remainder method so that the parts
always add up to the whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext

#: Minor-unit exponent per supported currency (CLF is the Unidad de Fomento, 4 decimals).
CURRENCY_EXPONENTS: dict[str, int] = {
    "CLP": 0,
    "CLF": 4,
    "ARS": 2,
    "MXN": 2,
    "COP": 2,
    "PEN": 2,
    "USD": 2,
}


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unsupported currency {currency!r}") from None


@dataclass(frozen=True, slots=True, order=False)
class Money:
    amount: int  # minor units
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise MoneyError("amount must be an integer count of minor units")
        exponent(self.currency)

    # construction ---------------------------------------------------------------------
    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, value: str | Decimal | int, currency: str) -> Money:
        """Exact conversion of a major-unit amount ("1234.50"); refuses extra decimals."""
        exp = exponent(currency)
        try:
            dec = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        except InvalidOperation:
            raise MoneyError(f"{value!r} is not a decimal amount") from None
        if not dec.is_finite():
            raise MoneyError(f"{value!r} is not a finite amount")
        scaled = dec.scaleb(exp)
        if scaled != scaled.to_integral_value():
            raise MoneyError(f"{currency} has {exp} decimals; {value} has more")
        return cls(int(scaled), currency)

    @classmethod
    def from_decimal(cls, value: Decimal, currency: str, *, rounding: str) -> Money:
        """Round a computed major-unit amount to the minor unit with an explicit mode."""
        exp = exponent(currency)
        with localcontext() as ctx:
            ctx.prec = 50
            scaled = value.scaleb(exp).quantize(Decimal(1), rounding=rounding)
        return cls(int(scaled), currency)

    # views -------------------------------------------------------------------------------
    def to_decimal(self) -> Decimal:
        return Decimal(self.amount).scaleb(-exponent(self.currency))

    def format(self) -> str:
        """Major units with exactly the currency's decimals ("1234.50", "15000")."""
        exp = exponent(self.currency)
        return f"{self.to_decimal():.{exp}f}"

    def __str__(self) -> str:
        return f"{self.format()} {self.currency}"

    # arithmetic --------------------------------------------------------------------------
    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def times(self, factor: Decimal, *, rounding: str = ROUND_HALF_EVEN) -> Money:
        """Multiply by a rate or factor, rounding once to the minor unit."""
        with localcontext() as ctx:
            ctx.prec = 50
            product = Decimal(self.amount) * factor
            return Money(int(product.quantize(Decimal(1), rounding=rounding)), self.currency)

    def allocate(self, weights: Sequence[int | Decimal]) -> list[Money]:
        """Split into parts proportional to ``weights`` that sum exactly to ``self``.

        Largest remainder: every part gets the floor of its exact share, then the minor
        units left over go one each to the parts with the largest fractional remainders
        (ties broken by position, so the result is deterministic).
        """
        return [Money(a, self.currency) for a in allocate_int(self.amount, weights)]


def allocate_int(total: int, weights: Sequence[int | Decimal]) -> list[int]:
    if not weights:
        raise MoneyError("allocation needs at least one weight")
    dec_weights = [Decimal(w) for w in weights]
    if any(w < 0 for w in dec_weights):
        raise MoneyError("allocation weights cannot be negative")
    weight_sum = sum(dec_weights, Decimal(0))
    if weight_sum == 0:
        raise MoneyError("allocation weights sum to zero")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    with localcontext() as ctx:
        ctx.prec = 60
        exact = [Decimal(magnitude) * w / weight_sum for w in dec_weights]
        floors = [int(e.to_integral_value(rounding="ROUND_FLOOR")) for e in exact]
        remainders = [e - f for e, f in zip(exact, floors, strict=True)]
    leftover = magnitude - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    return [sign * f for f in floors]

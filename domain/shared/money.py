"""Money: an integer count of a currency's minor unit plus its ISO 4217 code.

No float ever touches an amount. Arithmetic that needs fractions goes through ``Decimal``
with an explicit rounding mode; splits use the largest-remainder method so that the parts
always add up to the whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    Overflow,
)
from fractions import Fraction

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


#: No amount in the network comes near 10^30 major units; larger input is a mistake.
MAX_MAJOR_DIGITS = 30

_PLAIN_DECIMAL = re.compile(r"^[+-]?[0-9]{1,40}(?:\.[0-9]{1,40})?$", re.ASCII)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _wide(*values: Decimal) -> Context:
    """A context that holds the exact result of one product of ``values``."""
    digits = sum(len(v.as_tuple().digits) for v in values) + 8
    return Context(
        prec=max(digits, 40), Emax=10**6, Emin=-(10**6), traps=[InvalidOperation, Overflow, Inexact]
    )


def _round_to_int(value: Decimal, rounding: str) -> int:
    """Round an exact decimal to an integer, once, with ``rounding``."""
    context = Context(
        prec=max(len(value.as_tuple().digits), 1) + 2,
        Emax=10**6,
        Emin=-(10**6),
        traps=[InvalidOperation, Overflow],
    )
    return int(value.quantize(Decimal(1), rounding=rounding, context=context))


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unsupported currency {currency!r}") from None


def format_minor(amount: int, currency: str) -> str:
    """``amount`` minor units of ``currency`` in major units with exactly the currency's
    decimals ("1234.50", "15000", "-0.0125"): :meth:`Money.format` without building one."""
    exp = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}" if exp else f"{sign}{whole}"


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
        """Exact conversion of a major-unit amount ("1234.50"); refuses extra decimals.

        Strings must be plain ASCII decimals (``-1234.50``). The conversion is integer
        arithmetic on the digits, so no context precision applies. Floats are refused:
        they have already lost the exact value.
        """
        exp = exponent(currency)
        if isinstance(value, float | bool):
            raise MoneyError("pass amounts as strings or Decimals, never floats")
        if isinstance(value, int):
            value = Decimal(value)
        elif isinstance(value, str):
            text = value.strip()
            if not _PLAIN_DECIMAL.match(text):
                raise MoneyError(f"{_show(value)} is not a plain decimal amount like 1234.50")
            value = Decimal(text)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise MoneyError(f"{_show(value)} is not a finite decimal amount")
        sign, digit_tuple, dec_exp = value.as_tuple()
        assert isinstance(dec_exp, int)
        digits = list(digit_tuple)
        while len(digits) > 1 and digits[-1] == 0:  # 1.000 is 1: drop the trailing zeros
            digits.pop()
            dec_exp += 1
        if digits == [0]:
            return cls(0, currency)
        if len(digits) + dec_exp > MAX_MAJOR_DIGITS:
            raise MoneyError(f"{_show(value)} is too large an amount")
        if -dec_exp > exp:
            raise MoneyError(f"{currency} has {exp} decimals; {_show(value)} has more")
        mantissa = int("".join(map(str, digits)))
        minor = mantissa * 10 ** (dec_exp + exp)
        return cls(-minor if sign else minor, currency)

    @classmethod
    def from_decimal(cls, value: Decimal, currency: str, *, rounding: str) -> Money:
        """Round a computed major-unit amount to the minor unit with an explicit mode.

        The rounding happens once, in a context wide enough to hold every digit.
        """
        exp = exponent(currency)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise MoneyError(f"{_show(value)} is not a finite decimal amount")
        if value.adjusted() >= MAX_MAJOR_DIGITS:
            raise MoneyError(f"{_show(value)} is too large an amount")
        return cls(_round_to_int(value.scaleb(exp, _wide(value)), rounding), currency)

    # views -------------------------------------------------------------------------------
    def to_decimal(self) -> Decimal:
        """Exact: built from the digits, not computed in a context."""
        return Decimal(self.format())

    def format(self) -> str:
        """Major units with exactly the currency's decimals ("1234.50", "15000")."""
        return format_minor(self.amount, self.currency)

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
        if not isinstance(factor, Decimal) or not factor.is_finite():
            raise MoneyError(f"{_show(factor)} is not a finite decimal factor")
        amount = Decimal(self.amount)
        exact = amount.fma(factor, 0, _wide(amount, factor))
        if exact.adjusted() >= MAX_MAJOR_DIGITS + 10:
            raise MoneyError(f"{self} times {_show(factor)} is out of range")
        return Money(_round_to_int(exact, rounding), self.currency)

    def allocate(self, weights: Sequence[int | Decimal]) -> list[Money]:
        """Split into parts proportional to ``weights`` that sum exactly to ``self``.

        Largest remainder: every part gets the floor of its exact share, then the minor
        units left over go one each to the parts with the largest fractional remainders
        (ties broken by position, so the result is deterministic).
        """
        return [Money(a, self.currency) for a in allocate_int(self.amount, weights)]


def allocate_int(total: int, weights: Sequence[int | Decimal]) -> list[int]:
    """Largest-remainder split of an integer, in exact rational arithmetic."""
    if not weights:
        raise MoneyError("allocation needs at least one weight")
    if any(not isinstance(w, int | Decimal) or isinstance(w, bool) for w in weights):
        raise MoneyError("allocation weights must be integers or Decimals")
    try:
        exact_weights = [Fraction(w) for w in weights]
    except (ValueError, OverflowError):
        raise MoneyError("allocation weights must be finite numbers") from None
    if any(w < 0 for w in exact_weights):
        raise MoneyError("allocation weights cannot be negative")
    weight_sum = sum(exact_weights, Fraction(0))
    if weight_sum == 0:
        raise MoneyError("allocation weights sum to zero")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    shares = [magnitude * w / weight_sum for w in exact_weights]
    floors = [s.numerator // s.denominator for s in shares]
    remainders = [s - f for s, f in zip(shares, floors, strict=True)]
    leftover = magnitude - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    return [sign * f for f in floors]

"""Rates of return of cash flows, in ``Decimal``: periodic IRR and XIRR (ACT/365).

Both solve ``NPV(r) = Σ aₖ·(1 + r)^(-tₖ) = 0`` for ``r > -1``:

- :func:`irr` — flow ``k`` at period ``k`` (``tₖ = k``); the rate is per period.
- :func:`xirr` — dated flows, ``tₖ = (dateₖ - first date) / 365`` (ACT/365, as Excel's XIRR);
  the rate is an effective annual rate.

The solver is deterministic: it brackets a sign change of the NPV on a fixed grid of rates,
searching outwards from the guess, then runs Newton's method safeguarded by bisection
(a Newton step that leaves the bracket or does not shrink it fast enough is replaced by a
bisection step). It stops when a step is below :data:`TOLERANCE` (1e-15 on the rate), far
tighter than the 1e-12 the callers need. All arithmetic uses a 50-digit ``Decimal``
context; no float is involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)

from domain.shared.errors import ValidationFailed
from domain.shared.money import Money

__all__ = ["TOLERANCE", "irr", "solve_rate", "xirr"]

#: Working context: wide enough that rounding inside the solver is far below the tolerance.
CONTEXT = Context(
    prec=50,
    rounding=ROUND_HALF_EVEN,
    Emax=10**6,
    Emin=-(10**6),
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
#: Convergence threshold on the rate (absolute).
TOLERANCE = Decimal("1e-15")
#: Returned rates are rounded (half even) to this many decimal places.
RESULT_QUANTUM = Decimal("1e-20")
MAX_ITERATIONS = 400

#: Rates tried, in order, to bracket a root. Ascending; all greater than -1.
_GRID = tuple(
    Decimal(x)
    for x in (
        "-0.999", "-0.99", "-0.95", "-0.9", "-0.8", "-0.6", "-0.4", "-0.2", "-0.1", "-0.05",
        "-0.02", "-0.01", "-0.001", "0", "0.001", "0.005", "0.01", "0.02", "0.03", "0.05",
        "0.075", "0.1", "0.15", "0.2", "0.3", "0.5", "0.75", "1", "1.5", "2", "3", "5", "10",
        "20", "50", "100", "1000", "10000", "100000", "1000000",
    )
)  # fmt: skip

Amount = int | Decimal | Money


def _decimal_amount(value: object, currency: list[str]) -> Decimal:
    if isinstance(value, Money):
        if currency and currency[0] != value.currency:
            raise ValidationFailed.on("flows", "all cash flows must be in one currency")
        currency[:1] = [value.currency]
        return value.to_decimal()
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValidationFailed.on(
            "flows", "amounts must be Decimals, integers or Money, not floats"
        )
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValidationFailed.on("flows", "amounts must be finite")
    return Decimal(value)


def _check_signs(amounts: Sequence[Decimal]) -> None:
    if len(amounts) < 2:
        raise ValidationFailed.on("flows", "a rate of return needs at least two cash flows")
    if not any(a > 0 for a in amounts) or not any(a < 0 for a in amounts):
        raise ValidationFailed.on(
            "flows",
            "cash flows never change sign (need at least one positive and one negative "
            "amount), so no rate of return exists",
        )


class _Npv:
    """NPV and its derivative at a rate, for integer periods or fractional times."""

    def __init__(self, amounts: Sequence[Decimal], times: Sequence[Decimal] | None) -> None:
        self.amounts = list(amounts)
        self.times = None if times is None else list(times)

    def __call__(self, rate: Decimal) -> tuple[Decimal, Decimal]:
        base = 1 + rate
        value = Decimal(0)
        slope = Decimal(0)
        if self.times is None:  # tₖ = k: powers by repeated multiplication
            v = 1 / base
            factor = Decimal(1)
            for k, a in enumerate(self.amounts):
                value += a * factor
                slope -= k * a * factor
                factor *= v
            return value, slope * v
        log_base = base.ln()
        for t, a in zip(self.times, self.amounts, strict=True):
            term = a * (-t * log_base).exp()
            value += term
            slope -= t * term
        return value, slope / base


def _sign(x: Decimal) -> int:
    return (x > 0) - (x < 0)


def _bracket(f: _Npv, guess: Decimal) -> tuple[Decimal, Decimal, Decimal, Decimal] | Decimal:
    """A bracket ``(lo, f(lo), hi, f(hi))`` with a sign change, or an exact root."""
    f_guess = f(guess)[0]
    if f_guess == 0:
        return guess
    up = [x for x in _GRID if x > guess]
    down = [x for x in reversed(_GRID) if x < guess]
    prev_up = prev_down = (guess, f_guess)
    for i in range(max(len(up), len(down))):
        if i < len(up):
            x = up[i]
            fx = f(x)[0]
            if fx == 0:
                return x
            if _sign(fx) != _sign(prev_up[1]):
                return prev_up[0], prev_up[1], x, fx
            prev_up = (x, fx)
        if i < len(down):
            x = down[i]
            fx = f(x)[0]
            if fx == 0:
                return x
            if _sign(fx) != _sign(prev_down[1]):
                return x, fx, prev_down[0], prev_down[1]
            prev_down = (x, fx)
    raise ValidationFailed.on(
        "flows", "no rate of return between -99.9% and 100,000,000% makes these flows balance"
    )


def solve_rate(
    amounts: Sequence[Amount],
    times: Sequence[Decimal] | None = None,
    *,
    guess: Decimal | None = None,
) -> Decimal:
    """The rate ``r > -1`` with ``Σ amounts[k]·(1 + r)^(-times[k]) = 0``.

    ``times`` defaults to the periods ``0, 1, 2, …``. Raises ``ValidationFailed`` (field
    ``flows``) when the flows never change sign or no root can be bracketed.
    """
    currency: list[str] = []
    with localcontext(CONTEXT):
        values = [_decimal_amount(a, currency) for a in amounts]
        _check_signs(values)
        if times is not None:
            if len(times) != len(values):
                raise ValueError("one time per amount")
            times = [Decimal(t) for t in times]
        f = _Npv(values, times)
        start = Decimal("0.1") if guess is None else Decimal(guess)
        if not start.is_finite() or start <= -1:
            start = Decimal("0.1")
        found = _bracket(f, start)
        if isinstance(found, Decimal):
            return found.quantize(RESULT_QUANTUM)
        lo, f_lo, hi, _f_hi = found
        x = start if lo < start < hi else (lo + hi) / 2
        step_before = hi - lo
        step = step_before
        for _ in range(MAX_ITERATIONS):
            fx, dfx = f(x)
            if fx == 0:
                return x.quantize(RESULT_QUANTUM)
            if _sign(fx) == _sign(f_lo):
                lo, f_lo = x, fx
            else:
                hi = x
            newton_ok = dfx != 0
            if newton_ok:
                candidate = x - fx / dfx
                newton_ok = lo < candidate < hi and abs(2 * fx) <= abs(step_before * dfx)
            step_before = step
            if newton_ok:
                step = x - candidate
                x = candidate
            else:
                step = (hi - lo) / 2
                x = lo + step
            if abs(step) <= TOLERANCE or hi - lo <= TOLERANCE:
                return x.quantize(RESULT_QUANTUM)
        raise ArithmeticError("rate of return did not converge")  # pragma: no cover


def irr(amounts: Sequence[Amount], *, guess: Decimal | None = None) -> Decimal:
    """Periodic internal rate of return: ``amounts[k]`` happens at the end of period ``k``."""
    return solve_rate(amounts, None, guess=guess)


def xirr(flows: Sequence[tuple[date, Amount]], *, guess: Decimal | None = None) -> Decimal:
    """Effective annual rate of dated cash flows, ACT/365 (the convention of Excel's XIRR).

    ``tₖ = (dateₖ - earliest date) / 365``. Measuring from the earliest date rather than the
    first listed one changes no root: it multiplies the NPV by a positive constant.
    """
    if not flows:
        raise ValidationFailed.on("flows", "a rate of return needs at least two cash flows")
    dates = [d for d, _ in flows]
    if any(not isinstance(d, date) for d in dates):
        raise ValidationFailed.on("flows", "every cash flow needs a date")
    origin = min(dates)
    with localcontext(CONTEXT):
        times = [Decimal((d - origin).days) / 365 for d in dates]
    return solve_rate([a for _, a in flows], times, guess=guess)

"""Configurable values of the investors domain, in one place.

Services read :func:`get_policy`; the composition root (``app``) may call :func:`configure`
once at start-up with values from settings. The domain never reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["InvestorPolicy", "configure", "get_policy"]


@dataclass(frozen=True, slots=True)
class InvestorPolicy:
    #: Servicing fee the lender keeps from an investor's interest and late interest, as a
    #: fraction (0.01 = 1 %). A funding records the rate in force when it is made (or the
    #: rate given to ``fund_credit``), so changing it never rewrites past distributions.
    servicing_fee_rate: Decimal = Decimal("0.01")
    #: Investors per batch of a settlement run's set-based statements.
    settlement_batch_size: int = 2000


_policy = InvestorPolicy()


def configure(policy: InvestorPolicy) -> None:
    """Replace the process-wide policy (call once at start-up)."""
    global _policy
    _policy = policy


def get_policy() -> InvestorPolicy:
    return _policy

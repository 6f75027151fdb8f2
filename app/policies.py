"""Domain policies configured from settings at start-up (API processes and workers)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from app.settings import Settings
from domain.credits import policy as credit_policy
from domain.investors import policy as investor_policy
from domain.shared import time


def credit_policy_from(settings: Settings) -> credit_policy.CreditPolicy:
    """The credits policy: the domain's defaults, with what the settings set."""
    changes: dict[str, Any] = {}
    if settings.credit_max_annual_rate is not None:
        changes["max_annual_rate"] = settings.credit_max_annual_rate
    if settings.late_annual_rate is not None:
        changes["late_annual_rate"] = settings.late_annual_rate
    if settings.late_annual_rate_cap is not None:
        changes["max_late_annual_rate"] = settings.late_annual_rate_cap
    try:
        general, products = credit_policy.principal_limits(
            settings.credit_max_principal, settings.credit_product_max_principal
        )
    except ValueError as exc:
        raise ValueError(
            f"TRAMA_CREDIT_MAX_PRINCIPAL / TRAMA_CREDIT_PRODUCT_MAX_PRINCIPAL: {exc}"
        ) from None
    changes["max_principal"] = general
    changes["product_max_principal"] = products
    policy = dataclasses.replace(credit_policy.CreditPolicy(), **changes)
    if policy.late_annual_rate > policy.max_late_annual_rate:
        raise ValueError(
            f"TRAMA_LATE_ANNUAL_RATE ({policy.late_annual_rate}) is above the cap "
            f"TRAMA_LATE_ANNUAL_RATE_CAP ({policy.max_late_annual_rate})"
        )
    return policy


def investor_policy_from(settings: Settings) -> investor_policy.InvestorPolicy:
    """The investors policy: the domain's defaults, with what the settings set."""
    changes: dict[str, Any] = {}
    rate = settings.investor_servicing_fee_rate
    if rate is not None:
        if rate != rate.quantize(Decimal("0.000001")):
            raise ValueError(
                f"TRAMA_INVESTOR_SERVICING_FEE_RATE ({rate}) has more than six decimals "
                "(fundings keep it in parts per million)"
            )
        changes["servicing_fee_rate"] = rate
    if settings.settlement_batch_size is not None:
        changes["settlement_batch_size"] = settings.settlement_batch_size
    return dataclasses.replace(investor_policy.InvestorPolicy(), **changes)


def configure_clock(settings: Settings) -> None:
    """The business clock: the system's, or (development, tests) one starting at
    ``TRAMA_CLOCK_START``."""
    if settings.clock_start is None:
        return
    if settings.is_production:
        raise ValueError("TRAMA_CLOCK_START is refused in production: the clock is the system's")
    if settings.clock_start.tzinfo is None:
        raise ValueError("TRAMA_CLOCK_START needs a timezone (e.g. 2026-03-02T12:00:00Z)")
    clock = time.get_clock()
    if isinstance(clock, time.OffsetClock) and clock.start == settings.clock_start:
        return  # already running from there (a second call in one process)
    time.set_clock(time.OffsetClock(settings.clock_start))


def configure_policies(settings: Settings) -> None:
    """Call once at start-up, before serving or working."""
    configure_clock(settings)
    credit_policy.configure(credit_policy_from(settings))
    investor_policy.configure(investor_policy_from(settings))

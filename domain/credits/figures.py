"""The figures a credit shows beside its stored ones: an installment's totals, a schedule's
carried balance, a live position (``docs/credits-ledger.md``).

Every read path shows them through these functions (the API's types, compiled reads), so a
figure has one definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.credits.plans import AllocationResult, InstallmentState
from domain.credits.states import InstallmentStatus, aging_bucket


def charges(insurance: int, other_charges: int) -> int:
    """What an installment charges besides interest and principal."""
    return insurance + other_charges


def installment_amount(
    interest: int, capitalised: int, principal: int, insurance: int, other_charges: int
) -> int:
    """The installment: interest due + principal + charges (late interest aside)."""
    return interest - capitalised + principal + charges(insurance, other_charges)


def closing_balance(opening_balance: int, capitalised: int, principal: int) -> int:
    return opening_balance + capitalised - principal


def paid(
    principal_paid: int, interest_paid: int, charges_paid: int, late_interest_paid: int
) -> int:
    """Everything paid on a row, late interest too."""
    return principal_paid + interest_paid + charges_paid + late_interest_paid


def written_off(
    principal_written_off: int,
    interest_written_off: int,
    charges_written_off: int,
    late_interest_written_off: int,
) -> int:
    """Everything partial write-offs forgave on a row (never cash)."""
    return (
        principal_written_off
        + interest_written_off
        + charges_written_off
        + late_interest_written_off
    )


def outstanding(
    status: str,
    amount: int,
    late_interest_accrued: int,
    paid_total: int,
    written_off_total: int = 0,
) -> int:
    """What is still owed on a row: 0 once restructured (carried into the next schedule);
    what was paid or written off is not owed."""
    if status == InstallmentStatus.RESTRUCTURED.value:
        return 0
    return max(0, amount + late_interest_accrued - paid_total - written_off_total)


def carried_balance(chunks: Iterable[Mapping[str, Any]] | None) -> int:
    """The credit balance a schedule carried in (its held chunks, by payment)."""
    return sum(int(c.get("amount", 0)) for c in chunks or [])


@dataclass(frozen=True, slots=True)
class Position:
    """A credit's live figures as of a day, from a replay (:class:`AllocationResult`)."""

    as_of: date
    days_past_due: int
    aging_bucket: str
    outstanding_principal: int
    overdue: int
    late_interest_due: int
    credit_balance: int
    level_installment: int | None
    paid_off_on: date | None
    #: The first installment not paid, due on or after ``as_of``.
    next_installment: InstallmentState | None
    installments: list[InstallmentState]


def position(result: AllocationResult) -> Position:
    upcoming = next(
        (i for i in result.installments if i.paid_on is None and i.due_date >= result.as_of),
        None,
    )
    late = sum(
        max(0, r.late_interest_accrued - r.late_interest_paid - r.late_interest_written_off)
        for r in result.installments
    )
    return Position(
        as_of=result.as_of,
        days_past_due=result.days_past_due,
        aging_bucket=aging_bucket(result.days_past_due).value,
        outstanding_principal=result.outstanding_principal,
        overdue=result.overdue(),
        late_interest_due=late,
        credit_balance=result.credit_balance,
        level_installment=result.level_installment,
        paid_off_on=result.paid_off_on,
        next_installment=upcoming,
        installments=result.installments,
    )

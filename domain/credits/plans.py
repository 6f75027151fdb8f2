"""The allocator's vocabulary: components, orders, the plan it replays, the events it
replays, and what it returns. The engine is :mod:`domain.credits.allocation`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from domain.credits.calendar import DayCount
from domain.credits.schedules import GraceKind, Schedule, Scheme
from domain.shared.errors import ValidationFailed

__all__ = [
    "DEFAULT_COMPONENTS",
    "DEFAULT_ORDER",
    "AllocationLine",
    "AllocationMode",
    "AllocationOrder",
    "AllocationResult",
    "Component",
    "HeldChunk",
    "InstallmentState",
    "LateInterestPolicy",
    "PaymentEvent",
    "Plan",
    "PlanRow",
    "Prepayment",
    "RefundEvent",
    "ReplayConflict",
    "WriteOffEvent",
]


class Component(StrEnum):
    LATE_INTEREST = "LATE_INTEREST"
    CHARGES = "CHARGES"  # insurance + other monthly charges
    INTEREST = "INTEREST"
    PRINCIPAL = "PRINCIPAL"


class AllocationMode(StrEnum):
    INSTALLMENT_FIRST = "INSTALLMENT_FIRST"  # oldest installment first, every component of it
    COMPONENT_FIRST = "COMPONENT_FIRST"  # each component across all due installments first


class Prepayment(StrEnum):
    SHORTER_TERM = "SHORTER_TERM"  # keep the installment, drop rows from the end
    SMALLER_INSTALLMENT = "SMALLER_INSTALLMENT"  # keep the rows, lower the installment


DEFAULT_COMPONENTS: tuple[Component, ...] = (
    Component.LATE_INTEREST,
    Component.CHARGES,
    Component.INTEREST,
    Component.PRINCIPAL,
)


@dataclass(frozen=True, slots=True)
class AllocationOrder:
    components: tuple[Component, ...] = DEFAULT_COMPONENTS
    mode: AllocationMode = AllocationMode.INSTALLMENT_FIRST

    def __post_init__(self) -> None:
        if sorted(self.components) != sorted(Component) or len(self.components) != 4:
            raise ValueError("the allocation order must name every component exactly once")

    def encode(self) -> str:
        return ",".join(c.value for c in self.components)

    @classmethod
    def parse(
        cls, components: str | Sequence[str] | None, mode: str | None = None, *, field: str
    ) -> AllocationOrder:
        """From user input; ``ValidationFailed`` on ``field`` (or ``<field>Mode``)."""
        if components is None:
            names: list[str] = [c.value for c in DEFAULT_COMPONENTS]
        elif isinstance(components, str):
            names = [part.strip() for part in components.split(",") if part.strip()]
        else:
            names = [str(part) for part in components]
        known = {c.value for c in Component}
        if sorted(names) != sorted(known):
            raise ValidationFailed.on(
                field, f"must name each of {', '.join(sorted(known))} exactly once"
            )
        if mode is None:
            mode = AllocationMode.INSTALLMENT_FIRST
        if mode not in {m.value for m in AllocationMode}:
            allowed = ", ".join(m.value for m in AllocationMode)
            raise ValidationFailed.on(f"{field}Mode", f"{mode!r} is not one of {allowed}")
        return cls(tuple(Component(n) for n in names), AllocationMode(mode))


DEFAULT_ORDER = AllocationOrder()


@dataclass(frozen=True, slots=True)
class LateInterestPolicy:
    annual_rate: Decimal  # e.g. Decimal("0.24")
    max_annual_rate: Decimal  # the cap: the rate used is min(annual_rate, max_annual_rate)
    basis: int = 360  # days in the year of the late-interest day count (actual days over it)
    grace_days: int = 0  # late interest runs from due date + grace_days

    @property
    def effective_rate(self) -> Decimal:
        return min(self.annual_rate, self.max_annual_rate)


@dataclass(frozen=True, slots=True)
class PlanRow:
    number: int
    due_date: date
    days: int
    opening_balance: int
    interest: int  # accrued
    capitalised: int
    principal: int
    insurance: int
    other_charges: int


@dataclass(frozen=True, slots=True)
class Plan:
    """A schedule as the allocator needs it: its rows and what rebuilding them takes."""

    start_date: date
    rows: tuple[PlanRow, ...]
    annual_rate: Decimal
    day_count: DayCount
    scheme: Scheme
    grace_months: int
    grace_kind: GraceKind
    rounding: str
    level_installment: int | None = None

    @classmethod
    def from_schedule(cls, schedule: Schedule) -> Plan:
        request = schedule.request
        return cls(
            start_date=request.disbursement_date,
            rows=tuple(
                PlanRow(
                    number=r.number,
                    due_date=r.due_date,
                    days=r.days,
                    opening_balance=r.opening_balance.amount,
                    interest=r.interest.amount,
                    capitalised=r.capitalised.amount,
                    principal=r.principal.amount,
                    insurance=r.insurance.amount,
                    other_charges=r.other_charges.amount,
                )
                for r in schedule.rows
            ),
            annual_rate=request.annual_rate,
            day_count=DayCount(request.day_count),
            scheme=schedule.scheme,
            grace_months=request.grace_months,
            grace_kind=GraceKind(request.grace_kind),
            rounding=schedule.rounding,
            level_installment=(
                None if schedule.level_installment is None else schedule.level_installment.amount
            ),
        )


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    id: Any  # sortable and hashable (a UUID in the service)
    at: datetime | date  # the sort key with ``id``
    on: date  # the business date of ``at``
    amount: int  # in the credit's currency, minor units, > 0
    prepayment: Prepayment | None = None


@dataclass(frozen=True, slots=True)
class RefundEvent:
    id: Any
    at: datetime | date
    on: date
    amount: int


@dataclass(frozen=True, slots=True)
class WriteOffEvent:
    """A partial write-off: ``amount`` of what is owed forgiven from installment
    ``installment`` on (the oldest row not settled when ``None``), never cash. It relieves
    each row in the reverse of the allocation order (what cash would pay last goes first:
    by default PRINCIPAL, INTEREST, CHARGES, LATE_INTEREST), then the next rows; what
    finds nothing owed is not applied."""

    id: Any
    at: datetime | date
    on: date
    amount: int
    installment: int | None = None


@dataclass(frozen=True, slots=True)
class HeldChunk:
    """Credit balance carried into a schedule (a restructure carries the old one's)."""

    payment_id: Any
    amount: int


@dataclass(frozen=True, slots=True)
class AllocationLine:
    payment_id: Any
    installment: int
    component: Component
    amount: int


@dataclass(slots=True)
class InstallmentState:
    number: int
    due_date: date
    days: int
    opening_balance: int
    interest: int
    capitalised: int
    principal: int
    insurance: int
    other_charges: int
    principal_paid: int = 0
    interest_paid: int = 0
    charges_paid: int = 0
    late_interest_accrued: int = 0  # as of the result's as_of
    late_interest_paid: int = 0
    paid_on: date | None = None
    #: Forgiven by partial write-offs (never cash), per component.
    principal_written_off: int = 0
    interest_written_off: int = 0
    charges_written_off: int = 0
    late_interest_written_off: int = 0

    @property
    def charges(self) -> int:
        return self.insurance + self.other_charges

    @property
    def interest_due(self) -> int:
        return self.interest - self.capitalised

    @property
    def amount(self) -> int:
        """The installment: interest due + principal + charges (late interest aside)."""
        return self.interest_due + self.principal + self.charges

    @property
    def closing_balance(self) -> int:
        return self.opening_balance + self.capitalised - self.principal

    @property
    def paid(self) -> int:
        return (
            self.principal_paid + self.interest_paid + self.charges_paid + self.late_interest_paid
        )

    @property
    def written_off(self) -> int:
        return (
            self.principal_written_off
            + self.interest_written_off
            + self.charges_written_off
            + self.late_interest_written_off
        )

    @property
    def outstanding(self) -> int:
        return self.amount + self.late_interest_accrued - self.paid - self.written_off

    @property
    def status(self) -> str:
        if self.paid_on is not None:
            return "PAID"
        return "PARTIAL" if self.paid or self.written_off else "PENDING"


@dataclass
class AllocationResult:
    as_of: date
    lines: list[AllocationLine]
    installments: list[InstallmentState]
    credit_balance: int
    held: list[HeldChunk]  # the credit balance, by payment, oldest first
    allocated_by_payment: dict[Any, int]
    held_by_payment: dict[Any, int]
    refunded_by_payment: dict[Any, int]
    paid_off_on: date | None
    days_past_due: int
    level_installment: int | None
    refund_sources: dict[Any, list[HeldChunk]] = field(default_factory=dict)
    #: What each write-off forgave: (write-off id, installment, component, amount).
    write_off_lines: list[AllocationLine] = field(default_factory=list)
    applied_by_write_off: dict[Any, int] = field(default_factory=dict)

    @property
    def outstanding_principal(self) -> int:
        return sum(
            i.principal - i.principal_paid - i.principal_written_off for i in self.installments
        )

    def overdue(self, as_of: date | None = None) -> int:
        """Everything owed on installments due before ``as_of`` (default: the result's)."""
        day = as_of or self.as_of
        return sum(i.outstanding for i in self.installments if i.due_date < day)


class ReplayConflict(Exception):
    """The history cannot be replayed (a refund larger than the balance it refunded)."""

    def __init__(self, message: str, *, refund_id: Any = None) -> None:
        super().__init__(message)
        self.refund_id = refund_id

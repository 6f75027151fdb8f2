"""Credit lifecycle: statuses, the transitions between them, and small status enums.

```
APPROVED ──disburse──► ACTIVE ──(all paid)──► PAID_OFF
   │                    ▲  │
   └─cancel─► CANCELLED │  └─(overdue)─► DELINQUENT ──(cured)─► ACTIVE / RESTRUCTURED
                        │
ACTIVE / DELINQUENT / RESTRUCTURED ──restructure──► RESTRUCTURED (new schedule, old kept)
ACTIVE / DELINQUENT / RESTRUCTURED ──write off──► WRITTEN_OFF
PAID_OFF ──(a reversal or backdated replay reopens it)──► ACTIVE / DELINQUENT / RESTRUCTURED
```

``RESTRUCTURED`` is a performing status like ``ACTIVE`` (the credit pays its new schedule);
a restructured credit that falls behind becomes ``DELINQUENT`` and, once cured, returns to
``RESTRUCTURED``.
"""

from __future__ import annotations

from enum import StrEnum

from domain.shared.errors import InvalidTransition

__all__ = [
    "OPEN_STATUSES",
    "PAYABLE_STATUSES",
    "TRANSITIONS",
    "AgingBucket",
    "CreditStatus",
    "InstallmentStatus",
    "PaymentStatus",
    "ScheduleReason",
    "aging_bucket",
    "can_transition",
    "ensure_transition",
]


class CreditStatus(StrEnum):
    APPROVED = "APPROVED"  # registered, not disbursed: no schedule is running yet
    ACTIVE = "ACTIVE"
    DELINQUENT = "DELINQUENT"
    RESTRUCTURED = "RESTRUCTURED"
    PAID_OFF = "PAID_OFF"
    WRITTEN_OFF = "WRITTEN_OFF"
    CANCELLED = "CANCELLED"


TRANSITIONS: dict[CreditStatus, frozenset[CreditStatus]] = {
    CreditStatus.APPROVED: frozenset({CreditStatus.ACTIVE, CreditStatus.CANCELLED}),
    CreditStatus.ACTIVE: frozenset(
        {
            CreditStatus.DELINQUENT,
            CreditStatus.RESTRUCTURED,
            CreditStatus.PAID_OFF,
            CreditStatus.WRITTEN_OFF,
        }
    ),
    CreditStatus.DELINQUENT: frozenset(
        {
            CreditStatus.ACTIVE,
            CreditStatus.RESTRUCTURED,
            CreditStatus.PAID_OFF,
            CreditStatus.WRITTEN_OFF,
        }
    ),
    CreditStatus.RESTRUCTURED: frozenset(
        {
            CreditStatus.DELINQUENT,
            CreditStatus.RESTRUCTURED,
            CreditStatus.PAID_OFF,
            CreditStatus.WRITTEN_OFF,
        }
    ),
    CreditStatus.PAID_OFF: frozenset(
        {CreditStatus.ACTIVE, CreditStatus.DELINQUENT, CreditStatus.RESTRUCTURED}
    ),
    CreditStatus.WRITTEN_OFF: frozenset(),
    CreditStatus.CANCELLED: frozenset(),
}

#: Statuses in which a schedule runs (payments, delinquency, restructuring).
OPEN_STATUSES = frozenset({CreditStatus.ACTIVE, CreditStatus.DELINQUENT, CreditStatus.RESTRUCTURED})
#: Statuses that accept a new payment.
PAYABLE_STATUSES = OPEN_STATUSES


def can_transition(source: str, target: str) -> bool:
    return CreditStatus(target) in TRANSITIONS[CreditStatus(source)]


def ensure_transition(source: str, target: str) -> None:
    if not can_transition(source, target):
        raise InvalidTransition("Credit", str(source), str(target))


class InstallmentStatus(StrEnum):
    PENDING = "PENDING"  # nothing paid yet
    PARTIAL = "PARTIAL"  # something paid, something owed
    PAID = "PAID"  # every component paid, late interest included
    RESTRUCTURED = "RESTRUCTURED"  # replaced by a later schedule with something unpaid


class PaymentStatus(StrEnum):
    BOOKED = "BOOKED"
    REVERSED = "REVERSED"


class ScheduleReason(StrEnum):
    ORIGINAL = "ORIGINAL"
    RESTRUCTURE = "RESTRUCTURE"


class AgingBucket(StrEnum):
    """Days past due, in the buckets collections and investors report."""

    CURRENT = "CURRENT"
    D1_30 = "1-30"
    D31_60 = "31-60"
    D61_90 = "61-90"
    D91_180 = "91-180"
    D180_PLUS = "180+"


def aging_bucket(days_past_due: int) -> AgingBucket:
    """1-30, 31-60, 61-90, 91-180, over 180; CURRENT when nothing is past due."""
    if days_past_due <= 0:
        return AgingBucket.CURRENT
    if days_past_due <= 30:
        return AgingBucket.D1_30
    if days_past_due <= 60:
        return AgingBucket.D31_60
    if days_past_due <= 90:
        return AgingBucket.D61_90
    if days_past_due <= 180:
        return AgingBucket.D91_180
    return AgingBucket.D180_PLUS

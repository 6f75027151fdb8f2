"""Canonical case states and the state machine every path goes through.

::

    OPEN ──► IN_PROGRESS ◄──► WAITING_CUSTOMER / WAITING_PARTNER
      │           │                     │
      └───────────┴──► RESOLVED ──► CLOSED          (any active state ──► REJECTED)
                           │          │                    REJECTED ──► CLOSED
                           └──────────┴── reopen (within the window) ──► IN_PROGRESS

A finished case (RESOLVED, REJECTED or CLOSED) can be reopened into IN_PROGRESS only within
``REOPEN_WINDOW`` of the moment it was resolved or rejected (``Case.resolved_at``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from domain.shared.errors import InvalidTransition


class CaseStatus(StrEnum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    WAITING_CUSTOMER = "WAITING_CUSTOMER"
    WAITING_PARTNER = "WAITING_PARTNER"
    RESOLVED = "RESOLVED"
    REJECTED = "REJECTED"
    CLOSED = "CLOSED"


#: States in which someone still has to work on the case (the SLA clock may run).
ACTIVE = frozenset(
    {
        CaseStatus.OPEN,
        CaseStatus.IN_PROGRESS,
        CaseStatus.WAITING_CUSTOMER,
        CaseStatus.WAITING_PARTNER,
    }
)
#: States with an outcome: only a reopen (or closing) changes them.
FINISHED = frozenset({CaseStatus.RESOLVED, CaseStatus.REJECTED, CaseStatus.CLOSED})
#: Active states in which the SLA clock is stopped (the customer owes us something).
SLA_PAUSED = frozenset({CaseStatus.WAITING_CUSTOMER})

TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.OPEN: frozenset(
        {
            CaseStatus.IN_PROGRESS,
            CaseStatus.WAITING_CUSTOMER,
            CaseStatus.WAITING_PARTNER,
            CaseStatus.RESOLVED,
            CaseStatus.REJECTED,
        }
    ),
    CaseStatus.IN_PROGRESS: frozenset(
        {
            CaseStatus.WAITING_CUSTOMER,
            CaseStatus.WAITING_PARTNER,
            CaseStatus.RESOLVED,
            CaseStatus.REJECTED,
        }
    ),
    CaseStatus.WAITING_CUSTOMER: frozenset(
        {
            CaseStatus.IN_PROGRESS,
            CaseStatus.WAITING_PARTNER,
            CaseStatus.RESOLVED,
            CaseStatus.REJECTED,
        }
    ),
    CaseStatus.WAITING_PARTNER: frozenset(
        {
            CaseStatus.IN_PROGRESS,
            CaseStatus.WAITING_CUSTOMER,
            CaseStatus.RESOLVED,
            CaseStatus.REJECTED,
        }
    ),
    CaseStatus.RESOLVED: frozenset({CaseStatus.CLOSED, CaseStatus.IN_PROGRESS}),
    CaseStatus.REJECTED: frozenset({CaseStatus.CLOSED, CaseStatus.IN_PROGRESS}),
    CaseStatus.CLOSED: frozenset({CaseStatus.IN_PROGRESS}),
}

#: States a case can be resolved from (what a mass resolution may touch).
RESOLVABLE = frozenset(s for s, targets in TRANSITIONS.items() if CaseStatus.RESOLVED in targets)

#: How long after its resolution a case may be reopened.
REOPEN_WINDOW = timedelta(days=30)


def parse_status(value: str | CaseStatus) -> CaseStatus:
    """A canonical status from its name; ``ValueError`` with the valid names otherwise."""
    try:
        return CaseStatus(value)
    except ValueError:
        names = ", ".join(s.value for s in CaseStatus)
        raise ValueError(f"must be one of {names}") from None


def can_transition(from_status: CaseStatus | str, to_status: CaseStatus | str) -> bool:
    return CaseStatus(to_status) in TRANSITIONS[CaseStatus(from_status)]


def is_reopen(from_status: CaseStatus | str, to_status: CaseStatus | str) -> bool:
    return CaseStatus(from_status) in FINISHED and CaseStatus(to_status) in ACTIVE


def ensure_transition(
    from_status: CaseStatus | str,
    to_status: CaseStatus | str,
    *,
    resolved_at: datetime | None = None,
    now: datetime | None = None,
    reopen_window: timedelta = REOPEN_WINDOW,
) -> None:
    """Raise :class:`InvalidTransition` unless the state machine allows the move.

    A reopen also needs ``resolved_at`` and ``now``: it is allowed only within
    ``reopen_window`` of the resolution.
    """
    source = CaseStatus(from_status)
    target = CaseStatus(to_status)
    if target not in TRANSITIONS[source]:
        raise InvalidTransition("Case", source.value, target.value)
    if is_reopen(source, target) and (
        resolved_at is None or now is None or now - resolved_at > reopen_window
    ):
        error = InvalidTransition("Case", source.value, target.value)
        error.message = (
            f"Case cannot go from {source.value} to {target.value}: it can be reopened "
            f"only within {reopen_window.days} days of its resolution"
        )
        error.args = (error.message,)
        raise error

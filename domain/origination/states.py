"""The application's states and the moves between them.

```
draft -> submitted -> scored -> pre_approved | referred | rejected
pre_approved -> inspection -> offered -> signing -> approved -> disbursed
pre_approved -> offered            (no vehicle: nothing to inspect)
inspection -> referred             (failed inspection, valuation below the price)
referred -> pre_approved | rejected (a person decides)
signing -> offered                 (signature declined)
open states -> withdrawn (the applicant) | expired (a signature or offer that lapsed)
```

An application that names a vehicle goes through inspection before an offer; one without a
vehicle (a plain amount) goes from pre_approved straight to offered.
"""

from __future__ import annotations

from domain.origination.models import ApplicationState as S
from domain.shared.errors import InvalidTransition

TRANSITIONS: dict[S, frozenset[S]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.WITHDRAWN, S.EXPIRED}),
    S.SUBMITTED: frozenset({S.SCORED, S.WITHDRAWN, S.EXPIRED}),
    S.SCORED: frozenset({S.PRE_APPROVED, S.REFERRED, S.REJECTED}),
    S.PRE_APPROVED: frozenset({S.INSPECTION, S.OFFERED, S.REFERRED, S.WITHDRAWN, S.EXPIRED}),
    S.REFERRED: frozenset({S.PRE_APPROVED, S.REJECTED, S.WITHDRAWN, S.EXPIRED}),
    S.INSPECTION: frozenset({S.OFFERED, S.REFERRED, S.WITHDRAWN, S.EXPIRED}),
    S.OFFERED: frozenset({S.SIGNING, S.WITHDRAWN, S.EXPIRED}),
    S.SIGNING: frozenset({S.APPROVED, S.OFFERED, S.EXPIRED, S.WITHDRAWN}),
    S.APPROVED: frozenset({S.DISBURSED}),
    S.REJECTED: frozenset(),
    S.DISBURSED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.EXPIRED: frozenset(),
}

#: States after which nothing happens.
FINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
#: States whose decision the 24-hour promise waits for.
AWAITING_DECISION = frozenset({S.SUBMITTED, S.SCORED})
#: States a decision was reached in (the clock stops).
DECIDED = frozenset(
    {
        S.PRE_APPROVED,
        S.REFERRED,
        S.REJECTED,
        S.INSPECTION,
        S.OFFERED,
        S.SIGNING,
        S.APPROVED,
        S.DISBURSED,
    }
)
#: States the customer may still withdraw from.
WITHDRAWABLE = frozenset(s for s, targets in TRANSITIONS.items() if S.WITHDRAWN in targets)
#: States in which the vehicle is held for the application.
HOLDS_VEHICLE = frozenset(
    {S.SUBMITTED, S.SCORED, S.PRE_APPROVED, S.REFERRED, S.INSPECTION, S.OFFERED, S.SIGNING}
)


def can_move(current: str, target: str) -> bool:
    try:
        return S(target) in TRANSITIONS[S(current)]
    except ValueError:
        return False


def ensure_move(current: str, target: str) -> None:
    if not can_move(current, target):
        raise InvalidTransition("CreditApplication", current, target)

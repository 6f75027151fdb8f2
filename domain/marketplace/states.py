"""Vehicle states and the transitions every path goes through.

::

    AVAILABLE ──► RESERVED ──► SOLD
        ▲  │         │
        │  │         └──► AVAILABLE   (hold released or lapsed)
        │  └──► WITHDRAWN ──► AVAILABLE (the dealer lists it again)
        └───────────┘

- A dealer's full feed withdraws only AVAILABLE vehicles it no longer lists; a RESERVED
  vehicle keeps its hold (the application is under way) and a SOLD one stays sold.
- SOLD is final: a vehicle is sold through the application that reserved it
  (``service.mark_sold``), never by a feed.
"""

from __future__ import annotations

from enum import StrEnum

from domain.shared.errors import InvalidTransition


class VehicleStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    RESERVED = "RESERVED"
    SOLD = "SOLD"
    WITHDRAWN = "WITHDRAWN"


TRANSITIONS: dict[VehicleStatus, frozenset[VehicleStatus]] = {
    VehicleStatus.AVAILABLE: frozenset({VehicleStatus.RESERVED, VehicleStatus.WITHDRAWN}),
    VehicleStatus.RESERVED: frozenset({VehicleStatus.AVAILABLE, VehicleStatus.SOLD}),
    VehicleStatus.WITHDRAWN: frozenset({VehicleStatus.AVAILABLE}),
    VehicleStatus.SOLD: frozenset(),
}

#: What anyone (anonymous visitors included) sees in the catalogue. A reserved vehicle is
#: shown (marked reserved) so a visitor knows it may come back; it cannot be reserved again.
PUBLIC = frozenset({VehicleStatus.AVAILABLE, VehicleStatus.RESERVED})


def can_go(current: VehicleStatus | str, target: VehicleStatus | str) -> bool:
    return VehicleStatus(target) in TRANSITIONS[VehicleStatus(current)]


def ensure_transition(current: VehicleStatus | str, target: VehicleStatus | str) -> None:
    if not can_go(current, target):
        raise InvalidTransition("Vehicle", str(VehicleStatus(current)), str(VehicleStatus(target)))

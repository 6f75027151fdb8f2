"""Who sees and changes which vehicles, as SQL expressions built from the principal.

- Anyone, anonymous visitors included, sees the public catalogue: AVAILABLE and RESERVED
  vehicles (a reserved one is shown as reserved; it cannot be reserved again).
- A dealer's own staff and systems (any partner role of the vehicle's partner) also see
  its SOLD and WITHDRAWN vehicles.
- Administrators see every vehicle.
- Changing a dealer's inventory (feeds, photos) needs ``vehicles:write`` and is for that
  dealer's own partner only (administrators for any dealer).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import col

from domain.marketplace.models import Vehicle
from domain.marketplace.states import PUBLIC
from domain.shared.errors import Forbidden
from domain.shared.principal import PARTNER_ROLES, Principal, Scope


def own_partner(principal: Principal | None) -> uuid.UUID | None:
    """The partner whose inventory ``principal`` works on (None: none)."""
    if principal is None or principal.partner_id is None:
        return None
    return principal.partner_id if principal.has_role(*PARTNER_ROLES) else None


def sees_everything(principal: Principal | None) -> bool:
    return principal is not None and principal.is_admin


def visible_to(principal: Principal | None) -> sa.ColumnElement[bool]:
    """The vehicles ``principal`` (None: an anonymous visitor) may see."""
    if sees_everything(principal):
        return sa.true()
    public = col(Vehicle.status).in_(sorted(s.value for s in PUBLIC))
    partner = own_partner(principal)
    if partner is None:
        return public
    return sa.or_(public, col(Vehicle.dealer_id) == partner)


def may_see(principal: Principal | None, vehicle: Vehicle) -> bool:
    """The same rule as :func:`visible_to`, for one loaded row."""
    if sees_everything(principal) or vehicle.status in {s.value for s in PUBLIC}:
        return True
    return own_partner(principal) == vehicle.dealer_id


def ensure_can_write(principal: Principal) -> None:
    if not principal.has_scope(Scope.VEHICLES_WRITE):
        raise Forbidden("you cannot change dealers' inventories (vehicles:write)")


def ensure_can_manage_dealer(principal: Principal, dealer_id: uuid.UUID) -> None:
    """Feeds and photos: ``vehicles:write`` on the dealer's own partner (or an admin)."""
    ensure_can_write(principal)
    if principal.is_admin:
        return
    if own_partner(principal) != dealer_id:
        raise Forbidden("you can change your own partner's vehicles only")


def ensure_can_reserve(principal: Principal) -> None:
    """``reserveVehicle``: lender staff working applications (``applications:write``) and
    administrators. Customers' holds are made by origination when they apply."""
    if principal.is_admin:
        return
    if not principal.has_scope(Scope.APPLICATIONS_WRITE) or own_partner(principal) is None:
        raise Forbidden("only lender staff reserve vehicles for applications")

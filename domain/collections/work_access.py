"""Who may see and do what in collections work and reports.

A lender's collections belong to its staff: agents and supervisors of the lending partner
and its systems (a dialer, the partner's platform) work its accounts; supervisors (and
administrators) change how the work is organised (collectors, assignment rules, the
strategy) and run it by hand. Administrators act for any lender and must name it.
Reports are read by the lender's staff and administrators only. Nobody else learns that a
lender's queue, promise or report exists: reads outside one's lender are ``NotFound``.
"""

from __future__ import annotations

import uuid

from domain.shared.errors import Forbidden, NotFound, ValidationFailed
from domain.shared.principal import Principal, Role, Scope

__all__ = [
    "ensure_can_manage",
    "ensure_can_read",
    "ensure_can_work",
    "ensure_same_lender",
    "lender_for",
]

_STAFF = (Role.AGENT, Role.SUPERVISOR, Role.PARTNER_SYSTEM)


def _is_staff(principal: Principal) -> bool:
    return principal.partner_id is not None and principal.has_role(*_STAFF)


def ensure_can_read(principal: Principal) -> None:
    """The lender's staff and systems, and administrators."""
    if principal.is_admin:
        return
    if not _is_staff(principal) or not principal.has_scope(Scope.COLLECTIONS_READ):
        raise Forbidden("collections are for the lender's staff and administrators")


def ensure_can_work(principal: Principal) -> None:
    """Log contacts and promises: the lender's agents, supervisors and systems."""
    ensure_can_read(principal)
    if not principal.has_scope(Scope.COLLECTIONS_WRITE):
        raise Forbidden("you cannot work collections")


def ensure_can_manage(principal: Principal) -> None:
    """Collectors, assignment rules, the strategy, manual runs and reassignments."""
    ensure_can_read(principal)
    if not principal.has_role(Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden("only supervisors and administrators organise collections")


def lender_for(
    principal: Principal, lender_id: uuid.UUID | None, *, field: str = "lenderId"
) -> uuid.UUID:
    """The lender a request is about: the staff's own partner (naming another is
    ``Forbidden``); administrators must name one."""
    ensure_can_read(principal)
    if principal.is_admin:
        if lender_id is None:
            raise ValidationFailed.on(field, "administrators name the lender")
        return lender_id
    assert principal.partner_id is not None
    if lender_id is not None and lender_id != principal.partner_id:
        raise Forbidden("you work for another lender")
    return principal.partner_id


def ensure_same_lender(
    principal: Principal, partner_id: uuid.UUID, entity: str, key: object
) -> None:
    """A row of another lender does not exist, as far as this principal knows."""
    ensure_can_read(principal)
    if principal.is_admin:
        return
    if principal.partner_id != partner_id:
        raise NotFound(entity, key)

"""Who may see and change credits.

Staff of the lending partner (agents, supervisors) and its systems see the credits their
partner lent; administrators see all; a customer (role ``customer`` with its
``customer_id``) sees only their own credits, and only through ``my_credits`` when listing.
Writes need ``credits:write`` (payments: ``payments:write``); write-offs and restructures need
a supervisor or an administrator.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from domain.credits.models import Credit
from domain.shared.errors import Forbidden, NotFound
from domain.shared.models import table_of
from domain.shared.principal import Principal, Role, Scope
from domain.shared.reads import fresh_alias

__all__ = [
    "customer_involvement",
    "ensure_can_list",
    "ensure_can_read",
    "ensure_can_write",
    "ensure_customer",
    "ensure_supervisor",
    "ensure_visible",
    "may_see",
    "visible_to",
]


def ensure_can_read(principal: Principal) -> None:
    if not principal.has_scope(Scope.CREDITS_READ):
        raise Forbidden("you cannot read credits")


def ensure_can_write(principal: Principal) -> None:
    if not principal.has_scope(Scope.CREDITS_WRITE):
        raise Forbidden("you cannot change credits")


_STAFF = (Role.AGENT, Role.SUPERVISOR, Role.PARTNER_SYSTEM)


def _is_staff(principal: Principal) -> bool:
    return principal.partner_id is not None and principal.has_role(*_STAFF)


def _is_customer(principal: Principal) -> bool:
    return principal.customer_id is not None and principal.has_role(Role.CUSTOMER)


def ensure_can_list(principal: Principal) -> None:
    """The staff list (``search_credits``): readers other than a customer acting alone."""
    ensure_can_read(principal)
    if principal.has_role(Role.CUSTOMER) and not (principal.is_admin or _is_staff(principal)):
        raise Forbidden("customers see their own credits with myCredits")


def ensure_customer(principal: Principal) -> uuid.UUID:
    """The customer a principal acts as (``my_credits``); Forbidden for anyone else."""
    ensure_can_read(principal)
    if not _is_customer(principal):
        raise Forbidden("only a customer has credits of their own; staff use credits()")
    assert principal.customer_id is not None
    return principal.customer_id


def visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    """The credits ``principal`` may see, as a SQL condition: administrators see every
    credit, partner staff and systems the credits their partner lent, a customer their own."""
    if principal.is_admin:
        return sa.true()
    conditions: list[sa.ColumnElement[bool]] = []
    if _is_staff(principal):
        conditions.append(col(Credit.partner_id) == principal.partner_id)
    if _is_customer(principal):
        conditions.append(col(Credit.customer_id) == principal.customer_id)
    if not conditions:
        return sa.false()
    return conditions[0] if len(conditions) == 1 else sa.or_(*conditions)


def customer_involvement(
    partner_id: uuid.UUID, customer_id: sa.ColumnElement[Any]
) -> sa.ColumnElement[bool]:
    """Whether ``partner_id`` holds a credit of the customer ``customer_id`` (a column of the
    enclosing statement): the credits' part of the customers' rule
    (:mod:`domain.customers.scopes`). Over a fresh alias, so it nests anywhere."""
    credits = fresh_alias(table_of(Credit), "customer_id", "partner_id")
    return sa.exists(
        sa.select(sa.literal(1))
        .select_from(credits)
        .where(credits.c.customer_id == customer_id, credits.c.partner_id == partner_id)
    )


def may_see(principal: Principal, credit: Credit) -> bool:
    if principal.is_admin:
        return True
    if _is_staff(principal) and credit.partner_id == principal.partner_id:
        return True
    return _is_customer(principal) and credit.customer_id == principal.customer_id


def ensure_visible(principal: Principal, credit: Credit) -> None:
    """A credit of another partner does not exist, as far as this principal knows."""
    if not may_see(principal, credit):
        raise NotFound("Credit", credit.id)


def ensure_supervisor(principal: Principal, what: str) -> None:
    if not principal.has_role(Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden(f"only supervisors and administrators can {what}")

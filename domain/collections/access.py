"""Who may see and change collection accounts, statements and lines.

Only the staff (agents, supervisors) and systems of the partner that owns an account, and
administrators, see the account, its statements and its lines. Reading needs
``collections:read``; ingesting statements ``collections:write``; registering or changing an
account also needs a supervisor, the partner's system, or an administrator.

Every rule here is a SQL condition on a ``partner_id`` column (:func:`owned_by_principal`),
so lists, ``node``, exports and the reconciliation's reads apply the very same one.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from domain.collections.models import BankAccount, BankStatement, StatementLine
from domain.shared.errors import Forbidden
from domain.shared.principal import Principal, Role, Scope

__all__ = [
    "accounts_visible_to",
    "ensure_can_ingest",
    "ensure_can_manage_accounts",
    "ensure_can_read",
    "ensure_owner",
    "lines_visible_to",
    "may_see_partner",
    "owned_by_principal",
    "statements_visible_to",
]

_STAFF = (Role.AGENT, Role.SUPERVISOR, Role.PARTNER_SYSTEM)


def _staff_partner(principal: Principal) -> uuid.UUID | None:
    if principal.partner_id is not None and principal.has_role(*_STAFF):
        return principal.partner_id
    return None


def ensure_can_read(principal: Principal) -> None:
    if not principal.has_scope(Scope.COLLECTIONS_READ):
        raise Forbidden("you cannot read collection accounts and statements")
    if not principal.is_admin and _staff_partner(principal) is None:
        raise Forbidden("only a lender's staff and administrators see its collection accounts")


def ensure_can_ingest(principal: Principal) -> None:
    ensure_can_read(principal)
    if not principal.has_scope(Scope.COLLECTIONS_WRITE):
        raise Forbidden("you cannot load bank statements")


def ensure_can_manage_accounts(principal: Principal) -> None:
    ensure_can_ingest(principal)
    if not (principal.is_admin or principal.has_role(Role.SUPERVISOR, Role.PARTNER_SYSTEM)):
        raise Forbidden("only a supervisor or an administrator registers collection accounts")


def may_see_partner(principal: Principal, partner_id: uuid.UUID) -> bool:
    return principal.is_admin or _staff_partner(principal) == partner_id


def ensure_owner(principal: Principal, partner_id: uuid.UUID) -> None:
    """Forbidden unless ``principal`` acts for ``partner_id`` (or is an administrator)."""
    if not may_see_partner(principal, partner_id):
        raise Forbidden("this collection account belongs to another partner")


def owned_by_principal(principal: Principal, partner_column: Any) -> sa.ColumnElement[bool]:
    """Rows whose owner partner (``partner_column``) ``principal`` may see, as SQL."""
    if principal.is_admin:
        return sa.true()
    partner = _staff_partner(principal)
    if partner is None:
        return sa.false()
    condition: sa.ColumnElement[bool] = partner_column == partner
    return condition


def accounts_visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    return owned_by_principal(principal, col(BankAccount.partner_id))


def statements_visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    return owned_by_principal(principal, col(BankStatement.partner_id))


def lines_visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    return owned_by_principal(principal, col(StatementLine.partner_id))

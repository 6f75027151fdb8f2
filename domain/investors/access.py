"""Who may read and change investors.

- Staff with ``investors:read`` see every investor and portfolio; ``investors:write``
  registers investors, changes them and funds credits.
- A principal with the ``investor`` role carries the claim ``investor_id`` and sees only
  that investor: its record, portfolio and statements.
- Anyone else is refused.

:func:`visible_investors` is the same rule as a SQL filter, for list queries.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from domain.shared.errors import Forbidden
from domain.shared.ids import parse_uuid
from domain.shared.principal import Principal, Role, Scope


def claimed_investor(principal: Principal) -> uuid.UUID | None:
    """The investor an ``investor`` principal acts as (its ``investor_id`` claim)."""
    if not principal.has_role(Role.INVESTOR):
        return None
    return parse_uuid(principal.claims.get("investor_id"))


def is_staff_reader(principal: Principal) -> bool:
    return principal.has_scope(Scope.INVESTORS_READ)


def ensure_can_write(principal: Principal) -> None:
    if not principal.has_scope(Scope.INVESTORS_WRITE):
        raise Forbidden("you cannot change investors or fund credits")


def ensure_can_read_any(principal: Principal) -> None:
    if not is_staff_reader(principal):
        raise Forbidden("you cannot read investors")


def ensure_can_read(principal: Principal, investor_id: uuid.UUID) -> None:
    """Staff readers see every investor; an investor only itself."""
    if is_staff_reader(principal):
        return
    own = claimed_investor(principal)
    if own is None or own != investor_id:
        raise Forbidden("you can only see your own investor account")


def visible_investors(principal: Principal, column: Any) -> sa.ColumnElement[bool]:
    """SQL filter on an investor id column: everything for staff, one id for an investor."""
    if is_staff_reader(principal):
        return sa.true()
    own = claimed_investor(principal)
    if own is None:
        raise Forbidden("you cannot read investors")
    result: sa.ColumnElement[bool] = column == own
    return result


def sees_personal_data(principal: Principal, investor_id: uuid.UUID) -> bool:
    """Whether ``principal`` sees an investor's personal data (national ID, e-mail, bank
    account) in clear: ``pii:read``, the staff who register and pay investors
    (``investors:write``), and the investor itself."""
    if principal.has_scope(Scope.PII_READ) or principal.has_scope(Scope.INVESTORS_WRITE):
        return True
    return claimed_investor(principal) == investor_id


def personal_data_visible(principal: Principal, column: Any) -> sa.ColumnElement[bool]:
    """:func:`sees_personal_data` as a SQL condition on an investor id column (a search
    must not match what the caller cannot read)."""
    if principal.has_scope(Scope.PII_READ) or principal.has_scope(Scope.INVESTORS_WRITE):
        return sa.true()
    own = claimed_investor(principal)
    if own is None:
        return sa.false()
    result: sa.ColumnElement[bool] = column == own
    return result

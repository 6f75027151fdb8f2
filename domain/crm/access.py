"""Who may do what in CRM (issue 12).

CRM records belong to one lender. Its staff and systems holding ``crm:read`` see that
lender's leads, opportunities, tasks and advisors; other partners see none of them (not
even that they exist: a lookup by id answers NOT_FOUND). Administrators see every lender's.
Writing needs ``crm:write`` and the same partner. The roster of advisors is kept by the
lender's supervisors (and administrators). Every rule is a SQL condition built from the
principal, so lists, lookups by id and workers apply the same one.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.crm.models import CrmAdvisor
from domain.shared.errors import Forbidden
from domain.shared.principal import PARTNER_ROLES, Principal, Role, Scope


def sees_all(principal: Principal) -> bool:
    return principal.is_admin


def lender_of(principal: Principal) -> uuid.UUID | None:
    """The lender a principal acts for (its staff and systems)."""
    if principal.partner_id is not None and principal.has_role(*PARTNER_ROLES):
        return principal.partner_id
    return None


def ensure_can_read(principal: Principal) -> None:
    if not principal.has_scope(Scope.CRM_READ):
        raise Forbidden("reading CRM records needs the crm:read scope")
    if not sees_all(principal) and lender_of(principal) is None:
        raise Forbidden("CRM records are read on behalf of a lender")


def ensure_can_write(principal: Principal, partner_id: uuid.UUID | None = None) -> None:
    if not principal.has_scope(Scope.CRM_WRITE):
        raise Forbidden("changing CRM records needs the crm:write scope")
    if sees_all(principal):
        return
    lender = lender_of(principal)
    if lender is None:
        raise Forbidden("CRM records are changed on behalf of a lender")
    if partner_id is not None and partner_id != lender:
        raise Forbidden("this record belongs to another lender")


def ensure_can_manage_advisors(principal: Principal, partner_id: uuid.UUID) -> None:
    ensure_can_write(principal, partner_id)
    if not (sees_all(principal) or principal.has_role(Role.SUPERVISOR)):
        raise Forbidden("the advisors' roster is kept by the lender's supervisors")


def visible(principal: Principal, partner_column: Any) -> sa.ColumnElement[bool]:
    """The rows (of any CRM table, by its ``partner_id`` column) the principal may read."""
    if sees_all(principal):
        return sa.true()
    lender = lender_of(principal)
    if lender is None or not principal.has_scope(Scope.CRM_READ):
        return sa.false()
    result: sa.ColumnElement[bool] = partner_column == lender
    return result


def may_read(principal: Principal, partner_id: uuid.UUID) -> bool:
    if not principal.has_scope(Scope.CRM_READ):
        return False
    return sees_all(principal) or lender_of(principal) == partner_id


async def advisor_of(session: AsyncSession, principal: Principal) -> CrmAdvisor | None:
    """The advisor record of the person acting (by their token's subject), if any."""
    lender = lender_of(principal)
    if lender is None:
        return None
    row = await session.execute(
        sa.select(CrmAdvisor).where(
            CrmAdvisor.partner_id == lender,  # type: ignore[arg-type]
            CrmAdvisor.subject == principal.subject,  # type: ignore[arg-type]
        )
    )
    return row.scalar_one_or_none()

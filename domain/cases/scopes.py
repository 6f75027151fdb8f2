"""Who may see and change which cases, as SQL conditions and as checks (DESIGN §6).

Views:

- ``OWN``: cases my partner handles, or that are waiting for my partner to accept them;
- ``ECOSYSTEM``: those, plus the cases my partner opened, handled in the past, or is
  otherwise involved in (it has a :class:`CasePartnerStatus` row);
- ``NETWORK``: every case, for administrators, supervisors and network viewers.

:func:`visible_to` is the only definition of these rules; every read path (ORM, Core, a
compiled query) applies it, and the checks below use it too. A case the principal may not
see does not exist as far as it can tell (:class:`CaseNotFound`); a case it sees but may
not change is :class:`Forbidden`.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases.models import Case, CasePartnerStatus
from domain.shared.errors import Forbidden
from domain.shared.models import table_of
from domain.shared.principal import Principal, Role, Scope


class CaseView(StrEnum):
    OWN = "OWN"
    ECOSYSTEM = "ECOSYSTEM"
    NETWORK = "NETWORK"


#: Roles that may look at the whole network.
NETWORK_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.NETWORK_VIEWER})
#: Roles that work cases on behalf of their partner.
STAFF_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.PARTNER_SYSTEM})


# --- scopes -----------------------------------------------------------------------------
def ensure_can_read(principal: Principal) -> None:
    if not principal.has_scope(Scope.CASES_READ):
        raise Forbidden("you cannot read cases")


def ensure_can_write(principal: Principal) -> None:
    if not principal.has_scope(Scope.CASES_WRITE):
        raise Forbidden("you cannot change cases")


def ensure_can_administer(principal: Principal) -> None:
    """Homologation tables and connectors."""
    if not principal.has_scope(Scope.CASES_ADMIN):
        raise Forbidden("only case administrators can change homologations and connectors")


def ensure_can_resolve_in_bulk(principal: Principal) -> None:
    if not principal.has_scope(Scope.CASES_RESOLVE_BULK):
        raise Forbidden("you cannot resolve cases in bulk")


# --- views ------------------------------------------------------------------------------
def may_use_view(principal: Principal, view: CaseView) -> bool:
    if not principal.has_scope(Scope.CASES_READ):
        return False
    if view is CaseView.NETWORK:
        return principal.has_role(*NETWORK_ROLES)
    return True


def widest_view(principal: Principal) -> CaseView:
    """The view a lookup by id uses: NETWORK when allowed, ECOSYSTEM otherwise."""
    return CaseView.NETWORK if may_use_view(principal, CaseView.NETWORK) else CaseView.ECOSYSTEM


def _involved(partner_id: uuid.UUID) -> sa.ColumnElement[bool]:
    statuses = table_of(CasePartnerStatus)
    return sa.exists(
        sa.select(sa.literal(1)).where(
            statuses.c.case_id == col(Case.id), statuses.c.partner_id == partner_id
        )
    )


def visible_to(principal: Principal, view: CaseView | str) -> sa.ColumnElement[bool]:
    """The cases ``principal`` may see in ``view``, as a condition on ``cases``.

    Raises :class:`Forbidden` without ``cases:read``, or for NETWORK without a role that
    allows it. A principal without a partner sees nothing in OWN and ECOSYSTEM.
    """
    view = CaseView(view)
    ensure_can_read(principal)
    if view is CaseView.NETWORK:
        if not may_use_view(principal, view):
            raise Forbidden("only administrators, supervisors and network viewers see the network")
        return sa.true()
    partner = principal.partner_id
    if partner is None:
        return sa.false()
    own = sa.or_(
        col(Case.handling_partner_id) == partner, col(Case.pending_derivation_to) == partner
    )
    if view is CaseView.OWN:
        return own
    return sa.or_(own, col(Case.originating_partner_id) == partner, _involved(partner))


def masks_pii(principal: Principal, view: CaseView | str) -> bool:
    """Whether personal data (the customer's name, national ID, contact data, the card's
    last digits, free text: description and comments) must be masked for this principal
    in this view. Decided once per operation."""
    CaseView(view)
    return not principal.can_read_pii


async def is_visible(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    view: CaseView | None = None,
) -> bool:
    """The same rule as :func:`visible_to`, for one case (one query)."""
    view = view or widest_view(principal)
    try:
        condition = visible_to(principal, view)
    except Forbidden:
        return False
    stmt = sa.select(col(Case.id)).where(col(Case.id) == case_id, condition)
    return (await session.execute(stmt)).first() is not None


async def is_involved(session: AsyncSession, partner_id: uuid.UUID | None, case: Case) -> bool:
    """Whether ``partner_id`` originated, handles, handled, is asked to take, or otherwise
    takes part in ``case`` (the ECOSYSTEM rule for one case)."""
    if partner_id is None:
        return False
    if partner_id in (
        case.originating_partner_id,
        case.handling_partner_id,
        case.pending_derivation_to,
    ):
        return True
    statuses = table_of(CasePartnerStatus)
    stmt = sa.select(statuses.c.case_id).where(
        statuses.c.case_id == case.id, statuses.c.partner_id == partner_id
    )
    return (await session.execute(stmt)).first() is not None


# --- acting -----------------------------------------------------------------------------
def _staff_of(principal: Principal, partner_id: uuid.UUID | None) -> bool:
    return (
        partner_id is not None
        and principal.partner_id == partner_id
        and principal.has_role(*STAFF_ROLES)
        and principal.has_scope(Scope.CASES_WRITE)
    )


def can_act_on(principal: Principal, case: Case) -> bool:
    """Change the case itself (update, transition, resolve, derive): the handling partner's
    staff and systems, and administrators."""
    if principal.is_admin and principal.has_scope(Scope.CASES_WRITE):
        return True
    return _staff_of(principal, case.handling_partner_id)


def can_answer_derivation(principal: Principal, case: Case) -> bool:
    """Accept or reject a pending derivation: the target partner's staff (and admins)."""
    if case.pending_derivation_to is None:
        return False
    if principal.is_admin and principal.has_scope(Scope.CASES_WRITE):
        return True
    return _staff_of(principal, case.pending_derivation_to)


async def can_comment(session: AsyncSession, principal: Principal, case: Case) -> bool:
    """Comment: staff of any involved partner (collaboration across the network)."""
    if principal.is_admin and principal.has_scope(Scope.CASES_WRITE):
        return True
    if not _staff_of(principal, principal.partner_id):
        return False
    return await is_involved(session, principal.partner_id, case)


async def can_report_on(session: AsyncSession, principal: Principal, case: Case) -> bool:
    """Report a platform status: a partner system of an involved partner."""
    if not principal.has_role(Role.PARTNER_SYSTEM) or not _staff_of(
        principal, principal.partner_id
    ):
        return False
    return await is_involved(session, principal.partner_id, case)


def actable_by(principal: Principal) -> sa.ColumnElement[bool]:
    """:func:`can_act_on` as a condition on ``cases``, for set-based work (mass
    resolution): the very same rule, applied in SQL."""
    if principal.is_admin and principal.has_scope(Scope.CASES_WRITE):
        return sa.true()
    if _staff_of(principal, principal.partner_id):
        return col(Case.handling_partner_id) == principal.partner_id
    return sa.false()


def ensure_can_act_on(principal: Principal, case: Case) -> None:
    if not can_act_on(principal, case):
        raise Forbidden(f"only the handling partner can change case {case.reference}")

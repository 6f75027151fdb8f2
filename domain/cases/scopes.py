"""Who may see and change which cases, as SQL conditions and as checks (DESIGN §6).

Views:

- ``OWN``: cases my partner handles, or that are waiting for my partner to accept them;
- ``ECOSYSTEM``: those, plus the cases my partner opened, handled in the past, or is
  otherwise involved in (it has a :class:`CasePartnerStatus` row);
- ``NETWORK``: every case, for administrators, supervisors and network viewers.

A customer (a ``customer`` principal) sees their own cases, in OWN and ECOSYSTEM alike
(read with ``myCases``), and of them only what the customer may see.

What of a visible case is personal data shown in clear is :func:`pii_visible`: the
customers' rule (:func:`domain.customers.scopes.pii_visible_to`) applied to the case's
customer — the description, notes and card digits of a case are about its customer. Every
partner involved in a case is involved with its customer, so the case's own partners
always see it in clear.

:func:`visible_to` is the only definition of these rules; every read path (ORM, Core, a
compiled query) applies it, and the checks below use it too. A case the principal may not
see does not exist as far as it can tell (:class:`CaseNotFound`); a case it sees but may
not change is :class:`Forbidden`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases.involvement import involves
from domain.cases.models import Case, CasePartnerStatus
from domain.customers import scopes as customer_scopes
from domain.customers.models import Customer
from domain.shared.errors import Forbidden
from domain.shared.models import table_of
from domain.shared.principal import Principal, Role, Scope
from domain.shared.reads import fresh_alias


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


def customer_of(principal: Principal) -> uuid.UUID | None:
    """The customer a ``customer`` principal is (it reads its own cases), else None."""
    return customer_scopes.subject_of(principal)


def is_customer_only(principal: Principal) -> bool:
    """A customer acting for themselves (no partner, not an administrator)."""
    return (
        customer_of(principal) is not None
        and not principal.is_admin
        and customer_scopes.partner_of(principal) is None
    )


def ensure_can_search(principal: Principal) -> None:
    """The staff search (``cases``): readers other than a customer acting alone."""
    ensure_can_read(principal)
    if is_customer_only(principal):
        raise Forbidden("customers see their own cases with myCases")


def ensure_customer(principal: Principal) -> uuid.UUID:
    """The customer a principal acts as (``myCases``); Forbidden for anyone else."""
    ensure_can_read(principal)
    customer = customer_of(principal)
    if customer is None:
        raise Forbidden("only a customer has cases of their own; staff use cases()")
    return customer


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
        customer = customer_of(principal)
        return sa.false() if customer is None else col(Case.customer_id) == customer
    if view is CaseView.OWN:
        return sa.or_(
            col(Case.handling_partner_id) == partner, col(Case.pending_derivation_to) == partner
        )
    return involves(table_of(Case), partner)


def pii_visible(principal: Principal) -> sa.ColumnElement[bool]:
    """Whether the personal data of the case row of ``cases`` is shown to ``principal`` (the
    customer's name, national ID and contact data, the card's last digits, and free text:
    description, notes, comments, timeline values): the customers' rule for the case's
    customer. Select it beside the case (``pii_visible``) or use it as a condition."""
    customers = fresh_alias(table_of(Customer), "id", "home_partner_id", "consent_data_sharing")
    rule = customer_scopes.pii_visible_to(principal, of=customers)
    constant = customer_scopes.is_constant(rule)
    if constant is not None:
        return sa.true() if constant else sa.false()
    cases = table_of(Case)
    of_customer = sa.exists(
        sa.select(sa.literal(1))
        .select_from(customers)
        .where(customers.c.id == cases.c.customer_id, rule)
    )
    partner = customer_scopes.partner_of(principal)
    if partner is None:
        return of_customer
    # A partner involved in this very case is involved with its customer: say so first.
    return sa.or_(involves(cases, partner), of_customer)


async def pii_visible_cases(
    session: AsyncSession, principal: Principal, case_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of ``case_ids`` whose personal data ``principal`` sees (one statement)."""
    ids = list(dict.fromkeys(case_ids))
    if not ids:
        return set()
    stmt = sa.select(col(Case.id)).where(col(Case.id).in_(ids), pii_visible(principal))
    return set((await session.execute(stmt)).scalars().all())


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
    return can_act_for(principal, case.handling_partner_id)


def can_act_for(principal: Principal, handling_partner_id: uuid.UUID | None) -> bool:
    """:func:`can_act_on` from the case's handling partner alone (a read of that column)."""
    if principal.is_admin and principal.has_scope(Scope.CASES_WRITE):
        return True
    return _staff_of(principal, handling_partner_id)


def can_answer_derivation(principal: Principal, case: Case) -> bool:
    """Accept or reject a pending derivation: the target partner's staff (and admins)."""
    return can_answer_derivation_to(principal, case.pending_derivation_to)


def can_answer_derivation_to(principal: Principal, pending_to: uuid.UUID | None) -> bool:
    """:func:`can_answer_derivation` from the case's derivation target alone."""
    if pending_to is None:
        return False
    if principal.is_admin and principal.has_scope(Scope.CASES_WRITE):
        return True
    return _staff_of(principal, pending_to)


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

"""Who sees and changes credit applications, and which of their fields.

Rows (:func:`visible_to`, a SQL condition every read path applies):

- administrators: every application;
- the lender's staff and systems (agent, supervisor, advisor, inspector, partner system):
  the applications made to their partner;
- a dealer's staff: the applications naming one of their partner's vehicles;
- a customer: their own.

Fields (:func:`financial_visible`, :func:`scoring_visible`, :func:`reasons_visible`, each
also as a SQL expression for the compiled path):

- *financial data* (income, employment, obligations, requested amounts, the decision and
  grade) is for the lender's staff, administrators and the customer themself — never for a
  dealer, whatever path the application is read through (the presenter masks it);
- *scoring details* (the decision record) for the lender's staff holding ``scoring:read``
  and administrators;
- *reason codes* for those and for the customer.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from domain.origination.models import CreditApplication
from domain.shared.errors import Forbidden, NotFound
from domain.shared.models import table_of
from domain.shared.principal import Principal, Role, Scope
from domain.shared.reads import fresh_alias

STAFF_ROLES = (
    Role.AGENT,
    Role.SUPERVISOR,
    Role.PARTNER_SYSTEM,
    Role.ADVISOR,
    Role.INSPECTOR,
)
#: Staff who may start and change applications for customers.
WRITER_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.PARTNER_SYSTEM, Role.ADVISOR)
#: Staff who decide referred applications and record disbursements.
DECIDER_ROLES = (Role.AGENT, Role.SUPERVISOR)


def is_staff(principal: Principal) -> bool:
    return principal.partner_id is not None and principal.has_role(*STAFF_ROLES)


def is_dealer(principal: Principal) -> bool:
    return principal.partner_id is not None and principal.has_role(Role.DEALER)


def is_customer(principal: Principal) -> bool:
    return principal.customer_id is not None and principal.has_role(Role.CUSTOMER)


def ensure_can_read(principal: Principal) -> None:
    if not principal.has_scope(Scope.APPLICATIONS_READ):
        raise Forbidden("you cannot read credit applications")


def ensure_can_write(principal: Principal) -> None:
    if not principal.has_scope(Scope.APPLICATIONS_WRITE):
        raise Forbidden("you cannot change credit applications")


def visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    """The applications ``principal`` may see, as a SQL condition."""
    if not principal.has_scope(Scope.APPLICATIONS_READ):
        return sa.false()
    if principal.is_admin:
        return sa.true()
    conditions: list[sa.ColumnElement[bool]] = []
    if is_staff(principal):
        conditions.append(col(CreditApplication.lender_id) == principal.partner_id)
    if is_dealer(principal):
        conditions.append(col(CreditApplication.dealer_id) == principal.partner_id)
    if is_customer(principal):
        conditions.append(col(CreditApplication.customer_id) == principal.customer_id)
    if not conditions:
        return sa.false()
    return conditions[0] if len(conditions) == 1 else sa.or_(*conditions)


def may_see(principal: Principal, app: CreditApplication) -> bool:
    if not principal.has_scope(Scope.APPLICATIONS_READ):
        return False
    if principal.is_admin:
        return True
    if is_staff(principal) and app.lender_id == principal.partner_id:
        return True
    if is_dealer(principal) and app.dealer_id is not None and app.dealer_id == principal.partner_id:
        return True
    return is_customer(principal) and app.customer_id == principal.customer_id


def ensure_visible(principal: Principal, app: CreditApplication) -> None:
    """An application the principal may not see does not exist, as far as they know."""
    if not may_see(principal, app):
        raise NotFound("CreditApplication", app.id)


def _lender_staff(principal: Principal, app: CreditApplication) -> bool:
    return is_staff(principal) and app.lender_id == principal.partner_id


def _own(principal: Principal, app: CreditApplication) -> bool:
    return is_customer(principal) and app.customer_id == principal.customer_id


def financial_visible(principal: Principal, app: CreditApplication) -> bool:
    return principal.is_admin or _lender_staff(principal, app) or _own(principal, app)


def scoring_visible(principal: Principal, app: CreditApplication) -> bool:
    if principal.is_admin:
        return True
    return _lender_staff(principal, app) and principal.has_scope(Scope.SCORING_READ)


def reasons_visible(principal: Principal, app: CreditApplication) -> bool:
    return scoring_visible(principal, app) or _own(principal, app)


def financial_visible_sql(principal: Principal) -> sa.ColumnElement[bool]:
    """:func:`financial_visible` as a SQL expression (for a selected column)."""
    if principal.is_admin:
        return sa.true()
    parts: list[sa.ColumnElement[bool]] = []
    if is_staff(principal):
        parts.append(col(CreditApplication.lender_id) == principal.partner_id)
    if is_customer(principal):
        parts.append(col(CreditApplication.customer_id) == principal.customer_id)
    if not parts:
        return sa.false()
    return parts[0] if len(parts) == 1 else sa.or_(*parts)


def ensure_lender_staff(principal: Principal, app: CreditApplication, what: str) -> None:
    ensure_visible(principal, app)
    if principal.is_admin:
        return
    if not (is_staff(principal) and app.lender_id == principal.partner_id):
        raise Forbidden(f"only the lender's staff can {what}")


def customer_involvement(
    partner_id: uuid.UUID, customer_id: sa.ColumnElement[Any]
) -> sa.ColumnElement[bool]:
    """Whether ``partner_id`` is the lender of an application of the customer (the
    customers' rule, :mod:`domain.customers.scopes`). Dealers are not involved: they see
    applications for their vehicles, not the applicants' personal data."""
    apps = fresh_alias(table_of(CreditApplication), "customer_id", "lender_id")
    return sa.exists(
        sa.select(sa.literal(1))
        .select_from(apps)
        .where(apps.c.customer_id == customer_id, apps.c.lender_id == partner_id)
    )

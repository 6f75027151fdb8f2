"""Who sees a customer's personal data, and which customers a principal may list (DESIGN §6).

A customer record is shared by the network; its personal data (national ID, e-mail, phone,
address, name) is shown in clear only to:

- the customer's **home partner**;
- a partner **involved** with the customer: one involvement rule per domain that links a
  partner to a customer (a case it opened, handles or handled; a credit it holds; …);
- **any partner** when the customer's ``consent_data_sharing`` is true;
- principals with the network-wide ``pii:read`` scope (administrators);
- the **customer themselves** (a ``customer`` principal reading their own record).

Everyone else — another partner's staff without consent, a network viewer — sees it
masked (:mod:`domain.customers.views`). A "partner" here is a principal acting for one: its
staff and its systems (:data:`PARTNER_ROLES`); consent opens the data to partners, not to
network-wide roles without ``pii:read``.

Listing and searching customers by partial text (:func:`related_to`) reach only customers
*related* to the caller: its partner's home customers and those it is involved with (the
rule above without consent), or every customer with ``pii:read``. Everything a list shows
is therefore shown in clear, and a search never matches a field the caller cannot read.
Finding one customer by the exact national ID (a walk-in at any partner) is for partners'
staff and systems (:func:`ensure_can_look_up`); the answer is masked unless visible.

These are the only definitions: every read path (ORM, Core, a compiled query; lists,
``node``, federation, nested objects, subscriptions) uses :func:`pii_visible_to` as a
selected column or a condition, and the masking of :mod:`domain.customers.views` is fed by
that column.

**Extension point.** A domain that links partners to customers (origination's
applications, loyalty accounts) exports ``customer_involvement(partner_id, customer_id)``
— a SQL condition, correlated to ``customer_id`` (a column of the enclosing statement), over
a fresh alias of its own table — and registers it at the bottom of this module with
:func:`register_involvement`. The rule then holds on every path at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from domain.cases import involvement as cases_involvement
from domain.credits import access as credits_access
from domain.customers.models import Customer
from domain.loyalty import access as loyalty_access
from domain.origination import access as origination_access
from domain.shared.errors import Forbidden
from domain.shared.models import table_of
from domain.shared.principal import PARTNER_ROLES, Principal, Role, Scope

#: ``rule(partner_id, customer_id_column)``: whether the partner is involved with the customer.
InvolvementRule = Callable[[uuid.UUID, sa.ColumnElement[Any]], sa.ColumnElement[bool]]

_INVOLVEMENTS: dict[str, InvolvementRule] = {}


def register_involvement(name: str, rule: InvolvementRule) -> None:
    """Add a domain's involvement rule (see the module docstring). A name is registered
    once; registering the same rule again does nothing."""
    current = _INVOLVEMENTS.get(name)
    if current is not None and current is not rule:
        raise ValueError(f"an involvement rule named {name!r} is already registered")
    _INVOLVEMENTS[name] = rule


def involvement_rules() -> dict[str, InvolvementRule]:
    """The registered rules, by name."""
    return dict(_INVOLVEMENTS)


# --- who is asking ----------------------------------------------------------------------------
def sees_everyone(principal: Principal) -> bool:
    """Network-wide ``pii:read`` (administrators)."""
    return principal.has_scope(Scope.PII_READ)


def partner_of(principal: Principal) -> uuid.UUID | None:
    """The partner a principal acts for (its staff and systems), else None."""
    if principal.partner_id is None or not principal.has_role(*PARTNER_ROLES):
        return None
    return principal.partner_id


def subject_of(principal: Principal) -> uuid.UUID | None:
    """The customer a ``customer`` principal is, else None."""
    if principal.customer_id is None or not principal.has_role(Role.CUSTOMER):
        return None
    return principal.customer_id


# --- the rule as SQL --------------------------------------------------------------------------
def _customers(of: sa.FromClause | None) -> sa.FromClause:
    return table_of(Customer) if of is None else of


def involved(partner_id: uuid.UUID, *, of: sa.FromClause | None = None) -> sa.ColumnElement[bool]:
    """Whether ``partner_id`` is involved with the customer row of ``of`` (``customers``
    or an alias of it), by any registered rule."""
    customer_id = _customers(of).c.id
    rules = [rule(partner_id, customer_id) for rule in _INVOLVEMENTS.values()]
    return sa.or_(*rules) if rules else sa.false()


def related_to(principal: Principal, *, of: sa.FromClause | None = None) -> sa.ColumnElement[bool]:
    """The customers ``principal`` may list and search: every one with ``pii:read``; its
    partner's home customers and those it is involved with; a customer themselves. A subset
    of :func:`pii_visible_to`, always."""
    if sees_everyone(principal):
        return sa.true()
    customers = _customers(of)
    options: list[sa.ColumnElement[bool]] = []
    partner = partner_of(principal)
    if partner is not None:
        options += [customers.c.home_partner_id == partner, involved(partner, of=customers)]
    subject = subject_of(principal)
    if subject is not None:
        options.append(customers.c.id == subject)
    return sa.or_(*options) if options else sa.false()


def pii_visible_to(
    principal: Principal, *, of: sa.FromClause | None = None
) -> sa.ColumnElement[bool]:
    """Whether the personal data of the customer row of ``of`` (``customers`` or an alias)
    is shown in clear to ``principal`` (module docstring). Select it as a column
    (``pii_visible``) or use it as a condition; never decide it another way."""
    if sees_everyone(principal):
        return sa.true()
    customers = _customers(of)
    options: list[sa.ColumnElement[bool]] = []
    partner = partner_of(principal)
    if partner is not None:
        options += [
            customers.c.home_partner_id == partner,
            customers.c.consent_data_sharing.is_(sa.true()),
            involved(partner, of=customers),
        ]
    subject = subject_of(principal)
    if subject is not None:
        options.append(customers.c.id == subject)
    return sa.or_(*options) if options else sa.false()


def is_constant(condition: sa.ColumnElement[bool]) -> bool | None:
    """True or False when ``condition`` is a constant (the whole network, or nothing);
    None when it depends on the row."""
    if isinstance(condition, sa.sql.elements.True_):
        return True
    if isinstance(condition, sa.sql.elements.False_):
        return False
    return None


# --- checks -----------------------------------------------------------------------------------
def ensure_can_look_up(principal: Principal) -> None:
    """The exact national-ID lookup: partners' staff and systems (a walk-in customer may
    open a case at any partner) and ``pii:read``. Network-wide readers without ``pii:read``
    have no walk-in customers, and the lookup would be an oracle for masked numbers."""
    if not principal.has_scope(Scope.CUSTOMERS_READ):
        raise Forbidden("you cannot read customers")
    if partner_of(principal) is None and not sees_everyone(principal):
        raise Forbidden("looking a customer up by national ID is for partners' staff")


# --- the domains that link partners to customers ----------------------------------------------
# Registered here, with this module, so that no path ever sees the rule without them.
register_involvement("cases", cases_involvement.customer_involvement)
register_involvement("credits", credits_access.customer_involvement)
register_involvement("loyalty", loyalty_access.customer_involvement)
register_involvement("applications", origination_access.customer_involvement)

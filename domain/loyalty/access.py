"""Who may see and change loyalty programs and accounts.

- A partner's staff and systems see their partner's programs and the accounts of those
  programs; they record purchases, redeem, transfer (``loyalty:write``); supervisors also
  manage programs, rule sets, rewards and make manual adjustments (``loyalty:manage``).
- A customer sees their own accounts, balances and movements (``myLoyaltyAccounts``) and
  may redeem and transfer from them.
- Administrators see and do everything.

A partner holding a loyalty account of a customer is involved with them
(:func:`customer_involvement`, registered in ``domain.customers.scopes``).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from domain.loyalty.models import LoyaltyAccount, LoyaltyProgram
from domain.shared.errors import Forbidden, NotFound
from domain.shared.models import table_of
from domain.shared.principal import PARTNER_ROLES, Principal, Role, Scope
from domain.shared.reads import fresh_alias


def _staff_partner(principal: Principal) -> uuid.UUID | None:
    if principal.partner_id is not None and principal.has_role(*PARTNER_ROLES):
        return principal.partner_id
    return None


def _customer(principal: Principal) -> uuid.UUID | None:
    if principal.customer_id is not None and principal.has_role(Role.CUSTOMER):
        return principal.customer_id
    return None


def ensure_can_read(principal: Principal) -> None:
    if not principal.has_scope(Scope.LOYALTY_READ):
        raise Forbidden("you cannot read loyalty programs")


def ensure_can_write(principal: Principal) -> None:
    if not principal.has_scope(Scope.LOYALTY_WRITE):
        raise Forbidden("you cannot move loyalty points")


def ensure_can_manage(principal: Principal) -> None:
    if not principal.has_scope(Scope.LOYALTY_MANAGE):
        raise Forbidden("only supervisors and administrators manage loyalty programs")


def ensure_customer(principal: Principal) -> uuid.UUID:
    ensure_can_read(principal)
    customer = _customer(principal)
    if customer is None:
        raise Forbidden("only a customer has loyalty accounts of their own")
    return customer


def programs_visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    """Programs ``principal`` may see, over ``loyalty_programs``."""
    programs = table_of(LoyaltyProgram)
    if principal.is_admin:
        return sa.true()
    options: list[sa.ColumnElement[bool]] = []
    partner = _staff_partner(principal)
    if partner is not None:
        options.append(programs.c.partner_id == partner)
    customer = _customer(principal)
    if customer is not None:
        accounts = sa.alias(table_of(LoyaltyAccount))
        options.append(
            sa.exists(
                sa.select(sa.literal(1))
                .select_from(accounts)
                .where(accounts.c.program_id == programs.c.id, accounts.c.customer_id == customer)
            )
        )
    return sa.or_(*options) if options else sa.false()


def accounts_visible_to(
    principal: Principal, *, of: sa.FromClause | None = None
) -> sa.ColumnElement[bool]:
    """Accounts ``principal`` may see, over ``loyalty_accounts`` (or an alias of it)."""
    accounts = of if of is not None else table_of(LoyaltyAccount)
    if principal.is_admin:
        return sa.true()
    options: list[sa.ColumnElement[bool]] = []
    partner = _staff_partner(principal)
    if partner is not None:
        programs = sa.alias(table_of(LoyaltyProgram))
        options.append(
            accounts.c.program_id.in_(
                sa.select(programs.c.id).where(programs.c.partner_id == partner)
            )
        )
    customer = _customer(principal)
    if customer is not None:
        options.append(accounts.c.customer_id == customer)
    return sa.or_(*options) if options else sa.false()


def may_see_program(principal: Principal, program: LoyaltyProgram) -> bool:
    return principal.is_admin or _staff_partner(principal) == program.partner_id


def may_see_account(principal: Principal, account: LoyaltyAccount, program: LoyaltyProgram) -> bool:
    if principal.is_admin or _staff_partner(principal) == program.partner_id:
        return True
    return _customer(principal) == account.customer_id


def ensure_sees_account(
    principal: Principal, account: LoyaltyAccount, program: LoyaltyProgram
) -> None:
    """An account of another partner's program does not exist, as far as this principal
    knows."""
    ensure_can_read(principal)
    if not may_see_account(principal, account, program):
        raise NotFound("LoyaltyAccount", account.id)


def ensure_staff_of(principal: Principal, program: LoyaltyProgram) -> None:
    """The program's partner staff and systems, or an administrator."""
    if principal.is_admin:
        return
    if _staff_partner(principal) != program.partner_id:
        raise NotFound("LoyaltyProgram", program.id)


def ensure_moves_account(
    principal: Principal, account: LoyaltyAccount, program: LoyaltyProgram
) -> None:
    """Redeem or transfer from ``account``: the program's staff and systems, an
    administrator, or the customer whose account it is."""
    ensure_sees_account(principal, account, program)
    ensure_can_write(principal)


def customer_involvement(
    partner_id: uuid.UUID, customer_id: sa.ColumnElement[Any]
) -> sa.ColumnElement[bool]:
    """Whether ``partner_id`` runs a program in which the customer ``customer_id`` (a column
    of the enclosing statement) has an account: the loyalty part of the customers' rule.
    Over fresh aliases, so it nests anywhere."""
    accounts = fresh_alias(table_of(LoyaltyAccount), "customer_id", "program_id")
    programs = fresh_alias(table_of(LoyaltyProgram), "id", "partner_id")
    return sa.exists(
        sa.select(sa.literal(1))
        .select_from(accounts.join(programs, programs.c.id == accounts.c.program_id))
        .where(accounts.c.customer_id == customer_id, programs.c.partner_id == partner_id)
    )

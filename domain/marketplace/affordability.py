"""What a pre-qualified customer can afford: the terms origination pre-qualified them for,
who may ask, the SQL bound on price, and the monthly installment of a vehicle at those
terms (the credits schedule engine, the one that computes the CAE).

The terms come from ``domain.origination.prequalification.current_terms`` (origination,
issue 11) through :func:`current_terms`, imported when first used (origination calls this
domain's reservation services, so neither imports the other at module load). The interface
both sides agreed is :class:`PrequalificationTerms` (origination's has the same fields) and
:class:`TermsLookup`; tests may pass a lookup of their own.
"""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits.schedules import ScheduleRequest, Scheme, build_schedule
from domain.marketplace.errors import NotPrequalified
from domain.marketplace.models import Vehicle
from domain.marketplace.states import VehicleStatus
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.money import Money
from domain.shared.principal import Principal, Role, Scope
from domain.shared.time import utcnow


@dataclass(frozen=True)
class PrequalificationTerms:
    """A customer's pre-qualification in force (origination's, issue 11)."""

    customer_id: uuid.UUID
    lender_id: uuid.UUID
    max_principal: int  # minor units of ``currency``
    down_payment: int  # minor units of ``currency``
    currency: str
    annual_rate: Decimal  # nominal, a fraction
    term_months: int
    grade: str
    valid_until: datetime


class TermsLookup(Protocol):
    async def __call__(
        self, session: AsyncSession, *, customer_id: uuid.UUID
    ) -> PrequalificationTerms | None: ...


async def current_terms(
    session: AsyncSession, *, customer_id: uuid.UUID
) -> PrequalificationTerms | None:
    """Origination's ``current_terms`` when that module is present."""
    try:
        module: Any = importlib.import_module("domain.origination.prequalification")
    except ModuleNotFoundError:
        return None
    lookup = getattr(module, "current_terms", None)
    if lookup is None:
        return None
    terms = await lookup(session, customer_id=customer_id)
    if terms is None:
        return None
    return PrequalificationTerms(
        customer_id=terms.customer_id,
        lender_id=terms.lender_id,
        max_principal=terms.max_principal,
        down_payment=terms.down_payment,
        currency=terms.currency,
        annual_rate=terms.annual_rate,
        term_months=terms.term_months,
        grade=terms.grade,
        valid_until=terms.valid_until,
    )


def ensure_may_ask(principal: Principal | None, customer_id: uuid.UUID) -> None:
    """The customer themself, lender staff (``applications:read``) or an administrator;
    whether the staff's lender is the one that pre-qualified them is checked on the terms."""
    if principal is None:
        raise Forbidden("sign in to see what you can afford")
    if principal.is_admin:
        return
    if principal.has_role(Role.CUSTOMER) and principal.customer_id == customer_id:
        return
    # Lender staff; dealers never see applicants' finances.
    if (
        principal.partner_id is not None
        and principal.has_scope(Scope.APPLICATIONS_READ)
        and not principal.has_role(Role.DEALER)
    ):
        return
    raise Forbidden("you cannot see what this customer can afford")


async def terms_for(
    session: AsyncSession,
    *,
    principal: Principal | None,
    customer_id: uuid.UUID,
    lookup: TermsLookup = current_terms,
) -> PrequalificationTerms:
    """The terms ``principal`` may use to filter the catalogue for ``customer_id``."""
    ensure_may_ask(principal, customer_id)
    assert principal is not None
    terms = await lookup(session, customer_id=customer_id)
    is_customer = principal.customer_id == customer_id and principal.has_role(Role.CUSTOMER)
    staff = not (principal.is_admin or is_customer)
    if terms is not None and staff and terms.lender_id != principal.partner_id:
        terms = None  # another lender's pre-qualification: not this staff's to see
    if terms is None:
        raise NotPrequalified("the customer has no pre-qualification in force")
    if terms.valid_until <= utcnow():
        raise NotPrequalified("the customer's pre-qualification has expired")
    return terms


def price_bound(terms: PrequalificationTerms) -> sa.ColumnElement[bool]:
    """Vehicles the terms can pay for: available, in the terms' currency, and
    ``price - down payment <= max principal``."""
    return sa.and_(
        col(Vehicle.status) == VehicleStatus.AVAILABLE.value,
        col(Vehicle.currency) == terms.currency,
        col(Vehicle.price) <= terms.max_principal + terms.down_payment,
    )


class InstallmentCalculator:
    """Monthly installments at one set of terms, computed once per distinct price."""

    def __init__(self, terms: PrequalificationTerms) -> None:
        self.terms = terms
        self._cache: dict[int, Money | None] = {}
        self._today = utcnow().date()

    def financed(self, price: int) -> int:
        return max(0, price - self.terms.down_payment)

    def monthly(self, price: int) -> Money | None:
        if price not in self._cache:
            self._cache[price] = self._compute(price)
        return self._cache[price]

    def _compute(self, price: int) -> Money | None:
        principal = self.financed(price)
        if principal == 0:
            return Money.zero(self.terms.currency)
        try:
            schedule = build_schedule(
                ScheduleRequest(
                    principal=Money(principal, self.terms.currency),
                    annual_rate=self.terms.annual_rate,
                    term_months=self.terms.term_months,
                    disbursement_date=self._today,
                    scheme=Scheme.FRENCH,
                )
            )
        except ValidationFailed:
            return None  # terms the engine refuses for this amount: no figure is shown
        if schedule.level_installment is not None:
            return schedule.level_installment
        return schedule.rows[0].installment

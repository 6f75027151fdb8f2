"""Pre-qualification: how much a customer can borrow at a lender.

- **Maximum installment** = ``floor(monthly income x DTI limit) - obligations``, where the
  DTI limit is the lender's setting and the obligations are the customer's declared monthly
  debts plus the installments of their open credits in Trama (``domain.credits.obligations``).
- **Maximum principal** = the largest principal (in minor units) whose schedule, built by the
  credits schedule engine (``domain.credits.schedules.build_schedule``, the same engine that
  computes the CAE: FRENCH, 30/360, the grade's rate, the grade's maximum term), has no
  installment above the maximum installment. It is found exactly: an annuity estimate, then
  a bisection on the engine itself, so ``installment(max) ≤ max installment <
  installment(max + 1 minor unit)``.
- Grade, rate and maximum term come from scoring's grade terms. An **anonymous estimate**
  uses the lender's default grade band (``estimate_grade``) and is not stored; an **exact**
  one for a known customer uses the grade of their last decided application at the lender
  (or the default band when they have none), and is stored with ``valid_until``.

:func:`current_terms` is what the marketplace reads (``vehicles(affordableFor:)``).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits import obligations as credit_obligations
from domain.credits.calendar import DayCount
from domain.credits.schedules import MAX_SCHEDULE_AMOUNT, ScheduleRequest, Scheme, build_schedule
from domain.origination import access, lending
from domain.origination.errors import (
    CUSTOMER_INVALID,
    INCOME_NEGATIVE,
    LENDER_INVALID,
    OBLIGATIONS_INVALID,
    WRONG_CURRENCY,
    CodedProblems,
)
from domain.origination.models import ApplicationState, CreditApplication, Prequalification
from domain.partners.models import Partner, PartnerKind
from domain.shared import audit
from domain.shared.errors import Forbidden, NotFound, ValidationFailed
from domain.shared.money import Money
from domain.shared.principal import Principal, Role
from domain.shared.time import local_today, utcnow

#: Highest grade rate the engine is asked to build (the credits engine's own default cap
#: is 1.5; grades stay far below).
_MAX_RATE = Decimal("1.5")


@dataclass(frozen=True, slots=True)
class PrequalificationTerms:
    customer_id: uuid.UUID
    lender_id: uuid.UUID
    max_principal: int
    down_payment: int
    currency: str
    annual_rate: Decimal
    term_months: int
    grade: str
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a pre-qualification computed (exact or anonymous)."""

    lender_id: uuid.UUID
    customer_id: uuid.UUID | None
    currency: str
    monthly_income: int
    declared_obligations: int
    trama_obligations: int
    dti_limit: Decimal
    max_installment: int
    max_principal: int
    down_payment: int
    annual_rate: Decimal
    term_months: int
    grade: str
    exact: bool
    valid_until: datetime | None
    id: uuid.UUID | None = None


# --- the arithmetic ---------------------------------------------------------------------
def max_installment(income: int, dti_limit: Decimal, obligations: int) -> int:
    room = (Decimal(income) * dti_limit).to_integral_value(rounding=ROUND_FLOOR)
    return max(0, int(room) - obligations)


def installment_of(
    principal: int, *, currency: str, annual_rate: Decimal, term_months: int, on: date
) -> int:
    """The largest installment of the engine's schedule for ``principal`` (0 for 0)."""
    if principal <= 0:
        return 0
    return _installment(principal, currency, annual_rate, term_months, on)


@lru_cache(maxsize=4096)
def _installment(
    principal: int, currency: str, annual_rate: Decimal, term_months: int, on: date
) -> int:
    schedule = build_schedule(
        ScheduleRequest(
            principal=Money(principal, currency),
            annual_rate=annual_rate,
            term_months=term_months,
            disbursement_date=on,
            scheme=Scheme.FRENCH,
            day_count=DayCount.THIRTY_360,
            max_annual_rate=max(_MAX_RATE, annual_rate),
        )
    )
    return max(row.installment.amount for row in schedule.rows)


def max_principal(
    installment: int, *, currency: str, annual_rate: Decimal, term_months: int, on: date
) -> int:
    """The largest principal whose schedule's installments are all ≤ ``installment``.

    A principal the schedule engine refuses does not fit: one so small for the term and rate
    that no level installment amortises it within the engine's tolerance (147 CLP over 72
    months at 28.6 %) cannot be lent, so a tiny installment pre-qualifies for nothing (0)."""
    if installment <= 0:
        return 0

    def fits(p: int) -> bool:
        try:
            cost = installment_of(
                p, currency=currency, annual_rate=annual_rate, term_months=term_months, on=on
            )
        except ValidationFailed:
            return False
        return cost <= installment

    monthly = annual_rate / 12
    if monthly == 0:
        estimate = installment * term_months
    else:
        factor = (1 - (1 + monthly) ** -term_months) / monthly
        estimate = int(Decimal(installment) * factor)
    margin = max(estimate // 100, 10)
    lo = max(0, estimate - margin)
    while lo > 0 and not fits(lo):
        lo = max(0, lo - max(margin, lo // 2))
    hi = estimate + margin
    while fits(hi):
        lo = hi
        hi = hi * 2 if hi < MAX_SCHEDULE_AMOUNT // 4 else MAX_SCHEDULE_AMOUNT
        if hi >= MAX_SCHEDULE_AMOUNT:
            return lo
    # invariant: fits(lo), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


# --- the service --------------------------------------------------------------------------
async def _lender(
    session: AsyncSession, lender_id: uuid.UUID, problems: CodedProblems
) -> Partner | None:
    lender = await session.get(Partner, lender_id)
    if (
        lender is None
        or not lender.active
        or lender.kind in (PartnerKind.LOYALTY, PartnerKind.DEALER)
    ):
        problems.add("lenderId", "is not an active lender", LENDER_INVALID)
        return None
    return lender


async def _grade_of(
    session: AsyncSession, customer_id: uuid.UUID, lender_id: uuid.UUID
) -> str | None:
    """The grade of the customer's latest graded application at the lender."""
    stmt = (
        sa.select(col(CreditApplication.grade))
        .where(
            col(CreditApplication.customer_id) == customer_id,
            col(CreditApplication.lender_id) == lender_id,
            col(CreditApplication.grade).is_not(None),
            col(CreditApplication.state) != ApplicationState.REJECTED.value,
        )
        .order_by(col(CreditApplication.decided_at).desc(), col(CreditApplication.id).desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def _check_amounts(
    problems: CodedProblems, income: object, obligations: object, down_payment: object
) -> None:
    if not isinstance(income, int) or isinstance(income, bool) or income < 0:
        problems.add("monthlyIncome", "must be a whole amount of zero or more", INCOME_NEGATIVE)
    if not isinstance(obligations, int) or isinstance(obligations, bool) or obligations < 0:
        problems.add(
            "declaredObligations", "must be a whole amount of zero or more", OBLIGATIONS_INVALID
        )
    if not isinstance(down_payment, int) or isinstance(down_payment, bool) or down_payment < 0:
        problems.add("downPayment", "must be a whole amount of zero or more", OBLIGATIONS_INVALID)


async def estimate(
    session: AsyncSession,
    *,
    lender_id: uuid.UUID,
    currency: str,
    monthly_income: int,
    declared_obligations: int = 0,
    down_payment: int = 0,
) -> Estimate:
    """An anonymous estimate: the lender's default grade band, no Trama credits, not stored."""
    problems = CodedProblems()
    _check_amounts(problems, monthly_income, declared_obligations, down_payment)
    lender = await _lender(session, lender_id, problems)
    settings = await lending.settings_for(session, lender) if lender else None
    if settings is not None and currency != settings.currency:
        problems.add("currency", f"this lender lends in {settings.currency}", WRONG_CURRENCY)
    problems.raise_if_any()
    assert settings is not None
    terms = await lending.grade_terms(session, lender_id=lender_id, grade=settings.estimate_grade)
    return _compute(
        settings,
        terms,
        customer_id=None,
        income=monthly_income,
        declared=declared_obligations,
        trama=0,
        down_payment=down_payment,
        exact=False,
        valid_until=None,
    )


def _compute(
    settings: lending.LenderSettings,
    terms: lending.Terms,
    *,
    customer_id: uuid.UUID | None,
    income: int,
    declared: int,
    trama: int,
    down_payment: int,
    exact: bool,
    valid_until: datetime | None,
) -> Estimate:
    installment = max_installment(income, settings.dti_limit, declared + trama)
    from domain.cases.sla import COUNTRY_TIMEZONES

    today = local_today(COUNTRY_TIMEZONES.get(settings.country, "UTC"))
    principal = max_principal(
        installment,
        currency=settings.currency,
        annual_rate=terms.annual_rate,
        term_months=terms.max_term_months,
        on=today,
    )
    return Estimate(
        lender_id=settings.lender_id,
        customer_id=customer_id,
        currency=settings.currency,
        monthly_income=income,
        declared_obligations=declared,
        trama_obligations=trama,
        dti_limit=settings.dti_limit,
        max_installment=installment,
        max_principal=principal,
        down_payment=down_payment,
        annual_rate=terms.annual_rate,
        term_months=terms.max_term_months,
        grade=terms.grade,
        exact=exact,
        valid_until=valid_until,
    )


async def prequalify(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: uuid.UUID,
    lender_id: uuid.UUID,
    monthly_income: int,
    declared_obligations: int = 0,
    down_payment: int = 0,
    currency: str | None = None,
) -> Estimate:
    """An exact pre-qualification of a known customer, stored with ``valid_until``.

    The customer for themself, or the lender's staff with ``applications:write``."""
    access.ensure_can_write(principal)
    if not principal.is_admin:
        if access.is_customer(principal):
            if principal.customer_id != customer_id:
                raise Forbidden("a customer pre-qualifies only themself")
        elif not (access.is_staff(principal) and principal.partner_id == lender_id):
            raise Forbidden("only the lender's staff can pre-qualify its customers")
    problems = CodedProblems()
    _check_amounts(problems, monthly_income, declared_obligations, down_payment)
    lender = await _lender(session, lender_id, problems)
    from domain.customers.models import Customer

    if await session.get(Customer, customer_id) is None:
        problems.add("customerId", "is not a customer", CUSTOMER_INVALID)
    settings = await lending.settings_for(session, lender) if lender else None
    if settings is not None and currency is not None and currency != settings.currency:
        problems.add("currency", f"this lender lends in {settings.currency}", WRONG_CURRENCY)
    problems.raise_if_any()
    assert settings is not None
    grade = await _grade_of(session, customer_id, lender_id) or settings.estimate_grade
    terms = await lending.grade_terms(session, lender_id=lender_id, grade=grade)
    trama = await credit_obligations.monthly_obligations(
        session, customer_id=customer_id, currency=settings.currency
    )
    now = utcnow()
    valid_until = now + timedelta(days=settings.prequalification_valid_days)
    result = _compute(
        settings,
        terms,
        customer_id=customer_id,
        income=monthly_income,
        declared=declared_obligations,
        trama=trama,
        down_payment=down_payment,
        exact=True,
        valid_until=valid_until,
    )
    row = Prequalification(
        customer_id=customer_id,
        lender_id=lender_id,
        currency=result.currency,
        monthly_income=monthly_income,
        declared_obligations=declared_obligations,
        trama_obligations=trama,
        dti_limit=result.dti_limit,
        max_installment=result.max_installment,
        max_principal=result.max_principal,
        down_payment=down_payment,
        annual_rate=result.annual_rate,
        term_months=result.term_months,
        grade=result.grade,
        valid_until=valid_until,
        created_by=principal.subject,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="prequalification.created",
        entity_type="Prequalification",
        entity_id=row.id,
        after={
            "customer_id": customer_id,
            "lender_id": lender_id,
            "max_principal": row.max_principal,
            "grade": row.grade,
            "valid_until": valid_until,
        },
    )
    return dataclasses.replace(result, id=row.id)


async def current_terms(
    session: AsyncSession, *, customer_id: uuid.UUID
) -> PrequalificationTerms | None:
    """The customer's latest stored pre-qualification still valid now (None: none)."""
    now = utcnow()
    stmt = (
        sa.select(Prequalification)
        .where(
            col(Prequalification.customer_id) == customer_id,
            col(Prequalification.valid_until) > now,
        )
        .order_by(col(Prequalification.created_at).desc(), col(Prequalification.id).desc())
        .limit(1)
    )
    row = (await session.execute(stmt)).scalars().first()
    if row is None:
        return None
    return PrequalificationTerms(
        customer_id=row.customer_id,
        lender_id=row.lender_id,
        max_principal=row.max_principal,
        down_payment=row.down_payment,
        currency=row.currency,
        annual_rate=row.annual_rate,
        term_months=row.term_months,
        grade=row.grade,
        valid_until=row.valid_until,
    )


async def get_prequalification(
    session: AsyncSession, *, principal: Principal, prequalification_id: uuid.UUID
) -> Prequalification:
    row = await session.get(Prequalification, prequalification_id)
    if row is None:
        raise NotFound("Prequalification", prequalification_id)
    if principal.is_admin:
        return row
    if access.is_customer(principal) and principal.customer_id == row.customer_id:
        return row
    if principal.has_role(Role.AGENT, Role.SUPERVISOR, Role.ADVISOR, Role.PARTNER_SYSTEM) and (
        principal.partner_id == row.lender_id
    ):
        return row
    raise NotFound("Prequalification", prequalification_id)

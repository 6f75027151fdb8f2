"""The facts of one scoring run: the application, the customer's own history in Trama and
(added by the caller, outside any transaction) the credit bureau's report.

Read-only: scoring reads origination's application, the credits and the cases with plain
SELECTs and writes none of them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases.models import Case
from domain.cases.states import FINISHED
from domain.credits.models import Credit
from domain.credits.states import CreditStatus
from domain.customers.models import Customer
from domain.origination.models import CreditApplication
from domain.scoring.bureau import BureauSubject
from domain.shared.errors import NotFound

RATIO = Decimal("0.0001")


@dataclass(frozen=True)
class ApplicationFacts:
    application_id: uuid.UUID
    lender_id: uuid.UUID
    customer_id: uuid.UUID
    currency: str
    state: str
    subject: BureauSubject
    #: feature → exact value (application and Trama history); the bureau's are added later
    facts: dict[str, Any]


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    if denominator <= 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATIO, rounding=ROUND_HALF_EVEN)


def application_features(app: CreditApplication) -> dict[str, Any]:
    price = app.requested_principal + app.down_payment
    return {
        "requested_principal": app.requested_principal,
        "down_payment_ratio": _ratio(app.down_payment, price),
        "term_months": app.term_months,
        "monthly_income": app.monthly_income,
        "employment_type": app.employment_type or None,
        "employment_months": app.employment_months,
        "debt_to_income": _ratio(app.declared_obligations, app.monthly_income),
        "loan_to_income": _ratio(app.requested_principal, app.monthly_income * 12),
    }


async def history_features(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any]:
    """The customer's credits (count, worst days past due today, delinquent or written off)
    and open post-sale cases in Trama."""
    live = [
        CreditStatus.ACTIVE.value,
        CreditStatus.DELINQUENT.value,
        CreditStatus.RESTRUCTURED.value,
    ]
    bad = [CreditStatus.DELINQUENT.value, CreditStatus.WRITTEN_OFF.value]
    row = (
        await session.execute(
            sa.select(
                sa.func.count(col(Credit.id)).filter(
                    col(Credit.status) != CreditStatus.CANCELLED.value
                ),
                sa.func.max(col(Credit.days_past_due)).filter(col(Credit.status).in_(live)),
                sa.func.count(col(Credit.id)).filter(col(Credit.status).in_(bad)),
            ).where(col(Credit.customer_id) == customer_id)
        )
    ).one()
    open_cases = await session.scalar(
        sa.select(sa.func.count(col(Case.id))).where(
            col(Case.customer_id) == customer_id,
            col(Case.status).not_in([s.value for s in FINISHED]),
        )
    )
    return {
        "trama_credits": int(row[0] or 0),
        "trama_max_dpd": int(row[1] or 0),
        "trama_delinquent_credits": int(row[2] or 0),
        "trama_open_cases": int(open_cases or 0),
    }


async def gather(session: AsyncSession, application_id: uuid.UUID) -> ApplicationFacts:
    app = await session.get(CreditApplication, application_id)
    if app is None:
        raise NotFound("CreditApplication", application_id)
    customer = await session.get(Customer, app.customer_id)
    if customer is None:
        raise NotFound("Customer", app.customer_id)
    facts = application_features(app)
    facts.update(await history_features(session, app.customer_id))
    id_type = customer.national_id_type
    return ApplicationFacts(
        application_id=app.id,
        lender_id=app.lender_id,
        customer_id=app.customer_id,
        currency=app.currency,
        state=app.state,
        subject=BureauSubject(
            country=id_type[:2], id_type=id_type[3:] or id_type, national_id=customer.national_id
        ),
        facts=facts,
    )


def canonical(facts: dict[str, Any]) -> dict[str, Any]:
    """Facts as exact texts (what the decision keeps and hashes)."""
    out: dict[str, Any] = {}
    for key in sorted(facts):
        value = facts[key]
        if isinstance(value, float):
            raise TypeError(f"{key}: facts are exact, never float")
        out[key] = None if value is None else str(value)
    return out


def input_hash(facts: dict[str, Any], bureau: dict[str, Any] | None) -> str:
    text = json.dumps(
        {"facts": canonical(facts), "bureau": bureau}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()

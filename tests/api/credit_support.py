"""Shared pieces of the credit API tests: documents, principals, the demo credits the seed
puts in every test database, and a snapshot of every table a credit mutation writes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from strawberry import relay

from app.db import read_session
from domain.credits.models import (
    Allocation,
    Credit,
    CreditSchedule,
    Installment,
    Payment,
    Refund,
    UFValue,
)
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared import time as clock
from domain.shared.audit import AuditRecord
from domain.shared.outbox import OutboxEvent

SANTIAGO = ZoneInfo("America/Santiago")

#: The demo credits of ``app/seed_credits.py``: plate -> status it ends in.
DEMO = {
    "BKDR21": "APPROVED",
    "CXLT45": "CANCELLED",
    "DHPS62": "ACTIVE",
    "FJRW83": "DELINQUENT",
    "GLTV14": "PAID_OFF",
    "HMZB57": "RESTRUCTURED",
    "JNQF39": "WRITTEN_OFF",
    "KPWX76": "ACTIVE",  # in UF (CLF)
    "AB123CD": "ACTIVE",  # BANCO_PAMPA's, in ARS
}

MONEY = "amount currency minorUnits"
ERROR_FIELDS = {
    "ValidationError": "field problems { field message }",
    "ConflictError": "currentVersion",
    "NotFoundError": "entity id",
    "InvalidTransitionError": "fromState toState",
}
#: The error types of each mutation's payload (all but createCredit's and the payments').
ALL_ERRORS = tuple(ERROR_FIELDS)

CREDIT_FIELDS = f"""
    id reference productCode currency status statusReason version scheduleNo vehicleRef
    principal {{ {MONEY} }} annualRate lateAnnualRate termMonths scheme dayCount graceMonths
    graceKind allocationOrder allocationMode timezone plannedDisbursementDate disbursementDate
    daysPastDue agingBucket delinquentSince paidOffOn
    creditBalance {{ {MONEY} }} outstandingPrincipal {{ {MONEY} }}
    charges {{ openingFee {{ {MONEY} }} openingFeeMode monthlyInsurance {{ amount }}
              monthlyCharges {{ amount }} }}
    customer {{ id givenNames }}
    lender {{ code }}
"""

GET = f"query Get($id: ID!) {{ credit(id: $id) {{ {CREDIT_FIELDS} }} }}"

LIST = """
query List($filter: CreditFilter, $first: Int, $after: String) {
  credits(filter: $filter, first: $first, after: $after) {
    totalCount
    edges { cursor node { id reference status vehicleRef agingBucket lender { code } } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""

MINE = """
query Mine($status: [CreditStatus!], $first: Int) {
  myCredits(status: $status, first: $first) {
    totalCount
    edges { node { id reference status customer { id } } }
  }
}
"""


def mutation(name: str, input_type: str, success: str, errors: tuple[str, ...] = ALL_ERRORS) -> str:
    spreads = "\n".join(f"... on {e} {{ {ERROR_FIELDS[e]} }}" for e in errors)
    return f"""
mutation Do($input: {input_type}!) {{
  {name}(input: $input) {{
    __typename
    ... on {success}
    ... on UserError {{ message code }}
    {spreads}
  }}
}}
"""


_CREDIT = f"credit {{ {CREDIT_FIELDS} }}"
_SHORT = "credit { id status statusReason version }"
CREATE = mutation(
    "createCredit", "CreateCreditInput", f"CreateCreditSuccess {{ {_CREDIT} }}", ALL_ERRORS[:1]
)
DISBURSE = mutation(
    "disburseCredit", "DisburseCreditInput", f"DisburseCreditSuccess {{ {_CREDIT} }}"
)
CANCEL = mutation("cancelCredit", "CancelCreditInput", f"CancelCreditSuccess {{ {_SHORT} }}")
WRITE_OFF = mutation(
    "writeOffCredit", "WriteOffCreditInput", f"WriteOffCreditSuccess {{ {_SHORT} }}"
)
RESTRUCTURE = mutation(
    "restructureCredit",
    "RestructureCreditInput",
    "RestructureCreditSuccess { credit { id status version scheduleNo termMonths"
    " schedules { number reason inForce closedOn termMonths principal { amount }"
    " carriedPrincipal { amount } rows { number status } } } }",
)
PAYMENT_FIELDS = f"""
    id status amount {{ {MONEY} }} creditAmount {{ {MONEY} }} ufValue paidAt paidOn reference
    idempotencyKey prepayment scheduleNo allocatedAmount {{ amount }} heldAmount {{ amount }}
    refundedAmount {{ amount }} reversedAt reversalReason
    allocations {{ scheduleNo installmentNumber component amount {{ {MONEY} }} }}
"""
PAY = mutation(
    "registerPayment",
    "RegisterPaymentInput",
    f"RegisterPaymentSuccess {{ payment {{ {PAYMENT_FIELDS} }} credit {{ id status version"
    f" creditBalance {{ amount }} daysPastDue }} }}",
    ALL_ERRORS[:3],
)
REVERSE = mutation(
    "reversePayment",
    "ReversePaymentInput",
    f"ReversePaymentSuccess {{ payment {{ {PAYMENT_FIELDS} }} credit {{ id status version }} }}",
)
REFUND = mutation(
    "refundCreditBalance",
    "RefundCreditBalanceInput",
    "RefundCreditBalanceSuccess { refund { id amount { amount currency } reference refundedOn }"
    " credit { id version creditBalance { amount } } }",
    ALL_ERRORS[:3],
)
LOAD_UF = """
mutation Load($csv: String!) {
  loadUfValues(csv: $csv) {
    __typename
    ... on LoadUfValuesSuccess { inserted updated unchanged firstDay lastDay }
    ... on UserError { message code }
    ... on ValidationError { field problems { field message } }
  }
}
"""


def gid(type_name: str, key: uuid.UUID | str) -> str:
    return str(relay.GlobalID(type_name, str(key)))


def local_today() -> date:
    return clock.local_today(SANTIAGO)


def at_noon(day: date) -> str:
    return datetime.combine(day, time(12), tzinfo=SANTIAGO).astimezone(UTC).isoformat()


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def data(body: dict[str, Any], field: str) -> Any:
    assert "errors" not in body, body
    return body["data"][field]


def customer_token(runtime: Any, customer_id: uuid.UUID, **claims: Any) -> str:
    issued, _ = runtime.tokens.issue(
        subject=f"customer:{customer_id}",
        roles=["customer"],
        scopes=None,
        customer_id=str(customer_id),
        **claims,
    )
    return str(issued)


async def all_credits() -> list[Credit]:
    async with read_session() as session:
        return list((await session.execute(sa.select(Credit))).scalars().all())


async def demo_credits() -> dict[str, Credit]:
    """The credits of ``app/seed_credits.py`` (other seeds may add more)."""
    return {c.vehicle_ref: c for c in await all_credits() if c.vehicle_ref in DEMO}


async def partner_ids() -> dict[str, uuid.UUID]:
    async with read_session() as session:
        rows = (await session.execute(sa.select(Partner))).scalars().all()
    return {p.code: p.id for p in rows}


async def customers_without_credits(count: int) -> list[Customer]:
    async with read_session() as session:
        taken = sa.select(Credit.customer_id)  # type: ignore[call-overload]
        stmt = (
            sa.select(Customer)
            .where(Customer.id.not_in(taken))  # type: ignore[attr-defined]
            .order_by(Customer.id)  # type: ignore[arg-type]
            .limit(count)
        )
        return list((await session.execute(stmt)).scalars().all())


TABLES = (
    Credit,
    CreditSchedule,
    Installment,
    Payment,
    Allocation,
    Refund,
    UFValue,
    AuditRecord,
    OutboxEvent,
)


async def db_state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a credit mutation touches."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with read_session() as session:
        for model in TABLES:
            table = model.__table__  # type: ignore[attr-defined]
            rows = await session.execute(sa.select(table).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
    return out

"""Shared pieces of the cases API tests: documents, helpers that open and move cases through
the API, the network's partner ids, and a fingerprint of every table a case mutation writes
(to prove that a refused call wrote nothing)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from strawberry import relay

from app.db import read_session
from domain.cases.models import (
    BulkResolution,
    BulkResolutionItem,
    Case,
    CaseComment,
    CaseEvent,
    CasePartnerStatus,
    CaseReferenceCounter,
    StatusMapping,
)
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared.audit import AuditRecord
from domain.shared.models import table_of
from domain.shared.outbox import OutboxEvent

MONEY = "amount currency minorUnits"

CASE_FIELDS = f"""
    id reference cardLast4 typologyCode channel priority status statusChangedAt description
    amountInDispute {{ {MONEY} }}
    pendingDerivation {{ reason requestedAt to {{ code }} }}
    pendingDerivationTo {{ code }}
    slaStartedAt slaDueAt slaState slaPaused escalated escalatedAt
    resolution {{ code note amountRefunded {{ {MONEY} }} resolvedAt }}
    version createdAt updatedAt resolvedAt closedAt piiMasked viewerCanAct
    viewerCanAnswerDerivation
    customer {{ id name nationalId {{ type number country }} piiMasked }}
    typology {{ code name slaBusinessDays slaHours requiresAmount requiresCard }}
    originatingPartner {{ code }}
    handlingPartner {{ code }}
    partnerStatuses {{
        partner {{ code }} partnerStatusCode externalRef lastExternalVersion lastSyncedVersion
        lastSyncError involvedSince
    }}
    timeline(first: 50) {{
        edges {{
            cursor
            node {{ seq kind actor actorPartner {{ code }} visibility before after note }}
        }}
        pageInfo {{ hasNextPage endCursor }}
    }}
    comments(first: 50) {{
        edges {{ node {{ id authorName authorPartner {{ code }} visibility body }} }}
    }}
"""

_ERROR_FIELDS = {
    "ValidationError": "field problems { field message }",
    "ConflictError": "currentVersion",
    "NotFoundError": "entity id",
    "InvalidTransitionError": "fromState toState",
}
CHANGE_ERRORS = ("ValidationError", "ConflictError", "NotFoundError")
MOVE_ERRORS = (*CHANGE_ERRORS, "InvalidTransitionError")


def errors(*types: str) -> str:
    parts = ["... on UserError { message code }"]
    parts += [f"... on {t} {{ {_ERROR_FIELDS[t]} }}" for t in types]
    return "\n".join(parts)


ERRORS = errors(*CHANGE_ERRORS)


def mutation(name: str, input_type: str, success: str, *error_types: str) -> str:
    return f"""
    mutation Run($input: {input_type}!) {{
      {name}(input: $input) {{
        __typename
        ... on {success} {{ case {{ {CASE_FIELDS} }} }}
        {errors(*error_types)}
      }}
    }}
    """


OPEN = mutation("openCase", "OpenCaseInput", "OpenCaseSuccess", "ValidationError")
UPDATE = mutation("updateCase", "UpdateCaseInput", "UpdateCaseSuccess", *CHANGE_ERRORS)
TRANSITION = mutation(
    "transitionCase", "TransitionCaseInput", "TransitionCaseSuccess", *MOVE_ERRORS
)
RESOLVE = mutation("resolveCase", "ResolveCaseInput", "ResolveCaseSuccess", *MOVE_ERRORS)
DERIVE = mutation("deriveCase", "DeriveCaseInput", "DeriveCaseSuccess", *MOVE_ERRORS)
ACCEPT = mutation(
    "acceptDerivation", "AcceptDerivationInput", "AcceptDerivationSuccess", *CHANGE_ERRORS
)
REJECT = mutation(
    "rejectDerivation", "RejectDerivationInput", "RejectDerivationSuccess", *CHANGE_ERRORS
)
COMMENT = f"""
mutation Run($input: AddCaseCommentInput!) {{
  addCaseComment(input: $input) {{
    __typename
    ... on AddCaseCommentSuccess {{
      comment {{ id authorName visibility body authorPartner {{ code }} }}
      case {{ id version }}
    }}
    {ERRORS}
  }}
}}
"""
GET = f"query Get($id: ID!) {{ case(id: $id) {{ {CASE_FIELDS} }} }}"
BY_REFERENCE = "query Get($ref: String!) { caseByReference(reference: $ref) { id reference } }"
NODE = "query Get($id: ID!) { node(id: $id) { __typename ... on Case { id reference } } }"
SEARCH = f"""
query Search($view: CaseView, $filter: CaseFilter, $orderBy: CaseOrder, $first: Int,
             $after: String) {{
  cases(view: $view, filter: $filter, orderBy: $orderBy, first: $first, after: $after) {{
    totalCount
    facets {{ byStatus {{ status count }} byTypology {{ code count }} }}
    edges {{ cursor node {{ {CASE_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage endCursor }}
  }}
}}
"""


def gid(type_name: str, key: uuid.UUID | str) -> str:
    return str(relay.GlobalID(type_name, str(key)))


def relay_key(global_id: str) -> str:
    """The UUID text behind a global id."""
    return relay.GlobalID.from_id(global_id).node_id


# --- fixtures (import them by name into a test module) -----------------------------------
@pytest.fixture
def andino(token: Any) -> str:
    return str(token("agent", partner="BANCO_ANDINO"))


@pytest.fixture
def retail(token: Any) -> str:
    return str(token("agent", partner="RETAIL_SUR"))


@pytest.fixture
def retail_supervisor(token: Any) -> str:
    return str(token("supervisor", partner="RETAIL_SUR"))


@pytest.fixture
def viewer(token: Any) -> str:
    """A network viewer: sees the whole network, without `pii:read`."""
    return str(token("network_viewer"))


@pytest.fixture
def admin(token: Any) -> str:
    return str(token("admin"))


@pytest.fixture
async def customers(db: Any) -> list[Any]:
    return await some_customers(3)


def typename(result: dict[str, Any], field: str) -> str:
    assert "errors" not in result, result
    return str(result["data"][field]["__typename"])


def error_code(result: dict[str, Any]) -> str:
    assert result.get("errors"), result
    return str(result["errors"][0]["extensions"]["code"])


async def partner_ids() -> dict[str, uuid.UUID]:
    async with read_session() as session:
        rows = (
            await session.execute(sa.select(table_of(Partner).c.code, table_of(Partner).c.id))
        ).all()
    return {code: key for code, key in rows}


async def some_customers(count: int = 3) -> list[Customer]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(Customer).order_by(table_of(Customer).c.id).limit(count)
        )
        return list(rows.scalars().all())


def open_input(customer: Customer, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "customerId": gid("Customer", customer.id),
        "typologyCode": "DEVOLUCION_INTERESES",
        "channel": "BRANCH",
        "description": "Pagó a tiempo y le cobraron intereses de mora.",
        "cardLast4": "4321",
        "cardToken": "tok_visa_8f3a2b",
        "amountInDispute": {"amount": "150000", "currency": "CLP"},
    }
    values.update(overrides)
    return values


async def open_case(gql: Any, token: str, customer: Customer, **overrides: Any) -> dict[str, Any]:
    result = await gql(OPEN, {"input": open_input(customer, **overrides)}, token=token)
    assert typename(result, "openCase") == "OpenCaseSuccess", result
    case: dict[str, Any] = result["data"]["openCase"]["case"]
    return case


async def run(gql: Any, document: str, field: str, token: str, **input: Any) -> dict[str, Any]:
    result = await gql(document, {"input": input}, token=token)
    assert "errors" not in result, result
    payload: dict[str, Any] = result["data"][field]
    return payload


_WRITTEN = (
    Case,
    CaseEvent,
    CaseComment,
    CasePartnerStatus,
    CaseReferenceCounter,
    StatusMapping,
    BulkResolution,
    BulkResolutionItem,
    AuditRecord,
    OutboxEvent,
)


async def fingerprint() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a case mutation writes."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with read_session() as session:
        for model in _WRITTEN:
            table = table_of(model)
            rows = (await session.execute(sa.select(table))).all()
            out[table.name] = sorted(tuple(map(repr, r)) for r in rows)
    return out


async def outbox_topics(key: str) -> list[str]:
    async with read_session() as session:
        table = table_of(OutboxEvent)
        rows = await session.execute(
            sa.select(table.c.topic).where(table.c.key == key).order_by(table.c.created_at)
        )
        return [r for (r,) in rows.all()]


async def audit_actions(entity_id: str) -> list[str]:
    async with read_session() as session:
        table = table_of(AuditRecord)
        rows = await session.execute(
            sa.select(table.c.action).where(table.c.entity_id == entity_id).order_by(table.c.seq)
        )
        return [r for (r,) in rows.all()]

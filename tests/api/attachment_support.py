"""Helpers of the attachment API tests: open a case, upload through the GraphQL multipart
request spec with httpx, read what was written."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from strawberry import relay

from app.db import read_session, transaction
from domain.cases import service as cases
from domain.cases.models import Case, CaseAttachment, CaseEvent
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared.audit import AuditRecord
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import ROLE_SCOPES, Principal, Role

ATTACH = """
mutation Attach($caseId: ID!, $version: Int!, $file: Upload!, $visibility: CaseVisibility) {
  attachCaseFile(caseId: $caseId, version: $version, file: $file, visibility: $visibility) {
    __typename
    ... on AttachCaseFileSuccess {
      caseId caseVersion created
      attachment {
        id caseId fileName contentType sizeBytes sha256 visibility uploadedBy
        uploadedByPartner { code } piiMasked downloadUrl
      }
    }
    ... on UserError { message code }
    ... on ValidationError { field }
    ... on ConflictError { currentVersion }
  }
}
"""

LIST = """
query List($caseId: ID!) {
  caseAttachments(caseId: $caseId) {
    id fileName contentType sizeBytes piiMasked downloadUrl visibility
  }
}
"""


def gid(type_name: str, key: uuid.UUID | str) -> str:
    return str(relay.GlobalID(type_name, str(key)))


async def partner_id(code: str) -> uuid.UUID:
    async with read_session() as session:
        found = await session.execute(sa.select(Partner.id).where(Partner.code == code))  # type: ignore[call-overload,arg-type]
        return uuid.UUID(str(found.scalar_one()))


async def open_case(partner: str = "BANCO_ANDINO") -> Case:
    """A case opened by an agent of ``partner`` (version 1)."""
    pid = await partner_id(partner)
    agent = Principal(
        subject=f"seed:agent@{partner}",
        roles=frozenset({Role.AGENT}),
        scopes=ROLE_SCOPES[Role.AGENT],
        partner_id=pid,
    )
    async with read_session() as session:
        customer = (await session.execute(sa.select(Customer.id).limit(1))).scalar_one()  # type: ignore[call-overload]
    async with transaction() as session:
        return await cases.open_case(
            session,
            principal=agent,
            customer_id=customer,
            typology_code="DEVOLUCION_INTERESES",
            channel="BRANCH",
            description="Cobro de intereses de mora con pago al día.",
            card_last4="4321",
            amount_in_dispute=Money(150_000, "CLP"),
        )


async def upload(
    http: httpx.AsyncClient,
    *,
    token: str | None,
    case_id: str,
    version: int,
    content: bytes,
    file_name: str = "cartola.pdf",
    content_type: str = "application/pdf",
    visibility: str | None = None,
    preflight: bool = True,
    operations: dict[str, Any] | None = None,
    files_map: dict[str, Any] | None = None,
) -> httpx.Response:
    headers = {"accept": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if preflight:
        headers["apollo-require-preflight"] = "true"
    variables: dict[str, Any] = {"caseId": case_id, "version": version, "file": None}
    if visibility:
        variables["visibility"] = visibility
    ops = operations or {"query": ATTACH, "variables": variables}
    return await http.post(
        "/graphql",
        data={
            "operations": json.dumps(ops),
            "map": json.dumps(files_map or {"0": ["variables.file"]}),
        },
        files={"0": (file_name, content, content_type)},
        headers=headers,
    )


def payload(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["attachCaseFile"]
    return result


async def written() -> dict[str, list[str]]:
    """Every row of every table an attachment writes."""
    out: dict[str, list[str]] = {}
    async with read_session() as session:
        for model in (Case, CaseAttachment, CaseEvent, AuditRecord, OutboxEvent):
            table = table_of(model)
            rows = (await session.execute(sa.select(table))).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
    return out


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

"""The audit trail: written by every mutation, read by administrators, verified as a chain."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from stdnum.cl import rut
from strawberry import relay

from app.db import read_session, transaction
from domain.shared import audit
from domain.shared.audit import AuditRecord
from domain.shared.models import table_of
from domain.shared.pagination import encode_cursor

GRAPHQL_RESPONSE = "application/graphql-response+json"

CREATE = """
mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    __typename
    ... on CreateCustomerSuccess { customer { id version } }
    ... on UserError { message }
  }
}
"""

UPDATE = """
mutation Update($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) {
    __typename
    ... on UpdateCustomerSuccess { customer { id version } }
    ... on UserError { message }
  }
}
"""

TRAIL = """
query Trail($entityId: ID!, $first: Int, $after: String) {
  auditTrail(entityId: $entityId, first: $first, after: $after) {
    edges {
      cursor
      node {
        id seq occurredAt actor actorKind partnerId action entityType entityId
        before after requestId prevHash hash
      }
    }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""


def gid(type_name: str, key: uuid.UUID | str) -> str:
    return str(relay.GlobalID(type_name, str(key)))


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def verify() -> audit.VerifyResult:
    async with read_session() as session:
        return await audit.verify(session)


async def records_for(key: uuid.UUID) -> list[AuditRecord]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(AuditRecord)
            .where(AuditRecord.entity_id == str(key))  # type: ignore[arg-type]
            .order_by(AuditRecord.seq)  # type: ignore[arg-type]
        )
        return list(rows.scalars().all())


async def audit_count() -> int:
    async with read_session() as session:
        found = await session.execute(sa.select(sa.func.count()).select_from(AuditRecord))
        return int(found.scalar_one())


@pytest.fixture
def agent(token: Any) -> str:
    return str(token("agent", partner="BANCO_ANDINO"))


@pytest.fixture
def admin(token: Any) -> str:
    return str(token("admin"))


@pytest.fixture
async def history(gql: Any, agent: str) -> uuid.UUID:
    """A customer created and then changed twice through the API: three audit records."""
    body = await gql(
        CREATE,
        {
            "input": {
                "nationalId": {
                    "type": "CL_RUT",
                    "number": f"15000000-{rut.calc_check_digit('15000000')}",
                },
                "givenNames": "Inés",
                "familyNames": "Araya",
                "email": "ines@example.com",
            }
        },
        token=agent,
    )
    created = body["data"]["createCustomer"]
    assert created["__typename"] == "CreateCustomerSuccess", created
    key = created["customer"]["id"]
    for version, name in ((1, "Inés María"), (2, "Inés Andrea")):
        body = await gql(
            UPDATE, {"input": {"id": key, "version": version, "givenNames": name}}, token=agent
        )
        assert body["data"]["updateCustomer"]["__typename"] == "UpdateCustomerSuccess"
    return uuid.UUID(relay.GlobalID.from_id(key).node_id)


async def test_trail_is_oldest_first_and_pages(gql, admin, history):
    first = await gql(TRAIL, {"entityId": gid("Customer", history), "first": 2}, token=admin)
    assert "errors" not in first, first
    page = first["data"]["auditTrail"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is False
    second = await gql(
        TRAIL,
        {"entityId": gid("Customer", history), "first": 2, "after": page["pageInfo"]["endCursor"]},
        token=admin,
    )
    rest = second["data"]["auditTrail"]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True
    nodes = [e["node"] for e in page["edges"] + rest["edges"]]

    assert [n["action"] for n in nodes] == [
        "customers.create",
        "customers.update",
        "customers.update",
    ]
    seqs = [int(n["seq"]) for n in nodes]  # Long travels as a string
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert all(n["entityType"] == "Customer" and n["entityId"] == str(history) for n in nodes)
    assert all(n["actor"] == "test:agent@BANCO_ANDINO" for n in nodes)
    assert all(n["actorKind"] == "user" for n in nodes)
    assert nodes[0]["before"] is None
    assert nodes[0]["after"]["given_names"] == "Inés"
    assert nodes[0]["after"]["version"] == 1
    assert nodes[1]["before"]["given_names"] == "Inés"
    assert nodes[1]["after"]["given_names"] == "Inés María"
    assert nodes[2]["before"]["version"] == 2
    assert nodes[2]["after"]["version"] == 3
    assert nodes[2]["after"]["given_names"] == "Inés Andrea"
    for earlier, later in itertools.pairwise(nodes):
        if int(later["seq"]) == int(earlier["seq"]) + 1:
            assert later["prevHash"] == earlier["hash"]

    with_uuid = await gql(TRAIL, {"entityId": str(history), "first": 10}, token=admin)
    assert [e["node"]["id"] for e in with_uuid["data"]["auditTrail"]["edges"]] == [
        n["id"] for n in nodes
    ]


async def test_trail_counts_its_records_when_asked(gql, admin, history, sql_counter):
    query = """
    query Count($entityId: ID!, $first: Int, $after: String) {
      auditTrail(entityId: $entityId, first: $first, after: $after) {
        totalCount
        edges { node { seq } }
        pageInfo { endCursor }
      }
    }
    """
    key = gid("Customer", history)
    body = await gql(query, {"entityId": key, "first": 2}, token=admin)
    assert "errors" not in body, body
    page = body["data"]["auditTrail"]
    assert page["totalCount"] == 3  # every record of the entity, not only this page
    assert len(page["edges"]) == 2
    after = page["pageInfo"]["endCursor"]
    rest = await gql(query, {"entityId": key, "first": 2, "after": after}, token=admin)
    assert rest["data"]["auditTrail"]["totalCount"] == 3
    empty = await gql(query, {"entityId": gid("Customer", uuid.uuid4())}, token=admin)
    assert empty["data"]["auditTrail"]["totalCount"] == 0

    # Counted only when selected.
    sql_counter.reset()
    await gql(TRAIL, {"entityId": key}, token=admin)
    assert not [s for s in sql_counter.statements if "count(" in s.lower()]


async def test_trail_of_unknown_entity_is_empty(gql, admin):
    body = await gql(TRAIL, {"entityId": gid("Customer", uuid.uuid4())}, token=admin)
    assert body["data"]["auditTrail"]["edges"] == []
    assert body["data"]["auditTrail"]["pageInfo"]["hasNextPage"] is False


async def test_trail_is_for_administrators_only(gql, token, history, subtests):
    variables = {"entityId": gid("Customer", history)}
    refused = {
        "agent": token("agent", partner="BANCO_ANDINO"),
        "supervisor": token("supervisor", partner="BANCO_ANDINO"),
        "partner_system": token("partner_system", partner="BANCO_ANDINO"),
        "network_viewer": token("network_viewer"),
        "investor": token("investor"),
    }
    for who, tok in refused.items():
        with subtests.test(who):
            body = await gql(TRAIL, variables, token=tok)
            assert error_code(body) == "FORBIDDEN"
            assert body["data"] is None
    with subtests.test("anonymous"):
        body = await gql(TRAIL, variables, accept=GRAPHQL_RESPONSE, expect_status=401)
        assert error_code(body) == "UNAUTHENTICATED"


async def test_trail_refuses_bad_page_arguments(gql, admin, history, subtests):
    key = gid("Customer", history)
    bad = {
        "first above the cap": {"first": 101},
        "negative first": {"first": -1},
        "garbage cursor": {"after": "garbage"},
        "a customers cursor": {"after": encode_cursor("customers.v1", "araya ines", str(history))},
        "a cursor with a text seq": {"after": encode_cursor("audit.v1", "3")},
    }
    for what, variables in bad.items():
        with subtests.test(what):
            body = await gql(TRAIL, {"entityId": key, **variables}, token=admin)
            assert error_code(body) == "VALIDATION"
            assert body["data"] is None


async def test_request_id_is_recorded(client, admin, history, token):
    response = await client.post(
        "/graphql",
        json={
            "query": UPDATE,
            "variables": {
                "input": {"id": gid("Customer", history), "version": 3, "familyNames": "Rojas"}
            },
        },
        headers={
            "authorization": f"Bearer {token('agent', partner='BANCO_ANDINO')}",
            "x-request-id": "audit-test-42",
        },
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "audit-test-42"
    records = await records_for(history)
    assert records[-1].request_id == "audit-test-42"
    assert records[-1].after is not None and records[-1].after["family_names"] == "Rojas"


async def test_refused_mutation_writes_no_record(gql, agent, history):
    before = await audit_count()
    body = await gql(
        UPDATE,
        {"input": {"id": gid("Customer", history), "version": 1, "givenNames": "Tarde"}},
        token=agent,
    )
    assert body["data"]["updateCustomer"]["__typename"] == "ConflictError"
    body = await gql(
        UPDATE,
        {"input": {"id": gid("Customer", history), "version": 3, "email": "nope"}},
        token=agent,
    )
    assert body["data"]["updateCustomer"]["__typename"] == "ValidationError"
    assert await audit_count() == before
    assert (await verify()).ok


# --- verification -----------------------------------------------------------------------
async def test_chain_verifies_after_mutations(history):
    result = await verify()
    assert result.ok, result.describe()
    assert result.checked == await audit_count()
    assert result.broken_seq is None


async def _tamper(seq: int, **values: Any) -> None:
    table = table_of(AuditRecord)
    async with transaction() as session:
        changed = await session.execute(sa.update(table).where(table.c.seq == seq).values(**values))
        assert changed.rowcount == 1  # type: ignore[attr-defined]


async def test_tampered_after_is_reported_by_seq(history):
    records = await records_for(history)
    target = records[1]
    assert target.after is not None
    await _tamper(target.seq, after={**target.after, "given_names": "Alguien Más"})
    result = await verify()
    assert not result.ok
    assert result.broken_seq == target.seq
    assert result.reason is not None and "altered" in result.reason
    assert str(target.seq) in result.describe()


@pytest.mark.parametrize(
    "change",
    [
        {"actor": "test:someone-else"},
        {"before": None},
        {"entity_id": "another"},
        {"request_id": "forged"},
    ],
)
async def test_any_altered_field_is_reported(history, change):
    records = await records_for(history)
    target = records[-1]
    await _tamper(target.seq, **change)
    result = await verify()
    assert (result.ok, result.broken_seq) == (False, target.seq)


async def test_forged_hash_is_reported(history):
    records = await records_for(history)
    await _tamper(records[0].seq, hash="f" * 64)
    result = await verify()
    assert (result.ok, result.broken_seq) == (False, records[0].seq)


async def test_rewritten_record_with_its_own_hash_breaks_the_next_link(history):
    """Rewriting a record and re-hashing it consistently is caught by its successor."""
    records = await records_for(history)
    target, following = records[0], records[1]
    assert following.seq == target.seq + 1  # nothing else was written in between
    assert target.after is not None
    forged_after = {**target.after, "email": "attacker@example.com"}
    fields = audit._hashed_fields(
        seq=target.seq,
        id=target.id,
        occurred_at=target.occurred_at,
        actor=target.actor,
        actor_kind=target.actor_kind,
        partner_id=target.partner_id,
        action=target.action,
        entity_type=target.entity_type,
        entity_id=target.entity_id,
        before=target.before,
        after=forged_after,
        request_id=target.request_id,
        prev_hash=target.prev_hash,
    )
    await _tamper(target.seq, after=forged_after, hash=audit._digest(fields))
    result = await verify()
    assert not result.ok
    assert result.broken_seq == following.seq
    assert result.reason == "it does not point at the previous record"


async def test_deleted_record_is_reported_as_missing(history):
    records = await records_for(history)
    target = records[1]
    table = table_of(AuditRecord)
    async with transaction() as session:
        await session.execute(sa.delete(table).where(table.c.seq == target.seq))
    result = await verify()
    assert not result.ok
    assert result.broken_seq == target.seq
    assert result.reason == f"record {target.seq} is missing"


async def test_new_records_after_a_verified_chain_still_verify(gql, agent, history):
    assert (await verify()).ok
    body = await gql(
        UPDATE,
        {"input": {"id": gid("Customer", history), "version": 3, "familyNames": "Soto"}},
        token=agent,
    )
    assert body["data"]["updateCustomer"]["__typename"] == "UpdateCustomerSuccess"
    result = await verify()
    assert result.ok
    assert result.checked == await audit_count()

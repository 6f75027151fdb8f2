"""Partners, Relay ``node``/``nodes``, and the federation fields ``_entities`` and ``_service``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from strawberry import relay

from app.db import read_session
from domain.credits.models import Credit
from domain.customers.models import Customer as CustomerRow
from domain.partners.models import Partner as PartnerRow

GRAPHQL_RESPONSE = "application/graphql-response+json"

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename
    id
    ... on Customer { givenNames nationalId { number } piiMasked }
    ... on Partner { code name }
  }
}
"""

NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename
    id
    ... on Customer { givenNames homePartner { code } }
    ... on Partner { code }
  }
}
"""

ENTITIES = """
query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Customer { id givenNames nationalId { number } piiMasked homePartner { code } }
    ... on Partner { id code name }
  }
}
"""


def gid(type_name: str, key: uuid.UUID | str) -> str:
    return str(relay.GlobalID(type_name, str(key)))


async def partners_by_code() -> dict[str, PartnerRow]:
    async with read_session() as session:
        rows = (await session.execute(sa.select(PartnerRow))).scalars().all()
    return {p.code: p for p in rows}


async def some_customers(count: int) -> list[CustomerRow]:
    async with read_session() as session:
        stmt = sa.select(CustomerRow).order_by(CustomerRow.national_id).limit(count)  # type: ignore[arg-type]
        return list((await session.execute(stmt)).scalars().all())


async def clear_for(partner: uuid.UUID, rows: list[CustomerRow]) -> dict[uuid.UUID, bool]:
    """Whether an agent of ``partner`` sees each customer in clear (issue 9's rule: home
    partner, a credit it holds, or consent; the seed has no cases)."""
    async with read_session() as session:
        lent = set(
            (
                await session.execute(
                    sa.select(Credit.customer_id).where(Credit.partner_id == partner)  # type: ignore[call-overload,arg-type]
                )
            ).scalars()
        )
    return {
        r.id: r.home_partner_id == partner or r.consent_data_sharing or r.id in lent for r in rows
    }


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def selects_from(statements: list[str], table: str) -> list[str]:
    return [s for s in selects(statements) if f"FROM {table}" in s]


@pytest.fixture
def agent(token: Any) -> str:
    return str(token("agent", partner="BANCO_ANDINO"))


# --- partners ---------------------------------------------------------------------------
PARTNERS = """
query Partners($active: Boolean! = false) {
  partners(activeOnly: $active) { id code name country kind active }
}
"""


async def test_partners_lists_the_network_by_code(gql, token, subtests):
    rows = await partners_by_code()
    expected = [
        {
            "id": gid("Partner", rows[code].id),
            "code": code,
            "name": rows[code].name,
            "country": rows[code].country,
            "kind": rows[code].kind.upper(),
            "active": True,
        }
        for code in sorted(rows)
    ]
    assert [p["code"] for p in expected] == [
        "AUTOCREDITO",
        "AUTOMOTORA_ANDES",
        "AUTOS_PACIFICO",
        "BANCO_ANDINO",
        "BANCO_PAMPA",
        "CLUB_PUNTOS",
        "RETAIL_SUR",
        "TARJETA_PLATA",
    ]
    readers = {
        "agent": token("agent", partner="BANCO_ANDINO"),
        "partner_system": token("partner_system", partner="CLUB_PUNTOS"),
        "network_viewer": token("network_viewer"),
        "investor": token("investor"),
        "admin": token("admin"),
    }
    for role, tok in readers.items():
        with subtests.test(role=role):
            body = await gql(PARTNERS, token=tok)
            assert body == {"data": {"partners": expected}}
    with subtests.test("activeOnly"):
        body = await gql(PARTNERS, {"active": True}, token=readers["agent"])
        assert body == {"data": {"partners": expected}}
    assert {p["country"] for p in expected} == {"CL", "AR"}


async def test_partners_need_a_token_with_partners_read(gql, token, subtests):
    with subtests.test("anonymous"):
        body = await gql(PARTNERS, accept=GRAPHQL_RESPONSE, expect_status=401)
        assert error_code(body) == "UNAUTHENTICATED"
    with subtests.test("a token without partners:read"):
        tok = token("agent", partner="BANCO_ANDINO", scopes=["customers:read"])
        body = await gql(PARTNERS, token=tok)
        assert error_code(body) == "FORBIDDEN"
        assert body["data"] is None


# --- node / nodes -----------------------------------------------------------------------
async def test_node_resolves_customers_and_partners(gql, agent, subtests):
    (customer,) = await some_customers(1)
    partners = await partners_by_code()
    andino = partners["BANCO_ANDINO"]

    with subtests.test("Customer"):
        body = await gql(NODE, {"id": gid("Customer", customer.id)}, token=agent)
        node = body["data"]["node"]
        assert node["__typename"] == "Customer"
        assert node["id"] == gid("Customer", customer.id)
        assert node["givenNames"] == customer.given_names
        assert node["piiMasked"] is False

    with subtests.test("Partner"):
        body = await gql(NODE, {"id": gid("Partner", andino.id)}, token=agent)
        assert body == {
            "data": {
                "node": {
                    "__typename": "Partner",
                    "id": gid("Partner", andino.id),
                    "code": "BANCO_ANDINO",
                    "name": andino.name,
                }
            }
        }

    nulls = {
        "a customer's UUID under the Partner prefix": gid("Partner", customer.id),
        "a partner's UUID under the Customer prefix": gid("Customer", andino.id),
        "an unknown customer": gid("Customer", uuid.uuid4()),
        "an unknown partner": gid("Partner", uuid.uuid4()),
        "not a UUID behind the prefix": gid("Customer", "nope"),
    }
    for what, ident in nulls.items():
        with subtests.test(what):
            body = await gql(NODE, {"id": ident}, token=agent)
            assert body == {"data": {"node": None}}


async def test_node_with_foreign_or_malformed_id_is_not_an_internal_error(gql, agent):
    (customer,) = await some_customers(1)
    for ident in (gid("Case", customer.id), "garbage", str(customer.id)):
        body = await gql(NODE, {"id": ident}, token=agent)
        codes = [e["extensions"]["code"] for e in body.get("errors", [])]
        assert "INTERNAL" not in codes, (ident, body)


async def test_node_checks_who_may_read(gql, token):
    (customer,) = await some_customers(1)
    partners = await partners_by_code()
    investor = token("investor")
    body = await gql(NODE, {"id": gid("Customer", customer.id)}, token=investor)
    assert error_code(body) == "FORBIDDEN"
    assert body["data"] == {"node": None}
    body = await gql(NODE, {"id": gid("Partner", partners["RETAIL_SUR"].id)}, token=investor)
    assert body["data"]["node"]["code"] == "RETAIL_SUR"

    viewer = await gql(NODE, {"id": gid("Customer", customer.id)}, token=token("network_viewer"))
    assert viewer["data"]["node"]["piiMasked"] is True
    assert "•" in viewer["data"]["node"]["nationalId"]["number"]


async def test_nodes_batches_each_type(gql, agent, sql_counter):
    customers = await some_customers(8)
    partners = await partners_by_code()
    ids = [gid("Customer", c.id) for c in customers]
    ids.insert(3, gid("Partner", partners["AUTOCREDITO"].id))
    ids.insert(5, gid("Partner", customers[0].id))  # wrong prefix: null in its place
    ids.append(gid("Partner", partners["BANCO_PAMPA"].id))
    ids.append(gid("Customer", uuid.uuid4()))

    clear = await clear_for(partners["BANCO_ANDINO"].id, customers)
    assert set(clear.values()) == {True, False}  # both kinds in the batch
    await gql("{ partners { code } }", token=agent)  # warm the partner directory
    sql_counter.reset()
    body = await gql(NODES, {"ids": ids}, token=agent)
    assert "errors" not in body, body
    nodes = body["data"]["nodes"]
    assert len(nodes) == len(ids)
    assert nodes[3] == {
        "__typename": "Partner",
        "id": ids[3],
        "code": "AUTOCREDITO",
    }
    assert nodes[5] is None
    assert nodes[-2]["code"] == "BANCO_PAMPA"
    assert nodes[-1] is None
    customer_nodes = [n for n in nodes if n and n["__typename"] == "Customer"]
    assert [n["id"] for n in customer_nodes] == [gid("Customer", c.id) for c in customers]
    codes = {p.id: code for code, p in partners.items()}
    for node, row in zip(customer_nodes, customers, strict=True):
        masked = f"{row.given_names[0]}•••"
        assert node["givenNames"] == (row.given_names if clear[row.id] else masked)
        assert node["homePartner"]["code"] == codes[row.home_partner_id]

    # One batch of customers; partners for the Partner nodes and for homePartner may share
    # a batch or take two, never one per item.
    assert len(selects_from(sql_counter.statements, "customers")) == 1, sql_counter.statements
    assert 1 <= len(selects_from(sql_counter.statements, "partners")) <= 2
    assert len(selects(sql_counter.statements)) <= 3


# --- federation -------------------------------------------------------------------------
async def test_entities_resolve_in_one_batch_per_type(gql, agent, sql_counter, subtests):
    customers = await some_customers(6)
    partners = await partners_by_code()
    representations: list[dict[str, Any]] = []
    for index, customer in enumerate(customers):
        # Routers send what the @key holds: our global id (a bare UUID is accepted too).
        key = gid("Customer", customer.id) if index % 2 else str(customer.id)
        representations.append({"__typename": "Customer", "id": key})
        if index < 4:
            code = sorted(partners)[index]
            representations.append(
                {"__typename": "Partner", "id": gid("Partner", partners[code].id)}
            )
    representations.append({"__typename": "Customer", "id": gid("Customer", uuid.uuid4())})
    representations.append({"__typename": "Customer", "id": gid("Partner", customers[0].id)})
    representations.append({"__typename": "Partner", "id": gid("Customer", customers[0].id)})
    representations.append({"__typename": "Customer"})

    clear = await clear_for(partners["BANCO_ANDINO"].id, customers)
    assert set(clear.values()) == {True, False}  # both kinds in the batch
    await gql("{ partners { code } }", token=agent)  # warm the partner directory
    sql_counter.reset()
    body = await gql(ENTITIES, {"representations": representations}, token=agent)
    assert "errors" not in body, body
    entities = body["data"]["_entities"]
    assert len(entities) == len(representations)

    with subtests.test("each entity answers its representation, in order"):
        codes = {p.id: code for code, p in partners.items()}
        rows = iter(customers)
        partner_codes = iter(sorted(partners)[:4])
        for rep, entity in zip(representations[:-4], entities[:-4], strict=True):
            assert entity["__typename"] == rep["__typename"]
            if rep["__typename"] == "Customer":
                row = next(rows)
                assert entity["id"] == gid("Customer", row.id)
                masked = f"{row.given_names[0]}•••"
                assert entity["givenNames"] == (row.given_names if clear[row.id] else masked)
                assert entity["piiMasked"] is not clear[row.id]
                assert entity["homePartner"]["code"] == codes[row.home_partner_id]
            else:
                assert entity["code"] == next(partner_codes)
        assert entities[-4:] == [None, None, None, None]

    with subtests.test("one SELECT per type"):
        statements = sql_counter.statements
        assert len(selects_from(statements, "customers")) == 1, statements
        # homePartner of the customers joins the Partner entities' batch or makes its own.
        assert 1 <= len(selects_from(statements, "partners")) <= 2, statements

    with subtests.test("without homePartner: exactly one SELECT per type"):
        sql_counter.reset()
        lean = """
        query($representations: [_Any!]!) {
          _entities(representations: $representations) {
            ... on Customer { id } ... on Partner { code }
          }
        }
        """
        body = await gql(lean, {"representations": representations}, token=agent)
        assert "errors" not in body
        assert len(selects_from(sql_counter.statements, "customers")) == 1
        assert len(selects_from(sql_counter.statements, "partners")) == 1
        assert len(selects(sql_counter.statements)) == 2, sql_counter.statements


async def test_entities_mask_and_check_access(gql, token):
    (customer,) = await some_customers(1)
    representations = [{"__typename": "Customer", "id": gid("Customer", customer.id)}]
    viewer = await gql(
        ENTITIES, {"representations": representations}, token=token("network_viewer")
    )
    entity = viewer["data"]["_entities"][0]
    assert entity["piiMasked"] is True
    assert "•" in entity["nationalId"]["number"]

    investor = await gql(ENTITIES, {"representations": representations}, token=token("investor"))
    assert error_code(investor) == "FORBIDDEN"
    assert investor["data"] == {"_entities": [None]}

    anonymous = await gql(ENTITIES, {"representations": representations})
    assert error_code(anonymous) == "UNAUTHENTICATED"


async def test_service_sdl_declares_the_keys(gql, agent):
    body = await gql("{ _service { sdl } }", token=agent)
    sdl = body["data"]["_service"]["sdl"]
    assert 'type Customer implements Node @key(fields: "id")' in sdl
    assert 'type Partner implements Node @key(fields: "id")' in sdl
    assert "https://specs.apollo.dev/federation/v2" in sdl
    entity_line = next(line for line in sdl.splitlines() if line.startswith("union _Entity = "))
    entities = set(entity_line.removeprefix("union _Entity = ").split(" | "))
    assert {"Customer", "Partner", "Credit"} <= entities  # other domains add theirs
    assert 'type Credit implements Node @key(fields: "id")' in sdl

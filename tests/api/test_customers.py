"""Customers through the GraphQL API: create, update, read, search, masking, access, N+1."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from stdnum.cl import rut
from strawberry import relay

from app.db import read_session, transaction
from domain.customers.models import Customer as CustomerRow
from domain.partners.models import Partner as PartnerRow
from domain.shared.audit import AuditRecord
from domain.shared.models import table_of
from domain.shared.pagination import encode_cursor
from domain.shared.text import fold

GRAPHQL_RESPONSE = "application/graphql-response+json"

CUSTOMER_FIELDS = """
    id
    nationalId { type number country }
    givenNames
    familyNames
    email
    phone
    address { line1 line2 city region postalCode country }
    consents { marketing dataSharing }
    piiMasked
    version
    updatedAt
    homePartner { code }
"""

CREATE = f"""
mutation Create($input: CreateCustomerInput!) {{
  createCustomer(input: $input) {{
    __typename
    ... on CreateCustomerSuccess {{ customer {{ {CUSTOMER_FIELDS} }} }}
    ... on UserError {{ message code }}
    ... on ValidationError {{ field problems {{ field message }} }}
  }}
}}
"""

UPDATE = f"""
mutation Update($input: UpdateCustomerInput!) {{
  updateCustomer(input: $input) {{
    __typename
    ... on UpdateCustomerSuccess {{ customer {{ {CUSTOMER_FIELDS} }} }}
    ... on UserError {{ message code }}
    ... on ValidationError {{ field problems {{ field message }} }}
    ... on ConflictError {{ currentVersion }}
    ... on NotFoundError {{ entity id }}
  }}
}}
"""

GET = f"query Get($id: ID!) {{ customer(id: $id) {{ {CUSTOMER_FIELDS} }} }}"

SEARCH = """
query Search($search: String, $first: Int, $after: String) {
  customers(search: $search, first: $first, after: $after) {
    totalCount
    edges { cursor node { id givenNames familyNames nationalId { number } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

NEW_RUT = "12.345.678-5"  # valid, and outside the range the seed uses
NEW_RUT_COMPACT = "123456785"


# --- helpers ----------------------------------------------------------------------------
def gid(type_name: str, key: uuid.UUID | str) -> str:
    return str(relay.GlobalID(type_name, str(key)))


def key_of(global_id: str) -> uuid.UUID:
    return uuid.UUID(relay.GlobalID.from_id(global_id).node_id)


def rut_with_check(body: int) -> str:
    return f"{body}-{rut.calc_check_digit(str(body))}"


async def partner_id(code: str) -> uuid.UUID:
    async with read_session() as session:
        found = await session.execute(
            sa.select(PartnerRow.id).where(PartnerRow.code == code)  # type: ignore[arg-type]
        )
        return found.scalar_one()


async def all_customers() -> list[CustomerRow]:
    async with read_session() as session:
        return list((await session.execute(sa.select(CustomerRow))).scalars().all())


async def customer_row(key: uuid.UUID) -> CustomerRow | None:
    async with read_session() as session:
        return await session.get(CustomerRow, key)


async def audit_for(key: uuid.UUID) -> list[AuditRecord]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(AuditRecord)
            .where(AuditRecord.entity_id == str(key))  # type: ignore[arg-type]
            .order_by(AuditRecord.seq)  # type: ignore[arg-type]
        )
        return list(rows.scalars().all())


async def db_state() -> tuple[list[tuple[Any, ...]], int]:
    """Every customer row in full, and how many audit records exist."""
    customers = table_of(CustomerRow)
    audit = table_of(AuditRecord)
    async with read_session() as session:
        rows = (await session.execute(sa.select(customers).order_by(customers.c.id))).all()
        audits = (await session.execute(sa.select(sa.func.count()).select_from(audit))).scalar()
    return [tuple(r) for r in rows], int(audits or 0)


async def seed_customer(country: str = "CL") -> CustomerRow:
    rows = [c for c in await all_customers() if c.national_id_type.startswith(country)]
    return sorted(rows, key=lambda c: c.national_id)[0]


def new_input(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "nationalId": {"type": "CL_RUT", "number": NEW_RUT},
        "givenNames": "  Ana   María ",
        "familyNames": "Pérez Núñez",
        "email": "Ana.Perez@Example.COM",
        "phone": "(9) 6123 4567",
        "address": {
            "line1": "Av. Providencia 1234",
            "line2": "Depto 56",
            "city": "Providencia",
            "region": "Región Metropolitana",
            "country": "cl",
        },
        "consentMarketing": True,
    }
    data.update(overrides)
    return data


async def create(gql: Any, tok: str, data: dict[str, Any]) -> dict[str, Any]:
    body = await gql(CREATE, {"input": data}, token=tok)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["createCustomer"]
    return result


async def update(gql: Any, tok: str, data: dict[str, Any]) -> dict[str, Any]:
    body = await gql(UPDATE, {"input": data}, token=tok)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["updateCustomer"]
    return result


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


@pytest.fixture
def agent(token: Any) -> str:
    return str(token("agent", partner="BANCO_ANDINO"))


@pytest.fixture
def supervisor(token: Any) -> str:
    return str(token("supervisor", partner="BANCO_ANDINO"))


@pytest.fixture
def admin(token: Any) -> str:
    return str(token("admin"))


def dotted_rut(compact: str) -> str:
    return f"{int(compact[:-1]):,}".replace(",", ".") + "-" + compact[-1]


# --- createCustomer ---------------------------------------------------------------------
async def test_create_normalises_and_audits(gql, agent):
    _, audits_before = await db_state()
    result = await create(gql, agent, new_input())

    assert result["__typename"] == "CreateCustomerSuccess", result
    customer = result["customer"]
    assert customer["nationalId"] == {"type": "CL_RUT", "number": NEW_RUT, "country": "CL"}
    assert customer["givenNames"] == "Ana María"
    assert customer["familyNames"] == "Pérez Núñez"
    assert customer["email"] == "Ana.Perez@example.com"  # local part kept, domain folded
    assert customer["phone"] == "+56961234567"
    assert customer["address"] == {
        "line1": "Av. Providencia 1234",
        "line2": "Depto 56",
        "city": "Providencia",
        "region": "Región Metropolitana",
        "postalCode": None,
        "country": "CL",
    }
    assert customer["consents"] == {"marketing": True, "dataSharing": False}
    assert customer["piiMasked"] is False
    assert customer["version"] == 1
    assert customer["homePartner"] == {"code": "BANCO_ANDINO"}

    key = key_of(customer["id"])
    row = await customer_row(key)
    assert row is not None
    assert row.national_id == NEW_RUT_COMPACT
    assert row.home_partner_id == await partner_id("BANCO_ANDINO")

    records = await audit_for(key)
    assert [r.action for r in records] == ["customers.create"]
    record = records[0]
    assert record.entity_type == "Customer"
    assert record.actor == "test:agent@BANCO_ANDINO"
    assert record.partner_id == row.home_partner_id
    assert record.before is None
    assert record.after is not None
    assert record.after["national_id"] == NEW_RUT_COMPACT
    assert record.after["email"] == "Ana.Perez@example.com"
    assert record.after["version"] == 1
    _, audits_after = await db_state()
    assert audits_after == audits_before + 1


async def test_create_accepts_common_spellings(gql, agent, token, subtests):
    cases = [
        # (body, RUT as typed, phone as typed, E.164 expected)
        (13_000_000, "{body}{dv}", "9 6123 4567", "+56961234567"),
        (13_000_001, "{body}-{dv}", "+56 9 6123 4567", "+56961234567"),
        (13_000_002, "{dotted}", "22 123 4567", "+56221234567"),
        (7_654_321, "0{dotted}", "+56-9-6123-4567", "+56961234567"),  # zero-padded
        (7_654_322, "{body}-{dv}", "(9) 6123-4567", "+56961234567"),
    ]
    for body, spelling, phone, expected_phone in cases:
        dv = rut.calc_check_digit(str(body))
        typed = spelling.format(body=body, dv=dv, dotted=dotted_rut(f"{body}{dv}"))
        with subtests.test(rut=typed, phone=phone):
            result = await create(
                gql, agent, new_input(nationalId={"type": "CL_RUT", "number": typed}, phone=phone)
            )
            assert result["__typename"] == "CreateCustomerSuccess", result
            assert result["customer"]["nationalId"]["number"] == dotted_rut(f"{body}{dv}")
            assert result["customer"]["phone"] == expected_phone

    with subtests.test("Argentina: CUIL and local phone formats"):
        data = new_input(
            nationalId={"type": "AR_CUIL", "number": "20-12345678-6"},
            phone="011 15 6123-4567",
            address={"line1": "Corrientes 1234", "city": "Palermo", "country": "AR"},
        )
        result = await create(gql, token("agent", partner="BANCO_PAMPA"), data)
        assert result["__typename"] == "CreateCustomerSuccess", result
        assert result["customer"]["nationalId"]["number"] == "20-12345678-6"
        assert result["customer"]["phone"] == "+5491161234567"
        assert result["customer"]["homePartner"] == {"code": "BANCO_PAMPA"}


BAD_CREATE_INPUTS: list[tuple[dict[str, Any], str]] = [
    ({"nationalId": {"type": "CL_RUT", "number": "12.345.678-9"}}, "nationalId"),
    ({"nationalId": {"type": "CL_RUT", "number": "12.345.678"}}, "nationalId"),
    ({"nationalId": {"type": "CL_RUT", "number": "DROP TABLE"}}, "nationalId"),
    ({"nationalId": {"type": "CL_RUT", "number": "   "}}, "nationalId"),
    ({"nationalId": {"type": "CL_RUT", "number": "0-0"}}, "nationalId"),
    ({"nationalId": {"type": "AR_CUIL", "number": "20-12345678-0"}}, "nationalId"),
    ({"email": "ana@@example.com"}, "email"),
    ({"email": "ana.perez"}, "email"),
    ({"email": "ana@example"}, "email"),
    ({"email": "ana perez@example.com"}, "email"),
    ({"phone": "12345"}, "phone"),
    ({"phone": "09 6123 4567"}, "phone"),
    ({"phone": "call me maybe"}, "phone"),
    ({"phone": "+56 9 6123 4567 8901 2345 6789 0"}, "phone"),
    ({"givenNames": "R2-D2"}, "givenNames"),
    ({"givenNames": "   "}, "givenNames"),
    ({"givenNames": "A" * 101}, "givenNames"),
    ({"familyNames": "<script>"}, "familyNames"),
    (
        {"address": {"line1": "Av. Siempre Viva 742", "city": "Springfield", "country": "US"}},
        "address.country",
    ),
    (
        {"address": {"line1": "Los Leones 12", "city": "Providencia", "country": ""}},
        "address.country",
    ),
    ({"address": {"line1": "  ", "city": "Providencia", "country": "CL"}}, "address.line1"),
    ({"address": {"line1": "Los Leones 12", "city": "", "country": "CL"}}, "address.city"),
    (
        {"address": {"line1": "Tarjeta 4111 1111 1111 1111", "city": "X", "country": "CL"}},
        "address.line1",
    ),
    (
        {
            "address": {
                "line1": "Los Leones 12",
                "line2": "4111-1111-1111-1111",
                "city": "X",
                "country": "CL",
            }
        },
        "address.line2",
    ),
    (
        {"address": {"line1": "Los Leones 12", "city": "4111111111111111", "country": "CL"}},
        "address.city",
    ),
    (
        {
            "address": {
                "line1": "Los Leones 12",
                "city": "Providencia",
                "region": "5500 0000 0000 0004",
                "country": "CL",
            }
        },
        "address.region",
    ),
]


async def test_create_refuses_bad_input(gql, agent, subtests):
    before = await db_state()
    for overrides, field in BAD_CREATE_INPUTS:
        with subtests.test(field=field, input=overrides):
            result = await create(gql, agent, new_input(**overrides))
            assert result["__typename"] == "ValidationError", result
            assert result["code"] == "VALIDATION"
            assert result["field"] == field
            assert result["problems"][0]["field"] == field
            assert result["message"]
            if any(pan in str(overrides) for pan in ("4111", "5500")):
                assert "card number" in result["problems"][0]["message"]
                assert "4111" not in result["message"] and "5500" not in result["message"]
    assert await db_state() == before


async def test_create_refuses_card_number_anywhere_in_the_address(gql, agent):
    before = await db_state()
    pan = "4111 1111 1111 1111"
    data = new_input(
        address={"line1": f"Calle {pan}", "city": "Providencia", "country": "CL"},
    )
    result = await create(gql, agent, data)
    assert result["__typename"] == "ValidationError"
    assert result["field"] == "address.line1"
    assert "card number" in result["problems"][0]["message"]
    assert pan not in result["message"]  # the error does not echo the number back
    assert await db_state() == before


async def test_create_reports_every_wrong_field(gql, agent):
    before = await db_state()
    data = new_input(nationalId={"type": "CL_RUT", "number": "12.345.678-9"}, email="x@", phone="1")
    result = await create(gql, agent, data)
    assert result["__typename"] == "ValidationError"
    assert result["field"] == "nationalId"
    assert [p["field"] for p in result["problems"]] == ["nationalId", "email", "phone"]
    assert await db_state() == before


async def test_create_refuses_duplicate_national_id(gql, agent, token, subtests):
    first = await create(gql, agent, new_input())
    assert first["__typename"] == "CreateCustomerSuccess"
    existing = await seed_customer("CL")
    before = await db_state()
    other_partner = token("agent", partner="RETAIL_SUR")
    spellings = [
        (agent, NEW_RUT_COMPACT),
        (agent, "12345678-5"),
        (agent, " 12.345.678-5 "),
        (other_partner, "12.345.678-5"),  # one customer across the whole network
        (agent, existing.national_id),
        (agent, dotted_rut(existing.national_id)),
        (agent, existing.national_id.lower()),
    ]
    for tok, spelling in spellings:
        with subtests.test(spelling=spelling):
            again = await create(
                gql,
                tok,
                new_input(nationalId={"type": "CL_RUT", "number": spelling}, givenNames="Otra"),
            )
            assert again["__typename"] == "ValidationError", again
            assert again["field"] == "nationalId"
            assert "already" in again["message"]
    assert await db_state() == before


async def test_create_rut_with_k_check_digit_is_one_number(gql, agent):
    body = next(b for b in range(12_000_000, 12_001_000) if rut.calc_check_digit(str(b)) == "K")
    result = await create(
        gql, agent, new_input(nationalId={"type": "CL_RUT", "number": f"{body}-k"})
    )
    assert result["__typename"] == "CreateCustomerSuccess"
    assert result["customer"]["nationalId"]["number"] == dotted_rut(f"{body}K")
    before = await db_state()
    again = await create(gql, agent, new_input(nationalId={"type": "CL_RUT", "number": f"{body}K"}))
    assert again["__typename"] == "ValidationError"
    assert again["field"] == "nationalId"
    assert await db_state() == before


async def test_create_home_partner_rules(gql, agent, token, admin, subtests):
    retail = gid("Partner", await partner_id("RETAIL_SUR"))
    own = gid("Partner", await partner_id("BANCO_ANDINO"))
    before = await db_state()

    with subtests.test("an agent cannot register for another partner"):
        result = await create(gql, agent, new_input(homePartnerId=retail))
        assert result["__typename"] == "ForbiddenError", result
        assert result["code"] == "FORBIDDEN"

    readers = {
        "network_viewer": token("network_viewer"),
        "investor": token("investor"),
        "agent without customers:write": token(
            "agent", partner="BANCO_ANDINO", scopes=["customers:read", "partners:read", "pii:read"]
        ),
    }
    for who, tok in readers.items():
        with subtests.test(f"{who} cannot create"):
            result = await create(gql, tok, new_input())
            assert result["__typename"] == "ForbiddenError", result
            assert result["code"] == "FORBIDDEN"

    with subtests.test("an admin must name the home partner"):
        result = await create(gql, admin, new_input())
        assert result["__typename"] == "ValidationError", result
        assert result["field"] == "homePartnerId"

    bad_homes = {
        "malformed": "not-an-id",
        "a customer's id": gid("Customer", uuid.uuid4()),
        "no such partner": gid("Partner", uuid.uuid4()),
    }
    for what, home in bad_homes.items():
        with subtests.test(f"admin with a bad homePartnerId: {what}"):
            result = await create(gql, admin, new_input(homePartnerId=home))
            assert result["__typename"] == "ValidationError", result
            assert result["field"] == "homePartnerId"

    assert await db_state() == before

    cases = [
        (agent, own, "BANCO_ANDINO"),
        (token("partner_system", partner="AUTOCREDITO"), None, "AUTOCREDITO"),
        (admin, retail, "RETAIL_SUR"),
        (admin, str(await partner_id("BANCO_PAMPA")), "BANCO_PAMPA"),  # raw UUID
    ]
    for offset, (tok, home, code) in enumerate(cases):
        with subtests.test(f"registered for {code}"):
            number = rut_with_check(14_000_000 + offset)
            data = new_input(nationalId={"type": "CL_RUT", "number": number}, homePartnerId=home)
            result = await create(gql, tok, data)
            assert result["__typename"] == "CreateCustomerSuccess", result
            assert result["customer"]["homePartner"] == {"code": code}


async def test_wrong_variable_types_are_bad_user_input(gql, agent, subtests):
    before = await db_state()
    wrong = [
        {"givenNames": 5},
        {"nationalId": {"type": "XX_PASSPORT", "number": "1"}},
        {"nationalId": "12.345.678-5"},
        {"consentMarketing": "yes"},
        {"familyNames": None},
        {"address": {"line1": "Los Leones 12", "city": "Providencia"}},
        {"unknownField": 1},
    ]
    for overrides in wrong:
        for accept, status in ((GRAPHQL_RESPONSE, 400), ("application/json", 200)):
            with subtests.test(input=overrides, accept=accept):
                body = await gql(
                    CREATE,
                    {"input": new_input(**overrides)},
                    token=agent,
                    accept=accept,
                    expect_status=status,
                )
                assert "data" not in body
                assert error_code(body) == "BAD_USER_INPUT"
                assert "$input" in body["errors"][0]["message"]
    assert await db_state() == before


# --- updateCustomer ---------------------------------------------------------------------
async def test_update_bumps_version_and_audits(gql, agent):
    target = await seed_customer("CL")
    change = {
        "id": gid("Customer", target.id),
        "version": 1,
        "givenNames": "Renata",
        "phone": "9 8765 4321",
    }
    result = await update(gql, agent, change)
    assert result["__typename"] == "UpdateCustomerSuccess", result
    customer = result["customer"]
    assert customer["version"] == 2
    assert customer["givenNames"] == "Renata"
    assert customer["phone"] == "+56987654321"
    assert customer["familyNames"] == target.family_names
    assert customer["email"] == target.email

    row = await customer_row(target.id)
    assert row is not None
    assert row.version == 2
    assert row.sort_name == fold(f"{target.family_names} Renata")
    assert row.updated_at > target.updated_at

    records = await audit_for(target.id)
    assert [r.action for r in records] == ["customers.update"]
    record = records[0]
    assert record.before is not None and record.after is not None
    assert record.before["given_names"] == target.given_names
    assert record.after["given_names"] == "Renata"
    assert record.before["phone"] == target.phone
    assert record.after["phone"] == "+56987654321"
    assert (record.before["version"], record.after["version"]) == (1, 2)
    assert record.before["email"] == record.after["email"] == target.email

    again = await update(gql, agent, {"id": str(target.id), "version": 2, "familyNames": "Soto"})
    assert again["__typename"] == "UpdateCustomerSuccess"  # a raw UUID is accepted as well
    assert again["customer"]["familyNames"] == "Soto"
    assert again["customer"]["version"] == 3


async def test_update_with_stale_version_conflicts(gql, agent, subtests):
    target = await seed_customer("CL")
    first = await update(
        gql, agent, {"id": gid("Customer", target.id), "version": 1, "givenNames": "Uno"}
    )
    assert first["__typename"] == "UpdateCustomerSuccess"
    before = await db_state()
    for version in (1, 3, 0, -1):
        with subtests.test(version=version):
            stale = await update(
                gql,
                agent,
                {"id": gid("Customer", target.id), "version": version, "givenNames": "Dos"},
            )
            assert stale["__typename"] == "ConflictError", stale
            assert stale["code"] == "CONFLICT"
            assert stale["currentVersion"] == 2
    assert await db_state() == before
    row = await customer_row(target.id)
    assert row is not None and row.given_names == "Uno"


async def test_update_unknown_or_malformed_id(gql, agent, subtests):
    before = await db_state()
    missing = uuid.uuid4()
    with subtests.test("unknown customer"):
        result = await update(
            gql, agent, {"id": gid("Customer", missing), "version": 1, "givenNames": "X"}
        )
        assert result["__typename"] == "NotFoundError", result
        assert result["code"] == "NOT_FOUND"
        assert result["entity"] == "Customer"
        assert result["id"] == str(missing)

    malformed = [
        "not-an-id",
        "",
        "Q3VzdG9tZXI6bm9wZQ==",  # "Customer:nope"
        "x" * 300,
        gid("Partner", await partner_id("BANCO_ANDINO")),
    ]
    for bad_id in malformed:
        with subtests.test(id=bad_id[:40]):
            result = await update(gql, agent, {"id": bad_id, "version": 1, "givenNames": "X"})
            assert result["__typename"] == "ValidationError", result
            assert result["field"] == "id"
    assert await db_state() == before


async def test_update_null_clears_and_omitted_stays(gql, agent):
    target = await seed_customer("CL")
    assert target.email and target.phone and target.address_line1
    change = {"id": gid("Customer", target.id), "version": 1, "email": None, "address": None}
    result = await update(gql, agent, change)
    assert result["__typename"] == "UpdateCustomerSuccess"
    assert result["customer"]["email"] is None
    assert result["customer"]["address"] is None
    assert result["customer"]["phone"] == target.phone
    row = await customer_row(target.id)
    assert row is not None
    assert row.email is None
    assert row.address_line1 is None and row.city is None and row.address_country is None
    unchanged = (
        "given_names",
        "family_names",
        "phone",
        "national_id",
        "home_partner_id",
        "consent_marketing",
        "consent_data_sharing",
        "consent_updated_at",
        "created_at",
    )
    for name in unchanged:
        assert getattr(row, name) == getattr(target, name), name
    assert row.version == 2
    record = (await audit_for(target.id))[-1]
    assert record.before is not None and record.after is not None
    assert record.before["email"] == target.email
    assert record.after["email"] is None


async def test_update_without_changes_keeps_version(gql, agent, supervisor):
    target = await seed_customer("CL")
    before = await db_state()
    same = {
        "id": gid("Customer", target.id),
        "version": 1,
        "givenNames": f"  {target.given_names} ",
        "email": target.email,
        "consentMarketing": target.consent_marketing,
    }
    for change in (same, {"id": gid("Customer", target.id), "version": 1}):
        result = await update(gql, agent, change)
        assert result["__typename"] == "UpdateCustomerSuccess"
        assert result["customer"]["version"] == 1
    same_id = {
        "id": gid("Customer", target.id),
        "version": 1,
        "nationalId": {"type": "CL_RUT", "number": dotted_rut(target.national_id)},
    }
    result = await update(gql, supervisor, same_id)
    assert result["__typename"] == "UpdateCustomerSuccess"
    assert result["customer"]["version"] == 1
    assert await db_state() == before  # no new version, no audit record


async def test_update_consent_stamps_consent_time(gql, agent):
    target = await seed_customer("CL")
    change = {
        "id": gid("Customer", target.id),
        "version": 1,
        "consentMarketing": not target.consent_marketing,
    }
    result = await update(gql, agent, change)
    assert result["__typename"] == "UpdateCustomerSuccess"
    assert result["customer"]["consents"]["marketing"] is (not target.consent_marketing)
    row = await customer_row(target.id)
    assert row is not None and target.consent_updated_at is not None
    assert row.consent_updated_at is not None
    assert row.consent_updated_at > target.consent_updated_at


BAD_UPDATES: list[tuple[dict[str, Any], str]] = [
    ({"email": "not-an-email"}, "email"),
    ({"phone": "123"}, "phone"),
    ({"givenNames": None}, "givenNames"),
    ({"familyNames": None}, "familyNames"),
    ({"familyNames": "  "}, "familyNames"),
    ({"givenNames": "Ana3"}, "givenNames"),
    (
        {"address": {"line1": "Calle 4111 1111 1111 1111", "city": "X", "country": "CL"}},
        "address.line1",
    ),
    ({"address": {"line1": "Calle 1", "city": "X", "country": "BR"}}, "address.country"),
    ({"consentMarketing": None}, "consentMarketing"),
    ({"consentDataSharing": None}, "consentDataSharing"),
    ({"nationalId": None}, "nationalId"),
    ({"nationalId": {"type": "CL_RUT", "number": "12.345.678-9"}}, "nationalId"),
    ({"homePartnerId": None}, "homePartnerId"),
    ({"homePartnerId": "nope"}, "homePartnerId"),
    ({"givenNames": "Nueva", "email": "bad@"}, "email"),  # the good field is not kept either
]


async def test_update_refuses_bad_input(gql, supervisor, subtests):
    target = await seed_customer("CL")
    before = await db_state()
    for changes, field in BAD_UPDATES:
        with subtests.test(field=field, changes=changes):
            result = await update(
                gql, supervisor, {"id": gid("Customer", target.id), "version": 1, **changes}
            )
            assert result["__typename"] == "ValidationError", result
            assert result["field"] == field
    assert await db_state() == before


async def test_agent_cannot_correct_national_id_but_supervisor_can(gql, agent, supervisor):
    target = await seed_customer("CL")
    change = {
        "id": gid("Customer", target.id),
        "version": 1,
        "nationalId": {"type": "CL_RUT", "number": NEW_RUT},
    }
    before = await db_state()
    refused = await update(gql, agent, change)
    assert refused["__typename"] == "ForbiddenError"
    assert refused["code"] == "FORBIDDEN"
    assert await db_state() == before

    done = await update(gql, supervisor, change)
    assert done["__typename"] == "UpdateCustomerSuccess"
    assert done["customer"]["nationalId"]["number"] == NEW_RUT
    assert done["customer"]["version"] == 2
    records = await audit_for(target.id)
    assert records[-1].before is not None and records[-1].after is not None
    assert records[-1].before["national_id"] == target.national_id
    assert records[-1].after["national_id"] == NEW_RUT_COMPACT


async def test_supervisor_cannot_take_another_customers_national_id(gql, supervisor):
    rows = sorted(
        (c for c in await all_customers() if c.national_id_type == "CL_RUT"),
        key=lambda c: c.national_id,
    )
    target, other = rows[0], rows[1]
    before = await db_state()
    for number in (other.national_id, dotted_rut(other.national_id)):
        change = {
            "id": gid("Customer", target.id),
            "version": 1,
            "nationalId": {"type": "CL_RUT", "number": number},
        }
        result = await update(gql, supervisor, change)
        assert result["__typename"] == "ValidationError"
        assert result["field"] == "nationalId"
        assert "already" in result["message"]
    assert await db_state() == before


async def test_only_admin_moves_a_customer_to_another_partner(gql, agent, token, admin):
    target = await seed_customer("CL")
    codes = ["RETAIL_SUR", "AUTOCREDITO"]
    ids = {code: await partner_id(code) for code in codes}
    destination = next(c for c in codes if ids[c] != target.home_partner_id)
    change = {
        "id": gid("Customer", target.id),
        "version": 1,
        "homePartnerId": gid("Partner", ids[destination]),
    }
    before = await db_state()
    for tok in (agent, token("supervisor", partner="BANCO_ANDINO"), token("network_viewer")):
        refused = await update(gql, tok, change)
        assert refused["__typename"] == "ForbiddenError"
    assert await db_state() == before

    done = await update(gql, admin, change)
    assert done["__typename"] == "UpdateCustomerSuccess"
    assert done["customer"]["homePartner"] == {"code": destination}
    row = await customer_row(target.id)
    assert row is not None and row.home_partner_id == ids[destination]


async def test_concurrent_updates_with_same_version_one_wins(gql, agent, token):
    target = await seed_customer("CL")
    other = token("agent", partner="RETAIL_SUR")
    _, audits_before = await db_state()
    key = gid("Customer", target.id)
    results = await asyncio.gather(
        update(gql, agent, {"id": key, "version": 1, "givenNames": "Primera"}),
        update(gql, other, {"id": key, "version": 1, "givenNames": "Segunda"}),
    )
    kinds = sorted(r["__typename"] for r in results)
    assert kinds == ["ConflictError", "UpdateCustomerSuccess"], results
    winner = next(r for r in results if r["__typename"] == "UpdateCustomerSuccess")
    loser = next(r for r in results if r["__typename"] == "ConflictError")
    assert loser["currentVersion"] == 2
    row = await customer_row(target.id)
    assert row is not None
    assert row.version == 2
    assert row.given_names == winner["customer"]["givenNames"]
    _, audits_after = await db_state()
    assert audits_after == audits_before + 1


# --- queries ----------------------------------------------------------------------------
async def test_customer_by_id(gql, agent, subtests):
    target = await seed_customer("CL")
    for ident in (gid("Customer", target.id), str(target.id), target.id.hex):
        with subtests.test(id=ident):
            body = await gql(GET, {"id": ident}, token=agent)
            assert "errors" not in body
            customer = body["data"]["customer"]
            assert customer["id"] == gid("Customer", target.id)
            assert customer["givenNames"] == target.given_names
            assert customer["nationalId"]["number"] == dotted_rut(target.national_id)

    absent = [
        "nope",
        "",
        "Q3VzdG9tZXI6bm9wZQ==",  # "Customer:nope"
        gid("Customer", uuid.uuid4()),
        gid("Partner", target.id),  # the right UUID behind the wrong type
    ]
    for ident in absent:
        with subtests.test(id=ident):
            body = await gql(GET, {"id": ident}, token=agent)
            assert body == {"data": {"customer": None}}


BY_NATIONAL_ID = """
query ByNid($type: NationalIdType!, $number: String!) {
  customerByNationalId(type: $type, number: $number) { id nationalId { number } }
}
"""


async def test_customer_by_national_id(gql, agent, subtests):
    target = await seed_customer("CL")
    dotted = dotted_rut(target.national_id)
    for spelling in (target.national_id, dotted, f" {dotted} ", target.national_id.lower()):
        with subtests.test(number=spelling):
            body = await gql(BY_NATIONAL_ID, {"type": "CL_RUT", "number": spelling}, token=agent)
            assert "errors" not in body
            assert body["data"]["customerByNationalId"]["id"] == gid("Customer", target.id)
            assert body["data"]["customerByNationalId"]["nationalId"]["number"] == dotted

    with subtests.test("valid but unknown"):
        absent = await gql(BY_NATIONAL_ID, {"type": "CL_RUT", "number": NEW_RUT}, token=agent)
        assert absent == {"data": {"customerByNationalId": None}}

    with subtests.test("right number, wrong type"):
        body = await gql(BY_NATIONAL_ID, {"type": "AR_DNI", "number": "10000000"}, token=agent)
        assert body == {"data": {"customerByNationalId": None}}

    invalid = [("CL_RUT", "12.345.678-9"), ("CL_RUT", "hello"), ("AR_DNI", "1"), ("CL_RUT", "")]
    for id_type, number in invalid:
        with subtests.test(type=id_type, number=number):
            body = await gql(BY_NATIONAL_ID, {"type": id_type, "number": number}, token=agent)
            assert error_code(body) == "VALIDATION"
            assert body["errors"][0]["path"] == ["customerByNationalId"]
            assert body["errors"][0]["extensions"]["field"] == "number"
            assert body["data"] == {"customerByNationalId": None}


async def search_all(gql: Any, tok: str, search: str | None, first: int) -> list[dict[str, Any]]:
    """Walk every page; check the page bookkeeping on the way."""
    nodes: list[dict[str, Any]] = []
    after = None
    total = None
    pages = 0
    while True:
        body = await gql(SEARCH, {"search": search, "first": first, "after": after}, token=tok)
        assert "errors" not in body, body
        page = body["data"]["customers"]
        if total is None:
            total = page["totalCount"]
        assert page["totalCount"] == total
        assert len(page["edges"]) <= first
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if page["edges"]:
            assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        nodes.extend(e["node"] for e in page["edges"])
        pages += 1
        assert pages <= 100
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert total == len(nodes)
    return nodes


def expected_order(rows: list[CustomerRow]) -> list[str]:
    ordered = sorted(rows, key=lambda c: (fold(f"{c.family_names} {c.given_names}"), c.id.hex))
    return [gid("Customer", c.id) for c in ordered]


async def test_pagination_walks_everyone_once_in_name_order(gql, admin, agent, subtests):
    # Everyone: an administrator's list (network-wide pii:read). An agent's list walks its
    # partner's related customers only (issue 9): here, its home partner's.
    rows = await all_customers()
    assert len(rows) == 60
    home = [c for c in rows if c.home_partner_id == await partner_id("BANCO_ANDINO")]
    assert 0 < len(home) < len(rows)
    for who, tok, expected in (("admin", admin, rows), ("agent", agent, home)):
        for first in (7, 20, 60, 100):
            with subtests.test(who=who, first=first):
                nodes = await search_all(gql, tok, None, first)
                ids = [n["id"] for n in nodes]
                assert len(ids) == len(set(ids)) == len(expected)
                assert ids == expected_order(expected)


async def test_pagination_sees_a_customer_added_between_pages(gql, agent, admin):
    body = await gql(SEARCH, {"first": 10}, token=admin)
    page = body["data"]["customers"]
    seen = [e["node"]["id"] for e in page["edges"]]
    # "Zúñiga" sorts after everyone in the seed, so it lands on a later page exactly once.
    created = await create(gql, agent, new_input(familyNames="Zúñiga"))
    assert created["__typename"] == "CreateCustomerSuccess"
    rest = await gql(SEARCH, {"first": 100, "after": page["pageInfo"]["endCursor"]}, token=admin)
    later = [e["node"]["id"] for e in rest["data"]["customers"]["edges"]]
    assert not set(seen) & set(later)
    assert later[-1] == created["customer"]["id"]
    assert rest["data"]["customers"]["totalCount"] == 61


async def test_search_by_name_ignores_accents_and_case(gql, admin, subtests):
    rows = await all_customers()
    expected = [c for c in rows if "gonzalez" in fold(f"{c.given_names} {c.family_names}")]
    assert expected, "the seed should contain a González"
    assert any("González" in c.family_names for c in expected)
    for text in ("gonzalez", "GONZÁLEZ", "  González ", "gonzález"):
        with subtests.test(search=text):
            nodes = await search_all(gql, admin, text, 3)
            assert [n["id"] for n in nodes] == expected_order(expected)

    sample = rows[0]
    words = [sample.given_names.split()[0], sample.family_names.split()[0]]
    with subtests.test("several words, any order", words=words):
        wanted = [
            c
            for c in rows
            if all(fold(w) in fold(f"{c.given_names} {c.family_names}") for w in words)
        ]
        nodes = await search_all(gql, admin, " ".join(w.upper() for w in reversed(words)), 5)
        assert gid("Customer", sample.id) in [n["id"] for n in nodes]
        assert [n["id"] for n in nodes] == expected_order(wanted)

    for text in ("zzyzx", "%", "_", "gonz%lez", "\\"):
        with subtests.test("no match; wildcards are literal", search=text):
            body = await gql(SEARCH, {"search": text, "first": 5}, token=admin)
            page = body["data"]["customers"]
            assert page["totalCount"] == 0
            assert page["edges"] == []
            assert page["pageInfo"]["hasNextPage"] is False
            assert page["pageInfo"]["endCursor"] is None


async def test_search_by_national_id_prefix(gql, admin, subtests):
    rows = await all_customers()
    target = await seed_customer("CL")
    prefix = target.national_id[:6]
    expected = [c for c in rows if c.national_id.startswith(prefix)]
    assert len(expected) > 1
    for text in (prefix, f"{prefix[:2]}.{prefix[2:5]}.{prefix[5:]}"):
        with subtests.test(search=text):
            nodes = await search_all(gql, admin, text, 4)
            assert [n["id"] for n in nodes] == expected_order(expected)

    for text in (target.national_id, dotted_rut(target.national_id)):
        with subtests.test("the whole number", search=text):
            full = await search_all(gql, admin, text, 10)
            assert [n["id"] for n in full] == [gid("Customer", target.id)]


async def test_bad_page_arguments_are_refused(gql, agent, admin, subtests):
    for first in (101, 1000, -1):
        with subtests.test(first=first):
            body = await gql(SEARCH, {"first": first}, token=agent)
            assert error_code(body) == "VALIDATION"
            assert body["errors"][0]["extensions"]["field"] == "first"
            assert body["data"] is None

    with subtests.test("first: 0 and first: 100 are allowed"):
        body = await gql(SEARCH, {"first": 0}, token=admin)
        assert body["data"]["customers"]["edges"] == []
        assert body["data"]["customers"]["totalCount"] == 60
        body = await gql(SEARCH, {"first": 100}, token=admin)
        assert len(body["data"]["customers"]["edges"]) == 60

    cursors = {
        "garbage": "garbage",
        "not base64": "!!!!",
        "empty list": "W10",
        "another list's cursor": encode_cursor("audit.v1", 3),
        "not a uuid": encode_cursor("customers.v1", "perez ana", "not-a-uuid"),
        "sort key not text": encode_cursor("customers.v1", 5, str(uuid.uuid4())),
        "too few values": encode_cursor("customers.v1", "perez ana"),
        "huge": "x" * 2000,
    }
    for what, cursor in cursors.items():
        with subtests.test(cursor=what):
            body = await gql(SEARCH, {"first": 5, "after": cursor}, token=agent)
            assert error_code(body) == "VALIDATION", body
            assert body["errors"][0]["extensions"]["field"] == "after"
            assert body["data"] is None


async def test_audit_cursor_is_foreign_to_customers(gql, agent, admin):
    target = await seed_customer("CL")
    key = gid("Customer", target.id)
    await update(gql, agent, {"id": key, "version": 1, "givenNames": "Alba"})
    await update(gql, agent, {"id": key, "version": 2, "givenNames": "Berta"})
    trail = await gql(
        "query($e: ID!) { auditTrail(entityId: $e, first: 1) { pageInfo { endCursor } } }",
        {"e": key},
        token=admin,
    )
    cursor = trail["data"]["auditTrail"]["pageInfo"]["endCursor"]
    assert cursor
    body = await gql(SEARCH, {"first": 5, "after": cursor}, token=agent)
    assert error_code(body) == "VALIDATION"


# --- masking ----------------------------------------------------------------------------
# Who sees what is issue 9's rule (tests/api/test_customer_privacy.py covers it role by
# role and path by path); here, the masked format itself.
async def test_masking_format(gql, token, subtests):
    target = await seed_customer("CL")
    assert target.email and target.phone and target.address_line1
    assert target.home_partner_id == await partner_id("BANCO_ANDINO")
    async with transaction() as session:
        await session.execute(
            sa.update(table_of(CustomerRow))
            .where(table_of(CustomerRow).c.id == target.id)
            .values(consent_data_sharing=False)
        )
    key = gid("Customer", target.id)
    clear_body = await gql(GET, {"id": key}, token=token("agent", partner="BANCO_ANDINO"))
    clear = clear_body["data"]["customer"]
    assert clear["piiMasked"] is False
    assert clear["email"] == target.email
    assert clear["phone"] == target.phone
    assert clear["address"]["line1"] == target.address_line1
    assert clear["nationalId"]["number"] == dotted_rut(target.national_id)

    no_pii_admin = token("admin", scopes=["customers:read", "partners:read"])
    for who, tok in (
        ("network_viewer", token("network_viewer")),
        ("another partner's agent", token("agent", partner="RETAIL_SUR")),
        ("admin without pii:read", no_pii_admin),
    ):
        with subtests.test(who):
            body = await gql(GET, {"id": key}, token=tok)
            masked = body["data"]["customer"]
            assert masked["piiMasked"] is True
            number = masked["nationalId"]["number"]
            shown = [ch for ch in number if ch.isalnum()]
            assert len(shown) == 3  # only the last three characters
            assert number[-4:] == clear["nationalId"]["number"][-4:]
            assert masked["email"] != target.email
            assert "•" in masked["email"]
            assert target.email.split("@")[0][1:] not in masked["email"]
            assert masked["phone"] != target.phone
            assert masked["phone"].endswith(target.phone[-2:])
            assert sum(ch.isdigit() for ch in masked["phone"]) == 2
            assert masked["address"]["line1"] == "•••"
            assert masked["address"]["city"] == "•••"
            assert masked["address"]["country"] == clear["address"]["country"]
            # names too: the initial of the first name, as a case shows its customer
            assert masked["givenNames"] == f"{target.given_names[0]}•••"
            assert masked["familyNames"] == f"{target.family_names[0]}•••"
            assert masked["id"] == clear["id"]


async def test_masking_applies_to_lists_and_mutation_results(gql, token, subtests):
    with subtests.test("a list holds only what its reader sees in clear"):
        body = await gql(SEARCH, {"first": 50}, token=token("agent", partner="RETAIL_SUR"))
        edges = body["data"]["customers"]["edges"]
        assert edges
        for edge in edges:
            assert sum(ch.isalnum() for ch in edge["node"]["nationalId"]["number"]) > 3
        viewer = await gql(SEARCH, {"first": 50}, token=token("network_viewer"))
        assert viewer["data"]["customers"]["edges"] == []  # no customers of its own

    with subtests.test("a mutation's answer follows the rule too"):
        # An administrator without pii:read registers a customer for a partner: not its own
        # customer, so the answer comes back masked.
        writer = token("admin", scopes=["customers:read", "customers:write"])
        home = gid("Partner", await partner_id("BANCO_ANDINO"))
        result = await create(gql, writer, new_input(homePartnerId=home))
        assert result["__typename"] == "CreateCustomerSuccess"
        assert result["customer"]["piiMasked"] is True
        assert result["customer"]["nationalId"]["number"] != NEW_RUT
        assert result["customer"]["email"] != "Ana.Perez@example.com"
        assert result["customer"]["givenNames"] == "A•••"


async def test_search_by_email(gql, admin, agent, subtests):
    rows = await all_customers()
    sample = next(c for c in rows if c.email)
    local = sample.email.split("@")[0]
    with subtests.test("part of an address"):
        nodes = await search_all(gql, admin, f"{local[2:].upper()}@", 5)
        wanted = [c for c in rows if c.email and f"{local[2:].lower()}@" in c.email.lower()]
        assert [n["id"] for n in nodes] == expected_order(wanted)
        assert gid("Customer", sample.id) in [n["id"] for n in nodes]
    with subtests.test("a whole address"):
        nodes = await search_all(gql, admin, sample.email, 5)
        assert [n["id"] for n in nodes] == [gid("Customer", sample.id)]
    with subtests.test("an agent searches its own partner's customers only"):
        home = await partner_id("BANCO_ANDINO")
        nodes = await search_all(gql, agent, "@example.com", 100)
        mine = [c for c in rows if c.home_partner_id == home and c.email]
        assert [n["id"] for n in nodes] == expected_order(mine)


# --- authorization ----------------------------------------------------------------------
async def test_who_may_read_customers(gql, token, subtests):
    target = await seed_customer("CL")
    reads = {
        "customers": (SEARCH, {"first": 1}),
        "customer": (GET, {"id": gid("Customer", target.id)}),
        "customer, malformed id": (GET, {"id": "x"}),
        "customerByNationalId": (BY_NATIONAL_ID, {"type": "CL_RUT", "number": NEW_RUT}),
        "customerByNationalId, invalid": (BY_NATIONAL_ID, {"type": "CL_RUT", "number": "1-2"}),
    }
    investor = token("investor")
    for name, (query, variables) in reads.items():
        with subtests.test("investor", query=name):
            body = await gql(query, variables, token=investor)
            assert error_code(body) == "FORBIDDEN"
            assert all(value is None for value in (body.get("data") or {}).values())
        for accept, status in ((GRAPHQL_RESPONSE, 401), ("application/json", 200)):
            with subtests.test("anonymous", query=name, accept=accept):
                body = await gql(query, variables, accept=accept, expect_status=status)
                assert error_code(body) == "UNAUTHENTICATED"
                assert "data" not in body


async def test_anonymous_cannot_mutate(gql):
    before = await db_state()
    target = await seed_customer("CL")
    body = await gql(CREATE, {"input": new_input()})
    assert error_code(body) == "UNAUTHENTICATED"
    body = await gql(
        UPDATE, {"input": {"id": gid("Customer", target.id), "version": 1, "givenNames": "X"}}
    )
    assert error_code(body) == "UNAUTHENTICATED"
    assert await db_state() == before


# --- N+1 --------------------------------------------------------------------------------
LIST_WITH_PARTNER = """
query List($first: Int!) {
  customers(first: $first) {
    totalCount
    edges { node { id givenNames homePartner { code name } } }
  }
}
"""


async def test_list_with_partner_runs_constant_statements(gql, admin, sql_counter):
    # An administrator lists everyone (a partner's agent: tests/api/test_customer_privacy.py).
    await gql(LIST_WITH_PARTNER, {"first": 1}, token=admin)  # warm the partner directory
    counts = {}
    for first in (5, 50):
        sql_counter.reset()
        body = await gql(LIST_WITH_PARTNER, {"first": first}, token=admin)
        assert "errors" not in body
        edges = body["data"]["customers"]["edges"]
        assert len(edges) == first
        counts[first] = sql_counter.count
        selects = [s for s in sql_counter.statements if s.lstrip().upper().startswith("SELECT")]
        # The page, its total, and the partners it refers to: three SELECTs at any size
        # (SQLite adds its BEGIN to the count).
        assert len(selects) == 3, sql_counter.statements
    assert len({e["node"]["homePartner"]["code"] for e in edges}) == 5
    assert counts[5] == counts[50], counts
    assert counts[50] <= 4, sql_counter.statements

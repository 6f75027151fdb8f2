"""Consent and masking of customers' personal data (issue 9), through GraphQL as each role.

The rule (``domain/customers/scopes.py``): a customer's national ID, e-mail, phone, address
and name are in clear only for the customer's home partner, a partner involved with the
customer (a case it opened, handles or handled; a credit it holds), any partner when the
customer consented to data sharing, principals with network-wide ``pii:read`` (admins),
and the customer themselves. Everyone else sees them masked — on every path: ``customer``,
``customerByNationalId``, ``node``/``nodes``, ``_entities``, ``case.customer``,
``credit.customer``, the customers list, mutation results. Listing and searching by partial
text only ever return customers related to the caller's partner (home or involved).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from strawberry import relay

from app.db import read_session, transaction
from domain.credits.models import Credit
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared import national_ids
from domain.shared.models import table_of
from tests.api.credit_support import customer_token

FIELDS = """
    id
    nationalId { type number }
    givenNames
    familyNames
    email
    phone
    address { line1 city country }
    piiMasked
"""
GET = f"query($id: ID!) {{ customer(id: $id) {{ {FIELDS} }} }}"
NODE = f"query($id: ID!) {{ node(id: $id) {{ ... on Customer {{ {FIELDS} }} }} }}"
NODES = f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on Customer {{ {FIELDS} }} }} }}"
ENTITIES = f"""
query($representations: [_Any!]!) {{
  _entities(representations: $representations) {{ ... on Customer {{ {FIELDS} }} }}
}}
"""
BY_NATIONAL_ID = f"""
query($type: NationalIdType!, $number: String!) {{
  customerByNationalId(type: $type, number: $number) {{ {FIELDS} }}
}}
"""
LIST = f"""
query($search: String, $first: Int, $after: String) {{
  customers(search: $search, first: $first, after: $after) {{
    totalCount
    edges {{ node {{ {FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""
OPEN_CASE = """
mutation($input: OpenCaseInput!) {
  openCase(input: $input) {
    __typename
    ... on OpenCaseSuccess {
      case { id piiMasked description customer { id name nationalId { number } piiMasked } }
    }
    ... on UserError { message code }
  }
}
"""
CASE = """
query($id: ID!) {
  case(id: $id) { id piiMasked description customer { name nationalId { number } piiMasked } }
}
"""
CASES = """
query($view: CaseView, $filter: CaseFilter) {
  cases(view: $view, filter: $filter, first: 100) {
    totalCount
    edges { node { id piiMasked description cardLast4
                   customer { id name nationalId { number } piiMasked } } }
  }
}
"""
CREDIT = f"query($id: ID!) {{ credit(id: $id) {{ id customer {{ {FIELDS} }} }} }}"
UPDATE_CONSENT = """
mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) {
    __typename
    ... on UpdateCustomerSuccess { customer { id piiMasked consents { dataSharing } } }
    ... on UserError { message code }
  }
}
"""


def gid(type_name: str, key: uuid.UUID | str) -> str:
    return str(relay.GlobalID(type_name, str(key)))


def data(body: dict[str, Any], field: str) -> Any:
    assert "errors" not in body, body
    return body["data"][field]


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return str(body["errors"][0]["extensions"]["code"])


async def partners() -> dict[str, uuid.UUID]:
    async with read_session() as session:
        rows = (await session.execute(sa.select(table_of(Partner)))).all()
    return {r.code: r.id for r in rows}


async def customers_of(partner: uuid.UUID) -> list[Customer]:
    """The partner's home customers without any credit (so no other partner is involved)."""
    table = table_of(Customer)
    with_credits = sa.select(table_of(Credit).c.customer_id)
    async with read_session() as session:
        rows = await session.execute(
            sa.select(Customer)
            .where(table.c.home_partner_id == partner, table.c.id.not_in(with_credits))
            .order_by(table.c.id)
        )
        return list(rows.scalars().all())


async def set_consent(customer_id: uuid.UUID, value: bool) -> None:
    async with transaction() as session:
        await session.execute(
            sa.update(table_of(Customer))
            .where(table_of(Customer).c.id == customer_id)
            .values(consent_data_sharing=value)
        )


async def fresh(customer_id: uuid.UUID) -> Customer:
    async with read_session() as session:
        row = await session.get(Customer, customer_id)
    assert row is not None
    return row


def rut_with_check(body: int) -> str:
    from stdnum.cl import rut

    return f"{body}{rut.calc_check_digit(str(body))}"


def masked_name(row: Customer) -> tuple[str, str]:
    return f"{row.given_names[0]}•••", f"{row.family_names[0]}•••"


def assert_clear(node: dict[str, Any], row: Customer, where: str = "") -> None:
    assert node is not None, where
    id_type = national_ids.NationalIdType(row.national_id_type)
    assert node["piiMasked"] is False, where
    assert node["nationalId"]["number"] == national_ids.display(id_type, row.national_id), where
    assert node["email"] == row.email, where
    assert node["phone"] == row.phone, where
    assert node["address"]["line1"] == row.address_line1, where
    assert (node["givenNames"], node["familyNames"]) == (row.given_names, row.family_names), where


def assert_masked(node: dict[str, Any], row: Customer, where: str = "") -> None:
    assert node is not None, where
    id_type = national_ids.NationalIdType(row.national_id_type)
    assert node["piiMasked"] is True, where
    assert node["nationalId"]["number"] == national_ids.mask(id_type, row.national_id), where
    assert row.national_id not in str(node), where
    assert node["email"] != row.email and "•" in node["email"], where
    assert node["phone"] != row.phone and sum(c.isdigit() for c in node["phone"]) == 2, where
    assert node["address"]["line1"] == "•••", where
    assert (node["givenNames"], node["familyNames"]) == masked_name(row), where
    assert row.given_names.split()[0] not in str(node), where


async def every_path(gql: Any, token: str, row: Customer) -> dict[str, dict[str, Any]]:
    """The customer as each read path shows it to ``token``."""
    key = gid("Customer", row.id)
    out = {
        "customer": data(await gql(GET, {"id": key}, token=token), "customer"),
        "node": data(await gql(NODE, {"id": key}, token=token), "node"),
        "nodes": data(await gql(NODES, {"ids": [key]}, token=token), "nodes")[0],
        "_entities": data(
            await gql(
                ENTITIES,
                {"representations": [{"__typename": "Customer", "id": key}]},
                token=token,
            ),
            "_entities",
        )[0],
    }
    return out


async def check_paths(gql: Any, token: str, row: Customer, *, clear: bool, who: str) -> None:
    for path, node in (await every_path(gql, token, row)).items():
        (assert_clear if clear else assert_masked)(node, row, f"{who} via {path}")


async def listed(gql: Any, token: str, search: str | None = None) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = data(
            await gql(LIST, {"search": search, "first": 100, "after": after}, token=token),
            "customers",
        )
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(nodes)
            return nodes
        after = page["pageInfo"]["endCursor"]


async def related_ids(partner: uuid.UUID) -> set[str]:
    """Customers the partner is related to, computed here from the tables themselves: its
    own, those it lends to or has a case with, the members of its loyalty programs, those
    who applied to it for a credit."""
    from domain.cases.models import Case, CasePartnerStatus
    from domain.loyalty.models import LoyaltyAccount, LoyaltyProgram
    from domain.origination.models import CreditApplication

    customers, credits = table_of(Customer), table_of(Credit)
    accounts, programs = table_of(LoyaltyAccount), table_of(LoyaltyProgram)
    cases, statuses = table_of(Case), table_of(CasePartnerStatus)
    async with read_session() as session:
        home = {r for (r,) in await session.execute(
            sa.select(customers.c.id).where(customers.c.home_partner_id == partner))}  # fmt: skip
        lent = {r for (r,) in await session.execute(
            sa.select(credits.c.customer_id).where(credits.c.partner_id == partner))}  # fmt: skip
        members = {r for (r,) in await session.execute(
            sa.select(accounts.c.customer_id)
            .join(programs, programs.c.id == accounts.c.program_id)
            .where(programs.c.partner_id == partner))}  # fmt: skip
        applied = {r for (r,) in await session.execute(
            sa.select(table_of(CreditApplication).c.customer_id)
            .where(table_of(CreditApplication).c.lender_id == partner))}  # fmt: skip
        rows = (await session.execute(sa.select(cases))).all()
        status_rows = (await session.execute(sa.select(statuses))).all()
    involved = {s.case_id for s in status_rows if s.partner_id == partner}
    in_cases = {
        c.customer_id
        for c in rows
        if partner in (c.originating_partner_id, c.handling_partner_id, c.pending_derivation_to)
        or c.id in involved
    }
    return {gid("Customer", k) for k in home | lent | members | applied | in_cases}


# --- the rule, role by role, on every path ---------------------------------------------------
async def test_home_partner_sees_its_customers_in_clear_everywhere(gql, token):
    ids = await partners()
    private = (await customers_of(ids["BANCO_ANDINO"]))[0]
    await set_consent(private.id, False)
    row = await fresh(private.id)
    for role in ("agent", "supervisor", "partner_system"):
        tok = token(role, partner="BANCO_ANDINO")
        await check_paths(gql, tok, row, clear=True, who=role)
        number = national_ids.display(
            national_ids.NationalIdType(row.national_id_type), row.national_id
        )
        found = data(
            await gql(BY_NATIONAL_ID, {"type": row.national_id_type, "number": number}, token=tok),
            "customerByNationalId",
        )
        assert_clear(found, row, f"{role} by national id")


async def test_another_partner_sees_a_customer_masked_unless_consent(gql, token):
    ids = await partners()
    private, sharing = (await customers_of(ids["BANCO_ANDINO"]))[:2]
    await set_consent(private.id, False)
    await set_consent(sharing.id, True)
    private, sharing = await fresh(private.id), await fresh(sharing.id)
    for role in ("agent", "supervisor", "partner_system"):
        tok = token(role, partner="RETAIL_SUR")
        await check_paths(gql, tok, private, clear=False, who=f"{role} without consent")
        await check_paths(gql, tok, sharing, clear=True, who=f"{role} with consent")
        # The walk-in lookup by the exact national ID finds both, masked unless consent.
        for row, clear in ((private, False), (sharing, True)):
            found = data(
                await gql(
                    BY_NATIONAL_ID,
                    {"type": row.national_id_type, "number": row.national_id},
                    token=tok,
                ),
                "customerByNationalId",
            )
            (assert_clear if clear else assert_masked)(found, row, f"{role} by national id")

    # Consent is the customer's to give: once withdrawn, the other partner is masked again.
    home = token("agent", partner="BANCO_ANDINO")
    result = data(
        await gql(
            UPDATE_CONSENT,
            {"input": {"id": gid("Customer", sharing.id), "version": sharing.version,
                       "consentDataSharing": False}},
            token=home,
        ),
        "updateCustomer",
    )  # fmt: skip
    assert result["__typename"] == "UpdateCustomerSuccess", result
    assert result["customer"]["piiMasked"] is False  # the home partner, of course
    other = token("agent", partner="RETAIL_SUR")
    await check_paths(gql, other, await fresh(sharing.id), clear=False, who="after withdrawal")


async def test_network_viewer_sees_masked_and_admin_in_clear(gql, token):
    ids = await partners()
    private, sharing = (await customers_of(ids["BANCO_PAMPA"]))[:2]
    await set_consent(private.id, False)
    await set_consent(sharing.id, True)
    viewer, admin = token("network_viewer"), token("admin")
    for row in (await fresh(private.id), await fresh(sharing.id)):
        # consent opens a customer to partners, not to network-wide roles without pii:read
        await check_paths(gql, viewer, row, clear=False, who="network viewer")
        await check_paths(gql, admin, row, clear=True, who="admin")
    # A network viewer has no walk-in customers: the exact lookup is not for it.
    body = await gql(
        BY_NATIONAL_ID, {"type": private.national_id_type, "number": private.national_id},
        token=viewer,
    )  # fmt: skip
    assert error_code(body) == "FORBIDDEN"
    assert body["data"] == {"customerByNationalId": None}


async def test_a_case_involves_the_partner_that_opens_it(gql, token):
    """A walk-in: found by exact national ID (masked), a case opened for them, and from
    then on the partner that opened it sees them in clear on every path, and lists them."""
    ids = await partners()
    walk_in = (await customers_of(ids["BANCO_ANDINO"]))[2]
    await set_consent(walk_in.id, False)
    row = await fresh(walk_in.id)
    retail = token("agent", partner="RETAIL_SUR")
    key = gid("Customer", row.id)
    assert key not in {n["id"] for n in await listed(gql, retail)}
    found = data(
        await gql(
            BY_NATIONAL_ID, {"type": row.national_id_type, "number": row.national_id},
            token=retail,
        ),
        "customerByNationalId",
    )  # fmt: skip
    assert_masked(found, row, "walk-in before the case")

    opened = data(
        await gql(
            OPEN_CASE,
            {"input": {"customerId": found["id"], "typologyCode": "RECLAMO", "channel": "BRANCH",
                       "description": "Cliente reclama un cargo."}},
            token=retail,
        ),
        "openCase",
    )  # fmt: skip
    assert opened["__typename"] == "OpenCaseSuccess", opened
    case = opened["case"]
    # The mutation's own answer already shows what the partner may now see.
    assert case["piiMasked"] is False and case["customer"]["piiMasked"] is False
    assert case["customer"]["name"] == f"{row.given_names} {row.family_names}"

    await check_paths(gql, retail, row, clear=True, who="the partner that opened a case")
    assert key in {n["id"] for n in await listed(gql, retail)}
    # Another partner, still uninvolved, still sees the customer masked, everywhere.
    pampa = token("supervisor", partner="BANCO_PAMPA")
    await check_paths(gql, pampa, row, clear=False, who="an uninvolved partner")

    # case.customer follows the customer's rule: the same masking as customer(id:).
    for tok, clear in ((retail, True), (pampa, False), (token("network_viewer"), False)):
        view = "ECOSYSTEM" if tok is retail else "NETWORK"
        page = data(
            await gql(CASES, {"view": view, "filter": {"customerId": key}}, token=tok), "cases"
        )
        (node,) = [e["node"] for e in page["edges"]]
        direct = data(await gql(GET, {"id": key}, token=tok), "customer")
        assert node["customer"]["piiMasked"] is (not clear) is direct["piiMasked"]
        assert node["piiMasked"] is (not clear)
        assert node["customer"]["nationalId"]["number"] == direct["nationalId"]["number"]
        assert node["customer"]["name"] == f"{direct['givenNames']} {direct['familyNames']}"
        by_id = data(await gql(CASE, {"id": node["id"]}, token=tok), "case")
        assert by_id["customer"] == {
            k: node["customer"][k] for k in ("name", "nationalId", "piiMasked")
        }
        assert (by_id["description"] == "•••") is (not clear)


async def test_the_lender_of_a_credit_is_involved(gql, token):
    ids = await partners()
    credits, customers = table_of(Credit), table_of(Customer)
    async with read_session() as session:
        credit_id, customer_id = (
            await session.execute(
                sa.select(credits.c.id, credits.c.customer_id)
                .where(credits.c.partner_id == ids["AUTOCREDITO"])
                .order_by(credits.c.id)
                .limit(1)
            )
        ).one()
    # The borrower's home is another partner, and they gave no consent.
    async with transaction() as session:
        await session.execute(
            sa.update(customers)
            .where(customers.c.id == customer_id)
            .values(home_partner_id=ids["RETAIL_SUR"], consent_data_sharing=False)
        )
    row = await fresh(customer_id)
    lender = token("agent", partner="AUTOCREDITO")
    await check_paths(gql, lender, row, clear=True, who="the lender")
    shown = data(await gql(CREDIT, {"id": gid("Credit", credit_id)}, token=lender), "credit")
    assert_clear(shown["customer"], row, "credit.customer")
    assert gid("Customer", row.id) in {n["id"] for n in await listed(gql, lender)}
    third = token("agent", partner="BANCO_ANDINO")
    await check_paths(gql, third, row, clear=False, who="a partner with no credit of theirs")


async def test_lists_hold_only_related_customers(gql, token):
    ids = await partners()
    for code in ("BANCO_ANDINO", "AUTOCREDITO", "BANCO_PAMPA"):
        tok = token("agent", partner=code)
        nodes = await listed(gql, tok)
        assert {n["id"] for n in nodes} == await related_ids(ids[code]), code
        # everything a list shows, it may show in clear
        assert all(n["piiMasked"] is False for n in nodes), code
    # A network viewer has no customers of its own; an administrator lists everyone.
    assert await listed(gql, token("network_viewer")) == []
    async with read_session() as session:
        everyone = await session.execute(sa.select(sa.func.count()).select_from(Customer))
        total = everyone.scalar_one()
    assert len(await listed(gql, token("admin"))) == total


async def test_create_answers_in_clear_for_the_home_partner(gql, token):
    """A writer without pii:read registers a customer of its own partner: it is the home
    partner, so the answer is in clear (it was masked before the rule)."""
    tok = token("agent", partner="BANCO_ANDINO", scopes=["customers:read", "customers:write"])
    body = await gql(
        """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
             __typename ... on CreateCustomerSuccess { customer { piiMasked email
             nationalId { number } } } } }""",
        {"input": {"nationalId": {"type": "CL_RUT", "number": "12.345.678-5"},
                   "givenNames": "Ana", "familyNames": "Pérez", "email": "ana@example.com"}},
        token=tok,
    )  # fmt: skip
    created = data(body, "createCustomer")
    assert created["customer"] == {
        "piiMasked": False,
        "email": "ana@example.com",
        "nationalId": {"number": "12.345.678-5"},
    }


# --- probing ---------------------------------------------------------------------------------
async def test_prefix_probing_learns_nothing(gql, token):
    """The audit's attack: a masked principal recovers a national ID one digit at a time by
    watching which prefixes still match it. Now no probe ever names the target, and the
    answers do not depend on its number at all, so the walk never gets past its start."""
    ids = await partners()
    target = (await customers_of(ids["BANCO_ANDINO"]))[0]
    await set_consent(target.id, False)  # the other partners see the target masked
    retail_agent = token("agent", partner="RETAIL_SUR")
    pampa_supervisor = token("supervisor", partner="BANCO_PAMPA")
    viewer = token("network_viewer")
    # The target has a case handled by its home partner, so case searches could leak too.
    home = token("agent", partner="BANCO_ANDINO")
    opened = await gql(
        OPEN_CASE,
        {"input": {"customerId": gid("Customer", target.id), "typologyCode": "RECLAMO",
                   "channel": "BRANCH", "description": "Reclamo de prueba."}},
        token=home,
    )  # fmt: skip
    assert data(opened, "openCase")["__typename"] == "OpenCaseSuccess"
    secret = target.national_id

    async def probes(tok: str, prefix: str) -> list[Any]:
        out: list[Any] = [data(await gql(LIST, {"search": prefix, "first": 100}, token=tok),
                               "customers")]  # fmt: skip
        for view in ("OWN", "ECOSYSTEM", "NETWORK"):
            body = await gql(CASES, {"view": view, "filter": {"text": prefix}}, token=tok)
            if body.get("errors"):
                out.append(error_code(body))
            else:
                out.append(body["data"]["cases"])
        return out

    principals = {
        "other partner's agent": retail_agent,
        "other partner's supervisor": pampa_supervisor,
        "network viewer": viewer,
    }
    # The audit's walk: the attacker knows the target's id (from a case it sees masked),
    # is granted the first four digits, and extends the prefix one character at a time,
    # keeping the one whose answer names the target.
    target_gid = gid("Customer", target.id)
    for who, tok in principals.items():
        recovered = secret[:4]
        queries = 0
        while len(recovered) < len(secret):
            for d in "0123456789K":
                queries += 1
                if target_gid in str(await probes(tok, recovered + d)):
                    recovered += d
                    break
            else:
                break
        assert recovered == secret[:4], f"{who} recovered {recovered!r} in {queries} queries"

    # Every principal without the data in clear: the answers do not depend on the target's
    # number at all — the same probes give the same answers once the number is changed.
    texts = [secret[:k] for k in range(5, len(secret) + 1)]
    texts += [secret[:5] + d for d in "0123456789K"]

    async def everything() -> dict[str, list[Any]]:
        out = {}
        for who, tok in principals.items():
            for text in texts:
                answer = await probes(tok, text)
                assert target.id.hex not in str(answer), (who, text)
                assert gid("Customer", target.id) not in str(answer), (who, text)
                out[f"{who}: {text}"] = answer
        return out

    before = await everything()
    other_number = rut_with_check(30_123_457)
    async with transaction() as session:
        await session.execute(
            sa.update(table_of(Customer))
            .where(table_of(Customer).c.id == target.id)
            .values(national_id=other_number)
        )
    assert await everything() == before

    # nor can a name be probed, through the list or the case search
    name = target.family_names.split()[0]
    for who, tok in principals.items():
        for answer in await probes(tok, name):
            assert gid("Customer", target.id) not in str(answer), who


# --- statements --------------------------------------------------------------------------------
async def test_customers_list_runs_constant_statements(gql, token, sql_counter):
    query = """
    query($first: Int!) { customers(first: $first) { totalCount edges { node {
        id nationalId { number } email phone address { line1 } piiMasked givenNames
        homePartner { code } } } } }
    """
    for role, partner in (("agent", "AUTOCREDITO"), ("admin", None)):
        tok = token(role, partner=partner)
        await gql(query, {"first": 1}, token=tok)  # warm the partner directory
        counts = {}
        for first in (3, 12):
            sql_counter.reset()
            page = data(await gql(query, {"first": first}, token=tok), "customers")
            assert len(page["edges"]) == first, (role, first)
            counts[first] = [
                s for s in sql_counter.statements if s.lstrip().upper().startswith("SELECT")
            ]
        # the page (with its pii_visible column), its total, the partners: at any size
        assert len(counts[3]) == len(counts[12]) == 3, counts


# --- the people themselves ---------------------------------------------------------------
MY_CASES = """
query($first: Int, $after: String) {
  myCases(first: $first, after: $after) {
    totalCount
    edges { node {
      id reference description piiMasked viewerCanAct
      customer { id name nationalId { number } piiMasked }
      comments(first: 50) { edges { node { body visibility } } }
      timeline(first: 50) { edges { node { visibility } } }
      partnerStatuses { partner { code } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
ATTACHMENTS = """
query($caseId: ID!) { caseAttachments(caseId: $caseId) { fileName visibility downloadUrl } }
"""
COMMENT = """
mutation($input: AddCaseCommentInput!) {
  addCaseComment(input: $input) { __typename ... on AddCaseCommentSuccess { case { version } } }
}
"""


async def test_a_customer_reads_their_own_cases(gql, token, runtime, client):
    from tests.api.attachment_support import upload

    ids = await partners()
    me, other = (await customers_of(ids["BANCO_ANDINO"]))[:2]
    await set_consent(me.id, False)
    me = await fresh(me.id)
    agent = token("agent", partner="BANCO_ANDINO")

    async def open_for(row: Customer, text: str) -> dict[str, Any]:
        body = await gql(
            OPEN_CASE,
            {"input": {"customerId": gid("Customer", row.id), "typologyCode": "RECLAMO",
                       "channel": "APP", "description": text}},
            token=agent,
        )  # fmt: skip
        return dict(data(body, "openCase")["case"])

    mine = await open_for(me, "Cobro duplicado en mi tarjeta.")
    theirs = await open_for(other, "Otro cliente, otro reclamo.")
    version = 1
    for text, visibility in (("Nota interna: revisar scoring.", "INTERNAL"),
                             ("Estamos revisando su caso.", "CUSTOMER")):  # fmt: skip
        body = await gql(
            COMMENT,
            {"input": {"caseId": mine["id"], "version": version, "body": text,
                       "visibility": visibility}},
            token=agent,
        )  # fmt: skip
        version = data(body, "addCaseComment")["case"]["version"]
    for name, visibility in (("interno.txt", "INTERNAL"), ("respuesta.txt", "CUSTOMER")):
        response = await upload(
            client, token=agent, case_id=mine["id"], version=version,
            content=f"{name} para el cliente\n".encode(), file_name=name,
            content_type="text/plain", visibility=visibility,
        )  # fmt: skip
        body = response.json()
        assert "errors" not in body, body
        version = body["data"]["attachCaseFile"]["caseVersion"]

    customer = customer_token(runtime, me.id)
    page = data(await gql(MY_CASES, {"first": 10}, token=customer), "myCases")
    assert page["totalCount"] == 1
    (node,) = [e["node"] for e in page["edges"]]
    assert node["id"] == mine["id"]
    assert node["description"] == "Cobro duplicado en mi tarjeta."
    assert node["piiMasked"] is False and node["viewerCanAct"] is False
    # their own data, in clear
    assert node["customer"]["piiMasked"] is False
    assert node["customer"]["name"] == f"{me.given_names} {me.family_names}"
    id_type = national_ids.NationalIdType(me.national_id_type)
    assert node["customer"]["nationalId"]["number"] == national_ids.display(id_type, me.national_id)
    # only what the customer may see: no internal notes, entries or partner platforms' state
    assert [e["node"] for e in node["comments"]["edges"]] == [
        {"body": "Estamos revisando su caso.", "visibility": "CUSTOMER"}
    ]
    assert {e["node"]["visibility"] for e in node["timeline"]["edges"]} <= {"CUSTOMER"}
    assert node["partnerStatuses"] == []
    files = data(await gql(ATTACHMENTS, {"caseId": mine["id"]}, token=customer), "caseAttachments")
    assert [(f["fileName"], f["visibility"]) for f in files] == [("respuesta.txt", "CUSTOMER")]
    download = await client.get(
        files[0]["downloadUrl"], headers={"authorization": f"Bearer {customer}"}
    )
    assert download.status_code == 200 and download.content.startswith(b"respuesta.txt")

    # Another customer's case does not exist for them, on any path.
    assert data(await gql(CASE, {"id": theirs["id"]}, token=customer), "case") is None
    node_body = await gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": theirs["id"]}, token=customer
    )
    assert data(node_body, "node") is None
    hidden = await gql(ATTACHMENTS, {"caseId": theirs["id"]}, token=customer)
    assert "respuesta" not in str(hidden) and not (hidden.get("data") or {}).get("caseAttachments")
    # The staff list is not theirs; myCases is not staff's.
    assert error_code(await gql(CASES, {"view": "OWN"}, token=customer)) == "FORBIDDEN"
    assert error_code(await gql(MY_CASES, {}, token=agent)) == "FORBIDDEN"


async def test_an_investor_sees_their_own_national_id(gql, runtime):
    from tests.api.investor_support import INVESTOR_FIELDS, demo_investors, investor_token

    demo = await demo_investors()
    mine = demo["fuentes"]
    tok = investor_token(runtime, mine.id)
    query = f"query($id: ID!) {{ investor(id: $id) {{ {INVESTOR_FIELDS} }} }}"
    own = data(await gql(query, {"id": gid("Investor", mine.id)}, token=tok), "investor")
    id_type = national_ids.NationalIdType(mine.national_id_type)
    assert own["piiMasked"] is False
    assert own["nationalId"]["number"] == national_ids.display(id_type, mine.national_id)
    assert own["email"] == mine.email
    assert own["bankAccount"]["number"] == mine.bank_account_number
    nodes = data(
        await gql(
            f"query($id: ID!) {{ node(id: $id) {{ ... on Investor {{ {INVESTOR_FIELDS} }} }} }}",
            {"id": gid("Investor", mine.id)},
            token=tok,
        ),
        "node",
    )
    assert nodes == own


# --- subscriptions ---------------------------------------------------------------------------
CHANGED = f"subscription($id: ID!) {{ customerChanged(id: $id) {{ version {FIELDS} }} }}"


def test_customer_changed_masks_like_every_other_path(settings, keys):
    """``customerChanged`` over a WebSocket (embedded event backbone): each follower gets
    the new state as the same rule shows it to them."""
    import asyncio
    import warnings

    from starlette.exceptions import StarletteDeprecationWarning

    from app.main import create_app
    from app.runtime import build_runtime

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient

    runtime = build_runtime(settings)
    app = create_app(runtime.settings, runtime=runtime, manage_database=True)

    def issue(role: str, partner: str | None) -> str:
        issued, _ = runtime.tokens.issue(subject=f"ws:{role}@{partner}", roles=[role],
                                         partner=partner)  # fmt: skip
        return str(issued)

    with TestClient(app, base_url="http://trama.test") as client:
        portal = client.portal
        assert portal is not None
        ids = portal.call(partners)
        target = portal.call(customers_of, ids["BANCO_ANDINO"])[0]
        portal.call(set_consent, target.id, False)
        home = issue("agent", "BANCO_ANDINO")
        followers = {
            "home agent": (issue("agent", "BANCO_ANDINO"), True),
            "other partner": (issue("agent", "RETAIL_SUR"), False),
            "network viewer": (issue("network_viewer", None), False),
            "admin": (issue("admin", None), True),
        }
        sockets = {}
        try:
            for who, (tok, _) in followers.items():
                ws = client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"])
                ws = ws.__enter__()
                sockets[who] = ws
                ws.send_json(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {tok}"}}
                )
                assert ws.receive_json()["type"] == "connection_ack"
                variables = {"id": gid("Customer", target.id)}
                payload = {"query": CHANGED, "variables": variables}
                ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
            portal.call(asyncio.sleep, 0.5)  # let every subscription reach the hub
            response = client.post(
                "/graphql",
                json={"query": UPDATE_CONSENT.replace("consents { dataSharing }",
                                                      "consents { dataSharing } email"),
                      "variables": {"input": {"id": gid("Customer", target.id),
                                              "version": target.version,
                                              "email": "nueva.direccion@example.com"}}},
                headers={"authorization": f"Bearer {home}"},
            )  # fmt: skip
            assert response.json()["data"]["updateCustomer"]["__typename"] == (
                "UpdateCustomerSuccess"
            ), response.text
            row = portal.call(fresh, target.id)
            for who, ws in sockets.items():
                while True:
                    message = ws.receive_json()
                    if message["type"] != "ping":
                        break
                    ws.send_json({"type": "pong"})
                assert message["type"] == "next", (who, message)
                state = message["payload"]["data"]["customerChanged"]
                assert state["version"] == row.version
                check = assert_clear if followers[who][1] else assert_masked
                check(state, row, f"customerChanged for {who}")
        finally:
            for ws in sockets.values():
                ws.__exit__(None, None, None)

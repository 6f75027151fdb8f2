"""Compiled reads (app/compiled) against the normal path.

- A property: selection sets generated over every declared type (fields in any order and
  number, aliases, repeated fields, inline fragments, ``__typename``, ``@include``/``@skip``
  with variables, page sizes, every case view, ordering and filter field, the credits',
  investors' and customers' filters, lookups by reference, portfolios as of a day, ``node``
  and ``nodes`` of every compiled type), sent for seven roles; shadow mode answers each with
  both paths and the bodies must be the same bytes (tests/compiled_shadow.py). Runs on
  SQLite and, with TRAMA_TEST_DATABASE_URL, on PostgreSQL.
- What the compiled path leaves to the normal one (mutations, undeclared fields, unknown
  directives, anonymous callers, errors) and that the answer is then the normal path's.
- The plan cache: one plan per document and principal shape, bounded.
- Pages after a cursor of every list (every case view and ordering), for every role.
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLSchema
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.compiled import catalog, engine
from app.compiled.roots import ROOTS
from app.db import read_session
from app.seed_cases import seed_cases
from domain.cases.models import Case
from domain.credits.models import Credit
from domain.investors.models import Investor
from domain.partners.models import Partner
from domain.shared.models import table_of
from domain.shared.principal import Role, allowed_scopes
from tests import compiled_shadow
from tests.api.credit_support import customer_token
from tests.api.investor_support import investor_token
from tests.conftest import GraphQLClient

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")


def gid(type_name: str, key: uuid.UUID) -> str:
    from resolvers.ids import encode_node_id

    return encode_node_id(type_name, key)


# --- the world: a case per view, credits, investors; a token per role ------------------------
class World:
    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.values: dict[str, str] = {}


@pytest.fixture
async def world(runtime: Any, db: Any) -> World:
    await seed_cases(30)
    out = World()
    async with read_session() as session:

        async def first(table: sa.Table, *conditions: Any) -> Any:
            stmt = sa.select(table.c.id).where(*conditions).order_by(table.c.id).limit(1)
            return (await session.execute(stmt)).scalar_one()

        cases = table_of(Case)
        credits = table_of(Credit)
        case_id = await first(cases)
        credit_id = await first(credits, credits.c.status == "ACTIVE")
        customer_id = (
            await session.execute(sa.select(credits.c.customer_id).where(credits.c.id == credit_id))
        ).scalar_one()
        investor_id = await first(table_of(Investor))
        partners = table_of(Partner)
        partner_id = await first(partners, partners.c.code == "BANCO_ANDINO")
        case_row = (
            await session.execute(
                sa.select(cases.c.reference, cases.c.typology_code).where(cases.c.id == case_id)
            )
        ).one()
        credit_reference = (
            await session.execute(sa.select(credits.c.reference).where(credits.c.id == credit_id))
        ).scalar_one()
    out.values = {
        "typology": case_row.typology_code,
        "caseRef": case_row.reference,
        "creditRef": credit_reference,
    }
    out.ids = {
        "partner": gid("Partner", partner_id),
        "case": gid("Case", case_id),
        "credit": gid("Credit", credit_id),
        "customer": gid("Customer", customer_id),
        "investor": gid("Investor", investor_id),
        "customerOfCase": gid("Customer", await _customer_of(case_id)),
    }

    def staff(role: str, partner: str | None = None) -> str:
        roles = frozenset({Role(role)})
        issued, _ = runtime.tokens.issue(
            subject=f"property:{role}@{partner}",
            roles=[role],
            scopes=sorted(s.value for s in allowed_scopes(roles)),
            partner=partner,
        )
        return str(issued)

    out.tokens = {
        "admin": staff("admin"),
        "agent": staff("agent", "BANCO_ANDINO"),
        "supervisor": staff("supervisor", "RETAIL_SUR"),
        "viewer": staff("network_viewer"),
        "system": staff("partner_system", "AUTOCREDITO"),
        "customer": customer_token(runtime, customer_id),
    }
    out.tokens["investor"] = investor_token(runtime, investor_id)
    return out


async def _customer_of(case_id: uuid.UUID) -> uuid.UUID:
    cases = table_of(Case)
    async with read_session() as session:
        stmt = sa.select(cases.c.customer_id).where(cases.c.id == case_id)
        return (await session.execute(stmt)).scalar_one()  # type: ignore[no-any-return]


# --- selection sets -------------------------------------------------------------------------
def _schema() -> GraphQLSchema:
    from schema import create_schema

    return create_schema()._schema


SCHEMA = _schema()
CATALOG = catalog.load()

#: Arguments nested fields are given (literals or variables), by field name.
NESTED_ARGUMENTS: dict[str, st.SearchStrategy[str]] = {
    "timeline": st.sampled_from(["", "(first: 2)", "(first: 0)", "(first: $page)"]),
    "comments": st.sampled_from(["", "(first: 1)"]),
    "payments": st.sampled_from(
        ["", "(first: 2)", "(first: $page, includeReversed: false)", "(first: 0)"]
    ),
    "position": st.sampled_from(["", '(asOf: "2026-11-30")']),
}
#: Types ``node``/``nodes`` fragments select from, and their fields of one name but
#: another type (those need aliases side by side).
NODE_TYPES = ("Customer", "Case", "Credit", "Investor", "Partner")


def _node_conflicts() -> frozenset[str]:
    seen: dict[str, set[str]] = {}
    for type_name in NODE_TYPES:
        gql_type = SCHEMA.get_type(type_name)
        assert isinstance(gql_type, GraphQLObjectType)
        for name, definition in gql_type.fields.items():
            seen.setdefault(name, set()).add(str(definition.type))
    return frozenset(name for name, types in seen.items() if len(types) > 1)


NODE_CONFLICTS = _node_conflicts()
DIRECTIVES = st.sampled_from(
    ["", "", "", " @include(if: $yes)", " @skip(if: $no)", " @skip(if: $yes)", " @include(if: $no)"]
)


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


@st.composite
def selection(draw: st.DrawFn, type_name: str, depth: int = 0, forced: bool = False) -> str:
    """Some of ``type_name``'s declared fields, each maybe aliased, repeated or under a
    directive, with their own selections; maybe ``__typename`` and a fragment."""
    gql_type = SCHEMA.get_type(type_name)
    spec = CATALOG.get(type_name)
    assert isinstance(gql_type, GraphQLObjectType) and spec is not None
    names = [n for n in spec.fields if n in gql_type.fields]
    leaves = [
        n for n in names if not isinstance(_named(gql_type.fields[n].type), GraphQLObjectType)
    ]
    objects = [n for n in names if n not in leaves] if depth < 2 else []
    chosen = draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=5, unique=True))
    if objects:
        chosen += draw(st.lists(st.sampled_from(objects), max_size=2, unique=True))
    parts: list[str] = []
    for name in draw(st.permutations(chosen)):
        target = _named(gql_type.fields[name].type)
        arguments = draw(NESTED_ARGUMENTS[name]) if name in NESTED_ARGUMENTS else ""
        # Aliases that always merge: one per (type, field, arguments), so that the same
        # field repeated with other arguments, or a field of the same name on another type
        # of a ``node`` fragment (``forced``), never conflicts with it.
        alias = f"{type_name.lower()}_{name}_{zlib.crc32(arguments.encode()) % 1000}: "
        if not arguments and not (forced and name in NODE_CONFLICTS):
            alias = draw(st.sampled_from(["", "", "", alias]))
        directive = draw(DIRECTIVES)
        if isinstance(target, GraphQLObjectType):
            if "edges" in target.fields:
                inner = draw(connection(target.name, depth + 1))
            else:
                inner = draw(selection(target.name, depth + 1))
            parts.append(f"{alias}{name}{arguments}{directive} {{ {inner} }}")
        else:
            parts.append(f"{alias}{name}{arguments}{directive}")
    if draw(st.booleans()):
        parts.append("__typename")
    if draw(st.integers(0, 4)) == 0:
        inner = draw(selection(type_name, depth + 1, forced))
        parts.append(f"... on {type_name} {{ {inner} }}")
    return " ".join(parts)


@st.composite
def connection(draw: st.DrawFn, type_name: str, depth: int) -> str:
    gql_type = SCHEMA.get_type(type_name)
    assert isinstance(gql_type, GraphQLObjectType)
    node = _named(gql_type.fields["edges"].type).fields["node"].type
    parts = [
        f"edges {{ {draw(st.sampled_from(['cursor', '', '__typename']))} node {{ "
        f"{draw(selection(_named(node).name, depth))} }} }}"
    ]
    if draw(st.booleans()):
        info = draw(
            st.lists(
                st.sampled_from(["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"]),
                min_size=1,
                unique=True,
            )
        )
        parts.append(f"pageInfo {{ {' '.join(info)} }}")
    if draw(st.booleans()):
        parts.append("totalCount")
    if type_name == "CaseConnection" and draw(st.booleans()):
        parts.append("facets { byStatus { status count } byTypology { code count } }")
    return " ".join(draw(st.permutations(parts)))


PAGE = st.sampled_from(["", "first: 3", "first: 0", "first: $page"])

#: Every filter field of the case search, each with a value or two.
CASE_FILTERS = {
    "statuses": ["[OPEN, IN_PROGRESS]", "[RESOLVED, CLOSED, REJECTED]"],
    "typologies": ["[$typology]"],
    "originatingPartnerIds": ["[$partner]"],
    "handlingPartnerIds": ["[$partner]"],
    "priorities": ["[HIGH, CRITICAL]", "[LOW]"],
    "slaStates": ["[AT_RISK, BREACHED]", "[ON_TRACK]"],
    "createdFrom": ['"2026-01-01T00:00:00Z"'],
    "createdTo": ['"2026-11-30T00:00:00Z"'],
    "updatedFrom": ['"2026-06-01T00:00:00Z"'],
    "updatedTo": ['"2026-12-31T00:00:00Z"'],
    "customerId": ["$customerOfCase"],
    "pendingDerivation": ["true", "false"],
    "text": ['"CS-"', '"a"'],
}
CASE_ORDERS = ["CREATED_AT_DESC", "CREATED_AT_ASC", "UPDATED_AT_DESC", "UPDATED_AT_ASC"]
CASE_ORDERS.append("SLA_DUE_AT_ASC")
CREDIT_FILTERS = {
    "status": ["[ACTIVE, DELINQUENT]", "[PAID_OFF]"],
    "agingBucket": ["[CURRENT]", "[DAYS_1_30, DAYS_31_60]"],
    "customerId": ["$customer"],
    "lenderId": ["$partner"],
    "reference": ['"CR"', '"X"'],
}


@st.composite
def input_object(draw: st.DrawFn, fields: dict[str, list[str]]) -> str:
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), max_size=3, unique=True))
    return "{" + ", ".join(f"{f}: {draw(st.sampled_from(fields[f]))}" for f in chosen) + "}"


def _args(*parts: str) -> str:
    joined = ", ".join(p for p in parts if p)
    return f"({joined})" if joined else ""


@st.composite
def root(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(
            [
                "customers",
                "customer",
                "cases",
                "case",
                "caseByReference",
                "myCases",
                "credits",
                "credit",
                "creditByReference",
                "myCredits",
                "investors",
                "investor",
                "investorPortfolio",
                "myInvestorPortfolio",
                "node",
                "nodes",
            ]
        )
    )
    page = draw(PAGE)
    if kind == "customers":
        search = draw(st.sampled_from(["", 'search: "a"', 'search: "zz"']))
        return f"customers{_args(page, search)} {{ {draw(connection('CustomerConnection', 0))} }}"
    if kind == "investors":
        f = draw(st.sampled_from(["", 'filter: {search: "a"}', "filter: {kycStatus: VERIFIED}"]))
        return f"investors{_args(page, f)} {{ {draw(connection('InvestorConnection', 0))} }}"
    if kind == "credits":
        f = draw(st.one_of(st.just(""), input_object(CREDIT_FILTERS).map("filter: {}".format)))
        return f"credits{_args(page, f)} {{ {draw(connection('CreditConnection', 0))} }}"
    if kind == "myCredits":
        status = draw(st.sampled_from(["", "status: [ACTIVE]", "status: [PAID_OFF, ACTIVE]"]))
        return f"myCredits{_args(page, status)} {{ {draw(connection('CreditConnection', 0))} }}"
    if kind == "myCases":
        return f"myCases{_args(page)} {{ {draw(connection('CaseConnection', 0))} }}"
    if kind == "cases":
        view = draw(st.sampled_from(["", "view: OWN", "view: ECOSYSTEM", "view: NETWORK"]))
        order = draw(st.sampled_from(["", *(f"orderBy: {o}" for o in CASE_ORDERS)]))
        f = draw(st.one_of(st.just(""), input_object(CASE_FILTERS).map("filter: {}".format)))
        return f"cases{_args(page, view, order, f)} {{ {draw(connection('CaseConnection', 0))} }}"
    if kind in ("customer", "case", "credit", "investor"):
        return f"{kind}(id: ${kind}) {{ {draw(selection(kind.title(), 0))} }}"
    if kind == "caseByReference":
        return f"caseByReference(reference: $caseRef) {{ {draw(selection('Case', 0))} }}"
    if kind == "creditByReference":
        return f"creditByReference(reference: $creditRef) {{ {draw(selection('Credit', 0))} }}"
    if kind in ("investorPortfolio", "myInvestorPortfolio"):
        inner = draw(selection("InvestorPortfolio", 0))
        as_of = draw(st.sampled_from(["", 'asOf: "2026-10-31"']))
        if kind == "myInvestorPortfolio":
            return f"myInvestorPortfolio{_args(as_of)} {{ {inner} }}"
        return f"investorPortfolio{_args('investorId: $investor', as_of)} {{ {inner} }}"
    fragments = " ".join(
        f"... on {t} {{ {draw(selection(t, 1, forced=True))} }}"
        for t in draw(st.lists(st.sampled_from(NODE_TYPES), min_size=1, max_size=3, unique=True))
    )
    if kind == "node":
        target = draw(st.sampled_from(["customer", "case", "credit", "investor", "partner"]))
        return f"node(id: ${target}) {{ id __typename {fragments} }}"
    return (
        f"nodes(ids: [$customer, $case, $credit, $investor, $partner]) {{ __typename {fragments} }}"
    )


VARIABLES = {
    "yes": "Boolean!",
    "no": "Boolean!",
    "page": "Int",
    "customer": "ID!",
    "case": "ID!",
    "credit": "ID!",
    "investor": "ID!",
    "partner": "ID!",
    "customerOfCase": "ID!",
    "typology": "String!",
    "caseRef": "String!",
    "creditRef": "String!",
}


def _uses(document: str, name: str) -> bool:
    return re.search(rf"\${name}\b", document) is not None


@st.composite
def operation(draw: st.DrawFn) -> str:
    roots = draw(st.lists(root(), min_size=1, max_size=2))
    body = " ".join(f"r{i}: {r}" for i, r in enumerate(roots))
    used = [f"${n}: {t}" for n, t in VARIABLES.items() if _uses(body, n)]
    declared = f"({', '.join(used)})" if used else ""
    return f"query Generated{declared} {{ {body} }}"


# --- the property ---------------------------------------------------------------------------
@pytest.fixture
def no_roster() -> Iterator[None]:
    saved = list(engine.ROSTER)
    engine.ROSTER.clear()
    yield
    engine.ROSTER.extend(saved)


@settings(
    max_examples=40,
    deadline=None,
    # A failing document is reported as generated: shrinking one costs minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=operation(), page=st.sampled_from([0, 1, 2]))
async def test_generated_selections_answer_the_same_bytes(
    gql: GraphQLClient, world: World, no_roster: None, document: str, page: int
) -> None:
    variables = {"yes": True, "no": False, "page": page, **world.ids, **world.values}
    used = {k: v for k, v in variables.items() if _uses(document, k)}
    compiled_shadow.MISMATCHES.clear()
    for role, token in world.tokens.items():
        before = engine.SHADOW_COUNTS["equal"]
        response = await gql.http.post(
            "/graphql",
            json={"query": document, "variables": used},
            headers={"authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, (role, response.text)
        assert b"GRAPHQL_VALIDATION_FAILED" not in response.content, response.text
        if compiled_shadow.MISMATCHES:
            pytest.fail(compiled_shadow._report(compiled_shadow.MISMATCHES[0]), pytrace=False)
        if role == "admin" and "errors" not in response.json():
            # What the administrator may read without an error came from a plan too.
            assert engine.SHADOW_COUNTS["equal"] > before, document


# --- what the normal path keeps --------------------------------------------------------------
LIST = "query L { customers(first: 2) { edges { node { id givenNames } } } }"


@pytest.fixture
def on_mode(runtime: Any) -> Any:
    runtime.settings.compiled_reads = "on"
    return runtime


async def _post(http: httpx.AsyncClient, token: str | None, body: dict[str, Any]) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await http.post("/graphql", json=body, headers=headers)


async def test_on_mode_answers_from_the_plan_after_the_first_request(
    on_mode: Any, client: httpx.AsyncClient, world: World
) -> None:
    token = world.tokens["admin"]
    first = await _post(client, token, {"query": LIST})
    stats = _instance(client)
    assert stats.answered == 0  # the first answer is the normal path's (the document is new)
    second = await _post(client, token, {"query": LIST})
    assert stats.answered == 1
    assert first.content == second.content
    assert second.headers["content-type"].startswith("application/json")


async def test_errors_are_the_normal_paths(
    on_mode: Any, client: httpx.AsyncClient, world: World
) -> None:
    bad = "query C($after: String) { credits(first: 2, after: $after) { totalCount } }"
    for _ in range(2):
        response = await _post(
            client, world.tokens["admin"], {"query": bad, "variables": {"after": "x"}}
        )
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION", body
    forbidden = await _post(client, world.tokens["investor"], {"query": LIST})
    assert forbidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await _post(client, None, {"query": LIST})
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert _instance(client).answered == 0


@pytest.mark.parametrize(
    "document",
    [
        "mutation M { __typename }",
        "query Q { customers(first: 1) { edges { node { id } } } partners { code } }",
        "query Q { customers(first: 1) @deprecated { totalCount } }",
        'query Q { credit(id: "x") { payoffQuote { validUntil } } }',
        "query Q { __schema { queryType { name } } }",
    ],
)
async def test_what_is_not_compiled_runs_normally(
    on_mode: Any, client: httpx.AsyncClient, world: World, document: str
) -> None:
    for _ in range(2):
        await _post(client, world.tokens["admin"], {"query": document})
    assert _instance(client).answered == 0


def _instance(client: httpx.AsyncClient) -> engine.CompiledReads:
    assert engine.latest is not None
    found = engine.latest()
    assert found is not None
    return found


async def test_one_plan_per_principal_shape_and_a_bounded_cache(
    on_mode: Any, client: httpx.AsyncClient, world: World, runtime: Any
) -> None:
    compiled = _instance(client)
    compiled.plans.size = compiled.documents.size = 3
    agents = [world.tokens["agent"]] + [
        str(
            runtime.tokens.issue(
                subject=f"agent{i}", roles=["agent"], scopes=None, partner="RETAIL_SUR"
            )[0]
        )
        for i in range(3)
    ]
    for token in agents:
        await _post(client, token, {"query": LIST})
        await _post(client, token, {"query": LIST})
    # Four agents of two partners: one shape, one plan.
    assert len([k for k in compiled.plans if k[0] == LIST]) == 1
    for n in range(5):
        document = f"query L{n} {{ customers(first: {n}) {{ totalCount }} }}"
        await _post(client, world.tokens["admin"], {"query": document})
        await _post(client, world.tokens["admin"], {"query": document})
    assert len(compiled.plans) <= 3 and len(compiled.documents) <= 3


def test_every_root_declared_is_in_the_schema() -> None:
    query = SCHEMA.query_type
    assert query is not None
    assert set(ROOTS) <= set(query.fields), set(ROOTS) - set(query.fields)
    for name, spec in CATALOG.types.items():
        gql_type = SCHEMA.get_type(name)
        assert isinstance(gql_type, GraphQLObjectType), name
        assert set(spec.fields) <= set(gql_type.fields), (
            name,
            set(spec.fields) - set(gql_type.fields),
        )


# --- what the planner refuses, without a database ------------------------------------------
def _planner() -> engine.CompiledReads:
    from types import SimpleNamespace

    from schema import create_schema

    settings = SimpleNamespace(
        compiled_reads="on",
        compiled_reads_cache=8,
        query_cost_limit=10_000,
        query_cost_limits={},
        default_page_size=20,
        max_page_size=100,
    )
    return engine.CompiledReads(create_schema(), settings)


ADMIN = compiled_shadow._principal(Role.ADMIN)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("mutation M { __typename }", "mutation operations run normally"),
        ("subscription S { __typename }", "subscription operations run normally"),
        ("query Q @cached { customers { totalCount } }", "directive @cached"),
        ("query Q { customers @live { totalCount } }", "directive @live"),
        (
            "query Q { customers { ... on CustomerConnection @defer { totalCount } } }",
            "directive @defer",
        ),
        (
            "query Q { ...F } fragment F on Query { customers @stream { totalCount } }",
            "directive @stream",
        ),
        ("query Q { partners { code } }", "Query.partners is not compiled"),
        (
            'query Q { customer(id: "x") { loyaltyAccounts { id } } }',
            "Customer.loyaltyAccounts is not declared",
        ),
        (
            'query Q { credit(id: "x") { payoffQuote { validUntil } } }',
            "Credit.payoffQuote is not declared",
        ),
        (
            "query A { customers { totalCount } } query B { customers { totalCount } }",
            "no such operation",
        ),
    ],
)
def test_the_planner_leaves_to_the_normal_path(document: str, reason: str) -> None:
    """Operations, directives and fields the compiled path does not know are answered by
    normal execution as a whole (directives other than @include/@skip cannot pass this
    schema's validation today; the planner refuses them anyway, for the day one can)."""
    compiled = _planner()
    compiled.learn({"query": document})
    found = compiled._plan({"query": document}, ADMIN)
    assert isinstance(found, str), found
    assert found == reason


def test_the_planner_plans_what_it_knows() -> None:
    compiled = _planner()
    document = "query Q($n: Int) { customers(first: $n) { totalCount edges { node { id } } } }"
    compiled.learn({"query": document})
    found = compiled._plan({"query": document, "variables": {"n": 2}}, ADMIN)
    assert not isinstance(found, str), found
    # The same document for another principal of the same shape: the same plan.
    other = compiled_shadow._principal(Role.ADMIN)
    again = compiled._plan({"query": document, "variables": {"n": 3}}, other)
    assert not isinstance(again, str) and again[0] is found[0]


# --- pages after a cursor --------------------------------------------------------------------
PAGED = [
    ("customers", "", "CustomerConnection", "id givenNames nationalId { number } piiMasked"),
    ("investors", "", "InvestorConnection", "id legalName email piiMasked"),
    ("credits", "", "CreditConnection", "id reference status principal { amount currency }"),
    ("myCredits", "", "CreditConnection", "id reference"),
    ("myCases", "", "CaseConnection", "id reference"),
    *(
        ("cases", f"view: {view}, orderBy: {order}", "CaseConnection", "id reference status")
        for view in ("OWN", "ECOSYSTEM", "NETWORK")
        for order in CASE_ORDERS
    ),
]


@pytest.mark.parametrize(("field", "arguments", "connection_type", "fields"), PAGED)
async def test_pages_after_a_cursor_answer_the_same_bytes(
    gql: GraphQLClient,
    world: World,
    no_roster: None,
    field: str,
    arguments: str,
    connection_type: str,
    fields: str,
) -> None:
    """Three pages of two through each list, for every role, each page compared by shadow
    mode (cursors, hasPreviousPage, totalCount after a cursor)."""
    document = (
        f"query P($after: String) {{ page: {field}(first: 2, after: $after"
        f"{', ' + arguments if arguments else ''}) {{ totalCount "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } "
        f"edges {{ cursor node {{ {fields} }} }} }} }}"
    )
    compiled_shadow.MISMATCHES.clear()
    before = engine.SHADOW_COUNTS["equal"]
    for token in world.tokens.values():
        after = None
        for _ in range(3):
            response = await gql.http.post(
                "/graphql",
                json={"query": document, "variables": {"after": after}},
                headers={"authorization": f"Bearer {token}"},
            )
            if compiled_shadow.MISMATCHES:
                pytest.fail(compiled_shadow._report(compiled_shadow.MISMATCHES[0]), pytrace=False)
            body = response.json()
            if "errors" in body:
                break  # this role may not read this list: the normal path said so
            info = body["data"]["page"]["pageInfo"]
            if not info["hasNextPage"]:
                break
            after = info["endCursor"]
    assert engine.SHADOW_COUNTS["equal"] > before


EMPTY_PAGE = "{ totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor } }"
NESTED = f"edges {{ node {{ id payments(first: 0) {EMPTY_PAGE} }} }}"
EMPTY_PAGES = (
    f"query E {{ credits(first: 5) {{ {NESTED} }} }}",
    f"query M {{ myCredits(first: 5) {{ {NESTED} }} }}",
)


async def test_an_empty_nested_page_says_whether_rows_follow(
    gql: GraphQLClient, world: World, no_roster: None
) -> None:
    """``payments(first: 0)`` of a credit with payments: hasNextPage is true (the generator
    found the compiled path answering false), as the normal path does."""
    compiled_shadow.MISMATCHES.clear()
    for token in world.tokens.values():
        for document in EMPTY_PAGES:
            await gql.http.post(
                "/graphql",
                json={"query": document},
                headers={"authorization": f"Bearer {token}"},
            )
            if compiled_shadow.MISMATCHES:
                pytest.fail(compiled_shadow._report(compiled_shadow.MISMATCHES[0]), pytrace=False)

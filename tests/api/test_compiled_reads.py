"""Compiled reads (app/compiled) against the normal path.

- A property: selection sets generated over every declared type (fields in any order and
  number, aliases, repeated fields, inline and named fragments, ``__typename``,
  ``@include``/``@skip`` with variables, page sizes, views, orderings, filters, ``node`` and
  ``nodes`` of every compiled type), sent for seven roles; shadow mode answers each with
  both paths and the bodies must be the same bytes (tests/compiled_shadow.py). Runs on
  SQLite and, with TRAMA_TEST_DATABASE_URL, on PostgreSQL.
- What the compiled path leaves to the normal one (mutations, undeclared fields, unknown
  directives, anonymous callers, errors) and that the answer is then the normal path's.
- The plan cache: one plan per document and principal shape, bounded.
"""

from __future__ import annotations

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
    out.ids = {
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


@st.composite
def root(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(
            [
                "customers",
                "customer",
                "cases",
                "case",
                "myCases",
                "credits",
                "credit",
                "myCredits",
                "investors",
                "investor",
                "investorPortfolio",
                "node",
                "nodes",
            ]
        )
    )
    page = draw(PAGE)
    if kind in ("customers", "investors", "credits", "myCases", "myCredits"):
        arguments = page
        if kind == "credits" and draw(st.booleans()):
            arguments = ", ".join(a for a in (page, "filter: {status: [ACTIVE, DELINQUENT]}") if a)
        node = {"customers": "Customer", "investors": "Investor"}.get(kind, "Credit")
        if kind == "myCases":
            node = "Case"
        conn = f"{node}Connection" if node != "Case" else "CaseConnection"
        args = f"({arguments})" if arguments else ""
        return f"{kind}{args} {{ {draw(connection(conn, 0))} }}"
    if kind == "cases":
        arguments = [
            page,
            draw(st.sampled_from(["", "view: OWN", "view: ECOSYSTEM", "view: NETWORK"])),
            draw(st.sampled_from(["", "orderBy: UPDATED_AT_DESC", "orderBy: SLA_DUE_AT_ASC"])),
            draw(
                st.sampled_from(
                    ["", "filter: {statuses: [OPEN, IN_PROGRESS]}", 'filter: {text: "CS-"}']
                )
            ),
        ]
        args = ", ".join(a for a in arguments if a)
        return f"cases{f'({args})' if args else ''} {{ {draw(connection('CaseConnection', 0))} }}"
    if kind in ("customer", "case", "credit", "investor"):
        return f"{kind}(id: ${kind}) {{ {draw(selection(kind.title(), 0))} }}"
    if kind == "investorPortfolio":
        inner = draw(selection("InvestorPortfolio", 0))
        return f"investorPortfolio(investorId: $investor) {{ {inner} }}"
    fragments = " ".join(
        f"... on {t} {{ {draw(selection(t, 1, forced=True))} }}"
        for t in draw(st.lists(st.sampled_from(NODE_TYPES), min_size=1, max_size=3, unique=True))
    )
    if kind == "node":
        target = draw(st.sampled_from(["customer", "case", "credit", "investor"]))
        return f"node(id: ${target}) {{ id __typename {fragments} }}"
    return f"nodes(ids: [$customer, $case, $credit, $investor]) {{ __typename {fragments} }}"


VARIABLES = {
    "yes": "Boolean!",
    "no": "Boolean!",
    "page": "Int",
    "customer": "ID!",
    "case": "ID!",
    "credit": "ID!",
    "investor": "ID!",
}


@st.composite
def operation(draw: st.DrawFn) -> str:
    roots = draw(st.lists(root(), min_size=1, max_size=2))
    body = " ".join(f"r{i}: {r}" for i, r in enumerate(roots))
    used = [
        f"${n}: {t}"
        for n, t in VARIABLES.items()
        if f"${n})" in body or f"${n}," in body or f"${n}]" in body
    ]
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
    variables = {"yes": True, "no": False, "page": page, **world.ids}
    used = {k: v for k, v in variables.items() if f"${k}" in document}
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
        'query Q { credit(id: "x") { nextInstallment { number } } }',
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
            'query Q { credit(id: "x") { nextInstallment { number } } }',
            "Credit.nextInstallment is not declared",
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

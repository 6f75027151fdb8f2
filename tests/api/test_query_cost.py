"""The query cost limit: computed from the document before anything runs, per role, and
what the public calculators charge against the rate budget."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from graphql import OperationDefinitionNode, parse, validate
from pydantic import ValidationError

from app.auth.keys import KeyStore
from app.db import Database, read_session
from app.main import create_app
from app.ratelimit import CallerLimiter, MemoryBackend, Rate
from app.runtime import Runtime, build_runtime
from app.settings import Settings
from domain.shared.audit import AuditRecord
from schema import create_schema
from schema.cost import CostPolicy, operation_cost
from tests.api.test_credit_simulation import COMPARE, EXAMPLE, SIMULATE, SMALL
from tests.api.test_ratelimit import Clock
from tests.conftest import GraphQLClient, StatementCounter, make_settings

GRAPHQL_RESPONSE = "application/graphql-response+json"
SCHEMA = create_schema()._schema


def cost_of(query: str, variables: dict[str, Any] | None = None, **sizes: int) -> int:
    document = parse(query)
    assert validate(SCHEMA, document) == [], validate(SCHEMA, document)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return operation_cost(
        SCHEMA,
        document,
        operation,
        variables,
        default_page_size=sizes.get("default", 20),
        max_page_size=sizes.get("maximum", 100),
    ).total


# --- the model ----------------------------------------------------------------------------
def test_each_field_costs_one_and_lists_multiply_their_selection() -> None:
    # A list without a page argument counts the default page size.
    assert cost_of("{ partners { code name } }") == 1 + 20 * 2
    assert cost_of("{ partners { code name } }", default=5) == 1 + 5 * 2
    # A connection counts `first` items; its edges do not multiply again.
    page = "customers(first: 5) { totalCount edges { cursor node { id givenNames } } }"
    assert cost_of(f"{{ {page} }}") == 1 + 5 * (1 + (1 + 1 + (1 + 2)))
    # Scalars, lists of scalars and __typename: one, one, nothing.
    assert cost_of("{ viewer { subject roles __typename } }") == 1 + 2


def test_first_comes_from_the_document_or_the_variables_and_is_capped() -> None:
    query = "query($n: Int) { customers(first: $n) { edges { node { id } } } }"
    per_item = 1 + (1 + 1)
    assert cost_of(query, {"n": 7}) == 1 + 7 * per_item
    assert cost_of(query, {}) == 1 + 20 * per_item  # absent: the default page size
    assert cost_of(query, {"n": None}) == 1 + 20 * per_item
    assert cost_of(query, {"n": 100_000}) == 1 + 100 * per_item  # at most the maximum
    assert cost_of(query, {"n": -3}) == 1
    defaulted = "query($n: Int = 9) { customers(first: $n) { edges { node { id } } } }"
    assert cost_of(defaulted, {}) == 1 + 9 * per_item


def test_nested_lists_multiply() -> None:
    query = """{ cases(first: 50) { edges { node {
        id timeline(first: 10) { edges { node { kind } } }
    } } } }"""
    assert cost_of(query) == 1 + 50 * (1 + (1 + 1 + (1 + 10 * (1 + (1 + 1)))))
    assert cost_of(query) == 1_701  # the figure the README quotes


def test_aliases_and_every_spread_of_a_fragment_count() -> None:
    one = cost_of("{ partners { code } }")
    assert cost_of("{ a: partners { code } b: partners { code } }") == 2 * one
    spread = """
    query { ...P ...P ... on Query { ...P } }
    fragment P on Query { partners { code } }
    """
    assert cost_of(spread) == 3 * one
    # Fragments that spread fragments: 2^12 copies of a leaf, counted without walking them.
    levels = 12
    fragments = "\n".join(
        f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)
    )
    bomb = f"query {{ ...F0 }}\n{fragments}\nfragment F{levels} on Query {{ viewer {{ subject }} }}"
    assert cost_of(bomb) == 2**levels * 2


def test_an_interface_or_union_costs_its_most_expensive_type() -> None:
    query = """query($ids: [ID!]!) { nodes(ids: $ids) {
        id ... on Customer { givenNames familyNames } ... on Partner { code }
    } }"""
    # One item per id given; Customer (id + 2 fields) is the most expensive type selected.
    assert cost_of(query, {"ids": ["a", "b", "c"]}) == 1 + 3 * 3
    assert cost_of(query, {"ids": ["a"] * 500}) == 1 + 100 * 3  # more are refused anyway
    entities = """query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Customer { id givenNames } ... on Partner { id code name }
    } }"""
    assert cost_of(entities, {"r": [{}, {}]}) == 1 + 2 * 3


def test_known_list_lengths_are_used() -> None:
    comparison = "query($i: CompareCreditSchemesInput!) { compareCreditSchemes(input: $i) { simulations { cae { percent } } } }"  # noqa: E501
    assert cost_of(comparison) == 1 + (1 + 3 * (1 + 1))  # always three schemes


def test_the_policy_picks_the_limit_of_the_caller() -> None:
    from domain.shared.principal import Principal, Role

    policy = CostPolicy(limit=100, role_limits={"admin": 1000, "agent": 50, "anonymous": 10})
    assert policy.limit_for(None) == 10
    assert policy.limit_for(Principal(subject="a", roles=frozenset({Role.AGENT}))) == 50
    both = Principal(subject="b", roles=frozenset({Role.AGENT, Role.ADMIN}))
    assert policy.limit_for(both) == 1000  # the highest of its roles
    assert policy.limit_for(Principal(subject="c", roles=frozenset({Role.INVESTOR}))) == 100
    assert CostPolicy(limit=100).limit_for(None) == 100


# --- settings -----------------------------------------------------------------------------
def test_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings(var_dir=tmp_path).query_cost_limit == 50_000
    assert Settings(var_dir=tmp_path).query_cost_limits == {}
    monkeypatch.setenv("TRAMA_QUERY_COST_LIMIT", "1234")
    monkeypatch.setenv("TRAMA_QUERY_COST_LIMITS", '{"admin": 200000, "anonymous": 2000}')
    settings = Settings(var_dir=tmp_path)
    assert settings.query_cost_limit == 1234
    assert settings.query_cost_limits == {"admin": 200_000, "anonymous": 2000}
    for bad in ('{"wizard": 10}', '{"admin": 0}', '{"admin": "lots"}', "[1]", "{nope"):
        monkeypatch.setenv("TRAMA_QUERY_COST_LIMITS", bad)
        with pytest.raises(ValidationError, match="query_cost_limits"):
            Settings(var_dir=tmp_path)
    monkeypatch.setenv("TRAMA_QUERY_COST_LIMITS", "")
    assert Settings(var_dir=tmp_path).query_cost_limits == {}
    monkeypatch.setenv("TRAMA_QUERY_COST_LIMIT", "0")
    with pytest.raises(ValidationError, match="query_cost_limit"):
        Settings(var_dir=tmp_path)


# --- through the API ----------------------------------------------------------------------
MakeApp = Callable[..., Awaitable[tuple[GraphQLClient, Runtime]]]


@pytest.fixture
async def make_app(
    session_tmp: Path, database_url: str, keys: KeyStore, db: Database
) -> AsyncIterator[MakeApp]:
    """An app on the test database with settings of the test's choosing."""
    made: list[tuple[httpx.AsyncClient, Runtime]] = []

    async def make(**overrides: Any) -> tuple[GraphQLClient, Runtime]:
        runtime = build_runtime(make_settings(session_tmp, database_url, **overrides))
        app = create_app(runtime.settings, runtime=runtime, manage_database=False)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://trama.test"
        )
        made.append((http, runtime))
        return GraphQLClient(http), runtime

    yield make
    for http, runtime in made:
        await http.aclose()
        if runtime.rate_limiter is not None:
            await runtime.rate_limiter.close()


def issue(runtime: Runtime, *roles: str, partner: str | None = None) -> str:
    token, _ = runtime.tokens.issue(
        subject=f"cost:{'+'.join(roles)}@{partner}", roles=list(roles), partner=partner
    )
    return token


def heavy_query(aliases: int = 30) -> str:
    """The audit's query: 30 aliased pages of 100 cases, each with 100 timeline entries."""
    page = """
      c{n}: cases(view: ECOSYSTEM, first: 100) {{
        totalCount
        edges {{ cursor node {{
          id reference status description createdAt
          customer {{ name piiMasked }}
          timeline(first: 100) {{ edges {{ node {{ seq at kind actor note }} }} }}
        }} }}
      }}"""
    return "query Heavy {" + "".join(page.format(n=n) for n in range(aliases)) + "\n}"


def case_selects(counter: StatementCounter) -> list[str]:
    return [s for s in counter.statements if "FROM cases" in s]


async def test_the_audits_heavy_query_is_refused_before_it_runs(
    gql: GraphQLClient, token: Callable[..., str], sql_counter: StatementCounter
) -> None:
    agent = token("agent", partner="BANCO_ANDINO")
    timeline = 1 + 100 * (1 + (1 + 5))
    node = 1 + 5 + (1 + 2) + timeline
    page = 1 + 100 * (1 + (1 + 1 + node))
    expected = 30 * page
    assert expected == 2_139_030

    sql_counter.reset()
    body = await gql(heavy_query(), token=agent, accept=GRAPHQL_RESPONSE, expect_status=400)
    assert "data" not in body
    (error,) = body["errors"]
    assert error["extensions"] == {
        "code": "GRAPHQL_VALIDATION_FAILED",
        "cost": expected,
        "costLimit": 50_000,
    }
    assert "2139030" in error["message"].replace(",", "")
    assert case_selects(sql_counter) == []  # nothing ran

    # One page of the same shape, of a sane size, runs.
    sane = heavy_query(1).replace("first: 100", "first: 20")
    body = await gql(sane, token=agent)
    assert "errors" not in body, body
    assert case_selects(sql_counter)  # (the statements this test looks for)


async def test_limits_per_role(make_app: MakeApp) -> None:
    gql, runtime = await make_app(
        query_cost_limit=500, query_cost_limits={"admin": 100_000, "anonymous": 10}
    )
    page = """query($first: Int) { customers(first: $first) {
        edges { node { id givenNames familyNames homePartner { code name } } }
    } }"""
    cost = 1 + 100 * (1 + (1 + 3 + (1 + 2)))
    agent = issue(runtime, "agent", partner="BANCO_ANDINO")
    body = await gql(page, {"first": 100}, token=agent)
    assert body["errors"][0]["extensions"] == {
        "code": "GRAPHQL_VALIDATION_FAILED",
        "cost": cost,
        "costLimit": 500,
    }
    assert body.get("data") is None
    # The same query with a smaller page fits.
    assert "errors" not in await gql(page, {"first": 10}, token=agent)
    # Administrators have a limit of their own; a principal with several roles gets the
    # highest of them.
    for admin in (issue(runtime, "admin"), issue(runtime, "network_viewer", "admin")):
        body = await gql(page, {"first": 100}, token=admin)
        assert "errors" not in body, body
    # Anonymous callers: the calculators only, under their own limit.
    assert "errors" not in await gql(SMALL, {"input": EXAMPLE})
    body = await gql(SIMULATE, {"input": EXAMPLE})
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert body["errors"][0]["extensions"]["costLimit"] == 10


CREATE = """
mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    __typename
    ... on CreateCustomerSuccess { customer { id givenNames familyNames version } }
    ... on UserError { message }
  }
}
"""


async def counts() -> tuple[int, int]:
    async with read_session() as session:
        audit = await session.execute(sa.select(sa.func.count()).select_from(AuditRecord))
        customers = await session.execute(sa.text("SELECT count(*) FROM customers"))
        return int(audit.scalar_one()), int(customers.scalar_one())


async def test_mutations_count_and_a_refused_one_writes_nothing(make_app: MakeApp) -> None:
    from stdnum.cl import rut

    gql, runtime = await make_app(query_cost_limit=40)
    agent = issue(runtime, "agent", partner="BANCO_ANDINO")
    number = f"16000000-{rut.calc_check_digit('16000000')}"
    variables = {
        "input": {
            "nationalId": {"type": "CL_RUT", "number": number},
            "givenNames": "Rosa",
            "familyNames": "Lillo",
        }
    }
    before = await counts()
    # One mutation costs 1 + (message | customer{…}): within the limit. Eight aliased copies
    # of it are not, and none of them runs.
    query = (
        "mutation Create($input: CreateCustomerInput!) {"
        + "".join(
            f"""
        m{n}: createCustomer(input: $input) {{
          __typename
          ... on CreateCustomerSuccess {{ customer {{ id givenNames familyNames version }} }}
          ... on UserError {{ message }}
        }}"""
            for n in range(8)
        )
        + "\n}"
    )
    body = await gql(query, variables, token=agent)
    assert body["errors"][0]["extensions"] == {
        "code": "GRAPHQL_VALIDATION_FAILED",
        "cost": 8 * (1 + (1 + 4)),
        "costLimit": 40,
    }
    assert await counts() == before
    body = await gql(CREATE, variables, token=agent)
    assert body["data"]["createCustomer"]["__typename"] == "CreateCustomerSuccess", body
    assert await counts() != before


# --- the calculators' rate budget -----------------------------------------------------------
@pytest.fixture
def tight(runtime: Runtime) -> Callable[[int], Clock]:
    """Replace the app's limiter with one of ``n`` units a minute per caller."""

    def make(n: int) -> Clock:
        clock = Clock()
        runtime.rate_limiter = CallerLimiter(
            MemoryBackend(clock=clock),
            anonymous=Rate(n, 60),
            authenticated=Rate(n, 60),
            prefix=f"test:{uuid.uuid4().hex}:",
        )
        return clock

    return make


def code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


async def test_a_calculator_is_charged_one_unit_per_thousand_of_its_cost(
    gql: GraphQLClient, tight: Callable[[int], Clock]
) -> None:
    assert cost_of(COMPARE) == 2567  # three units
    assert cost_of(SIMULATE) == 856  # one unit
    clock = tight(4)
    assert code(await gql(COMPARE, {"input": EXAMPLE})) is None
    assert code(await gql(SMALL, {"input": EXAMPLE})) is None  # the fourth unit
    assert code(await gql(SMALL, {"input": EXAMPLE})) == "RATE_LIMITED"
    clock.advance(60)
    for _ in range(4):  # a full simulation costs one unit, like the smallest
        assert code(await gql(SIMULATE, {"input": EXAMPLE})) is None
    assert code(await gql(SMALL, {"input": EXAMPLE})) == "RATE_LIMITED"


async def test_thirty_aliased_simulations_cost_thirty_units(
    gql: GraphQLClient, tight: Callable[[int], Clock]
) -> None:
    tight(30)
    query = (
        "query($input: SimulateCreditInput!) {"
        + " ".join(
            f"a{n}: simulateCredit(input: $input) {{ cae {{ percent }} }}" for n in range(30)
        )
        + "}"
    )
    body = await gql(query, {"input": EXAMPLE})
    assert "errors" not in body, body
    assert len(body["data"]) == 30
    assert code(await gql(SMALL, {"input": EXAMPLE})) == "RATE_LIMITED"

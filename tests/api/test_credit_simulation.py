"""The public calculators through the GraphQL API: simulateCredit, compareCreditSchemes,
simulateInvestment — anonymous access, exact schedules, CAE, validation, rate limits."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.ratelimit import CallerLimiter, MemoryBackend, Rate, RedisBackend
from app.runtime import Runtime, build_runtime
from tests.api.test_ratelimit import REDIS_URL, Clock, _redis_reachable
from tests.conftest import TEST_REDIS_URL, GraphQLClient

GRAPHQL_RESPONSE = "application/graphql-response+json"

MONEY = "amount currency minorUnits"
SIMULATION = f"""
  schedule {{
    scheme currency annualRate termMonths graceMonths graceKind disbursementDate
    dayCount dayCountName rounding openingFeeMode
    principal {{ {MONEY} }} openingFee {{ {MONEY} }} financed {{ {MONEY} }}
    netDisbursed {{ {MONEY} }} levelInstallment {{ {MONEY} }}
    rows {{
      number dueDate days
      openingBalance {{ {MONEY} }} interest {{ {MONEY} }} capitalised {{ {MONEY} }}
      principal {{ {MONEY} }} insurance {{ {MONEY} }} otherCharges {{ {MONEY} }}
      charges {{ {MONEY} }} installment {{ {MONEY} }} closingBalance {{ {MONEY} }}
    }}
    totals {{
      interest {{ {MONEY} }} capitalised {{ {MONEY} }} principal {{ {MONEY} }}
      insurance {{ {MONEY} }} otherCharges {{ {MONEY} }} charges {{ {MONEY} }}
      installments {{ {MONEY} }}
    }}
    totalCost {{ {MONEY} }} financeCharge {{ {MONEY} }}
  }}
  cae {{ rate percent monthlyRate convention }}
"""
SIMULATE = f"""
query Simulate($input: SimulateCreditInput!) {{ simulateCredit(input: $input) {{ {SIMULATION} }} }}
"""
COMPARE = f"""
query Compare($input: CompareCreditSchemesInput!) {{
  compareCreditSchemes(input: $input) {{ simulations {{ {SIMULATION} }} }}
}}
"""
INVEST = f"""
query Invest($input: SimulateInvestmentInput!) {{
  simulateInvestment(input: $input) {{
    amount {{ {MONEY} }} annualRate termMonths scheme startDate dayCount dayCountName
    flows {{
      dueDate interest {{ {MONEY} }} principal {{ {MONEY} }} amount {{ {MONEY} }}
      balance {{ {MONEY} }}
    }}
    totalInterest {{ {MONEY} }} totalReceived {{ {MONEY} }} totalReturn {{ {MONEY} }}
    returnRatio annualisedYield
  }}
}}
"""
SMALL = """
query Small($input: SimulateCreditInput!) { simulateCredit(input: $input) { cae { percent } } }
"""


def clp(amount: int | str) -> dict[str, str]:
    return {"amount": str(amount), "currency": "CLP"}


#: The worked example of docs/credits-math.md §4.
EXAMPLE: dict[str, Any] = {
    "principal": clp(1_000_000),
    "annualRate": "0.12",
    "termMonths": 12,
    "disbursementDate": "2024-01-15",
    "openingFee": clp(20_000),
    "monthlyInsurance": clp(1_500),
}


def minor(money: dict[str, Any]) -> int:
    return int(money["minorUnits"])


@pytest.fixture
async def limiter(runtime: Runtime) -> AsyncIterator[tuple[CallerLimiter, Clock]]:
    """A fresh limiter per test (own keys, a clock we move), generous unless a test says."""
    clock = Clock()
    fresh = CallerLimiter(
        MemoryBackend(clock=clock),
        anonymous=Rate(1000, 60),
        authenticated=Rate(1000, 60),
        prefix=f"test:{uuid.uuid4().hex}:",
    )
    built = runtime.rate_limiter
    runtime.rate_limiter = fresh
    yield fresh, clock
    await fresh.close()
    if built is not None:
        await built.close()


def check_schedule(schedule: dict[str, Any]) -> None:
    """Every row's identities and the exact totals."""
    rows = schedule["rows"]
    assert [r["number"] for r in rows] == list(range(1, schedule["termMonths"] + 1))
    assert minor(rows[0]["openingBalance"]) == minor(schedule["financed"])
    for row, following in itertools.pairwise(rows):
        assert minor(row["closingBalance"]) == minor(following["openingBalance"])
    for row in rows:
        assert minor(row["installment"]) == (
            minor(row["interest"])
            - minor(row["capitalised"])
            + minor(row["principal"])
            + minor(row["charges"])
        )
        assert minor(row["closingBalance"]) == (
            minor(row["openingBalance"]) + minor(row["capitalised"]) - minor(row["principal"])
        )
        assert minor(row["charges"]) == minor(row["insurance"]) + minor(row["otherCharges"])
        for money in row.values():
            if isinstance(money, dict):
                assert money["currency"] == schedule["currency"]
    assert minor(rows[-1]["closingBalance"]) == 0
    totals = schedule["totals"]
    for name, column in [
        ("interest", "interest"),
        ("capitalised", "capitalised"),
        ("principal", "principal"),
        ("insurance", "insurance"),
        ("otherCharges", "otherCharges"),
        ("charges", "charges"),
        ("installments", "installment"),
    ]:
        assert minor(totals[name]) == sum(minor(r[column]) for r in rows), name
    assert minor(totals["principal"]) - minor(totals["capitalised"]) == minor(schedule["financed"])
    deducted = minor(schedule["openingFee"]) if schedule["openingFeeMode"] == "DEDUCTED" else 0
    assert minor(schedule["totalCost"]) == minor(totals["installments"]) + deducted
    assert minor(schedule["financeCharge"]) == minor(schedule["totalCost"]) - minor(
        schedule["principal"]
    )


# --- simulateCredit ------------------------------------------------------------------------
async def test_simulate_credit_anonymously(gql: GraphQLClient, limiter: Any) -> None:
    body = await gql(SIMULATE, {"input": EXAMPLE})
    assert "errors" not in body, body
    simulation = body["data"]["simulateCredit"]
    schedule = simulation["schedule"]
    check_schedule(schedule)
    assert schedule["scheme"] == "FRENCH"
    assert (schedule["dayCount"], schedule["dayCountName"]) == ("THIRTY_360", "30/360")
    assert schedule["rounding"] == "ROUND_HALF_UP"
    assert schedule["principal"] == {
        "amount": "1000000",
        "currency": "CLP",
        "minorUnits": "1000000",
    }
    assert schedule["netDisbursed"]["amount"] == "980000"
    assert schedule["levelInstallment"]["amount"] == "88849"
    installments = [r["installment"]["amount"] for r in schedule["rows"]]
    assert installments == ["90349"] * 11 + ["90347"]
    assert [r["dueDate"] for r in schedule["rows"][:2]] == ["2024-02-15", "2024-03-15"]
    assert schedule["totalCost"]["amount"] == "1104186"
    cae = simulation["cae"]
    assert cae["percent"] == "19.08"
    assert Decimal(cae["rate"]) == 12 * Decimal(cae["monthlyRate"])
    assert Decimal(cae["monthlyRate"]).quantize(Decimal("1e-10")) == Decimal("0.0158964010")
    assert "x12" in cae["convention"]


@pytest.mark.parametrize("scheme", ["FRENCH", "GERMAN", "BULLET"])
@pytest.mark.parametrize("day_count", ["THIRTY_360", "ACT_365_FIXED", "ACT_360"])
async def test_simulate_credit_schemes_and_day_counts(
    gql: GraphQLClient, limiter: Any, scheme: str, day_count: str
) -> None:
    data = {
        "principal": {"amount": "12345.67", "currency": "USD"},
        "annualRate": "0.195",
        "termMonths": 24,
        "scheme": scheme,
        "dayCount": day_count,
        "disbursementDate": "2024-01-31",
        "graceMonths": 3,
        "graceKind": "CAPITALISED",
        "openingFee": {"amount": "150", "currency": "USD"},
        "openingFeeMode": "FINANCED",
        "monthlyCharges": {"amount": "4.99", "currency": "USD"},
    }
    body = await gql(SIMULATE, {"input": data})
    assert "errors" not in body, body
    schedule = body["data"]["simulateCredit"]["schedule"]
    check_schedule(schedule)
    assert (schedule["scheme"], schedule["dayCount"]) == (scheme, day_count)
    assert schedule["financed"]["amount"] == "12495.67"  # the fee is financed
    assert schedule["netDisbursed"]["amount"] == "12345.67"
    assert [r["dueDate"] for r in schedule["rows"][:3]] == [
        "2024-02-29",
        "2024-03-31",
        "2024-04-30",
    ]
    days = [r["days"] for r in schedule["rows"][:2]]
    assert days == ([30, 30] if day_count == "THIRTY_360" else [29, 31])
    assert all(r["principal"]["amount"] == "0.00" for r in schedule["rows"][:3])
    assert Decimal(body["data"]["simulateCredit"]["cae"]["percent"]) > Decimal("19.5")


@pytest.mark.parametrize(
    ("instant", "currency", "today"),
    [
        # 22:00 on 2 December in Santiago: 3 December in UTC, still the 2nd for the lender
        ("2026-12-03T01:00:00+00:00", "CLP", "2026-12-02"),
        ("2026-12-03T01:00:00+00:00", "CLF", "2026-12-02"),
        ("2026-12-03T03:30:00+00:00", "CLP", "2026-12-03"),
        # 20:00 on 2 December in Mexico City (UTC-6)
        ("2026-12-03T02:00:00+00:00", "MXN", "2026-12-02"),
    ],
)
async def test_simulate_credit_defaults_the_date_to_the_lenders_today(
    gql: GraphQLClient, limiter: Any, instant: str, currency: str, today: str
) -> None:
    from datetime import datetime

    from domain.shared.time import clock_at

    data = {
        k: v
        for k, v in EXAMPLE.items()
        if k not in {"disbursementDate", "openingFee", "monthlyInsurance", "monthlyCharges"}
    }
    data["principal"] = {"amount": "1500000" if currency != "CLF" else "350", "currency": currency}
    with clock_at(datetime.fromisoformat(instant)):
        body = await gql(SIMULATE, {"input": data})
    assert "errors" not in body, body
    schedule = body["data"]["simulateCredit"]["schedule"]
    assert schedule["disbursementDate"] == today


async def test_simulate_credit_in_uf(gql: GraphQLClient, limiter: Any) -> None:
    data = {
        "principal": {"amount": "350.5", "currency": "CLF"},
        "annualRate": "0.0425",
        "termMonths": 36,
        "disbursementDate": "2024-03-10",
    }
    body = await gql(SIMULATE, {"input": data})
    schedule = body["data"]["simulateCredit"]["schedule"]
    check_schedule(schedule)
    assert schedule["principal"] == {
        "amount": "350.5000",
        "currency": "CLF",
        "minorUnits": "3505000",
    }


async def test_zero_rate_prints_plain_decimals(gql: GraphQLClient, limiter: Any) -> None:
    data = {**EXAMPLE, "annualRate": "0", "openingFee": None, "monthlyInsurance": None}
    body = await gql(SIMULATE, {"input": data})
    cae = body["data"]["simulateCredit"]["cae"]
    assert cae["percent"] == "0.00"
    assert "E" not in cae["rate"] and Decimal(cae["rate"]) == 0


# --- compareCreditSchemes -------------------------------------------------------------------
async def test_compare_credit_schemes(gql: GraphQLClient, limiter: Any) -> None:
    body = await gql(COMPARE, {"input": EXAMPLE})
    assert "errors" not in body, body
    simulations = body["data"]["compareCreditSchemes"]["simulations"]
    assert [s["schedule"]["scheme"] for s in simulations] == ["FRENCH", "GERMAN", "BULLET"]
    for simulation in simulations:
        check_schedule(simulation["schedule"])
        assert simulation["schedule"]["principal"]["amount"] == "1000000"
        assert simulation["schedule"]["termMonths"] == 12
        assert Decimal(simulation["cae"]["percent"]) > Decimal("12")
    french, german, bullet = (s["schedule"] for s in simulations)
    assert french["levelInstallment"] is not None and german["levelInstallment"] is None
    # Interest on the balance: repaying principal later costs more interest.
    interest = [minor(s["totals"]["interest"]) for s in (german, french, bullet)]
    assert interest == sorted(interest) and interest[0] < interest[2]
    assert minor(bullet["rows"][-1]["principal"]) == 1_000_000


async def test_compare_takes_no_scheme(gql: GraphQLClient, limiter: Any) -> None:
    body = await gql(COMPARE, {"input": {**EXAMPLE, "scheme": "FRENCH"}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- simulateInvestment ---------------------------------------------------------------------
async def test_simulate_investment(gql: GraphQLClient, limiter: Any) -> None:
    data = {
        "amount": clp(1_000_000),
        "annualRate": "0.12",
        "termMonths": 12,
        "startDate": "2024-01-15",
    }
    body = await gql(INVEST, {"input": data})
    assert "errors" not in body, body
    p = body["data"]["simulateInvestment"]
    assert (p["scheme"], p["dayCount"], p["dayCountName"]) == ("FRENCH", "THIRTY_360", "30/360")
    flows = p["flows"]
    assert len(flows) == 12 and flows[0]["dueDate"] == "2024-02-15"
    for flow in flows:
        assert minor(flow["amount"]) == minor(flow["interest"]) + minor(flow["principal"])
    assert sum(minor(f["principal"]) for f in flows) == 1_000_000
    assert minor(flows[-1]["balance"]) == 0
    assert minor(p["totalReceived"]) == sum(minor(f["amount"]) for f in flows)
    assert minor(p["totalInterest"]) == sum(minor(f["interest"]) for f in flows)
    assert minor(p["totalReturn"]) == minor(p["totalReceived"]) - 1_000_000
    assert Decimal(p["returnRatio"]) == (Decimal(minor(p["totalReturn"])) / 1_000_000).quantize(
        Decimal("1e-10")
    )
    assert Decimal("0.126") < Decimal(p["annualisedYield"]) < Decimal("0.128")  # 12% monthly


# --- bad input ------------------------------------------------------------------------------
BAD_CREDIT = [
    ({"termMonths": 0}, "termMonths"),
    ({"termMonths": 601}, "termMonths"),
    ({"principal": clp(-1_000)}, "principal.amount"),
    ({"principal": clp(0)}, "principal.amount"),
    ({"principal": {"amount": "1000", "currency": "EUR"}}, "principal.currency"),
    ({"principal": {"amount": "1000", "currency": "clp"}}, "principal.currency"),
    ({"principal": {"amount": "10.5", "currency": "CLP"}}, "principal.amount"),
    ({"annualRate": "1.51"}, "annualRate"),
    ({"annualRate": "-0.01"}, "annualRate"),
    ({"graceMonths": 12}, "graceMonths"),
    ({"graceMonths": -1}, "graceMonths"),
    ({"openingFee": {"amount": "10", "currency": "USD"}}, "openingFee"),
    ({"openingFee": clp(1_000_000)}, "openingFee"),
    ({"openingFee": {"amount": "10", "currency": "XXX"}}, "openingFee.currency"),
    ({"monthlyInsurance": clp(-1)}, "monthlyInsurance"),
    ({"monthlyCharges": {"amount": "1.5", "currency": "CLP"}}, "monthlyCharges.amount"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CREDIT)
@pytest.mark.parametrize("query", [SIMULATE, COMPARE], ids=["simulate", "compare"])
async def test_bad_credit_input_is_refused(
    gql: GraphQLClient, limiter: Any, query: str, change: dict[str, Any], field: str
) -> None:
    body = await gql(query, {"input": {**EXAMPLE, **change}})
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "VALIDATION"
    assert error["extensions"]["field"] == field
    assert error["extensions"]["problems"][0]["field"] == field
    assert field in error["message"]


async def test_every_problem_is_named(gql: GraphQLClient, limiter: Any) -> None:
    data = {**EXAMPLE, "principal": clp(-5), "annualRate": "2", "termMonths": 0}
    body = await gql(SIMULATE, {"input": data}, accept=GRAPHQL_RESPONSE)
    fields = [p["field"] for p in body["errors"][0]["extensions"]["problems"]]
    assert fields == ["principal.amount", "annualRate", "termMonths"]


BAD_INVESTMENT = [
    ({"termMonths": 0}, "termMonths"),
    ({"amount": clp(-5)}, "amount.amount"),
    ({"amount": {"amount": "5", "currency": "BTC"}}, "amount.currency"),
    ({"annualRate": "3"}, "annualRate"),
]


@pytest.mark.parametrize(("change", "field"), BAD_INVESTMENT)
async def test_bad_investment_input_is_refused(
    gql: GraphQLClient, limiter: Any, change: dict[str, Any], field: str
) -> None:
    data = {"amount": clp(1_000_000), "annualRate": "0.12", "termMonths": 12, **change}
    body = await gql(INVEST, {"input": data})
    (error,) = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("VALIDATION", field)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"annualRate": 0.12}, "annualRate"),  # a JSON float: digits may already be lost
        ({"principal": {"amount": 1000.5, "currency": "CLP"}}, "amount"),
        ({"annualRate": "1e-2"}, "annualRate"),
        ({"disbursementDate": "2024-02-30"}, "disbursementDate"),
        ({"scheme": "BALLOON"}, "scheme"),
        ({"termMonths": "12"}, "termMonths"),
    ],
)
async def test_malformed_variables(
    gql: GraphQLClient, limiter: Any, change: dict[str, Any], where: str
) -> None:
    variables = {"input": {**EXAMPLE, **change}}
    body = await gql(SIMULATE, variables, accept=GRAPHQL_RESPONSE, expect_status=400)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert where in error["message"]


async def test_integer_amounts_and_rates_are_exact(gql: GraphQLClient, limiter: Any) -> None:
    data = {**EXAMPLE, "principal": {"amount": 1_000_000, "currency": "CLP"}, "annualRate": 0}
    body = await gql(SIMULATE, {"input": data})
    assert body["data"]["simulateCredit"]["schedule"]["principal"]["amount"] == "1000000"


# --- access and rate limits -----------------------------------------------------------------
async def test_only_the_calculators_are_public(gql: GraphQLClient, limiter: Any) -> None:
    query = """query($input: SimulateCreditInput!) {
      simulateCredit(input: $input) { cae { percent } }
      customers { totalCount }
    }"""
    body = await gql(query, {"input": EXAMPLE})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.fixture(params=["memory", "redis"])
async def tight(
    request: pytest.FixtureRequest, runtime: Runtime
) -> AsyncIterator[tuple[CallerLimiter, Clock]]:
    """3 calls a minute per address, 5 per subject, on the backend of the parameter."""
    clock = Clock()
    if request.param == "redis":
        if not await _redis_reachable():
            pytest.skip("no Redis at TRAMA_TEST_REDIS_URL")
        backend: Any = RedisBackend(REDIS_URL, clock=clock)
    else:
        backend = MemoryBackend(clock=clock)
    made = CallerLimiter(
        backend,
        anonymous=Rate(3, 60),
        authenticated=Rate(5, 60),
        prefix=f"test:{uuid.uuid4().hex}:",
    )
    built = runtime.rate_limiter
    runtime.rate_limiter = made
    yield made, clock
    await made.close()
    if built is not None:
        await built.close()


async def _small(gql: GraphQLClient, token: str | None = None) -> dict[str, Any]:
    return await gql(SMALL, {"input": EXAMPLE}, token=token)


async def test_the_rate_limit_trips_and_resets(
    gql: GraphQLClient, client: httpx.AsyncClient, tight: tuple[CallerLimiter, Clock]
) -> None:
    _, clock = tight
    for _ in range(3):
        assert "errors" not in await _small(gql)
    response = await client.post("/graphql", json={"query": SMALL, "variables": {"input": EXAMPLE}})
    assert response.status_code == 200
    body = response.json()
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 20}
    assert error["path"] == ["simulateCredit"]
    assert response.headers["retry-after"] == "20"
    # Every calculator shares the budget.
    invest = {"amount": clp(1000), "annualRate": "0.1", "termMonths": 2}
    assert (await gql(INVEST, {"input": invest}))["errors"][0]["extensions"][
        "code"
    ] == "RATE_LIMITED"

    clock.advance(20)
    assert "errors" not in await _small(gql)
    assert "RATE_LIMITED" in str(await _small(gql))
    clock.advance(60)
    for _ in range(3):
        assert "errors" not in await _small(gql)


async def test_aliases_each_count(gql: GraphQLClient, tight: tuple[CallerLimiter, Clock]) -> None:
    query = (
        "query($input: SimulateCreditInput!) {"
        + " ".join(f"a{n}: simulateCredit(input: $input) {{ cae {{ percent }} }}" for n in range(4))
        + "}"
    )
    body = await gql(query, {"input": EXAMPLE})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["RATE_LIMITED"]
    assert "RATE_LIMITED" in str(await _small(gql))  # the three that ran spent the budget


async def test_the_limit_is_per_address(
    gql: GraphQLClient, runtime: Runtime, tight: tuple[CallerLimiter, Clock]
) -> None:
    for _ in range(3):
        await _small(gql)
    assert "RATE_LIMITED" in str(await _small(gql))
    app = create_app(runtime.settings, runtime=runtime, manage_database=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as other:
        body = await GraphQLClient(other)(SMALL, {"input": EXAMPLE})
    assert "errors" not in body


async def test_authenticated_callers_count_by_subject(
    gql: GraphQLClient, token: Callable[..., str], tight: tuple[CallerLimiter, Clock]
) -> None:
    for _ in range(3):
        await _small(gql)
    assert "RATE_LIMITED" in str(await _small(gql))  # this address is spent …
    agent = token("agent", partner="BANCO_ANDINO")
    results = [await _small(gql, agent) for _ in range(6)]  # … its own, higher budget is not
    assert ["errors" not in r for r in results] == [True] * 5 + [False]
    assert results[-1]["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    other = token("agent", partner="BANCO_ANDINO", subject="test:another-agent")
    assert "errors" not in await _small(gql, other)


async def test_the_runtime_limiter_uses_redis_when_configured(
    runtime: Runtime, limiter: Any
) -> None:
    """The conftest points ``redis_url`` at TRAMA_TEST_REDIS_URL when it is set."""
    built = build_runtime(runtime.settings)
    assert built.rate_limiter is not None
    try:
        expected = RedisBackend if TEST_REDIS_URL else MemoryBackend
        assert isinstance(built.rate_limiter.backend, expected)
        assert built.rate_limiter.anonymous == Rate(60, 60)
        assert built.rate_limiter.authenticated == Rate(600, 60)
    finally:
        await built.rate_limiter.close()


async def test_the_default_runtime_limits_anonymous_callers(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    """The limiter the app builds from the settings (Redis when configured) is in force."""
    assert runtime.rate_limiter is not None
    prefix = f"test:{uuid.uuid4().hex}:"
    runtime.rate_limiter.prefix = prefix  # keys of this test only, even on a shared Redis
    runtime.rate_limiter.anonymous = Rate(2, 60)
    try:
        results = [await _small(gql) for _ in range(3)]
        assert ["errors" not in r for r in results] == [True, True, False]
        assert results[-1]["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    finally:
        await runtime.rate_limiter.close()

"""Money defects found by the outside audit, through the GraphQL API (issue 9):

- a FRENCH installment that cannot amortise (ACT/365F at 90 % over 600 months gave a last
  installment of ~10^19 CLP; 30/360 at 60 % over 360 months repaid no principal until the
  last row) is refused on ``termMonths``;
- dates near year 9999 (a first due date or a term past 9999-12-31) are refused on the
  field, never ``INTERNAL``;
- a principal above the product's maximum (or the calculators' one) is refused on
  ``principal.amount``.

Every refusal is ``VALIDATION`` with the field, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from domain.credits import policy
from tests.api.credit_support import CREATE, data, db_state, gid
from tests.api.test_credit_simulation import COMPARE, EXAMPLE, INVEST, SIMULATE, clp
from tests.api.test_credit_simulation import limiter as limiter  # a fixture
from tests.api.test_credits_api import agent as agent  # the lender's agent (a fixture)
from tests.api.test_credits_api import new_credit_input

LAST = """
query Last($input: SimulateCreditInput!) {
  simulateCredit(input: $input) {
    schedule { levelInstallment { minorUnits } rows { installment { minorUnits } } }
  }
}
"""

#: The two reported cases (CLP 1,000,000 with the worked example's fee and insurance).
ACT_90_600 = {**EXAMPLE, "annualRate": "0.9", "termMonths": 600, "dayCount": "ACT_365_FIXED"}
THIRTY_60_360 = {**EXAMPLE, "annualRate": "0.6", "termMonths": 360}


def validation(body: dict[str, Any]) -> str:
    """The field of a query's single VALIDATION error."""
    assert body["data"] is None, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "VALIDATION", error
    field: str = error["extensions"]["field"]
    assert [p["field"] for p in error["extensions"]["problems"]] == [field]
    return field


def refused_credit(body: dict[str, Any]) -> tuple[str, str]:
    result = data(body, "createCredit")
    assert result["__typename"] == "ValidationError", result
    assert result["code"] == "VALIDATION"
    return result["field"], result["message"]


# --- installments that do not amortise -------------------------------------------------------
@pytest.mark.parametrize(
    "terms", [ACT_90_600, THIRTY_60_360], ids=["ACT365F-90%-600", "30360-60%-360"]
)
async def test_an_installment_that_does_not_amortise_is_refused(
    gql: Any, limiter: Any, terms: dict[str, Any]
) -> None:
    body = await gql(LAST, {"input": terms})
    assert validation(body) == "termMonths"
    message = body["errors"][0]["message"]
    assert "does not amortise" in message and "shorten the term" in message
    assert validation(await gql(COMPARE, {"input": terms})) == "termMonths"


async def test_the_same_terms_over_a_shorter_term_are_fine(gql: Any, limiter: Any) -> None:
    body = await gql(LAST, {"input": {**ACT_90_600, "termMonths": 60}})
    assert "errors" not in body, body
    schedule = body["data"]["simulateCredit"]["schedule"]
    level = int(schedule["levelInstallment"]["minorUnits"])
    rows = [int(r["installment"]["minorUnits"]) - 1_500 for r in schedule["rows"]]  # insurance
    assert rows[:-1] == [level] * 59
    assert abs(rows[-1] - level) <= max(level // 100, 2 * 60)


@pytest.mark.parametrize(
    "terms", [ACT_90_600, THIRTY_60_360], ids=["ACT365F-90%-600", "30360-60%-360"]
)
async def test_a_credit_that_does_not_amortise_is_not_created(
    gql: Any, agent: str, terms: dict[str, Any]
) -> None:
    change = {k: terms[k] for k in ("annualRate", "termMonths") if k in terms}
    change["dayCount"] = terms.get("dayCount", "THIRTY_360")
    variables = {"input": await new_credit_input(**change)}
    before = await db_state()
    field, message = refused_credit(await gql(CREATE, variables, token=agent))
    assert field == "termMonths" and "does not amortise" in message
    assert await db_state() == before


# --- dates near year 9999 --------------------------------------------------------------------
DATES = [
    ({"disbursementDate": "9999-12-15", "termMonths": 1}, "disbursementDate"),
    ({"disbursementDate": "9999-12-31", "termMonths": 12}, "disbursementDate"),
    ({"disbursementDate": "9990-01-15", "termMonths": 600}, "termMonths"),
    ({"disbursementDate": "9999-01-31", "termMonths": 12}, "termMonths"),
]


@pytest.mark.parametrize(("change", "field"), DATES)
@pytest.mark.parametrize("query", [SIMULATE, COMPARE], ids=["simulate", "compare"])
async def test_a_schedule_past_year_9999_is_refused_on_the_field(
    gql: Any, limiter: Any, query: str, change: dict[str, Any], field: str
) -> None:
    body = await gql(query, {"input": {**EXAMPLE, **change}})
    assert validation(body) == field
    assert "9999-12-31" in body["errors"][0]["message"]


async def test_the_longest_term_before_9999_is_named_and_accepted(gql: Any, limiter: Any) -> None:
    body = await gql(
        SIMULATE, {"input": {**EXAMPLE, "disbursementDate": "9990-01-15", "termMonths": 600}}
    )
    assert "at most 119 months" in body["errors"][0]["message"]
    body = await gql(
        SIMULATE, {"input": {**EXAMPLE, "disbursementDate": "9990-01-15", "termMonths": 119}}
    )
    assert "errors" not in body, body
    assert body["data"]["simulateCredit"]["schedule"]["rows"][-1]["dueDate"] == "9999-12-15"


@pytest.mark.parametrize(
    ("start", "term", "field"),
    [
        ("9999-12-02", 12, "startDate"),
        ("9999-06-01", 12, "termMonths"),
        ("9960-01-01", 600, "termMonths"),
    ],
)
async def test_an_investment_past_year_9999_is_refused_on_the_field(
    gql: Any, limiter: Any, start: str, term: int, field: str
) -> None:
    variables = {
        "input": {
            "amount": clp(1_000_000),
            "annualRate": "0.12",
            "termMonths": term,
            "startDate": start,
        }
    }
    assert validation(await gql(INVEST, variables)) == field


@pytest.mark.parametrize(("change", "field"), DATES)
async def test_a_credit_past_year_9999_is_refused_on_the_field(
    gql: Any, agent: str, change: dict[str, Any], field: str
) -> None:
    variables = {"input": await new_credit_input(**change)}
    before = await db_state()
    got, message = refused_credit(await gql(CREATE, variables, token=agent))
    assert got == field and "9999-12-31" in message
    assert await db_state() == before


# --- the maximum principal -------------------------------------------------------------------
ABSURD = ["1" + "0" * 30, "1" + "0" * 29, "1" + "0" * 20, "2000000001"]


@pytest.mark.parametrize("amount", ABSURD, ids=["1e30", "1e29", "1e20", "limit+1"])
@pytest.mark.parametrize("query", [SIMULATE, COMPARE], ids=["simulate", "compare"])
async def test_an_absurd_principal_is_refused_by_the_calculators(
    gql: Any, limiter: Any, query: str, amount: str
) -> None:
    body = await gql(query, {"input": {**EXAMPLE, "principal": clp(amount)}})
    assert validation(body) == "principal.amount"
    assert (
        "too large" in body["errors"][0]["message"]
        or "maximum principal" in body["errors"][0]["message"]
    )


async def test_the_calculators_accept_the_limit_itself(gql: Any, limiter: Any) -> None:
    body = await gql(LAST, {"input": {**EXAMPLE, "principal": clp(2_000_000_000)}})
    assert "errors" not in body, body
    usd = {**EXAMPLE, "principal": {"amount": "2500000.01", "currency": "USD"}}
    usd.update(openingFee=None, monthlyInsurance=None)
    assert validation(await gql(LAST, {"input": usd})) == "principal.amount"


@pytest.mark.parametrize("amount", ["1" + "0" * 29, "1" + "0" * 20], ids=["1e29", "1e20"])
async def test_an_absurd_investment_is_refused(gql: Any, limiter: Any, amount: str) -> None:
    variables = {
        "input": {
            "amount": clp(amount),
            "annualRate": "0.12",
            "termMonths": 12,
            "startDate": "2024-01-15",
        }
    }
    assert validation(await gql(INVEST, variables)) == "amount.amount"


@pytest.mark.parametrize("amount", ABSURD, ids=["1e30", "1e29", "1e20", "limit+1"])
async def test_an_absurd_principal_creates_no_credit(gql: Any, agent: str, amount: str) -> None:
    variables = {"input": await new_credit_input(principal=clp(amount))}
    before = await db_state()
    field, _ = refused_credit(await gql(CREATE, variables, token=agent))
    assert field == "principal.amount"
    assert await db_state() == before


@pytest.fixture
def catalogue() -> Iterator[policy.CreditPolicy]:
    """A product catalogue: AUTO-USADO lends at most CLP 60,000,000 and UF 1,500."""
    configured = policy.CreditPolicy(
        product_max_principal={"AUTO-USADO": {"CLP": Decimal("60000000"), "CLF": Decimal("1500")}}
    )
    before = policy.get_policy()
    policy.configure(configured)
    yield configured
    policy.configure(before)


async def test_each_product_has_its_own_maximum(gql: Any, agent: str, catalogue: Any) -> None:
    over = clp(60_000_001)
    before = await db_state()
    field, message = refused_credit(
        await gql(
            CREATE,
            {"input": await new_credit_input(productCode="auto-usado", principal=over)},
            token=agent,
        )
    )
    assert field == "principal.amount"
    assert "AUTO-USADO" in message and "60000000 CLP" in message
    assert await db_state() == before
    # the limit itself is lent; another product keeps the general limit
    at_limit = await new_credit_input(productCode="AUTO-USADO", principal=clp(60_000_000))
    created = data(await gql(CREATE, {"input": at_limit}, token=agent), "createCredit")
    assert created["__typename"] == "CreateCreditSuccess", created
    other = await new_credit_input(productCode="AUTO-NUEVO", principal=over)
    created = data(await gql(CREATE, {"input": other}, token=agent), "createCredit")
    assert created["__typename"] == "CreateCreditSuccess", created
    assert created["credit"]["principal"]["amount"] == "60000001"
    assert created["credit"]["customer"]["id"] == other["customerId"] != gid("Customer", "0" * 32)

"""The audit's "an investor loses principal on paper", through the GraphQL API (issue 9):
fund 40 % of an active credit, then book a payment dated earlier the same day. The
investor's outstanding principal falls by exactly what is distributed to it
(docs/investors.md §2)."""

from __future__ import annotations

from typing import Any

from domain.credits.calendar import add_months
from tests.api.credit_support import PAY, local_today
from tests.api.credit_support import data as credit_data
from tests.api.investor_support import (
    PORTFOLIO,
    data,
    disburse,
    gid,
    make_credit,
    make_investor,
)
from tests.api.test_credits_api import agent as agent  # the lender's agent (a fixture)
from tests.api.test_credits_api import pay_input
from tests.api.test_investors_api import fund
from tests.api.test_investors_api import supervisor as supervisor  # a fixture


async def portfolio(gql: Any, token: str, investor_id: Any) -> dict[str, Any]:
    body = await gql(PORTFOLIO, {"id": gid("Investor", investor_id)}, token=token)
    (clp,) = data(body, "investorPortfolio")["currencies"]
    return dict(clp)


async def test_a_payment_dated_earlier_the_same_day_reaches_the_investor(
    gql: Any, supervisor: str, agent: str, db: Any
) -> None:
    credit = await make_credit()  # CLP 12,000,000 at 18 % over 12 months
    await disburse(credit.id, add_months(local_today(), -1))  # the first installment: today
    investor = await make_investor()
    funded = await fund(
        gql,
        supervisor,
        creditId=gid("Credit", credit.id),
        investorId=gid("Investor", investor.id),
        share="0.4",
    )
    assert funded["__typename"] == "FundCreditSuccess", funded
    assert funded["funding"]["invested"]["minorUnits"] == "4800000"
    before = await portfolio(gql, supervisor, investor.id)
    assert before["outstandingPrincipal"]["minorUnits"] == "4800000"

    # noon in Santiago today: earlier than the funding (the suite's clock is past 15:00)
    paid = await gql(
        PAY, pay_input(gid("Credit", credit.id), "381172", key="same-day"), token=agent
    )
    result = credit_data(paid, "registerPayment")
    assert result["__typename"] == "RegisterPaymentSuccess", result
    principal = sum(
        int(a["amount"]["minorUnits"])
        for a in result["payment"]["allocations"]
        if a["component"] == "PRINCIPAL"
    )
    assert principal == 201_172

    after = await portfolio(gql, supervisor, investor.id)
    fallen = 4_800_000 - int(after["outstandingPrincipal"]["minorUnits"])
    received = int(after["receivedPrincipal"]["minorUnits"])
    assert received == fallen == 201_172 * 4 // 10  # 80,468 (before the fix: 0 and 80,469)
    (position,) = after["positions"]
    assert int(position["outstandingPrincipal"]["minorUnits"]) == 4_800_000 - received
    assert int(position["invested"]["minorUnits"]) == 4_800_000

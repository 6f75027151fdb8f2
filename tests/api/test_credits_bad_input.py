"""Every bad input to the credit API refused with a typed error naming the input field, and
nothing written (the issue's list: negative or zero amounts, unknown currency, a rate above
the configured maximum, a term of zero, a payment on a cancelled credit — and more)."""

from __future__ import annotations

from tests.api.credit_support import (
    CREATE,
    DEMO,
    PAY,
    data,
    db_state,
    demo_credits,
    error_code,
    gid,
)
from tests.api.test_credits_api import agent as agent  # the lender's agent (a fixture)
from tests.api.test_credits_api import new_credit_input, pay_input

# --- bad input: refused clearly, nothing written --------------------------------------------
CREATE_REFUSALS = {
    "negative amount": ({"principal": {"amount": "-5", "currency": "CLP"}}, "principal.amount"),
    "zero amount": ({"principal": {"amount": "0", "currency": "CLP"}}, "principal.amount"),
    "unknown currency": ({"principal": {"amount": "100", "currency": "XYZ"}}, "principal.currency"),
    "too many decimals": ({"principal": {"amount": "10.5", "currency": "CLP"}}, "principal.amount"),
    "rate above the maximum": ({"annualRate": "2.5"}, "annualRate"),
    "negative rate": ({"annualRate": "-0.1"}, "annualRate"),
    "late rate above the cap": ({"lateAnnualRate": "0.9"}, "lateAnnualRate"),
    "term of zero": ({"termMonths": 0}, "termMonths"),
    "fee in another currency": ({"openingFee": {"amount": "10", "currency": "USD"}}, "openingFee"),
    "unknown customer": ({"customerId": gid("Customer", "0" * 32)}, "customerId"),
    "malformed customer id": ({"customerId": "x"}, "customerId"),
    "bad product code": ({"productCode": "no spaces allowed"}, "productCode"),
    "repeated allocation component": (
        {"allocationOrder": ["PRINCIPAL", "PRINCIPAL", "INTEREST", "CHARGES"]},
        "allocationOrder",
    ),
}


async def test_bad_credits_are_refused_and_nothing_is_written(gql, agent, subtests):
    inputs = {
        name: await new_credit_input(**change) for name, (change, _) in CREATE_REFUSALS.items()
    }
    before = await db_state()
    for name, (_, field) in CREATE_REFUSALS.items():
        with subtests.test(name):
            result = data(await gql(CREATE, {"input": inputs[name]}, token=agent), "createCredit")
            assert result["__typename"] == "ValidationError", result
            assert result["code"] == "VALIDATION"
            assert field in [p["field"] for p in result["problems"]], result
    assert await db_state() == before


PAYMENT_REFUSALS = {
    "zero amount": ({"amount": {"amount": "0", "currency": "CLP"}}, "amount.amount"),
    "negative amount": ({"amount": {"amount": "-100", "currency": "CLP"}}, "amount.amount"),
    "fractional pesos": ({"amount": {"amount": "10.50", "currency": "CLP"}}, "amount.amount"),
    "unknown currency": ({"amount": {"amount": "100", "currency": "XYZ"}}, "amount.currency"),
    "another currency": ({"amount": {"amount": "100", "currency": "USD"}}, "amount.currency"),
    "in the future": ({"paidAt": "2999-01-01T12:00:00+00:00"}, "paidAt"),
    "no timezone": ({"paidAt": "2024-01-01T12:00:00"}, "paidAt"),
    "before disbursement": ({"paidAt": "2001-01-01T12:00:00+00:00"}, "paidAt"),
    "blank reference": ({"reference": "  "}, "reference"),
    "bad idempotency key": ({"idempotencyKey": "has spaces"}, "idempotencyKey"),
    "malformed credit id": ({"creditId": "nope"}, "creditId"),
}


async def test_bad_payments_are_refused_and_nothing_is_written(gql, agent, subtests):
    demo = await demo_credits()
    active = gid("Credit", demo["DHPS62"].id)
    before = await db_state()
    for name, (change, field) in PAYMENT_REFUSALS.items():
        with subtests.test(name):
            variables = pay_input(active, "1000", key="bad-1")
            variables["input"].update(change)
            body = await gql(PAY, variables, token=agent)
            if "errors" in body:  # a DateTime the scalar itself refuses
                assert error_code(body) == "BAD_USER_INPUT" and name == "no timezone", body
                continue
            result = body["data"]["registerPayment"]
            assert result["__typename"] == "ValidationError", result
            assert field in [p["field"] for p in result["problems"]], result
    for plate, why in (("CXLT45", "cancelled"), ("BKDR21", "disbursed"), ("GLTV14", "paid off")):
        with subtests.test(f"a payment on a {DEMO[plate].lower()} credit"):
            body = await gql(
                PAY, pay_input(gid("Credit", demo[plate].id), "1000", key="bad-2"), token=agent
            )
            result = data(body, "registerPayment")
            assert result["__typename"] == "ValidationError" and result["field"] == "creditId"
            assert why in result["message"]
    with subtests.test("an unknown credit"):
        body = await gql(PAY, pay_input(gid("Credit", "0" * 32), "1000", key="bad-3"), token=agent)
        assert data(body, "registerPayment")["__typename"] == "NotFoundError"
    assert await db_state() == before

"""The credit registry through the GraphQL API: reads of the demo credits, the lifecycle
mutations, payments, UF values, and every bad input refused with a typed error and nothing
written. Access rules and statement counts: ``test_credits_access.py``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.api.credit_support import (
    CANCEL,
    CREATE,
    DEMO,
    DISBURSE,
    LIST,
    LOAD_UF,
    PAY,
    PAYMENT_FIELDS,
    REFUND,
    RESTRUCTURE,
    REVERSE,
    WRITE_OFF,
    all_credits,
    at_noon,
    customers_without_credits,
    data,
    db_state,
    demo_credits,
    error_code,
    gid,
    local_today,
    partner_ids,
)


@pytest.fixture
def agent(token: Any) -> str:
    return str(token("agent", partner="AUTOCREDITO"))


@pytest.fixture
def supervisor(token: Any) -> str:
    return str(token("supervisor", partner="AUTOCREDITO"))


@pytest.fixture
def admin(token: Any) -> str:
    return str(token("admin"))


async def new_credit_input(**overrides: Any) -> dict[str, Any]:
    (customer,) = await customers_without_credits(1)
    values: dict[str, Any] = {
        "customerId": gid("Customer", customer.id),
        "productCode": "auto-nuevo",
        "principal": {"amount": "10000000", "currency": "CLP"},
        "annualRate": "0.15",
        "termMonths": 24,
        "disbursementDate": local_today().isoformat(),
        "openingFee": {"amount": "120000", "currency": "CLP"},
        "monthlyInsurance": {"amount": "9000", "currency": "CLP"},
        "vehicleRef": "  ZZTT  99 ",
    }
    values.update(overrides)
    return values


async def create(gql: Any, who: str, **overrides: Any) -> dict[str, Any]:
    body = await gql(CREATE, {"input": await new_credit_input(**overrides)}, token=who)
    result = data(body, "createCredit")
    assert result["__typename"] == "CreateCreditSuccess", result
    return dict(result["credit"])


async def disbursed(gql: Any, who: str, days_ago: int = 0, **overrides: Any) -> dict[str, Any]:
    credit = await create(gql, who, **overrides)
    day = local_today() - timedelta(days=days_ago)
    body = await gql(
        DISBURSE,
        {"input": {"id": credit["id"], "version": credit["version"], "disbursementDate": str(day)}},
        token=who,
    )
    result = data(body, "disburseCredit")
    assert result["__typename"] == "DisburseCreditSuccess", result
    return dict(result["credit"])


def pay_input(credit_id: str, amount: str, *, key: str, days_ago: int = 0, **more: Any) -> Any:
    return {
        "input": {
            "creditId": credit_id,
            "amount": {"amount": amount, "currency": more.pop("currency", "CLP")},
            "paidAt": at_noon(local_today() - timedelta(days=days_ago)),
            "reference": f"TRF {key}",
            "idempotencyKey": key,
            **more,
        }
    }


# --- reads ----------------------------------------------------------------------------------
async def test_the_demo_credits_cover_every_status(gql, admin):
    body = await gql(
        "{ credits(first: 100) { totalCount edges { node { vehicleRef status currency } } } }",
        token=admin,
    )
    page = data(body, "credits")
    seen = {e["node"]["vehicleRef"]: e["node"]["status"] for e in page["edges"]}
    assert {plate: seen.get(plate) for plate in DEMO} == DEMO
    assert set(DEMO.values()) == {
        "APPROVED",
        "ACTIVE",
        "DELINQUENT",
        "PAID_OFF",
        "RESTRUCTURED",
        "WRITTEN_OFF",
        "CANCELLED",
    }
    assert page["totalCount"] == len(await all_credits())
    currencies = {e["node"]["currency"] for e in page["edges"]}
    assert currencies >= {"CLP", "CLF", "ARS"}


async def test_a_credit_with_its_schedules_payments_and_position(gql, agent):
    credit = (await demo_credits())["HMZB57"]  # restructured
    query = f"""
    query Get($id: ID!) {{
      credit(id: $id) {{
        reference status scheduleNo
        installments {{ scheduleNo number dueDate status installment {{ amount }} }}
        schedules {{
          number reason inForce closedOn startDate termMonths principal {{ amount }}
          carriedPrincipal {{ amount }} carriedInterest {{ amount }}
          rows {{ scheduleNo number status outstanding {{ amount }} }}
        }}
        payments(first: 3) {{
          totalCount pageInfo {{ hasNextPage endCursor }}
          edges {{ cursor node {{ {PAYMENT_FIELDS} }} }}
        }}
        position {{
          asOf daysPastDue agingBucket outstandingPrincipal {{ amount currency }}
          overdue {{ amount }} lateInterestDue {{ amount }} creditBalance {{ amount }}
          nextInstallment {{ number dueDate }} installments {{ number status }}
        }}
      }}
    }}
    """
    result = data(await gql(query, {"id": gid("Credit", credit.id)}, token=agent), "credit")
    assert result["status"] == "RESTRUCTURED" and result["scheduleNo"] == 2
    original, current = result["schedules"]
    assert (original["reason"], original["inForce"]) == ("ORIGINAL", False)
    assert original["closedOn"] == current["startDate"]
    assert (current["reason"], current["inForce"], current["termMonths"]) == (
        "RESTRUCTURE",
        True,
        60,
    )
    assert Decimal(current["carriedPrincipal"]["amount"]) > 0
    assert {r["status"] for r in original["rows"]} >= {"PAID", "RESTRUCTURED"}
    assert all(
        r["outstanding"]["amount"] == "0" for r in original["rows"] if r["status"] != "PENDING"
    )
    assert [r["number"] for r in result["installments"]] == list(range(1, 61))
    assert {r["scheduleNo"] for r in result["installments"]} == {2}
    payments = result["payments"]
    assert payments["totalCount"] == 5 and payments["pageInfo"]["hasNextPage"]
    first = payments["edges"][0]["node"]
    assert first["status"] == "BOOKED" and first["scheduleNo"] == 1
    assert sum(Decimal(a["amount"]["amount"]) for a in first["allocations"]) == Decimal(
        first["allocatedAmount"]["amount"]
    )
    more = await gql(
        "query P($id: ID!, $after: String) { credit(id: $id) { payments(first: 5, after: $after)"
        " { pageInfo { hasNextPage hasPreviousPage } edges { node { scheduleNo } } } } }",
        {"id": gid("Credit", credit.id), "after": payments["pageInfo"]["endCursor"]},
        token=agent,
    )
    rest = data(more, "credit")["payments"]
    assert [e["node"]["scheduleNo"] for e in rest["edges"]] == [1, 2]
    assert rest["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}
    position = result["position"]
    assert position["asOf"] == local_today().isoformat()
    assert position["daysPastDue"] == 0 and position["agingBucket"] == "CURRENT"
    assert position["outstandingPrincipal"]["currency"] == "CLP"
    assert position["nextInstallment"]["number"] == 2


async def test_a_delinquent_credit_shows_days_past_due_and_its_bucket(gql, agent):
    credit = (await demo_credits())["FJRW83"]
    query = """query G($id: ID!) { credit(id: $id) { status daysPastDue agingBucket
      delinquentSince position { daysPastDue agingBucket overdue { amount }
      lateInterestDue { amount } } } }"""
    result = data(await gql(query, {"id": gid("Credit", credit.id)}, token=agent), "credit")
    assert result["status"] == "DELINQUENT"
    assert 31 <= result["position"]["daysPastDue"] <= 60
    assert result["position"]["agingBucket"] == "DAYS_31_60"
    assert Decimal(result["position"]["overdue"]["amount"]) > 0
    assert Decimal(result["position"]["lateInterestDue"]["amount"]) > 0
    assert result["delinquentSince"] is not None


async def test_an_approved_credit_has_a_planned_schedule_and_no_position(gql, agent):
    credit = (await demo_credits())["BKDR21"]
    query = (
        "query G($id: ID!) { credit(id: $id) { status installments { number } position { asOf } } }"
    )
    result = data(await gql(query, {"id": gid("Credit", credit.id)}, token=agent), "credit")
    assert result["status"] == "APPROVED" and len(result["installments"]) == 48
    assert result["position"] is None


async def test_the_list_pages_filters_and_counts(gql, agent, admin, subtests):
    ids = await partner_ids()
    everything = await all_credits()
    ours = {c.vehicle_ref for c in everything if c.partner_id == ids["AUTOCREDITO"]}
    assert ours >= {k for k in DEMO if k != "AB123CD"}
    first = data(await gql(LIST, {"first": 3}, token=agent), "credits")
    assert first["totalCount"] == len(ours)
    assert first["pageInfo"]["hasNextPage"] and not first["pageInfo"]["hasPreviousPage"]
    seen = [e["node"]["vehicleRef"] for e in first["edges"]]
    after = first["pageInfo"]["endCursor"]
    while after:
        page = data(await gql(LIST, {"first": 3, "after": after}, token=agent), "credits")
        seen += [e["node"]["vehicleRef"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert sorted(seen) == sorted(ours) and len(seen) == len(ours)
    references = [e["node"]["reference"] for e in first["edges"]]
    assert references == sorted(references, reverse=True)  # newest first

    cases = {
        "status": (
            {"status": ["DELINQUENT", "WRITTEN_OFF"]},
            {c.vehicle_ref for c in everything if c.status in ("DELINQUENT", "WRITTEN_OFF")},
        ),
        "bucket": (
            {"agingBucket": ["DAYS_31_60"]},
            {c.vehicle_ref for c in everything if c.aging_bucket == "31-60"},
        ),
        "reference": ({"reference": "cr-"}, ours),
    }
    for name, (condition, expected) in cases.items():
        with subtests.test(name):
            page = data(await gql(LIST, {"filter": condition}, token=agent), "credits")
            assert {e["node"]["vehicleRef"] for e in page["edges"]} == expected
    pampa = {"lenderId": gid("Partner", ids["BANCO_PAMPA"])}
    page = data(await gql(LIST, {"filter": pampa}, token=admin), "credits")
    assert [e["node"]["lender"]["code"] for e in page["edges"]] == ["BANCO_PAMPA"]
    demo = await demo_credits()
    mine = {"customerId": gid("Customer", demo["DHPS62"].customer_id)}
    page = data(await gql(LIST, {"filter": mine}, token=agent), "credits")
    assert [e["node"]["vehicleRef"] for e in page["edges"]] == ["DHPS62"]
    with subtests.test("a bad customer id"):
        body = await gql(LIST, {"filter": {"customerId": "nope"}}, token=agent)
        assert error_code(body) == "VALIDATION"
        assert body["errors"][0]["extensions"]["field"] == "filter.customerId"
    with subtests.test("a bad cursor"):
        body = await gql(LIST, {"after": "garbage"}, token=agent)
        assert error_code(body) == "VALIDATION"


async def test_by_reference_node_and_entities(gql, agent):
    credit = (await demo_credits())["DHPS62"]
    by_ref = await gql(
        "query R($r: String!) { creditByReference(reference: $r) { id vehicleRef } }",
        {"r": credit.reference.lower()},
        token=agent,
    )
    assert data(by_ref, "creditByReference") == {
        "id": gid("Credit", credit.id),
        "vehicleRef": "DHPS62",
    }
    missing = await gql(
        'query { creditByReference(reference: "CR-1999-000001") { id } }', token=agent
    )
    assert data(missing, "creditByReference") is None
    payments = data(
        await gql(
            "query G($id: ID!) { credit(id: $id) { payments { edges { node { id } } } } }",
            {"id": gid("Credit", credit.id)},
            token=agent,
        ),
        "credit",
    )["payments"]["edges"]
    payment_id = payments[0]["node"]["id"]
    nodes = await gql(
        "query N($ids: [ID!]!) { nodes(ids: $ids) { __typename id"
        " ... on Credit { vehicleRef } ... on Payment { status credit { vehicleRef } } } }",
        {"ids": [gid("Credit", credit.id), payment_id, gid("Credit", payment_id)]},
        token=agent,
    )
    found = data(nodes, "nodes")
    assert found[0] == {
        "__typename": "Credit",
        "id": gid("Credit", credit.id),
        "vehicleRef": "DHPS62",
    }
    assert found[1]["__typename"] == "Payment" and found[1]["credit"]["vehicleRef"] == "DHPS62"
    assert found[2] is None
    entities = await gql(
        "query E($r: [_Any!]!) { _entities(representations: $r) { ... on Credit { reference } } }",
        {"r": [{"__typename": "Credit", "id": gid("Credit", credit.id)}]},
        token=agent,
    )
    assert data(entities, "_entities") == [{"reference": credit.reference}]


# --- the lifecycle --------------------------------------------------------------------------
async def test_create_disburse_pay_reverse_and_write_off(gql, agent, supervisor):
    credit = await create(gql, agent)
    assert credit["status"] == "APPROVED" and credit["version"] == 1
    assert credit["productCode"] == "AUTO-NUEVO" and credit["vehicleRef"] == "ZZTT 99"
    assert credit["principal"] == {
        "amount": "10000000",
        "currency": "CLP",
        "minorUnits": "10000000",
    }
    assert credit["charges"]["openingFee"]["amount"] == "120000"
    assert credit["lender"]["code"] == "AUTOCREDITO"
    assert credit["allocationOrder"] == ["LATE_INTEREST", "CHARGES", "INTEREST", "PRINCIPAL"]
    stale = await gql(DISBURSE, {"input": {"id": credit["id"], "version": 7}}, token=agent)
    refused = data(stale, "disburseCredit")
    assert refused["__typename"] == "ConflictError" and refused["currentVersion"] == 1
    day = local_today() - timedelta(days=40)
    body = await gql(
        DISBURSE,
        {"input": {"id": credit["id"], "version": 1, "disbursementDate": str(day)}},
        token=agent,
    )
    credit = data(body, "disburseCredit")["credit"]
    assert credit["status"] == "DELINQUENT" and credit["disbursementDate"] == str(day)
    again = data(
        await gql(
            DISBURSE, {"input": {"id": credit["id"], "version": credit["version"]}}, token=agent
        ),
        "disburseCredit",
    )
    assert again["__typename"] == "InvalidTransitionError"
    assert (again["fromState"], again["toState"]) == ("DELINQUENT", "ACTIVE")

    paid = data(
        await gql(PAY, pay_input(credit["id"], "600000", key="k-1"), token=agent), "registerPayment"
    )
    assert paid["__typename"] == "RegisterPaymentSuccess", paid
    payment = paid["payment"]
    assert payment["status"] == "BOOKED" and payment["paidOn"] == local_today().isoformat()
    assert paid["credit"]["status"] == "ACTIVE"
    allocated = sum(Decimal(a["amount"]["amount"]) for a in payment["allocations"])
    held = Decimal(payment["heldAmount"]["amount"])
    assert allocated + held == Decimal("600000")
    assert Decimal(paid["credit"]["creditBalance"]["amount"]) == held
    repeat = data(
        await gql(PAY, pay_input(credit["id"], "600000", key="k-1"), token=agent), "registerPayment"
    )
    assert repeat["payment"]["id"] == payment["id"]
    clash = data(
        await gql(PAY, pay_input(credit["id"], "1", key="k-1"), token=agent), "registerPayment"
    )
    assert clash["__typename"] == "ConflictError" and "k-1" in clash["message"]

    reverse = {"input": {"id": payment["id"], "reason": "cheque sin fondos"}}
    undone = data(await gql(REVERSE, reverse, token=agent), "reversePayment")
    assert undone["__typename"] == "ReversePaymentSuccess", undone
    assert undone["payment"]["status"] == "REVERSED" and undone["payment"]["allocations"] == []
    assert undone["payment"]["reversalReason"] == "cheque sin fondos"
    assert undone["credit"]["status"] == "DELINQUENT"
    twice = data(await gql(REVERSE, reverse, token=agent), "reversePayment")
    assert twice["__typename"] == "InvalidTransitionError"

    version = undone["credit"]["version"]
    write_off = {"input": {"id": credit["id"], "version": version, "reason": "incobrable"}}
    refused = data(await gql(WRITE_OFF, write_off, token=agent), "writeOffCredit")
    assert refused["__typename"] == "ForbiddenError" and refused["code"] == "FORBIDDEN"
    done = data(await gql(WRITE_OFF, write_off, token=supervisor), "writeOffCredit")
    assert (
        done["credit"]["status"] == "WRITTEN_OFF" and done["credit"]["statusReason"] == "incobrable"
    )
    late = data(
        await gql(PAY, pay_input(credit["id"], "1000", key="k-2"), token=agent), "registerPayment"
    )
    assert late["__typename"] == "ValidationError" and late["field"] == "creditId"


async def test_cancel_an_approved_credit(gql, agent):
    credit = await create(gql, agent)
    body = await gql(
        CANCEL, {"input": {"id": credit["id"], "version": 1, "reason": "  desistió  "}}, token=agent
    )
    cancelled = data(body, "cancelCredit")["credit"]
    assert cancelled["status"] == "CANCELLED" and cancelled["statusReason"] == "desistió"
    blank = {"input": {"id": credit["id"], "version": cancelled["version"], "reason": " "}}
    assert data(await gql(CANCEL, blank, token=agent), "cancelCredit")["field"] == "reason"
    disburse = {"input": {"id": credit["id"], "version": cancelled["version"]}}
    assert data(await gql(DISBURSE, disburse, token=agent), "disburseCredit")["__typename"] == (
        "InvalidTransitionError"
    )


async def test_restructure_keeps_the_old_schedule(gql, agent, supervisor):
    credit = (await demo_credits())["FJRW83"]  # delinquent
    variables = {
        "input": {
            "id": gid("Credit", credit.id),
            "version": credit.version,
            "termMonths": 36,
            "reason": "reprogramación",
            "annualRate": "0.14",
        }
    }
    refused = data(await gql(RESTRUCTURE, variables, token=agent), "restructureCredit")
    assert refused["__typename"] == "ForbiddenError"
    result = data(await gql(RESTRUCTURE, variables, token=supervisor), "restructureCredit")
    assert result["__typename"] == "RestructureCreditSuccess", result
    after = result["credit"]
    assert after["status"] == "RESTRUCTURED" and after["scheduleNo"] == 2
    old, new = after["schedules"]
    assert old["closedOn"] is not None and new["inForce"] and new["termMonths"] == 36
    assert len(new["rows"]) == 36 and "RESTRUCTURED" in {r["status"] for r in old["rows"]}
    stale = data(await gql(RESTRUCTURE, variables, token=supervisor), "restructureCredit")
    assert stale["__typename"] == "ConflictError" and stale["currentVersion"] == after["version"]


async def test_an_overpayment_is_kept_and_refunded(gql, agent):
    credit = await disbursed(gql, agent, days_ago=10)
    paid = data(
        await gql(PAY, pay_input(credit["id"], "250000", key="over"), token=agent),
        "registerPayment",
    )
    assert paid["payment"]["heldAmount"]["amount"] == "250000"  # nothing is due yet
    version = paid["credit"]["version"]
    too_much = {
        "input": {
            "creditId": credit["id"],
            "version": version,
            "reference": "DEV-1",
            "amount": {"amount": "250001", "currency": "CLP"},
        }
    }
    refused = data(await gql(REFUND, too_much, token=agent), "refundCreditBalance")
    assert refused["__typename"] == "ValidationError" and refused["field"] == "amount.amount"
    part = {"input": {**too_much["input"], "amount": {"amount": "50000", "currency": "CLP"}}}
    refunded = data(await gql(REFUND, part, token=agent), "refundCreditBalance")
    assert refunded["refund"]["amount"] == {"amount": "50000", "currency": "CLP"}
    assert refunded["credit"]["creditBalance"]["amount"] == "200000"
    rest = {"input": {**too_much["input"], "version": refunded["credit"]["version"]}}
    del rest["input"]["amount"]
    final = data(await gql(REFUND, rest, token=agent), "refundCreditBalance")
    assert final["refund"]["amount"]["amount"] == "200000"
    assert final["credit"]["creditBalance"]["amount"] == "0"


async def test_uf_values_and_a_peso_payment_on_a_uf_credit(gql, agent, admin):
    day = local_today() - timedelta(days=2)
    loaded = data(
        await gql(LOAD_UF, {"csv": f"fecha;valor\n{day:%d-%m-%Y};40.123,45\n"}, token=admin),
        "loadUfValues",
    )
    assert loaded["__typename"] == "LoadUfValuesSuccess"
    assert (loaded["inserted"], loaded["updated"], loaded["unchanged"]) == (0, 1, 0)
    assert loaded["firstDay"] == loaded["lastDay"] == str(day)
    credit = (await demo_credits())["KPWX76"]
    body = await gql(
        PAY, pay_input(gid("Credit", credit.id), "401234", key="uf-1", days_ago=2), token=agent
    )
    payment = data(body, "registerPayment")["payment"]
    assert payment["ufValue"] == "40123.45"
    assert payment["amount"] == {"amount": "401234", "currency": "CLP", "minorUnits": "401234"}
    assert payment["creditAmount"]["currency"] == "CLF"
    assert payment["creditAmount"]["amount"] == "10.0000"  # 401234 / 40123.45, 4 decimals
    usd = pay_input(gid("Credit", credit.id), "100", key="uf-2", currency="USD")
    refused = data(await gql(PAY, usd, token=agent), "registerPayment")
    assert refused["__typename"] == "ValidationError" and refused["field"] == "amount.currency"


async def test_loading_uf_values_is_for_administrators_and_checks_every_line(gql, agent, admin):
    before = await db_state()
    refused = data(await gql(LOAD_UF, {"csv": "2020-01-01,28309.94"}, token=agent), "loadUfValues")
    assert refused["__typename"] == "ForbiddenError"
    bad = "2020-01-01,28309.94\n2020-01-02,abc\n2020-13-01,1\n"
    result = data(await gql(LOAD_UF, {"csv": bad}, token=admin), "loadUfValues")
    assert result["__typename"] == "ValidationError" and result["field"] == "csv"
    assert [p["message"][:6] for p in result["problems"]] == ["line 2", "line 3"]
    assert await db_state() == before

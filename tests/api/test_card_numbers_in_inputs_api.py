"""No card number gets in through any text a user sends: every mutation refuses one with a
ValidationError naming the field, and writes nothing (no row, no audit record, no event).
The numbers are written the ways the outside audit wrote them."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session
from domain.credits.models import Payment
from domain.shared.models import SQLModel
from tests.api.attachment_support import open_case, partner_id
from tests.api.credit_support import at_noon, demo_credits, local_today
from tests.api.investor_support import demo_investors, new_input, new_rut
from tests.api.test_credits_api import new_credit_input

FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in "4111111111111111")
ARABIC_INDIC = "".join(chr(0x0660 + int(d)) for d in "5555555555554444")
WRITTEN = {
    "slashes": "4111/1111/1111/1111",
    "spaced dashes": "4111 - 1111 - 1111 - 1111",
    "en dashes": "4111\u20131111\u20131111\u20131111",
    "underscores": "4111_1111_1111_1111",
    "full-width": FULL_WIDTH,
    "arabic-indic": ARABIC_INDIC,
    "with cvv": "4111111111111111 123",
    "amex": "3782 822463 10005",
}


def digits_of(text: str) -> str:
    """The digits of ``text`` as ASCII digits (for fields that take only those)."""
    return "".join(str(unicodedata.decimal(c)) for c in text if c.isdigit())


def gid(type_name: str, key: uuid.UUID | str) -> str:
    from strawberry import relay

    return str(relay.GlobalID(type_name, str(key)))


def document(name: str, input_type: str) -> str:
    return (
        f"mutation M($input: {input_type}!) {{ {name}(input: $input) {{ __typename "
        "... on ValidationError { code field message problems { field message } } } }"
    )


async def database() -> dict[str, list[str]]:
    """Every row of every table."""
    out: dict[str, list[str]] = {}
    async with read_session() as session:
        for table in SQLModel.metadata.sorted_tables:
            rows = (await session.execute(sa.select(table))).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
    return out


Build = Callable[[str], Awaitable[dict[str, Any]]]


# --- what each mutation is sent: (mutation, input type, role, partner, field, build) --------
async def _case() -> Any:
    return await open_case("BANCO_ANDINO")


async def open_case_input(pan: str) -> dict[str, Any]:
    case = await _case()
    return {
        "customerId": gid("Customer", case.customer_id),
        "typologyCode": "DEVOLUCION_INTERESES",
        "channel": "BRANCH",
        "description": f"El cliente reclama el cargo en la tarjeta {pan}",
    }


async def comment_input(pan: str) -> dict[str, Any]:
    case = await _case()
    return {"caseId": gid("Case", case.id), "version": 1, "body": f"Tarjeta {pan}"}


async def transition_input(pan: str) -> dict[str, Any]:
    case = await _case()
    return {"id": gid("Case", case.id), "version": 1, "toStatus": "IN_PROGRESS", "note": pan}


async def resolve_input(pan: str) -> dict[str, Any]:
    case = await _case()
    return {"id": gid("Case", case.id), "version": 1, "code": "FAVORABLE", "note": f"ok {pan}"}


async def derive_input(pan: str) -> dict[str, Any]:
    case = await _case()
    to = gid("Partner", await partner_id("RETAIL_SUR"))
    return {"id": gid("Case", case.id), "version": 1, "to": to, "reason": f"tarjeta {pan}"}


async def resolve_many_input(pan: str) -> dict[str, Any]:
    case = await _case()
    return {"code": "FAVORABLE", "note": f"tarjeta {pan}", "ids": [gid("Case", case.id)]}


async def connector_input(pan: str) -> dict[str, Any]:
    digits = digits_of(pan)
    return {
        "partnerId": gid("Partner", await partner_id("BANCO_ANDINO")),
        "endpointUrl": f"https://crm.bancoandino.cl/casos/{digits}",
        "authType": "NONE",
        "signingSecret": "s" * 40,
    }


async def report_input(pan: str) -> dict[str, Any]:
    case = await _case()
    return {
        "caseRef": case.reference,
        "partnerStatus": f"EN_PROCESO {pan}",
        "occurredAt": at_noon(local_today()),
        "externalVersion": 1,
    }


async def credit_product_input(pan: str) -> dict[str, Any]:
    return await new_credit_input(productCode=digits_of(pan))


async def credit_vehicle_input(pan: str) -> dict[str, Any]:
    return await new_credit_input(vehicleRef=pan)


async def _credit(plate: str) -> Any:
    return (await demo_credits())[plate]


async def cancel_input(pan: str) -> dict[str, Any]:
    credit = next(c for c in (await demo_credits()).values() if c.status == "APPROVED")
    return {"id": gid("Credit", credit.id), "version": credit.version, "reason": pan}


async def write_off_input(pan: str) -> dict[str, Any]:
    credit = next(c for c in (await demo_credits()).values() if c.status == "DELINQUENT")
    return {"id": gid("Credit", credit.id), "version": credit.version, "reason": f"x {pan}"}


def _payment(credit: Any, **change: Any) -> dict[str, Any]:
    values = {
        "creditId": gid("Credit", credit.id),
        "amount": {"amount": "1000", "currency": "CLP"},
        "paidAt": at_noon(local_today() - timedelta(days=1)),
        "reference": "TRF 991",
        "idempotencyKey": f"key-{uuid.uuid4().hex[:8]}",
    }
    values.update(change)
    return values


async def _active() -> Any:
    return next(c for c in (await demo_credits()).values() if c.status == "ACTIVE")


async def payment_reference_input(pan: str) -> dict[str, Any]:
    return _payment(await _active(), reference=f"TRF {pan}")


async def payment_key_input(pan: str) -> dict[str, Any]:
    return _payment(await _active(), idempotencyKey=digits_of(pan))


async def reverse_input(pan: str) -> dict[str, Any]:
    async with read_session() as session:
        payment = (await session.execute(sa.select(Payment).limit(1))).scalars().first()  # type: ignore[arg-type]
    assert payment is not None, "the demo data has payments"
    return {"id": gid("Payment", payment.id), "reason": f"duplicado {pan}"}


async def customer_email_input(pan: str) -> dict[str, Any]:
    digits = digits_of(pan)
    return {
        "nationalId": {"type": "CL_RUT", "number": new_rut()},
        "givenNames": "Ana",
        "familyNames": "Pérez",
        "email": f"{digits}@correo.cl",
    }


async def customer_address_input(pan: str) -> dict[str, Any]:
    return {
        "nationalId": {"type": "CL_RUT", "number": new_rut()},
        "givenNames": "Ana",
        "familyNames": "Pérez",
        "address": {"line1": f"Av. Apoquindo {pan}", "city": "Santiago", "country": "CL"},
    }


async def investor_name_input(pan: str) -> dict[str, Any]:
    return new_input(legalName=f"Inversiones {pan} SpA")


async def investor_account_input(pan: str) -> dict[str, Any]:
    digits = digits_of(pan)
    return new_input(bankAccount={"bankCode": "012", "accountType": "VISTA", "number": digits})


async def investor_email_input(pan: str) -> dict[str, Any]:
    return new_input(email=f"{digits_of(pan)}@pacifico.cl")


async def kyc_input(pan: str) -> dict[str, Any]:
    investor = next(iter((await demo_investors()).values()))
    return {
        "id": gid("Investor", investor.id),
        "status": "REJECTED",
        "note": f"documento con tarjeta {pan}",
        "version": investor.version,
    }


async def oauth_client_input(pan: str) -> dict[str, Any]:
    return {
        "name": f"Integración {pan}",
        "roles": ["partner_system"],
        "partnerId": gid("Partner", await partner_id("BANCO_ANDINO")),
    }


# (mutation, input type, role, partner, field, build)
CASES: dict[str, tuple[str, str, str, str | None, str, Build]] = {
    "openCase.description": (
        "openCase",
        "OpenCaseInput",
        "agent",
        "BANCO_ANDINO",
        "description",
        open_case_input,
    ),
    "addCaseComment.body": (
        "addCaseComment",
        "AddCaseCommentInput",
        "agent",
        "BANCO_ANDINO",
        "body",
        comment_input,
    ),
    "transitionCase.note": (
        "transitionCase",
        "TransitionCaseInput",
        "agent",
        "BANCO_ANDINO",
        "note",
        transition_input,
    ),
    "resolveCase.note": (
        "resolveCase",
        "ResolveCaseInput",
        "supervisor",
        "BANCO_ANDINO",
        "note",
        resolve_input,
    ),
    "deriveCase.reason": (
        "deriveCase",
        "DeriveCaseInput",
        "agent",
        "BANCO_ANDINO",
        "reason",
        derive_input,
    ),
    "resolveCases.note": (
        "resolveCases",
        "ResolveCasesInput",
        "supervisor",
        "BANCO_ANDINO",
        "note",
        resolve_many_input,
    ),
    "upsertPartnerConnector.endpointUrl": (
        "upsertPartnerConnector",
        "UpsertPartnerConnectorInput",
        "admin",
        None,
        "endpointUrl",
        connector_input,
    ),
    "reportPartnerCaseStatus.partnerStatus": (
        "reportPartnerCaseStatus",
        "ReportPartnerCaseStatusInput",
        "partner_system",
        "BANCO_ANDINO",
        "partnerStatus",
        report_input,
    ),
    "createCredit.productCode": (
        "createCredit",
        "CreateCreditInput",
        "agent",
        "AUTOCREDITO",
        "productCode",
        credit_product_input,
    ),
    "createCredit.vehicleRef": (
        "createCredit",
        "CreateCreditInput",
        "agent",
        "AUTOCREDITO",
        "vehicleRef",
        credit_vehicle_input,
    ),
    "cancelCredit.reason": (
        "cancelCredit",
        "CancelCreditInput",
        "agent",
        "AUTOCREDITO",
        "reason",
        cancel_input,
    ),
    "writeOffCredit.reason": (
        "writeOffCredit",
        "WriteOffCreditInput",
        "supervisor",
        "AUTOCREDITO",
        "reason",
        write_off_input,
    ),
    "registerPayment.reference": (
        "registerPayment",
        "RegisterPaymentInput",
        "agent",
        "AUTOCREDITO",
        "reference",
        payment_reference_input,
    ),
    "registerPayment.idempotencyKey": (
        "registerPayment",
        "RegisterPaymentInput",
        "agent",
        "AUTOCREDITO",
        "idempotencyKey",
        payment_key_input,
    ),
    "reversePayment.reason": (
        "reversePayment",
        "ReversePaymentInput",
        "supervisor",
        "AUTOCREDITO",
        "reason",
        reverse_input,
    ),
    "createCustomer.email": (
        "createCustomer",
        "CreateCustomerInput",
        "agent",
        "BANCO_ANDINO",
        "email",
        customer_email_input,
    ),
    "createCustomer.address": (
        "createCustomer",
        "CreateCustomerInput",
        "agent",
        "BANCO_ANDINO",
        "address.line1",
        customer_address_input,
    ),
    "createInvestor.legalName": (
        "createInvestor",
        "CreateInvestorInput",
        "admin",
        None,
        "legalName",
        investor_name_input,
    ),
    "createInvestor.bankAccount": (
        "createInvestor",
        "CreateInvestorInput",
        "admin",
        None,
        "bankAccount.number",
        investor_account_input,
    ),
    "createInvestor.email": (
        "createInvestor",
        "CreateInvestorInput",
        "admin",
        None,
        "email",
        investor_email_input,
    ),
    "changeInvestorKyc.note": (
        "changeInvestorKyc",
        "ChangeInvestorKycInput",
        "admin",
        None,
        "note",
        kyc_input,
    ),
    "createOAuthClient.name": (
        "createOAuthClient",
        "CreateOAuthClientInput",
        "admin",
        None,
        "name",
        oauth_client_input,
    ),
}


@pytest.mark.parametrize("case", CASES)
async def test_a_card_number_in_any_text_input_is_refused_naming_the_field(
    gql: Any, token: Any, case: str
) -> None:
    name, input_type, role, partner, field, build = CASES[case]
    who = token(role, partner=partner) if partner else token(role)
    for written in ("slashes", "full-width"):
        value = await build(WRITTEN[written])
        before = await database()
        body = await gql(document(name, input_type), {"input": value}, token=who)
        assert "errors" not in body, body
        result = body["data"][name]
        assert result["__typename"] == "ValidationError", (written, result)
        assert result["code"] == "VALIDATION"
        problems = {p["field"]: p["message"] for p in result["problems"]}
        assert field in problems, (written, result)
        assert "card number" in problems[field]
        assert "4111" not in str(result) and "5555" not in str(result)
        assert await database() == before, "something was written"


@pytest.mark.parametrize("written", WRITTEN)
async def test_every_way_of_writing_one_is_refused(gql: Any, token: Any, written: str) -> None:
    who = token("agent", partner="BANCO_ANDINO")
    value = await comment_input(WRITTEN[written])
    before = await database()
    body = await gql(document("addCaseComment", "AddCaseCommentInput"), {"input": value}, token=who)
    result = body["data"]["addCaseComment"]
    assert result["__typename"] == "ValidationError" and result["field"] == "body", result
    assert await database() == before


async def test_lookalikes_in_text_inputs_are_accepted(gql: Any, token: Any) -> None:
    who = token("agent", partner="BANCO_ANDINO")
    value = await comment_input(
        "RUT 12.345.678-5, +56 9 1234 5678, $1.234.567 el 21/11/2026, folio 0001-00012345, "
        "CBU 0110599520000001234567, últimos 4: 1111"
    )
    body = await gql(document("addCaseComment", "AddCaseCommentInput"), {"input": value}, token=who)
    assert body["data"]["addCaseComment"]["__typename"] == "AddCaseCommentSuccess", body


async def test_a_request_id_that_is_a_card_number_is_not_kept(client: Any) -> None:
    response = await client.get("/healthz", headers={"x-request-id": "4111111111111111"})
    assert response.headers["x-request-id"] != "4111111111111111"
    kept = await client.get("/healthz", headers={"x-request-id": "req-42.a"})
    assert kept.headers["x-request-id"] == "req-42.a"

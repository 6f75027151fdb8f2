"""Contracts in the API: the customer and the lender's staff read them with their signers
and download links; others see nothing; links work for their owner only."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from typing import Any

import httpx

from app.db import transaction
from app.report_links import report_store
from app.runtime import Runtime
from domain.origination import contracts
from domain.partners.models import Partner
from resolvers.ids import encode_node_id
from tests.api.credit_support import customer_token
from tests.conftest import GraphQLClient
from tests.domain.contracts.conftest import SETUP, make_signing

QUERY = """
query($app: ID!, $id: ID!) {
  applicationContracts(applicationId: $app) {
    id reference status applicationId principal { amount currency }
    signers { role name email status }
    unsigned { kind fileName size sha256 url }
    signed { url }
  }
  contract(id: $id) { id status }
}
"""


_SUBMISSIONS = itertools.count(7700, 10)


async def _contract(runtime: Runtime) -> tuple[Any, Any, str]:
    accepted = await make_signing()
    submission = next(_SUBMISSIONS)
    async with transaction() as session:
        contract = await contracts.prepare_contract(
            session,
            application_id=accepted.application_id,
            store=report_store(runtime.settings),
            setup=SETUP,
        )
        assert contract is not None
        await contracts.record_submission(
            session,
            contract_id=contract.id,
            submission_id=submission,
            submitters={
                f"{contract.id}:customer": submission + 1,
                f"{contract.id}:lender": submission + 2,
            },
        )
        lender = await session.get(Partner, accepted.lender_id)
        assert lender is not None
    return accepted, contract, lender.code


async def test_the_customer_and_the_lender_read_the_contract_and_download_it(
    runtime: Runtime,
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    token: Callable[..., str],
) -> None:
    accepted, contract, lender_code = await _contract(runtime)
    variables = {
        "app": encode_node_id("CreditApplication", accepted.application_id),
        "id": str(contract.id),
    }
    customer = customer_token(runtime, accepted.customer_id)
    staff = token("agent", partner=lender_code)
    for who in (customer, staff):
        body = await gql(QUERY, variables, token=who)
        assert "errors" not in body, body
        [found] = body["data"]["applicationContracts"]
        assert body["data"]["contract"] == {"id": str(contract.id), "status": "SENT"}
        assert found["reference"] == contract.reference
        assert found["principal"] == {"amount": "10000000", "currency": "CLP"}
        assert [(s["role"], s["status"]) for s in found["signers"]] == [
            ("CUSTOMER", "SENT"),
            ("LENDER", "SENT"),
        ]
        assert found["signed"] is None
        unsigned = found["unsigned"]
        assert unsigned["sha256"] == contract.unsigned_sha256
        path = unsigned["url"].removeprefix("http://trama.test")
        response = await client.get(path, headers={"authorization": f"Bearer {who}"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        assert hashlib.sha256(response.content).hexdigest() == contract.unsigned_sha256
        assert response.headers["x-contract-sha256"] == contract.unsigned_sha256
    # the link is the customer's: the staff's token cannot use it, nor no token, nor a forged one
    body = await gql(QUERY, variables, token=customer)
    path = body["data"]["applicationContracts"][0]["unsigned"]["url"].removeprefix(
        "http://trama.test"
    )
    assert (await client.get(path, headers={"authorization": f"Bearer {staff}"})).status_code == 403
    assert (await client.get(path)).status_code == 401
    forged = path.replace("unsigned", "signed")
    assert (
        await client.get(forged, headers={"authorization": f"Bearer {customer}"})
    ).status_code == 403


async def test_others_see_no_contract(
    runtime: Runtime, gql: GraphQLClient, token: Callable[..., str]
) -> None:
    accepted, contract, _ = await _contract(runtime)
    other, _, other_lender = await _contract(runtime)
    variables = {
        "app": encode_node_id("CreditApplication", accepted.application_id),
        "id": str(contract.id),
    }
    for who in (
        customer_token(runtime, other.customer_id),
        token("agent", partner=other_lender),
        token("network_viewer"),
    ):
        body = await gql(QUERY, variables, token=who)
        assert "errors" not in body, body
        assert body["data"] == {"applicationContracts": [], "contract": None}
    body = await gql(QUERY, variables)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

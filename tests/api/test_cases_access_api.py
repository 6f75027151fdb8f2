"""Access to cases through the GraphQL API: each forbidden path of the issue's "Access"
section (another partner's case by id, by global id, by reference, through `node`, through
federation, through search filters) is refused with nothing changed, and the NETWORK view
masks personal data where the customers' rule does (issue 9)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.db import transaction
from domain.customers.models import Customer
from domain.shared.models import table_of
from tests.api import case_support
from tests.api.case_support import (
    ACCEPT,
    BY_REFERENCE,
    COMMENT,
    DERIVE,
    GET,
    NODE,
    REJECT,
    RESOLVE,
    SEARCH,
    TRANSITION,
    UPDATE,
    error_code,
    fingerprint,
    gid,
    open_case,
    partner_ids,
    relay_key,
    run,
)

# Fixtures shared by the cases API tests.
andino = case_support.andino
customers = case_support.customers
retail = case_support.retail
viewer = case_support.viewer


# --- access: another partner's case -------------------------------------------------------
async def test_another_partners_case_is_invisible_and_untouchable(
    gql: Any, andino: str, retail: str, customers: list[Any]
) -> None:
    case = await open_case(gql, andino, customers[0])
    # by id, by global id, by bare UUID, by reference, through node()
    assert (await gql(GET, {"id": case["id"]}, token=retail))["data"]["case"] is None
    bare = relay_key(case["id"])
    assert (await gql(GET, {"id": bare}, token=retail))["data"]["case"] is None
    ref = await gql(BY_REFERENCE, {"ref": case["reference"]}, token=retail)
    assert ref["data"]["caseByReference"] is None
    assert (await gql(NODE, {"id": case["id"]}, token=retail))["data"]["node"] is None
    # …while its own partner reads it every way.
    assert (await gql(NODE, {"id": case["id"]}, token=andino))["data"]["node"]["reference"]
    found = await gql(BY_REFERENCE, {"ref": case["reference"].lower()}, token=andino)
    assert found["data"]["caseByReference"]["id"] == case["id"]

    # Every change by the other partner is NotFound (it cannot tell the case exists).
    before = await fingerprint()
    ids = await partner_ids()
    attempts = [
        (UPDATE, "updateCase", {"id": case["id"], "version": 1, "priority": "LOW"}),
        (UPDATE, "updateCase", {"id": bare, "version": 1, "priority": "LOW"}),
        (TRANSITION, "transitionCase", {"id": case["id"], "version": 1, "toStatus": "IN_PROGRESS"}),
        (
            RESOLVE,
            "resolveCase",
            {"id": case["id"], "version": 1, "code": "FAVORABLE", "note": "x"},
        ),
        (
            DERIVE,
            "deriveCase",
            {
                "id": case["id"],
                "version": 1,
                "to": gid("Partner", ids["RETAIL_SUR"]),
                "reason": "x",
            },
        ),
        (ACCEPT, "acceptDerivation", {"id": case["id"], "version": 1}),
        (REJECT, "rejectDerivation", {"id": case["id"], "version": 1, "reason": "x"}),
        (COMMENT, "addCaseComment", {"caseId": case["id"], "version": 1, "body": "x"}),
    ]
    for document, field, values in attempts:
        result = await run(gql, document, field, retail, **values)
        assert result["__typename"] == "NotFoundError", (field, result)
    # Another type's global id is not a case's.
    wrong = await run(
        gql, UPDATE, "updateCase", andino, id=gid("Customer", customers[0].id), version=1
    )
    assert wrong["__typename"] == "ValidationError" and wrong["field"] == "id"
    assert await fingerprint() == before


async def test_search_filters_never_widen_the_view(
    gql: Any, andino: str, retail: str, customers: list[Any]
) -> None:
    case = await open_case(gql, andino, customers[0])
    ids = await partner_ids()
    customer = customers[0]
    probes: list[dict[str, Any]] = [
        {"view": "OWN", "filter": {"handlingPartnerIds": [gid("Partner", ids["BANCO_ANDINO"])]}},
        {
            "view": "ECOSYSTEM",
            "filter": {"originatingPartnerIds": [gid("Partner", ids["BANCO_ANDINO"])]},
        },
        {"view": "ECOSYSTEM", "filter": {"text": case["reference"]}},
        {"view": "ECOSYSTEM", "filter": {"customerId": gid("Customer", customer.id)}},
        {"view": "ECOSYSTEM", "filter": {"text": customer.family_names}},
        {
            "view": "ECOSYSTEM",
            "filter": {"statuses": ["OPEN"], "typologies": ["DEVOLUCION_INTERESES"]},
        },
    ]
    for variables in probes:
        result = await gql(SEARCH, variables, token=retail)
        assert "errors" not in result, result
        cases = result["data"]["cases"]
        assert cases["edges"] == [] and cases["totalCount"] == 0, variables
        assert cases["facets"] == {"byStatus": [], "byTypology": []}
    # The NETWORK view is for network roles only.
    refused = await gql(SEARCH, {"view": "NETWORK"}, token=retail)
    assert error_code(refused) == "FORBIDDEN"
    # Andino finds it each way.
    for variables in probes:
        result = await gql(SEARCH, variables, token=andino)
        assert [e["node"]["id"] for e in result["data"]["cases"]["edges"]] == [case["id"]], (
            variables
        )


# --- masking ----------------------------------------------------------------------------
async def test_network_view_masks_personal_data_without_pii_read(
    gql: Any, andino: str, viewer: str, token: Any, customers: list[Any]
) -> None:
    customer = customers[0]
    case = await open_case(gql, andino, customer)
    await run(
        gql,
        UPDATE,
        "updateCase",
        andino,
        id=case["id"],
        version=1,
        description="Cliente Eva Rojas reclama cobro.",
    )
    ids = await partner_ids()
    await run(
        gql,
        DERIVE,
        "deriveCase",
        andino,
        id=case["id"],
        version=2,
        to=gid("Partner", ids["RETAIL_SUR"]),
        reason="Eva pidió que lo vea Retail.",
    )
    mine = {"filter": {"customerId": gid("Customer", customer.id)}}
    result = await gql(SEARCH, {"view": "NETWORK", **mine}, token=viewer)
    assert "errors" not in result, result
    (node,) = [e["node"] for e in result["data"]["cases"]["edges"]]
    assert node["piiMasked"] is True and node["customer"]["piiMasked"] is True
    assert node["description"] == "•••" and node["cardLast4"] is None
    assert node["pendingDerivation"]["reason"] == "•••"
    assert node["customer"]["name"] == f"{customer.given_names[0]}••• {customer.family_names[0]}•••"
    assert "•" in node["customer"]["nationalId"]["number"]
    assert customer.given_names not in str(node) and customer.national_id not in str(node)
    assert "Eva" not in str(node)  # nor anything written in free text
    for entry in (e["node"] for e in node["timeline"]["edges"]):
        assert entry["actor"] is None
    # …and the same case read by id masks the same way.
    by_id = (await gql(GET, {"id": case["id"]}, token=viewer))["data"]["case"]
    assert by_id["description"] == "•••" and by_id["customer"]["piiMasked"] is True
    # Free text cannot probe what the page hides: only the reference matches when masked.
    probe = await gql(
        SEARCH, {"view": "NETWORK", "filter": {"text": customer.family_names}}, token=viewer
    )
    assert case["id"] not in str(probe)
    by_ref = await gql(
        SEARCH, {"view": "NETWORK", "filter": {"text": case["reference"]}}, token=viewer
    )
    assert [e["node"]["id"] for e in by_ref["data"]["cases"]["edges"]] == [case["id"]]

    # A supervisor of a partner not involved with the customer sees the case masked — until
    # the customer consents to data sharing (issue 9: no partner role holds pii:read). An
    # administrator (network-wide pii:read) sees it in clear either way.
    supervisor = token("supervisor", partner="BANCO_PAMPA")
    for consent in (False, True):
        async with transaction() as session:
            await session.execute(
                sa.update(table_of(Customer))
                .where(table_of(Customer).c.id == customer.id)
                .values(consent_data_sharing=consent)
            )
        seen = await gql(SEARCH, {"view": "NETWORK", **mine}, token=supervisor)
        (node,) = [e["node"] for e in seen["data"]["cases"]["edges"]]
        assert node["piiMasked"] is (not consent), consent
        assert node["customer"]["piiMasked"] is (not consent), consent
        assert (node["description"] == "•••") is (not consent), consent
        if consent:
            assert node["description"].startswith("Cliente Eva")
        admin = await gql(SEARCH, {"view": "NETWORK", **mine}, token=token("admin"))
        (plain,) = [e["node"] for e in admin["data"]["cases"]["edges"]]
        assert plain["piiMasked"] is False and plain["description"].startswith("Cliente Eva")


async def test_case_queries_need_cases_read(gql: Any, token: Any, customers: list[Any]) -> None:
    investor = token("investor")
    for query, variables in ((GET, {"id": "x"}), (SEARCH, {})):
        assert error_code(await gql(query, variables, token=investor)) == "FORBIDDEN"


# --- federation ---------------------------------------------------------------------------
ENTITIES = """
query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename ... on Case { id reference description piiMasked handlingPartner { code } }
  }
}
"""


async def test_cases_resolve_as_federation_entities_under_the_same_rules(
    gql: Any, andino: str, retail: str, viewer: str, customers: list[Any], sql_counter: Any
) -> None:
    opened = [await open_case(gql, andino, c) for c in customers]
    representations = [{"__typename": "Case", "id": c["id"]} for c in opened]
    representations.append({"__typename": "Case", "id": relay_key(opened[0]["id"])})
    representations.append({"__typename": "Case", "id": gid("Customer", customers[0].id)})
    sql_counter.reset()
    mine = await gql(ENTITIES, {"representations": representations}, token=andino)
    assert "errors" not in mine, mine
    entities = mine["data"]["_entities"]
    assert [e["id"] if e else None for e in entities] == [
        *(c["id"] for c in opened),
        opened[0]["id"],
        None,
    ]
    case_reads = [s for s in sql_counter.statements if "FROM cases" in s]
    assert len(case_reads) == 1, case_reads  # one batch for every representation
    theirs = await gql(ENTITIES, {"representations": representations}, token=retail)
    assert theirs["data"]["_entities"] == [None] * len(representations)
    masked = await gql(ENTITIES, {"representations": representations[:1]}, token=viewer)
    (entity,) = masked["data"]["_entities"]
    assert entity["piiMasked"] is True and entity["description"] == "•••"

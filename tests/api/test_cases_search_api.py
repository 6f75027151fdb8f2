"""The unified case search (pages, counts, facets, a constant number of statements), the
typology catalog and the homologation tables through the GraphQL API."""

from __future__ import annotations

from typing import Any

from tests.api import case_support
from tests.api.case_support import (
    COMMENT,
    DERIVE,
    SEARCH,
    TRANSITION,
    audit_actions,
    error_code,
    fingerprint,
    gid,
    open_case,
    partner_ids,
    run,
)

# Fixtures shared by the cases API tests.
admin = case_support.admin
andino = case_support.andino
customers = case_support.customers
retail = case_support.retail


# --- search -----------------------------------------------------------------------------
async def test_search_pages_counts_and_facets(gql: Any, token: Any, customers: list[Any]) -> None:
    agent = token("agent", partner="CLUB_PUNTOS")
    opened = [
        await open_case(gql, agent, customers[0]),
        await open_case(gql, agent, customers[1], typologyCode="RECLAMO", amountInDispute=None),
        await open_case(gql, agent, customers[2], typologyCode="RECLAMO", amountInDispute=None),
    ]
    await run(
        gql,
        TRANSITION,
        "transitionCase",
        agent,
        id=opened[1]["id"],
        version=1,
        toStatus="IN_PROGRESS",
    )
    first = await gql(SEARCH, {"view": "OWN", "first": 2}, token=agent)
    cases = first["data"]["cases"]
    assert cases["totalCount"] == 3
    assert [e["node"]["id"] for e in cases["edges"]] == [opened[2]["id"], opened[1]["id"]]
    assert cases["pageInfo"]["hasNextPage"] is True
    assert sorted((f["status"], f["count"]) for f in cases["facets"]["byStatus"]) == [
        ("IN_PROGRESS", 1),
        ("OPEN", 2),
    ]
    assert sorted((f["code"], f["count"]) for f in cases["facets"]["byTypology"]) == [
        ("DEVOLUCION_INTERESES", 1),
        ("RECLAMO", 2),
    ]
    rest = await gql(
        SEARCH, {"view": "OWN", "first": 2, "after": cases["pageInfo"]["endCursor"]}, token=agent
    )
    page = rest["data"]["cases"]
    assert [e["node"]["id"] for e in page["edges"]] == [opened[0]["id"]]
    assert page["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "endCursor": page["edges"][0]["cursor"],
    }
    oldest = await gql(
        SEARCH, {"view": "OWN", "orderBy": "CREATED_AT_ASC", "first": 1}, token=agent
    )
    assert oldest["data"]["cases"]["edges"][0]["node"]["id"] == opened[0]["id"]
    filtered = await gql(
        SEARCH,
        {"view": "OWN", "filter": {"statuses": ["IN_PROGRESS"], "typologies": ["reclamo"]}},
        token=agent,
    )
    assert [e["node"]["id"] for e in filtered["data"]["cases"]["edges"]] == [opened[1]["id"]]
    # Bad arguments are refused with the field named.
    bad = await gql(SEARCH, {"view": "OWN", "after": "nonsense"}, token=agent)
    assert error_code(bad) == "VALIDATION"
    bad = await gql(
        SEARCH, {"view": "OWN", "filter": {"handlingPartnerIds": ["nope"]}}, token=agent
    )
    assert error_code(bad) == "VALIDATION"
    bad = await gql(SEARCH, {"view": "OWN", "filter": {"text": "4111 1111 1111 1111"}}, token=agent)
    assert error_code(bad) == "VALIDATION" and "4111" not in str(bad)


async def _page_statements(gql: Any, token: str, first: int, sql_counter: Any) -> list[str]:
    await gql(SEARCH, {"view": "ECOSYSTEM", "first": 1}, token=token)  # warm caches
    sql_counter.reset()
    result = await gql(SEARCH, {"view": "ECOSYSTEM", "first": first}, token=token)
    assert "errors" not in result, result
    assert len(result["data"]["cases"]["edges"]) == first
    return list(sql_counter.statements)


async def test_search_costs_a_constant_number_of_statements(
    gql: Any, token: Any, customers: list[Any], sql_counter: Any
) -> None:
    """The page, its count and facets, and every nested field (customer, partners, typology,
    partner statuses and their partners, timeline, comments and their partners) cost the
    same statements for 2 cases as for 8."""
    agent = token("agent", partner="AUTOCREDITO")
    ids = await partner_ids()
    for i in range(8):
        case = await open_case(gql, agent, customers[i % len(customers)])
        await run(
            gql, COMMENT, "addCaseComment", agent, caseId=case["id"], version=1, body=f"nota {i}"
        )
        if i % 2:
            await run(
                gql,
                DERIVE,
                "deriveCase",
                agent,
                id=case["id"],
                version=2,
                to=gid("Partner", ids["BANCO_PAMPA"]),
                reason="corresponde",
            )
    small = await _page_statements(gql, agent, 2, sql_counter)
    large = await _page_statements(gql, agent, 8, sql_counter)
    assert len(small) == len(large), (small, large)
    selects = [s for s in large if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 10, selects


# --- catalog and homologation -------------------------------------------------------------
TYPOLOGIES = "{ caseTypologies { code name defaultPriority slaBusinessDays slaHours active } }"
MAPPINGS = """
query Mappings($partnerId: ID!, $version: Int) {
  statusMappings(partnerId: $partnerId, version: $version) {
    version activeFrom createdBy partner { code }
    lines { partnerCode canonicalStatus direction }
  }
  statusMappingVersions(partnerId: $partnerId) { version activeFrom createdBy lineCount }
}
"""
UPDATE_MAPPING = """
mutation Map($input: UpdateStatusMappingInput!) {
  updateStatusMapping(input: $input) {
    __typename
    ... on UpdateStatusMappingSuccess {
      mapping { version partner { code } lines { partnerCode canonicalStatus direction } }
    }
    ... on UserError { message code }
    ... on ValidationError { field problems { field message } }
    ... on ConflictError { currentVersion }
  }
}
"""
LINES = [
    {"partnerCode": "ING", "canonicalStatus": "OPEN"},
    {"partnerCode": "PROC", "canonicalStatus": "IN_PROGRESS"},
    {"partnerCode": "ANALISIS", "canonicalStatus": "IN_PROGRESS", "direction": "INBOUND"},
    {"partnerCode": "OK", "canonicalStatus": "RESOLVED"},
]


async def test_typology_catalog(gql: Any, andino: str) -> None:
    result = await gql(TYPOLOGIES, token=andino)
    rows = {t["code"]: t for t in result["data"]["caseTypologies"]}
    assert rows["BLOQUEO_TARJETA"]["slaHours"] == 4
    assert rows["BLOQUEO_TARJETA"]["defaultPriority"] == "CRITICAL"
    assert rows["CARGO_NO_RECONOCIDO"]["slaBusinessDays"] == 5
    assert list(rows) == sorted(rows)


async def test_status_mapping_versions_are_audited_and_never_rewritten(
    gql: Any, admin: str, andino: str, retail: str, token: Any
) -> None:
    ids = await partner_ids()
    andino_id = gid("Partner", ids["BANCO_ANDINO"])
    empty = (await gql(MAPPINGS, {"partnerId": andino_id}, token=andino))["data"]
    assert empty["statusMappings"]["version"] == 0 and empty["statusMappingVersions"] == []

    first = await run(
        gql,
        UPDATE_MAPPING,
        "updateStatusMapping",
        admin,
        partnerId=andino_id,
        version=0,
        lines=LINES,
    )
    assert first["__typename"] == "UpdateStatusMappingSuccess", first
    assert first["mapping"]["version"] == 1 and len(first["mapping"]["lines"]) == 4
    second = await run(
        gql,
        UPDATE_MAPPING,
        "updateStatusMapping",
        admin,
        partnerId=andino_id,
        version=1,
        lines=[*LINES, {"partnerCode": "CERR", "canonicalStatus": "CLOSED"}],
    )
    assert second["mapping"]["version"] == 2

    before = await fingerprint()
    stale = await run(
        gql,
        UPDATE_MAPPING,
        "updateStatusMapping",
        admin,
        partnerId=andino_id,
        version=1,
        lines=LINES,
    )
    assert stale["__typename"] == "ConflictError" and stale["currentVersion"] == 2
    duplicate = await run(
        gql,
        UPDATE_MAPPING,
        "updateStatusMapping",
        admin,
        partnerId=andino_id,
        version=2,
        lines=[*LINES, {"partnerCode": "ok", "canonicalStatus": "CLOSED"}],
    )
    assert duplicate["__typename"] == "ValidationError"
    assert duplicate["field"] == "lines[4].partnerCode"
    # Only case administrators change tables (an agent does not hold cases:admin).
    forbidden = await run(
        gql,
        UPDATE_MAPPING,
        "updateStatusMapping",
        andino,
        partnerId=andino_id,
        version=2,
        lines=LINES,
    )
    assert forbidden["__typename"] == "ForbiddenError"
    assert await fingerprint() == before

    # Staff read their own partner's table and history; not another partner's.
    mine = (await gql(MAPPINGS, {"partnerId": andino_id}, token=andino))["data"]
    assert mine["statusMappings"]["version"] == 2
    assert [v["version"] for v in mine["statusMappingVersions"]] == [2, 1]
    old = await gql(MAPPINGS, {"partnerId": andino_id, "version": 1}, token=andino)
    assert len(old["data"]["statusMappings"]["lines"]) == 4  # version 1 as it was
    assert error_code(await gql(MAPPINGS, {"partnerId": andino_id}, token=retail)) == "FORBIDDEN"
    actions = await audit_actions(str(ids["BANCO_ANDINO"]))
    assert actions.count("cases.homologation_changed") == 2

"""Case synchronization through the GraphQL API: partner systems report their platform's
status (homologated, applied, duplicates and stale versions recognised, refusals recorded
for review), and administrators manage connectors and read each partner's sync state."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.cases import sync
from domain.cases.models import Case, InboundReportReview, PartnerConnector
from domain.shared.time import utcnow
from resolvers.ids import encode_node_id
from tests.conftest import GraphQLClient
from tests.domain.cases.conftest import Network, fingerprint, load, open_case
from tests.workers.case_sync_support import default_mappings, load_network

Token = Callable[..., str]

REPORT = """
mutation Report($input: ReportPartnerCaseStatusInput!) {
  reportPartnerCaseStatus(input: $input) {
    __typename
    ... on ReportPartnerCaseStatusSuccess {
      outcome caseId caseReference caseStatus caseVersion canonicalStatus
      case { reference status version }
    }
    ... on UserError { message code }
    ... on ValidationError { field }
    ... on InvalidTransitionError { fromState toState }
    ... on NotFoundError { entity }
  }
}
"""

UPSERT = """
mutation Upsert($input: UpsertPartnerConnectorInput!) {
  upsertPartnerConnector(input: $input) {
    __typename
    ... on UpsertPartnerConnectorSuccess {
      connector {
        id partnerId endpointUrl authType hasCredentials credentialsFingerprint
        signingSecretFingerprint enabled timeoutSeconds version updatedBy
        partner { code }
      }
    }
    ... on UserError { message code }
    ... on ValidationError { field }
    ... on ConflictError { currentVersion }
  }
}
"""

CONNECTOR = """
query Connector($partnerId: ID!) {
  partnerConnector(partnerId: $partnerId) {
    endpointUrl authType hasCredentials credentialsFingerprint signingSecretFingerprint
    enabled version
  }
}
"""

SYNC_STATUS = """
query Sync($caseId: ID!) {
  caseSyncStatus(caseId: $caseId) {
    caseId reference version
    partners {
      partnerId partner { code } connectorEnabled lastSyncedVersion lastSyncedAt
      lastSyncAttemptAt lastSyncError inSync
    }
  }
}
"""

REVIEWS = """
query Reviews($first: Int, $after: String, $status: InboundReviewStatus) {
  inboundReviews(first: $first, after: $after, status: $status) {
    edges {
      cursor
      node {
        id partner { code } caseId caseReference partnerStatus canonicalStatus caseStatus
        externalVersion reason message reportedBy status
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

SECRET = "andino-signing-secret-0123456789abcdef"
CREDENTIALS = "platform-bearer-token-0123456789"


@pytest.fixture
async def net(db: Any) -> Network:
    network = await load_network()
    await default_mappings(network)
    return network


def pid(net: Network, code: str) -> str:
    return encode_node_id("Partner", net.ids[code])


def when(minutes_ago: int = 0) -> str:
    return (utcnow() - timedelta(minutes=minutes_ago)).isoformat()


async def report(
    gql: GraphQLClient,
    token: str,
    status: str,
    version: int,
    *,
    case_ref: str | None = None,
    external_ref: str | None = None,
) -> dict[str, Any]:
    response = await gql(
        REPORT,
        {
            "input": {
                "caseRef": case_ref,
                "externalRef": external_ref,
                "partnerStatus": status,
                "occurredAt": when(),
                "externalVersion": version,
            }
        },
        token=token,
    )
    assert "errors" not in response, response
    payload: dict[str, Any] = response["data"]["reportPartnerCaseStatus"]
    return payload


async def reviews_of(case_id: uuid.UUID) -> list[InboundReportReview]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(InboundReportReview).where(InboundReportReview.case_id == case_id)  # type: ignore[arg-type]
        )
        return list(rows.scalars().all())


# --- inbound reports --------------------------------------------------------------------
async def test_reports_are_applied_and_duplicates_and_old_versions_change_nothing(
    gql: GraphQLClient, token: Token, net: Network
) -> None:
    case = await open_case(net)
    system = token("partner_system", partner="BANCO_ANDINO")

    applied = await report(gql, system, "EN_PROCESO", 1, case_ref=case.reference)
    assert applied["__typename"] == "ReportPartnerCaseStatusSuccess"
    assert applied["outcome"] == "APPLIED"
    assert applied["caseStatus"] == applied["canonicalStatus"] == "IN_PROGRESS"
    assert applied["caseVersion"] == 2 and applied["case"]["version"] == 2
    assert applied["caseId"] == encode_node_id("Case", case.id)

    again = await report(gql, system, "en_proceso ", 1, case_ref=case.reference)
    assert again["outcome"] == "DUPLICATE" and again["caseVersion"] == 2

    moved = await report(gql, system, "ESPERA_CLIENTE", 3, case_ref=case.reference)
    assert moved["outcome"] == "APPLIED" and moved["caseStatus"] == "WAITING_CUSTOMER"

    late = await report(gql, system, "EN_PROCESO", 2, case_ref=case.reference)
    assert late["outcome"] == "STALE"
    assert late["caseStatus"] == "WAITING_CUSTOMER" and late["caseVersion"] == 3
    stored = await load(case.id)
    assert stored.status == "WAITING_CUSTOMER" and stored.version == 3
    assert await reviews_of(case.id) == []


async def test_an_impossible_move_is_refused_and_kept_for_review(
    gql: GraphQLClient, token: Token, net: Network
) -> None:
    case = await open_case(net)
    system = token("partner_system", partner="BANCO_ANDINO")
    refused = await report(gql, system, "CERRADO", 1, case_ref=case.reference)
    assert refused["__typename"] == "InvalidTransitionError", refused
    assert refused["code"] == "INVALID_TRANSITION"
    assert (refused["fromState"], refused["toState"]) == ("OPEN", "CLOSED")
    stored = await load(case.id)
    assert stored.status == "OPEN" and stored.version == 1
    (review,) = await reviews_of(case.id)  # committed although the answer is an error
    assert review.reason == "INVALID_TRANSITION" and review.partner_status == "CERRADO"

    # Sent again, it is refused again, without a second review.
    again = await report(gql, system, "CERRADO", 1, case_ref=case.reference)
    assert again["__typename"] == "InvalidTransitionError"
    assert len(await reviews_of(case.id)) == 1

    unmapped = await report(gql, system, "EN_LIMBO", 2, case_ref=case.reference)
    assert unmapped["__typename"] == "ValidationError"
    assert unmapped["field"] == "partnerStatus" and "no mapping" in unmapped["message"]
    assert sorted(r.reason for r in await reviews_of(case.id)) == [
        "INVALID_TRANSITION",
        "UNMAPPED_STATUS",
    ]
    assert (await load(case.id)).version == 1

    admin = token("admin")
    response = await gql(REVIEWS, {"first": 10}, token=admin)
    nodes = [e["node"] for e in response["data"]["inboundReviews"]["edges"]]
    mine = [n for n in nodes if n["caseReference"] == case.reference]
    assert [(n["reason"], n["partnerStatus"], n["status"]) for n in mine] == [
        ("INVALID_TRANSITION", "CERRADO", "PENDING"),
        ("UNMAPPED_STATUS", "EN_LIMBO", "PENDING"),
    ]
    assert mine[0]["partner"]["code"] == "BANCO_ANDINO"
    assert mine[0]["caseStatus"] == "OPEN" and mine[0]["canonicalStatus"] == "CLOSED"
    assert mine[0]["externalVersion"] == "1"  # Long: a string

    # Paging, one at a time.
    first = await gql(REVIEWS, {"first": 1}, token=admin)
    page = first["data"]["inboundReviews"]
    assert page["pageInfo"]["hasNextPage"]
    second = await gql(REVIEWS, {"first": 1, "after": page["pageInfo"]["endCursor"]}, token=admin)
    assert (
        second["data"]["inboundReviews"]["edges"][0]["node"]["id"] != page["edges"][0]["node"]["id"]
    )

    # The partner's own staff see their platform's reviews; another partner's, none.
    theirs = await gql(REVIEWS, {"first": 10}, token=token("agent", partner="BANCO_ANDINO"))
    assert len(theirs["data"]["inboundReviews"]["edges"]) == 2
    others = await gql(REVIEWS, {"first": 10}, token=token("agent", partner="RETAIL_SUR"))
    assert others["data"]["inboundReviews"]["edges"] == []


async def test_a_partner_system_reports_only_on_cases_its_partner_is_involved_in(
    gql: GraphQLClient, token: Token, net: Network
) -> None:
    case = await open_case(net)
    andino = token("partner_system", partner="BANCO_ANDINO")
    linked = await report(
        gql, andino, "EN_PROCESO", 1, case_ref=case.reference, external_ref="AND-1"
    )
    assert linked["outcome"] == "APPLIED"
    before = await fingerprint()

    retail = token("partner_system", partner="RETAIL_SUR")
    by_reference = await report(gql, retail, "RESUELTO", 5, case_ref=case.reference)
    assert by_reference["__typename"] == "NotFoundError", by_reference
    # Another platform's reference means nothing to this one: not found either.
    by_external = await report(gql, retail, "RESUELTO", 5, external_ref="AND-1")
    assert by_external["__typename"] == "NotFoundError"
    # People cannot report a platform status, even the handler's agents.
    agent = await report(
        gql, token("agent", partner="BANCO_ANDINO"), "RESUELTO", 5, case_ref=case.reference
    )
    assert agent["__typename"] == "ForbiddenError"
    anonymous = await gql(
        REPORT,
        {
            "input": {
                "caseRef": case.reference,
                "partnerStatus": "RESUELTO",
                "occurredAt": when(),
                "externalVersion": 5,
            }
        },
    )
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await fingerprint() == before
    # The involved partner's own reference still works.
    ok = await report(gql, andino, "ESPERA_CLIENTE", 2, external_ref="AND-1")
    assert ok["outcome"] == "APPLIED"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"partnerStatus": ""}, "partnerStatus"),
        ({"occurredAt": "2026-11-20T10:00:00"}, "occurredAt"),  # no time zone
        ({"occurredAt": "2099-01-01T00:00:00+00:00"}, "occurredAt"),  # in the future
        ({"externalVersion": -1}, "externalVersion"),
        ({"caseRef": "not-a-reference"}, "caseRef"),
        ({"caseRef": None}, "caseRef"),
    ],
)
async def test_bad_reports_are_refused_and_nothing_is_written(
    gql: GraphQLClient, token: Token, net: Network, changes: dict[str, Any], field: str
) -> None:
    case = await open_case(net)
    before = await fingerprint()
    values = {
        "caseRef": case.reference,
        "partnerStatus": "EN_PROCESO",
        "occurredAt": when(),
        "externalVersion": 1,
        **changes,
    }
    response = await gql(
        REPORT,
        {"input": values},
        token=token("partner_system", partner="BANCO_ANDINO"),
        expect_status=None,
    )
    payload = response["data"]["reportPartnerCaseStatus"]
    assert payload["__typename"] == "ValidationError", payload
    assert payload["field"] == field
    assert await fingerprint() == before


# --- connectors -------------------------------------------------------------------------
async def test_administrators_manage_connectors_whose_secrets_never_come_back(
    gql: GraphQLClient, token: Token, net: Network
) -> None:
    admin = token("admin")
    created = await gql(
        UPSERT,
        {
            "input": {
                "partnerId": pid(net, "BANCO_ANDINO"),
                "endpointUrl": "https://api.bancoandino.example/trama/cases",
                "authType": "BEARER",
                "authCredentials": CREDENTIALS,
                "signingSecret": SECRET,
                "timeoutSeconds": 4,
            }
        },
        token=admin,
    )
    payload = created["data"]["upsertPartnerConnector"]
    assert payload["__typename"] == "UpsertPartnerConnectorSuccess", payload
    connector = payload["connector"]
    assert connector["partner"]["code"] == "BANCO_ANDINO"
    assert connector["hasCredentials"] and connector["authType"] == "BEARER"
    assert connector["signingSecretFingerprint"].startswith("sha256:")
    assert connector["version"] == 1 and connector["enabled"]
    assert SECRET not in str(created) and CREDENTIALS not in str(created)

    read = await gql(CONNECTOR, {"partnerId": pid(net, "BANCO_ANDINO")}, token=admin)
    assert (
        read["data"]["partnerConnector"]["signingSecretFingerprint"]
        == (connector["signingSecretFingerprint"])
    )
    assert SECRET not in str(read) and CREDENTIALS not in str(read)
    # No field of the type can hold a secret.
    introspection = await gql(
        '{ __type(name: "PartnerConnector") { fields { name } } }', token=admin
    )
    names = {f["name"] for f in introspection["data"]["__type"]["fields"]}
    assert not names & {"signingSecret", "authCredentials", "secret", "credentials"}

    disabled = await gql(
        UPSERT,
        {
            "input": {
                "partnerId": pid(net, "BANCO_ANDINO"),
                "enabled": False,
                "expectedVersion": 1,
            }
        },
        token=admin,
    )
    assert disabled["data"]["upsertPartnerConnector"]["connector"]["enabled"] is False
    stale = await gql(
        UPSERT,
        {"input": {"partnerId": pid(net, "BANCO_ANDINO"), "enabled": True, "expectedVersion": 1}},
        token=admin,
    )
    conflict = stale["data"]["upsertPartnerConnector"]
    assert conflict["__typename"] == "ConflictError" and conflict["currentVersion"] == 2

    none = await gql(CONNECTOR, {"partnerId": pid(net, "RETAIL_SUR")}, token=admin)
    assert none["data"]["partnerConnector"] is None
    unknown = await gql(CONNECTOR, {"partnerId": str(uuid.uuid4())}, token=admin)
    assert unknown["data"]["partnerConnector"] is None


async def test_bad_or_unauthorized_connector_changes_are_refused_and_nothing_is_written(
    gql: GraphQLClient, token: Token, net: Network
) -> None:
    async def rows() -> list[Any]:
        async with read_session() as session:
            result = await session.execute(sa.select(PartnerConnector))
            return [repr(r) for r in result.scalars().all()]

    base = {
        "partnerId": pid(net, "BANCO_ANDINO"),
        "endpointUrl": "https://andino.example/cases",
        "signingSecret": SECRET,
    }
    cases = [
        (token("admin"), {"endpointUrl": "http://andino.example/cases"}, "ValidationError"),
        (token("admin"), {"signingSecret": "short"}, "ValidationError"),
        (token("admin"), {"timeoutSeconds": 99}, "ValidationError"),
        (token("admin"), {"partnerId": "nope"}, "ValidationError"),
        (token("admin"), {"partnerId": str(uuid.uuid4())}, "NotFoundError"),
        (token("admin"), {"expectedVersion": 2}, "ConflictError"),
        (token("agent", partner="BANCO_ANDINO"), {}, "ForbiddenError"),
        (token("partner_system", partner="BANCO_ANDINO"), {}, "ForbiddenError"),
        (token("supervisor", partner="BANCO_ANDINO"), {}, "ForbiddenError"),
    ]
    before = await rows()
    for who, changes, expected in cases:
        response = await gql(UPSERT, {"input": {**base, **changes}}, token=who)
        payload = response["data"]["upsertPartnerConnector"]
        assert payload["__typename"] == expected, (changes, payload)
        assert payload["code"]
    assert await rows() == before
    forbidden = await gql(
        CONNECTOR,
        {"partnerId": pid(net, "BANCO_ANDINO")},
        token=token("agent", partner="BANCO_ANDINO"),
    )
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- sync state -------------------------------------------------------------------------
async def test_sync_state_per_partner(gql: GraphQLClient, token: Token, net: Network) -> None:
    case = await open_case(net)
    andino, retail = net.ids["BANCO_ANDINO"], net.ids["RETAIL_SUR"]
    async with transaction() as session:
        await sync.record_push(session, case_id=case.id, partner_id=andino, version=1)
        await sync.record_push(
            session, case_id=case.id, partner_id=retail, version=1, error="HTTP 503"
        )
    gid = encode_node_id("Case", case.id)

    admin = await gql(SYNC_STATUS, {"caseId": gid}, token=token("admin"))
    state = admin["data"]["caseSyncStatus"]
    assert state["reference"] == case.reference and state["version"] == 1
    lines = {p["partner"]["code"]: p for p in state["partners"]}
    assert set(lines) == {"BANCO_ANDINO", "RETAIL_SUR"}
    assert lines["BANCO_ANDINO"]["lastSyncedVersion"] == 1 and lines["BANCO_ANDINO"]["inSync"]
    assert lines["BANCO_ANDINO"]["lastSyncError"] is None
    assert lines["RETAIL_SUR"]["lastSyncedVersion"] is None
    assert lines["RETAIL_SUR"]["lastSyncError"] == "version 1: HTTP 503"
    assert not lines["RETAIL_SUR"]["inSync"] and lines["RETAIL_SUR"]["lastSyncAttemptAt"]

    # The handler's agents see their own partner's line only (RETAIL_SUR became involved
    # when Trama pushed the case to it).
    own = await gql(SYNC_STATUS, {"caseId": gid}, token=token("agent", partner="BANCO_ANDINO"))
    assert [p["partner"]["code"] for p in own["data"]["caseSyncStatus"]["partners"]] == [
        "BANCO_ANDINO"
    ]
    # A partner not involved does not see the case at all.
    stranger = await gql(
        SYNC_STATUS, {"caseId": gid}, token=token("agent", partner="TARJETA_PLATA")
    )
    assert stranger["data"]["caseSyncStatus"] is None
    missing = await gql(SYNC_STATUS, {"caseId": str(uuid.uuid4())}, token=token("admin"))
    assert missing["data"]["caseSyncStatus"] is None


async def test_recorded_versions_never_go_down(net: Network) -> None:
    case = await open_case(net)
    andino = net.ids["BANCO_ANDINO"]
    async with transaction() as session:
        await sync.record_push(session, case_id=case.id, partner_id=andino, version=5)
        row = await sync.record_push(session, case_id=case.id, partner_id=andino, version=3)
    assert row is not None and row.last_synced_version == 5
    async with read_session() as session:
        assert (await session.get(Case, case.id)) is not None


CLOSE = """
mutation Close($input: CloseInboundReviewInput!) {
  closeInboundReview(input: $input) {
    __typename
    ... on CloseInboundReviewSuccess { review { id status reviewedBy reviewNote } }
    ... on UserError { message code }
    ... on ValidationError { field }
  }
}
"""


async def test_administrators_close_reviews(gql: GraphQLClient, token: Token, net: Network) -> None:
    case = await open_case(net)
    system = token("partner_system", partner="BANCO_ANDINO")
    await report(gql, system, "CERRADO", 1, case_ref=case.reference)
    (review,) = await reviews_of(case.id)
    admin = token("admin")
    variables = {"input": {"id": str(review.id), "status": "DISMISSED", "note": "ya cerrado"}}

    agent = await gql(CLOSE, variables, token=token("agent", partner="BANCO_ANDINO"))
    assert agent["data"]["closeInboundReview"]["__typename"] == "ForbiddenError"
    pending = await gql(CLOSE, {"input": {**variables["input"], "status": "PENDING"}}, token=admin)
    assert pending["data"]["closeInboundReview"]["field"] == "status"
    nobody = await gql(CLOSE, {"input": {**variables["input"], "id": "x"}}, token=admin)
    assert nobody["data"]["closeInboundReview"]["field"] == "id"
    (still,) = await reviews_of(case.id)
    assert still.status == "PENDING"

    closed = await gql(CLOSE, variables, token=admin)
    payload = closed["data"]["closeInboundReview"]
    assert payload["__typename"] == "CloseInboundReviewSuccess", payload
    assert payload["review"]["status"] == "DISMISSED"
    assert payload["review"]["reviewNote"] == "ya cerrado"
    again = await gql(CLOSE, variables, token=admin)
    assert again["data"]["closeInboundReview"]["__typename"] == "ConflictError"
    left = await gql(REVIEWS, {"first": 10}, token=admin)
    ids = [e["node"]["id"] for e in left["data"]["inboundReviews"]["edges"]]
    assert str(review.id) not in ids

"""Cases through the GraphQL API: opening, changing, moving, resolving, commenting and
deriving a case, with optimistic concurrency on `version` and typed errors; a refused call
changes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.api import case_support
from tests.api.case_support import (
    ACCEPT,
    COMMENT,
    DERIVE,
    GET,
    OPEN,
    REJECT,
    RESOLVE,
    SEARCH,
    TRANSITION,
    UPDATE,
    audit_actions,
    fingerprint,
    gid,
    open_case,
    open_input,
    outbox_topics,
    partner_ids,
    relay_key,
    run,
    typename,
)

# Fixtures shared by the cases API tests.
andino = case_support.andino
customers = case_support.customers
retail = case_support.retail
viewer = case_support.viewer


# --- open -------------------------------------------------------------------------------
async def test_open_case_returns_the_case_with_everything_around_it(
    gql: Any, andino: str, customers: list[Any]
) -> None:
    case = await open_case(gql, andino, customers[0], externalRef="AND-77", priority="HIGH")
    assert re.fullmatch(r"CS-\d{4}-\d{6}", case["reference"])
    assert case["status"] == "OPEN" and case["version"] == 1
    assert case["priority"] == "HIGH" and case["channel"] == "BRANCH"
    assert case["amountInDispute"] == {
        "amount": "150000",
        "currency": "CLP",
        "minorUnits": "150000",
    }
    assert case["cardLast4"] == "4321"
    assert case["originatingPartner"]["code"] == case["handlingPartner"]["code"] == "BANCO_ANDINO"
    assert case["typology"]["code"] == "DEVOLUCION_INTERESES"
    assert case["typology"]["slaBusinessDays"] == 10
    assert case["slaDueAt"] and case["slaState"] == "ON_TRACK"
    assert case["piiMasked"] is False and case["viewerCanAct"] is True
    customer = customers[0]
    assert case["customer"]["id"] == gid("Customer", customer.id)
    assert case["customer"]["name"] == f"{customer.given_names} {customer.family_names}"
    assert case["customer"]["piiMasked"] is False
    (status,) = case["partnerStatuses"]
    assert status["partner"]["code"] == "BANCO_ANDINO" and status["externalRef"] == "AND-77"
    (entry,) = [e["node"] for e in case["timeline"]["edges"]]
    assert entry["kind"] == "OPENED" and entry["seq"] == 1
    assert entry["actorPartner"]["code"] == "BANCO_ANDINO"
    # The card token is stored, never returned (not even inside the timeline).
    assert "tok_visa" not in str(case)
    key = relay_key(case["id"])
    assert await outbox_topics(case["id"]) == ["cases.opened"]  # keyed by the global id
    assert await audit_actions(key) == ["cases.opened"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"description": "Mi tarjeta 4111 1111 1111 1111 fue clonada"}, "description"),
        ({"cardLast4": "4111111111111111"}, "cardLast4"),
        ({"cardToken": "4111111111111111"}, "cardToken"),
        ({"amountInDispute": None}, "amountInDispute"),
        ({"amountInDispute": {"amount": "10.5", "currency": "CLP"}}, "amountInDispute.amount"),
        ({"typologyCode": "NO_SUCH"}, "typologyCode"),
        ({"customerId": "not-an-id"}, "customerId"),
        ({"description": "   "}, "description"),
    ],
)
async def test_open_case_refuses_bad_input_and_writes_nothing(
    gql: Any, andino: str, customers: list[Any], overrides: dict[str, Any], field: str
) -> None:
    before = await fingerprint()
    result = await gql(OPEN, {"input": open_input(customers[0], **overrides)}, token=andino)
    assert typename(result, "openCase") == "ValidationError", result
    payload = result["data"]["openCase"]
    assert field in {p["field"] for p in payload["problems"]}, payload
    assert "4111" not in str(payload)  # a card number is never echoed back
    assert await fingerprint() == before


async def test_only_partner_staff_open_cases(
    gql: Any, viewer: str, token: Any, customers: list[Any]
) -> None:
    before = await fingerprint()
    result = await gql(OPEN, {"input": open_input(customers[0])}, token=viewer)
    assert typename(result, "openCase") == "ForbiddenError"
    # An agent may not open a case in another partner's name.
    andino = token("agent", partner="BANCO_ANDINO")
    ids = await partner_ids()
    other = open_input(customers[0], originatingPartnerId=gid("Partner", ids["RETAIL_SUR"]))
    result = await gql(OPEN, {"input": other}, token=andino)
    assert typename(result, "openCase") == "ForbiddenError"
    assert await fingerprint() == before


# --- update / transition / resolve ------------------------------------------------------
async def test_update_case_with_optimistic_concurrency(
    gql: Any, andino: str, customers: list[Any]
) -> None:
    case = await open_case(gql, andino, customers[0])
    updated = await run(
        gql,
        UPDATE,
        "updateCase",
        andino,
        id=case["id"],
        version=1,
        priority="CRITICAL",
        description="Cobro de intereses indebido en la cuota 3.",
        amountInDispute={"amount": "90000", "currency": "CLP"},
    )
    assert updated["__typename"] == "UpdateCaseSuccess", updated
    after = updated["case"]
    assert after["version"] == 2 and after["priority"] == "CRITICAL"
    assert after["amountInDispute"]["amount"] == "90000"
    entry = after["timeline"]["edges"][-1]["node"]
    assert entry["kind"] == "UPDATED"
    assert entry["before"]["priority"] == "MEDIUM" and entry["after"]["priority"] == "CRITICAL"

    # A stale version conflicts, names the current one, and changes nothing.
    before = await fingerprint()
    stale = await run(gql, UPDATE, "updateCase", andino, id=case["id"], version=1, priority="LOW")
    assert stale["__typename"] == "ConflictError" and stale["currentVersion"] == 2
    assert stale["code"] == "CONFLICT"
    # Clearing a required field is refused.
    cleared = await run(
        gql, UPDATE, "updateCase", andino, id=case["id"], version=2, typologyCode=None
    )
    assert cleared["__typename"] == "ValidationError" and cleared["field"] == "typologyCode"
    pan = await run(
        gql, UPDATE, "updateCase", andino, id=case["id"], version=2, cardToken="5500005555555559"
    )
    assert pan["__typename"] == "ValidationError" and pan["field"] == "cardToken"
    assert await fingerprint() == before


async def test_transition_and_resolve(gql: Any, andino: str, customers: list[Any]) -> None:
    case = await open_case(gql, andino, customers[0])
    moved = await run(
        gql, TRANSITION, "transitionCase", andino, id=case["id"], version=1, toStatus="IN_PROGRESS"
    )
    assert moved["__typename"] == "TransitionCaseSuccess"
    assert moved["case"]["status"] == "IN_PROGRESS" and moved["case"]["version"] == 2

    before = await fingerprint()
    resolved_by_transition = await run(
        gql, TRANSITION, "transitionCase", andino, id=case["id"], version=2, toStatus="RESOLVED"
    )
    assert resolved_by_transition["__typename"] == "ValidationError"
    assert resolved_by_transition["field"] == "toStatus"
    no_reason = await run(
        gql, TRANSITION, "transitionCase", andino, id=case["id"], version=2, toStatus="REJECTED"
    )
    assert no_reason["__typename"] == "ValidationError" and no_reason["field"] == "note"
    too_much = await run(
        gql,
        RESOLVE,
        "resolveCase",
        andino,
        id=case["id"],
        version=2,
        code="FAVORABLE",
        note="Se devuelven los intereses.",
        amountRefunded={"amount": "150001", "currency": "CLP"},
    )
    assert too_much["__typename"] == "ValidationError" and too_much["field"] == "amountRefunded"
    assert await fingerprint() == before

    resolved = await run(
        gql,
        RESOLVE,
        "resolveCase",
        andino,
        id=case["id"],
        version=2,
        code="PARTIALLY_FAVORABLE",
        note="Se devuelve parte de los intereses.",
        amountRefunded={"amount": "50000", "currency": "CLP"},
    )
    assert resolved["__typename"] == "ResolveCaseSuccess", resolved
    after = resolved["case"]
    assert after["status"] == "RESOLVED" and after["resolvedAt"]
    assert after["resolution"]["code"] == "PARTIALLY_FAVORABLE"
    assert after["resolution"]["amountRefunded"]["minorUnits"] == "50000"
    # A finished case cannot be moved where the state machine does not go.
    wrong = await run(
        gql, TRANSITION, "transitionCase", andino, id=case["id"], version=3, toStatus="OPEN"
    )
    assert wrong["__typename"] == "InvalidTransitionError"
    assert (wrong["fromState"], wrong["toState"]) == ("RESOLVED", "OPEN")
    closed = await run(
        gql, TRANSITION, "transitionCase", andino, id=case["id"], version=3, toStatus="CLOSED"
    )
    assert closed["case"]["status"] == "CLOSED" and closed["case"]["closedAt"]
    assert await outbox_topics(case["id"]) == [
        "cases.opened",
        "cases.status_changed",
        "cases.resolved",
        "cases.status_changed",
    ]


# --- comments ---------------------------------------------------------------------------
async def test_comments_internal_and_customer_visible_by_role(
    gql: Any, andino: str, viewer: str, token: Any, customers: list[Any]
) -> None:
    case = await open_case(gql, andino, customers[0])
    internal = await run(
        gql,
        COMMENT,
        "addCaseComment",
        andino,
        caseId=case["id"],
        version=1,
        body="Revisar con el área de cobranzas.",
    )
    assert internal["__typename"] == "AddCaseCommentSuccess", internal
    assert internal["comment"]["visibility"] == "INTERNAL"
    assert internal["case"]["version"] == 2
    public = await run(
        gql,
        COMMENT,
        "addCaseComment",
        andino,
        caseId=case["id"],
        version=2,
        body="Estamos revisando su caso.",
        visibility="CUSTOMER",
    )
    assert public["comment"]["visibility"] == "CUSTOMER"
    stale = await run(
        gql, COMMENT, "addCaseComment", andino, caseId=case["id"], version=2, body="otra"
    )
    assert stale["__typename"] == "ConflictError" and stale["currentVersion"] == 3

    mine = (await gql(GET, {"id": case["id"]}, token=andino))["data"]["case"]
    assert [c["node"]["body"] for c in mine["comments"]["edges"]] == [
        "Revisar con el área de cobranzas.",
        "Estamos revisando su caso.",
    ]
    kinds = {e["node"]["visibility"] for e in mine["timeline"]["edges"]}
    assert kinds == {"INTERNAL", "CUSTOMER"}

    # A network viewer (not involved, no pii:read) sees only what the customer may see,
    # masked; a supervisor of an uninvolved partner sees the customer-visible part in clear.
    theirs = (await gql(GET, {"id": case["id"]}, token=viewer))["data"]["case"]
    (only,) = [c["node"] for c in theirs["comments"]["edges"]]
    assert only["visibility"] == "CUSTOMER" and only["body"] == "•••"
    assert only["authorName"] is None
    assert {e["node"]["visibility"] for e in theirs["timeline"]["edges"]} == {"CUSTOMER"}
    pampa = token("supervisor", partner="BANCO_PAMPA")
    other = (await gql(GET, {"id": case["id"]}, token=pampa))["data"]["case"]
    (seen,) = [c["node"] for c in other["comments"]["edges"]]
    assert seen["body"] == "Estamos revisando su caso."

    # Staff of an uninvolved partner cannot comment; the case is not theirs to see.
    retail = token("agent", partner="RETAIL_SUR")
    before = await fingerprint()
    refused = await run(
        gql, COMMENT, "addCaseComment", retail, caseId=case["id"], version=3, body="hola"
    )
    assert refused["__typename"] == "NotFoundError"
    assert await fingerprint() == before


# --- derivation -------------------------------------------------------------------------
async def test_derive_accept_and_reject(
    gql: Any, andino: str, retail: str, token: Any, customers: list[Any]
) -> None:
    ids = await partner_ids()
    case = await open_case(gql, andino, customers[0])
    derived = await run(
        gql,
        DERIVE,
        "deriveCase",
        andino,
        id=case["id"],
        version=1,
        to=gid("Partner", ids["RETAIL_SUR"]),
        reason="La tarjeta la emite Retail Sur.",
    )
    assert derived["__typename"] == "DeriveCaseSuccess", derived
    pending = derived["case"]
    assert pending["pendingDerivationTo"]["code"] == "RETAIL_SUR"
    assert pending["pendingDerivation"]["reason"] == "La tarjeta la emite Retail Sur."
    assert pending["handlingPartner"]["code"] == "BANCO_ANDINO"

    # The target sees it in its OWN view as waiting for it, and may answer.
    seen = await gql(SEARCH, {"view": "OWN", "filter": {"pendingDerivation": True}}, token=retail)
    nodes = [e["node"] for e in seen["data"]["cases"]["edges"]]
    assert [n["id"] for n in nodes] == [case["id"]]
    assert nodes[0]["viewerCanAnswerDerivation"] is True and nodes[0]["viewerCanAct"] is False

    # The handler cannot answer its own derivation; the target cannot act on the case yet.
    before = await fingerprint()
    own = await run(gql, ACCEPT, "acceptDerivation", andino, id=case["id"], version=2)
    assert own["__typename"] == "ForbiddenError"
    early = await run(gql, UPDATE, "updateCase", retail, id=case["id"], version=2, priority="LOW")
    assert early["__typename"] == "ForbiddenError"
    stale = await run(gql, ACCEPT, "acceptDerivation", retail, id=case["id"], version=1)
    assert stale["__typename"] == "ConflictError"
    assert await fingerprint() == before

    accepted = await run(
        gql, ACCEPT, "acceptDerivation", retail, id=case["id"], version=2, note="Tomado."
    )
    assert accepted["__typename"] == "AcceptDerivationSuccess", accepted
    after = accepted["case"]
    assert after["handlingPartner"]["code"] == "RETAIL_SUR"
    assert after["pendingDerivation"] is None and after["viewerCanAct"] is True
    assert {s["partner"]["code"] for s in after["partnerStatuses"]} == {
        "BANCO_ANDINO",
        "RETAIL_SUR",
    }

    # The originator keeps seeing the case (ECOSYSTEM) but no longer acts on it.
    kept = (await gql(GET, {"id": case["id"]}, token=andino))["data"]["case"]
    assert kept["handlingPartner"]["code"] == "RETAIL_SUR" and kept["viewerCanAct"] is False
    before = await fingerprint()
    refused = await run(gql, UPDATE, "updateCase", andino, id=case["id"], version=3, priority="LOW")
    assert refused["__typename"] == "ForbiddenError"
    assert await fingerprint() == before

    # Rejecting: the handler keeps the case and sees why.
    again = await run(
        gql,
        DERIVE,
        "deriveCase",
        retail,
        id=case["id"],
        version=3,
        to=gid("Partner", ids["BANCO_PAMPA"]),
        reason="Lo revisa el banco.",
    )
    assert again["__typename"] == "DeriveCaseSuccess"
    pampa = token("agent", partner="BANCO_PAMPA")
    rejected = await run(
        gql,
        REJECT,
        "rejectDerivation",
        pampa,
        id=case["id"],
        version=4,
        reason="No es nuestro cliente.",
    )
    assert rejected["__typename"] == "RejectDerivationSuccess", rejected
    assert rejected["case"]["handlingPartner"]["code"] == "RETAIL_SUR"
    assert rejected["case"]["pendingDerivation"] is None
    assert await outbox_topics(case["id"]) == [
        "cases.opened",
        "cases.derived",
        "cases.derivation_accepted",
        "cases.derived",
        "cases.derivation_rejected",
    ]


async def test_derivation_targets_only_active_partners(
    gql: Any, andino: str, customers: list[Any]
) -> None:
    case = await open_case(gql, andino, customers[0])
    before = await fingerprint()
    for target, field in (
        (gid("Partner", "01a20028-0000-7000-8000-000000000000"), "to"),  # no such partner
        (gid("Customer", customers[0].id), "to"),  # not a partner's id
        ("garbage", "to"),
    ):
        result = await run(
            gql, DERIVE, "deriveCase", andino, id=case["id"], version=1, to=target, reason="x"
        )
        assert result["__typename"] == "ValidationError" and result["field"] == field, result
    andino_id = gid("Partner", (await partner_ids())["BANCO_ANDINO"])
    itself = await run(
        gql, DERIVE, "deriveCase", andino, id=case["id"], version=1, to=andino_id, reason="x"
    )
    assert itself["__typename"] == "ValidationError"
    assert await fingerprint() == before


TIMELINE_PAGE = """
query Page($id: ID!, $after: String, $commentsAfter: String) {
  case(id: $id) {
    timeline(first: 2, after: $after) {
      edges { cursor node { seq kind } }
      pageInfo { hasNextPage hasPreviousPage endCursor }
    }
    comments(first: 1, after: $commentsAfter) { edges { node { body } } }
  }
}
"""


async def test_the_timeline_pages_by_cursor(gql: Any, andino: str, customers: list[Any]) -> None:
    case = await open_case(gql, andino, customers[0])
    for version, status in ((1, "IN_PROGRESS"), (2, "WAITING_CUSTOMER"), (3, "IN_PROGRESS")):
        moved = await run(
            gql,
            TRANSITION,
            "transitionCase",
            andino,
            id=case["id"],
            version=version,
            toStatus=status,
        )
        assert moved["__typename"] == "TransitionCaseSuccess", moved
    seen: list[int] = []
    after = None
    while True:
        result = await gql(TIMELINE_PAGE, {"id": case["id"], "after": after}, token=andino)
        timeline = result["data"]["case"]["timeline"]
        seen += [e["node"]["seq"] for e in timeline["edges"]]
        if not timeline["pageInfo"]["hasNextPage"]:
            break
        after = timeline["pageInfo"]["endCursor"]
        assert timeline["pageInfo"]["hasPreviousPage"] is (len(seen) > 2)
    assert seen == [1, 2, 3, 4]
    # A timeline cursor is not a comments cursor: refused with a code.
    result = await gql(TIMELINE_PAGE, {"id": case["id"], "commentsAfter": after}, token=andino)
    assert [e["extensions"]["code"] for e in result["errors"]] == ["VALIDATION"]
    assert "cursor" in result["errors"][0]["message"]

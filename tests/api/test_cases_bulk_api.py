"""Mass resolution through the GraphQL API: the job is returned at once and started by the
event committed with the request (the test plays the worker); each case's outcome; the
same request is the same job; another partner's cases are never touched (by id or by
filter)."""

from __future__ import annotations

from typing import Any

from tests.api import case_support
from tests.api.case_support import (
    ACCEPT,
    DERIVE,
    GET,
    RESOLVE,
    fingerprint,
    gid,
    open_case,
    outbox_topics,
    partner_ids,
    relay_key,
    run,
)

# Fixtures shared by the cases API tests.
andino = case_support.andino
customers = case_support.customers
retail = case_support.retail
retail_supervisor = case_support.retail_supervisor

# --- mass resolution ----------------------------------------------------------------------
RESOLVE_CASES = """
mutation Bulk($input: ResolveCasesInput!) {
  resolveCases(input: $input) {
    __typename
    ... on ResolveCasesSuccess { job { id status total processed progress code note view } }
    ... on UserError { message code }
    ... on ValidationError { field problems { field message } }
  }
}
"""
BULK = """
query Bulk($id: ID!, $outcome: BulkResolutionOutcome) {
  bulkResolution(id: $id) {
    id status total processed resolvedCount skippedCount forbiddenCount notFoundCount progress
    finishedAt
    outcomes(outcome: $outcome, first: 50) {
      edges { node { caseId reference outcome message case { id status } } }
    }
  }
}
"""


async def work_off(job_id: str) -> None:
    """What the worker does: batches until the job is done."""
    from app.db import transaction
    from domain.cases import bulk

    key = relay_key(job_id)
    import uuid

    while True:
        async with transaction() as session:
            progress = await bulk.process_bulk_batch(session, bulk_id=uuid.UUID(key), batch_size=2)
        if progress.finished:
            return


async def test_mass_resolution_by_ids_reports_each_case(
    gql: Any, andino: str, retail: str, token: Any, customers: list[Any]
) -> None:
    ids = await partner_ids()
    retail_id = gid("Partner", ids["RETAIL_SUR"])
    open_one = await open_case(gql, andino, customers[0])
    done = await open_case(gql, andino, customers[1])
    await run(
        gql, RESOLVE, "resolveCase", andino, id=done["id"], version=1, code="DUPLICATE", note="dup"
    )
    waiting = await open_case(gql, andino, customers[2])
    await run(
        gql, DERIVE, "deriveCase", andino, id=waiting["id"], version=1, to=retail_id, reason="r"
    )
    handed = await open_case(gql, andino, customers[0])
    await run(
        gql, DERIVE, "deriveCase", andino, id=handed["id"], version=1, to=retail_id, reason="r"
    )
    await run(gql, ACCEPT, "acceptDerivation", retail, id=handed["id"], version=2)
    theirs = await open_case(gql, retail, customers[1])
    ghost = gid("Case", "01a20028-0000-7000-8000-00000000abcd")

    supervisor = token("supervisor", partner="BANCO_ANDINO")
    request = {
        "ids": [c["id"] for c in (open_one, done, waiting, handed, theirs)] + [ghost],
        "code": "INFORMATION_PROVIDED",
        "note": "Respuesta masiva",
    }
    result = await run(gql, RESOLVE_CASES, "resolveCases", supervisor, **request)
    assert result["__typename"] == "ResolveCasesSuccess", result
    job = result["job"]
    assert job["status"] == "PENDING" and job["total"] == 6 and job["progress"] == 0
    assert job["view"] == "ECOSYSTEM"
    # The job starts from the event committed with the request (the workers' consumer).
    assert await outbox_topics(job["id"]) == ["cases.bulk_resolution_requested"]

    await work_off(job["id"])
    read = (await gql(BULK, {"id": job["id"]}, token=supervisor))["data"]["bulkResolution"]
    assert read["status"] == "DONE" and read["progress"] == 1 and read["finishedAt"]
    assert (
        read["resolvedCount"],
        read["skippedCount"],
        read["forbiddenCount"],
        read["notFoundCount"],
    ) == (1, 2, 1, 2)
    outcome = {e["node"]["caseId"]: e["node"] for e in read["outcomes"]["edges"]}
    assert outcome[open_one["id"]]["outcome"] == "RESOLVED"
    assert outcome[open_one["id"]]["case"]["status"] == "RESOLVED"
    assert outcome[done["id"]]["outcome"] == "SKIPPED_STATE"
    assert outcome[waiting["id"]]["outcome"] == "SKIPPED_STATE"
    assert outcome[handed["id"]]["outcome"] == "FORBIDDEN"
    # Another partner's case: NOT_FOUND, with nothing that tells it exists.
    for key in (theirs["id"], ghost):
        assert outcome[key]["outcome"] == "NOT_FOUND"
        assert outcome[key]["reference"] is None and outcome[key]["case"] is None
    untouched = (await gql(GET, {"id": theirs["id"]}, token=retail))["data"]["case"]
    assert untouched["status"] == "OPEN" and untouched["version"] == 1
    resolved = (await gql(GET, {"id": open_one["id"]}, token=andino))["data"]["case"]
    assert resolved["resolution"]["code"] == "INFORMATION_PROVIDED"
    assert resolved["timeline"]["edges"][-1]["node"]["kind"] == "BULK_RESOLVED"
    only = await gql(BULK, {"id": job["id"], "outcome": "FORBIDDEN"}, token=supervisor)
    assert [e["node"]["caseId"] for e in only["data"]["bulkResolution"]["outcomes"]["edges"]] == [
        handed["id"]
    ]

    # The same request again is the same job: nothing is done (or sent) twice.
    before = await fingerprint()
    again = await run(gql, RESOLVE_CASES, "resolveCases", supervisor, **request)
    assert again["job"]["id"] == job["id"] and again["job"]["status"] == "DONE"
    assert await fingerprint() == before
    # Nobody else's business: another partner's supervisor cannot read the job.
    other = token("supervisor", partner="RETAIL_SUR")
    assert (await gql(BULK, {"id": job["id"]}, token=other))["data"]["bulkResolution"] is None


async def test_mass_resolution_by_filter_stays_inside_the_view(
    gql: Any, andino: str, token: Any, customers: list[Any]
) -> None:
    ids = await partner_ids()
    mine = await open_case(gql, andino, customers[0])
    retail_supervisor = token("supervisor", partner="RETAIL_SUR")
    before = await fingerprint()
    result = await run(
        gql,
        RESOLVE_CASES,
        "resolveCases",
        retail_supervisor,
        filter={"handlingPartnerIds": [gid("Partner", ids["BANCO_ANDINO"])]},
        view="ECOSYSTEM",
        code="FAVORABLE",
        note="Todo resuelto",
    )
    assert result["__typename"] == "ResolveCasesSuccess"
    assert result["job"]["total"] == 0
    await work_off(result["job"]["id"])
    read = (await gql(BULK, {"id": result["job"]["id"]}, token=retail_supervisor))["data"]
    assert read["bulkResolution"]["status"] == "DONE"
    assert read["bulkResolution"]["resolvedCount"] == 0
    after = (await gql(GET, {"id": mine["id"]}, token=andino))["data"]["case"]
    assert after["status"] == "OPEN" and after["version"] == 1
    changed = await fingerprint()
    assert changed["cases"] == before["cases"] and changed["case_events"] == before["case_events"]

    # A supervisor may ask in the NETWORK view: the job still acts only where it may.
    before = await fingerprint()
    network = await run(
        gql,
        RESOLVE_CASES,
        "resolveCases",
        retail_supervisor,
        filter={"statuses": ["OPEN"]},
        view="NETWORK",
        code="FAVORABLE",
        note="x",
    )
    assert network["__typename"] == "ResolveCasesSuccess"
    await work_off(network["job"]["id"])
    after = (await gql(GET, {"id": mine["id"]}, token=andino))["data"]["case"]
    assert after["status"] == "OPEN" and after["version"] == 1
    before = await fingerprint()
    agent = await run(
        gql, RESOLVE_CASES, "resolveCases", andino, ids=[mine["id"]], code="FAVORABLE", note="x"
    )
    assert agent["__typename"] == "ForbiddenError"
    bad = await run(
        gql,
        RESOLVE_CASES,
        "resolveCases",
        token("supervisor", partner="BANCO_ANDINO"),
        ids=["nope"],
        code="REJECTED",
        note="",
    )
    assert bad["__typename"] == "ValidationError"
    assert await fingerprint() == before

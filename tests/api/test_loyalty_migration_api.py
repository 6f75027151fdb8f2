"""``loyaltyMigration(id:)`` through GraphQL: a run's figures, its discrepancies with keyset
pagination, its journal; only the program's partner staff who manage loyalty and
administrators see it."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.db import Database, read_session
from domain.loyalty_migration.generator import generate
from domain.partners.models import Partner
from resolvers.ids import encode_node_id
from tests.conftest import GraphQLClient
from tests.domain.loyalty_migration.support import make_program, run_import

RUN = """
query($id: ID!, $first: Int, $after: String, $kind: LoyaltyMigrationDiscrepancyKind) {
  loyaltyMigration(id: $id) {
    id status source cutoff exportHash batchesPlanned batchesDone journalHead
    legacyPoints migratedPoints balancesAgreeing balancesDiffering differencePoints
    monthsDiffering shadowMembersDiffering
    counts { members accounts movements customersCreated entries expiries }
    files { kind file sha256 records }
    discrepancies(kind: $kind, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        cursor
        node { kind memberNumber accountId legacyPoints tramaPoints difference explanation }
      }
    }
    batches(first: 50) { edges { node { seq prevHash hash contentHash movements } } }
  }
}
"""


async def _imported(tmp_path: Path) -> tuple[str, str, Any]:
    export = generate(
        tmp_path, members=30, transactions=500, seed=23, defects={"balance_mismatch": 3}
    )
    program = await make_program()
    result, _ = await run_import(tmp_path, program, batch_size=120)
    async with read_session() as session:
        partner = await session.get(Partner, program.partner_id)
    assert partner is not None
    return encode_node_id("LoyaltyMigration", result.run_id), partner.code, export


async def test_the_programs_supervisor_reads_the_run(
    db: Database, tmp_path: Path, gql: GraphQLClient, token: Callable[..., str]
) -> None:
    run_id, partner, export = await _imported(tmp_path)
    supervisor = token("supervisor", partner=partner)
    body = await gql(RUN, {"id": run_id, "first": 2, "kind": "BALANCE"}, token=supervisor)
    assert "errors" not in body, body
    run = body["data"]["loyaltyMigration"]
    assert run["status"] == "COMPLETED" and run["cutoff"] == "2026-11-30"
    assert run["counts"]["members"] == 30 and run["counts"]["customersCreated"] == 30
    assert run["batchesDone"] == run["batchesPlanned"] > 1
    assert {f["kind"] for f in run["files"]} == {
        "members",
        "accounts",
        "movements",
        "balances",
        "parameters",
    }
    assert run["balancesDiffering"] >= 3

    # every discrepancy, two at a time, by keyset cursor
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        body = await gql(
            RUN, {"id": run_id, "first": 2, "after": after, "kind": "BALANCE"}, token=supervisor
        )
        page = body["data"]["loyaltyMigration"]["discrepancies"]
        seen.extend(e["node"] for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == page["totalCount"] == run["balancesDiffering"]
    assert len({s["memberNumber"] for s in seen}) == len(seen)
    assert set(export.omitted) <= {s["memberNumber"] for s in seen}
    for item in seen:
        assert int(item["difference"]) == int(item["tramaPoints"]) - int(item["legacyPoints"])
        assert item["explanation"]["explainedBy"]

    # the journal: each batch points at the previous one; the last is the head
    batches = [e["node"] for e in run["batches"]["edges"]]
    assert [b["seq"] for b in batches] == list(range(1, run["batchesDone"] + 1))
    assert batches[0]["prevHash"] == "0" * 64
    for before, after_ in itertools.pairwise(batches):
        assert after_["prevHash"] == before["hash"]
    assert batches[-1]["hash"] == run["journalHead"]
    assert sum(b["movements"] for b in batches) == run["counts"]["movements"]

    node = await gql(
        "query($id: ID!) { node(id: $id) { ... on LoyaltyMigration { id batchesDone } } }",
        {"id": run_id},
        token=supervisor,
    )
    assert node["data"]["node"]["id"] == run_id
    listed = await gql(
        "{ loyaltyMigrations { totalCount edges { node { id } } } }", token=supervisor
    )
    assert listed["data"]["loyaltyMigrations"]["totalCount"] == 1


async def test_others_do_not_see_it(
    db: Database, tmp_path: Path, gql: GraphQLClient, token: Callable[..., str]
) -> None:
    run_id, partner, _ = await _imported(tmp_path)
    async with read_session() as session:
        other = (
            await session.execute(sa.select(Partner.code).where(Partner.code != partner).limit(1))
        ).scalar_one()
    query = "query($id: ID!) { loyaltyMigration(id: $id) { id } }"
    # another partner's supervisor: it does not exist
    body = await gql(query, {"id": run_id}, token=token("supervisor", partner=other))
    assert body["data"]["loyaltyMigration"] is None
    listed = await gql(
        "{ loyaltyMigrations { totalCount } }", token=token("supervisor", partner=other)
    )
    assert listed["data"]["loyaltyMigrations"]["totalCount"] == 0
    # the program's own agents do not manage loyalty
    body = await gql(query, {"id": run_id}, token=token("agent", partner=partner))
    assert body["data"]["loyaltyMigration"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # an administrator does
    body = await gql(query, {"id": run_id}, token=token("admin"))
    assert body["data"]["loyaltyMigration"]["id"] == run_id


async def test_a_bad_cursor_is_refused(
    db: Database, tmp_path: Path, gql: GraphQLClient, token: Callable[..., str]
) -> None:
    run_id, partner, _ = await _imported(tmp_path)
    body = await gql(
        RUN, {"id": run_id, "after": "bm90LWEtY3Vyc29y"}, token=token("supervisor", partner=partner)
    )
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"

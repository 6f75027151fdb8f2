"""CPU per request of four reads of the issue's mix, compiled reads off and on, in one
process (httpx against the ASGI app, so HTTP parsing, the token and JSON are counted):
a customers page of 50 with each home partner, a case search page of 50 (NETWORK view,
OWN for the agent; newest updated first, with customer name, typology and handling
partner), a credit with its installments, a case with its timeline; the pages also for
a network viewer and a partner's agent (masked, scoped). Each answer must be the same bytes in both
modes (the tests' shadow mode checks that for every role). Prints one JSON object.

Run with the tests' fixtures (PostgreSQL as in the tests, or SQLite without the variables):

    TRAMA_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/trama_bench \
    .venv/bin/pytest bench/compiled_reads_cpu.py -p tests.conftest -q -s
"""

from __future__ import annotations

import json
import time
from typing import Any

from app.compiled import engine
from app.seed_cases import seed_cases
from tests.api.test_compiled_reads import World, world  # noqa: F401

QUERIES = {
    "customers50": "query A { customers(first: 50) { edges { node { id givenNames familyNames "
    "nationalId { type number } email homePartner { code name } } } } }",
    "cases50": "query B($view: CaseView!) { cases(first: 50, view: $view, "
    "orderBy: UPDATED_AT_DESC) { totalCount "
    "edges { cursor node { id reference status typologyCode updatedAt customer { name } "
    "typology { name } handlingPartner { code } } } } }",
    "credit": "query C($id: ID!) { credit(id: $id) { id reference status installments { number "
    "dueDate installment { amount currency } outstanding { amount } status } } }",
    "case": "query D($id: ID!) { case(id: $id) { id reference status timeline(first: 50) { edges "
    "{ node { seq at kind note actor } } } } }",
}


async def test_measure(client: Any, world: World, runtime: Any) -> None:  # noqa: F811
    await seed_cases(120)
    out: dict[str, Any] = {}
    compiled = engine.latest()
    assert compiled is not None
    answers: dict[str, bytes] = {}
    for mode, role, name in (
        (mode, role, name)
        for mode in ("off", "on")
        for role in ("admin", "viewer", "agent")
        for name in QUERIES
        if role == "admin" or name.endswith("50")  # pages: the masked and scoped callers
    ):
        compiled.mode = mode
        token = world.tokens[role]
        q = QUERIES[name]
        if True:
            target = world.ids["credit" if name == "credit" else "case"]
            variables: dict[str, Any] = {"id": target} if "$id" in q else {}
            if "$view" in q:  # the widest view each role may use
                variables["view"] = "OWN" if role == "agent" else "NETWORK"
            body = {"query": q, "variables": variables}
            headers = {"authorization": f"Bearer {token}"}
            first = None
            for _ in range(5):
                r = await client.post("/graphql", json=body, headers=headers)
                first = first or r.content
            assert first is not None and b'"errors"' not in first, first
            # the same bytes either way
            assert answers.setdefault(f"{name}/{role}", first) == first, name
            n = 60
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                r = await client.post("/graphql", json=body, headers=headers)
                assert r.content == first
            out[f"{name}/{role}/{mode}"] = {
                "cpu_ms": round((time.process_time() - c0) * 1000 / n, 2),
                "wall_ms": round((time.perf_counter() - w0) * 1000 / n, 2),
                "bytes": len(first),
            }
    out["answered_by_plans"] = compiled.answered
    print(json.dumps(out))

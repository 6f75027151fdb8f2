"""Partners follow their cases over WebSockets: ``trama serve`` on a loopback port, the
``gql`` client, ``caseEvents`` in the OWN and ECOSYSTEM views, resuming by cursor. Runs
embedded (SQLite, in-process broker) or on Postgres + Redis, as the suite is configured."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gql import GraphQLRequest, gql

from tests.e2e.processes import Worker
from tests.e2e.test_events_e2e import token_for, ws
from tests.e2e.test_service_e2e import execute, http_client

if TYPE_CHECKING:
    from tests.e2e.conftest import Server

Trama = Callable[..., Awaitable[tuple[int, str, str]]]
TIMEOUT = 60.0

CASE_EVENTS = gql(
    """
    subscription Follow($view: CaseEventView!, $after: String) {
      caseEvents(view: $view, after: $after) {
        cursor topic caseId reference version status payload
        case { id status handlingPartner { code } }
      }
    }
    """
)
CUSTOMERS = gql("query { customers(first: 1) { edges { node { id } } } }")
PARTNERS = gql("query { partners { id code } }")
OPEN = gql(
    """
    mutation Open($input: OpenCaseInput!) {
      openCase(input: $input) {
        __typename ... on OpenCaseSuccess { case { id reference version } }
        ... on UserError { message }
      }
    }
    """
)
DERIVE = gql(
    """
    mutation Derive($input: DeriveCaseInput!) {
      deriveCase(input: $input) { __typename ... on UserError { message } }
    }
    """
)
ACCEPT = gql(
    """
    mutation Accept($input: AcceptDerivationInput!) {
      acceptDerivation(input: $input) { __typename ... on UserError { message } }
    }
    """
)
RESOLVE = gql(
    """
    mutation Resolve($input: ResolveCaseInput!) {
      resolveCase(input: $input) { __typename ... on UserError { message } }
    }
    """
)


async def collect(
    server: Server, token: str, count: int, ready: asyncio.Event, **variables: Any
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with ws(server, token) as session:
        stream = session.subscribe(GraphQLRequest(CASE_EVENTS, variable_values=variables))
        ready.set()
        async for item in stream:
            out.append(item["caseEvents"])
            if len(out) >= count:
                break
    return out


async def follow(server: Server, token: str, count: int, **variables: Any) -> asyncio.Task[Any]:
    ready = asyncio.Event()
    task = asyncio.create_task(collect(server, token, count, ready, **variables))
    await ready.wait()
    await asyncio.sleep(0.5)  # the subscription is registered once the stream started
    return task


async def test_partners_follow_their_cases_by_view_and_resume(server: Server, trama: Trama) -> None:
    async with asyncio.timeout(TIMEOUT):
        andino = await token_for(trama, server, "agent", "--partner", "BANCO_ANDINO")
        retail = await token_for(trama, server, "agent", "--partner", "RETAIL_SUR")
        async with http_client(server, andino) as session:
            customer = (await execute(session, CUSTOMERS))["edges"][0]["node"]["id"]
            result = await session.execute(PARTNERS)
            partners = {p["code"]: p["id"] for p in result["partners"]}

        retail_all = await follow(server, retail, 3, view="ECOSYSTEM")
        andino_own = await follow(server, andino, 4, view="OWN")

        def case_input() -> dict[str, Any]:
            return {
                "customerId": customer,
                "typologyCode": "RECLAMO",
                "channel": "WEB",
                "description": "Reclamo por atención.",
            }

        async with http_client(server, andino) as session:
            x = await execute(session, OPEN, input=case_input())
            y = await execute(session, OPEN, input=case_input())
            assert x["__typename"] == y["__typename"] == "OpenCaseSuccess", (x, y)
            x, y = x["case"], y["case"]
            derived = await execute(
                session,
                DERIVE,
                input={"id": y["id"], "version": 1, "to": partners["RETAIL_SUR"], "reason": "r"},
            )
            assert derived["__typename"] == "DeriveCaseSuccess", derived
        async with http_client(server, retail) as session:
            accepted = await execute(session, ACCEPT, input={"id": y["id"], "version": 2})
            assert accepted["__typename"] == "AcceptDerivationSuccess", accepted
            resolved = await execute(
                session,
                RESOLVE,
                input={"id": y["id"], "version": 3, "code": "FAVORABLE", "note": "Listo."},
            )
            assert resolved["__typename"] == "ResolveCaseSuccess", resolved
        async with http_client(server, andino) as session:
            z = await execute(session, OPEN, input=case_input())
            assert z["__typename"] == "OpenCaseSuccess", z
            z = z["case"]

        # Retail is involved in Y only, from the moment it was asked to take it.
        seen = await retail_all
        assert [(e["topic"], e["caseId"]) for e in seen] == [
            ("cases.derived", y["id"]),
            ("cases.derivation_accepted", y["id"]),
            ("cases.resolved", y["id"]),
        ]
        assert [e["version"] for e in seen] == [2, 3, 4]
        assert seen[2]["status"] == "RESOLVED" and seen[2]["reference"] == y["reference"]
        # Each event carries the case as it is now, read under the subscriber's rights.
        assert seen[2]["case"] == {
            "id": y["id"],
            "status": "RESOLVED",
            "handlingPartner": {"code": "RETAIL_SUR"},
        }
        assert "Reclamo por atención" not in str(seen)  # no personal data in the payload
        cursors = [int(e["cursor"]) for e in seen]
        assert cursors == sorted(cursors)

        # Andino's OWN view: its cases while it handles them (not Y once Retail took it).
        own = await andino_own
        assert [(e["topic"], e["caseId"]) for e in own] == [
            ("cases.opened", x["id"]),
            ("cases.opened", y["id"]),
            ("cases.derived", y["id"]),
            ("cases.opened", z["id"]),
        ]

        # Resuming after the first event replays exactly what came after it.
        ready = asyncio.Event()
        replay = await collect(server, retail, 2, ready, view="ECOSYSTEM", after=seen[0]["cursor"])
        assert [e["cursor"] for e in replay] == [e["cursor"] for e in seen[1:]]


RESOLVE_CASES = gql(
    """
    mutation Bulk($input: ResolveCasesInput!) {
      resolveCases(input: $input) {
        __typename ... on ResolveCasesSuccess { job { id status } } ... on UserError { message }
      }
    }
    """
)
PROGRESS = gql(
    """
    subscription Progress($id: ID!) {
      bulkResolutionProgress(id: $id) { id status processed resolvedCount progress }
    }
    """
)


async def test_a_mass_resolution_runs_on_the_workers_and_streams_its_progress(
    server: Server, trama: Trama, tmp_path: Path
) -> None:
    async with contextlib.AsyncExitStack() as stack, asyncio.timeout(TIMEOUT):
        if server.env.get("TRAMA_REDIS_URL"):
            # With Redis, `trama serve` runs no workers: the job needs a `trama worker`.
            worker = Worker(
                env=server.env,
                cwd=server.var_dir.parent,
                log_path=tmp_path / "worker.log",
                args=("--threads", "2"),
            )
            stack.push_async_callback(worker.stop)
            await worker.start()
        agent = await token_for(trama, server, "agent", "--partner", "TARJETA_PLATA")
        supervisor = await token_for(trama, server, "supervisor", "--partner", "TARJETA_PLATA")
        events = await follow(server, agent, 6, view="OWN")
        async with http_client(server, agent) as session:
            customer = (await execute(session, CUSTOMERS))["edges"][0]["node"]["id"]
            ids = []
            for _ in range(3):
                opened = await execute(
                    session,
                    OPEN,
                    input={
                        "customerId": customer,
                        "typologyCode": "RECLAMO",
                        "channel": "CALL_CENTER",
                        "description": "Reclamo.",
                    },
                )
                assert opened["__typename"] == "OpenCaseSuccess", opened
                ids.append(opened["case"]["id"])
        async with http_client(server, supervisor) as session:
            requested = await execute(
                session,
                RESOLVE_CASES,
                input={"ids": ids, "code": "INFORMATION_PROVIDED", "note": "Respondido."},
            )
        assert requested["__typename"] == "ResolveCasesSuccess", requested
        job_id = requested["job"]["id"]

        # Whenever the subscriber arrives, it gets the state then, each change, and the end.
        states: list[dict[str, Any]] = []
        async with ws(server, supervisor) as session:
            stream = session.subscribe(GraphQLRequest(PROGRESS, variable_values={"id": job_id}))
            async for item in stream:
                states.append(item["bulkResolutionProgress"])
        assert states[-1]["status"] == "DONE"
        assert states[-1]["resolvedCount"] == 3 and states[-1]["progress"] == 1
        processed = [s["processed"] for s in states]
        assert processed == sorted(processed)

        seen = await events
        assert [e["topic"] for e in seen] == ["cases.opened"] * 3 + ["cases.resolved"] * 3
        assert sorted(e["caseId"] for e in seen[3:]) == sorted(ids)
        assert all(e["payload"]["bulkId"] == seen[3]["payload"]["bulkId"] for e in seen[3:])
        # one representation: the payload names the case by the id the API shows
        assert all(e["payload"]["caseId"] == e["caseId"] for e in seen)

"""The standard read mix, Trama side by side with PostGraphile v5 (issue 14).

    make bench-peers                      # once: Node 22, PostGraphile 5, autocannon
    TRAMA_BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/trama_bench \\
        .venv/bin/python -m bench.read_mix [--rounds 3] [--seconds 10] [--warmup 3]
                                           [--connections 10] [--trama on:1,on:2]
                                           [--queries customers,...]

The database (PostgreSQL, dedicated to benchmarks) is migrated, and seeded when empty
(``trama seed --customers 10000 --cases 100000``: partners, customers, cases, the demo
credits and investors). Both servers read that same database: ``trama serve`` (production
settings) once per ``MODE:PROCESSES`` of ``--trama`` (MODE is TRAMA_COMPILED_READS, ignored
when this Trama has no such setting; PROCESSES is ``--workers``), and ``node
bench/peers/server.mjs`` (PostGraphile v5, amber preset, one process).

Each query of the mix is written for both servers so that both return the same rows in the
same order; the benchmark compares them before measuring and stops (exit 3) if they differ.
PostGraphile has no scopes nor masking: it gets the admin-equivalent query with the same
filters, and Trama runs as an administrator (its scope and masking rules are still
evaluated: the network view's check, the personal-data rule per row). Then, after a
warm-up of every (server, query), ``--rounds`` rounds measure each (server, query) for
``--seconds`` with autocannon (``--connections`` concurrent keep-alive clients), the
servers alternating query by query. CPU per request is the server's (all its processes')
user+system CPU during the run divided by the requests answered (PostgreSQL's and the load
generator's CPU are in neither). Prints one JSON object: per server and query the median
over rounds of req/s, p50, p99 and CPU ms per request, each round's figures, Trama's ratio
to PostGraphile, the issue's goals (1 process at least PostGraphile's req/s, 2 processes at
least twice, p99 under 50 ms on one process) met or not, the load average before and after.
Exit 3 when the rows differ, 1 when requests failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
NODE_BIN = PEERS / "node_modules" / ".bin"


# --- the mix ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Fixtures:
    partner_id: str
    status: str
    case_id: str
    credit_id: str
    credit_schedule_no: int
    investor_id: str


@dataclass
class Query:
    name: str
    what: str
    trama: str
    trama_variables: dict[str, Any]
    peer: str | None
    peer_variables: dict[str, Any]
    #: The rows of an answer, comparable across the two servers.
    trama_rows: Callable[[dict[str, Any]], list[Any]]
    peer_rows: Callable[[dict[str, Any]], list[Any]] | None
    #: Trama's principal for this query ("admin", or "agent" for the scoped page).
    role: str = "admin"


def _uuid_of(global_id: str) -> str:
    from resolvers.ids import decode_node_id

    for type_name in ("Customer", "Case", "Credit", "Investor"):
        found = decode_node_id(global_id, type_name)
        if found is not None:
            return str(found)
    raise ValueError(f"not a Trama id: {global_id}")


def _instant(text: str) -> str:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()


CUSTOMERS_TRAMA = """
query CustomersPage {
  customers(first: 50) {
    edges { node { id givenNames familyNames email phone homePartner { code name } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
CUSTOMERS_PEER = """
query CustomersPage {
  allCustomers(first: 50, orderBy: [SORT_NAME_ASC, PRIMARY_KEY_ASC]) {
    nodes { rowId givenNames familyNames email phone partnerByHomePartnerId { code name } }
    pageInfo { hasNextPage endCursor }
  }
}"""
CASES_TRAMA = """
query CaseSearch($partner: ID!, $status: CaseStatus!) {
  cases(view: NETWORK, filter: {handlingPartnerIds: [$partner], statuses: [$status]},
        orderBy: UPDATED_AT_DESC, first: 50) {
    edges { node { id reference status updatedAt typology { code name } customer { name } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
CASES_PEER = """
query CaseSearch($partner: UUID!, $status: String!) {
  allCases(condition: {handlingPartnerId: $partner, status: $status},
           orderBy: [UPDATED_AT_DESC, PRIMARY_KEY_DESC], first: 50) {
    nodes {
      rowId reference status updatedAt
      caseTypologyByTypologyCode { code name }
      customerByCustomerId { givenNames familyNames }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""
CASE_TRAMA = """
query CaseWithTimeline($id: ID!) {
  case(id: $id) {
    id reference status
    timeline(first: 50) { edges { node { seq at kind visibility note } } }
  }
}"""
CASE_PEER = """
query CaseWithTimeline($id: UUID!) {
  caseByRowId(rowId: $id) {
    rowId reference status
    caseEventsByCaseId(orderBy: SEQ_ASC, first: 50) { nodes { seq at kind visibility note } }
  }
}"""
CREDIT_TRAMA = """
query CreditSchedule($id: ID!) {
  credit(id: $id) {
    id reference status scheduleNo
    installments {
      number dueDate status
      principal { minorUnits } interest { minorUnits } installment { minorUnits }
      closingBalance { minorUnits }
    }
  }
}"""
CREDIT_PEER = """
query CreditSchedule($id: UUID!, $scheduleNo: Int!) {
  creditByRowId(rowId: $id) {
    rowId reference status scheduleNo
    creditInstallmentsByCreditId(condition: {scheduleNo: $scheduleNo}, orderBy: NUMBER_ASC) {
      nodes { number dueDate status principal interest amount closingBalance }
    }
  }
}"""
PORTFOLIO_TRAMA = """
query Portfolio($id: ID!) {
  investorPortfolio(investorId: $id) {
    investor { id legalName }
    currencies {
      currency positions { creditId creditReference creditStatus invested { minorUnits } }
    }
  }
}"""
PORTFOLIO_PEER = """
query Portfolio($id: UUID!) {
  investorByRowId(rowId: $id) {
    rowId legalName
    creditFundingsByInvestorId(orderBy: PRIMARY_KEY_ASC) {
      nodes { amount currency creditByCreditId { rowId reference status } }
    }
  }
}"""


def build_mix(f: Fixtures) -> list[Query]:
    from resolvers.ids import encode_node_id

    def node_id(type_name: str, key: str) -> str:
        import uuid

        return encode_node_id(type_name, uuid.UUID(key))

    def customers_t(d: dict[str, Any]) -> list[Any]:
        return [
            (
                _uuid_of(e["node"]["id"]),
                e["node"]["givenNames"],
                e["node"]["familyNames"],
                e["node"]["email"],
                e["node"]["phone"],
                e["node"]["homePartner"]["code"],
            )
            for e in d["customers"]["edges"]
        ]

    def customers_p(d: dict[str, Any]) -> list[Any]:
        return [
            (
                n["rowId"],
                n["givenNames"],
                n["familyNames"],
                n["email"],
                n["phone"],
                n["partnerByHomePartnerId"]["code"],
            )
            for n in d["allCustomers"]["nodes"]
        ]

    def cases_t(d: dict[str, Any]) -> list[Any]:
        return [
            (
                _uuid_of(e["node"]["id"]),
                e["node"]["reference"],
                e["node"]["status"],
                _instant(e["node"]["updatedAt"]),
                e["node"]["typology"]["code"],
                e["node"]["customer"]["name"],
            )
            for e in d["cases"]["edges"]
        ]

    def cases_p(d: dict[str, Any]) -> list[Any]:
        return [
            (
                n["rowId"],
                n["reference"],
                n["status"],
                _instant(n["updatedAt"]),
                n["caseTypologyByTypologyCode"]["code"],
                f"{n['customerByCustomerId']['givenNames']} "
                f"{n['customerByCustomerId']['familyNames']}",
            )
            for n in d["allCases"]["nodes"]
        ]

    def case_t(d: dict[str, Any]) -> list[Any]:
        c = d["case"]
        head = [(_uuid_of(c["id"]), c["reference"], c["status"])]
        return head + [
            (e["node"]["seq"], _instant(e["node"]["at"]), e["node"]["kind"], e["node"]["note"])
            for e in c["timeline"]["edges"]
        ]

    def case_p(d: dict[str, Any]) -> list[Any]:
        c = d["caseByRowId"]
        head = [(c["rowId"], c["reference"], c["status"])]
        return head + [
            (n["seq"], _instant(n["at"]), n["kind"], n["note"])
            for n in c["caseEventsByCaseId"]["nodes"]
        ]

    def credit_t(d: dict[str, Any]) -> list[Any]:
        c = d["credit"]
        head = [(_uuid_of(c["id"]), c["reference"], c["status"], c["scheduleNo"])]
        return head + [
            (
                i["number"],
                i["dueDate"],
                i["status"],
                int(i["principal"]["minorUnits"]),
                int(i["interest"]["minorUnits"]),
                int(i["installment"]["minorUnits"]),
                int(i["closingBalance"]["minorUnits"]),
            )
            for i in c["installments"]
        ]

    def credit_p(d: dict[str, Any]) -> list[Any]:
        c = d["creditByRowId"]
        head = [(c["rowId"], c["reference"], c["status"], c["scheduleNo"])]
        return head + [
            (
                n["number"],
                n["dueDate"],
                n["status"],
                int(n["principal"]),
                int(n["interest"]),
                int(n["amount"]),
                int(n["closingBalance"]),
            )
            for n in c["creditInstallmentsByCreditId"]["nodes"]
        ]

    def portfolio_t(d: dict[str, Any]) -> list[Any]:
        p = d["investorPortfolio"]
        rows = sorted(
            (_uuid_of(pos["creditId"]), pos["creditReference"], int(pos["invested"]["minorUnits"]))
            for cur in p["currencies"]
            for pos in cur["positions"]
        )
        return [(_uuid_of(p["investor"]["id"]), p["investor"]["legalName"]), *rows]

    def portfolio_p(d: dict[str, Any]) -> list[Any]:
        i = d["investorByRowId"]
        rows = sorted(
            (n["creditByCreditId"]["rowId"], n["creditByCreditId"]["reference"], int(n["amount"]))
            for n in i["creditFundingsByInvestorId"]["nodes"]
        )
        return [(i["rowId"], i["legalName"]), *rows]

    return [
        Query(
            "customers",
            "a customers page of 50 with each home partner (by name)",
            CUSTOMERS_TRAMA,
            {},
            CUSTOMERS_PEER,
            {},
            customers_t,
            customers_p,
        ),
        Query(
            "case_search",
            "a case search page of 50: one partner and status, newest updated first, "
            "with typology and customer name",
            CASES_TRAMA,
            {"partner": node_id("Partner", f.partner_id), "status": f.status},
            CASES_PEER,
            {"partner": f.partner_id, "status": f.status},
            cases_t,
            cases_p,
        ),
        Query(
            "case_timeline",
            "a case with its timeline",
            CASE_TRAMA,
            {"id": node_id("Case", f.case_id)},
            CASE_PEER,
            {"id": f.case_id},
            case_t,
            case_p,
        ),
        Query(
            "credit_schedule",
            "a credit with its schedule in force",
            CREDIT_TRAMA,
            {"id": node_id("Credit", f.credit_id)},
            CREDIT_PEER,
            {"id": f.credit_id, "scheduleNo": f.credit_schedule_no},
            credit_t,
            credit_p,
        ),
        Query(
            "investor_portfolio",
            "an investor portfolio (positions: credit and amount invested)",
            PORTFOLIO_TRAMA,
            {"id": node_id("Investor", f.investor_id)},
            PORTFOLIO_PEER,
            {"id": f.investor_id},
            portfolio_t,
            portfolio_p,
        ),
        Query(
            "customers_agent",
            "the customers page of a partner's agent (its home customers and those it is "
            "involved with; others' personal data masked): Trama only, PostGraphile has no "
            "scopes",
            CUSTOMERS_TRAMA,
            {},
            None,
            {},
            customers_t,
            None,
            role="agent",
        ),
    ]


# --- the database ----------------------------------------------------------------------
def _pg_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _fixtures(dsn: str) -> Fixtures:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        partner, status = await conn.fetchrow(
            "SELECT handling_partner_id, status FROM cases WHERE status = 'IN_PROGRESS' "
            "GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1"
        )
        case = await conn.fetchval(
            "SELECT c.id FROM cases c JOIN case_events e ON e.case_id = c.id "
            "GROUP BY c.id ORDER BY count(*) DESC, c.id LIMIT 1"
        )
        credit, schedule_no = await conn.fetchrow(
            "SELECT c.id, c.schedule_no FROM credits c JOIN credit_installments i "
            "ON i.credit_id = c.id AND i.schedule_no = c.schedule_no "
            "GROUP BY c.id, c.schedule_no ORDER BY count(*) DESC, c.id LIMIT 1"
        )
        investor = await conn.fetchval(
            "SELECT investor_id FROM credit_fundings GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        )
    finally:
        await conn.close()
    return Fixtures(str(partner), status, str(case), str(credit), schedule_no, str(investor))


@dataclass
class Database:
    url: str
    var_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def trama(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        return out.stdout.strip()


@contextlib.contextmanager
def database(customers: int, cases: int) -> Iterator[Database]:
    url = os.environ.get("TRAMA_BENCH_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        raise SystemExit("set TRAMA_BENCH_DATABASE_URL to a PostgreSQL database for benchmarks")
    tmp = Path(tempfile.mkdtemp(prefix="trama-readmix-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRAMA_DATABASE_URL": url,
        "TRAMA_VAR_DIR": str(tmp),
        "TRAMA_ENV": "production",
        "TRAMA_LOG_LEVEL": "WARNING",
    }
    db = Database(url, tmp, env)
    try:
        db.trama("migrate")
        seeded = db.trama(
            "seed", "--if-empty", "--customers", str(customers), "--cases", str(cases)
        )
        if "nothing to do" not in seeded:
            subprocess.run(["psql", _pg_dsn(url), "-qc", "VACUUM ANALYZE"], check=True)
        yield db
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- servers ---------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> list[int]:
    out = [pid]
    for path in Path("/proc").iterdir():
        entry = path.name
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                out.extend(descendants(int(entry)))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    headers: dict[str, dict[str, str]]

    def pids(self) -> list[int]:
        return descendants(self.process.pid)


def _listening(port: int) -> int:
    """Listening TCP sockets on ``port`` (IPv4): one per serving process."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
            count += 1
    return count


def _wait_ready(url: str, process: subprocess.Popen[bytes], probe: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({process.returncode})")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.post(url, json=probe, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url}: not ready in 60 s")


@contextlib.contextmanager
def trama_server(
    db: Database, name: str, workers: int, compiled: str | None, tokens: dict[str, str]
) -> Iterator[Server]:
    port = free_port()
    env = {
        **db.env,
        "TRAMA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TRAMA_PORT": str(port),
        "TRAMA_QUERY_COST_LIMIT": "1000000",
        "TRAMA_AUTHENTICATED_RATE_LIMIT": "off",
    }
    if compiled is not None:
        env["TRAMA_COMPILED_READS"] = compiled
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        _wait_ready(url, process, {"query": "{ __typename }"})
        # Every process serving (a process listens once it is ready: app/server.py).
        deadline = time.monotonic() + 120
        while workers > 1 and _listening(port) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: {_listening(port)} of {workers} processes up")
            time.sleep(0.3)
        headers = {
            role: {"content-type": "application/json", "authorization": f"Bearer {token}"}
            for role, token in tokens.items()
        }
        yield Server(name, url, process, headers)
    finally:
        _stop(process)


@contextlib.contextmanager
def peer_server(db: Database) -> Iterator[Server]:
    port = free_port()
    node = NODE_BIN / "node"
    if not node.exists():
        raise SystemExit("PostGraphile is not installed: run `make bench-peers` first")
    process = subprocess.Popen(
        [str(node), str(PEERS / "server.mjs"), _pg_dsn(db.url), str(port)],
        cwd=PEERS,
        env={**os.environ, "NODE_ENV": "production"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        _wait_ready(url, process, {"query": "{ __typename }"})
        yield Server("postgraphile", url, process, {"admin": {"content-type": "application/json"}})
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# --- load ------------------------------------------------------------------------------
def body_of(server: Server, query: Query) -> tuple[str, dict[str, str]]:
    if server.name == "postgraphile":
        assert query.peer is not None
        payload = {"query": query.peer, "variables": query.peer_variables}
        return json.dumps(payload), server.headers["admin"]
    payload = {"query": query.trama, "variables": query.trama_variables}
    return json.dumps(payload), server.headers[query.role]


def fetch(server: Server, query: Query) -> dict[str, Any]:
    body, headers = body_of(server, query)
    response = httpx.post(server.url, content=body, headers=headers, timeout=30)
    data = response.json()
    if response.status_code != 200 or data.get("errors"):
        raise SystemExit(f"{server.name} {query.name}: {response.status_code} {data}")
    result: dict[str, Any] = data["data"]
    return result


def autocannon(server: Server, query: Query, seconds: float, connections: int) -> dict[str, Any]:
    body, headers = body_of(server, query)
    args = [
        str(NODE_BIN / "node"),
        str(PEERS / "node_modules" / "autocannon" / "autocannon.js"),
        "--json",
        "-c",
        str(connections),
        "-d",
        str(seconds),
        "-m",
        "POST",
        "-b",
        body,
    ]
    for name, value in headers.items():
        args += ["-H", f"{name}={value}"]
    args.append(server.url)
    pids = server.pids()
    cpu_before = cpu_seconds(pids)
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=PEERS)
    cpu = cpu_seconds(pids) - cpu_before
    report = json.loads(out.stdout)
    answered = int(report["2xx"])
    bad = int(report["non2xx"]) + int(report["errors"]) + int(report["timeouts"])
    return {
        "requests_per_second": round(answered / float(report["duration"]), 1),
        "p50_ms": report["latency"]["p50"],
        "p99_ms": report["latency"]["p99"],
        "cpu_ms_per_request": round(cpu * 1000 / answered, 2) if answered else None,
        "requests": answered,
        "failed": bad,
    }


def _tree() -> dict[str, Any]:
    """Which Trama was measured: the commit, and whether the tree had changes (and the
    compiled reads' package was committed) — a benchmark of uncommitted code says so."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "app_compiled_committed": bool(git("ls-files", "app/compiled")),
        "app_compiled_present": (ROOT / "app" / "compiled").is_dir(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument(
        "--trama",
        default="on:1,on:2",
        help="Trama servers to run, MODE:PROCESSES each (MODE: TRAMA_COMPILED_READS)",
    )
    parser.add_argument("--queries", help="comma-separated subset of the mix")
    parser.add_argument("--no-peer", action="store_true", help="Trama only")
    args = parser.parse_args(argv)

    from app.settings import Settings

    has_compiled = "compiled_reads" in Settings.model_fields
    specs: list[tuple[str | None, int]] = []
    for spec in args.trama.split(","):
        mode, _, processes = spec.strip().rpartition(":")
        key = (mode if has_compiled else None, int(processes))
        if key not in specs:
            specs.append(key)
    load_before = [round(x, 2) for x in os.getloadavg()]
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with database(args.customers, args.cases) as db:
        fixtures = asyncio.run(_fixtures(_pg_dsn(db.url)))
        mix = build_mix(fixtures)
        if args.queries:
            wanted = set(args.queries.split(","))
            mix = [q for q in mix if q.name in wanted]
        tokens = {
            "admin": db.trama("token", "--role", "admin", "--ttl", "7200"),
            "agent": db.trama(
                "token", "--role", "agent", "--partner", "BANCO_ANDINO", "--ttl", "7200"
            ),
        }
        with contextlib.ExitStack() as stack:
            servers: list[Server] = []
            for mode, processes in specs:
                name = f"trama_{processes}p" + ("" if mode is None else f"_compiled_{mode}")
                servers.append(stack.enter_context(trama_server(db, name, processes, mode, tokens)))
            if not args.no_peer:
                servers.append(stack.enter_context(peer_server(db)))
            # Same rows in the same order, or no benchmark.
            checked: dict[str, int] = {}
            for query in mix:
                reference: list[Any] | None = None
                for server in servers:
                    if server.name == "postgraphile" and query.peer is None:
                        continue
                    data = fetch(server, query)
                    rows = (
                        query.peer_rows(data)
                        if server.name == "postgraphile" and query.peer_rows
                        else query.trama_rows(data)
                    )
                    if reference is None:
                        reference = rows
                    elif rows != reference:
                        print(
                            json.dumps(
                                {
                                    "error": f"{query.name}: {server.name} answers other rows",
                                    "expected": reference[:5],
                                    "got": rows[:5],
                                },
                                default=str,
                                indent=2,
                            )
                        )
                        return 3
                checked[query.name] = len(reference or [])
            # Warm-up, then alternate servers query by query, round after round.
            for query in mix:
                for server in servers:
                    if server.name == "postgraphile" and query.peer is None:
                        continue
                    autocannon(server, query, args.warmup, args.connections)
            runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
            for _ in range(args.rounds):
                for query in mix:
                    for server in servers:
                        if server.name == "postgraphile" and query.peer is None:
                            continue
                        result = autocannon(server, query, args.seconds, args.connections)
                        runs.setdefault(server.name, {}).setdefault(query.name, []).append(result)
    load_after = [round(x, 2) for x in os.getloadavg()]
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    summary: dict[str, dict[str, Any]] = {}
    for server_name, by_query in runs.items():
        for query_name, rounds in by_query.items():
            summary.setdefault(server_name, {})[query_name] = {
                "requests_per_second": statistics.median(r["requests_per_second"] for r in rounds),
                "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
                "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
                "cpu_ms_per_request": (
                    statistics.median(cpus)
                    if (
                        cpus := [r["cpu_ms_per_request"] for r in rounds if r["cpu_ms_per_request"]]
                    )
                    else None
                ),
                "failed": sum(r["failed"] for r in rounds),
                "rounds": rounds,
            }
    ratios: dict[str, dict[str, float]] = {}
    cpu_ratios: dict[str, dict[str, float]] = {}
    peer = summary.get("postgraphile", {})
    for server_name, figures_of in summary.items():
        if server_name == "postgraphile":
            continue
        for query_name, figures in figures_of.items():
            if query_name in peer:
                ratios.setdefault(server_name, {})[query_name] = round(
                    figures["requests_per_second"] / peer[query_name]["requests_per_second"], 3
                )
                ours, theirs = figures["cpu_ms_per_request"], peer[query_name]["cpu_ms_per_request"]
                if ours and theirs:
                    # Less sensitive to the machine's other load than req/s: how many of
                    # PostGraphile's requests one of Trama's costs in server CPU.
                    cpu_ratios.setdefault(server_name, {})[query_name] = round(ours / theirs, 2)
    goals: dict[str, dict[str, Any]] = {}
    for mode, processes in specs:
        name = f"trama_{processes}p" + ("" if mode is None else f"_compiled_{mode}")
        target = {1: 1.0, 2: 2.0}.get(processes)
        ratio_of = ratios.get(name, {})
        if target is None or not ratio_of:
            continue
        goals[name] = {
            f"req_per_s_at_least_{target:g}x_postgraphile": {
                q: r >= target for q, r in ratio_of.items()
            },
        }
        if processes == 1:
            goals[name]["p99_under_50_ms"] = {q: f["p99_ms"] < 50 for q, f in summary[name].items()}
    report = {
        "benchmark": "read mix, Trama and PostGraphile v5 side by side",
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "tree": _tree(),
        "mix": {q.name: q.what for q in mix},
        "rows_checked": checked,
        "fixtures": fixtures.__dict__,
        "trama_servers": [f"{m or 'default'}:{p}" for m, p in specs],
        "compiled_reads_setting": has_compiled,
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "warmup_seconds": args.warmup,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "uptime_before": uptime_before,
        "uptime_after": uptime_after,
        "results": summary,
        "ratio_to_postgraphile_req_per_s": ratios,
        "cpu_per_request_relative_to_postgraphile": cpu_ratios,
        "goals": goals,
    }
    print(json.dumps(report, indent=2, default=str))
    failed = any(f["failed"] for by in summary.values() for f in by.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

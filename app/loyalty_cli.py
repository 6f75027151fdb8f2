"""``trama loyalty purchases|accrue|expire|verify``: the card platform's files, the accrual
and expiry jobs on demand, and the proof of every balance (issue 13).

``purchases FILE`` reads a CSV (UTF-8, a header row naming the columns) or JSON lines of
purchases and refunds and records them as the ``recordPurchases`` mutation does, in batches
of 1,000 inside one transaction: the whole file is recorded or nothing (every problem is
listed with its line), and a file sent again is only duplicates.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from app.settings import Settings

EXIT_OK = 0
EXIT_DIFFERENCES = 1
EXIT_REFUSED = 2

COLUMNS = (
    "external_id",
    "member_number",
    "kind",
    "refund_of",
    "amount",
    "currency",
    "occurred_at",
    "mcc",
    "merchant_partner",
    "merchant_name",
    "channel",
    "card_product",
)
REQUIRED = ("external_id", "member_number", "amount", "currency", "occurred_at")
CHUNK = 1000


class FileProblem(Exception):
    pass


def _instant(text: str, line: int) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FileProblem(f"line {line}: occurred_at {text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise FileProblem(f"line {line}: occurred_at {text!r} has no offset")
    return value


def read_purchases(path: Path) -> list[tuple[int, Any]]:
    """(line, PurchaseInput) per record; FileProblem names what is wrong with the file."""
    from domain.loyalty.purchases import PurchaseInput

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileProblem(f"cannot read {path}: {exc}") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise FileProblem(f"line {number}: not JSON ({exc.msg})") from None
            if not isinstance(item, dict):
                raise FileProblem(f"line {number}: a JSON object per line")
            rows.append((number, item))
    else:
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in COLUMNS]
        missing = [c for c in REQUIRED if c not in header]
        if unknown or missing:
            raise FileProblem(
                f"the header must name columns of {', '.join(COLUMNS)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        for record in reader:
            rows.append((reader.line_num, record))
    out: list[tuple[int, Any]] = []
    for number, item in rows:
        values = {k: (str(v).strip() or None) if v is not None else None for k, v in item.items()}
        for column in REQUIRED:
            if not values.get(column):
                raise FileProblem(f"line {number}: {column} is required")
        out.append(
            (
                number,
                PurchaseInput(
                    external_id=str(values["external_id"]),
                    amount=str(values["amount"]),
                    currency=str(values["currency"]),
                    occurred_at=_instant(str(values["occurred_at"]), number),
                    kind=values.get("kind") or "PURCHASE",
                    member_number=values.get("member_number"),
                    refund_of=values.get("refund_of"),
                    mcc=values.get("mcc"),
                    merchant_partner=values.get("merchant_partner"),
                    merchant_name=values.get("merchant_name"),
                    channel=values.get("channel"),
                    card_product=values.get("card_product"),
                ),
            )
        )
    return out


def cmd_purchases(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _with_db
    from app.db import transaction
    from domain.loyalty import accounts, accrual, purchases
    from domain.shared.errors import DomainError, FieldProblem, ValidationFailed
    from domain.shared.principal import SYSTEM

    try:
        records = read_purchases(Path(args.file))
    except FileProblem as exc:
        print(f"trama loyalty purchases: {exc}; nothing recorded", file=sys.stderr)
        return EXIT_REFUSED
    if not records:
        print("trama loyalty purchases: the file has no purchases", file=sys.stderr)
        return EXIT_REFUSED

    async def work() -> dict[str, Any]:
        totals = {"records": len(records), "accepted": 0, "duplicates": 0}
        problems: list[FieldProblem] = []
        async with transaction() as session:
            program = await accounts.find_program(session, args.program)
            if program is None:
                raise ValidationFailed.on("program", f"no program {args.program}")
            for start in range(0, len(records), CHUNK):
                chunk = records[start : start + CHUNK]
                try:
                    result = await purchases.record_purchases(
                        session, SYSTEM, program_id=program.id, purchases=[p for _, p in chunk]
                    )
                except ValidationFailed as exc:
                    for problem in exc.problems:
                        where = problem.field
                        if where.startswith("purchases["):
                            index = int(where[len("purchases[") : where.index("]")])
                            where = f"line {chunk[index][0]}" + where[where.index("]") + 1 :]
                        problems.append(FieldProblem(where, problem.message))
                    continue
                totals["accepted"] += result.accepted
                totals["duplicates"] += result.duplicates
            if problems:
                raise ValidationFailed(problems)
        if args.accrue:
            report = await accrual.accrue_all(transaction)
            totals.update(accrued=report.accrued, points=report.points)
        return totals

    try:
        totals = asyncio.run(_with_db(settings, work))
    except ValidationFailed as exc:
        print(
            f"trama loyalty purchases: {args.file} was not recorded; nothing changed:",
            file=sys.stderr,
        )
        for problem in exc.problems[:200]:
            print(f"  {problem.field}: {problem.message}", file=sys.stderr)
        if len(exc.problems) > 200:
            print(f"  … and {len(exc.problems) - 200} more", file=sys.stderr)
        return EXIT_REFUSED
    except DomainError as exc:
        print(f"trama loyalty purchases: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(totals))
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _with_db
    from app.db import read_session
    from domain.loyalty import accounts, verify

    async def work() -> list[verify.Report]:
        async with read_session() as session:
            if args.program:
                program = await accounts.find_program(session, args.program)
                if program is None:
                    return []
                return [await verify.verify_program(session, program_id=program.id)]
            return await verify.verify_all(session)

    reports = asyncio.run(_with_db(settings, work))
    if args.program and not reports:
        print(f"trama loyalty verify: no program {args.program}", file=sys.stderr)
        return EXIT_REFUSED
    bad = 0
    for report in reports:
        state = "ok" if report.ok else f"{report.problem_count} DIFFERENCES"
        print(
            f"program {report.code}: {report.accounts} accounts, {report.entries} "
            f"movements, {report.lots} lots, {report.points} points: {state}"
        )
        for problem in report.problems:
            print(f"  {problem.describe()}")
        bad += report.problem_count
    return EXIT_DIFFERENCES if bad else EXIT_OK


def cmd_accrue(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _with_db
    from app.db import transaction
    from domain.loyalty import accrual

    async def work() -> accrual.AccrualReport:
        return await accrual.accrue_all(transaction, batch=args.batch)

    report = asyncio.run(_with_db(settings, work))
    print(
        json.dumps(
            {
                "claimed": report.claimed,
                "accrued": report.accrued,
                "zero": report.zero,
                "refunds": report.refunds,
                "rejected": report.rejected,
                "deferred": report.deferred,
                "points": report.points,
                "tierChanges": report.tier_changes,
            }
        )
    )
    return EXIT_OK


def cmd_expire(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _with_db
    from workers.actors import loyalty as loyalty_jobs

    async def work() -> list[dict[str, Any]]:
        return await loyalty_jobs.expire(force=args.force)

    print(json.dumps(asyncio.run(_with_db(settings, work))))
    return EXIT_OK


def register(loyalty_sub: Any) -> None:
    p = loyalty_sub.add_parser(
        "purchases", help="record the card platform's purchases from a CSV or JSON-lines file"
    )
    p.add_argument("file", help=f"CSV with a header ({', '.join(COLUMNS)}) or .jsonl")
    p.add_argument("--program", required=True, help="the program's code")
    p.add_argument("--accrue", action="store_true", help="run the accrual right after")
    p.set_defaults(func=cmd_purchases)
    p = loyalty_sub.add_parser(
        "verify", help="prove every account's balance from its ledger (exit 1 on a difference)"
    )
    p.add_argument("--program", help="one program's code (all by default)")
    p.set_defaults(func=cmd_verify)
    p = loyalty_sub.add_parser("accrue", help="accrue the waiting purchases now")
    p.add_argument("--batch", type=int, default=500)
    p.set_defaults(func=cmd_accrue)
    p = loyalty_sub.add_parser("expire", help="run the daily expiry and tier review now")
    p.add_argument("--force", action="store_true", help="even for days already done")
    p.set_defaults(func=cmd_expire)

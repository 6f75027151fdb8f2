"""``trama vehicles import FILE --dealer CODE [--full] [--partial]``: a dealer's inventory
feed (CSV or XLSX) imported as ``importVehicleFeed`` does, by Trama itself (the audit
trail names the CLI). Exit 0 with the counts as JSON; 2 when the file is refused (every
bad row listed by line and field, nothing written) or the dealer is unknown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from app.settings import Settings

EXIT_OK = 0
EXIT_REFUSED = 2


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _with_db
    from app.db import transaction
    from domain.marketplace import feeds
    from domain.shared.errors import DomainError, ValidationFailed
    from domain.shared.principal import SYSTEM

    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as exc:
        print(f"trama vehicles import: {exc}", file=sys.stderr)
        return EXIT_REFUSED

    async def work() -> dict[str, Any]:
        async with transaction() as session:
            dealer = await feeds.dealer_by_code(session, args.dealer)
            result = await feeds.import_feed(
                session,
                principal=SYSTEM,
                dealer_id=dealer.id,
                content=content,
                file_name=path.name,
                full=args.full,
                partial=args.partial,
            )
        feed = result.feed
        return {
            "dealer": dealer.code,
            "kind": feed.kind,
            "rows": feed.rows,
            "created": feed.created,
            "updated": feed.updated,
            "unchanged": feed.unchanged,
            "withdrawn": feed.withdrawn,
            "held": feed.held,
            "rejected": feed.rejected,
            "problems": [
                {"line": p.line, "field": p.field, "message": p.message} for p in result.problems
            ],
        }

    try:
        report = asyncio.run(_with_db(settings, work))
    except ValidationFailed as exc:
        print(
            f"trama vehicles import: {path.name} was not imported; nothing changed:",
            file=sys.stderr,
        )
        for problem in exc.problems[:200]:
            print(f"  {problem.field}: {problem.message}", file=sys.stderr)
        if len(exc.problems) > 200:
            print(f"  … and {len(exc.problems) - 200} more", file=sys.stderr)
        return EXIT_REFUSED
    except DomainError as exc:
        print(f"trama vehicles import: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(report))
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser("vehicles", help="the vehicle marketplace: dealers' feeds")
    vehicles_sub = p.add_subparsers(dest="vehicles_command", required=True)
    p = vehicles_sub.add_parser("import", help="import a dealer's inventory feed (CSV or XLSX)")
    p.add_argument("file", help="the feed: CSV (',' or ';') or XLSX, a header row first")
    p.add_argument("--dealer", required=True, help="the dealer's partner code")
    p.add_argument(
        "--full",
        action="store_true",
        help="the file is the whole stock: AVAILABLE vehicles missing from it are withdrawn",
    )
    p.add_argument(
        "--partial",
        action="store_true",
        help="keep the good rows when some are bad (default: one bad row refuses the file)",
    )
    p.set_defaults(func=cmd_import)

"""``trama statements …``: bank statements of collection accounts from the command line.

``trama statements ingest FILE... [--account ID] [--json]``
    Ingest each file in its own transaction, as the system (the same service as the
    ``ingestBankStatement`` mutation and the inbox). ``--account`` (a UUID, a global id, an
    account number or statement identifier) is required for CSV/XLSX exports and checked
    against what camt/MT files name. One line per file; exit status 1 if any was refused.

``trama statements sweep [--inbox DIR]``
    Sweep the inbox folder once (what the ``collections.sweep_statement_inbox`` job does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from app.settings import Settings


def register(sub: Any) -> None:
    s = sub.add_parser("ingest", help="load statement files (camt, MT940/942, CSV, XLSX, zip)")
    s.add_argument("files", nargs="+", help="statement files")
    s.add_argument(
        "--account",
        help="the collection account (id, global id, number or statement identifier); "
        "required for CSV/XLSX",
    )
    s.add_argument("--json", action="store_true", help="one JSON object per file")
    s.set_defaults(func=cmd_ingest)
    w = sub.add_parser("sweep", help="sweep the statement inbox once")
    w.add_argument("--inbox", type=Path, help="the folder (default TRAMA_STATEMENT_INBOX)")
    w.add_argument(
        "--settle",
        type=float,
        help="take files unchanged for this many seconds (default "
        "TRAMA_STATEMENT_INBOX_SETTLE_SECONDS; a one-shot sweep with a non-zero value waits "
        "that long and looks again)",
    )
    w.set_defaults(func=cmd_sweep)


async def _account_id(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    from app.db import read_session
    from domain.collections.accounts import account_named
    from domain.collections.errors import StatementRefused

    try:
        async with read_session() as session:
            found = await account_named(session, value)
    except StatementRefused as refused:
        raise SystemExit(f"trama statements: {refused.reason}") from None
    if found is None:
        raise SystemExit(f"trama statements: no collection account {value!r}")
    return found


async def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from app.db import transaction
    from domain.collections.errors import StatementRefused
    from domain.collections.ingestion import IngestPolicy, ingest_file
    from domain.collections.models import Channel
    from domain.shared.principal import SYSTEM

    policy = IngestPolicy(
        max_bytes=settings.statement_max_bytes,
        max_unzipped_bytes=settings.statement_max_unzipped_bytes,
        max_zip_ratio=settings.statement_max_zip_ratio,
        refuse_broken=settings.statement_refuse_broken,
    )
    account = await _account_id(args.account)
    refused_any = False
    for name in args.files:
        path = Path(name)
        out: dict[str, Any] = {"file": str(path)}
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
            if size > settings.statement_max_bytes:
                raise StatementRefused(
                    _code("FILE_TOO_LARGE"),
                    f"the file has {size} bytes, more than the {settings.statement_max_bytes} "
                    "accepted",
                )
            content = await asyncio.to_thread(path.read_bytes)
            async with transaction() as session:
                result = await ingest_file(
                    session,
                    principal=SYSTEM,
                    content=content,
                    file_name=path.name,
                    channel=Channel.CLI,
                    account_id=account,
                    policy=policy,
                )
                out.update(
                    status="ALREADY_RECEIVED" if result.already_received else "INGESTED",
                    kind=result.file.kind,
                    statements=len(result.statements),
                    skipped_statements=result.skipped_statements,
                    lines=result.line_count,
                    new_lines=result.new_line_count,
                    integrity=[s.integrity for s in result.statements],
                )
        except OSError as error:
            refused_any = True
            out.update(status="REFUSED", code="UNREADABLE", message=error.strerror or str(error))
        except StatementRefused as refused:
            refused_any = True
            out.update(status="REFUSED", **refused.as_dict())
        if args.json:
            print(json.dumps(out, ensure_ascii=False))
        elif out["status"] == "REFUSED":
            where = f" ({out['where']})" if out.get("where") else ""
            print(f"{path}: REFUSED {out['code']}: {out['message']}{where}", file=sys.stderr)
        else:
            print(
                f"{path}: {out['status']} {out['kind']}, {out['statements']} statement(s) "
                f"({', '.join(out['integrity']) or 'none new'}), {out['lines']} lines, "
                f"{out['new_lines']} new"
            )
    return 1 if refused_any else 0


def _code(name: str) -> Any:
    from domain.collections.errors import RefusalCode

    return RefusalCode(name)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    import domain.tables  # noqa: F401 - every table, for the foreign keys
    from app.cli import _with_db

    return int(asyncio.run(_with_db(settings, lambda: _ingest(args, settings))))


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    import domain.tables  # noqa: F401 - every table, for the foreign keys
    from app.cli import _with_db
    from app.statement_inbox import sweep

    effective = settings
    if args.settle is not None:
        effective = settings.model_copy(update={"statement_inbox_settle_seconds": args.settle})

    async def run() -> int:
        report = await sweep(effective, inbox=args.inbox)
        if report.waiting and effective.statement_inbox_settle_seconds > 0:
            await asyncio.sleep(effective.statement_inbox_settle_seconds)
            later = await sweep(effective, inbox=args.inbox)
            report.done += later.done
            report.rejected += later.rejected
            report.waiting = later.waiting
        print(json.dumps(report.as_dict(), ensure_ascii=False))
        return 1 if report.rejected else 0

    if args.inbox is None and settings.statement_inbox is None:
        print("trama statements sweep: set TRAMA_STATEMENT_INBOX or --inbox", file=sys.stderr)
        return 2
    return int(asyncio.run(_with_db(settings, run)))

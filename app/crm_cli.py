"""``trama crm backfill-timeline``: put the retained event log's history on the CRM
timeline (cases, applications, credits, payments that happened before the consumer ran).

It runs the ``crm.timeline`` consumer's own code (:func:`domain.crm.feed.record_event`) over
the relayed events in order, a batch per transaction; items are keyed by event id, so a
second run, or a run while the consumer works, writes nothing twice.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from app.settings import Settings


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _with_db
    from app.db import read_session, transaction
    from domain.crm import feed

    async def work() -> tuple[int, int]:
        return await feed.backfill(read_session, transaction, after=args.after, batch=args.batch)

    seen, written = asyncio.run(_with_db(settings, work))
    print(f"trama crm backfill-timeline: {seen} events read, {written} timeline items written")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("crm", help="CRM maintenance")
    crm_sub = p.add_subparsers(dest="crm_command", required=True)
    b = crm_sub.add_parser(
        "backfill-timeline", help="put the retained event log's history on the CRM timeline"
    )
    b.add_argument("--after", type=int, default=0, help="start after this log position")
    b.add_argument("--batch", type=int, default=500)
    b.set_defaults(func=cmd_backfill)

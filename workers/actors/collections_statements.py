"""Statements in, in the background: the inbox sweep.

``collections.sweep_statement_inbox`` (every TRAMA_STATEMENT_INBOX_EVERY seconds, when
TRAMA_STATEMENT_INBOX is set)
    Takes every complete file of the inbox folder, ingests it (its own transaction, the same
    service as ``ingestBankStatement`` and ``trama statements ingest``) and moves it to
    ``done/`` or ``rejected/`` with a reason file beside it (``app/statement_inbox.py``).
    Each stored statement's ``statements.ingested`` event then reaches the reconciliation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.settings import get_settings
from app.statement_inbox import sweep
from workers.registry import RetryPolicy, job

SWEEP_JOB = "collections.sweep_statement_inbox"

_settings = get_settings()


@job(
    SWEEP_JOB,
    every=timedelta(seconds=_settings.statement_inbox_every),
    retry=RetryPolicy(max_retries=0, time_limit_ms=30 * 60_000),
)
async def sweep_statement_inbox() -> dict[str, Any]:
    """Sweep the inbox once (nothing when TRAMA_STATEMENT_INBOX is unset)."""
    report = await sweep(get_settings())
    return report.as_dict()

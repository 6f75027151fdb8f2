"""Scoring jobs.

- ``scoring.application_submitted`` (consumer of ``applications.submitted``): sends
  ``scoring.score_application`` for the application. The consumer only sends: the run asks
  the bureau over the network, which must not happen inside the delivery's transaction.
- ``scoring.score_application``: one run (``domain/scoring/run.py``): facts, the bureau
  outside any transaction, the engine, then the decision stored and handed to origination
  in one transaction. Idempotent: an application no longer SUBMITTED is skipped, and a
  decision is stored once per (application, scorecard version, input hash). Retried with
  backoff when the lender has no active scorecard yet or the database is busy; a missing
  application or a refused transition is not retried.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import uuid
from typing import Any

import httpx

from app.db import read_session, transaction
from app.settings import get_settings
from domain.scoring import run
from domain.scoring.bureau import BureauClient, HttpBureauClient
from domain.shared.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from domain.shared.event_schemas import parse_global_id
from domain.shared.outbox import Event
from workers.registry import PermanentError, RetryPolicy, consumer, job

log = logging.getLogger("trama.workers.scoring")

RETRY = RetryPolicy(
    max_retries=8,
    min_backoff_ms=2_000,
    max_backoff_ms=300_000,
    time_limit_ms=60_000,
    throws=(PermanentError, ValidationFailed, NotFound, Forbidden, InvalidTransition),
)

#: One pooled HTTP client per event loop (the actors' loop reuses connections).
_HTTP: dict[int, httpx.AsyncClient] = {}


def bureau_client() -> BureauClient | None:
    settings = get_settings()
    if not settings.bureau_url:
        return None
    loop = id(asyncio.get_running_loop())
    http = _HTTP.get(loop)
    if http is None:
        http = _HTTP[loop] = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20)
        )
    return HttpBureauClient(
        url=settings.bureau_url,
        api_key=settings.bureau_api_key.get_secret_value() if settings.bureau_api_key else "",
        secret=settings.bureau_secret.get_secret_value() if settings.bureau_secret else "",
        timeout=settings.bureau_timeout,
        http=http,
    )


def apply_decision() -> run.ApplyDecision:
    """Origination's ``apply_decision`` (its service moves the application on)."""
    module = importlib.import_module("domain.origination.service")
    fn: run.ApplyDecision = module.apply_decision
    return fn


def _send(application_id: uuid.UUID) -> None:
    from workers.backbone import current_backbone

    backbone = current_backbone()
    if backbone is None or backbone.broker is None:
        raise RuntimeError("no broker in this process to send scoring.score_application to")
    backbone.broker.send_job("scoring.score_application", {"application_id": str(application_id)})


@consumer(
    "scoring.application_submitted",
    "applications.submitted",
    retry=RetryPolicy(max_retries=5, time_limit_ms=30_000),
)
async def application_submitted(session: Any, event: Event) -> None:
    application_id = parse_global_id(event.payload.get("applicationId"), "CreditApplication")
    if application_id is None:
        raise PermanentError(f"event {event.id} names no application")
    await asyncio.to_thread(_send, application_id)


@job("scoring.score_application", retry=RETRY, queue="scoring")
async def score_application(*, application_id: str) -> dict[str, Any]:
    try:
        key = uuid.UUID(str(application_id))
    except ValueError as exc:
        raise PermanentError(f"not an application id: {application_id!r}") from exc
    result = await run.score_application(
        key,
        read=read_session,
        write=transaction,
        bureau=bureau_client(),
        apply_decision=apply_decision(),
    )
    return result.to_json()

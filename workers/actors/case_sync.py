"""Synchronization of cases with partner platforms (outbound).

Three actors:

``cases.sync_partners`` (consumer of ``cases.*``)
    For each case event, the partners of its audience with an enabled connector get a
    ``cases.push_to_partner`` job each — the platform of the partner whose action caused
    the event too: it learns the version and canonical status Trama gave its change. The
    consumer does no HTTP: its delivery (exactly once in effect) only fans out, so one
    partner that is down never holds up the others, and each push retries on its own.
    Jobs are sent before the delivery commits: a failed commit sends them again, which is
    harmless (below), never zero times.

``cases.push_to_partner(case_id, partner_id)`` (job, queue ``case_sync``)
    Pushes the case's *current* state to one partner (state-based sync): duplicated,
    reordered or coalesced jobs all end with the platform holding the latest version, and
    the version it was told never goes down. Pushes of one (case, partner) pair never
    overlap: in a process, a job for a pair being pushed makes the running push go round
    once more (and ends, holding no worker thread); across processes a PostgreSQL advisory
    lock is tried, and a job that finds it taken is sent again a moment later. A push
    whose version the partner already acknowledged is skipped. The request is
    signed (``X-Trama-Signature``: HMAC-SHA256 of ``timestamp.body`` with the connector's
    secret) and carries ``Idempotency-Key: <case>:<version>:<partner>``.

    Decision: the HTTP call is made outside any database *write* transaction, with a short
    timeout (the connector's, at most ``TRAMA_CASE_SYNC_TIMEOUT``). On PostgreSQL the pair's
    advisory lock holds one pooled connection, idle in a read transaction, for the length
    of the call; no row is locked meanwhile. (The alternative, a table of outbound
    deliveries per partner, would free that connection at the cost of another write per
    push; the short timeout makes it unnecessary.) The outcome is recorded afterwards in
    a short transaction of its own: the last version synced, or the error (kept until a
    push succeeds). Failures are raised so Dramatiq retries with exponential backoff
    (``TRAMA_CASE_SYNC_MAX_RETRIES``, backoff up to ``TRAMA_CASE_SYNC_MAX_BACKOFF``); when
    retries run out the job lands in the failed jobs list, where an administrator retries
    it (it then pushes whatever is current). A platform that answers 4xx (other than 408,
    425 and 429) or redirects refused the request: that is not retried.

    Fairness: a partner whose platform failed ``TRAMA_CASE_SYNC_BREAKER_THRESHOLD`` times in
    a row has its circuit opened for ``TRAMA_CASE_SYNC_BREAKER_COOLDOWN`` seconds in this
    process: its pushes fail fast (and retry later) instead of tying up worker threads on
    timeouts, then one trial push closes the circuit when the platform answers again.

``cases.sync_sweep`` (periodic, every ``TRAMA_CASE_SYNC_SWEEP_INTERVAL``)
    Pushes again the (case, partner) pairs left behind for ``TRAMA_CASE_SYNC_IDLE_AFTER``
    seconds with nothing tried (a job lost with an in-process queue, a connector enabled
    or fixed after failures): see :func:`domain.cases.sync.lagging_pairs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_database, read_session, transaction
from app.outbound import guarded_client, refusal_of
from app.settings import get_settings
from domain.cases import connectors, sync
from domain.cases.models import ConnectorAuth
from domain.shared.event_schemas import parse_global_id
from domain.shared.ids import parse_uuid
from domain.shared.netguard import AddressPolicy
from domain.shared.outbox import Event
from domain.shared.time import utcnow
from workers.registry import PermanentError, RetryPolicy, consumer, job

log = logging.getLogger("trama.workers.case_sync")

CONSUMER = "cases.sync_partners"
PUSH_JOB = "cases.push_to_partner"
SWEEP_JOB = "cases.sync_sweep"
PUSH_QUEUE = "case_sync"
USER_AGENT = "Trama-Sync/1"
#: Pushes one job makes for a pair whose changes keep coming before it hands over.
MAX_ROUNDS = 5
#: Status codes a platform may answer that are worth trying again.
RETRYABLE_STATUSES = frozenset({408, 425, 429})

_settings = get_settings()


class PushFailed(Exception):
    """The platform could not be reached or failed: retry later."""


class PushRefused(PermanentError):
    """The platform refused the request (a 4xx, a redirect): retrying cannot help."""


# --- the consumer -----------------------------------------------------------------------
@consumer(
    CONSUMER,
    "cases.*",
    retry=RetryPolicy(max_retries=10, min_backoff_ms=1_000, max_backoff_ms=300_000),
)
async def sync_partners(session: AsyncSession, event: Event) -> None:
    """Fan a case event out to one push job per connected partner of its audience."""
    case_id = parse_global_id(event.payload.get("caseId"), "Case")
    if case_id is None:
        return  # not about one case (a homologation change…)
    targets = await sync.partners_to_push(session, event.partner_ids)
    await send_pushes((case_id, partner_id) for partner_id in targets)


async def send_pushes(pairs: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> int:
    """Send one ``cases.push_to_partner`` job per pair through this process's broker."""
    from workers.backbone import current_backbone

    messages = [{"case_id": str(c), "partner_id": str(p)} for c, p in pairs]
    if not messages:
        return 0
    backbone = current_backbone()
    if backbone is None or backbone.broker is None:
        raise RuntimeError("no job broker runs in this process: cannot send pushes")
    broker = backbone.broker

    def send() -> None:
        for kwargs in messages:
            broker.send_job(PUSH_JOB, kwargs)

    await asyncio.to_thread(send)
    return len(messages)


# --- fairness: a circuit per partner ----------------------------------------------------
@dataclass
class _Circuit:
    failures: int = 0
    open_until: float = 0.0
    trial_running: bool = False


class Breaker:
    """Consecutive failures per partner in this process (see the module doc)."""

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._circuits: dict[uuid.UUID, _Circuit] = {}

    def allow(self, partner_id: uuid.UUID) -> bool:
        circuit = self._circuits.get(partner_id)
        if circuit is None or circuit.failures < self.threshold:
            return True
        if time.monotonic() < circuit.open_until or circuit.trial_running:
            return False
        circuit.trial_running = True  # half open: one push tries the platform
        return True

    def succeeded(self, partner_id: uuid.UUID) -> None:
        self._circuits.pop(partner_id, None)

    def failed(self, partner_id: uuid.UUID) -> None:
        circuit = self._circuits.setdefault(partner_id, _Circuit())
        circuit.failures += 1
        circuit.trial_running = False
        if circuit.failures >= self.threshold:
            circuit.open_until = time.monotonic() + self.cooldown

    def reset(self) -> None:
        self._circuits.clear()


BREAKER = Breaker(_settings.case_sync_breaker_threshold, _settings.case_sync_breaker_cooldown)


# --- one push at a time per (case, partner) ---------------------------------------------
@dataclass
class _Running:
    #: Another push of the pair was asked for while this one ran.
    again: bool = False


#: Pairs being pushed by this process (all actors share one event loop: no lock needed).
_running: dict[tuple[uuid.UUID, uuid.UUID], _Running] = {}


@contextlib.asynccontextmanager
async def _cluster_lock(case_id: uuid.UUID, partner_id: uuid.UUID) -> AsyncIterator[bool]:
    """The pair's lock across processes (PostgreSQL), held while the block runs: True
    when taken, False when another process holds it."""
    if get_database().dialect != "postgresql":
        yield True
        return
    async with read_session() as session:
        yield await sync.try_lock_pair(session, case_id, partner_id)


async def _push_later(case_id: uuid.UUID, partner_id: uuid.UUID) -> None:
    from workers.backbone import current_backbone

    backbone = current_backbone()
    if backbone is None or backbone.broker is None:
        raise PushFailed("busy elsewhere, and no broker here to try again later")
    actor = backbone.broker.actors[PUSH_JOB]
    delay = int((_settings.case_sync_timeout + 1) * 1000)
    kwargs = {"case_id": str(case_id), "partner_id": str(partner_id)}
    await asyncio.to_thread(lambda: actor.send_with_options(kwargs=kwargs, delay=delay))


# --- HTTP -------------------------------------------------------------------------------
_SSL = ssl.create_default_context()
#: OAuth2 client-credentials tokens: (partner, connector version) → (token, expiry).
_tokens: dict[tuple[uuid.UUID, int], tuple[str, float]] = {}


def _client(timeout: float) -> httpx.AsyncClient:
    """A client for the partner's address (app.outbound): it connects only to public
    addresses or TRAMA_CONNECTOR_ALLOWED_NETWORKS, judged after resolution; https only in
    production; no redirects."""
    settings = get_settings()
    return guarded_client(
        AddressPolicy.allowing(settings.connector_allowed_networks),
        timeout=timeout,
        https_only=settings.is_production,
        verify=_SSL,
    )


async def _oauth_token(plan: sync.PushPlan, seconds: float) -> str:
    key = (plan.partner_id, plan.connector_version)
    cached = _tokens.get(key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    settings = connectors.parse_oauth_credentials(plan.auth_credentials or "{}")
    form = {"grant_type": "client_credentials"}
    if settings.get("scope"):
        form["scope"] = settings["scope"]
    try:
        async with _client(seconds) as client:
            response = await client.post(
                settings["token_url"],
                data=form,
                auth=(settings["client_id"], settings.get("client_secret", "")),
                headers={"User-Agent": USER_AGENT},
            )
    except httpx.HTTPError as exc:
        refusal = refusal_of(exc)
        if refusal is not None:
            raise PushRefused(f"token endpoint: {refusal}"[:500]) from None
        raise PushFailed(f"token endpoint: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise PushFailed(f"token endpoint answered HTTP {response.status_code}")
    try:
        data = response.json()
        token = str(data["access_token"])
        lifetime = float(data.get("expires_in", 300))
    except (ValueError, KeyError, TypeError):
        raise PushFailed("token endpoint answered without an access_token") from None
    _tokens[key] = (token, time.monotonic() + max(0.0, lifetime - 30))
    return token


async def _authorization(plan: sync.PushPlan, seconds: float) -> str | None:
    kind = ConnectorAuth(plan.auth_type)
    if kind is ConnectorAuth.BEARER:
        return f"Bearer {plan.auth_credentials}"
    if kind is ConnectorAuth.BASIC:
        return connectors.basic_authorization(plan.auth_credentials or "")
    if kind is ConnectorAuth.OAUTH2_CLIENT_CREDENTIALS:
        return f"Bearer {await _oauth_token(plan, seconds)}"
    return None


def request_headers(plan: sync.PushPlan, *, timestamp: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": plan.idempotency_key,
        "X-Trama-Timestamp": timestamp,
        "X-Trama-Signature": sync.sign(plan.signing_secret, timestamp, plan.body),
        "X-Trama-Case-Version": str(plan.version),
    }


async def deliver(plan: sync.PushPlan) -> int:
    """POST the plan to the platform; the status code, or :class:`PushFailed` /
    :class:`PushRefused`."""
    timeout = float(min(plan.timeout_seconds, _settings.case_sync_timeout))
    headers = request_headers(plan, timestamp=str(int(time.time())))
    authorization = await _authorization(plan, timeout)
    if authorization is not None:
        headers["Authorization"] = authorization
    try:
        async with _client(timeout) as client:
            response = await client.post(plan.endpoint_url, content=plan.body, headers=headers)
    except httpx.TimeoutException:
        raise PushFailed(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        refusal = refusal_of(exc)
        if refusal is not None:  # not an address Trama may reach: retrying cannot help
            raise PushRefused(refusal[:500]) from None
        raise PushFailed(f"{type(exc).__name__}: {exc}"[:500]) from None
    status = response.status_code
    if 200 <= status < 300:
        return status
    if status == 401 and plan.auth_type == ConnectorAuth.OAUTH2_CLIENT_CREDENTIALS.value:
        _tokens.pop((plan.partner_id, plan.connector_version), None)
        raise PushFailed("HTTP 401: the access token was refused; a new one will be used")
    if status >= 500 or status in RETRYABLE_STATUSES:
        raise PushFailed(f"HTTP {status}")
    if 300 <= status < 400:
        raise PushRefused(f"HTTP {status}: redirects are not followed; fix the endpoint")
    raise PushRefused(f"HTTP {status}: {response.text[:200]}")


# --- the push job -----------------------------------------------------------------------
async def _record(
    case_id: uuid.UUID, partner_id: uuid.UUID, version: int, error: str | None
) -> None:
    async with transaction() as session:
        await sync.record_push(
            session, case_id=case_id, partner_id=partner_id, version=version, error=error
        )


def _ids(case_id: str, partner_id: str) -> tuple[uuid.UUID, uuid.UUID]:
    case_key, partner_key = parse_uuid(case_id), parse_uuid(partner_id)
    if case_key is None or partner_key is None:
        raise PermanentError(f"bad push arguments: {case_id!r}, {partner_id!r}")
    return case_key, partner_key


@job(
    PUSH_JOB,
    retry=RetryPolicy(
        max_retries=_settings.case_sync_max_retries,
        min_backoff_ms=int(_settings.case_sync_min_backoff * 1000),
        max_backoff_ms=int(_settings.case_sync_max_backoff * 1000),
        time_limit_ms=int(_settings.case_sync_timeout * 1000) * 4 + 30_000,
    ),
    queue=PUSH_QUEUE,
)
async def push_to_partner(*, case_id: str, partner_id: str) -> str:
    """Push the case's current state to the partner's platform (see the module doc).

    One push per pair at a time: a job for a pair this process is already pushing only
    asks the running push to go round once more (it then sends the newest state) and
    ends; a pair another process is pushing is tried again a moment later.
    """
    case_key, partner_key = _ids(case_id, partner_id)
    key = (case_key, partner_key)
    running = _running.get(key)
    if running is not None:
        running.again = True
        return "coalesced with the push of this case that is running"
    state = _running[key] = _Running()
    try:
        async with _cluster_lock(case_key, partner_key) as taken:
            if not taken:
                await _push_later(case_key, partner_key)
                return "another process is pushing this case: trying again shortly"
            for _ in range(MAX_ROUNDS):
                state.again = False
                outcome = await _push_once(case_key, partner_key)
                if not state.again:
                    return outcome
            await _push_later(case_key, partner_key)  # a busy case: let others have a turn
            return f"{outcome}; more changes came in: trying again shortly"
    finally:
        del _running[key]


async def _push_once(case_key: uuid.UUID, partner_key: uuid.UUID) -> str:
    async with read_session() as session:
        plan = await sync.plan_push(session, case_id=case_key, partner_id=partner_key)
    if isinstance(plan, sync.Skipped):
        return f"skipped: {plan.reason}"
    if isinstance(plan, sync.Blocked):
        await _record(case_key, partner_key, plan.version, plan.reason)
        raise PermanentError(plan.reason)
    if not BREAKER.allow(partner_key):
        message = "the platform keeps failing: pushes paused for a moment"
        await _record(case_key, partner_key, plan.version, message)
        raise PushFailed(message)
    try:
        status = await deliver(plan)
    except PushRefused as exc:
        BREAKER.succeeded(partner_key)  # it answered: it is up
        await _record(case_key, partner_key, plan.version, str(exc))
        raise
    except PushFailed as exc:
        BREAKER.failed(partner_key)
        await _record(case_key, partner_key, plan.version, str(exc))
        log.warning("push of %s v%d failed: %s", plan.reference, plan.version, exc)
        raise
    except BaseException:
        BREAKER.failed(partner_key)
        raise
    BREAKER.succeeded(partner_key)
    await _record(case_key, partner_key, plan.version, None)
    return f"pushed {plan.reference} version {plan.version} (HTTP {status})"


# --- the sweep --------------------------------------------------------------------------
SWEEP_BATCH = 500


@job(SWEEP_JOB, every=timedelta(seconds=_settings.case_sync_sweep_interval))
async def sync_sweep(*, idle_after: float | None = None) -> int:
    """Push again what was left behind (see :func:`domain.cases.sync.lagging_pairs`)."""
    idle = idle_after if idle_after is not None else get_settings().case_sync_idle_after
    async with read_session() as session:
        pairs = await sync.lagging_pairs(
            session, idle_since=utcnow() - timedelta(seconds=idle), limit=SWEEP_BATCH
        )
    sent = await send_pushes(pairs)
    if sent:
        log.info("sync sweep: %d pushes sent again", sent)
    return sent

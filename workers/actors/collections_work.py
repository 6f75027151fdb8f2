"""Collections work in the background: the daily run, queues that follow payments, and the
notifier workers that deliver strategy steps.

``collections.run_daily`` (every hour)
    For each timezone of open credits, once per business day after local midnight (like
    the delinquency run): the day's queues, assignments, promise deadlines and strategy
    steps (``domain.collections.work``), batch by batch, each batch its own transaction; a
    marker records the day once every batch is done (a run cut short is done again, and
    changes nothing the second time).

``collections.follow_payments`` (consumer of ``payments.*`` and credits' closing events)
    Decides the credit's promises and refreshes its queue items at once: a payment that
    cures an account takes it off the lists before the next morning.

``collections.dispatch_notifications`` (consumer of ``collections.step_triggered``)
    One send job per message of the step (e-mail, webhook). It does no I/O itself.

``collections.send_email`` / ``collections.send_webhook`` (jobs, queue ``notifications``)
    Claim the message (one sender at a time), send it, record the outcome in a short
    transaction of its own. The SMTP conversation and the HTTP call happen outside any
    write transaction. A message already sent is never sent again (its key: the e-mail's
    Message-ID, the webhook's Idempotency-Key). Temporary failures (a 4xx reply of the
    SMTP server, a connection that drops, a 5xx of the platform) retry with exponential
    backoff; permanent ones (a recipient refused with 5xx, a 4xx of the platform, no
    e-mail on file) close the message as failed or skipped with the reason, and the job
    lands in ``failedJobs`` where an administrator can retry it.

``collections.notify_sweep`` (every ``TRAMA_NOTIFY_SWEEP_INTERVAL``)
    Sends again messages left pending (a job lost with an in-process queue, a worker that
    died mid-send once its claim expired).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import smtplib
import ssl
import time
import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import httpx
from dramatiq.middleware import CurrentMessage
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import read_session, transaction
from app.outbound import refusal_of
from app.settings import Settings, get_settings
from domain.cases import sync as case_signing
from domain.collections import notifications, work
from domain.collections.work_models import NotificationChannel
from domain.credits.policy import today
from domain.shared import jobs
from domain.shared.event_schemas import parse_global_id
from domain.shared.ids import parse_uuid
from domain.shared.netguard import is_loopback_name
from domain.shared.outbox import Event
from domain.shared.time import utcnow
from workers.actors import case_sync
from workers.registry import PermanentError, RetryPolicy, consumer, job

log = logging.getLogger("trama.workers.collections")

RUN_JOB = "collections.run_daily"
EMAIL_JOB = "collections.send_email"
WEBHOOK_JOB = "collections.send_webhook"
SWEEP_JOB = "collections.notify_sweep"
NOTIFY_QUEUE = "notifications"
USER_AGENT = "Trama-Collections/1"

_settings = get_settings()

_NOTIFY_RETRY = RetryPolicy(
    max_retries=_settings.notify_max_retries,
    min_backoff_ms=int(_settings.notify_min_backoff * 1000),
    max_backoff_ms=int(_settings.notify_max_backoff * 1000),
    time_limit_ms=int(_settings.smtp_timeout * 1000) * 4 + 30_000,
)


class SendFailed(Exception):
    """The server or platform could not take the message now: retry later."""


class SendRefused(PermanentError):
    """The message was refused for good (a 5xx for the recipient, a 4xx of the platform)."""


# --- the daily run ----------------------------------------------------------------------
def _run_key(timezone: str) -> str:
    return f"collections.daily:{timezone}"


async def run_day(
    timezone: str,
    as_of: date,
    *,
    partner_id: uuid.UUID | None = None,
    batch_size: int | None = None,
    record: bool = True,
) -> dict[str, Any]:
    """The run of business day ``as_of`` over the open credits of ``timezone`` (and of one
    lender), batch by batch; ``record`` marks the day done."""
    size = batch_size or get_settings().collections_batch_size
    totals = work.RunTotals(as_of=as_of)
    after: uuid.UUID | None = None
    batches = 0
    while True:
        async with transaction() as session:
            batch = await work.run_collections(
                session,
                as_of=as_of,
                timezone=timezone,
                partner_id=partner_id,
                after_id=after,
                limit=size,
            )
        batches += 1
        totals.add(batch)
        if batch.done or batch.last_id is None:
            break
        after = batch.last_id
    if record:
        async with transaction() as session:
            await jobs.claim_tick(session, job=_run_key(timezone), tick=as_of.toordinal())
    return {"timezone": timezone, "batches": batches, **totals.as_dict()}


async def _day_done(session: AsyncSession, timezone: str, as_of: date) -> bool:
    import sqlalchemy as sa

    from domain.shared.jobs import ScheduledRun
    from domain.shared.models import table_of

    table = table_of(ScheduledRun)
    found = await session.execute(
        sa.select(table.c.tick).where(
            table.c.job == _run_key(timezone), table.c.tick == as_of.toordinal()
        )
    )
    return found.first() is not None


@job(RUN_JOB, every=timedelta(hours=1), retry=RetryPolicy(max_retries=3, time_limit_ms=30 * 60_000))
async def run_daily(*, as_of: str | None = None) -> list[dict[str, Any]]:
    """Each timezone of open credits whose business day has not been run yet, once.
    ``as_of`` (ISO date, a manual run) forces that day everywhere and records nothing."""
    forced = date.fromisoformat(as_of) if as_of else None
    pending: list[tuple[str, date]] = []
    async with read_session() as session:
        for timezone in await work.open_timezones(session):
            day = forced or today(timezone)
            if forced is None and await _day_done(session, timezone, day):
                continue
            pending.append((timezone, day))
    runs = []
    for timezone, day in pending:
        totals = await run_day(timezone, day, record=forced is None)
        log.info("collections run: %s", totals)
        runs.append(totals)
    return runs


# --- queues follow payments -------------------------------------------------------------
@consumer(
    "collections.follow_payments",
    "payments.*",
    "credits.paid_off",
    "credits.written_off",
    "credits.restructured",
    "credits.reopened",
    retry=RetryPolicy(max_retries=10, min_backoff_ms=1_000, max_backoff_ms=120_000),
)
async def follow_payments(session: AsyncSession, event: Event) -> None:
    credit_id = parse_global_id(event.payload.get("creditId"), "Credit")
    if credit_id is None:
        return
    await work.refresh_credit(session, credit_id=credit_id)


# --- notifications ----------------------------------------------------------------------
async def send_notifications(items: Iterable[tuple[uuid.UUID, str]]) -> int:
    """One send job per notification, through this process's broker."""
    from workers.backbone import current_backbone

    messages = [
        (
            EMAIL_JOB if channel == NotificationChannel.EMAIL else WEBHOOK_JOB,
            {"notification_id": str(key)},
        )
        for key, channel in items
    ]
    if not messages:
        return 0
    backbone = current_backbone()
    if backbone is None or backbone.broker is None:
        raise RuntimeError("no job broker runs in this process: cannot send notifications")
    broker = backbone.broker

    def send() -> None:
        for name, kwargs in messages:
            broker.send_job(name, kwargs)

    await asyncio.to_thread(send)
    return len(messages)


@consumer(
    "collections.dispatch_notifications",
    "collections.step_triggered",
    retry=RetryPolicy(max_retries=10, min_backoff_ms=1_000, max_backoff_ms=120_000),
)
async def dispatch_notifications(session: AsyncSession, event: Event) -> None:
    action_id = parse_uuid(str(event.payload.get("actionId") or ""))
    if action_id is None:
        return
    pending = await notifications.pending_notifications(
        session, idle_since=utcnow(), action_id=action_id
    )
    await send_notifications(pending)


def _is_last_attempt(policy: RetryPolicy) -> bool:
    message = CurrentMessage.get_current_message()
    if message is None:
        return True
    return int(message.options.get("retries", 0)) >= policy.max_retries


async def _claim(key: uuid.UUID) -> bool:
    lease = timedelta(seconds=get_settings().smtp_timeout * 3 + 30)
    async with transaction() as session:
        return await notifications.claim(session, key, lease=lease)


async def _failed(key: uuid.UUID, error: str, *, final: bool) -> None:
    async with transaction() as session:
        await notifications.record_failure(session, key, error=error, final=final)


async def _sent(key: uuid.UUID, recipient: str | None) -> None:
    async with transaction() as session:
        await notifications.record_sent(session, key, recipient=recipient)


async def _skipped(key: uuid.UUID, reason: str) -> None:
    async with transaction() as session:
        await notifications.record_skipped(session, key, reason=reason)


def _notification_id(value: str) -> uuid.UUID:
    key = parse_uuid(value)
    if key is None:
        raise PermanentError(f"bad notification id {value!r}")
    return key


# --- e-mail -------------------------------------------------------------------------------
def _identity(settings: Settings) -> notifications.MailIdentity:
    return notifications.MailIdentity(
        sender=settings.mail_from,
        sender_name=settings.mail_from_name,
        reply_to=settings.mail_reply_to,
    )


def _tls_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.smtp_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.smtp_ca_file))
    return context


def smtp_send(settings: Settings, message: EmailMessage, to: str) -> None:
    """Hand ``message`` to the SMTP server (blocking: run in a thread). Raises
    :class:`SendFailed` (try again) or :class:`SendRefused` (never)."""
    host = settings.smtp_host or ""
    if settings.smtp_security == "none" and settings.is_production and not is_loopback_name(host):
        raise SendRefused("TRAMA_SMTP_SECURITY=none is only for a relay on this machine")
    try:
        client: smtplib.SMTP
        if settings.smtp_security == "tls":
            client = smtplib.SMTP_SSL(
                host,
                settings.smtp_port,
                timeout=settings.smtp_timeout,
                context=_tls_context(settings),
            )
        else:
            client = smtplib.SMTP(host, settings.smtp_port, timeout=settings.smtp_timeout)
        with client:
            client.ehlo()
            if settings.smtp_security == "starttls":
                if not client.has_extn("starttls"):
                    raise SendFailed(
                        "the SMTP server does not offer STARTTLS; nothing sent in clear"
                    )
                client.starttls(context=_tls_context(settings))
                client.ehlo()
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                client.login(settings.smtp_username, password)
            client.send_message(message, from_addr=settings.mail_from, to_addrs=[to])
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        if 500 <= code < 600:
            raise SendRefused(f"the recipient was refused: {code} {text}"[:500]) from None
        raise SendFailed(f"the recipient was deferred: {code} {text}"[:500]) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise SendFailed(f"the SMTP server refused the credentials ({exc.smtp_code})") from None
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        if 500 <= exc.smtp_code < 600 and exc.smtp_code not in (521, 554):
            raise SendRefused(f"SMTP {exc.smtp_code} {text}"[:500]) from None
        raise SendFailed(f"SMTP {exc.smtp_code} {text}"[:500]) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from None


def _write_eml(settings: Settings, message: EmailMessage, key: str) -> Path:
    """Outside production without an SMTP server: the message as a file to look at."""
    folder = settings.var_dir / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.eml"
    path.write_bytes(bytes(message))
    return path


@job(EMAIL_JOB, retry=_NOTIFY_RETRY, queue=NOTIFY_QUEUE)
async def send_email(*, notification_id: str) -> str:
    key = _notification_id(notification_id)
    settings = get_settings()
    if not await _claim(key):
        return "nothing to send: already sent, closed, or being sent by another worker"
    async with read_session() as session:
        plan = await notifications.plan_email(session, key, _identity(settings))
    if isinstance(plan, notifications.Skip):
        if not plan.already_sent:
            await _skipped(key, plan.reason)
        return f"skipped: {plan.reason}"
    if not settings.smtp_host:
        if settings.is_production:
            await _failed(key, "no SMTP server is configured (TRAMA_SMTP_HOST)", final=True)
            raise SendRefused("no SMTP server is configured (TRAMA_SMTP_HOST)")
        path = await asyncio.to_thread(_write_eml, settings, plan.message, plan.message_key)
        await _sent(key, plan.recipient_masked)
        return f"written to {path} (no TRAMA_SMTP_HOST)"
    try:
        await asyncio.to_thread(smtp_send, settings, plan.message, plan.to)
    except SendRefused as exc:
        await _failed(key, str(exc), final=True)
        raise
    except SendFailed as exc:
        await _failed(key, str(exc), final=_is_last_attempt(_NOTIFY_RETRY))
        log.warning("e-mail %s not sent: %s", plan.message_key, exc)
        raise
    except asyncio.CancelledError:
        raise  # the process is stopping: no database work; the message is delivered again
    except BaseException as exc:  # the actor's time limit, an unexpected error
        await _failed(key, f"{type(exc).__name__}: {exc}", final=False)
        raise
    await _sent(key, plan.recipient_masked)
    return f"e-mail {plan.message_key} sent to {plan.recipient_masked}"


# --- webhooks -----------------------------------------------------------------------------
def webhook_headers(plan: notifications.WebhookPlan, *, timestamp: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": plan.message_key,
        "X-Trama-Event": notifications.WEBHOOK_EVENT,
        "X-Trama-Timestamp": timestamp,
        "X-Trama-Signature": case_signing.sign(plan.signing_secret, timestamp, plan.body),
    }


async def post_webhook(plan: notifications.WebhookPlan) -> int:
    """POST to the lender's platform through the guarded client of the case sync (public
    addresses or TRAMA_CONNECTOR_ALLOWED_NETWORKS only, judged after resolution; no
    redirects; https in production), with the connector's credentials."""
    settings = get_settings()
    timeout = float(min(plan.timeout_seconds, settings.case_sync_timeout))
    headers = webhook_headers(plan, timestamp=str(int(time.time())))
    authorization = await case_sync._authorization(cast(Any, plan), timeout)
    if authorization is not None:
        headers["Authorization"] = authorization
    try:
        async with case_sync._client(timeout) as client:
            response = await client.post(plan.endpoint_url, content=plan.body, headers=headers)
    except httpx.TimeoutException:
        raise SendFailed(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        refusal = refusal_of(exc)
        if refusal is not None:
            raise SendRefused(refusal[:500]) from None
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from None
    except case_sync.PushRefused as exc:
        raise SendRefused(str(exc)) from None
    except case_sync.PushFailed as exc:
        raise SendFailed(str(exc)) from None
    status = response.status_code
    if 200 <= status < 300:
        return status
    if status >= 500 or status in case_sync.RETRYABLE_STATUSES:
        raise SendFailed(f"HTTP {status}")
    if status == 401 and plan.auth_type == "OAUTH2_CLIENT_CREDENTIALS":
        case_sync._tokens.pop((plan.partner_id, plan.connector_version), None)
        raise SendFailed("HTTP 401: the access token was refused; a new one will be used")
    if 300 <= status < 400:
        raise SendRefused(f"HTTP {status}: redirects are not followed; fix the endpoint")
    raise SendRefused(f"HTTP {status}: {response.text[:200]}")


@job(WEBHOOK_JOB, retry=_NOTIFY_RETRY, queue=NOTIFY_QUEUE)
async def send_webhook(*, notification_id: str) -> str:
    key = _notification_id(notification_id)
    if not await _claim(key):
        return "nothing to send: already sent, closed, or being sent by another worker"
    async with read_session() as session:
        plan = await notifications.plan_webhook(session, key)
    if isinstance(plan, notifications.Skip):
        if not plan.already_sent:
            await _skipped(key, plan.reason)
        return f"skipped: {plan.reason}"
    try:
        status = await post_webhook(plan)
    except SendRefused as exc:
        await _failed(key, str(exc), final=True)
        raise
    except SendFailed as exc:
        await _failed(key, str(exc), final=_is_last_attempt(_NOTIFY_RETRY))
        log.warning("webhook %s not delivered: %s", plan.message_key, exc)
        raise
    except asyncio.CancelledError:
        raise  # the process is stopping: no database work; the message is delivered again
    except BaseException as exc:  # the actor's time limit, an unexpected error
        await _failed(key, f"{type(exc).__name__}: {exc}", final=False)
        raise
    from urllib.parse import urlsplit

    await _sent(key, urlsplit(plan.endpoint_url).hostname)
    return f"webhook {plan.message_key} delivered (HTTP {status})"


@job(SWEEP_JOB, every=timedelta(seconds=_settings.notify_sweep_interval))
async def notify_sweep(*, idle_after: float | None = None) -> int:
    """Send again what was left pending (see the module doc)."""
    idle = idle_after if idle_after is not None else get_settings().notify_idle_after
    async with read_session() as session:
        pending = await notifications.pending_notifications(
            session, idle_since=utcnow() - timedelta(seconds=idle)
        )
    sent = await send_notifications(pending)
    if sent:
        log.info("notification sweep: %d messages sent again", sent)
    return sent

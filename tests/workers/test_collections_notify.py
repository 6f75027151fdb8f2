"""The notifier workers against real protocol peers on loopback: e-mail through an SMTP
server that requires STARTTLS and AUTH (aiosmtpd), webhooks to a platform that checks the
signature itself; retries on temporary failures, permanent refusals closed with their
reason, and replays or duplicate jobs that never send a message twice."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from app.settings import reset_settings
from domain.cases import connectors
from domain.collections.work_models import Notification, StrategyAction
from domain.credits.models import Credit
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared.jobs import FailedJob
from domain.shared.netguard import AddressPolicy
from domain.shared.principal import SYSTEM
from tests.domain.collections_work.conftest import (
    all_rows,
    run_day,
    topics,
)
from tests.domain.collections_work.conftest import (
    make_credit as make_credit_fixture,
)
from tests.domain.credits.conftest import clear_demo_credits
from tests.workers.collections_fakes import PASSWORD, USER, SmtpServer, WebhookReceiver
from tests.workers.conftest import eventually
from workers.actors import collections_work as notifier
from workers.registry import REGISTRY, RetryPolicy

SECRET = "autocredito-signing-secret-0123456789abcd"

make_credit = make_credit_fixture


@pytest.fixture
async def lender(db: Any) -> uuid.UUID:
    await clear_demo_credits()
    async with read_session() as session:
        stmt = sa.select(Partner.id).where(Partner.code == "AUTOCREDITO")  # type: ignore[call-overload]
        return (await session.execute(stmt)).scalar_one()


@pytest.fixture
async def customers(db: Any) -> list[uuid.UUID]:
    async with read_session() as session:
        stmt = sa.select(Customer.id).order_by(Customer.id).limit(10)  # type: ignore[call-overload]
        return list((await session.execute(stmt)).scalars())


@pytest.fixture
def smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    server = SmtpServer(folder=tmp_path)
    server.start()
    monkeypatch.setenv("TRAMA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRAMA_SMTP_PORT", str(server.port))
    monkeypatch.setenv("TRAMA_SMTP_SECURITY", "starttls")
    monkeypatch.setenv("TRAMA_SMTP_USERNAME", USER)
    monkeypatch.setenv("TRAMA_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("TRAMA_SMTP_CA_FILE", str(server.cert))
    monkeypatch.setenv("TRAMA_SMTP_TIMEOUT", "5")
    monkeypatch.setenv("TRAMA_MAIL_FROM", "cobranza@autocredito.example")
    reset_settings()
    yield server
    server.stop()
    monkeypatch.undo()
    reset_settings()


@pytest.fixture
async def platform(lender: uuid.UUID) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret=SECRET)
    await receiver.start()
    async with transaction() as session:
        await connectors.upsert_connector(
            session,
            principal=SYSTEM,
            partner_id=lender,
            changes=connectors.ConnectorChanges(
                endpoint_url=receiver.url, signing_secret=SECRET, timeout_seconds=10
            ),
            allow_insecure_http=True,
            address_policy=AddressPolicy.allowing(["127.0.0.0/8"]),
        )
    yield receiver
    await receiver.stop()


@pytest.fixture
def fast_retries() -> Iterator[None]:
    saved = {name: REGISTRY.jobs[name] for name in (notifier.EMAIL_JOB, notifier.WEBHOOK_JOB)}
    for name, spec in saved.items():
        REGISTRY.jobs[name] = dataclasses.replace(
            spec,
            retry=RetryPolicy(
                max_retries=3, min_backoff_ms=50, max_backoff_ms=200, time_limit_ms=30_000
            ),
        )
    yield
    REGISTRY.jobs.update(saved)


async def _notifications(channel: str | None = None) -> list[Notification]:
    rows = await all_rows(Notification)
    return [n for n in rows if channel is None or n.channel == channel]


async def _statuses() -> dict[str, str]:
    return {n.channel: n.status for n in await _notifications()}


async def _letter_for_late_credit(make_credit: Any) -> tuple[Credit, StrategyAction]:
    credit = await make_credit(disbursed_days_ago=70)
    await run_day()
    action = next(a for a in await all_rows(StrategyAction) if a.status == "FIRED")
    return credit, action


async def test_a_step_goes_out_by_e_mail_over_starttls_and_by_signed_webhook(
    start_backbone: Any,
    make_credit: Any,
    smtp: SmtpServer,
    platform: WebhookReceiver,
    fast_retries: None,
) -> None:
    await start_backbone()
    credit, action = await _letter_for_late_credit(make_credit)
    await eventually(lambda: len(smtp.accepted) == 1 and len(platform.received) == 1)
    await eventually(lambda: _all_sent())

    mail = smtp.accepted[0]
    assert mail.tls and mail.authenticated
    async with read_session() as session:
        customer = await session.get(Customer, credit.customer_id)
    assert mail.mail_from == "cobranza@autocredito.example"
    assert mail.rcpt_tos == [customer.email]
    message = mail.message
    assert message["Subject"] == f"Carta de cobranza: crédito {credit.reference}"
    assert message["To"].addresses[0].addr_spec == customer.email
    assert message["Auto-Submitted"] == "auto-generated"
    key = f"{action.id}:EMAIL"
    assert message["X-Trama-Message-Key"] == key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    assert message["Message-ID"] == f"<collections.{digest}@autocredito.example>"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content_charset() == "utf-8"
    text = plain.get_content()
    assert f"Estimado/a {customer.given_names} {customer.family_names}:" in text
    assert "40 días de atraso" in text and "AutoCrédito Club" in text
    assert "días" in html.get_content()

    hook = platform.received[0]
    assert hook.key == f"{action.id}:WEBHOOK"
    assert hook.headers["x-trama-event"] == "collections.step_triggered"
    timestamp = hook.headers["x-trama-timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + hook.raw, hashlib.sha256)
    assert hook.headers["x-trama-signature"] == f"sha256={expected.hexdigest()}"
    assert hook.body["credit"]["reference"] == credit.reference
    assert (hook.body["action"], hook.body["stepCode"], hook.body["daysPastDue"]) == (
        "LETTER",
        "CARTA_FORMAL",
        40,
    )
    assert customer.email not in hook.raw.decode() and customer.given_names not in hook.raw.decode()
    sent = await _notifications()
    recipients = {n.channel: n.recipient for n in sent}
    assert recipients["WEBHOOK"] == "127.0.0.1"
    assert "•" in recipients["EMAIL"] and recipients["EMAIL"] != customer.email  # kept masked
    await eventually(lambda: _topics_count("collections.notification_sent", 2))

    # Replays: the jobs again, the consumer's fan-out again — nothing is sent twice.
    for n in sent:
        job = notifier.send_email if n.channel == "EMAIL" else notifier.send_webhook
        outcome = await job(notification_id=str(n.id))
        assert outcome.startswith("nothing to send")
    await notifier.send_notifications([(n.id, n.channel) for n in sent])
    await notifier.notify_sweep(idle_after=0)
    await eventually(lambda: _all_sent())
    assert len(smtp.accepted) == 1 and len(platform.received) == 1


async def _all_sent() -> bool:
    return set((await _statuses()).values()) == {"SENT"}


async def _topics_count(prefix: str, count: int) -> bool:
    return len(await topics(prefix)) == count


async def test_temporary_failures_retry_and_permanent_ones_close_the_message(
    start_backbone: Any,
    make_credit: Any,
    smtp: SmtpServer,
    platform: WebhookReceiver,
    fast_retries: None,
) -> None:
    smtp.defer_next = 2
    platform.fail_status, platform.fail_times = 503, 2
    await start_backbone()
    await _letter_for_late_credit(make_credit)
    await eventually(lambda: _all_sent())
    assert smtp.attempts == 3 and len(smtp.accepted) == 1
    assert len(platform.accepted) == 1
    attempts = {n.channel: n.attempts for n in await _notifications()}
    assert attempts == {"EMAIL": 3, "WEBHOOK": 3}

    # A mailbox that does not exist (550) is refused for good: FAILED, in failedJobs.
    second = await make_credit(disbursed_days_ago=70, customer=5)
    async with read_session() as session:
        customer = await session.get(Customer, second.customer_id)
    smtp.unknown.add(customer.email)
    platform.fail_status, platform.fail_times = 422, -1  # the platform refuses it, always
    before = len(await _notifications())
    await run_day()

    async def closed() -> bool:
        rows = (await _notifications())[before:]
        return len(rows) == 2 and {n.status for n in rows} == {"FAILED"}

    await eventually(closed)
    rows = {n.channel: n for n in (await _notifications())[before:]}
    assert "550" in (rows["EMAIL"].last_error or "") and "HTTP 422" in (
        rows["WEBHOOK"].last_error or ""
    )
    failed = await _topics_count("collections.notification_failed", 2)
    assert failed
    # Only the notifier's own jobs: other actors (a demo contract with no DocuSeal
    # configured, say) may fail in the same database. The failed job is recorded after the
    # notification is closed, so it is waited for too.
    own = {notifier.EMAIL_JOB, notifier.WEBHOOK_JOB}

    async def own_jobs_failed() -> bool:
        async with read_session() as session:
            jobs = (await session.execute(sa.select(FailedJob))).scalars().all()
        return {j.actor for j in jobs if j.actor in own} == own

    await eventually(own_jobs_failed)
    assert len(smtp.accepted) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_nothing_is_sent_in_clear_when_the_server_offers_no_starttls(
    make_credit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lender: uuid.UUID
) -> None:
    plain = SmtpServer(folder=tmp_path, tls=False)
    plain.start()
    try:
        monkeypatch.setenv("TRAMA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("TRAMA_SMTP_PORT", str(plain.port))
        monkeypatch.setenv("TRAMA_SMTP_USERNAME", USER)
        monkeypatch.setenv("TRAMA_SMTP_PASSWORD", PASSWORD)
        reset_settings()
        await _letter_for_late_credit(make_credit)
        email = (await _notifications("EMAIL"))[0]
        with pytest.raises(notifier.SendFailed, match="does not offer STARTTLS"):
            await notifier.send_email(notification_id=str(email.id))
        assert plain.attempts == 0 and plain.accepted == []
        assert (await _notifications("EMAIL"))[
            0
        ].status == "FAILED"  # called outside a worker: final
    finally:
        plain.stop()
        monkeypatch.undo()
        reset_settings()


async def test_a_customer_without_e_mail_and_a_lender_without_connector_are_skipped(
    make_credit: Any, lender: uuid.UUID, smtp: SmtpServer
) -> None:
    credit, _ = await _letter_for_late_credit(make_credit)
    async with transaction() as session:
        await session.execute(
            sa.update(Customer).where(Customer.id == credit.customer_id).values(email=None)  # type: ignore[arg-type]
        )
    for n in await _notifications():
        job = notifier.send_email if n.channel == "EMAIL" else notifier.send_webhook
        assert (await job(notification_id=str(n.id))).startswith("skipped")
    rows = {n.channel: n for n in await _notifications()}
    assert rows["EMAIL"].status == rows["WEBHOOK"].status == "SKIPPED"
    assert rows["EMAIL"].last_error == "the customer has no e-mail address on file"
    assert rows["WEBHOOK"].last_error == "the lender has no enabled connector"
    reasons = sorted(e.payload["reason"] for e in await topics("collections.notification_failed"))
    assert reasons == [
        "the customer has no e-mail address on file",
        "the lender has no enabled connector",
    ]
    assert smtp.accepted == []

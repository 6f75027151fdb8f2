"""The messages of fired strategy steps: what each says, to whom, and their delivery state.

A fired step (``StrategyAction``) has one :class:`Notification` per channel, made in the
run's transaction with a ``message_key`` (``<action id>:<channel>``). The notifier workers
(``workers/actors/collections_work.py``) deliver them:

- **EMAIL** to the customer's e-mail on file: a MIME message in Spanish (plain text and
  HTML alternatives, UTF-8), ``Message-ID`` derived from the message key — a message sent
  twice (a worker that died after the server accepted it) carries the same id, which mail
  systems use to drop the copy — and ``Auto-Submitted: auto-generated`` (RFC 3834).
- **WEBHOOK** to the lender's platform through its connector: the case-sync signature
  (``X-Trama-Signature``: HMAC-SHA256 of ``timestamp.body``) and ``Idempotency-Key``: the
  message key.

Delivery is claimed (:func:`claim`) with a lease, so two workers never send the same
message at once, and a sent message is never sent again (:func:`record_sent`). Nothing here
speaks SMTP or HTTP: the worker does, with what :func:`plan_email` / :func:`plan_webhook`
prepare. The e-mail address is read when sending and never stored in Trama's collections
tables (the notification keeps it masked).
"""

from __future__ import annotations

import hashlib
import html
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import connectors
from domain.collections.work_models import (
    ActionKind,
    Notification,
    NotificationChannel,
    NotificationStatus,
    StrategyAction,
)
from domain.credits.models import Credit
from domain.customers.models import Customer
from domain.customers.views import mask_email
from domain.partners.models import Partner
from domain.shared import event_schemas as wire
from domain.shared import outbox
from domain.shared.models import table_of
from domain.shared.money import CURRENCY_EXPONENTS, Money
from domain.shared.time import isoformat, utcnow

__all__ = [
    "EmailPlan",
    "MailIdentity",
    "Skip",
    "WebhookPlan",
    "claim",
    "format_amount",
    "format_date",
    "pending_notifications",
    "plan_email",
    "plan_webhook",
    "record_failure",
    "record_sent",
    "record_skipped",
]

WEBHOOK_EVENT = "collections.step_triggered"


# --- Spanish figures ------------------------------------------------------------------------
_MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)
#: (prefix, thousands separator, decimal separator) as each currency's country writes it.
_STYLE = {
    "CLP": ("$", ".", ","),
    "CLF": ("UF ", ".", ","),
    "ARS": ("$ ", ".", ","),
    "COP": ("$ ", ".", ","),
    "MXN": ("$", ",", "."),
    "PEN": ("S/ ", ",", "."),
    "USD": ("US$ ", ".", ","),
}


def format_amount(amount: int, currency: str) -> str:
    """``$1.234.567`` (CLP), ``UF 12,3456``, ``$ 1.234,56`` (ARS): exact, as people there
    write it."""
    prefix, thousands, decimal = _STYLE.get(currency, (f"{currency} ", ".", ","))
    text = Money(amount, currency).format()
    sign = "-" if text.startswith("-") else ""
    whole, _, frac = text.lstrip("-").partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    body = thousands.join(groups) + (decimal + frac if CURRENCY_EXPONENTS[currency] else "")
    return f"{sign}{prefix}{body}"


def format_date(day: date) -> str:
    """``5 de diciembre de 2026``."""
    return f"{day.day} de {_MONTHS[day.month - 1]} de {day.year}"


# --- delivery records -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Skip:
    """Nothing can be sent on this channel (no e-mail on file, no connector…), or it was
    sent already: ``final`` says whether the notification is closed by it."""

    reason: str
    already_sent: bool = False


async def claim(session: AsyncSession, notification_id: uuid.UUID, *, lease: timedelta) -> bool:
    """Take the notification for sending (one sender at a time, for ``lease``)."""
    table = table_of(Notification)
    now = utcnow()
    claimed = (
        await session.execute(
            table.update()
            .where(
                table.c.id == notification_id,
                sa.or_(
                    table.c.status == NotificationStatus.PENDING,
                    sa.and_(
                        table.c.status == NotificationStatus.SENDING,
                        table.c.claimed_until < now,
                    ),
                ),
            )
            .values(
                status=NotificationStatus.SENDING,
                claimed_until=now + lease,
                attempts=table.c.attempts + 1,
                updated_at=now,
            )
            .returning(table.c.id)
        )
    ).first()
    return claimed is not None


def _event(session: AsyncSession, topic: str, n: Notification, extra: dict[str, Any]) -> None:
    outbox.add(
        session,
        topic,
        {
            "creditId": wire.global_id("Credit", n.credit_id),
            "customerId": wire.global_id("Customer", n.customer_id),
            "partnerId": wire.global_id("Partner", n.partner_id),
            "notificationId": str(n.id),
            "actionId": str(n.action_id),
            "channel": n.channel,
            "messageKey": n.message_key,
            **extra,
        },
        partner_ids=[n.partner_id],
        key=wire.global_id("Credit", n.credit_id),
    )


async def _locked(session: AsyncSession, notification_id: uuid.UUID) -> Notification | None:
    from domain.shared.sql import for_update

    return (
        (
            await session.execute(
                for_update(
                    sa.select(Notification).where(col(Notification.id) == notification_id), session
                ).execution_options(populate_existing=True)
            )
        )
        .scalars()
        .first()
    )


async def record_sent(
    session: AsyncSession, notification_id: uuid.UUID, *, recipient: str | None
) -> None:
    n = await _locked(session, notification_id)
    if n is None or n.status == NotificationStatus.SENT:
        return
    now = utcnow()
    n.status = NotificationStatus.SENT
    n.sent_at = now
    n.updated_at = now
    n.claimed_until = None
    n.last_error = None
    n.recipient = recipient
    await session.flush()
    _event(session, "collections.notification_sent", n, {"attempts": max(1, n.attempts)})


async def record_failure(
    session: AsyncSession, notification_id: uuid.UUID, *, error: str, final: bool
) -> None:
    """A failed try: back to PENDING for the next retry, or FAILED for good."""
    n = await _locked(session, notification_id)
    if n is None or n.status in {NotificationStatus.SENT, NotificationStatus.SKIPPED}:
        return
    n.last_error = error[:500]
    n.claimed_until = None
    n.updated_at = utcnow()
    was_failed = n.status == NotificationStatus.FAILED
    n.status = NotificationStatus.FAILED if final else NotificationStatus.PENDING
    await session.flush()
    if final and not was_failed:
        _event(
            session,
            "collections.notification_failed",
            n,
            {"status": "FAILED", "reason": n.last_error},
        )


async def record_skipped(session: AsyncSession, notification_id: uuid.UUID, *, reason: str) -> None:
    n = await _locked(session, notification_id)
    if n is None or n.status in {NotificationStatus.SENT, NotificationStatus.SKIPPED}:
        return
    n.status = NotificationStatus.SKIPPED
    n.last_error = reason[:500]
    n.claimed_until = None
    n.updated_at = utcnow()
    await session.flush()
    _event(
        session, "collections.notification_failed", n, {"status": "SKIPPED", "reason": reason[:500]}
    )


async def pending_notifications(
    session: AsyncSession,
    *,
    idle_since: datetime,
    limit: int = 500,
    action_id: uuid.UUID | None = None,
) -> list[tuple[uuid.UUID, str]]:
    """Notifications to send: those of an action, or any left pending (or with an expired
    claim) since ``idle_since`` (a lost job, a worker that died)."""
    table = table_of(Notification)
    stmt = sa.select(table.c.id, table.c.channel)
    if action_id is not None:
        stmt = stmt.where(
            table.c.action_id == action_id, table.c.status == NotificationStatus.PENDING
        )
    else:
        stmt = stmt.where(
            sa.or_(
                sa.and_(
                    table.c.status == NotificationStatus.PENDING, table.c.updated_at < idle_since
                ),
                sa.and_(
                    table.c.status == NotificationStatus.SENDING, table.c.claimed_until < utcnow()
                ),
            )
        )
    rows = await session.execute(stmt.order_by(table.c.created_at, table.c.id).limit(limit))
    return [(r.id, r.channel) for r in rows]


# --- what the messages say ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MailIdentity:
    """Who the e-mails come from (settings)."""

    sender: str
    sender_name: str | None = None
    reply_to: str | None = None

    @property
    def domain(self) -> str:
        return self.sender.rpartition("@")[2] or "trama.invalid"


@dataclass(frozen=True)
class _Loaded:
    notification: Notification
    action: StrategyAction
    credit: Credit
    lender: Partner


async def _load(session: AsyncSession, notification_id: uuid.UUID) -> _Loaded | Skip:
    n = await session.get(Notification, notification_id)
    if n is None:
        return Skip("the notification does not exist")
    if n.status in {NotificationStatus.SENT}:
        return Skip("already sent", already_sent=True)
    if n.status in {NotificationStatus.SKIPPED, NotificationStatus.FAILED}:
        return Skip(f"closed as {n.status.lower()}", already_sent=True)
    action = await session.get(StrategyAction, n.action_id)
    credit = await session.get(Credit, n.credit_id)
    lender = await session.get(Partner, n.partner_id)
    assert action is not None and credit is not None and lender is not None
    return _Loaded(n, action, credit, lender)


def message_id(message_key: str, domain: str) -> str:
    digest = hashlib.sha256(message_key.encode()).hexdigest()[:32]
    return f"<collections.{digest}@{domain}>"


@dataclass(frozen=True)
class EmailPlan:
    notification_id: uuid.UUID
    message_key: str
    to: str = field(repr=False)
    recipient_masked: str
    message: EmailMessage = field(repr=False)


def _texts(action: StrategyAction, credit: Credit, lender: Partner, name: str) -> tuple[str, str]:
    amount = format_amount(action.amount_due, action.currency)
    due = format_date(action.due_date)
    run = format_date(action.run_date)
    ref = credit.reference
    greeting = f"Estimado/a {name}:"
    closing = f"Atentamente,\n{lender.name}"
    ignore = "Si ya realizó el pago, le agradecemos y le pedimos no considerar este mensaje."
    kind = ActionKind(action.action)
    if kind is ActionKind.REMINDER:
        subject = f"Recordatorio: su cuota N° {action.installment_number} vence el {due}"
        body = (
            f"{greeting}\n\n"
            f"Le recordamos que la cuota N° {action.installment_number} de su crédito {ref} "
            f"vence el {due}. Monto a pagar: {amount}.\n\n"
            "Pagar a tiempo evita intereses moratorios y mantiene su historial al día.\n\n"
            f"{ignore}\n\n{closing}"
        )
    elif kind is ActionKind.NOTICE:
        subject = f"Aviso de mora: crédito {ref}"
        body = (
            f"{greeting}\n\n"
            f"Al {run}, su crédito {ref} registra {action.days_past_due} días de atraso desde "
            f"el vencimiento de la cuota N° {action.installment_number} ({due}). "
            f"Monto vencido, con intereses moratorios: {amount}.\n\n"
            "Le invitamos a regularizar su situación o a contactarnos para acordar un pago.\n\n"
            f"{ignore}\n\n{closing}"
        )
    elif kind is ActionKind.LETTER:
        subject = f"Carta de cobranza: crédito {ref}"
        body = (
            f"{greeting}\n\n"
            f"Por medio de la presente, {lender.name} le informa que al {run} su crédito "
            f"{ref} mantiene una deuda vencida de {amount}, con {action.days_past_due} días "
            f"de atraso desde el vencimiento de la cuota N° {action.installment_number} "
            f"({due}).\n\n"
            "Le solicitamos formalmente pagar el monto adeudado o comunicarse con nosotros "
            "dentro de los próximos días hábiles para acordar una solución. De no mediar "
            "respuesta, la deuda podrá seguir su curso de cobranza conforme a la ley.\n\n"
            f"{ignore}\n\n{closing}"
        )
    else:
        subject = f"Intentaremos comunicarnos con usted: crédito {ref}"
        body = (
            f"{greeting}\n\n"
            f"Su crédito {ref} registra {action.days_past_due} días de atraso y un monto "
            f"vencido de {amount}. Un ejecutivo de {lender.name} intentará comunicarse con "
            "usted para ayudarle a regularizar su situación.\n\n"
            f"{ignore}\n\n{closing}"
        )
    return subject, body


def _html(body: str) -> str:
    paragraphs = "".join(
        f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in body.split("\n\n")
    )
    return f'<!DOCTYPE html><html lang="es"><body>{paragraphs}</body></html>'


async def plan_email(
    session: AsyncSession, notification_id: uuid.UUID, identity: MailIdentity
) -> EmailPlan | Skip:
    loaded = await _load(session, notification_id)
    if isinstance(loaded, Skip):
        return loaded
    customer = await session.get(Customer, loaded.notification.customer_id)
    assert customer is not None
    if not customer.email:
        return Skip("the customer has no e-mail address on file")
    name = f"{customer.given_names} {customer.family_names}".strip()
    subject, body = _texts(loaded.action, loaded.credit, loaded.lender, name)
    message = EmailMessage()
    message["From"] = formataddr((identity.sender_name or loaded.lender.name, identity.sender))
    message["To"] = formataddr((name, customer.email))
    if identity.reply_to:
        message["Reply-To"] = identity.reply_to
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id(loaded.notification.message_key, identity.domain)
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = "es"
    message["X-Trama-Message-Key"] = loaded.notification.message_key
    message.set_content(body, charset="utf-8")
    message.add_alternative(_html(body), subtype="html", charset="utf-8")
    return EmailPlan(
        notification_id=loaded.notification.id,
        message_key=loaded.notification.message_key,
        to=customer.email,
        recipient_masked=mask_email(customer.email),
        message=message,
    )


@dataclass(frozen=True)
class WebhookPlan:
    """One POST to the lender's platform. Holds the connector's secrets: never log it."""

    notification_id: uuid.UUID
    partner_id: uuid.UUID
    message_key: str
    endpoint_url: str
    auth_type: str
    timeout_seconds: int
    connector_version: int
    body: bytes
    auth_credentials: str | None = field(default=None, repr=False)
    signing_secret: str = field(default="", repr=False)


def webhook_body(action: StrategyAction, credit: Credit, message_key: str) -> bytes:
    """What the lender's platform receives: ids and figures, no personal data."""
    payload = {
        "type": WEBHOOK_EVENT,
        "messageKey": message_key,
        "occurredAt": isoformat(action.created_at),
        "actionId": str(action.id),
        "stepCode": action.step_code,
        "action": action.action,
        "dayOffset": action.day_offset,
        "strategyVersion": action.strategy_version,
        "credit": {
            "id": wire.global_id("Credit", credit.id),
            "reference": credit.reference,
        },
        "customerId": wire.global_id("Customer", credit.customer_id),
        "installmentNumber": action.installment_number,
        "dueDate": wire.day(action.due_date),
        "daysPastDue": action.days_past_due,
        "amountDue": wire.money(action.amount_due, action.currency),
        "runDate": wire.day(action.run_date),
    }
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


async def plan_webhook(session: AsyncSession, notification_id: uuid.UUID) -> WebhookPlan | Skip:
    loaded = await _load(session, notification_id)
    if isinstance(loaded, Skip):
        return loaded
    connector = await connectors.connector_for_sync(session, loaded.notification.partner_id)
    if connector is None:
        return Skip("the lender has no enabled connector")
    return WebhookPlan(
        notification_id=loaded.notification.id,
        partner_id=loaded.notification.partner_id,
        message_key=loaded.notification.message_key,
        endpoint_url=connector.endpoint_url,
        auth_type=connector.auth_type,
        timeout_seconds=connector.timeout_seconds,
        connector_version=connector.version,
        body=webhook_body(loaded.action, loaded.credit, loaded.notification.message_key),
        auth_credentials=connector.auth_credentials,
        signing_secret=connector.signing_secret,
    )


def new_notifications(action: StrategyAction) -> list[dict[str, Any]]:
    """Rows for the channels of a fired action (inserted by the run)."""
    now = utcnow()
    from domain.shared.ids import uuid7

    return [
        {
            "id": uuid7(),
            "action_id": action.id,
            "partner_id": action.partner_id,
            "credit_id": action.credit_id,
            "customer_id": action.customer_id,
            "channel": NotificationChannel(c).value,
            "message_key": f"{action.id}:{NotificationChannel(c).value}",
            "status": NotificationStatus.PENDING.value,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for c in action.channels
    ]

"""Cal.com's webhooks (issue 12): what a delivery says, which lender it is for, and the
processor the webhook inbox runs (``domain/webhooks``; the HTTP edge is
``app/webhooks_calcom.py``).

Cal.com signs each delivery with ``X-Cal-Signature-256``: the hex HMAC-SHA256 of the raw
body with the webhook's secret (``TRAMA_CALCOM_WEBHOOK_SECRET``); a webhook without a secret
sends ``no-secret-provided``, which Trama refuses. It sends no event id and no timestamp
header, so a delivery's key is (``triggerEvent``, the booking's uid, the body's SHA-256):
the same delivery sent twice is stored once, two different events of one booking are both
kept. The body is ``{"triggerEvent", "createdAt", "payload": {...}}`` (payload version
2021-10-20): ``uid``, ``bookingId``, ``eventTypeId``, ``title``, ``startTime``, ``endTime``,
``organizer{email, timeZone}``, ``attendees[{name, email, timeZone, phoneNumber}]``,
``responses``, ``metadata``, ``rescheduleUid`` (a reschedule: the booking it replaces),
``cancellationReason``, ``status``; BOOKING_NO_SHOW_UPDATED carries ``bookingUid``,
``bookingId``, ``attendees[{email, noShow}]`` and ``message`` instead.

Which lender? ``TRAMA_CALCOM_LENDERS`` maps an event type (``"eventType:<id>"``) or an
organizer's e-mail to a partner code, ``TRAMA_CALCOM_DEFAULT_LENDER`` takes the rest; a
booking of no known lender is stored and marked ignored (visible in the inbox), never an
error. The lender's leads are matched by the attendee's e-mail or phone; a booking link
made by Trama can carry ``metadata[trama]`` = :func:`booking_reference` of a lead or customer,
signed with the webhook secret so that nobody can attach a booking to someone else's record
by editing the link.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.crm.appointments import (
    BookingDetails,
    BookingEvent,
    BookingTrigger,
    apply_booking_event,
)
from domain.crm.appointments_models import CrmAppointment
from domain.crm.parties import Party, PartyKind
from domain.partners.models import Partner
from domain.shared.models import table_of
from domain.shared.time import ensure_utc
from domain.webhooks import service as inbox
from domain.webhooks.errors import DeliveryRejected
from domain.webhooks.models import WebhookDelivery, WebhookStatus

SOURCE = "calcom"
SIGNATURE_HEADER = "x-cal-signature-256"
NO_SECRET = "no-secret-provided"  # noqa: S105 (what Cal.com sends, not a secret)
METADATA_KEY = "trama"
KNOWN_TRIGGERS = frozenset(t.value for t in BookingTrigger)


@dataclass(frozen=True)
class CalcomConfig:
    secret: str | None = None
    #: ``"eventType:<id>"`` or an organizer e-mail (lower case) → partner code.
    lenders: Mapping[str, str] = field(default_factory=dict)
    default_lender: str | None = None


# --- the HTTP edge's part: signature and key ------------------------------------------------
class SignatureProblem(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raise :class:`SignatureProblem` unless ``header`` is the body's signature (constant
    time). ``no-secret-provided`` (a webhook saved without a secret) is refused."""
    if not header:
        raise SignatureProblem("MISSING_SIGNATURE", "X-Cal-Signature-256 is missing")
    value = header.strip()
    if value == NO_SECRET:
        raise SignatureProblem(
            "INVALID_SIGNATURE", "the Cal.com webhook has no secret; set the shared secret"
        )
    if not hmac.compare_digest(
        sign(secret, body).encode(), value.lower().encode("ascii", "replace")
    ):
        raise SignatureProblem("INVALID_SIGNATURE", "the signature does not match the body")


def envelope_of(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("triggerEvent"), str):
        raise ValueError("the body is not a Cal.com delivery (no triggerEvent)")
    return data


def booking_uid(envelope: Mapping[str, Any]) -> str | None:
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        return None
    for key in ("uid", "bookingUid"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:100]
    return None


def dedup_key(body: bytes) -> str:
    """(triggerEvent, booking uid, body SHA-256): Cal.com gives no event id."""
    envelope = envelope_of(body)
    trigger = str(envelope["triggerEvent"])[:40]
    return f"{trigger}:{booking_uid(envelope) or '-'}:{hashlib.sha256(body).hexdigest()}"


# --- references in a booking link's metadata ------------------------------------------------
def _ref_signature(secret: str, kind: str, key: uuid.UUID) -> str:
    message = f"calcom-booking-ref:{kind}:{key}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def booking_reference(secret: str, party: Party) -> str:
    """The value for a booking link's ``metadata[trama]`` naming a lead or customer."""
    kind = "lead" if party.is_lead else "customer"
    return f"{kind}:{party.id}:{_ref_signature(secret, kind, party.id)}"


def read_reference(secret: str | None, value: object) -> Party | None:
    if not secret or not isinstance(value, str) or len(value) > 120:
        return None
    kind, _, rest = value.partition(":")
    key_text, _, signature = rest.partition(":")
    try:
        key = uuid.UUID(key_text)
    except ValueError:
        return None
    if kind not in ("lead", "customer"):
        return None
    if not hmac.compare_digest(_ref_signature(secret, kind, key), signature):
        return None
    return Party(PartyKind.LEAD if kind == "lead" else PartyKind.CUSTOMER, key)


# --- reading a delivery ---------------------------------------------------------------------
def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return ensure_utc(parsed)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text[:limit] if text else None


def _email(value: object) -> str | None:
    text = _text(value, 254)
    if text is None or "@" not in text:
        return None
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def phone_e164(value: object, country: str | None) -> str | None:
    text = _text(value, 30)
    if text is None:
        return None
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _response_value(responses: object, *keys: str) -> object:
    if not isinstance(responses, dict):
        return None
    for key in keys:
        value = responses.get(key)
        if isinstance(value, dict):
            value = value.get("value")
        if isinstance(value, str) and value.strip():
            return value
    return None


def _details(payload: Mapping[str, Any], country: str | None) -> BookingDetails:
    attendees = payload.get("attendees")
    first = attendees[0] if isinstance(attendees, list) and attendees else {}
    first = first if isinstance(first, dict) else {}
    organizer = payload.get("organizer")
    organizer = organizer if isinstance(organizer, dict) else {}
    responses = payload.get("responses")
    phone = first.get("phoneNumber") or _response_value(
        responses, "attendeePhoneNumber", "phone", "phoneNumber"
    )
    return BookingDetails(
        title=_text(payload.get("title"), 300),
        start_at=_instant(payload.get("startTime")),
        end_at=_instant(payload.get("endTime")),
        booking_id=_int(payload.get("bookingId")),
        event_type_id=_int(payload.get("eventTypeId")),
        organizer_email=_email(organizer.get("email")),
        attendee_name=_text(first.get("name") or _response_value(responses, "name"), 200),
        attendee_email=_email(first.get("email") or _response_value(responses, "email")),
        attendee_phone=phone_e164(phone, country),
        attendee_timezone=_text(first.get("timeZone"), 64),
    )


def read_event(
    envelope: Mapping[str, Any], *, received_at: datetime, country: str | None, secret: str | None
) -> BookingEvent:
    trigger = BookingTrigger(str(envelope["triggerEvent"]))
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        raise DeliveryRejected("the delivery has no payload object")
    uid = booking_uid(envelope)
    if uid is None:
        raise DeliveryRejected("the delivery names no booking uid")
    at = _instant(envelope.get("createdAt")) or received_at
    metadata = payload.get("metadata")
    party = (
        read_reference(secret, metadata.get(METADATA_KEY)) if isinstance(metadata, dict) else None
    )
    if trigger is BookingTrigger.NO_SHOW_UPDATED:
        raw = payload.get("attendees")
        attendees = [a for a in raw if isinstance(a, dict)] if isinstance(raw, list) else []
        marks = [bool(a.get("noShow")) for a in attendees if "noShow" in a]
        if not marks:
            raise DeliveryRejected("BOOKING_NO_SHOW_UPDATED names no attendee")
        emails = [e for e in (_email(a.get("email")) for a in attendees) if e]
        details = BookingDetails(
            booking_id=_int(payload.get("bookingId")),
            attendee_email=emails[0] if emails else None,
        )
        return BookingEvent(trigger, at, uid, details, no_show=any(marks), party=party)
    return BookingEvent(
        trigger,
        at,
        uid,
        _details(payload, country),
        reschedule_uid=_text(payload.get("rescheduleUid"), 100),
        replaced_start_at=_instant(payload.get("rescheduleStartTime")),
        replaced_end_at=_instant(payload.get("rescheduleEndTime")),
        cancellation_reason=_text(payload.get("cancellationReason"), 500),
        party=party,
    )


async def lender_of(
    session: AsyncSession, config: CalcomConfig, envelope: Mapping[str, Any]
) -> Partner | None:
    payload = envelope.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    organizer = payload.get("organizer")
    keys: list[str] = []
    event_type = _int(payload.get("eventTypeId"))
    if event_type is not None:
        keys.append(f"eventType:{event_type}")
    if isinstance(organizer, dict):
        email = _email(organizer.get("email"))
        if email:
            keys.append(email.lower())
    code = next((config.lenders[k] for k in keys if k in config.lenders), None)
    code = code or config.default_lender
    if not code:
        return None
    return (
        await session.execute(sa.select(Partner).where(Partner.code == code))  # type: ignore[arg-type]
    ).scalar_one_or_none()


async def _existing_lender(session: AsyncSession, uid: str) -> uuid.UUID | None:
    """A booking seen before keeps its lender (a no-show update names no event type)."""
    table = table_of(CrmAppointment)
    found = await session.execute(
        sa.select(table.c.partner_id).where(table.c.booking_uid == uid).limit(1)
    )
    value = found.scalar_one_or_none()
    return None if value is None else uuid.UUID(str(value))


def processor(config: CalcomConfig) -> inbox.ProcessorFn:
    async def process(session: AsyncSession, delivery: WebhookDelivery) -> inbox.ProcessorResult:
        try:
            envelope = envelope_of(delivery.body)
        except ValueError as exc:
            raise DeliveryRejected(str(exc)) from None
        if envelope["triggerEvent"] not in KNOWN_TRIGGERS:
            return inbox.Ignored(f"{str(envelope['triggerEvent'])[:60]}: not acted on")
        uid = booking_uid(envelope)
        lender_id = await _existing_lender(session, uid) if uid else None
        partner = None
        if lender_id is not None:
            partner = await session.get(Partner, lender_id)
        else:
            partner = await lender_of(session, config, envelope)
        if partner is None:
            return inbox.Ignored("no lender for this organizer or event type")
        event = read_event(
            envelope,
            received_at=delivery.received_at,
            country=partner.country,
            secret=config.secret,
        )
        result = await apply_booking_event(
            session, partner_id=partner.id, event=event, source_ref=f"calcom:{delivery.id}"
        )
        return result.outcome()

    return process


def register(config: CalcomConfig) -> None:
    """Install the processor (the worker does it with the settings)."""
    inbox.unregister_processor(SOURCE)
    inbox.register_processor(SOURCE, processor(config))


__all__ = [
    "CalcomConfig",
    "SignatureProblem",
    "WebhookStatus",
    "booking_reference",
    "dedup_key",
    "register",
    "verify_signature",
]

"""Cal.com bookings through the webhook inbox, with real-shaped deliveries (payload version
2021-10-20): appointments land on the lead's timeline, move the opportunity, open follow-up
tasks, and keep their order per booking by Cal.com's own times whatever order the
deliveries arrive in (a cancellation before its creation, a reschedule before the booking
it replaces), each delivery applied once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.crm import calcom
from domain.crm.appointments_models import CrmAppointment
from domain.crm.models import (
    CrmAdvisor,
    CrmLead,
    CrmOpportunity,
    CrmTask,
    CrmTimelineItem,
    Stage,
)
from domain.crm.parties import Party
from domain.partners.models import Partner
from domain.shared import time as clock
from domain.shared.outbox import OutboxEvent
from domain.webhooks import service as inbox
from domain.webhooks.models import WebhookDelivery
from workers.actors import webhooks as actors

SECRET = "calcom-test-secret"
EMAIL = "Valentina.Rojas@Example.CL"
PHONE = "+56 9 8765 4321"


@pytest.fixture(autouse=True)
def processor() -> Iterator[None]:
    calcom.register(calcom.CalcomConfig(secret=SECRET, default_lender="AUTOCREDITO"))
    yield
    actors.register_processors()


def at(minutes: int) -> str:
    moment = clock.utcnow() + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def booking(
    trigger: str,
    uid: str,
    *,
    created: int,
    start_days: int = 2,
    email: str = EMAIL,
    phone: str | None = PHONE,
    metadata: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A delivery shaped like Cal.com's (BookingPayloadBuilder, version 2021-10-20)."""
    start = clock.utcnow().replace(microsecond=0) + timedelta(days=start_days)
    payload: dict[str, Any] = {
        "bookerUrl": "https://cal.com",
        "type": "asesoria-credito",
        "title": "Asesoría crédito automotriz entre AutoCrédito y Valentina Rojas",
        "description": "",
        "additionalNotes": "Quiero financiar un SUV",
        "customInputs": {},
        "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endTime": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "organizer": {
            "id": 42,
            "name": "Camila Soto",
            "email": "camila.soto@autocredito.example",
            "username": "camila-autocredito",
            "timeZone": "America/Santiago",
            "language": {"locale": "es"},
            "timeFormat": "h:mma",
            "utcOffset": -180,
        },
        "responses": {
            "name": {"label": "your_name", "value": "Valentina Rojas"},
            "email": {"label": "email_address", "value": email},
            "attendeePhoneNumber": {"label": "phone_number", "value": phone},
            "location": {
                "label": "location",
                "value": {"optionValue": "", "value": "integrations:daily"},
            },
        },
        "userFieldsResponses": {},
        "attendees": [
            {
                "email": email,
                "name": "Valentina Rojas",
                "firstName": "Valentina",
                "lastName": "Rojas",
                "timeZone": "America/Santiago",
                "phoneNumber": phone,
                "language": {"locale": "es"},
                "utcOffset": -180,
            }
        ],
        "location": "integrations:daily",
        "destinationCalendar": None,
        "hideCalendarNotes": False,
        "requiresConfirmation": False,
        "eventTypeId": 1234,
        "seatsShowAttendees": True,
        "seatsPerTimeSlot": None,
        "seatsShowAvailabilityCount": True,
        "schedulingType": None,
        "iCalUID": f"{uid}@Cal.com",
        "iCalSequence": 0,
        "uid": uid,
        "eventTitle": "Asesoría crédito automotriz",
        "eventDescription": None,
        "price": 0,
        "currency": "usd",
        "length": 30,
        "bookingId": abs(hash(uid)) % 100_000,
        "metadata": {"videoCallUrl": f"https://app.cal.com/video/{uid}", **(metadata or {})},
        "status": "ACCEPTED",
    }
    payload.update(extra)
    return {"triggerEvent": trigger, "createdAt": at(created), "payload": payload}


def no_show(uid: str, *, created: int, marked: bool = True) -> dict[str, Any]:
    return {
        "triggerEvent": "BOOKING_NO_SHOW_UPDATED",
        "createdAt": at(created),
        "payload": {
            "message": f"{EMAIL} x_marked_as_no_show",
            "attendees": [{"email": EMAIL, "noShow": marked}],
            "bookingUid": uid,
            "bookingId": 7,
        },
    }


async def deliver(envelope: dict[str, Any]) -> tuple[WebhookDelivery, dict[str, Any] | None]:
    body = json.dumps(envelope).encode()
    async with transaction() as session:
        delivery, _ = await inbox.record_delivery(
            session,
            source=calcom.SOURCE,
            dedup_key=calcom.dedup_key(body),
            body=body,
            headers={calcom.SIGNATURE_HEADER: calcom.sign(SECRET, body)},
        )
    outcome = await actors.process(delivery_id=str(delivery.id))
    async with read_session() as session:
        stored = await session.get(WebhookDelivery, delivery.id)
    assert stored is not None
    return stored, outcome


async def world() -> tuple[uuid.UUID, CrmLead, CrmOpportunity]:
    async with transaction() as session:
        lender = (
            await session.execute(sa.select(Partner).where(Partner.code == "AUTOCREDITO"))
        ).scalar_one()
        advisor = CrmAdvisor(partner_id=lender.id, subject="adv-cal", name="Camila Soto")
        session.add(advisor)
        await session.flush()
        lead = CrmLead(
            partner_id=lender.id,
            name="Valentina Rojas",
            email="Valentina.Rojas@example.cl",
            email_key="valentina.rojas@example.cl",
            phone="+56987654321",
            advisor_id=advisor.id,
        )
        session.add(lead)
        await session.flush()
        opportunity = CrmOpportunity(
            partner_id=lender.id, lead_id=lead.id, product="VEHICLE_CREDIT", advisor_id=advisor.id
        )
        session.add(opportunity)
        await session.flush()
        return lender.id, lead, opportunity


async def appointment(uid: str) -> CrmAppointment:
    async with read_session() as session:
        return (
            await session.execute(
                sa.select(CrmAppointment).where(CrmAppointment.booking_uid == uid)
            )
        ).scalar_one()


async def rows(model: Any, *where: Any) -> list[Any]:
    async with read_session() as session:
        return list((await session.execute(sa.select(model).where(*where))).scalars().all())


async def test_a_booking_lands_on_the_leads_timeline_and_moves_the_opportunity(db: Any) -> None:
    _, lead, opportunity = await world()
    delivery, outcome = await deliver(booking("BOOKING_CREATED", "bk-created-1", created=0))
    assert delivery.status == "processed", delivery.last_error
    assert outcome is not None and "new -> SCHEDULED" in outcome["outcome"]
    got = await appointment("bk-created-1")
    assert got.status == "SCHEDULED" and got.lead_id == lead.id
    assert got.attendee_email == "Valentina.Rojas@example.cl"
    assert got.attendee_phone == "+56987654321"
    assert got.event_type_id == 1234 and got.start_at is not None
    items = await rows(
        CrmTimelineItem, CrmTimelineItem.lead_id == lead.id, CrmTimelineItem.kind == "APPOINTMENT"
    )
    assert [i.payload["event"] for i in items] == ["BOOKING_CREATED"]
    assert items[0].visible_to_customer is True
    moved = (await rows(CrmOpportunity, CrmOpportunity.id == opportunity.id))[0]
    assert moved.stage == Stage.CONTACTED.value
    events = await rows(OutboxEvent, OutboxEvent.topic == "crm.appointment_changed")
    assert [e.payload["toStatus"] for e in events] == ["SCHEDULED"]


async def test_a_replayed_delivery_is_applied_once(db: Any) -> None:
    _, lead, _ = await world()
    envelope = booking("BOOKING_CANCELLED", "bk-replay", created=5, cancellationReason="viaje")
    first, _ = await deliver(envelope)
    second, outcome = await deliver(envelope)  # byte for byte the same: the stored one
    assert first.id == second.id and outcome is None
    assert len(await rows(CrmTask, CrmTask.lead_id == lead.id)) == 1
    assert (
        len(
            await rows(
                CrmTimelineItem,
                CrmTimelineItem.lead_id == lead.id,
                CrmTimelineItem.kind == "APPOINTMENT",
            )
        )
        == 1
    )


async def test_a_cancellation_before_its_creation_is_not_undone(db: Any) -> None:
    _, lead, _ = await world()
    cancel = booking("BOOKING_CANCELLED", "bk-late", created=10, cancellationReason="No puedo")
    create = booking("BOOKING_CREATED", "bk-late", created=0)
    await deliver(cancel)
    late, _ = await deliver(create)
    assert late.status == "processed"
    got = await appointment("bk-late")
    assert got.status == "CANCELLED" and got.cancellation_reason == "No puedo"
    assert got.start_at is not None
    items = await rows(
        CrmTimelineItem, CrmTimelineItem.lead_id == lead.id, CrmTimelineItem.kind == "APPOINTMENT"
    )
    # both on the timeline, in Cal.com's order by their own times
    ordered = sorted(items, key=lambda i: i.occurred_at)
    assert [i.payload["event"] for i in ordered] == ["BOOKING_CREATED", "BOOKING_CANCELLED"]
    tasks = await rows(CrmTask, CrmTask.lead_id == lead.id)
    assert [(t.kind, t.status) for t in tasks] == [("CALL_BACK", "OPEN")]
    assert tasks[0].due_at > clock.utcnow()
    assert tasks[0].due_at <= clock.utcnow() + timedelta(days=4)  # one business day
    events = await rows(OutboxEvent, OutboxEvent.topic == "crm.appointment_changed")
    assert [e.payload["toStatus"] for e in events] == ["CANCELLED"]


async def test_a_reschedule_before_the_creation_it_replaces(db: Any) -> None:
    _, lead, _ = await world()
    old_start = clock.utcnow().replace(microsecond=0) + timedelta(days=2)
    reschedule = booking(
        "BOOKING_RESCHEDULED",
        "bk-new",
        created=20,
        start_days=5,
        rescheduleUid="bk-old",
        rescheduleStartTime=old_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        rescheduleEndTime=(old_start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        rescheduleId=11,
    )
    await deliver(reschedule)
    # Its creation, late, says the same times (built here from one instant, as Cal.com did).
    await deliver(
        booking(
            "BOOKING_CREATED",
            "bk-old",
            created=0,
            startTime=old_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            endTime=(old_start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    )
    new, old = await appointment("bk-new"), await appointment("bk-old")
    assert new.status == "SCHEDULED" and new.rescheduled_from_uid == "bk-old"
    assert old.status == "RESCHEDULED" and old.rescheduled_to_uid == "bk-new"
    assert old.lead_id == lead.id and old.start_at == old_start
    assert new.start_at is not None and new.start_at > old_start
    # No call back for a replaced booking; the new one cancelled later is one.
    assert await rows(CrmTask, CrmTask.lead_id == lead.id) == []
    await deliver(booking("BOOKING_CANCELLED", "bk-old", created=30))
    assert (await appointment("bk-old")).status == "RESCHEDULED"


async def test_a_no_show_opens_a_call_back_and_a_meeting_qualifies(db: Any) -> None:
    _, lead, opportunity = await world()
    await deliver(booking("BOOKING_CREATED", "bk-meet", created=0))
    await deliver(no_show("bk-meet", created=40))
    assert (await appointment("bk-meet")).status == "NO_SHOW"
    tasks = await rows(CrmTask, CrmTask.lead_id == lead.id)
    assert [t.kind for t in tasks] == ["CALL_BACK"]
    # MEETING_ENDED sent before the no-show was marked, delivered after: no change.
    late_end, _ = await deliver(booking("MEETING_ENDED", "bk-meet", created=35))
    assert late_end.status == "processed"
    assert (await appointment("bk-meet")).status == "NO_SHOW"
    # The host corrects it: not a no-show after all → attended, the opportunity qualifies.
    await deliver(no_show("bk-meet", created=50, marked=False))
    assert (await appointment("bk-meet")).status == "COMPLETED"
    stage = (await rows(CrmOpportunity, CrmOpportunity.id == opportunity.id))[0].stage
    assert stage == Stage.QUALIFIED.value
    kinds = sorted(t.kind for t in await rows(CrmTask, CrmTask.lead_id == lead.id))
    assert kinds == ["CALL_BACK", "FOLLOW_UP"]


async def test_unknown_events_and_unknown_lenders_are_stored_and_ignored(db: Any) -> None:
    await world()
    ping, outcome = await deliver(
        {"triggerEvent": "PING", "createdAt": at(0), "payload": {"type": "Test", "title": "Test"}}
    )
    assert ping.status == "ignored" and outcome is not None
    requested, _ = await deliver(booking("BOOKING_REQUESTED", "bk-req", created=0))
    assert requested.status == "ignored" and "not acted on" in (requested.outcome or "")
    calcom.register(calcom.CalcomConfig(secret=SECRET))  # no lender mapped
    orphan, _ = await deliver(booking("BOOKING_CREATED", "bk-orphan", created=0))
    assert orphan.status == "ignored" and "no lender" in (orphan.outcome or "")
    assert await rows(CrmAppointment, CrmAppointment.booking_uid == "bk-orphan") == []


async def test_matching_by_phone_and_by_a_signed_reference(db: Any) -> None:
    lender_id, lead, _ = await world()
    by_phone, _ = await deliver(
        booking("BOOKING_CREATED", "bk-phone", created=0, email="otra@correo.cl", phone="987654321")
    )
    assert (await appointment("bk-phone")).lead_id == lead.id
    async with transaction() as session:
        other = CrmLead(partner_id=lender_id, name="Pedro Díaz", email_key=None)
        session.add(other)
        await session.flush()
        other_id = other.id
    signed = calcom.booking_reference(SECRET, Party.lead(other_id))
    await deliver(
        booking(
            "BOOKING_CREATED",
            "bk-ref",
            created=0,
            email="x@y.cl",
            phone=None,
            metadata={"trama": signed},
        )
    )
    assert (await appointment("bk-ref")).lead_id == other_id
    forged = f"lead:{other_id}:{'0' * 32}"
    await deliver(
        booking(
            "BOOKING_CREATED",
            "bk-forged",
            created=0,
            email="z@y.cl",
            phone=None,
            metadata={"trama": forged},
        )
    )
    unmatched = await appointment("bk-forged")
    assert unmatched.lead_id is None and unmatched.customer_id is None
    assert by_phone.status == "processed"


def test_signatures_and_keys() -> None:
    body = json.dumps(booking("BOOKING_CREATED", "bk-sig", created=0)).encode()
    calcom.verify_signature(SECRET, body, calcom.sign(SECRET, body))
    calcom.verify_signature(SECRET, body, calcom.sign(SECRET, body).upper())
    for header, code in [
        (None, "MISSING_SIGNATURE"),
        ("no-secret-provided", "INVALID_SIGNATURE"),
        (calcom.sign("other", body), "INVALID_SIGNATURE"),
        (calcom.sign(SECRET, body + b" "), "INVALID_SIGNATURE"),
    ]:
        with pytest.raises(calcom.SignatureProblem) as refused:
            calcom.verify_signature(SECRET, body, header)
        assert refused.value.code == code
    key = calcom.dedup_key(body)
    trigger, uid, digest = key.split(":")
    assert (trigger, uid, len(digest)) == ("BOOKING_CREATED", "bk-sig", 64)
    no_show_key = calcom.dedup_key(json.dumps(no_show("bk-sig", created=1)).encode())
    assert no_show_key.startswith("BOOKING_NO_SHOW_UPDATED:bk-sig:")
    with pytest.raises(ValueError):
        calcom.dedup_key(b"[1, 2]")

"""Appointments' events (see domain/shared/event_schemas.py): ids, status and times only."""

from __future__ import annotations

from domain.crm.appointments_models import AppointmentStatus
from domain.shared.event_schemas import EventSpec, enum, nullable, obj, ref, string

CHANGED = "crm.appointment_changed"

EVENTS = (
    EventSpec(
        topic=CHANGED,
        summary="A booked appointment (Cal.com) was created or changed status or time.",
        key="The appointment's id.",
        audience="The lender the appointment belongs to.",
        payload=obj(
            "The appointment, its status before and after, and its time.",
            {
                "appointmentId": ref("Uuid"),
                "partnerId": ref("PartnerId"),
                "bookingUid": string("Cal.com's booking uid."),
                "fromStatus": nullable(enum(AppointmentStatus)),
                "toStatus": enum(AppointmentStatus),
                "startAt": nullable(ref("DateTime")),
                "endAt": nullable(ref("DateTime")),
                "leadId": nullable(ref("Uuid")),
                "customerId": nullable(ref("CustomerId")),
                "changedAt": ref("DateTime"),
            },
        ),
    ),
)

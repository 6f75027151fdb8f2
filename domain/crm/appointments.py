"""Appointments from Cal.com bookings (issue 12): apply one booking event, in order.

Cal.com sends no sequence number and no event id, and its deliveries can arrive late, twice
or out of order (a cancellation before the creation it cancels, a reschedule before the
booking it replaces). Each event carries its own ``createdAt``; an appointment keeps the
time of the event that set its status (``status_at``) and of the one that set its details
(``details_at``), and :func:`apply_booking_event` never lets an older event undo a newer
one:

- details (times, attendee, title) are taken from an event at least as new as the ones
  already applied; an older event only fills what is still unknown;
- RESCHEDULED and CANCELLED end a booking: nothing moves it back (a late creation after the
  cancellation only fills in details); SCHEDULED never replaces COMPLETED or NO_SHOW;
  COMPLETED and NO_SHOW replace each other only from a newer event (a no-show corrected);
- a reschedule creates (or updates) the new booking and ends the one it replaces, creating
  that one's row when its creation has not arrived yet; the creation, arriving later, finds
  it ended.

Every event, applied or not, lands once on the timeline of the lead or customer it belongs
to (matched by a signed Trama reference in the booking's metadata, else by the attendee's
e-mail or phone among the lender's leads and the network's customers), at its own time, so
the history reads in order whatever order the deliveries came in. A status change is
audited and on the outbox (``crm.appointment_changed``), moves the person's open
opportunities forward (booked: CONTACTED; attended: QUALIFIED; never backwards) and opens
the follow-up task: after a no-show or a cancellation a call back, after an attended
meeting a follow-up, each due within one business day of the lender.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.crm import events as crm_events
from domain.crm.appointments_events import CHANGED
from domain.crm.appointments_models import (
    ENDED_STATUSES,
    AppointmentStatus,
    CrmAppointment,
)
from domain.crm.business_time import add_business_hours
from domain.crm.models import (
    CLOSED_STAGES,
    CrmLead,
    CrmOpportunity,
    CrmSettings,
    Stage,
    TaskKind,
    TimelineKind,
)
from domain.crm.parties import Party, PartyKind, find_party_by_contact, party_of
from domain.crm.tasks import create_task
from domain.crm.timeline import add_timeline_item
from domain.partners.models import Partner
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.principal import SYSTEM
from domain.shared.sql import for_update
from domain.shared.time import isoformat, utcnow


class BookingTrigger(StrEnum):
    CREATED = "BOOKING_CREATED"
    RESCHEDULED = "BOOKING_RESCHEDULED"
    CANCELLED = "BOOKING_CANCELLED"
    NO_SHOW_UPDATED = "BOOKING_NO_SHOW_UPDATED"
    MEETING_ENDED = "MEETING_ENDED"


@dataclass(frozen=True)
class BookingDetails:
    title: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    booking_id: int | None = None
    event_type_id: int | None = None
    organizer_email: str | None = None
    attendee_name: str | None = None
    attendee_email: str | None = None
    attendee_phone: str | None = None
    attendee_timezone: str | None = None


@dataclass(frozen=True)
class BookingEvent:
    """One Cal.com event about one booking, as :mod:`domain.crm.calcom` read it."""

    trigger: BookingTrigger
    at: datetime
    uid: str
    details: BookingDetails | None
    reschedule_uid: str | None = None
    #: The replaced booking's times (a reschedule's ``rescheduleStartTime``/``EndTime``).
    replaced_start_at: datetime | None = None
    replaced_end_at: datetime | None = None
    cancellation_reason: str | None = None
    #: BOOKING_NO_SHOW_UPDATED: whether an attendee was marked (True) or unmarked (False).
    no_show: bool | None = None
    #: The lead or customer a signed Trama reference in the metadata names.
    party: Party | None = None


@dataclass
class ApplyResult:
    appointment_id: uuid.UUID
    changed: list[str] = field(default_factory=list)
    party: Party | None = None
    tasks: list[uuid.UUID] = field(default_factory=list)
    opportunities: list[uuid.UUID] = field(default_factory=list)

    def outcome(self) -> str:
        parts = self.changed or ["no change (older or ended)"]
        if self.party is None:
            parts.append("no lead or customer matched")
        return "; ".join(parts)[:200]


def snapshot(appointment: CrmAppointment) -> dict[str, Any]:
    """What the audit trail keeps: ids, status and times, no contact data."""
    return {
        "bookingUid": appointment.booking_uid,
        "status": appointment.status,
        "startAt": appointment.start_at,
        "endAt": appointment.end_at,
        "leadId": appointment.lead_id,
        "customerId": appointment.customer_id,
        "rescheduledFromUid": appointment.rescheduled_from_uid,
        "rescheduledToUid": appointment.rescheduled_to_uid,
        "version": appointment.version,
    }


async def _row(
    session: AsyncSession, partner_id: uuid.UUID, uid: str
) -> tuple[CrmAppointment, bool]:
    query = for_update(
        sa.select(CrmAppointment).where(
            CrmAppointment.partner_id == partner_id,  # type: ignore[arg-type]
            CrmAppointment.booking_uid == uid,  # type: ignore[arg-type]
        ),
        session,
    )
    found = (await session.execute(query)).scalar_one_or_none()
    if found is not None:
        return found, False
    now = utcnow()
    row = CrmAppointment(
        partner_id=partner_id, booking_uid=uid, status_at=None, created_at=now, updated_at=now
    )
    session.add(row)
    return row, True


def _fill(appointment: CrmAppointment, details: BookingDetails, at: datetime) -> bool:
    """Take the details of an event at least as new as those applied; from an older one
    only what is still unknown. Whether anything changed."""
    newer = appointment.details_at is None or at >= appointment.details_at
    changed = False
    for name in BookingDetails.__dataclass_fields__:
        value = getattr(details, name)
        if value is None:
            continue
        current = getattr(appointment, name)
        if current == value or (not newer and current is not None):
            continue
        setattr(appointment, name, value)
        changed = True
    if newer:
        appointment.details_at = at
    return changed


def _may_move(appointment: CrmAppointment, target: AppointmentStatus, at: datetime) -> bool:
    if appointment.status_at is None:
        return True  # a row this event just created
    current = AppointmentStatus(appointment.status)
    if current in ENDED_STATUSES:
        return False
    if target is AppointmentStatus.SCHEDULED:
        return False  # already scheduled, or past it
    if target in ENDED_STATUSES:
        return at >= appointment.status_at or current is AppointmentStatus.SCHEDULED
    # COMPLETED / NO_SHOW
    if current is AppointmentStatus.SCHEDULED:
        return True
    return at > appointment.status_at and target is not current


async def _resolve_party(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    appointment: CrmAppointment,
    event: BookingEvent,
) -> Party | None:
    if appointment.lead_id is not None:
        return await party_of(session, Party.lead(appointment.lead_id))
    if appointment.customer_id is not None:
        return await party_of(session, Party.customer(appointment.customer_id))
    party: Party | None = None
    if event.party is not None:
        party = await party_of(session, event.party)
        if party is not None and party.is_lead and party.partner_id != partner_id:
            party = None  # another lender's lead: never linked
    if party is None:
        party = await find_party_by_contact(
            session,
            lender_id=partner_id,
            email=appointment.attendee_email,
            phone_e164=appointment.attendee_phone,
        )
    if party is None:
        return None
    if party.kind is PartyKind.LEAD:
        appointment.lead_id = party.id
    else:
        appointment.customer_id = party.id
        if party.lead_id is not None:
            appointment.lead_id = party.lead_id
    return party


async def _business_day_after(session: AsyncSession, partner_id: uuid.UUID) -> datetime:
    partner = await session.get(Partner, partner_id)
    settings = await session.get(CrmSettings, partner_id)
    opens = settings.business_day_start if settings else 9
    closes = settings.business_day_end if settings else 18
    country = partner.country if partner else "CL"
    return add_business_hours(
        utcnow(), country=country, hours=max(1, closes - opens), opens=opens, closes=closes
    )


_FOLLOW_UPS: dict[AppointmentStatus, tuple[TaskKind, str]] = {
    AppointmentStatus.NO_SHOW: (TaskKind.CALL_BACK, "Call back: missed the appointment"),
    AppointmentStatus.CANCELLED: (TaskKind.CALL_BACK, "Call back: cancelled the appointment"),
    AppointmentStatus.COMPLETED: (TaskKind.FOLLOW_UP, "Follow up on the appointment"),
}
_STAGE_ON: dict[AppointmentStatus, Stage] = {
    AppointmentStatus.SCHEDULED: Stage.CONTACTED,
    AppointmentStatus.COMPLETED: Stage.QUALIFIED,
}
_RANK = {
    Stage.NEW: 0,
    Stage.CONTACTED: 1,
    Stage.QUALIFIED: 2,
    Stage.APPLICATION: 3,
    Stage.OFFER: 4,
    Stage.WON: 5,
}


async def _advance_opportunities(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    party: Party,
    to: Stage,
    source_ref: str,
) -> list[uuid.UUID]:
    """The person's open opportunities of the lender move forward to ``to`` (never back)."""
    table = CrmOpportunity.__table__  # type: ignore[attr-defined]
    owner = (
        table.c.lead_id == party.id
        if party.is_lead
        else sa.or_(
            table.c.customer_id == party.id,
            *([table.c.lead_id == party.lead_id] if party.lead_id is not None else []),
        )
    )
    rows = (
        (
            await session.execute(
                sa.select(CrmOpportunity)
                .where(
                    table.c.partner_id == partner_id,
                    owner,
                    table.c.stage.not_in([s.value for s in CLOSED_STAGES]),
                )
                .order_by(table.c.created_at)
            )
        )
        .scalars()
        .all()
    )
    moved: list[uuid.UUID] = []
    now = utcnow()
    for opportunity in rows:
        current = Stage(opportunity.stage)
        if _RANK[to] <= _RANK[current]:
            continue
        before = {"stage": opportunity.stage, "version": opportunity.version}
        opportunity.stage = to.value
        opportunity.stage_changed_at = now
        opportunity.updated_at = now
        opportunity.version += 1
        await session.flush()
        subject = (
            Party.lead(opportunity.lead_id)
            if opportunity.lead_id is not None
            else Party.customer(opportunity.customer_id)  # type: ignore[arg-type]
        )
        await add_timeline_item(
            session,
            subject=subject,
            kind=TimelineKind.OPPORTUNITY,
            occurred_at=now,
            visible_to_customer=False,
            partner_id=partner_id,
            payload={
                "opportunityId": str(opportunity.id),
                "product": opportunity.product,
                "fromStage": current.value,
                "toStage": to.value,
                "lostReason": None,
            },
            source_ref=f"{source_ref}:{opportunity.id}"[:200],
        )
        audit.record(
            session,
            principal=SYSTEM,
            action="crm.move_opportunity",
            entity_type="Opportunity",
            entity_id=opportunity.id,
            before=before,
            after={"stage": to.value, "version": opportunity.version},
        )
        crm_events.emit(
            session,
            "crm.opportunity_stage_changed",
            partner_id,
            {
                "opportunityId": crm_events.record_id(opportunity.id),
                "partnerId": wire.global_id("Partner", partner_id),
                "fromStage": current.value,
                "toStage": to.value,
                "changedAt": wire.instant(now),
            },
            key=crm_events.record_id(opportunity.id),
        )
        moved.append(opportunity.id)
    return moved


async def _set_status(
    session: AsyncSession,
    appointment: CrmAppointment,
    target: AppointmentStatus,
    at: datetime,
    *,
    trigger: str,
) -> str | None:
    previous = None if appointment.status_at is None else appointment.status
    if previous == target.value:
        appointment.status_at = max(at, appointment.status_at or at)
        return None
    before = None if previous is None else snapshot(appointment)
    appointment.status = target.value
    appointment.status_at = at
    appointment.last_event = trigger
    appointment.updated_at = utcnow()
    if before is not None:
        appointment.version += 1
    await session.flush()
    audit.record(
        session,
        principal=SYSTEM,
        action="crm.appointment_" + target.value.lower(),
        entity_type="Appointment",
        entity_id=appointment.id,
        before=before,
        after=snapshot(appointment),
    )
    outbox.add(
        session,
        CHANGED,
        {
            "appointmentId": str(appointment.id),
            "partnerId": wire.global_id("Partner", appointment.partner_id),
            "bookingUid": appointment.booking_uid,
            "fromStatus": previous,
            "toStatus": target.value,
            "startAt": wire.maybe_instant(appointment.start_at),
            "endAt": wire.maybe_instant(appointment.end_at),
            "leadId": None if appointment.lead_id is None else str(appointment.lead_id),
            "customerId": wire.maybe_global_id("Customer", appointment.customer_id),
            "changedAt": wire.instant(utcnow()),
        },
        partner_ids=[appointment.partner_id],
        key=str(appointment.id),
    )
    return f"{appointment.booking_uid} {previous or 'new'} -> {target.value}"


def _target(event: BookingEvent) -> AppointmentStatus:
    if event.trigger is BookingTrigger.CANCELLED:
        return AppointmentStatus.CANCELLED
    if event.trigger is BookingTrigger.MEETING_ENDED:
        return AppointmentStatus.COMPLETED
    if event.trigger is BookingTrigger.NO_SHOW_UPDATED:
        return AppointmentStatus.NO_SHOW if event.no_show else AppointmentStatus.COMPLETED
    return AppointmentStatus.SCHEDULED


async def apply_booking_event(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    event: BookingEvent,
    source_ref: str,
) -> ApplyResult:
    """Apply one Cal.com event of lender ``partner_id`` (see the module's rules).
    ``source_ref`` names the delivery (its timeline item and effects are written once)."""
    appointment, _created = await _row(session, partner_id, event.uid)
    if event.details is not None:
        _fill(appointment, event.details, event.at)
    if event.trigger is BookingTrigger.RESCHEDULED and event.reschedule_uid:
        appointment.rescheduled_from_uid = event.reschedule_uid[:100]
    if event.cancellation_reason and event.trigger is BookingTrigger.CANCELLED:
        appointment.cancellation_reason = event.cancellation_reason[:500]
    await session.flush()
    party = await _resolve_party(
        session, partner_id=partner_id, appointment=appointment, event=event
    )
    await session.flush()
    result = ApplyResult(appointment.id, party=party)
    target = _target(event)
    applied: AppointmentStatus | None = None
    if _may_move(appointment, target, event.at):
        change = await _set_status(session, appointment, target, event.at, trigger=event.trigger)
        if change:
            result.changed.append(change)
            applied = target
    # A reschedule ends the booking it replaces (its row made now if its creation is late).
    if event.trigger is BookingTrigger.RESCHEDULED and event.reschedule_uid:
        old, _ = await _row(session, partner_id, event.reschedule_uid[:100])
        old.rescheduled_to_uid = event.uid
        if old.start_at is None and event.replaced_start_at is not None:
            old.start_at = event.replaced_start_at
            old.end_at = event.replaced_end_at
        if old.lead_id is None and old.customer_id is None:
            old.lead_id, old.customer_id = appointment.lead_id, appointment.customer_id
        await session.flush()
        if _may_move(old, AppointmentStatus.RESCHEDULED, event.at):
            change = await _set_status(
                session, old, AppointmentStatus.RESCHEDULED, event.at, trigger=event.trigger
            )
            if change:
                result.changed.append(change)
    if party is not None:
        await add_timeline_item(
            session,
            subject=party,
            kind=TimelineKind.APPOINTMENT,
            occurred_at=event.at,
            visible_to_customer=True,
            partner_id=partner_id,
            payload={
                "appointmentId": str(appointment.id),
                "bookingUid": appointment.booking_uid,
                "event": event.trigger.value,
                "status": appointment.status,
                "startAt": None
                if appointment.start_at is None
                else isoformat(appointment.start_at),
                "endAt": None if appointment.end_at is None else isoformat(appointment.end_at),
                "rescheduledFromUid": appointment.rescheduled_from_uid,
            },
            source_ref=source_ref,
        )
        if applied is not None:
            await _effects(session, partner_id, appointment, party, applied, result)
    return result


async def _effects(
    session: AsyncSession,
    partner_id: uuid.UUID,
    appointment: CrmAppointment,
    party: Party,
    status: AppointmentStatus,
    result: ApplyResult,
) -> None:
    stage = _STAGE_ON.get(status)
    if stage is not None:
        result.opportunities += await _advance_opportunities(
            session,
            partner_id=partner_id,
            party=party,
            to=stage,
            source_ref=f"crm.appointment:{appointment.id}:{status.value}",
        )
    follow_up = _FOLLOW_UPS.get(status)
    if follow_up is None:
        return
    if status is AppointmentStatus.CANCELLED and appointment.rescheduled_to_uid:
        return  # replaced by another booking: nothing to call about
    kind, title = follow_up
    lead_id = appointment.lead_id
    if lead_id is not None:
        lead = await session.get(CrmLead, lead_id)
        if lead is None or lead.partner_id != partner_id:
            lead_id = None
    task = await create_task(
        session,
        principal=SYSTEM,
        partner_id=partner_id,
        title=title,
        kind=kind,
        due_at=await _business_day_after(session, partner_id),
        note=f"Cal.com booking {appointment.booking_uid}",
        lead_id=lead_id,
        customer_id=appointment.customer_id,
        source_ref=f"crm.appointment:{appointment.id}:{status.value}:v{appointment.version}",
    )
    result.tasks.append(task.id)


async def appointments_of(
    session: AsyncSession, *, lead_id: uuid.UUID | None = None, customer_id: uuid.UUID | None = None
) -> list[CrmAppointment]:
    table = CrmAppointment.__table__  # type: ignore[attr-defined]
    query = sa.select(CrmAppointment)
    if lead_id is not None:
        query = query.where(table.c.lead_id == lead_id)
    if customer_id is not None:
        query = query.where(table.c.customer_id == customer_id)
    return list((await session.execute(query.order_by(table.c.start_at))).scalars().all())

"""Vehicles one at a time: reading one, holding it for a credit application, releasing the
hold, selling it through the application, the expiry of lapsed holds, and photos.

Origination calls :func:`reserve_vehicle`, :func:`release_reservation` and
:func:`mark_sold` in its own transactions (the caller is trusted: it checked who acts; the
``principal`` defaults to Trama itself for the audit trail). Every change takes the
vehicle's row lock, checks the transition (``states.py``), bumps ``version``, writes an
audit record and an event in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases.attachment_rules import JPEG, PNG, Inspected
from domain.marketplace import events, scopes
from domain.marketplace.errors import VehicleNotAvailable, VehicleNotFound, VehicleReserved
from domain.marketplace.models import (
    ReservationStatus,
    Vehicle,
    VehiclePhoto,
    VehicleReservation,
)
from domain.marketplace.states import VehicleStatus, ensure_transition
from domain.shared import audit, outbox
from domain.shared.errors import Conflict, ValidationFailed
from domain.shared.principal import SYSTEM, Principal
from domain.shared.sql import for_update
from domain.shared.time import ensure_utc, isoformat, utcnow

#: The longest a vehicle may be held for one application at a time (it may be extended).
MAX_HOLD = timedelta(days=7)
MAX_PHOTOS = 20
PHOTO_TYPES = (PNG, JPEG)
PHOTO_MAX_BYTES = 8 * 1024 * 1024


async def get_many(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Vehicle]:
    """Vehicles by id, unchecked (the caller applies ``scopes.may_see``)."""
    if not ids:
        return {}
    rows = (await session.execute(sa.select(Vehicle).where(col(Vehicle.id).in_(ids)))).scalars()
    return {v.id: v for v in rows}


async def get_vehicle(session: AsyncSession, vehicle_id: uuid.UUID) -> Vehicle | None:
    """One vehicle, unchecked: for other domains (origination reads its status, price and
    dealer). ``trim`` is the model's version; ``version`` is the row's concurrency counter."""
    return await session.get(Vehicle, vehicle_id)


async def read_vehicle(
    session: AsyncSession, *, principal: Principal | None, vehicle_id: uuid.UUID
) -> Vehicle:
    """One vehicle as ``principal`` may see it (``VehicleNotFound`` otherwise)."""
    vehicle = await session.get(Vehicle, vehicle_id)
    if vehicle is None or not scopes.may_see(principal, vehicle):
        raise VehicleNotFound(vehicle_id)
    return vehicle


async def photos_of(
    session: AsyncSession, vehicle_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[VehiclePhoto]]:
    out: dict[uuid.UUID, list[VehiclePhoto]] = {v: [] for v in vehicle_ids}
    if not vehicle_ids:
        return out
    rows = (
        await session.execute(
            sa.select(VehiclePhoto)
            .where(col(VehiclePhoto.vehicle_id).in_(vehicle_ids))
            .order_by(col(VehiclePhoto.vehicle_id), col(VehiclePhoto.position))
        )
    ).scalars()
    for photo in rows:
        out[photo.vehicle_id].append(photo)
    return out


async def _locked(session: AsyncSession, vehicle_id: uuid.UUID) -> Vehicle:
    query = for_update(sa.select(Vehicle).where(col(Vehicle.id) == vehicle_id), session)
    vehicle = (await session.execute(query)).scalar_one_or_none()
    if vehicle is None:
        raise VehicleNotFound(vehicle_id)
    await session.refresh(vehicle)
    return vehicle


async def _active_hold(session: AsyncSession, vehicle_id: uuid.UUID) -> VehicleReservation | None:
    return (
        await session.execute(
            sa.select(VehicleReservation)
            .where(
                col(VehicleReservation.vehicle_id) == vehicle_id,
                col(VehicleReservation.status) == ReservationStatus.ACTIVE.value,
            )
            .order_by(col(VehicleReservation.created_at).desc())
            .limit(1)
        )
    ).scalar_one_or_none()


def _snapshot(vehicle: Vehicle) -> dict[str, Any]:
    return {
        "status": vehicle.status,
        "reserved_for": vehicle.reserved_for,
        "reserved_until": vehicle.reserved_until,
        "version": vehicle.version,
    }


def _hold_payload(vehicle: Vehicle, hold: VehicleReservation) -> dict[str, Any]:
    return {
        **events.of(vehicle),
        "applicationId": str(hold.application_id),
        "reservationId": str(hold.id),
    }


@dataclass(frozen=True, slots=True)
class Hold:
    vehicle: Vehicle
    reservation: VehicleReservation
    #: False when the same application already held it (the hold was extended or kept).
    created: bool


async def reserve_vehicle(
    session: AsyncSession,
    *,
    vehicle_id: uuid.UUID,
    application_id: uuid.UUID,
    hold_until: datetime,
    principal: Principal = SYSTEM,
    expected_version: int | None = None,
) -> Hold:
    """Hold ``vehicle_id`` for ``application_id`` until ``hold_until`` (at most
    ``MAX_HOLD`` from now). The same application asking again moves its hold's end; another
    application gets ``VEHICLE_RESERVED``; a sold or withdrawn vehicle
    ``VEHICLE_NOT_AVAILABLE``."""
    now = utcnow()
    until = ensure_utc(hold_until)
    if until <= now:
        raise ValidationFailed.on("until", "the hold must end in the future")
    if until > now + MAX_HOLD:
        raise ValidationFailed.on("until", f"a hold lasts at most {MAX_HOLD.days} days")
    vehicle = await _locked(session, vehicle_id)
    if expected_version is not None and vehicle.version != expected_version:
        raise Conflict(
            f"the vehicle changed (version {vehicle.version})", current_version=vehicle.version
        )
    before = _snapshot(vehicle)
    if vehicle.status == VehicleStatus.RESERVED.value:
        if vehicle.reserved_for != application_id:
            raise VehicleReserved("the vehicle is held for another application")
        hold = await _active_hold(session, vehicle.id)
        assert hold is not None
        hold.held_until = until
        created = False
    elif vehicle.status != VehicleStatus.AVAILABLE.value:
        raise VehicleNotAvailable(f"the vehicle is {vehicle.status.lower()}: it cannot be held")
    else:
        ensure_transition(vehicle.status, VehicleStatus.RESERVED)
        hold = VehicleReservation(
            vehicle_id=vehicle.id,
            application_id=application_id,
            held_until=until,
            actor=principal.subject[:200],
            created_at=now,
        )
        session.add(hold)
        vehicle.status = VehicleStatus.RESERVED.value
        created = True
    vehicle.reserved_for = application_id
    vehicle.reserved_until = until
    vehicle.version += 1
    vehicle.updated_at = now
    await session.flush()
    outbox.add(
        session,
        events.RESERVED,
        {**_hold_payload(vehicle, hold), "heldUntil": isoformat(until)},
        partner_ids=[vehicle.dealer_id],
        key=events.key_of(vehicle.id),
    )
    audit.record(
        session,
        principal=principal,
        action="vehicles.reserved",
        entity_type="Vehicle",
        entity_id=vehicle.id,
        before=before,
        after={**_snapshot(vehicle), "reservation_id": hold.id},
    )
    return Hold(vehicle=vehicle, reservation=hold, created=created)


async def _end_hold(
    session: AsyncSession,
    vehicle: Vehicle,
    *,
    status: ReservationStatus,
    principal: Principal,
    now: datetime,
) -> VehicleReservation:
    before = _snapshot(vehicle)
    hold = await _active_hold(session, vehicle.id)
    assert hold is not None
    sold = status == ReservationStatus.CONVERTED
    target = VehicleStatus.SOLD if sold else VehicleStatus.AVAILABLE
    ensure_transition(vehicle.status, target)
    hold.status = status.value
    hold.ended_at = now
    vehicle.status = target.value
    vehicle.reserved_for = None
    vehicle.reserved_until = None
    if target == VehicleStatus.SOLD:
        vehicle.sold_at = now
    vehicle.version += 1
    vehicle.updated_at = now
    await session.flush()
    payload = _hold_payload(vehicle, hold)
    if target == VehicleStatus.SOLD:
        topic, payload = events.SOLD, {**payload, "soldAt": isoformat(now)}
    else:
        topic = events.RELEASED
        payload = {**payload, "lapsed": status == ReservationStatus.EXPIRED}
    outbox.add(
        session, topic, payload, partner_ids=[vehicle.dealer_id], key=events.key_of(vehicle.id)
    )
    audit.record(
        session,
        principal=principal,
        action=topic,
        entity_type="Vehicle",
        entity_id=vehicle.id,
        before=before,
        after={**_snapshot(vehicle), "reservation_id": hold.id},
    )
    return hold


def _held_for(vehicle: Vehicle, application_id: uuid.UUID) -> None:
    if vehicle.status != VehicleStatus.RESERVED.value or vehicle.reserved_for != application_id:
        raise VehicleNotAvailable("the vehicle is not held for this application")


async def release_reservation(
    session: AsyncSession,
    *,
    vehicle_id: uuid.UUID,
    application_id: uuid.UUID,
    principal: Principal = SYSTEM,
) -> Vehicle:
    """End ``application_id``'s hold: the vehicle is AVAILABLE again. Releasing a hold the
    application no longer has (already released or lapsed) changes nothing."""
    vehicle = await _locked(session, vehicle_id)
    if vehicle.status != VehicleStatus.RESERVED.value or vehicle.reserved_for != application_id:
        return vehicle
    await _end_hold(
        session, vehicle, status=ReservationStatus.RELEASED, principal=principal, now=utcnow()
    )
    return vehicle


async def mark_sold(
    session: AsyncSession,
    *,
    vehicle_id: uuid.UUID,
    application_id: uuid.UUID,
    principal: Principal = SYSTEM,
) -> Vehicle:
    """The application that holds the vehicle bought it (its credit was signed). Idempotent
    for that application: a vehicle it already bought is returned unchanged."""
    vehicle = await _locked(session, vehicle_id)
    if vehicle.status == VehicleStatus.SOLD.value:
        sold_to = (
            await session.execute(
                sa.select(col(VehicleReservation.application_id)).where(
                    col(VehicleReservation.vehicle_id) == vehicle.id,
                    col(VehicleReservation.status) == ReservationStatus.CONVERTED.value,
                )
            )
        ).scalar_one_or_none()
        if sold_to == application_id:
            return vehicle
    _held_for(vehicle, application_id)
    await _end_hold(
        session, vehicle, status=ReservationStatus.CONVERTED, principal=principal, now=utcnow()
    )
    return vehicle


async def release_lapsed_holds(session: AsyncSession, *, limit: int = 500) -> int:
    """Make AVAILABLE again the vehicles whose hold ended before now (the expiry job); the
    rows are locked and skipped when another worker holds them. Returns how many."""
    now = utcnow()
    query = for_update(
        sa.select(Vehicle)
        .where(
            col(Vehicle.status) == VehicleStatus.RESERVED.value,
            col(Vehicle.reserved_until) < now,
        )
        .order_by(col(Vehicle.reserved_until))
        .limit(limit),
        session,
        skip_locked=True,
    )
    lapsed = list((await session.execute(query)).scalars())
    for vehicle in lapsed:
        await _end_hold(
            session, vehicle, status=ReservationStatus.EXPIRED, principal=SYSTEM, now=now
        )
    return len(lapsed)


# --- photos -----------------------------------------------------------------------------
def photo_key(sha256: str) -> str:
    return f"vehicle-photos/{sha256}"


@dataclass(frozen=True, slots=True)
class PhotoResult:
    photo: VehiclePhoto
    vehicle: Vehicle
    created: bool


async def add_photo(
    session: AsyncSession,
    *,
    principal: Principal,
    store: Any,
    vehicle_id: uuid.UUID,
    content: bytes,
    inspected: Inspected,
) -> PhotoResult:
    """Add a photo (PNG or JPEG, checked by ``domain.cases.attachment_rules`` first) to a
    vehicle of the principal's own dealer. The same picture again is the same photo."""
    if inspected.file_type not in PHOTO_TYPES:
        raise ValidationFailed.on("file", "a vehicle photo is a PNG or JPEG image")
    if inspected.size_bytes > PHOTO_MAX_BYTES:
        raise ValidationFailed.on("file", f"a photo is at most {PHOTO_MAX_BYTES} bytes")
    vehicle = await _locked(session, vehicle_id)
    if not scopes.may_see(principal, vehicle):
        raise VehicleNotFound(vehicle_id)
    scopes.ensure_can_manage_dealer(principal, vehicle.dealer_id)
    existing = (
        await session.execute(
            sa.select(VehiclePhoto).where(
                col(VehiclePhoto.vehicle_id) == vehicle.id,
                col(VehiclePhoto.sha256) == inspected.sha256,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return PhotoResult(existing, vehicle, created=False)
    count = (
        await session.scalar(
            sa.select(sa.func.count()).where(col(VehiclePhoto.vehicle_id) == vehicle.id)
        )
    ) or 0
    if count >= MAX_PHOTOS:
        raise ValidationFailed.on("file", f"a vehicle has at most {MAX_PHOTOS} photos")
    photo = VehiclePhoto(
        vehicle_id=vehicle.id,
        position=count + 1,
        storage_key=photo_key(inspected.sha256),
        content_type=inspected.content_type,
        size_bytes=inspected.size_bytes,
        sha256=inspected.sha256,
        uploaded_by=principal.subject[:200],
    )
    session.add(photo)
    vehicle.version += 1
    vehicle.updated_at = photo.uploaded_at
    await session.flush()
    outbox.add(
        session,
        events.PHOTO_ADDED,
        {
            **events.of(vehicle),
            "photoId": str(photo.id),
            "contentType": photo.content_type,
            "sizeBytes": photo.size_bytes,
            "sha256": photo.sha256,
        },
        partner_ids=[vehicle.dealer_id],
        key=events.key_of(vehicle.id),
    )
    audit.record(
        session,
        principal=principal,
        action=events.PHOTO_ADDED,
        entity_type="Vehicle",
        entity_id=vehicle.id,
        after={"photo_id": photo.id, "sha256": photo.sha256, "version": vehicle.version},
    )
    # Content-addressed: writing the same bytes again is harmless, and a failed
    # transaction leaves at most an unreferenced copy (never one another vehicle uses).
    await store.put(photo.storage_key, content, content_type=photo.content_type)
    return PhotoResult(photo, vehicle, created=True)


async def public_photo(session: AsyncSession, photo_id: uuid.UUID) -> VehiclePhoto | None:
    """A photo anyone may fetch: its vehicle is in the public catalogue."""
    from domain.marketplace.states import PUBLIC

    row = (
        await session.execute(
            sa.select(VehiclePhoto)
            .join(Vehicle, col(Vehicle.id) == col(VehiclePhoto.vehicle_id))
            .where(
                col(VehiclePhoto.id) == photo_id,
                col(Vehicle.status).in_(sorted(s.value for s in PUBLIC)),
            )
        )
    ).scalar_one_or_none()
    return row


#: The name origination calls (``domain.origination.lending.release_vehicle``).
release_vehicle = release_reservation

"""Marketplace's events: topics, keys and payload schemas (see domain/shared/event_schemas.py).

Every event goes to the vehicle's dealer. Reservations name the credit application by its
plain id (origination's); amounts are ``Money``. No personal data.
"""

from __future__ import annotations

import uuid
from typing import Any

from domain.marketplace.models import Vehicle
from domain.marketplace.states import VehicleStatus
from domain.shared import event_schemas as wire
from domain.shared.event_schemas import (
    EventSpec,
    Schema,
    boolean,
    enum,
    integer,
    nullable,
    obj,
    ref,
    string,
)

_AUDIENCE = "The vehicle's dealer."
_KEY = "The vehicle's global id."

_VEHICLE: dict[str, Schema] = {
    "vehicleId": ref("VehicleId"),
    "dealerId": ref("PartnerId"),
    "stockId": string("The dealer's stock id."),
    "status": enum(VehicleStatus),
    "price": ref("Money"),
    "version": integer(minimum=1),
}

_HOLD: dict[str, Schema] = {
    **_VEHICLE,
    "applicationId": ref("Uuid"),
    "reservationId": ref("Uuid"),
}

LISTED = "vehicles.listed"
UPDATED = "vehicles.updated"
WITHDRAWN = "vehicles.withdrawn"
RELISTED = "vehicles.relisted"
RESERVED = "vehicles.reserved"
RELEASED = "vehicles.released"
SOLD = "vehicles.sold"
PHOTO_ADDED = "vehicles.photo_added"
FEED_IMPORTED = "vehicles.feed_imported"

EVENTS = (
    EventSpec(
        topic=LISTED,
        summary="A dealer's feed listed a new vehicle.",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj("The new vehicle.", dict(_VEHICLE)),
    ),
    EventSpec(
        topic=UPDATED,
        summary="A feed changed a vehicle's details or price (read it for the values).",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The vehicle and the fields that changed (API names).",
            {**_VEHICLE, "changed": {"type": "array", "items": string()}},
        ),
    ),
    EventSpec(
        topic=WITHDRAWN,
        summary="A vehicle left the catalogue (missing from its dealer's full feed).",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj("The vehicle.", dict(_VEHICLE)),
    ),
    EventSpec(
        topic=RELISTED,
        summary="A withdrawn vehicle came back in its dealer's feed.",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj("The vehicle.", dict(_VEHICLE)),
    ),
    EventSpec(
        topic=RESERVED,
        summary="A vehicle was held for a credit application (or its hold was extended).",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj("The hold.", {**_HOLD, "heldUntil": ref("DateTime")}),
    ),
    EventSpec(
        topic=RELEASED,
        summary="A vehicle's hold ended without a sale: released by the application, or lapsed.",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The hold that ended.",
            {**_HOLD, "lapsed": boolean("True when the hold's time ran out.")},
        ),
    ),
    EventSpec(
        topic=SOLD,
        summary="A reserved vehicle was sold through its credit application.",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj("The sale.", {**_HOLD, "soldAt": ref("DateTime")}),
    ),
    EventSpec(
        topic=PHOTO_ADDED,
        summary="A photo was added to a vehicle.",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "The photo.",
            {
                **_VEHICLE,
                "photoId": ref("Uuid"),
                "contentType": string(),
                "sizeBytes": integer(minimum=1),
                "sha256": string(),
            },
        ),
    ),
    EventSpec(
        topic=FEED_IMPORTED,
        summary="A dealer's feed file was imported (per-vehicle events follow it).",
        key="The dealer's global id.",
        audience=_AUDIENCE,
        payload=obj(
            "What the feed did.",
            {
                "importId": ref("Uuid"),
                "dealerId": ref("PartnerId"),
                "sha256": string(),
                "full": boolean(),
                "partial": boolean(),
                "rows": integer(minimum=0),
                "created": integer(minimum=0),
                "updated": integer(minimum=0),
                "unchanged": integer(minimum=0),
                "withdrawn": integer(minimum=0),
                "held": integer(minimum=0),
                "rejected": integer(minimum=0),
                "firstProblemLine": nullable(integer(minimum=1)),
            },
        ),
    ),
)


def key_of(vehicle_id: uuid.UUID) -> str:
    return wire.global_id("Vehicle", vehicle_id)


def vehicle_payload(
    *,
    vehicle_id: uuid.UUID,
    dealer_id: uuid.UUID,
    stock_id: str,
    status: str,
    price: int,
    currency: str,
    version: int,
) -> dict[str, Any]:
    return {
        "vehicleId": wire.global_id("Vehicle", vehicle_id),
        "dealerId": wire.global_id("Partner", dealer_id),
        "stockId": stock_id,
        "status": status,
        "price": wire.money(price, currency),
        "version": version,
    }


def of(vehicle: Vehicle) -> dict[str, Any]:
    return vehicle_payload(
        vehicle_id=vehicle.id,
        dealer_id=vehicle.dealer_id,
        stock_id=vehicle.stock_id,
        status=vehicle.status,
        price=vehicle.price,
        currency=vehicle.currency,
        version=vehicle.version,
    )

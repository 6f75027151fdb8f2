"""Per-request DataLoaders of the marketplace: vehicles by id (unchecked: callers apply
``domain.marketplace.scopes.may_see``) and photos by vehicle, one statement per batch."""

from __future__ import annotations

import uuid

from strawberry.dataloader import DataLoader

from app.db import read_session
from domain.marketplace import service
from domain.marketplace.models import Vehicle, VehiclePhoto


async def _vehicles(keys: list[uuid.UUID]) -> list[Vehicle | None]:
    async with read_session() as session:
        found = await service.get_many(session, list(dict.fromkeys(keys)))
    return [found.get(k) for k in keys]


async def _photos(keys: list[uuid.UUID]) -> list[list[VehiclePhoto]]:
    async with read_session() as session:
        found = await service.photos_of(session, list(dict.fromkeys(keys)))
    return [found.get(k, []) for k in keys]


class MarketplaceLoaders:
    def __init__(self) -> None:
        self.vehicle: DataLoader[uuid.UUID, Vehicle | None] = DataLoader(load_fn=_vehicles)
        self.photos: DataLoader[uuid.UUID, list[VehiclePhoto]] = DataLoader(load_fn=_photos)

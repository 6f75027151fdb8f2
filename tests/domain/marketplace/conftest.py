"""Fixtures of the marketplace domain tests: two dealers of their own (Chile), their
principals, feeds written as CSV, and a snapshot of the marketplace tables (to prove that
refused input wrote nothing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.marketplace import feeds
from domain.marketplace.models import (
    Vehicle,
    VehicleFeedImport,
    VehiclePhoto,
    VehicleReservation,
)
from domain.partners.models import Partner, PartnerKind
from domain.shared.audit import AuditRecord
from domain.shared.models import table_of
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import ROLE_SCOPES, Principal, Role

HEADER = "stock_id;marca;modelo;version;año;km;combustible;transmision;color;precio"


def principal(role: Role, partner: uuid.UUID | None = None, **changes: Any) -> Principal:
    return Principal(
        subject=f"test:{role.value}:{partner}",
        roles=frozenset({role}),
        scopes=ROLE_SCOPES[role],
        partner_id=partner,
        **changes,
    )


def csv_feed(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def row(
    stock: str,
    price: str = "9.990.000",
    *,
    year: str = "2021",
    km: str = "45.000",
    make: str = "Toyota",
    model: str = "Corolla",
    fuel: str = "Bencina",
) -> str:
    return f"{stock};{make};{model};XEI 2.0;{year};{km};{fuel};Automática;Gris;{price}"


@dataclass
class Dealers:
    a: uuid.UUID
    b: uuid.UUID
    staff_a: Principal
    staff_b: Principal


async def make_dealers() -> Dealers:
    async with transaction() as session:
        ids = []
        for code, name in (("AUTOS_NORTE", "Automotora Norte"), ("AUTOS_SUR", "Autos del Sur")):
            partner = Partner(code=f"T_{code}", name=name, country="CL", kind=PartnerKind.DEALER)
            session.add(partner)
            ids.append(partner.id)
    return Dealers(ids[0], ids[1], principal(Role.DEALER, ids[0]), principal(Role.DEALER, ids[1]))


@pytest.fixture
async def dealers(db: Any) -> Dealers:
    return await make_dealers()


async def load(
    dealers: Dealers,
    content: bytes,
    *,
    who: Principal | None = None,
    dealer: uuid.UUID | None = None,
    **kwargs: Any,
) -> feeds.FeedResult:
    async with transaction() as session:
        return await feeds.import_feed(
            session,
            principal=who or dealers.staff_a,
            dealer_id=dealer or dealers.a,
            content=content,
            file_name=kwargs.pop("file_name", "stock.csv"),
            **kwargs,
        )


async def vehicles_of(dealer: uuid.UUID) -> dict[str, Vehicle]:
    async with read_session() as session:
        rows = (
            await session.execute(sa.select(Vehicle).where(Vehicle.dealer_id == dealer))
        ).scalars()
        return {v.stock_id: v for v in rows}


async def snapshot() -> dict[str, int]:
    out: dict[str, int] = {}
    async with read_session() as session:
        for model in (
            Vehicle,
            VehiclePhoto,
            VehicleReservation,
            VehicleFeedImport,
            AuditRecord,
            OutboxEvent,
        ):
            table = table_of(model)
            out[table.name] = (
                await session.scalar(sa.select(sa.func.count()).select_from(table))
            ) or 0
    return out


async def topics_since(count: int) -> list[str]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(OutboxEvent.topic)
            .order_by(OutboxEvent.created_at, OutboxEvent.id)
            .offset(count)
        )
        return [t for (t,) in rows.all()]

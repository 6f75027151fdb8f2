"""Fixtures of the CRM domain tests: the demo lender (AutoCrédito Club, Chile), a second
lender to prove partners do not see each other's records, principals, and a snapshot of
every CRM table (to prove that refused input wrote nothing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.db import read_session, transaction
from domain.crm.models import (
    CrmAdvisor,
    CrmLead,
    CrmOpportunity,
    CrmSettings,
    CrmTask,
    CrmTimelineItem,
)
from domain.partners import service as partners
from domain.partners.models import Partner, PartnerKind
from domain.shared.models import table_of
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role

CRM_TABLES = (CrmSettings, CrmAdvisor, CrmLead, CrmOpportunity, CrmTask, CrmTimelineItem)


def principal(role: Role, partner: uuid.UUID | None, subject: str | None = None) -> Principal:
    return Principal(
        subject=subject or f"test:{role.value}:{partner}",
        roles=frozenset({role}),
        scopes=ROLE_SCOPES[role],
        partner_id=partner,
        display_name=f"Test {role.value}",
    )


@dataclass
class Lenders:
    lender: uuid.UUID
    other: uuid.UUID

    def supervisor(self, partner: uuid.UUID | None = None) -> Principal:
        return principal(Role.SUPERVISOR, partner or self.lender, "sup-1")

    def advisor(self, subject: str, partner: uuid.UUID | None = None) -> Principal:
        return principal(Role.ADVISOR, partner or self.lender, subject)


async def lenders() -> Lenders:
    async with transaction() as session:
        lender = (
            await session.execute(sa.select(Partner).where(Partner.code == "AUTOCREDITO"))
        ).scalar_one()
        other = (
            await session.execute(sa.select(Partner).where(Partner.code == "OTRO_LENDER"))
        ).scalar_one_or_none()
        if other is None:
            other = await partners.create_partner(
                session,
                principal=SYSTEM,
                code="OTRO_LENDER",
                name="Otro Prestamista",
                country="CL",
                kind=PartnerKind.LENDER,
            )
        return Lenders(lender=lender.id, other=other.id)


async def snapshot() -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with read_session() as session:
        for model in CRM_TABLES:
            table = table_of(model)
            rows = (await session.execute(sa.select(table))).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
        out["events"] = (
            await session.execute(
                sa.select(sa.func.count()).where(OutboxEvent.topic.like("crm.%"))  # type: ignore[attr-defined]
            )
        ).scalar_one()
    return out


async def roster(
    world: Lenders, count: int = 3, *, partner: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """``count`` advisors on shift (adv-1 …) under one supervisor advisor (sup-1, away)."""
    from domain.crm import advisors

    partner_id = partner or world.lender
    async with transaction() as session:
        boss = await advisors.add_advisor(
            session,
            principal=SYSTEM,
            partner_id=partner_id,
            subject="sup-1",
            name="Carla Jefa",
            on_shift=False,
        )
        ids = []
        for i in range(count):
            advisor = await advisors.add_advisor(
                session,
                principal=SYSTEM,
                partner_id=partner_id,
                subject=f"adv-{i + 1}",
                name=f"Asesor {'ABCDEFGHIJ'[i]}",
                supervisor_id=boss.id,
            )
            ids.append(advisor.id)
    return ids


def lead_input(world: Lenders, **changes: Any) -> Any:
    from domain.crm.leads import LeadInput

    values: dict[str, Any] = {
        "lender_id": world.lender,
        "name": "Ana Rojas",
        "email": "ana.rojas@example.cl",
        "phone": "9 8765 4321",
        "product": "VEHICLE_CREDIT",
        "amount": "12000000",
        "currency": "CLP",
        "vehicle_description": "Toyota Yaris 2022",
        "simulation": {
            "inputs": {"price": "15000000", "termMonths": 36},
            "result": {"installment": "412345"},
        },
        "consent": True,
        "consent_text_version": "2026-11",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "verano",
        "referrer": "https://www.google.com/",
    }
    values.update(changes)
    return LeadInput(**values)

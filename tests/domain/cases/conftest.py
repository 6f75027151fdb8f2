"""Fixtures of the cases tests: the network's partners, principals of each kind, a case
factory, homologation tables, and a fingerprint of every table a case mutation writes (to
prove that a refused call wrote nothing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.cases import homologation, service
from domain.cases.models import (
    Case,
    CaseComment,
    CaseEvent,
    CasePartnerStatus,
    CaseReferenceCounter,
    InboundReportReview,
    StatusMapping,
)
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared.audit import AuditRecord
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role

ADMIN = SYSTEM


def principal(
    role: Role, partner: uuid.UUID | None = None, name: str | None = None, **changes: Any
) -> Principal:
    return Principal(
        subject=f"test:{name or role.value}@{partner}",
        roles=frozenset({role}),
        scopes=ROLE_SCOPES[role],
        partner_id=partner,
        kind="client" if role is Role.PARTNER_SYSTEM else "user",
        **changes,
    )


@dataclass
class Network:
    ids: dict[str, uuid.UUID]
    customers: list[uuid.UUID]

    def agent(self, code: str) -> Principal:
        return principal(Role.AGENT, self.ids[code])

    def supervisor(self, code: str) -> Principal:
        return principal(Role.SUPERVISOR, self.ids[code])

    def system(self, code: str) -> Principal:
        return principal(Role.PARTNER_SYSTEM, self.ids[code])

    def viewer(self, code: str | None = None) -> Principal:
        return principal(Role.NETWORK_VIEWER, self.ids[code] if code else None)


@pytest.fixture
async def net(db) -> Network:
    async with read_session() as session:
        rows = (await session.execute(sa.select(Partner.code, Partner.id))).all()  # type: ignore[call-overload]
        customers = list(
            (await session.execute(sa.select(Customer.id).order_by(Customer.id).limit(5)))  # type: ignore[call-overload]
            .scalars()
            .all()
        )
    return Network(ids={code: key for code, key in rows}, customers=customers)


@pytest.fixture
async def mappings(net: Network) -> None:
    """The default vocabulary for every partner."""
    async with transaction() as session:
        for partner_id in net.ids.values():
            await homologation.ensure_default_mapping(
                session, principal=ADMIN, partner_id=partner_id
            )


async def open_case(
    net: Network,
    by: Principal | None = None,
    *,
    typology: str = "DEVOLUCION_INTERESES",
    amount: Money | None = Money(150_000, "CLP"),
    last4: str | None = "4321",
    **kw: Any,
) -> Case:
    async with transaction() as session:
        return await service.open_case(
            session,
            principal=by or net.agent("BANCO_ANDINO"),
            customer_id=kw.pop("customer_id", net.customers[0]),
            typology_code=typology,
            channel=kw.pop("channel", "BRANCH"),
            description=kw.pop(
                "description", "Cliente pagó a tiempo y se le cobraron intereses de mora."
            ),
            card_last4=last4,
            amount_in_dispute=amount,
            **kw,
        )


async def load(case_id: uuid.UUID) -> Case:
    async with read_session() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        return case


async def timeline(case_id: uuid.UUID) -> list[CaseEvent]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)  # type: ignore[arg-type]
        )
        return list(rows.scalars().all())


async def events(topic: str | None = None) -> list[OutboxEvent]:
    async with read_session() as session:
        stmt = sa.select(OutboxEvent).order_by(OutboxEvent.created_at, OutboxEvent.id)  # type: ignore[arg-type]
        if topic:
            stmt = stmt.where(OutboxEvent.topic == topic)  # type: ignore[arg-type]
        return list((await session.execute(stmt)).scalars().all())


async def audits(action: str) -> list[AuditRecord]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)  # type: ignore[arg-type]
        )
        return list(rows.scalars().all())


_WRITTEN = (
    Case,
    CaseEvent,
    CaseComment,
    CasePartnerStatus,
    CaseReferenceCounter,
    InboundReportReview,
    StatusMapping,
    AuditRecord,
    OutboxEvent,
)


async def fingerprint() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a case service writes."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with read_session() as session:
        for model in _WRITTEN:
            table = table_of(model)
            rows = (await session.execute(sa.select(table))).all()
            out[table.name] = sorted(tuple(map(repr, r)) for r in rows)
    return out


def audience(event: OutboxEvent) -> set[uuid.UUID]:
    return {uuid.UUID(p) for p in event.audience.split(",") if p}


async def run(fn: Any, by: Principal, **kwargs: Any) -> Any:
    async with transaction() as session:
        return await fn(session, principal=by, **kwargs)


async def refused(error: type[Exception], fn: Any, by: Principal, **kwargs: Any) -> Exception:
    """The call fails with ``error`` and leaves every case table as it was."""
    before = await fingerprint()
    with pytest.raises(error) as caught:
        await run(fn, by, **kwargs)
    assert await fingerprint() == before
    return caught.value


async def derived_to(net: Network, case: Case, code: str) -> Case:
    """Hand ``case`` from its handler to ``code`` (derive + accept)."""
    handler = next(k for k, v in net.ids.items() if v == case.handling_partner_id)
    await run(
        service.derive_case,
        net.agent(handler),
        case_id=case.id,
        expected_version=case.version,
        to_partner_id=net.ids[code],
        reason="corresponde al emisor",
    )
    return await run(
        service.accept_derivation,
        net.agent(code),
        case_id=case.id,
        expected_version=case.version + 1,
    )

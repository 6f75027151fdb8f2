"""Helpers shared by the case synchronization tests (workers and API)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from app.db import read_session, transaction
from app.settings import get_settings
from domain.cases import connectors, homologation
from domain.cases.models import CasePartnerStatus, PartnerConnector
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared.netguard import AddressPolicy
from domain.shared.principal import SYSTEM
from tests.domain.cases.conftest import Network
from tests.workers.fake_platform import FakePlatform
from workers.registry import REGISTRY, RetryPolicy

SECRETS = {
    "BANCO_ANDINO": "andino-signing-secret-0123456789abcdef",
    "RETAIL_SUR": "retail-sur-signing-secret-0123456789abcd",
    "TARJETA_PLATA": "tarjeta-plata-signing-secret-0123456789ab",
}


async def load_network() -> Network:
    async with read_session() as session:
        rows = (await session.execute(sa.select(Partner.code, Partner.id))).all()  # type: ignore[call-overload]
        customers = list(
            (await session.execute(sa.select(Customer.id).order_by(Customer.id).limit(5)))  # type: ignore[call-overload]
            .scalars()
            .all()
        )
    return Network(ids={code: key for code, key in rows}, customers=customers)


async def default_mappings(net: Network) -> None:
    async with transaction() as session:
        for partner_id in net.ids.values():
            await homologation.ensure_default_mapping(
                session, principal=SYSTEM, partner_id=partner_id
            )


async def connect(
    net: Network,
    code: str,
    platform: FakePlatform,
    *,
    timeout: int = 2,
    **changes: Any,
) -> connectors.ConnectorView:
    """Point ``code``'s connector at ``platform`` (creating or changing it)."""
    partner_id = net.ids[code]
    async with transaction() as session:
        current = await connectors.get_connector(session, principal=SYSTEM, partner_id=partner_id)
        return await connectors.upsert_connector(
            session,
            principal=SYSTEM,
            partner_id=partner_id,
            changes=connectors.ConnectorChanges(
                endpoint_url=platform.url,
                signing_secret=platform.secret,
                timeout_seconds=timeout,
                **changes,
            ),
            expected_version=current.version if current is not None else None,
            allow_insecure_http=True,
            address_policy=AddressPolicy.allowing(get_settings().connector_allowed_networks),
        )


async def status_row(case_id: uuid.UUID, partner_id: uuid.UUID) -> CasePartnerStatus | None:
    async with read_session() as session:
        return await session.get(CasePartnerStatus, (case_id, partner_id))


async def synced_version(case_id: uuid.UUID, partner_id: uuid.UUID) -> int | None:
    row = await status_row(case_id, partner_id)
    return row.last_synced_version if row is not None else None


async def connector_rows() -> list[PartnerConnector]:
    async with read_session() as session:
        return list((await session.execute(sa.select(PartnerConnector))).scalars().all())


@dataclasses.dataclass
class FastSync:
    """Short retry backoffs for the push job, and a breaker that stays out of the way
    (tests that want it set ``breaker.threshold``)."""

    module: Any

    @property
    def breaker(self) -> Any:
        return self.module.BREAKER


def fast_sync_policy(max_retries: int = 60) -> Iterator[FastSync]:
    from workers.actors import case_sync

    saved = REGISTRY.jobs[case_sync.PUSH_JOB]
    REGISTRY.jobs[case_sync.PUSH_JOB] = dataclasses.replace(
        saved,
        retry=RetryPolicy(
            max_retries=max_retries, min_backoff_ms=100, max_backoff_ms=400, time_limit_ms=30_000
        ),
    )
    breaker = case_sync.BREAKER
    saved_breaker = (breaker.threshold, breaker.cooldown)
    breaker.reset()
    breaker.threshold, breaker.cooldown = 10_000, 0.0
    try:
        yield FastSync(case_sync)
    finally:
        REGISTRY.jobs[case_sync.PUSH_JOB] = saved
        breaker.reset()
        breaker.threshold, breaker.cooldown = saved_breaker

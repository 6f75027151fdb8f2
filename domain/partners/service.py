"""Partners: the members of the network."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.partners.models import COUNTRIES, Partner, PartnerKind
from domain.shared import audit
from domain.shared.errors import Forbidden, Problems, ValidationFailed
from domain.shared.principal import Principal, Scope

_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")


def ensure_can_read(principal: Principal) -> None:
    if not principal.has_scope(Scope.PARTNERS_READ):
        raise Forbidden("you cannot read partners")


def snapshot(partner: Partner) -> dict[str, object]:
    return {
        "code": partner.code,
        "name": partner.name,
        "country": partner.country,
        "kind": partner.kind,
        "active": partner.active,
        "tenant_id": partner.tenant_id,
        "version": partner.version,
    }


async def list_partners(
    session: AsyncSession, *, principal: Principal, active_only: bool = False
) -> list[Partner]:
    ensure_can_read(principal)
    stmt = sa.select(Partner).order_by(col(Partner.code))
    if active_only:
        stmt = stmt.where(col(Partner.active).is_(True))
    return list((await session.execute(stmt)).scalars().all())


async def get_many(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Partner]:
    """Partners by id, for loaders (visibility is checked by the caller's query)."""
    if not ids:
        return {}
    rows = await session.execute(sa.select(Partner).where(col(Partner.id).in_(ids)))
    return {p.id: p for p in rows.scalars().all()}


async def find_by_code(session: AsyncSession, code: str) -> Partner | None:
    rows = await session.execute(sa.select(Partner).where(col(Partner.code) == code))
    return rows.scalars().first()


async def find_by_tenant(session: AsyncSession, tenant_id: str) -> Partner | None:
    rows = await session.execute(sa.select(Partner).where(col(Partner.tenant_id) == tenant_id))
    return rows.scalars().first()


async def create_partner(
    session: AsyncSession,
    *,
    principal: Principal,
    code: str,
    name: str,
    country: str,
    kind: PartnerKind | str,
    tenant_id: str | None = None,
) -> Partner:
    if not principal.is_admin:
        raise Forbidden("only administrators can add partners")
    problems = Problems()
    code = (code or "").strip().upper()
    if not _CODE.match(code):
        problems.add("code", "use 2-32 capital letters, digits or underscores")
    name = (name or "").strip()
    if not name or len(name) > 200:
        problems.add("name", "a name of 1-200 characters is required")
    country = (country or "").strip().upper()
    if country not in COUNTRIES:
        problems.add("country", f"must be one of {', '.join(sorted(COUNTRIES))}")
    try:
        kind = PartnerKind(kind)
    except ValueError:
        problems.add("kind", f"must be one of {', '.join(k.value for k in PartnerKind)}")
    problems.raise_if_any()
    if await find_by_code(session, code):
        raise ValidationFailed.on("code", f"partner {code} already exists")
    if tenant_id and await find_by_tenant(session, tenant_id):
        raise ValidationFailed.on("tenantId", "this tenant already belongs to a partner")
    partner = Partner(
        code=code, name=name, country=country, kind=PartnerKind(kind), tenant_id=tenant_id or None
    )
    session.add(partner)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="partners.create",
        entity_type="Partner",
        entity_id=partner.id,
        after=snapshot(partner),
    )
    return partner


async def list_all(session: AsyncSession) -> list[Partner]:
    """Every partner, for the authentication directory (no principal yet at that point)."""
    return list((await session.execute(sa.select(Partner))).scalars().all())

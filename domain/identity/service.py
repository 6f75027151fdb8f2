"""Directory users and machine clients."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.identity import secrets
from domain.identity.models import OAuthClient, User
from domain.partners.models import Partner
from domain.shared import audit, pan
from domain.shared.errors import Forbidden, NotFound, Problems
from domain.shared.principal import (
    PARTNER_ROLES,
    Principal,
    Role,
    Scope,
    allowed_scopes,
    parse_roles,
)
from domain.shared.time import utcnow


@dataclass(frozen=True)
class IssuedClient:
    client: OAuthClient
    secret: str  # shown once; only its hash is stored


def _check_roles(problems: Problems, roles: list[str], partner: Partner | None) -> list[Role]:
    parsed = parse_roles(roles)
    unknown = sorted(set(roles) - {r.value for r in parsed})
    if unknown:
        problems.add("roles", f"unknown roles: {', '.join(unknown)}")
    if not roles:
        problems.add("roles", "at least one role is required")
    if partner is None and parsed & PARTNER_ROLES:
        problems.add("partner", "these roles act for a partner; name one")
    return sorted(parsed)


async def _partner(
    session: AsyncSession, problems: Problems, partner_id: uuid.UUID | None
) -> Partner | None:
    if partner_id is None:
        return None
    partner = await session.get(Partner, partner_id)
    if partner is None or not partner.active:
        problems.add("partnerId", "is not an active partner")
    return partner


async def create_client(
    session: AsyncSession,
    *,
    principal: Principal,
    name: str,
    partner_id: uuid.UUID | None,
    roles: list[str],
    scopes: list[str] | None = None,
) -> IssuedClient:
    if not (principal.is_admin or principal.has_scope(Scope.CLIENTS_MANAGE)):
        raise Forbidden("only administrators can register clients")
    problems = Problems()
    name = (name or "").strip()
    if not name or len(name) > 200:
        problems.add("name", "a name of 1-200 characters is required")
    elif pan.contains_pan(name):
        problems.add("name", pan.MESSAGE)
    partner = await _partner(session, problems, partner_id)
    parsed = _check_roles(problems, roles, partner)
    allowed = allowed_scopes(frozenset(parsed))
    if scopes is not None:
        bad = sorted(set(scopes) - {s.value for s in allowed})
        if bad:
            problems.add("scopes", f"not allowed for these roles: {', '.join(bad)}")
    problems.raise_if_any()
    secret = secrets.new_secret()
    client = OAuthClient(
        client_id=secrets.new_client_id(partner.code if partner else "trama"),
        name=name,
        secret_hash=await asyncio.to_thread(secrets.hash_secret, secret),
        partner_id=partner.id if partner else None,
        roles=[r.value for r in parsed],
        scopes=sorted(scopes if scopes is not None else [s.value for s in allowed]),
    )
    session.add(client)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="clients.create",
        entity_type="OAuthClient",
        entity_id=client.id,
        after={
            "client_id": client.client_id,
            "name": client.name,
            "partner_id": client.partner_id,
            "roles": client.roles,
            "scopes": client.scopes,
        },
    )
    return IssuedClient(client=client, secret=secret)


async def authenticate_client(
    session: AsyncSession, *, client_id: str, secret: str
) -> OAuthClient | None:
    """The active client with this id and secret, or ``None``; takes as long either way."""
    rows = await session.execute(
        sa.select(OAuthClient).where(col(OAuthClient.client_id) == client_id[:64])
    )
    client = rows.scalars().first()
    stored = client.secret_hash if client else secrets.dummy_hash()
    ok = await asyncio.to_thread(secrets.verify_secret, secret, stored)
    if not ok or client is None or not client.active:
        return None
    client.last_used_at = utcnow()
    await session.flush()
    return client


async def set_client_active(
    session: AsyncSession, *, principal: Principal, client_id: str, active: bool
) -> OAuthClient:
    if not (principal.is_admin or principal.has_scope(Scope.CLIENTS_MANAGE)):
        raise Forbidden("only administrators can manage clients")
    rows = await session.execute(
        sa.select(OAuthClient).where(col(OAuthClient.client_id) == client_id)
    )
    client = rows.scalars().first()
    if client is None:
        raise NotFound("OAuthClient", client_id)
    if client.active != active:
        client.active = active
        await session.flush()
        audit.record(
            session,
            principal=principal,
            action="clients.enable" if active else "clients.disable",
            entity_type="OAuthClient",
            entity_id=client.id,
            before={"active": not active},
            after={"active": active},
        )
    return client


async def create_user(
    session: AsyncSession,
    *,
    principal: Principal,
    subject: str,
    display_name: str,
    email: str,
    partner_id: uuid.UUID | None,
    roles: list[str],
) -> User:
    if not principal.is_admin:
        raise Forbidden("only administrators can add users")
    problems = Problems()
    partner = await _partner(session, problems, partner_id)
    parsed = _check_roles(problems, roles, partner)
    if not subject.strip():
        problems.add("subject", "is required")
    problems.raise_if_any()
    user = User(
        subject=subject.strip(),
        display_name=display_name.strip(),
        email=email.strip(),
        partner_id=partner.id if partner else None,
        roles=[r.value for r in parsed],
    )
    session.add(user)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="users.create",
        entity_type="User",
        entity_id=user.id,
        after={"subject": user.subject, "roles": user.roles, "partner_id": user.partner_id},
    )
    return user


async def find_user(
    session: AsyncSession, *, partner_id: uuid.UUID | None, role: Role
) -> User | None:
    """The first active directory user of a partner holding ``role`` (for dev tokens)."""
    stmt = sa.select(User).where(col(User.active).is_(True))
    stmt = stmt.where(
        col(User.partner_id).is_(None) if partner_id is None else col(User.partner_id) == partner_id
    ).order_by(col(User.subject))
    for user in (await session.execute(stmt)).scalars().all():
        if role.value in user.roles:
            return user
    return None


async def find_user_by_subject(session: AsyncSession, subject: str) -> User | None:
    rows = await session.execute(sa.select(User).where(col(User.subject) == subject))
    return rows.scalars().first()


async def clients_of(session: AsyncSession, *, partner_id: uuid.UUID) -> list[OAuthClient]:
    rows = await session.execute(
        sa.select(OAuthClient).where(col(OAuthClient.partner_id) == partner_id)
    )
    return list(rows.scalars().all())

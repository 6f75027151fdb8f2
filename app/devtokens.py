"""Development tokens signed by Trama's own key (``trama token``, GraphiQL's demo header)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay

from app.auth.tokens import TokenService
from app.db import read_session
from domain.customers import service as customers
from domain.identity import service as identity
from domain.investors import service as investors
from domain.partners import service as partners
from domain.shared import national_ids
from domain.shared.errors import ValidationFailed
from domain.shared.ids import parse_uuid
from domain.shared.principal import PARTNER_ROLES, SYSTEM, Role, allowed_scopes


async def find_customer_id(session: AsyncSession, text: str) -> uuid.UUID:
    """A customer by id, or by national ID (``CL_RUT:12.345.678-5`` or just the number,
    tried against every kind of ID)."""
    key = parse_uuid(text.strip())
    if key is not None:
        if not await customers.get_many(session, [key]):
            raise ValidationFailed.on("customer", f"no customer with id {key}")
        return key
    kind, _, number = text.strip().rpartition(":")
    kinds = [kind.upper()] if kind else [t.value for t in national_ids.NationalIdType]
    for id_type in kinds:
        try:
            found = await customers.find_by_national_id(
                session, principal=SYSTEM, id_type=id_type, number=number
            )
        except ValidationFailed:
            continue
        if found is not None:
            return found.id
    raise ValidationFailed.on("customer", f"no customer with id or national ID {text!r}")


def _investor_key(text: str) -> uuid.UUID:
    """The UUID of an investor given as the API shows it (its Relay global id, base64 of
    ``Investor:<uuid>``) or as the bare UUID."""
    key = parse_uuid(text)
    if key is not None:
        return key
    problem = f"{text!r} is not an investor id (the id the API shows, or a UUID)"
    try:
        gid = relay.GlobalID.from_id(text)
    except (ValueError, TypeError, UnicodeError):
        raise ValidationFailed.on("investor", problem) from None
    if gid.type_name != "Investor":
        raise ValidationFailed.on(
            "investor", f"{text!r} is the id of a {gid.type_name[:40]}, not of an Investor"
        )
    key = parse_uuid(gid.node_id)
    if key is None:
        raise ValidationFailed.on("investor", problem)
    return key


async def find_investor_id(session: AsyncSession, role: Role, text: str) -> uuid.UUID:
    """The investor an ``investor`` token acts as (its ``investor_id`` claim), by the id
    the API shows or its UUID."""
    if role is not Role.INVESTOR:
        raise ValidationFailed.on("investor", "only an investor token names an investor")
    key = _investor_key(text.strip())
    if not await investors.get_many(session, [key]):
        raise ValidationFailed.on("investor", f"no investor with id {key}")
    return key


async def dev_token(
    tokens: TokenService,
    *,
    role: str,
    partner: str | None = None,
    subject: str | None = None,
    ttl: int | None = None,
    customer: str | None = None,
    investor: str | None = None,
) -> str:
    """A token for ``role``; a ``customer`` token names its customer (id or national ID), an
    ``investor`` token may name its investor (id)."""
    limit = tokens.settings.max_token_lifetime
    if ttl is not None and not 1 <= ttl <= limit:
        raise ValidationFailed.on(
            "ttl",
            f"give 1 to {limit} seconds: longer tokens are refused (TRAMA_MAX_TOKEN_LIFETIME)",
        )
    try:
        parsed = Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ValidationFailed.on("role", f"unknown role {role!r}; use one of {known}") from None
    async with read_session() as session:
        partner_model = await partners.find_by_code(session, partner.upper()) if partner else None
        if partner and partner_model is None:
            raise ValidationFailed.on("partner", f"no partner with code {partner!r}")
        if partner_model is None and parsed in PARTNER_ROLES:
            raise ValidationFailed.on("partner", f"role {role} acts for a partner; name one")
        customer_id = None
        if parsed is Role.CUSTOMER:
            if not customer:
                raise ValidationFailed.on(
                    "customer", "role customer acts for a customer; name one with --customer"
                )
            customer_id = await find_customer_id(session, customer)
            subject = subject or f"customer:{customer_id}"
        elif customer:
            raise ValidationFailed.on("customer", "only a customer token names a customer")
        investor_id = None
        if investor:
            investor_id = await find_investor_id(session, parsed, investor)
            subject = subject or f"investor:{investor_id}"
        user = None
        if subject is None:
            user = await identity.find_user(
                session, partner_id=partner_model.id if partner_model else None, role=parsed
            )
    name = user.display_name if user else None
    subject = subject or (user.subject if user else f"dev:{role}@{partner or 'network'}")
    token, _ = tokens.issue(
        subject=subject,
        roles=[parsed.value],
        scopes=sorted(s.value for s in allowed_scopes(frozenset({parsed}))),
        partner=partner_model.code if partner_model else None,
        name=name,
        customer_id=str(customer_id) if customer_id else None,
        investor_id=str(investor_id) if investor_id else None,
        ttl=ttl,
    )
    return token


async def demo_agent_token(tokens: TokenService) -> str | None:
    """A token for the first seeded agent, or None before the demo data exists."""
    async with read_session() as session:
        for partner in await partners.list_all(session):
            user = await identity.find_user(session, partner_id=partner.id, role=Role.AGENT)
            if user is not None and partner.active:
                break
        else:
            return None
    return await dev_token(
        tokens, role=Role.AGENT.value, partner=partner.code, subject=user.subject
    )

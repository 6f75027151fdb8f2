"""Development tokens signed by Trama's own key (``trama token``, GraphiQL's demo header)."""

from __future__ import annotations

from app.auth.tokens import TokenService
from app.db import read_session
from domain.identity import service as identity
from domain.partners import service as partners
from domain.shared.errors import ValidationFailed
from domain.shared.principal import PARTNER_ROLES, Role, allowed_scopes


async def dev_token(
    tokens: TokenService,
    *,
    role: str,
    partner: str | None = None,
    subject: str | None = None,
    ttl: int | None = None,
) -> str:
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

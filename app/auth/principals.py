"""From verified claims to a :class:`Principal`, resolving the partner it acts for."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from app.auth.tokens import TokenError, TokenService
from app.db import read_session
from app.settings import Settings
from domain.partners import service as partners
from domain.shared.ids import parse_uuid
from domain.shared.principal import (
    PARTNER_ROLES,
    Principal,
    Role,
    effective_scopes,
    parse_roles,
)


@dataclass(frozen=True)
class _PartnerRef:
    id: uuid.UUID
    code: str
    active: bool


class PartnerDirectory:
    """A small cache of partner codes and tenant ids (the table is tiny and rarely changes)."""

    def __init__(self, ttl: float = 60.0, miss_interval: float = 5.0) -> None:
        self.ttl = ttl
        self.miss_interval = miss_interval
        self._by_code: dict[str, _PartnerRef] = {}
        self._by_tenant: dict[str, _PartnerRef] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _load(self) -> None:
        async with read_session() as session:
            rows = await partners.list_all(session)
        self._by_code = {p.code: _PartnerRef(p.id, p.code, p.active) for p in rows}
        self._by_tenant = {
            p.tenant_id: _PartnerRef(p.id, p.code, p.active) for p in rows if p.tenant_id
        }
        self._loaded_at = time.monotonic()

    async def _lookup(self, table: str, key: str) -> _PartnerRef | None:
        age = time.monotonic() - self._loaded_at
        found = getattr(self, table).get(key)
        if found is not None and age < self.ttl:
            return found
        if age >= self.miss_interval or age >= self.ttl:
            async with self._lock:
                if time.monotonic() - self._loaded_at >= self.miss_interval:
                    await self._load()
        return getattr(self, table).get(key)

    async def by_code(self, code: str) -> _PartnerRef | None:
        return await self._lookup("_by_code", code)

    async def by_tenant(self, tenant: str) -> _PartnerRef | None:
        return await self._lookup("_by_tenant", tenant)

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")


class Authenticator:
    def __init__(
        self, settings: Settings, tokens: TokenService, directory: PartnerDirectory | None = None
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.partners = directory or PartnerDirectory()
        self._issuer_partner = {
            i.issuer.rstrip("/"): i.partner for i in settings.trusted_issuers if i.partner
        }

    async def authenticate(self, authorization: str | None) -> Principal | None:
        """``None`` without credentials; raises :class:`TokenError` for bad ones."""
        if authorization is None or not authorization.strip():
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenError("use the Bearer scheme: 'Authorization: Bearer <token>'")
        claims, own = await self.tokens.validate(token.strip())
        return await self.principal_from_claims(claims, own=own)

    async def principal_from_claims(self, claims: dict[str, Any], *, own: bool) -> Principal:
        roles = parse_roles(claims.get("roles"))
        issuer = str(claims.get("iss", "")).rstrip("/")
        partner = None
        if own:
            # Only Trama's own tokens may name a partner directly.
            code = claims.get("partner")
            if isinstance(code, str):
                partner = await self.partners.by_code(code)
                if partner is None:
                    raise TokenError(f"the token's partner {code!r} does not exist")
        else:
            code = self._issuer_partner.get(issuer)
            if code:
                partner = await self.partners.by_code(code)
            elif isinstance(claims.get("tid"), str):
                partner = await self.partners.by_tenant(claims["tid"])
        if partner is not None and not partner.active:
            raise TokenError(f"partner {partner.code} is not active")
        if partner is None and roles & PARTNER_ROLES:
            raise TokenError("the token's roles act for a partner, but it names none")
        customer_id = None
        if Role.CUSTOMER in roles:
            customer_id = parse_uuid(str(claims.get("customer_id") or ""))
            if customer_id is None:
                raise TokenError("a customer token names its customer in a 'customer_id' claim")
        subject = claims.get("oid") or claims.get("sub")
        is_client = claims.get("idtyp") == "app" or (
            "client_id" in claims and claims.get("client_id") == claims.get("sub")
        )
        return Principal(
            subject=str(subject),
            roles=roles,
            scopes=effective_scopes(roles, claims.get("scp")),
            partner_id=partner.id if partner else None,
            partner_code=partner.code if partner else None,
            issuer=issuer,
            client_id=str(claims.get("client_id") or claims.get("azp") or "") or None,
            kind="client" if is_client else "user",
            display_name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            customer_id=customer_id,
            claims=claims,
        )

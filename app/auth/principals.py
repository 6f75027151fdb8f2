"""From verified claims to a :class:`Principal`, resolving the partner it acts for.

Trama's own tokens name their partner (``partner``) and roles directly. An external
issuer's (:mod:`app.auth.issuers`) act for its fixed ``partner``, or for the partner its
``tenants`` map gives the token's ``tid``, or the partner whose ``tenant_id`` it is; its app
roles and delegated scopes go through its ``app_roles`` and ``scopes`` maps. Entra's v1 and
v2 claims are both read: ``appid``/``azp`` (the client), ``upn``/``preferred_username`` and
``name`` (for display only, never for a decision), ``oid`` (the subject).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from app.auth.issuers import ALL_SCOPES, TrustedIssuer
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

    async def authenticate(self, authorization: str | None) -> Principal | None:
        """``None`` without credentials; raises :class:`TokenError` for bad ones."""
        if authorization is None or not authorization.strip():
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenError("use the Bearer scheme: 'Authorization: Bearer <token>'")
        verified = await self.tokens.verify(token.strip())
        return await self.principal_from_claims(
            verified.claims, own=verified.own, config=verified.issuer
        )

    async def _external_partner(
        self, claims: dict[str, Any], config: TrustedIssuer | None
    ) -> _PartnerRef | None:
        """The partner an external issuer's token acts for (see the module doc)."""
        if config is not None and config.partner:
            partner = await self.partners.by_code(config.partner)
            if partner is None:
                raise TokenError(f"the issuer's partner {config.partner!r} does not exist")
            return partner
        tid = claims.get("tid")
        tenant = tid.lower() if isinstance(tid, str) and tid else None
        if config is not None and tenant is not None:
            mapped = {k.lower(): v for k, v in config.tenants.items()}
            if tenant in mapped:
                code = mapped[tenant]
                if code is None:
                    return None  # a tenant of the network itself
                partner = await self.partners.by_code(code)
                if partner is None:
                    raise TokenError(f"the tenant's partner {code!r} does not exist")
                return partner
        partner = await self.partners.by_tenant(tid) if isinstance(tid, str) and tid else None
        if partner is None and config is not None and config.restricts_tenants:
            raise TokenError(
                f"the token's tenant (tid {str(tid)[:64]!r}) is not a member of the Trama "
                "network: its users cannot sign in here"
            )
        return partner

    @staticmethod
    def _roles(claims: dict[str, Any], config: TrustedIssuer | None) -> frozenset[Role]:
        raw = claims.get("roles")
        if config is None or not config.app_roles:
            return parse_roles(raw)
        values = raw.split() if isinstance(raw, str) else raw
        if not isinstance(values, list):
            return frozenset()
        # Only mapped app roles count; any other gives no role.
        return parse_roles([config.app_roles[v] for v in values if v in config.app_roles])

    @staticmethod
    def _requested_scopes(claims: dict[str, Any], config: TrustedIssuer | None) -> object:
        requested = claims.get("scp")
        if config is None or not config.scopes or requested is None:
            return requested
        names = requested.split() if isinstance(requested, str) else requested
        if not isinstance(names, list):
            return []
        mapped = {t for n in names if isinstance(n, str) for t in config.scopes.get(n, [])}
        return None if ALL_SCOPES in mapped else sorted(mapped)

    async def principal_from_claims(
        self, claims: dict[str, Any], *, own: bool, config: TrustedIssuer | None = None
    ) -> Principal:
        issuer = str(claims.get("iss", "")).rstrip("/")
        if not own and config is None:
            config = self.tokens.issuer_config(issuer)
        roles = self._roles(claims, None if own else config)
        partner = None
        if own:
            # Only Trama's own tokens may name a partner directly.
            code = claims.get("partner")
            if isinstance(code, str):
                partner = await self.partners.by_code(code)
                if partner is None:
                    raise TokenError(f"the token's partner {code!r} does not exist")
        else:
            partner = await self._external_partner(claims, config)
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
        client_id = claims.get("client_id") or claims.get("azp") or claims.get("appid")
        is_client = (
            claims.get("idtyp") == "app"
            or ("client_id" in claims and claims.get("client_id") == claims.get("sub"))
            # Entra's app-only tokens: no delegated scopes, the subject is the client's
            # service principal (a user's sub is pairwise and never its oid).
            or (
                not own
                and "scp" not in claims
                and bool(claims.get("azp") or claims.get("appid"))
                and claims.get("oid") is not None
                and claims.get("oid") == claims.get("sub")
            )
        )
        display = next(
            (
                claims[k]
                for k in ("name", "preferred_username", "upn", "unique_name")
                if isinstance(claims.get(k), str) and claims[k]
            ),
            None,
        )
        return Principal(
            subject=str(subject),
            roles=roles,
            scopes=effective_scopes(roles, self._requested_scopes(claims, None if own else config)),
            partner_id=partner.id if partner else None,
            partner_code=partner.code if partner else None,
            issuer=issuer,
            client_id=str(client_id or "") or None,
            kind="client" if is_client else "user",
            display_name=display,
            customer_id=customer_id,
            claims=claims,
        )

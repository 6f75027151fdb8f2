"""Bearer tokens: issuing Trama's own and validating any trusted issuer's.

Validation checks, in order: the header names an allowed asymmetric algorithm; ``iss`` is
Trama itself or one of a configured issuer's forms (a multi-tenant template such as
``https://login.microsoftonline.com/{tenantid}/v2.0`` matches any tenant); the signature
verifies with that issuer's JWKS (found through OpenID discovery or configured, fetched,
cached, refetched when an unknown ``kid`` shows up — key rotation — at most once per
interval); ``aud`` is one the issuer's tokens may carry; ``exp``, ``nbf`` and ``iat`` hold
within a bounded clock skew; the token does not live longer than TRAMA_MAX_TOKEN_LIFETIME;
a template's tenant is the token's ``tid``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from joserfc import errors as jose_errors
from joserfc import jwk, jwt

from app.auth.issuers import TrustedIssuer
from app.auth.keys import ALGORITHM, KeyStore
from app.auth.token_cache import CachedVerification, TokenCache, token_digest
from app.settings import Settings

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
MAX_TOKEN_BYTES = 16_384


class TokenError(Exception):
    """The token cannot be accepted; ``message`` is safe to show the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class _IssuerKeys:
    config: TrustedIssuer
    key_set: jwk.KeySet | None = None
    fetched_at: float = float("-inf")
    #: Configured, or read from the discovery document (then ``discovered_at``).
    jwks_uri: str | None = None
    discovered_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class Verified:
    """A token that passed every check: its claims, whether Trama issued it, and otherwise
    the configuration of the issuer that did."""

    claims: dict[str, Any]
    own: bool
    issuer: TrustedIssuer | None = None


def _unverified_part(token: str, index: int) -> dict[str, Any]:
    try:
        segment = token.split(".")[index]
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        data = orjson.loads(raw)
    except (IndexError, binascii.Error, orjson.JSONDecodeError, ValueError):
        raise TokenError("the token is malformed") from None
    if not isinstance(data, dict):
        raise TokenError("the token is malformed")
    return data


class TokenService:
    def __init__(
        self, settings: Settings, keys: KeyStore, http: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.issuer = settings.effective_issuer
        self.audience = settings.audience
        self._http = http
        self._trusted = [_IssuerKeys(i, jwks_uri=i.jwks_uri) for i in settings.trusted_issuers]
        #: Verified tokens by their hash until they expire (app/auth/token_cache.py).
        self.cache = TokenCache(settings.token_cache_size, clock=lambda: time.time())

    def _find(self, issuer: str) -> tuple[_IssuerKeys, str | None] | None:
        """The configured issuer ``issuer`` is a form of, and the tenant a template read."""
        for entry in self._trusted:
            matched, tenant = entry.config.match(issuer)
            if matched:
                return entry, tenant
        return None

    def issuer_config(self, issuer: str) -> TrustedIssuer | None:
        found = self._find(issuer.rstrip("/"))
        return found[0].config if found is not None else None

    # issuing ------------------------------------------------------------------------------
    def issue(
        self,
        *,
        subject: str,
        roles: list[str],
        scopes: list[str] | None = None,
        partner: str | None = None,
        name: str | None = None,
        client_id: str | None = None,
        customer_id: str | None = None,
        investor_id: str | None = None,
        ttl: int | None = None,
        now: int | None = None,
    ) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        issued_at = int(now if now is not None else time.time())
        lifetime = ttl if ttl is not None else self.settings.token_ttl
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "oid": subject,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + lifetime,
            "jti": str(uuid.uuid4()),
            "roles": list(roles),
        }
        if scopes is not None:
            claims["scp"] = " ".join(scopes)
        if partner:
            claims["partner"] = partner
        if name:
            claims["name"] = name
        if customer_id:
            claims["customer_id"] = customer_id
        if investor_id:
            claims["investor_id"] = investor_id
        if client_id:
            claims.update({"client_id": client_id, "azp": client_id, "idtyp": "app"})
        key = self.keys.signing_key
        token = jwt.encode(
            {"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[ALGORITHM]
        )
        return token, lifetime

    # validating ---------------------------------------------------------------------------
    async def validate(self, token: str) -> tuple[dict[str, Any], bool]:
        """The verified claims, and whether Trama issued the token."""
        verified = await self.verify(token)
        return verified.claims, verified.own

    async def verify(self, token: str) -> Verified:
        """Every check of the module doc, or :class:`TokenError` saying which failed."""
        if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
            raise TokenError("the token is malformed")
        digest = token_digest(token)
        cached = self.cache.get(digest)
        if cached is not None:
            hit = await self._from_cache(digest, cached)
            if hit is not None:
                return hit
        verified = await self._verify(token)
        self._remember(digest, token, verified)
        return verified

    async def _from_cache(self, digest: bytes, cached: CachedVerification) -> Verified | None:
        """A cached verification, unless its issuer's keys are due for a refetch that drops
        its key (then the full check runs and refuses it)."""
        if cached.own:
            return Verified(dict(cached.claims), True)
        entry = next((e for e in self._trusted if e.config.issuers[0] == cached.issuer_key), None)
        if entry is None:
            self.cache.discard(digest)
            return None
        if time.monotonic() - entry.fetched_at >= self.settings.jwks_cache_ttl:
            # The keys this token was checked with are old: look at the issuer's JWKS again
            # (a refetch drops the tokens of every key it no longer publishes).
            await self._keys_for(entry, cached.kid)
            if entry.key_set is None or not any(k.kid == cached.kid for k in entry.key_set.keys):
                self.cache.discard(digest)
                return None
        return Verified(dict(cached.claims), False, cached.issuer)

    def _remember(self, digest: bytes, token: str, verified: Verified) -> None:
        exp = verified.claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return
        kid = _unverified_part(token, 0).get("kid")
        self.cache.put(
            digest,
            CachedVerification(
                claims=dict(verified.claims),
                own=verified.own,
                issuer_key=None if verified.issuer is None else verified.issuer.issuers[0],
                issuer=verified.issuer,
                kid=kid if isinstance(kid, str) else None,
                expires_at=float(exp),
            ),
        )

    async def _verify(self, token: str) -> Verified:
        header = _unverified_part(token, 0)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenError(f"the token's algorithm {alg!r} is not accepted")
        raw_issuer = _unverified_part(token, 1).get("iss")
        if not isinstance(raw_issuer, str):
            raise TokenError("the token has no issuer")
        issuer = raw_issuer.rstrip("/")
        own = issuer == self.issuer
        found = None if own else self._find(issuer)
        if own:
            key_set = self.keys.key_set
            audiences = [self.audience]
        elif found is not None:
            entry = found[0]
            key_set = await self._keys_for(entry, header.get("kid"))
            audiences = entry.config.audiences or [self.audience]
        else:
            raise TokenError("the token's issuer is not trusted")
        try:
            decoded = jwt.decode(token, key_set, algorithms=list(ALLOWED_ALGORITHMS))
        except jose_errors.BadSignatureError:
            raise TokenError("the token's signature is not valid") from None
        except jose_errors.InvalidKeyIdError:
            raise TokenError("the token's signing key (kid) is not known") from None
        except (jose_errors.JoseError, ValueError) as exc:
            raise TokenError(f"the token cannot be verified ({exc.__class__.__name__})") from None
        claims = dict(decoded.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=self.settings.clock_skew,
            iss={"essential": True, "value": raw_issuer},
            aud={"essential": True, "values": audiences},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except jose_errors.ExpiredTokenError:
            raise TokenError("the token has expired") from None
        except jose_errors.MissingClaimError as exc:
            raise TokenError(f"the token lacks a required claim ({exc.description})") from None
        except jose_errors.InvalidClaimError as exc:
            raise TokenError(f"the token has an invalid claim ({exc.description})") from None
        except jose_errors.JoseError as exc:
            raise TokenError(f"the token is not valid ({exc.__class__.__name__})") from None
        self._check_lifetime(claims)
        if found is None:
            return Verified(claims, True)
        self._check_tenant(claims, found[1])
        return Verified(claims, False, found[0].config)

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        """A stolen token is worth as long as it lives: refuse long-lived ones."""
        limit = self.settings.max_token_lifetime
        exp, iat = claims["exp"], claims.get("iat")
        if isinstance(iat, int | float) and not isinstance(iat, bool):
            lifetime = exp - iat
            if lifetime > limit:
                raise TokenError(
                    f"the token lives {int(lifetime)} s (iat to exp), longer than the "
                    f"{limit} s this API accepts"
                )
            return
        remaining = exp - time.time()
        if remaining > limit + self.settings.clock_skew:
            raise TokenError(
                f"the token has no iat and stays valid {int(remaining)} s, longer than the "
                f"{limit} s this API accepts"
            )

    @staticmethod
    def _check_tenant(claims: dict[str, Any], iss_tenant: str | None) -> None:
        """A multi-tenant issuer's ``iss`` names the tenant: it must be the token's ``tid``."""
        if iss_tenant is None:
            return
        tid = claims.get("tid")
        if not isinstance(tid, str) or not tid:
            raise TokenError("the token lacks a required claim (tid)")
        if tid.lower() != iss_tenant.lower():
            raise TokenError("the token's issuer (iss) names another tenant than its tid")

    async def _keys_for(self, entry: _IssuerKeys, kid: object) -> jwk.KeySet:
        now = time.monotonic()
        fresh = entry.key_set is not None and now - entry.fetched_at < self.settings.jwks_cache_ttl
        known = entry.key_set is not None and any(k.kid == kid for k in entry.key_set.keys)
        if fresh and (known or kid is None):
            assert entry.key_set is not None
            return entry.key_set
        async with entry.lock:
            # Another request may have refetched while we waited; refetch at most once
            # per interval so forged kids cannot make us hammer the issuer.
            # That holds when nothing could be fetched yet, too (the issuer is down).
            recent = time.monotonic() - entry.fetched_at < self.settings.jwks_min_refresh_interval
            if not recent:
                await self._fetch(entry)
        if entry.key_set is None:
            raise TokenError("the token's issuer keys cannot be fetched right now")
        return entry.key_set

    async def _discover(self, client: httpx.AsyncClient, entry: _IssuerKeys) -> None:
        """Read ``jwks_uri`` from the issuer's OpenID configuration, which must name one of
        the configured issuer forms (a template stays a template there)."""
        assert entry.config.discovery_url is not None
        response = await client.get(entry.config.discovery_url)
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError("the discovery document is not a JSON object")
        named = str(data.get("issuer") or "").rstrip("/")
        if named not in entry.config.issuers:
            raise ValueError(f"the discovery document names issuer {named!r}, not ours")
        jwks_uri = data.get("jwks_uri")
        if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme not in ("https", "http"):
            raise ValueError("the discovery document has no jwks_uri")
        if self.settings.is_production and urlsplit(jwks_uri).scheme != "https":
            raise ValueError(f"the discovery document's jwks_uri {jwks_uri} is not https")
        entry.jwks_uri = jwks_uri
        entry.discovered_at = time.monotonic()

    async def _fetch(self, entry: _IssuerKeys) -> None:
        client = self._http or httpx.AsyncClient(timeout=5.0)
        try:
            stale = time.monotonic() - entry.discovered_at >= self.settings.jwks_cache_ttl
            if entry.config.jwks_uri is None and (entry.jwks_uri is None or stale):
                await self._discover(client, entry)
            assert entry.jwks_uri is not None
            response = await client.get(entry.jwks_uri)
            response.raise_for_status()
            data = response.json()
            keys = [k for k in data.get("keys", []) if k.get("use", "sig") == "sig"]
            before = {k.kid for k in entry.key_set.keys} if entry.key_set is not None else set()
            entry.key_set = jwk.KeySet.import_key_set({"keys": keys})
            entry.fetched_at = time.monotonic()
            removed: set[str | None] = set(before - {k.kid for k in entry.key_set.keys})
            if removed:
                # Tokens signed by a key the issuer withdrew are not served from the cache
                # (nor those without a kid, which any key may have signed).
                dropped = self.cache.forget_keys(entry.config.issuers[0], removed | {None})
                log.info(
                    "JWKS keys withdrawn",
                    extra={"issuer": entry.config.issuers[0], "cached_tokens_dropped": dropped},
                )
            log.info("fetched JWKS", extra={"issuer": entry.config.issuers[0], "keys": len(keys)})
        except (httpx.HTTPError, ValueError, jose_errors.JoseError) as exc:
            log.warning(
                "JWKS fetch failed", extra={"issuer": entry.config.issuers[0], "error": repr(exc)}
            )
            entry.fetched_at = time.monotonic()
        finally:
            if self._http is None:
                await client.aclose()

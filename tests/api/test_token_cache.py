"""Verified tokens are cached by their hash until they expire (app/auth/token_cache.py):
hits and misses, expiry, the LRU bound, and keys an issuer withdraws."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import joserfc._rfc7519.claims as joserfc_claims
import pytest
import sqlalchemy as sa
from joserfc import jwk, jwt

import app.auth.tokens as tokens_module
from app.auth.principals import Authenticator
from app.auth.token_cache import token_digest
from app.auth.tokens import TokenService
from app.db import transaction
from app.main import create_app
from app.runtime import Runtime, build_runtime
from app.settings import Settings, TrustedIssuer
from domain.partners.models import Partner

VIEWER = "{ viewer { subject roles partner { code } } }"
ISSUER = "https://login.example.com/11111111-2222-3333-4444-555555555555/v2.0"
AUDIENCE = "api://trama-external"


class Clocks:
    """Stands in for the token module's ``time``: wall clock (``exp``) and monotonic (the
    JWKS cache), both movable."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.mono = 10_000.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return self.mono


async def ask(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/graphql",
        json={"query": VIEWER},
        headers={"authorization": f"Bearer {token}", "accept": "application/json"},
    )


async def accepted(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await ask(client, token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]["viewer"]
    return data


async def refused(client: httpx.AsyncClient, token: str, message: str) -> None:
    response = await ask(client, token)
    assert response.status_code == 401, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert message in error["message"], error["message"]


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch) -> Clocks:
    clocks = Clocks()
    monkeypatch.setattr(
        tokens_module, "time", SimpleNamespace(time=clocks.time, monotonic=clocks.monotonic)
    )
    # joserfc's claims check (exp, nbf) reads the wall clock too.
    monkeypatch.setattr(joserfc_claims, "time", SimpleNamespace(time=clocks.time))
    return clocks


async def test_a_token_is_verified_once_then_served_from_the_cache(
    client: httpx.AsyncClient, runtime: Runtime, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    real_decode = tokens_module.jwt.decode

    def counting_decode(value: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(value)
        return real_decode(value, *args, **kwargs)

    monkeypatch.setattr(tokens_module.jwt, "decode", counting_decode)
    cache = runtime.tokens.cache
    bearer = token("agent", partner="BANCO_ANDINO")
    first = await accepted(client, bearer)
    assert (cache.misses, cache.hits, len(decoded)) == (1, 0, 1)
    for _ in range(3):
        assert await accepted(client, bearer) == first
    assert (cache.misses, cache.hits, len(decoded)) == (1, 3, 1)
    # The cache holds the token's hash, never the token.
    assert token_digest(bearer) in cache._entries
    assert all(bearer not in repr(entry) for entry in cache._entries.values())

    # Another token is another entry; a tampered copy of a cached token is verified (and
    # refused), never taken for the cached one.
    other = token("admin")
    await accepted(client, other)
    assert len(decoded) == 2 and len(cache) == 2
    head, body, signature = bearer.split(".")
    tampered = f"{head}.{body}.{signature[:-4]}AAAA"
    await refused(client, tampered, "signature")
    assert len(decoded) == 3 and len(cache) == 2
    # Refusals are not cached: the same bad token is checked again.
    await refused(client, tampered, "signature")
    assert len(decoded) == 4


async def test_an_expired_token_is_never_served_from_the_cache(
    client: httpx.AsyncClient, runtime: Runtime, token: Any, clocks: Clocks
) -> None:
    now = int(time.time())
    bearer = token("agent", partner="BANCO_ANDINO", ttl=300, now=now)
    await accepted(client, bearer)
    await accepted(client, bearer)
    assert runtime.tokens.cache.hits == 1

    # At exp the entry is gone: the full check runs and applies the clock skew (60 s) …
    clocks.offset = 300 + 10
    await accepted(client, bearer)
    assert runtime.tokens.cache.expired == 1
    # … and it is not cached again for the skew's grace, nor served past it.
    assert token_digest(bearer) not in runtime.tokens.cache._entries
    clocks.offset = 300 + runtime.settings.clock_skew + 1
    await refused(client, bearer, "expired")


async def test_a_deactivated_partner_is_refused_even_with_a_cached_token(
    client: httpx.AsyncClient, runtime: Runtime, token: Any
) -> None:
    bearer = token("agent", partner="RETAIL_SUR")
    await accepted(client, bearer)
    async with transaction() as session:
        await session.execute(
            sa.update(Partner).where(Partner.code == "RETAIL_SUR").values(active=False)
        )
    runtime.authenticator.partners.invalidate()  # what the directory's TTL does in time
    await refused(client, bearer, "not active")
    assert runtime.tokens.cache.hits == 1  # the token itself was still good


async def test_the_cache_is_bounded(settings: Settings, db: Any) -> None:
    small = Settings(**(settings.model_dump() | {"token_cache_size": 2}))
    runtime = build_runtime(small)
    tokens = [runtime.tokens.issue(subject=f"s{i}", roles=["admin"])[0] for i in range(3)]
    for bearer in tokens:
        await runtime.tokens.verify(bearer)
    cache = runtime.tokens.cache
    assert len(cache) == 2
    assert token_digest(tokens[0]) not in cache._entries  # least recently used went first
    await runtime.tokens.verify(tokens[1])  # a hit makes it recent …
    await runtime.tokens.verify(tokens[0])  # … so this miss evicts tokens[2]
    assert set(cache._entries) == {token_digest(tokens[0]), token_digest(tokens[1])}

    off = build_runtime(Settings(**(settings.model_dump() | {"token_cache_size": 0})))
    bearer = off.tokens.issue(subject="s", roles=["admin"])[0]
    await off.tokens.verify(bearer)
    await off.tokens.verify(bearer)
    assert len(off.tokens.cache) == 0 and off.tokens.cache.hits == 0


# --- keys an external issuer withdraws --------------------------------------------------
def rsa_key() -> jwk.RSAKey:
    key = jwk.RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key


@dataclass
class JWKS:
    keys: list[jwk.RSAKey]
    requests: int = 0
    urls: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        published = [{**k.as_dict(private=False), "use": "sig"} for k in self.keys]
        return httpx.Response(200, json={"keys": published})


def external_token(key: jwk.RSAKey, *, kid: str | None = None) -> str:
    now = int(time.time())
    oid = str(uuid.uuid4())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": oid,
        "oid": oid,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "roles": ["network_viewer"],
    }
    return jwt.encode(
        {"alg": "RS256", "typ": "JWT", "kid": kid or key.kid}, claims, key, algorithms=["RS256"]
    )


@dataclass
class External:
    client: httpx.AsyncClient
    jwks: JWKS
    service: TokenService
    settings: Settings


@pytest.fixture
async def external(settings: Settings, db: Any, clocks: Clocks) -> AsyncIterator[External]:
    jwks = JWKS(keys=[rsa_key(), rsa_key()])
    custom = Settings(
        **(
            settings.model_dump()
            | {
                "trusted_issuers": [
                    TrustedIssuer(issuer=ISSUER, jwks_uri="https://login.example.com/keys")
                ],
                "audience": AUDIENCE,
            }
        )
    )
    runtime = build_runtime(custom)
    async with httpx.AsyncClient(transport=httpx.MockTransport(jwks.handle)) as outbound:
        runtime.tokens = TokenService(custom, runtime.keys, http=outbound)
        runtime.authenticator = Authenticator(custom, runtime.tokens)
        app = create_app(custom, runtime=runtime, manage_database=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as http:
            yield External(http, jwks, runtime.tokens, custom)


async def test_tokens_of_a_withdrawn_key_are_dropped_at_the_refetch(
    external: External, clocks: Clocks
) -> None:
    one, two = external.jwks.keys
    by_one, by_two = external_token(one), external_token(two)
    await accepted(external.client, by_one)
    await accepted(external.client, by_two)
    await accepted(external.client, by_two)
    cache = external.service.cache
    assert (external.jwks.requests, cache.hits, len(cache)) == (1, 1, 2)

    # The issuer withdraws key two (compromised). A token with a kid Trama does not know
    # makes it refetch (after the minimum interval): the tokens of key two go at once.
    external.jwks.keys = [one]
    clocks.mono += external.settings.jwks_min_refresh_interval + 1
    await refused(external.client, external_token(rsa_key()), "signing key")
    assert external.jwks.requests == 2
    assert cache.revoked == 1 and len(cache) == 1
    await refused(external.client, by_two, "signing key")
    # Key one's tokens stay cached and served.
    hits = cache.hits
    await accepted(external.client, by_one)
    assert cache.hits == hits + 1


async def test_a_cached_token_waits_for_stale_keys_to_be_fetched_again(
    external: External, clocks: Clocks
) -> None:
    one, two = external.jwks.keys
    by_two = external_token(two)
    await accepted(external.client, by_two)
    await accepted(external.client, by_two)
    assert external.jwks.requests == 1

    # Within TRAMA_JWKS_CACHE_TTL the cached token costs no fetch; past it, the next use of
    # the cached token fetches the keys first, and the withdrawn key's token is refused.
    external.jwks.keys = [one]
    clocks.mono += external.settings.jwks_cache_ttl - 5
    await accepted(external.client, by_two)
    assert external.jwks.requests == 1
    clocks.mono += 10
    await refused(external.client, by_two, "signing key")
    assert external.jwks.requests == 2

    # A token of a key still published goes on being served after the refetch.
    by_one = external_token(one)
    await accepted(external.client, by_one)
    clocks.mono += external.settings.jwks_cache_ttl + 1
    external.jwks.keys = [one, two]
    await accepted(external.client, by_one)
    assert external.jwks.requests == 3
    hits = external.service.cache.hits
    await accepted(external.client, by_one)
    assert external.service.cache.hits == hits + 1 and external.jwks.requests == 3

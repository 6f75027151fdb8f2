"""Bearer tokens: Trama's own and those of trusted external issuers (Azure AD style)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from joserfc import jwk, jwt

import app.auth.tokens as tokens_module
from app.auth.keys import KeyStore
from app.auth.principals import Authenticator
from app.auth.tokens import TokenError, TokenService
from app.db import transaction
from app.main import create_app
from app.runtime import Runtime, build_runtime
from app.settings import Settings, TrustedIssuer
from domain.partners.models import Partner
from domain.shared.principal import ROLE_SCOPES, Role

GRAPHQL_RESPONSE = "application/graphql-response+json"
VIEWER = "{ viewer { subject kind issuer roles scopes partner { code } } }"
WWW_AUTHENTICATE = re.compile(r'^Bearer error="invalid_token", error_description="[ -~]*"$')


# --- helpers --------------------------------------------------------------------------------
def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def with_char_flipped(segment: str, index: int) -> str:
    char = segment[index]
    return segment[:index] + ("A" if char != "A" else "B") + segment[index + 1 :]


async def call(
    client: httpx.AsyncClient,
    authorization: str | None,
    query: str = VIEWER,
    accept: str = GRAPHQL_RESPONSE,
) -> httpx.Response:
    headers = {"accept": accept}
    if authorization is not None:
        headers["authorization"] = authorization
    return await client.post("/graphql", json={"query": query}, headers=headers)


async def viewer(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await call(client, f"Bearer {token}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]["viewer"]
    return data


async def expect_401(
    client: httpx.AsyncClient, token: str, message: str, *, raw: bool = False
) -> None:
    """Refused with 401 UNAUTHENTICATED, a clear ``message``, for every kind of client."""
    authorization = token if raw else f"Bearer {token}"
    for accept in (GRAPHQL_RESPONSE, "application/json"):
        response = await call(client, authorization, accept=accept)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith(accept)
        body = response.json()
        assert "data" not in body
        [error] = body["errors"]
        assert error["extensions"] == {"code": "UNAUTHENTICATED"}
        assert message in error["message"], error["message"]
        challenge = response.headers["www-authenticate"]
        assert WWW_AUTHENTICATE.match(challenge), challenge


def sign_own(runtime: Runtime, claims: dict[str, Any], **header: Any) -> str:
    key = runtime.keys.signing_key
    head = {"alg": "RS256", "kid": key.kid, "typ": "JWT", **header}
    return jwt.encode(head, claims, key, algorithms=["RS256"])


def own_claims(runtime: Runtime, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": runtime.tokens.issuer,
        "aud": runtime.tokens.audience,
        "sub": "test:admin",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "roles": ["admin"],
    }
    claims.update(overrides)
    return claims


def service_with(settings: Settings, keys: KeyStore, **overrides: Any) -> TokenService:
    """A token service like Trama's but with some settings changed (issuer, audience …)."""
    return TokenService(Settings(**(settings.model_dump() | overrides)), keys)


# --- Trama's own tokens ---------------------------------------------------------------------
async def test_a_valid_token_names_the_principal(
    client: httpx.AsyncClient, token: Callable[..., str]
) -> None:
    me = await viewer(client, token("agent", partner="BANCO_ANDINO", subject="ana@andino"))
    assert me == {
        "subject": "ana@andino",
        "kind": "user",
        "issuer": "http://trama.test",
        "roles": ["agent"],
        "scopes": sorted(s.value for s in ROLE_SCOPES[Role.AGENT]),
        "partner": {"code": "BANCO_ANDINO"},
    }
    assert {"customers:read", "customers:write", "partners:read"} <= set(me["scopes"])
    assert "pii:read" not in me["scopes"]  # network-wide: administrators only (issue 9)
    # The scheme is case-insensitive.
    response = await call(client, f"bearer {token('admin')}")
    assert response.json()["data"]["viewer"]["roles"] == ["admin"]


async def test_expired_and_not_yet_valid_tokens(
    client: httpx.AsyncClient, token: Callable[..., str], runtime: Runtime
) -> None:
    now = int(time.time())
    expired = token("agent", partner="BANCO_ANDINO", ttl=600, now=now - 3600)
    await expect_401(client, expired, "the token has expired")
    early = token("agent", partner="BANCO_ANDINO", now=now + 3600)
    await expect_401(client, early, "in the future")
    claims = own_claims(runtime, nbf=now + 3600)  # issued now, valid only later
    await expect_401(client, sign_own(runtime, claims), "not yet valid")


async def test_clock_skew_within_the_leeway_is_accepted(
    client: httpx.AsyncClient, token: Callable[..., str], settings: Settings
) -> None:
    skew = settings.clock_skew
    assert skew >= 30
    now = int(time.time())
    # Issued by a clock a little ahead of ours (nbf and iat in our future) …
    ahead = token("admin", now=now + skew // 2)
    assert (await viewer(client, ahead))["roles"] == ["admin"]
    # … or expired a moment ago by ours.
    behind = token("admin", ttl=60, now=now - 60 - skew // 2)
    assert (await viewer(client, behind))["roles"] == ["admin"]
    # Beyond the leeway it is refused.
    await expect_401(client, token("admin", now=now + skew + 60), "in the future")
    await expect_401(client, token("admin", ttl=60, now=now - 60 - skew - 60), "expired")


async def test_wrong_audience_and_unknown_issuer(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings
) -> None:
    other_api = service_with(settings, runtime.keys, audience="api://someone-else")
    issued, _ = other_api.issue(subject="s", roles=["admin"])
    await expect_401(client, issued, "the token has an invalid claim")
    await expect_401(client, issued, "aud")

    stranger = service_with(settings, runtime.keys, issuer="https://evil.example")
    issued, _ = stranger.issue(subject="s", roles=["admin"])
    await expect_401(client, issued, "the token's issuer is not trusted")

    claims = own_claims(runtime)
    del claims["iss"]
    await expect_401(client, sign_own(runtime, claims), "the token has no issuer")
    claims = own_claims(runtime)
    del claims["sub"]
    await expect_401(client, sign_own(runtime, claims), "lacks a required claim")
    claims = own_claims(runtime)
    del claims["exp"]
    await expect_401(client, sign_own(runtime, claims), "lacks a required claim")


async def test_tampered_tokens_are_refused(
    client: httpx.AsyncClient, token: Callable[..., str], runtime: Runtime
) -> None:
    good = token("agent", partner="BANCO_ANDINO")
    header, payload, signature = good.split(".")
    assert (await viewer(client, good))["roles"] == ["agent"]

    flipped = with_char_flipped(signature, len(signature) // 2)
    await expect_401(client, f"{header}.{payload}.{flipped}", "signature is not valid")

    claims = orjson.loads(unb64(payload))
    claims["roles"] = ["admin"]
    forged = b64(orjson.dumps(claims))
    await expect_401(client, f"{header}.{forged}.{signature}", "signature is not valid")
    flipped_payload = with_char_flipped(payload, len(payload) // 2)
    await expect_401(client, f"{header}.{flipped_payload}.{signature}", "the token")

    # Signed by someone else's key that claims to be ours (same kid).
    impostor = jwk.RSAKey.generate_key(2048, private=True)
    forged_token = jwt.encode(
        {"alg": "RS256", "kid": runtime.keys.signing_key.kid},
        own_claims(runtime),
        impostor,
        algorithms=["RS256"],
    )
    await expect_401(client, forged_token, "signature is not valid")
    # Or by a key we do not have at all.
    unknown_kid = jwt.encode(
        {"alg": "RS256", "kid": "not-ours"}, own_claims(runtime), impostor, algorithms=["RS256"]
    )
    await expect_401(client, unknown_kid, "signing key")


async def test_alg_none_and_symmetric_tokens_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    claims = b64(orjson.dumps(own_claims(runtime)))

    unsigned = f"{b64(orjson.dumps({'alg': 'none', 'typ': 'JWT'}))}.{claims}."
    await expect_401(client, unsigned, "algorithm 'none' is not accepted")
    for alg in ("None", "NONE", ""):
        head = b64(orjson.dumps({"alg": alg}))
        await expect_401(client, f"{head}.{claims}.", "is not accepted")

    # HS256 keyed with our public key (the classic algorithm confusion attack).
    public_pem = runtime.keys.signing_key.as_pem(private=False)
    head = b64(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": runtime.keys.signing_key.kid}))
    signing_input = f"{head}.{claims}".encode()
    mac = b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    await expect_401(client, f"{head}.{claims}.{mac}", "algorithm 'HS256' is not accepted")

    # No algorithm at all.
    head = b64(orjson.dumps({"typ": "JWT"}))
    await expect_401(client, f"{head}.{claims}.{mac}", "algorithm None is not accepted")


GARBAGE = [
    "garbage",
    "a.b.c",
    "..",
    "e30.e30",
    "e30.e30.e30.e30",
    "W10.e30.e30",  # a header that is JSON but not an object
    "x" * 20_000,
    "%%%.%%%.%%%",
]


async def test_garbage_tokens_are_refused(client: httpx.AsyncClient) -> None:
    for garbage in GARBAGE:
        await expect_401(client, garbage, "the token is malformed")


async def test_other_schemes_are_refused(client: httpx.AsyncClient) -> None:
    for authorization in [
        "Basic dXNlcjpwYXNz",
        "Token abc.def.ghi",
        "Bearer",
        "Bearer    ",
        "Bearerabc",
        "abc",
    ]:
        await expect_401(client, authorization, "use the Bearer scheme", raw=True)
    # An empty header is no credentials at all: anonymous.
    response = await call(client, "", query="{ __typename }")
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_hostile_header_values_do_not_break_the_challenge(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # The alg is reflected in the error; the header must stay a valid quoted string.
    claims = b64(orjson.dumps(own_claims(runtime)))
    for alg in ('x"y\\z', "€uro", "x\r\ny", "é"):
        head = b64(orjson.dumps({"alg": alg}))
        await expect_401(client, f"{head}.{claims}.", "is not accepted")


async def test_partner_must_exist_and_be_active(
    client: httpx.AsyncClient, token: Callable[..., str], db: Any
) -> None:
    # (Before the first request: partners are cached for a minute once looked up.)
    async with transaction() as session:
        await session.execute(
            sa.update(Partner).where(Partner.code == "CLUB_PUNTOS").values(active=False)
        )
    await expect_401(client, token("agent", partner="CLUB_PUNTOS"), "not active")
    await expect_401(client, token("network_viewer", partner="CLUB_PUNTOS"), "not active")
    await expect_401(client, token("agent", partner="NO_SUCH_BANK"), "does not exist")
    await expect_401(client, token("admin", partner="NO_SUCH_BANK"), "does not exist")
    assert (await viewer(client, token("agent", partner="BANCO_PAMPA")))["partner"] == {
        "code": "BANCO_PAMPA"
    }


async def test_partner_roles_need_a_partner(
    client: httpx.AsyncClient, token: Callable[..., str]
) -> None:
    for role in ("agent", "supervisor", "partner_system"):
        await expect_401(client, token(role), "act for a partner")
    # Network roles need none.
    for role in ("admin", "network_viewer", "investor"):
        me = await viewer(client, token(role))
        assert me["roles"] == [role]
        assert me["partner"] is None


async def test_unknown_roles_are_ignored(client: httpx.AsyncClient, runtime: Runtime) -> None:
    issued, _ = runtime.tokens.issue(
        subject="mixed", roles=["agent", "root", "ADMIN", "admin "], partner="BANCO_ANDINO"
    )
    me = await viewer(client, issued)
    assert me["roles"] == ["agent"]
    assert "clients:manage" not in me["scopes"]

    issued, _ = runtime.tokens.issue(subject="nobody", roles=["root", "superuser"])
    me = await viewer(client, issued)
    assert me["roles"] == []
    assert me["scopes"] == []
    response = await call(client, f"Bearer {issued}", query="{ partners { code } }")
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_scp_narrows_the_scopes(client: httpx.AsyncClient, token: Callable[..., str]) -> None:
    # pii:read is network-wide and only administrators hold it (issue 9): narrowing an
    # administrator's token to leave it out masks every customer for that token.
    listed = await call(
        client,
        f"Bearer {token('admin')}",
        query="{ customers(first: 1) { edges { node { id } } } }",
    )
    key = listed.json()["data"]["customers"]["edges"][0]["node"]["id"]
    query = f'{{ customer(id: "{key}") {{ piiMasked email }} }}'

    async def shown(bearer: str) -> dict[str, Any]:
        response = await call(client, f"Bearer {bearer}", query=query)
        body = response.json()
        assert "errors" not in body, body
        customer: dict[str, Any] = body["data"]["customer"]
        return customer

    full = await shown(token("admin"))
    assert full["piiMasked"] is False
    narrow_admin = token("admin", scopes=["customers:read", "partners:read"])
    assert (await viewer(client, narrow_admin))["scopes"] == ["customers:read", "partners:read"]
    masked = await shown(narrow_admin)
    assert masked["piiMasked"] is True and masked["email"] != full["email"]

    narrow = token(
        "agent", partner="BANCO_ANDINO", scopes=["customers:read", "partners:read", "audit:read"]
    )
    me = await viewer(client, narrow)
    # customers:write is gone; audit:read was never the agent's to ask for.
    assert me["scopes"] == ["customers:read", "partners:read"]
    create = (
        'mutation { createCustomer(input: {nationalId: {type: CL_RUT, number: "12.345.678-5"},'
        ' givenNames: "Ana", familyNames: "Pérez"}) { __typename } }'
    )
    for bearer, expected in ((narrow, "ForbiddenError"), (token("agent", partner="BANCO_ANDINO"),
                                                            "CreateCustomerSuccess")):  # fmt: skip
        response = await call(client, f"Bearer {bearer}", query=create)
        assert response.json()["data"]["createCustomer"]["__typename"] == expected

    nothing = token("agent", partner="BANCO_ANDINO", scopes=[])
    assert (await viewer(client, nothing))["scopes"] == []


# --- external issuers -----------------------------------------------------------------------
ISSUER = "https://login.example.com/11111111-2222-3333-4444-555555555555/v2.0"
AUDIENCE = "api://trama-external"
VENDOR = "https://idp.retail-sur.example"  # every user of this one works for RETAIL_SUR
TENANT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


@functools.cache
def rsa_key(name: str) -> jwk.RSAKey:
    key = jwk.RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key


class Clock:
    """Stands in for ``time.monotonic`` in the token module: the JWKS cache's clock."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class JWKSServer:
    keys: list[jwk.RSAKey]
    requests: int = 0
    down: bool = False
    urls: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.urls.append(str(request.url))
        if self.down:
            return httpx.Response(503, text="unavailable")
        published = [{**k.as_dict(private=False), "use": "sig"} for k in self.keys]
        return httpx.Response(200, json={"keys": published})


@dataclass
class External:
    client: httpx.AsyncClient
    jwks: JWKSServer
    clock: Clock
    settings: Settings

    async def call(self, token: str) -> httpx.Response:
        return await call(self.client, f"Bearer {token}")


def external_token(key: jwk.RSAKey, *, kid: str | None = None, **overrides: Any) -> str:
    now = int(time.time())
    oid = str(uuid.uuid4())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": oid,
        "oid": oid,
        "tid": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "roles": ["network_viewer"],
        "name": "Ext User",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    header = {"alg": "RS256", "typ": "JWT", "kid": kid or key.kid}
    return jwt.encode(header, claims, key, algorithms=["RS256"])


@pytest.fixture
async def external(
    settings: Settings, db: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[External]:
    clock = Clock()
    monkeypatch.setattr(tokens_module, "time", SimpleNamespace(time=time.time, monotonic=clock))
    jwks = JWKSServer(keys=[rsa_key("one")])
    custom = Settings(
        **(
            settings.model_dump()
            | {
                "trusted_issuers": [
                    TrustedIssuer(
                        issuer=ISSUER + "/",  # trailing slashes do not matter
                        jwks_uri="https://login.example.com/discovery/v2.0/keys",
                        audience=AUDIENCE,
                    ),
                    TrustedIssuer(
                        issuer=VENDOR,
                        jwks_uri="https://idp.retail-sur.example/jwks",
                        partner="RETAIL_SUR",
                    ),
                ]
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
            yield External(client=http, jwks=jwks, clock=clock, settings=custom)


async def test_external_tokens_are_accepted(external: External) -> None:
    key = rsa_key("one")
    me = await viewer(external.client, external_token(key, oid="oid-1", sub="pairwise-sub"))
    assert me == {
        "subject": "oid-1",  # Azure AD's stable object id, not the pairwise sub
        "kind": "user",
        "issuer": ISSUER,
        "roles": ["network_viewer"],
        "scopes": sorted(s.value for s in ROLE_SCOPES[Role.NETWORK_VIEWER]),
        "partner": None,
    }
    assert external.jwks.urls == ["https://login.example.com/discovery/v2.0/keys"]
    # Cached: no more fetches.
    for _ in range(3):
        await viewer(external.client, external_token(key))
    assert external.jwks.requests == 1

    # The issuer's own audience is required, not Trama's.
    await expect_401(external.client, external_token(key, aud="api://trama"), "aud")
    # Own checks apply to external tokens too.
    now = int(time.time())
    await expect_401(
        external.client, external_token(key, iat=now - 900, nbf=now - 900, exp=now - 300), "expired"
    )
    # A token signed by a key the issuer does not publish, under a published kid.
    await expect_401(
        external.client, external_token(rsa_key("rogue"), kid=key.kid), "signature is not valid"
    )


async def test_partner_from_the_tenant_id(external: External) -> None:
    async with transaction() as session:
        await session.execute(
            sa.update(Partner).where(Partner.code == "BANCO_ANDINO").values(tenant_id=TENANT)
        )
    key = rsa_key("one")
    me = await viewer(external.client, external_token(key, tid=TENANT, roles=["agent"]))
    assert me["partner"] == {"code": "BANCO_ANDINO"}
    assert me["roles"] == ["agent"]
    # An unknown tenant names no partner, so partner roles are refused.
    await expect_401(
        external.client, external_token(key, tid="some-other-tenant", roles=["agent"]), "partner"
    )


async def test_partner_from_the_issuer_configuration(external: External) -> None:
    key = rsa_key("one")
    token = external_token(key, iss=VENDOR, aud="api://trama", roles=["supervisor"])
    me = await viewer(external.client, token)
    assert me["partner"] == {"code": "RETAIL_SUR"}
    assert me["issuer"] == VENDOR
    assert external.jwks.urls == ["https://idp.retail-sur.example/jwks"]


async def test_a_partner_claim_from_an_external_issuer_is_not_trusted(
    external: External,
) -> None:
    key = rsa_key("one")
    me = await viewer(external.client, external_token(key, partner="BANCO_ANDINO"))
    assert me["partner"] is None
    await expect_401(
        external.client,
        external_token(key, partner="BANCO_ANDINO", roles=["agent"]),
        "act for a partner",
    )


async def test_key_rotation_refetches_once(external: External) -> None:
    one, two = rsa_key("one"), rsa_key("two")
    await viewer(external.client, external_token(one))
    assert external.jwks.requests == 1

    # The issuer rotates: it now publishes a second key and signs with it.
    external.jwks.keys = [one, two]
    external.clock.advance(external.settings.jwks_min_refresh_interval + 1)
    me = await viewer(external.client, external_token(two))
    assert me["roles"] == ["network_viewer"]
    assert external.jwks.requests == 2
    # Both keys are known now: no further fetches, old tokens keep working.
    await viewer(external.client, external_token(two))
    await viewer(external.client, external_token(one))
    assert external.jwks.requests == 2


async def test_unknown_kids_do_not_refetch_within_the_interval(external: External) -> None:
    one, rogue = rsa_key("one"), rsa_key("rogue")
    await viewer(external.client, external_token(one))
    assert external.jwks.requests == 1

    # A flood of tokens with made-up kids costs at most one fetch per interval.
    for i in range(10):
        await expect_401(external.client, external_token(rogue, kid=f"made-up-{i}"), "signing key")
    assert external.jwks.requests == 1

    external.clock.advance(external.settings.jwks_min_refresh_interval + 1)
    for i in range(10):
        await expect_401(external.client, external_token(rogue, kid=f"again-{i}"), "signing key")
    assert external.jwks.requests == 2
    # Good tokens were never affected.
    await viewer(external.client, external_token(one))
    assert external.jwks.requests == 2


async def test_jwks_endpoint_down(external: External) -> None:
    one = rsa_key("one")
    external.jwks.down = True
    for _ in range(5):
        await expect_401(external.client, external_token(one), "keys cannot be fetched")
    # While it is down we do not hammer it on every request either.
    assert external.jwks.requests == 1

    external.jwks.down = False
    external.clock.advance(external.settings.jwks_min_refresh_interval + 1)
    await viewer(external.client, external_token(one))
    assert external.jwks.requests == 2

    # Down again, and the cache is stale: the keys we had keep working.
    external.jwks.down = True
    external.clock.advance(external.settings.jwks_cache_ttl + 1)
    await viewer(external.client, external_token(one))
    assert external.jwks.requests == 3
    await viewer(external.client, external_token(one))
    assert external.jwks.requests == 3
    # A new key cannot be learnt meanwhile.
    await expect_401(external.client, external_token(rsa_key("two")), "signing key")


async def test_jwks_unreachable_network(settings: Settings, db: Any) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    custom = Settings(
        **(
            settings.model_dump()
            | {"trusted_issuers": [TrustedIssuer(issuer=ISSUER, jwks_uri="https://x/keys")]}
        )
    )
    keys = KeyStore.load_or_create(custom.var_dir / "keys")
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as outbound:
        service = TokenService(custom, keys, http=outbound)
        runtime = build_runtime(custom)
        runtime.tokens = service
        runtime.authenticator = Authenticator(custom, service)
        app = create_app(custom, runtime=runtime, manage_database=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as http:
            token = external_token(rsa_key("one"), aud=custom.audience)
            await expect_401(http, token, "the token's issuer keys cannot be fetched right now")


# --- token lifetime -------------------------------------------------------------------------
async def test_tokens_living_too_long_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings
) -> None:
    limit = settings.max_token_lifetime
    now = int(time.time())
    ok = own_claims(runtime, iat=now, nbf=now, exp=now + limit)
    assert (await viewer(client, sign_own(runtime, ok)))["roles"] == ["admin"]
    # Measured from iat, whatever is left of it …
    long_lived = own_claims(runtime, iat=now - 600, nbf=now - 600, exp=now - 600 + limit + 1)
    await expect_401(client, sign_own(runtime, long_lived), f"longer than the {limit} s")
    # … or, without iat, from now.
    no_iat = own_claims(runtime, exp=now + limit + settings.clock_skew + 60)
    del no_iat["iat"]
    await expect_401(client, sign_own(runtime, no_iat), "has no iat and stays valid")
    short = own_claims(runtime, exp=now + 600)
    del short["iat"]
    assert (await viewer(client, sign_own(runtime, short)))["roles"] == ["admin"]


async def test_a_lower_limit_applies_to_every_issuer(
    settings: Settings, db: Any, runtime: Runtime
) -> None:
    custom = Settings(**(settings.model_dump() | {"max_token_lifetime": 900, "token_ttl": 900}))
    service = TokenService(custom, runtime.keys)
    issued, lifetime = service.issue(subject="s", roles=["admin"])
    assert lifetime == 900
    assert (await service.validate(issued))[0]["sub"] == "s"
    one_hour, _ = service.issue(subject="s", roles=["admin"], ttl=3600)
    with pytest.raises(TokenError, match="lives 3600 s"):
        await service.validate(one_hour)
    with pytest.raises(ValueError, match="TRAMA_TOKEN_TTL"):
        Settings(**(settings.model_dump() | {"max_token_lifetime": 900, "token_ttl": 3600}))

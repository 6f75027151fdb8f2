"""Microsoft Entra ID (Azure AD) sign-in, against a local fake Entra ID over real HTTP.

Trama is configured as a multi-tenant API: one issuer entry with Entra's v2 and v1 issuer
templates, found through OpenID discovery, its tenants mapped to partners and its app roles
to Trama's roles. The fake (tests/fake_entra.py) serves discovery and keys on a loopback
port and mints tokens shaped like Entra's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from joserfc import jwt

import app.auth.tokens as tokens_module
from app.auth.principals import Authenticator
from app.auth.tokens import TokenService
from app.db import transaction
from app.main import create_app
from app.runtime import build_runtime
from app.settings import Settings, TrustedIssuer
from domain.partners.models import Partner
from domain.shared.principal import ROLE_SCOPES, Role
from tests.api.test_auth import Clock, call, expect_401, viewer
from tests.fake_entra import V1_ISSUER, V2_ISSUER, FakeEntra, running

API_CLIENT_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
APP_ID_URI = "api://trama"
TENANT_ANDINO = "0b1e8a1c-5d2f-4a6b-9c3d-111111111111"
TENANT_SUR = "7c2d9b2d-6e3a-4b7c-8d4e-222222222222"
TENANT_NETWORK = "e5a4c3b2-a1f0-4e9d-8c7b-333333333333"  # the network's own staff
TENANT_PLATA = "9d8c7b6a-5f4e-4d3c-8b2a-444444444444"  # only in the partners table
TENANT_STRANGER = "f0e1d2c3-b4a5-4968-8776-555555555555"
APP_ROLES = {
    "Trama.Agent": "agent",
    "Trama.Supervisor": "supervisor",
    "Trama.PartnerSystem": "partner_system",
    "Trama.NetworkViewer": "network_viewer",
}


def entra_issuer(entra: FakeEntra, **overrides: Any) -> TrustedIssuer:
    values: dict[str, Any] = {
        "issuer": [V2_ISSUER, V1_ISSUER],
        "discovery_url": entra.discovery_url("organizations"),
        "audience": [API_CLIENT_ID, APP_ID_URI],
        "tenants": {TENANT_ANDINO: "BANCO_ANDINO", TENANT_SUR: "RETAIL_SUR", TENANT_NETWORK: None},
        "app_roles": APP_ROLES,
        "scopes": {"access_as_user": ["*"], "Cases.Read": ["cases:read", "partners:read"]},
    }
    values.update(overrides)
    return TrustedIssuer(**values)


@dataclass
class Env:
    client: httpx.AsyncClient
    entra: FakeEntra
    clock: Clock
    settings: Settings

    def keys_fetched(self) -> int:
        return self.entra.served("/keys")


@pytest.fixture
def entra() -> Iterator[FakeEntra]:
    yield from running(api_client_id=API_CLIENT_ID, app_id_uri=APP_ID_URI)


async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    runtime = build_runtime(settings)
    runtime.tokens = TokenService(settings, runtime.keys)  # real HTTP to the fake
    runtime.authenticator = Authenticator(settings, runtime.tokens)
    app = create_app(settings, runtime=runtime, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as http:
        yield http


@pytest.fixture
async def env(
    settings: Settings, db: Any, entra: FakeEntra, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Env]:
    clock = Clock()
    monkeypatch.setattr(tokens_module, "time", SimpleNamespace(time=time.time, monotonic=clock))
    async with transaction() as session:
        await session.execute(
            sa.update(Partner).where(Partner.code == "TARJETA_PLATA").values(tenant_id=TENANT_PLATA)
        )
    custom = Settings(**(settings.model_dump() | {"trusted_issuers": [entra_issuer(entra)]}))
    async for http in serve(custom):
        yield Env(client=http, entra=entra, clock=clock, settings=custom)


def scopes_of(role: Role) -> list[str]:
    return sorted(s.value for s in ROLE_SCOPES[role])


# --- v2 and v1 tokens -------------------------------------------------------------------
async def test_a_v2_user_token_acts_for_its_tenants_partner(env: Env) -> None:
    token = env.entra.user_token(
        tenant=TENANT_ANDINO, username="ana.rojas@bancoandino.example", roles=["Trama.Agent"]
    )
    oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{TENANT_ANDINO}/ana.rojas@bancoandino.example"))
    assert await viewer(env.client, token) == {
        "subject": oid,  # Entra's object id, not the pairwise sub
        "kind": "user",
        "issuer": f"https://login.microsoftonline.com/{TENANT_ANDINO}/v2.0",
        "roles": ["agent"],
        "scopes": scopes_of(Role.AGENT),  # access_as_user: what the role allows
        "partner": {"code": "BANCO_ANDINO"},
    }
    # Discovery once, then the keys it names.
    assert env.entra.served("/organizations/v2.0/.well-known/openid-configuration") == 1
    assert env.entra.served("/organizations/discovery/v2.0/keys") == 1
    for _ in range(3):
        await viewer(env.client, token)
    assert env.keys_fetched() == 1


async def test_a_v1_user_token_is_read_too(env: Env) -> None:
    token = env.entra.user_token(
        tenant=TENANT_SUR, username="sofia@retailsur.example", roles=["Trama.Supervisor"], version=1
    )
    me = await viewer(env.client, token)
    assert me["issuer"] == f"https://sts.windows.net/{TENANT_SUR}"
    assert me["partner"] == {"code": "RETAIL_SUR"}
    assert me["roles"] == ["supervisor"] and me["kind"] == "user"
    # v1 tokens carry what the client asked for: the App ID URI or the API's client id.
    by_client_id = env.entra.user_token(
        tenant=TENANT_SUR,
        username="s@r.example",
        roles=["Trama.Agent"],
        version=1,
        aud=API_CLIENT_ID,
    )
    assert (await viewer(env.client, by_client_id))["roles"] == ["agent"]


async def test_delegated_scopes_narrow_what_the_roles_allow(env: Env) -> None:
    narrow = env.entra.user_token(
        tenant=TENANT_ANDINO, username="a@b.example", roles=["Trama.Agent"], scp="Cases.Read"
    )
    assert (await viewer(env.client, narrow))["scopes"] == ["cases:read", "partners:read"]
    unknown = env.entra.user_token(
        tenant=TENANT_ANDINO, username="a@b.example", roles=["Trama.Agent"], scp="User.Read"
    )
    assert (await viewer(env.client, unknown))["scopes"] == []


async def test_an_app_token_from_the_token_endpoint(env: Env) -> None:
    """A partner's system gets an app-only token with client credentials, as from Entra."""
    app = env.entra.register_app(tenant=TENANT_ANDINO, roles=["Trama.PartnerSystem"])
    async with httpx.AsyncClient(base_url=env.entra.base_url) as http:
        response = await http.post(
            f"/{TENANT_ANDINO}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app.client_id,
                "client_secret": app.secret,
                "scope": f"{APP_ID_URI}/.default",
            },
        )
    assert response.status_code == 200, response.text
    me = await viewer(env.client, response.json()["access_token"])
    assert me == {
        "subject": app.object_id,
        "kind": "client",
        "issuer": f"https://login.microsoftonline.com/{TENANT_ANDINO}/v2.0",
        "roles": ["partner_system"],
        "scopes": scopes_of(Role.PARTNER_SYSTEM),
        "partner": {"code": "BANCO_ANDINO"},
    }


# --- tenants and roles ------------------------------------------------------------------
async def test_a_token_from_an_unmapped_tenant_is_refused(env: Env) -> None:
    for roles in (["Trama.Agent"], ["Trama.NetworkViewer"], None):
        token = env.entra.user_token(tenant=TENANT_STRANGER, username="x@y.example", roles=roles)
        await expect_401(env.client, token, f"tenant (tid '{TENANT_STRANGER}')")
        await expect_401(env.client, token, "is not a member of the Trama network")
    # Personal Microsoft accounts sign in through the consumers tenant: not a member either.
    consumer = env.entra.user_token(
        tenant="9188040d-6c67-4c5b-b112-36a304b66dad", username="me@outlook.example"
    )
    await expect_401(env.client, consumer, "not a member of the Trama network")
    # The refusal is also what a WebSocket or a download would get: nothing is served.
    response = await call(env.client, f"Bearer {token}", query="{ __typename }")
    assert response.status_code == 401


async def test_tenants_of_the_network_and_of_the_partners_table(env: Env) -> None:
    staff = env.entra.user_token(
        tenant=TENANT_NETWORK, username="ops@trama.example", roles=["Trama.NetworkViewer"]
    )
    me = await viewer(env.client, staff)
    assert me["partner"] is None and me["roles"] == ["network_viewer"]
    # A partner's own tenant id, recorded on the partner, works without a settings entry.
    plata = env.entra.user_token(
        tenant=TENANT_PLATA, username="p@plata.example", roles=["Trama.Agent"]
    )
    assert (await viewer(env.client, plata))["partner"] == {"code": "TARJETA_PLATA"}
    # A network tenant's user with a partner role has no partner to act for.
    await expect_401(
        env.client,
        env.entra.user_token(tenant=TENANT_NETWORK, username="o@t.example", roles=["Trama.Agent"]),
        "act for a partner",
    )


async def test_unmapped_app_roles_give_no_role(env: Env) -> None:
    mixed = env.entra.user_token(
        tenant=TENANT_ANDINO,
        username="a@b.example",
        roles=["Trama.Agent", "Trama.Root", "admin", "Global Administrator"],
    )
    me = await viewer(env.client, mixed)
    assert me["roles"] == ["agent"]  # Trama's own role names do not count either
    nothing = env.entra.user_token(
        tenant=TENANT_ANDINO, username="a@b.example", roles=["admin", "Trama.Admin"]
    )
    me = await viewer(env.client, nothing)
    assert me["roles"] == [] and me["scopes"] == []
    assert me["partner"] == {"code": "BANCO_ANDINO"}
    response = await call(env.client, f"Bearer {nothing}", query="{ partners { code } }")
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- claims that must hold --------------------------------------------------------------
async def test_the_issuer_must_name_the_tokens_tenant(env: Env) -> None:
    # Signed by Entra's key, but iss says one tenant and tid another.
    crossed = env.entra.user_token(
        tenant=TENANT_STRANGER,
        username="x@y.example",
        roles=["Trama.Agent"],
        iss=f"https://login.microsoftonline.com/{TENANT_ANDINO}/v2.0",
    )
    await expect_401(env.client, crossed, "names another tenant than its tid")
    no_tid = env.entra.user_token(
        tenant=TENANT_ANDINO, username="x@y.example", roles=["Trama.Agent"], tid=None
    )
    await expect_401(env.client, no_tid, "lacks a required claim (tid)")
    # The template itself, or a tenant that is not an id, is no issuer of ours.
    for iss in (V2_ISSUER, "https://login.microsoftonline.com/a/b/v2.0"):
        odd = env.entra.user_token(tenant=TENANT_ANDINO, username="x@y.example", iss=iss)
        await expect_401(env.client, odd, "the token's issuer is not trusted")


async def test_audience_and_times(env: Env) -> None:
    def user(**claims: Any) -> str:
        return env.entra.user_token(
            tenant=TENANT_ANDINO, username="a@b.example", roles=["Trama.Agent"], **claims
        )

    await expect_401(env.client, user(aud="00000003-0000-0000-c000-000000000000"), "aud")
    await expect_401(env.client, user(aud=None), "lacks a required claim")
    now = int(time.time())
    skew = env.settings.clock_skew
    await expect_401(
        env.client, user(iat=now - 3600, nbf=now - 3600, exp=now - skew - 5), "expired"
    )
    await expect_401(env.client, user(nbf=now + skew + 60), "not yet valid")
    # Within the skew both ways: accepted.
    assert (await viewer(env.client, user(exp=now - skew // 2)))["roles"] == ["agent"]
    assert (await viewer(env.client, user(nbf=now + skew // 2)))["roles"] == ["agent"]
    # A token that lives longer than TRAMA_MAX_TOKEN_LIFETIME is refused.
    limit = env.settings.max_token_lifetime
    await expect_401(env.client, user(iat=now, exp=now + limit + 1), "longer than the")


async def test_key_rotation_refreshes_the_keys_once(env: Env) -> None:
    def user(**options: Any) -> str:
        return env.entra.user_token(
            tenant=TENANT_ANDINO, username="a@b.example", roles=["Trama.Agent"], **options
        )

    old = env.entra.signing
    await viewer(env.client, user())
    assert env.keys_fetched() == 1
    new = env.entra.rotate()
    # Too soon after the last fetch: the new kid is not looked up (at most one fetch per
    # TRAMA_JWKS_MIN_REFRESH_INTERVAL, so made-up kids cannot make Trama hammer Entra).
    await expect_401(env.client, user(), "signing key (kid) is not known")
    assert env.keys_fetched() == 1
    env.clock.advance(env.settings.jwks_min_refresh_interval + 1)
    assert (await viewer(env.client, user()))["roles"] == ["agent"]
    assert env.keys_fetched() == 2
    # Both keys known: tokens signed before the rotation still work, with no more fetches.
    assert (await viewer(env.client, user(key=old)))["roles"] == ["agent"]
    await viewer(env.client, user(key=new))
    assert env.keys_fetched() == 2
    # Discovery is not asked again for a key refresh.
    assert env.entra.served("/.well-known/openid-configuration") == 1


async def test_discovery_naming_another_issuer_is_not_trusted(
    settings: Settings, db: Any, entra: FakeEntra
) -> None:
    # The discovery document of one tenant names that tenant, not the template: a
    # configuration that expects the multi-tenant template must not take its keys.
    issuer = entra_issuer(entra, discovery_url=entra.discovery_url(TENANT_ANDINO))
    custom = Settings(**(settings.model_dump() | {"trusted_issuers": [issuer]}))
    async for http in serve(custom):
        token = entra.user_token(tenant=TENANT_ANDINO, username="a@b.example")
        await expect_401(http, token, "issuer keys cannot be fetched right now")
        assert entra.served("/keys") == 0


async def test_a_single_tenant_issuer(settings: Settings, db: Any, entra: FakeEntra) -> None:
    """One tenant's own endpoint, v1 tokens, every user acting for one partner."""
    issuer = TrustedIssuer(
        issuer=f"https://sts.windows.net/{TENANT_SUR}/",
        discovery_url=entra.discovery_url(TENANT_SUR, version=1),
        audience=APP_ID_URI,
        partner="RETAIL_SUR",
        app_roles=APP_ROLES,
        scopes={"access_as_user": ["*"]},
    )
    custom = Settings(**(settings.model_dump() | {"trusted_issuers": [issuer]}))
    async for http in serve(custom):
        token = entra.user_token(
            tenant=TENANT_SUR, username="s@r.example", roles=["Trama.Agent"], version=1
        )
        me = await viewer(http, token)
        assert me["partner"] == {"code": "RETAIL_SUR"} and me["roles"] == ["agent"]
        assert entra.served("/common/discovery/keys") == 1
        other = entra.user_token(tenant=TENANT_ANDINO, username="a@b.example", version=1)
        await expect_401(http, other, "the token's issuer is not trusted")


def test_issuer_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="jwks_uri or a discovery_url"):
        TrustedIssuer(issuer=V2_ISSUER)
    with pytest.raises(ValueError, match="not a Trama role"):
        TrustedIssuer(issuer=V2_ISSUER, jwks_uri="https://x/keys", app_roles={"A": "root"})
    with pytest.raises(ValueError, match="unknown Trama scopes"):
        TrustedIssuer(issuer=V2_ISSUER, jwks_uri="https://x/keys", scopes={"a": ["root:all"]})
    with pytest.raises(ValueError, match="not a tenant id"):
        TrustedIssuer(issuer=V2_ISSUER, jwks_uri="https://x/keys", tenants={"a/b": "X"})
    with pytest.raises(ValueError, match="once"):
        TrustedIssuer(issuer="https://x/{tenantid}/{tenantid}", jwks_uri="https://x/keys")
    with pytest.raises(ValueError, match="TRAMA_TRUSTED_ISSUERS"):
        from app.hosts import production_problems

        problems = production_problems(
            Settings(
                env="production",
                public_url="https://api.trama.example",
                trusted_issuers=[TrustedIssuer(issuer=V2_ISSUER, jwks_uri="http://x/keys")],
            )
        )
        raise ValueError("; ".join(problems))


def test_fake_tokens_look_like_entras(entra: FakeEntra) -> None:
    """The fake's claims are the ones the Microsoft identity platform documents."""
    v2 = jwt.decode(
        entra.user_token(tenant=TENANT_ANDINO, username="a@b.example"), entra.signing.key
    )
    assert v2.header["kid"] == entra.signing.kid and "x5t" not in v2.header
    assert {"aud", "iss", "iat", "nbf", "exp", "oid", "sub", "tid", "ver", "azp", "scp"} <= set(
        v2.claims
    )
    assert v2.claims["ver"] == "2.0" and "preferred_username" in v2.claims
    assert v2.claims["aud"] == API_CLIENT_ID and "appid" not in v2.claims
    v1 = jwt.decode(
        entra.user_token(tenant=TENANT_ANDINO, username="a@b.example", version=1),
        entra.signing.key,
    )
    assert v1.header["x5t"] == v1.header["kid"]
    assert v1.claims["ver"] == "1.0" and v1.claims["iss"].startswith("https://sts.windows.net/")
    assert {"appid", "upn", "unique_name", "amr"} <= set(v1.claims) and "azp" not in v1.claims

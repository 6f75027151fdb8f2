"""Trama as an OAuth 2.0 issuer: client credentials, JWKS and discovery."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from joserfc import jwk, jwt

from app.db import read_session, transaction
from app.runtime import Runtime
from domain.identity import service as identity
from domain.partners import service as partners
from domain.partners.models import Partner
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Role

VIEWER = "{ viewer { subject kind displayName roles scopes partner { code } } }"
ALL_PARTNER_SYSTEM_SCOPES = " ".join(sorted(s.value for s in ROLE_SCOPES[Role.PARTNER_SYSTEM]))


@dataclass
class Client:
    client_id: str
    secret: str


async def new_client(
    partner: str | None = "BANCO_ANDINO",
    roles: tuple[str, ...] = ("partner_system",),
    scopes: list[str] | None = None,
) -> Client:
    async with transaction() as session:
        partner_id = (await partners.find_by_code(session, partner)).id if partner else None
        issued = await identity.create_client(
            session,
            principal=SYSTEM,
            name="Test platform",
            partner_id=partner_id,
            roles=list(roles),
            scopes=scopes,
        )
    return Client(issued.client.client_id, issued.secret)


@pytest.fixture
async def oauth_client(db: Any) -> Client:
    return await new_client()


async def token_request(
    http: httpx.AsyncClient,
    data: dict[str, str] | None = None,
    *,
    basic: tuple[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    return await http.post("/oauth/token", data=data, auth=basic, **kwargs)


def grant(client: Client, **extra: str) -> dict[str, str]:
    """A client_secret_post request body."""
    return {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.secret,
        **extra,
    }


def expect_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert body["error_description"]
    return body


async def gql(
    http: httpx.AsyncClient, query: str, token: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


# --- the token endpoint ---------------------------------------------------------------------
async def test_client_secret_basic_and_post(
    client: httpx.AsyncClient, oauth_client: Client, runtime: Runtime
) -> None:
    basic = await token_request(
        client,
        {"grant_type": "client_credentials"},
        basic=(oauth_client.client_id, oauth_client.secret),
    )
    post = await token_request(client, grant(oauth_client))
    for response in (basic, post):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == runtime.settings.token_ttl
        assert body["scope"] == ALL_PARTNER_SYSTEM_SCOPES

        viewer = (await gql(client, VIEWER, body["access_token"]))["data"]["viewer"]
        assert viewer == {
            "subject": oauth_client.client_id,
            "kind": "client",
            "displayName": "Test platform",
            "roles": ["partner_system"],
            "scopes": ALL_PARTNER_SYSTEM_SCOPES.split(),
            "partner": {"code": "BANCO_ANDINO"},
        }
    assert basic.json()["access_token"] != post.json()["access_token"]

    claims = (await runtime.tokens.validate(post.json()["access_token"]))[0]
    assert claims["client_id"] == claims["azp"] == claims["sub"] == oauth_client.client_id
    assert claims["partner"] == "BANCO_ANDINO"
    assert claims["exp"] - claims["iat"] == runtime.settings.token_ttl


async def test_wrong_secret_and_unknown_client_look_the_same(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    wrong = await token_request(
        client, {"grant_type": "client_credentials"}, basic=(oauth_client.client_id, "nope")
    )
    unknown = await token_request(
        client, {"grant_type": "client_credentials"}, basic=("no-such-client", "nope")
    )
    wrong_post = await token_request(client, grant(Client(oauth_client.client_id, "x" * 43)))
    unknown_post = await token_request(client, grant(Client("no-such-client", "x" * 43)))
    bodies = []
    for response in (wrong, unknown, wrong_post, unknown_post):
        bodies.append(expect_oauth_error(response, 401, "invalid_client"))
        assert response.headers["www-authenticate"] == 'Basic realm="trama"'
    assert all(body == bodies[0] for body in bodies)

    # Missing credentials are invalid_client too.
    missing = await token_request(client, {"grant_type": "client_credentials"})
    expect_oauth_error(missing, 401, "invalid_client")
    half = await token_request(
        client, {"grant_type": "client_credentials", "client_id": oauth_client.client_id}
    )
    expect_oauth_error(half, 401, "invalid_client")
    bad_basic = await token_request(
        client,
        {"grant_type": "client_credentials"},
        headers={"authorization": "Basic not-base64!!"},
    )
    expect_oauth_error(bad_basic, 401, "invalid_client")


async def test_request_errors(client: httpx.AsyncClient, oauth_client: Client) -> None:
    for grant_type in ("password", "authorization_code", "refresh_token", ""):
        response = await token_request(client, grant(oauth_client, grant_type=grant_type))
        expect_oauth_error(response, 400, "unsupported_grant_type")

    as_json = await client.post("/oauth/token", json=grant(oauth_client))
    expect_oauth_error(as_json, 400, "invalid_request")
    no_type = await client.post(
        "/oauth/token", content=b"grant_type=client_credentials", headers={"content-type": ""}
    )
    expect_oauth_error(no_type, 400, "invalid_request")

    both = await token_request(
        client, grant(oauth_client), basic=(oauth_client.client_id, oauth_client.secret)
    )
    expect_oauth_error(both, 400, "invalid_request")

    too_big = await token_request(client, grant(oauth_client, padding="x" * 9000))
    expect_oauth_error(too_big, 400, "invalid_request")

    get = await client.get("/oauth/token")
    assert get.status_code == 405


async def test_scope_narrowing(client: httpx.AsyncClient, oauth_client: Client) -> None:
    response = await token_request(
        client, grant(oauth_client, scope="partners:read customers:read partners:read")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "customers:read partners:read"
    token = body["access_token"]
    viewer = (await gql(client, VIEWER, token))["data"]["viewer"]
    assert viewer["scopes"] == ["customers:read", "partners:read"]
    customers = await gql(client, "{ customers(first: 5) { edges { node { piiMasked } } } }", token)
    edges = customers["data"]["customers"]["edges"]
    assert edges
    # Its own partner's customers, in clear by the customers' rule (no scope gives that).
    assert not any(edge["node"]["piiMasked"] for edge in edges)
    # customers:write was narrowed away: the token cannot register a customer.
    created = await gql(
        client,
        'mutation { createCustomer(input: {nationalId: {type: CL_RUT, number: "12.345.678-5"},'
        ' givenNames: "Ana", familyNames: "Pérez"}) { __typename } }',
        token,
    )
    assert created["data"]["createCustomer"]["__typename"] == "ForbiddenError"

    for scope, refused in [
        ("customers:read teleport", "teleport"),  # no such scope
        ("audit:read", "audit:read"),  # not this client's
        ("clients:manage partners:read", "clients:manage"),
    ]:
        response = await token_request(client, grant(oauth_client, scope=scope))
        body = expect_oauth_error(response, 400, "invalid_scope")
        assert body["error_description"].endswith(f": {refused}")


async def test_a_client_limited_to_some_scopes(client: httpx.AsyncClient, db: Any) -> None:
    limited = await new_client(scopes=["partners:read"])
    response = await token_request(client, grant(limited))
    assert response.json()["scope"] == "partners:read"
    response = await token_request(client, grant(limited, scope="pii:read"))
    expect_oauth_error(response, 400, "invalid_scope")


# --- managing clients over GraphQL ----------------------------------------------------------
CREATE = """
mutation Create($input: CreateOAuthClientInput!) {
  createOAuthClient(input: $input) {
    __typename
    ... on CreateOAuthClientSuccess {
      clientSecret
      client { clientId name roles scopes active partner { code } }
    }
    ... on ValidationError { message code field problems { field message } }
    ... on ForbiddenError { message code }
  }
}
"""
SET_ACTIVE = """
mutation SetActive($input: SetOAuthClientActiveInput!) {
  setOAuthClientActive(input: $input) {
    __typename
    ... on SetOAuthClientActiveSuccess { client { clientId active } }
    ... on NotFoundError { code }
    ... on ForbiddenError { code }
  }
}
"""


async def partner_node_id(http: httpx.AsyncClient, token: str, code: str) -> str:
    partners_list = (await gql(http, "{ partners { id code } }", token))["data"]["partners"]
    return next(p["id"] for p in partners_list if p["code"] == code)


async def test_disabled_clients_get_no_tokens(
    client: httpx.AsyncClient, oauth_client: Client, token: Callable[..., str]
) -> None:
    admin = token("admin")
    first = await token_request(client, grant(oauth_client))
    assert first.status_code == 200

    payload = (
        await gql(
            client,
            SET_ACTIVE,
            admin,
            {"input": {"clientId": oauth_client.client_id, "active": False}},
        )
    )["data"]["setOAuthClientActive"]
    assert payload == {
        "__typename": "SetOAuthClientActiveSuccess",
        "client": {"clientId": oauth_client.client_id, "active": False},
    }
    response = await token_request(client, grant(oauth_client))
    expect_oauth_error(response, 401, "invalid_client")

    # An agent cannot switch it back on; an admin can.
    agent = token("agent", partner="BANCO_ANDINO")
    payload = (
        await gql(
            client,
            SET_ACTIVE,
            agent,
            {"input": {"clientId": oauth_client.client_id, "active": True}},
        )
    )["data"]["setOAuthClientActive"]
    assert payload == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}
    payload = (
        await gql(client, SET_ACTIVE, admin, {"input": {"clientId": "nope", "active": True}})
    )["data"]["setOAuthClientActive"]
    assert payload == {"__typename": "NotFoundError", "code": "NOT_FOUND"}
    await gql(
        client, SET_ACTIVE, admin, {"input": {"clientId": oauth_client.client_id, "active": True}}
    )
    assert (await token_request(client, grant(oauth_client))).status_code == 200


async def test_clients_of_inactive_partners_get_no_tokens(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    async with transaction() as session:
        await session.execute(
            sa.update(Partner).where(Partner.code == "BANCO_ANDINO").values(active=False)
        )
    response = await token_request(client, grant(oauth_client))
    expect_oauth_error(response, 400, "unauthorized_client")


async def test_create_oauth_client(client: httpx.AsyncClient, token: Callable[..., str]) -> None:
    admin = token("admin")
    partner_id = await partner_node_id(client, admin, "RETAIL_SUR")
    created = (
        await gql(
            client,
            CREATE,
            admin,
            {
                "input": {
                    "name": "Retail Sur loyalty sync",
                    "roles": ["partner_system"],
                    "partnerId": partner_id,
                    "scopes": ["customers:read", "partners:read"],
                }
            },
        )
    )["data"]["createOAuthClient"]
    assert created["__typename"] == "CreateOAuthClientSuccess"
    secret = created["clientSecret"]
    new = created["client"]
    assert len(secret) >= 32
    assert new["clientId"].startswith("retail_sur-")
    assert new == {
        "clientId": new["clientId"],
        "name": "Retail Sur loyalty sync",
        "roles": ["partner_system"],
        "scopes": ["customers:read", "partners:read"],
        "active": True,
        "partner": {"code": "RETAIL_SUR"},
    }

    # The secret works, once shown; only a hash of it is kept.
    response = await token_request(client, grant(Client(new["clientId"], secret)))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "customers:read partners:read"
    viewer = (await gql(client, VIEWER, response.json()["access_token"]))["data"]["viewer"]
    assert viewer["partner"] == {"code": "RETAIL_SUR"}
    assert viewer["kind"] == "client"

    async with read_session() as session:
        row = (
            await session.execute(
                sa.text("SELECT * FROM oauth_clients WHERE client_id = :id"),
                {"id": new["clientId"]},
            )
        ).one()
        audit_rows = (await session.execute(sa.text("SELECT * FROM audit_records"))).all()
    stored = row._mapping["secret_hash"]
    assert stored.startswith("scrypt$")
    assert secret not in stored
    for value in row:
        assert secret not in str(value)
    for record in audit_rows:
        assert secret not in str(tuple(record))


async def test_create_oauth_client_refusals(
    client: httpx.AsyncClient, token: Callable[..., str]
) -> None:
    admin = token("admin")
    partner_id = await partner_node_id(client, admin, "BANCO_ANDINO")
    base = {"name": "Some platform", "roles": ["partner_system"], "partnerId": partner_id}

    agent = token("agent", partner="BANCO_ANDINO")
    forbidden = (await gql(client, CREATE, agent, {"input": base}))["data"]["createOAuthClient"]
    assert forbidden["__typename"] == "ForbiddenError"
    assert forbidden["code"] == "FORBIDDEN"

    unknown = (
        await gql(client, CREATE, admin, {"input": {**base, "roles": ["partner_system", "root"]}})
    )["data"]["createOAuthClient"]
    assert unknown["__typename"] == "ValidationError"
    assert unknown["code"] == "VALIDATION"
    assert unknown["field"] == "roles"
    assert "root" in unknown["message"] or "root" in unknown["problems"][0]["message"]

    no_partner = (await gql(client, CREATE, admin, {"input": {**base, "partnerId": None}}))["data"][
        "createOAuthClient"
    ]
    assert no_partner["__typename"] == "ValidationError"
    assert no_partner["field"] == "partner"

    too_wide = (await gql(client, CREATE, admin, {"input": {**base, "scopes": ["audit:read"]}}))[
        "data"
    ]["createOAuthClient"]
    assert too_wide["__typename"] == "ValidationError"
    assert too_wide["field"] == "scopes"

    async with read_session() as session:
        count = (
            await session.execute(
                sa.text("SELECT count(*) FROM oauth_clients WHERE name = :n"),
                {"n": "Some platform"},
            )
        ).scalar_one()
    assert count == 0


# --- keys and discovery ---------------------------------------------------------------------
async def test_jwks_publishes_only_public_keys(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    jwks = response.json()
    assert jwks["keys"]
    for key in jwks["keys"]:
        assert key["kty"] == "RSA"
        assert key["use"] == "sig"
        assert key["alg"] == "RS256"
        assert key["kid"]
        assert {"n", "e"} <= set(key)
        assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(key), key

    # A relying party verifies our tokens with nothing but the published set.
    issued = (await token_request(client, grant(oauth_client))).json()["access_token"]
    key_set = jwk.KeySet.import_key_set(jwks)
    decoded = jwt.decode(issued, key_set, algorithms=["RS256"])
    assert decoded.claims["sub"] == oauth_client.client_id
    assert decoded.header["kid"] in {k["kid"] for k in jwks["keys"]}


async def test_openid_configuration(client: httpx.AsyncClient, runtime: Runtime) -> None:
    response = await client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    config = response.json()
    assert config["issuer"] == runtime.settings.issuer == "http://trama.test"
    assert config["jwks_uri"] == "http://trama.test/.well-known/jwks.json"
    assert config["token_endpoint"] == "http://trama.test/oauth/token"
    assert config["grant_types_supported"] == ["client_credentials"]
    assert set(config["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert "pii:read" in config["scopes_supported"]

    # The endpoints it names answer.
    path = config["jwks_uri"].removeprefix("http://trama.test")
    assert (await client.get(path)).json() == (await client.get("/.well-known/jwks.json")).json()
    token_path = config["token_endpoint"].removeprefix("http://trama.test")
    assert (await client.post(token_path, data={})).status_code == 400

"""Trama as an OAuth 2.0 issuer for partner systems (client credentials, RFC 6749 §4.4)."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.db import transaction
from app.hosts import public_base
from app.runtime import Runtime
from domain.identity import service as identity
from domain.partners.models import Partner
from domain.shared.principal import Scope

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**_NO_STORE, **(headers or {})},
    )


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


class OAuthEndpoints:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _issuer(self) -> str:
        return self.runtime.tokens.issuer

    async def token(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _oauth_error(
                400, "invalid_request", "send the request as application/x-www-form-urlencoded"
            )
        body = await request.body()
        if len(body) > 8192:
            return _oauth_error(400, "invalid_request", "the request is too large")
        form = await request.form()
        fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        grant = fields.get("grant_type")
        if grant != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "only the client_credentials grant is supported"
            )
        basic = _basic_credentials(request.headers.get("authorization"))
        body_creds = (fields.get("client_id"), fields.get("client_secret"))
        if basic and any(body_creds):
            return _oauth_error(400, "invalid_request", "use one client authentication method")
        client_id, secret = basic or body_creds
        if not client_id or not secret:
            return _oauth_error(
                401,
                "invalid_client",
                "client authentication is required",
                {"WWW-Authenticate": 'Basic realm="trama"'},
            )
        async with transaction() as session:
            client = await identity.authenticate_client(session, client_id=client_id, secret=secret)
            partner = (
                await session.get(Partner, client.partner_id)
                if client and client.partner_id
                else None
            )
        if client is None:
            return _oauth_error(
                401,
                "invalid_client",
                "unknown client or wrong secret",
                {"WWW-Authenticate": 'Basic realm="trama"'},
            )
        if partner is not None and not partner.active:
            return _oauth_error(400, "unauthorized_client", "the client's partner is not active")
        requested = fields.get("scope")
        scopes = list(client.scopes)
        if requested:
            asked = requested.split()
            unknown = sorted(set(asked) - set(client.scopes))
            if unknown:
                return _oauth_error(
                    400, "invalid_scope", f"not granted to this client: {' '.join(unknown)}"
                )
            scopes = sorted(set(asked))
        token, lifetime = self.runtime.tokens.issue(
            subject=client.client_id,
            roles=list(client.roles),
            scopes=scopes,
            partner=partner.code if partner else None,
            name=client.name,
            client_id=client.client_id,
        )
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": lifetime,
                "scope": " ".join(scopes),
            },
            headers=_NO_STORE,
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(
            self.runtime.keys.public_jwks(), headers={"Cache-Control": "public, max-age=300"}
        )

    async def openid_configuration(self, request: Request) -> Response:
        # Endpoints are named at the public address (never the request's Host: a forged
        # one would send clients' secrets elsewhere); the issuer is the configured one.
        base = public_base(self.runtime.settings, request)
        return JSONResponse(
            {
                "issuer": self._issuer(),
                "jwks_uri": f"{base}/.well-known/jwks.json",
                "token_endpoint": f"{base}/oauth/token",
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "scopes_supported": sorted(s.value for s in Scope),
                "claims_supported": [
                    "iss",
                    "aud",
                    "sub",
                    "oid",
                    "exp",
                    "iat",
                    "nbf",
                    "roles",
                    "scp",
                    "partner",
                    "client_id",
                    "name",
                ],
            },
            headers={"Cache-Control": "public, max-age=300"},
        )

"""A local stand-in for Microsoft Entra ID (Azure AD): a real HTTP server on 127.0.0.1.

It serves what a resource API reads from Entra, shaped like the real service:

- OpenID discovery, v2.0 (``/{tenant}/v2.0/.well-known/openid-configuration``, issuer
  ``https://login.microsoftonline.com/{tid}/v2.0``) and v1 (``/{tenant}/.well-known/
  openid-configuration``, issuer ``https://sts.windows.net/{tid}/``). For ``common`` and
  ``organizations`` the issuer keeps the literal ``{tenantid}`` placeholder, as Entra's does.
- The signing keys (``/{tenant}/discovery/v2.0/keys``, ``/{tenant}/discovery/keys``): RSA
  keys with ``kid``, ``x5t`` and a self-signed ``x5c`` certificate; v2 keys carry
  ``issuer``. :meth:`FakeEntra.rotate` starts signing with a new key (published beside the
  old ones), :meth:`FakeEntra.retire` stops publishing a key.
- A client-credentials token endpoint (``/{tenant}/oauth2/v2.0/token`` with
  ``scope=<app id uri>/.default``, ``/{tenant}/oauth2/token`` with ``resource=``) for the
  applications registered with :meth:`FakeEntra.register_app`: app-only tokens whose
  ``roles`` are the application permissions granted to it, and no ``scp``.
- User tokens are minted directly (:meth:`FakeEntra.user_token`): an interactive sign-in
  has no place in a test, the token it ends with does.

Access tokens follow the claims reference of the Microsoft identity platform: v1 tokens
have ``ver`` 1.0, ``appid``, ``appidacr``, ``upn``/``unique_name``, ``amr`` and an ``x5t``
header; v2 tokens have ``ver`` 2.0, ``azp``, ``azpacr`` and ``preferred_username``; both
carry ``tid``, ``oid``, a pairwise ``sub``, ``roles`` (app roles) and, for users, ``scp``.
Which version a token has depends on the API's registration (its
``accessTokenAcceptedVersion``), as with Entra: :attr:`FakeEntra.api_token_version`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwk, jwt

V2_ISSUER = "https://login.microsoftonline.com/{tenantid}/v2.0"
V1_ISSUER = "https://sts.windows.net/{tenantid}/"
#: Where Entra's tenant-independent endpoints keep the placeholder.
MULTI_TENANT = ("common", "organizations", "consumers")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    key: jwk.RSAKey
    x5t: str
    certificate: str  # base64 DER, for ``x5c``

    @property
    def kid(self) -> str:
        # Entra's kid is the certificate's SHA-1 thumbprint, base64url (the same as x5t).
        return self.x5t


def new_signing_key() -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.accesscontrol.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(private, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    x5t = b64url(hashlib.sha1(der, usedforsecurity=False).digest())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = jwk.RSAKey.import_key(pem, {"kid": x5t})
    return SigningKey(key=key, x5t=x5t, certificate=base64.b64encode(der).decode())


@dataclass
class RegisteredApp:
    """A client application: its secret and the application permissions (app roles of the
    API) an administrator of its tenant granted."""

    client_id: str
    secret: str
    tenant: str
    roles: list[str]
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class FakeEntra:
    """``with FakeEntra(api_client_id=…, app_id_uri=…) as entra: …`` (see the module doc)."""

    def __init__(
        self,
        *,
        api_client_id: str,
        app_id_uri: str,
        api_token_version: int = 2,
        lifetime: int = 3600,
    ) -> None:
        self.api_client_id = api_client_id
        self.app_id_uri = app_id_uri
        self.api_token_version = api_token_version
        self.lifetime = lifetime
        self.keys: list[SigningKey] = [new_signing_key()]
        self.signing: SigningKey = self.keys[0]
        self.apps: dict[str, RegisteredApp] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- the server ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "the fake Entra ID is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def discovery_url(self, tenant: str = "organizations", *, version: int = 2) -> str:
        middle = "/v2.0" if version == 2 else ""
        return f"{self.base_url}/{tenant}{middle}/.well-known/openid-configuration"

    def start(self) -> FakeEntra:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._record(self.path)
                status, body = fake._get(urlsplit(self.path).path)
                self._answer(status, body)

            def do_POST(self) -> None:
                fake._record(self.path)
                length = int(self.headers.get("content-length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                fields = {k: v[0] for k, v in form.items()}
                status, body = fake._post(urlsplit(self.path).path, fields, self.headers)
                self._answer(status, body)

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # a free loopback port
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeEntra:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, path: str) -> None:
        with self._lock:
            self.requests.append(urlsplit(path).path)

    def served(self, suffix: str) -> int:
        """How many requests asked for a path ending with ``suffix``."""
        with self._lock:
            return sum(1 for p in self.requests if p.endswith(suffix))

    # --- keys ---------------------------------------------------------------------------
    def rotate(self) -> SigningKey:
        """Sign with a new key from now on; the old ones stay published."""
        key = new_signing_key()
        with self._lock:
            self.keys.append(key)
            self.signing = key
        return key

    def retire(self, key: SigningKey) -> None:
        with self._lock:
            self.keys = [k for k in self.keys if k.kid != key.kid]

    def _jwks(self, *, issuer: str | None) -> dict[str, Any]:
        out = []
        with self._lock:
            keys = list(self.keys)
        for key in keys:
            public = key.key.as_dict(private=False)
            entry = {
                "kty": "RSA",
                "use": "sig",
                "kid": key.kid,
                "x5t": key.x5t,
                "n": public["n"],
                "e": public["e"],
                "x5c": [key.certificate],
            }
            if issuer is not None:
                entry["issuer"] = issuer
            out.append(entry)
        return {"keys": out}

    # --- endpoints ----------------------------------------------------------------------
    @staticmethod
    def _tenant_issuer(template: str, tenant: str) -> str:
        return template if tenant in MULTI_TENANT else template.replace("{tenantid}", tenant)

    def _get(self, path: str) -> tuple[int, dict[str, Any]]:
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2:
            return 404, {"error": "not_found"}
        tenant, rest = parts[0], "/".join(parts[1:])
        if rest == "v2.0/.well-known/openid-configuration":
            base = f"{self.base_url}/{tenant}"
            return 200, {
                "issuer": self._tenant_issuer(V2_ISSUER, tenant),
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "response_types_supported": ["code", "id_token", "code id_token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"],
                "tenant_region_scope": "SA",
            }
        if rest == ".well-known/openid-configuration":
            base = f"{self.base_url}/{tenant}"
            return 200, {
                "issuer": self._tenant_issuer(V1_ISSUER, tenant),
                "jwks_uri": f"{self.base_url}/common/discovery/keys",
                "token_endpoint": f"{base}/oauth2/token",
                "authorization_endpoint": f"{base}/oauth2/authorize",
                "response_types_supported": ["code", "id_token", "code id_token", "token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        if rest == "discovery/v2.0/keys":
            return 200, self._jwks(issuer=self._tenant_issuer(V2_ISSUER, tenant))
        if rest == "discovery/keys":
            return 200, self._jwks(issuer=None)
        return 404, {"error": "not_found", "error_description": f"no endpoint {path}"}

    def _post(self, path: str, form: dict[str, str], headers: Any) -> tuple[int, dict[str, Any]]:
        parts = [p for p in path.split("/") if p]
        if len(parts) < 3 or parts[1] != "oauth2" or parts[-1] != "token":
            return 404, {"error": "not_found"}
        tenant = parts[0]
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        authorization = headers.get("authorization") or ""
        if authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        app = self.apps.get(client_id)
        if app is None or app.secret != secret:
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215"}
        if tenant not in MULTI_TENANT and tenant != app.tenant:
            return 400, {"error": "invalid_request", "error_description": "AADSTS700016"}
        v2 = parts[2] == "v2.0"
        resource = form.get("scope", "").removesuffix("/.default") if v2 else form.get("resource")
        if resource not in (self.app_id_uri, self.api_client_id):
            return 400, {"error": "invalid_resource", "error_description": "AADSTS500011"}
        token = self.app_token(app, resource=resource)
        return 200, {"token_type": "Bearer", "expires_in": self.lifetime, "access_token": token}

    # --- tokens -------------------------------------------------------------------------
    def register_app(self, *, tenant: str, roles: list[str]) -> RegisteredApp:
        app = RegisteredApp(
            client_id=str(uuid.uuid4()), secret=uuid.uuid4().hex, tenant=tenant, roles=roles
        )
        self.apps[app.client_id] = app
        return app

    def _audience(self, version: int, resource: str | None) -> str:
        if version == 2:
            return self.api_client_id  # v2: always the API's client id
        return resource or self.app_id_uri  # v1: what the client asked for

    def _claims(
        self, *, version: int, tenant: str, oid: str, client_id: str, resource: str | None
    ) -> dict[str, Any]:
        now = int(time.time())
        template = V2_ISSUER if version == 2 else V1_ISSUER
        claims: dict[str, Any] = {
            "aud": self._audience(version, resource),
            "iss": template.replace("{tenantid}", tenant),
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "aio": b64url(uuid.uuid4().bytes),
            "oid": oid,
            "rh": "0.A" + b64url(uuid.uuid4().bytes),
            "tid": tenant,
            "uti": b64url(uuid.uuid4().bytes)[:22],
            "ver": "2.0" if version == 2 else "1.0",
        }
        if version == 2:
            claims.update({"azp": client_id, "azpacr": "1"})
        else:
            claims.update({"appid": client_id, "appidacr": "1"})
        return claims

    def sign(
        self, claims: dict[str, Any], *, version: int = 2, key: SigningKey | None = None
    ) -> str:
        key = key or self.signing
        header = {"typ": "JWT", "alg": "RS256", "kid": key.kid}
        if version == 1:
            header["x5t"] = key.x5t
        return jwt.encode(header, claims, key.key, algorithms=["RS256"])

    def app_token(self, app: RegisteredApp, *, resource: str | None = None) -> str:
        version = self.api_token_version
        claims = self._claims(
            version=version,
            tenant=app.tenant,
            oid=app.object_id,
            client_id=app.client_id,
            resource=resource,
        )
        claims["sub"] = app.object_id  # app-only: sub and oid are the service principal
        claims["idp"] = claims["iss"]
        if app.roles:
            claims["roles"] = list(app.roles)
        return self.sign(claims, version=version)

    def user_token(
        self,
        *,
        tenant: str,
        username: str,
        roles: list[str] | None = None,
        scp: str = "access_as_user",
        version: int | None = None,
        client_id: str | None = None,
        oid: str | None = None,
        name: str | None = None,
        key: SigningKey | None = None,
        **overrides: Any,
    ) -> str:
        """A delegated token of a user of ``tenant`` signed in to a client app, with the app
        roles the user was assigned (``roles``) and the scopes consented to (``scp``).
        ``overrides`` replace claims (``None`` removes one)."""
        version = version or self.api_token_version
        oid = oid or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{username}"))
        client = client_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/spa"))
        claims = self._claims(
            version=version, tenant=tenant, oid=oid, client_id=client, resource=None
        )
        # sub is pairwise: one value per user and client application.
        claims["sub"] = b64url(hashlib.sha256(f"{oid}|{client}".encode()).digest())[:43]
        claims["name"] = name or username.split("@")[0].replace(".", " ").title()
        claims["scp"] = scp
        if roles:
            claims["roles"] = list(roles)
        if version == 2:
            claims["preferred_username"] = username
        else:
            claims.update({"upn": username, "unique_name": username, "amr": ["pwd", "mfa"]})
            claims["family_name"], claims["given_name"] = "Test", claims["name"].split()[0]
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return self.sign(claims, version=version, key=key)


def running(**kwargs: Any) -> Iterator[FakeEntra]:
    """For fixtures: ``yield from running(...)`` starts the fake and always stops it."""
    entra = FakeEntra(**kwargs).start()
    try:
        yield entra
    finally:
        entra.stop()

"""Partner connectors: how Trama reaches each partner's platform to push case changes.

A connector holds an endpoint, the credentials Trama presents there, the secret it signs
every request with, a timeout and an enabled flag. Case administrators create and change
them; the sync worker reads them (:func:`connector_for_sync`).

Secrets (:data:`~domain.cases.models.SECRET_FIELDS`) are stored as given and never leave
this module towards a client, an audit record, an event or a log line: reads return a
:class:`ConnectorView` that says whether each secret is set and gives a short fingerprint
of it, so an administrator can tell which secret is configured without seeing it.

The endpoint and an OAuth ``token_url`` must be ``https``. Outside production, plain
``http`` is accepted for a loopback host (a platform simulator on the same machine); the
caller says which with ``allow_insecure_http``. Whatever the scheme, they must name a
partner's platform on the public internet, not one of our own machines or networks: an IP
literal or a name meaning this machine that is loopback, link-local (cloud metadata),
private, CGNAT, unspecified, multicast or reserved is refused here unless the caller's
:class:`~domain.shared.netguard.AddressPolicy` allows its network
(``TRAMA_CONNECTOR_ALLOWED_NETWORKS``). Names are judged again, after resolution, each time
the worker connects (``app/outbound.py``): what a name resolves to can change.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import scopes
from domain.cases.models import ConnectorAuth, PartnerConnector
from domain.partners.models import Partner
from domain.shared import audit, outbox, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, Forbidden, NotFound, Problems
from domain.shared.netguard import STRICT, AddressPolicy, is_loopback_name, parse_address
from domain.shared.principal import Principal
from domain.shared.sql import for_update
from domain.shared.time import utcnow

TOPIC = "partners.connector_changed"
DEFAULT_TIMEOUT_SECONDS = 5
MIN_TIMEOUT_SECONDS = 1
MAX_TIMEOUT_SECONDS = 30
SECRET_MIN_LENGTH = 32
SECRET_MAX_LENGTH = 200
_URL_MAX = 500
_CREDENTIALS_MAX = 2000
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$", re.ASCII)  # visible ASCII, no spaces


# --- what clients see -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConnectorView:
    """A connector as clients see it: secrets replaced by whether they are set and a
    fingerprint (the first 12 hex digits of their SHA-256)."""

    id: uuid.UUID
    partner_id: uuid.UUID
    endpoint_url: str
    auth_type: ConnectorAuth
    has_credentials: bool
    credentials_fingerprint: str | None
    signing_secret_fingerprint: str
    enabled: bool
    timeout_seconds: int
    created_at: datetime
    updated_at: datetime
    updated_by: str | None
    version: int


def fingerprint(secret: str | None) -> str | None:
    """``sha256:`` and 12 hex digits: enough to tell two secrets apart, too little to
    help guess one."""
    if not secret:
        return None
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def view_of(connector: PartnerConnector) -> ConnectorView:
    return ConnectorView(
        id=connector.id,
        partner_id=connector.partner_id,
        endpoint_url=connector.endpoint_url,
        auth_type=ConnectorAuth(connector.auth_type),
        has_credentials=bool(connector.auth_credentials),
        credentials_fingerprint=fingerprint(connector.auth_credentials),
        signing_secret_fingerprint=fingerprint(connector.signing_secret) or "",
        enabled=connector.enabled,
        timeout_seconds=connector.timeout_seconds,
        created_at=connector.created_at,
        updated_at=connector.updated_at,
        updated_by=connector.updated_by,
        version=connector.version,
    )


def _safe_snapshot(connector: PartnerConnector) -> dict[str, Any]:
    """For audit records: everything but the secrets, which appear as fingerprints."""
    return {
        "partner_id": connector.partner_id,
        "endpoint_url": connector.endpoint_url,
        "auth_type": connector.auth_type,
        "credentials_fingerprint": fingerprint(connector.auth_credentials),
        "signing_secret_fingerprint": fingerprint(connector.signing_secret),
        "enabled": connector.enabled,
        "timeout_seconds": connector.timeout_seconds,
        "version": connector.version,
    }


# --- access -----------------------------------------------------------------------------
def _ensure_can_manage(principal: Principal, partner_id: uuid.UUID) -> None:
    """Case administrators; one bound to a partner manages only that partner's."""
    scopes.ensure_can_administer(principal)
    if not principal.is_admin and principal.partner_id not in (None, partner_id):
        raise Forbidden("you can only manage your own partner's connector")


async def _partner(session: AsyncSession, partner_id: uuid.UUID) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("Partner", partner_id)
    return partner


async def _load(
    session: AsyncSession, partner_id: uuid.UUID, *, lock: bool = False
) -> PartnerConnector | None:
    stmt = sa.select(PartnerConnector).where(col(PartnerConnector.partner_id) == partner_id)
    if lock:
        stmt = for_update(stmt, session)
    stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalars().first()


# --- reading ----------------------------------------------------------------------------
async def get_connector(
    session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID
) -> ConnectorView | None:
    """The partner's connector without its secrets (None when it has none)."""
    _ensure_can_manage(principal, partner_id)
    await _partner(session, partner_id)
    connector = await _load(session, partner_id)
    return view_of(connector) if connector is not None else None


async def connector_for_sync(
    session: AsyncSession, partner_id: uuid.UUID
) -> PartnerConnector | None:
    """The partner's enabled connector, secrets included: for the sync worker only."""
    connector = await _load(session, partner_id)
    return connector if connector is not None and connector.enabled else None


async def enabled_partners(
    session: AsyncSession, partner_ids: Iterable[uuid.UUID | str]
) -> list[uuid.UUID]:
    """Those of ``partner_ids`` whose connector is enabled (one query)."""
    wanted = {uuid.UUID(str(p)) for p in partner_ids}
    if not wanted:
        return []
    stmt = (
        sa.select(col(PartnerConnector.partner_id))
        .where(
            col(PartnerConnector.partner_id).in_(sorted(wanted)),
            col(PartnerConnector.enabled).is_(True),
        )
        .order_by(col(PartnerConnector.partner_id))
    )
    return list((await session.execute(stmt)).scalars().all())


# --- validating -------------------------------------------------------------------------
def _is_loopback(host: str) -> bool:
    if is_loopback_name(host):
        return True
    address = parse_address(host)
    return address is not None and address.is_loopback


def _address_problem(host: str, policy: AddressPolicy) -> str | None:
    reason = policy.host_refusal(host)
    if reason is None:
        return None
    return (
        f"must name the partner's platform on the public internet ({reason}); a "
        "partner's private network must be allowed by TRAMA_CONNECTOR_ALLOWED_NETWORKS"
    )


def clean_endpoint(
    problems: Problems,
    field: str,
    value: str | None,
    *,
    allow_insecure_http: bool,
    address_policy: AddressPolicy = STRICT,
) -> str | None:
    """An absolute ``https`` URL without credentials or fragment (see the module doc)."""
    url = (value or "").strip()
    if not url:
        problems.add(field, "give the URL of the partner platform's endpoint")
        return None
    if len(url) > _URL_MAX:
        problems.add(field, f"at most {_URL_MAX} characters")
        return None
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        problems.add(field, "must not contain spaces or control characters")
        return None
    if pan.contains_pan(unquote(url)):  # %34%31… too
        problems.add(field, pan.MESSAGE)
        return None
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError:
        problems.add(field, "is not a valid URL")
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in ("https", "http") or not host:
        problems.add(field, "must be an absolute https:// URL")
        return None
    if parts.username is not None or parts.password is not None:
        problems.add(field, "must not carry credentials: put them in authCredentials")
        return None
    if parts.fragment:
        problems.add(field, "must not have a #fragment")
        return None
    if port == 0:
        problems.add(field, "port 0 is not a valid port")
        return None
    if scheme == "http":
        if not allow_insecure_http:
            problems.add(field, "must use https")
            return None
        if not _is_loopback(host):
            problems.add(field, "plain http is accepted only for a loopback host; use https")
            return None
    problem = _address_problem(host, address_policy)
    if problem is not None:
        problems.add(field, problem)
        return None
    return url


def _clean_auth(
    problems: Problems,
    auth_type: str | ConnectorAuth,
    credentials: str | None,
    *,
    allow_insecure_http: bool = False,
    address_policy: AddressPolicy | None = STRICT,
) -> tuple[ConnectorAuth | None, str | None]:
    """``address_policy`` None: credentials kept as they were, their token_url not judged
    again here (the worker judges every connection)."""
    try:
        kind = ConnectorAuth(auth_type)
    except ValueError:
        names = ", ".join(a.value for a in ConnectorAuth)
        problems.add("authType", f"must be one of {names}")
        return None, None
    if kind is ConnectorAuth.NONE:
        if credentials:
            problems.add("authCredentials", "not used with authType NONE; leave it out")
        return kind, None
    if not credentials:
        problems.add("authCredentials", f"required with authType {kind.value}")
        return kind, None
    if len(credentials) > _CREDENTIALS_MAX:
        problems.add("authCredentials", f"at most {_CREDENTIALS_MAX} characters")
        return kind, None
    if kind is ConnectorAuth.BEARER and not _PRINTABLE.match(credentials):
        problems.add("authCredentials", "a bearer token of visible characters, no spaces")
    elif kind is ConnectorAuth.BASIC:
        user, sep, password = credentials.partition(":")
        if not sep or not user or not password or "\n" in credentials or "\r" in credentials:
            problems.add("authCredentials", "use user:password")
    elif kind is ConnectorAuth.OAUTH2_CLIENT_CREDENTIALS:
        _check_oauth_credentials(
            problems,
            credentials,
            allow_insecure_http=allow_insecure_http,
            address_policy=address_policy,
        )
    return kind, credentials


def _check_oauth_credentials(
    problems: Problems,
    credentials: str,
    *,
    allow_insecure_http: bool = False,
    address_policy: AddressPolicy | None = STRICT,
) -> None:
    try:
        data = orjson.loads(credentials)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) and data.get(k) for k in ("token_url", "client_id")
    ):
        problems.add(
            "authCredentials",
            'a JSON object {"token_url": …, "client_id": …, "client_secret": …, '
            '"scope": … (optional)}',
        )
        return
    if not isinstance(data.get("client_secret"), str) or not data["client_secret"]:
        problems.add("authCredentials", "client_secret is required")
    if data.get("scope") is not None and not isinstance(data["scope"], str):
        problems.add("authCredentials", "scope must be a string")
    token_url = str(data["token_url"])
    try:
        parts = urlsplit(token_url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        problems.add("authCredentials", "token_url is not a valid URL")
        return
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        problems.add("authCredentials", "token_url must be an absolute URL")
        return
    if address_policy is None:
        return
    if parts.scheme == "http" and not (allow_insecure_http and _is_loopback(host)):
        problems.add("authCredentials", "token_url must use https")
        return
    problem = _address_problem(host, address_policy)
    if problem is not None:
        problems.add("authCredentials", f"token_url {problem}")


def parse_oauth_credentials(credentials: str) -> dict[str, str]:
    """The client-credentials settings of an OAUTH2_CLIENT_CREDENTIALS connector."""
    data = orjson.loads(credentials)
    return {k: str(v) for k, v in data.items() if v is not None}


def basic_authorization(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def _clean_secret(problems: Problems, secret: str | None) -> str | None:
    if secret is None:
        return None
    if not SECRET_MIN_LENGTH <= len(secret) <= SECRET_MAX_LENGTH:
        problems.add(
            "signingSecret",
            f"use {SECRET_MIN_LENGTH}-{SECRET_MAX_LENGTH} characters (a random string)",
        )
        return None
    if not _PRINTABLE.match(secret):
        problems.add("signingSecret", "use visible ASCII characters, no spaces")
        return None
    return secret


def _clean_timeout(problems: Problems, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add("timeoutSeconds", "must be a whole number of seconds")
    elif not MIN_TIMEOUT_SECONDS <= value <= MAX_TIMEOUT_SECONDS:
        problems.add(
            "timeoutSeconds", f"must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS}"
        )
    else:
        return value
    return None


# --- changing ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConnectorChanges:
    """What to set; ``None`` keeps the current value (on creation: the default).

    Secrets are write-only: give them to set or replace them, leave them out to keep
    them. Switching ``auth_type`` to NONE forgets the credentials.
    """

    endpoint_url: str | None = None
    auth_type: ConnectorAuth | str | None = None
    auth_credentials: str | None = None
    signing_secret: str | None = None
    enabled: bool | None = None
    timeout_seconds: int | None = None


def _change_kind(was_enabled: bool | None, after: PartnerConnector) -> str:
    if was_enabled is None:
        return "CREATED"
    if was_enabled != after.enabled:
        return "ENABLED" if after.enabled else "DISABLED"
    return "UPDATED"


async def upsert_connector(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID,
    changes: ConnectorChanges,
    expected_version: int | None = None,
    allow_insecure_http: bool = False,
    address_policy: AddressPolicy = STRICT,
) -> ConnectorView:
    """Create the partner's connector or change it.

    Creating needs the endpoint and the signing secret, and ``expected_version`` None (or
    0). Changing needs ``expected_version``, the version the caller read; a concurrent
    change makes this one a :class:`Conflict`. Audited; emits
    ``partners.connector_changed`` (ids and flags, never a secret).
    """
    _ensure_can_manage(principal, partner_id)
    await _partner(session, partner_id)
    current = await _load(session, partner_id, lock=True)
    if current is None and expected_version not in (None, 0):
        raise Conflict(
            "this partner has no connector yet; leave expectedVersion out to create one",
            current_version=0,
        )
    if current is not None and expected_version is None:
        raise Conflict(
            f"this partner already has a connector (version {current.version}); pass "
            "expectedVersion to change it",
            current_version=current.version,
        )
    if current is not None and current.version != expected_version:
        raise Conflict(
            f"the connector changed since version {expected_version}; it is now at version "
            f"{current.version}",
            current_version=current.version,
        )
    problems = Problems()
    endpoint = None
    if changes.endpoint_url is not None or current is None:
        endpoint = clean_endpoint(
            problems,
            "endpointUrl",
            changes.endpoint_url,
            allow_insecure_http=allow_insecure_http,
            address_policy=address_policy,
        )
    if changes.auth_type is None:
        auth_type: ConnectorAuth | str = (
            current.auth_type if current is not None else ConnectorAuth.NONE
        )
        keep = current is not None
    else:
        auth_type = changes.auth_type
        keep = current is not None and current.auth_type == str(
            getattr(auth_type, "value", auth_type)
        )
    credentials = changes.auth_credentials
    if credentials is None and keep and current is not None:
        credentials = current.auth_credentials  # write-only: left out means kept
    kind, credentials = _clean_auth(
        problems,
        auth_type,
        credentials,
        allow_insecure_http=allow_insecure_http,
        # Credentials kept as they were are not judged again (the worker judges each
        # connection); new ones are.
        address_policy=address_policy if changes.auth_credentials is not None else None,
    )
    secret = _clean_secret(problems, changes.signing_secret)
    if current is None and changes.signing_secret is None:
        problems.add("signingSecret", "required: the secret the platform checks signatures with")
    timeout = _clean_timeout(problems, changes.timeout_seconds)
    if changes.enabled is not None and not isinstance(changes.enabled, bool):
        problems.add("enabled", "must be true or false")
    problems.raise_if_any()
    assert kind is not None

    now = utcnow()
    before = _safe_snapshot(current) if current is not None else None
    was_enabled = current.enabled if current is not None else None
    if current is None:
        assert endpoint is not None and secret is not None
        connector = PartnerConnector(
            partner_id=partner_id,
            endpoint_url=endpoint,
            auth_type=kind.value,
            auth_credentials=credentials,
            signing_secret=secret,
            enabled=True if changes.enabled is None else changes.enabled,
            timeout_seconds=timeout or DEFAULT_TIMEOUT_SECONDS,
            created_at=now,
            updated_at=now,
            updated_by=principal.subject,
            version=1,
        )
        session.add(connector)
    else:
        connector = current
        if endpoint is not None:
            connector.endpoint_url = endpoint
        connector.auth_type = kind.value
        connector.auth_credentials = credentials
        if secret is not None:
            connector.signing_secret = secret
        if changes.enabled is not None:
            connector.enabled = changes.enabled
        if timeout is not None:
            connector.timeout_seconds = timeout
        connector.updated_at = now
        connector.updated_by = principal.subject
        connector.version += 1
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action=TOPIC,
        entity_type="PartnerConnector",
        entity_id=connector.id,
        before=before,
        after=_safe_snapshot(connector),
    )
    outbox.add(
        session,
        TOPIC,
        {
            "partnerId": wire.global_id("Partner", partner_id),
            "connectorId": str(connector.id),
            "version": connector.version,
            "enabled": connector.enabled,
            "change": _change_kind(was_enabled, connector),
        },
        partner_ids=[partner_id],
        key=wire.global_id("Partner", partner_id),
    )
    return view_of(connector)


async def set_connector_enabled(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID,
    enabled: bool,
    expected_version: int,
) -> ConnectorView:
    """Switch the partner's connector on or off (a disabled one receives no pushes; it
    catches up at the sync sweep after being enabled again)."""
    _ensure_can_manage(principal, partner_id)
    await _partner(session, partner_id)
    if await _load(session, partner_id) is None:
        raise NotFound("PartnerConnector", partner_id)
    return await upsert_connector(
        session,
        principal=principal,
        partner_id=partner_id,
        changes=ConnectorChanges(enabled=enabled),
        expected_version=expected_version,
    )


__all__ = [
    "ConnectorChanges",
    "ConnectorView",
    "basic_authorization",
    "clean_endpoint",
    "connector_for_sync",
    "enabled_partners",
    "fingerprint",
    "get_connector",
    "parse_oauth_credentials",
    "set_connector_enabled",
    "upsert_connector",
    "view_of",
]

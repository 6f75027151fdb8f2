"""Trama's public address: the base of every link it hands out, and the hosts it answers for.

A link built from a request's ``Host`` header is a link an attacker chooses: send
``Host: evil.example`` and the ``downloadUrl`` (or the discovery document's ``jwks_uri`` and
``token_endpoint``) points there, and the client that follows it hands over its token or
its client secret. So:

- links are made from ``TRAMA_PUBLIC_URL`` (required in production; elsewhere the request's
  own address stands in, for a developer's machine);
- :class:`TrustedHostMiddleware` refuses requests for any other host with 400
  (``BAD_REQUEST``) — in production always (``TRAMA_ALLOWED_HOSTS``, by default the host of
  ``TRAMA_PUBLIC_URL``), elsewhere when ``TRAMA_ALLOWED_HOSTS`` is set. The operational
  endpoints ``/healthz``, ``/readyz`` and ``/metrics`` answer whatever the ``Host``: load
  balancers and Prometheus reach each instance by its own address, and those answers
  contain no link.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

#: Paths answered whatever the Host: probes and scrapers address instances directly.
OPERATIONAL_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def check_public_url(value: str) -> str:
    """``scheme://host[:port][/path]``, http(s), no query, fragment or credentials; the
    trailing slash dropped."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"TRAMA_PUBLIC_URL {value!r} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(
            f"TRAMA_PUBLIC_URL {value!r} must be an absolute URL such as https://api.example.com"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(
            f"TRAMA_PUBLIC_URL {value!r} must not have credentials, a query or a fragment"
        )
    return text.rstrip("/")


def effective_allowed_hosts(settings: Any) -> list[str] | None:
    """The host patterns enforced, or None when any host is accepted."""
    hosts = [h.strip().lower() for h in settings.allowed_hosts if h.strip()]
    if not hosts and settings.is_production and settings.public_url:
        hosts = [str(urlsplit(settings.public_url).hostname).lower()]
    if not hosts or "*" in hosts:
        return None
    return hosts


def production_problems(settings: Any) -> list[str]:
    """What keeps these settings from serving in production (empty: nothing)."""
    if not settings.is_production:
        return []
    problems = []
    if not settings.public_url:
        problems.append(
            "TRAMA_PUBLIC_URL is required in production: the URL clients reach Trama at "
            "(https://api.example.com). Download links and the OpenID discovery document are "
            "made from it, never from a request's Host header."
        )
    elif urlsplit(settings.public_url).scheme != "https" and not _loopback(settings.public_url):
        # plain http only where nothing leaves the machine (a benchmark, a local sidecar)
        problems.append(f"TRAMA_PUBLIC_URL must use https in production ({settings.public_url})")
    for issuer in settings.trusted_issuers:
        for url in issuer.urls():
            if urlsplit(url).scheme != "https":
                problems.append(
                    f"TRAMA_TRUSTED_ISSUERS: {url} must use https in production "
                    f"(issuer {issuer.issuers[0]})"
                )
    return problems


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(host: str, patterns: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def _host_of(header: str | None) -> str | None:
    """The host name of a ``Host`` header (port dropped, IPv6 brackets kept off)."""
    if not header:
        return None
    value = header.strip()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else None
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if port and not port.isdigit():
        return None
    return host or None


class TrustedHostMiddleware:
    """Refuses requests whose ``Host`` is not one of ``patterns`` (see the module doc)."""

    def __init__(self, app: ASGIApp, patterns: list[str]) -> None:
        for pattern in patterns:
            if "*" in pattern[1:] or (pattern.startswith("*") and not pattern.startswith("*.")):
                raise ValueError(f"TRAMA_ALLOWED_HOSTS: {pattern!r}: use '*.example.com'")
        self.app = app
        self.patterns = patterns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPERATIONAL_PATHS:
            await self.app(scope, receive, send)
            return
        host = _host_of(Headers(scope=scope).get("host"))
        if host is not None and host_allowed(host, self.patterns):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # Closing before accepting refuses the handshake (403).
            await send({"type": "websocket.close", "code": 1008, "reason": "unknown host"})
            return
        message = "this server does not answer for that host (the Host header)"
        body = orjson.dumps(
            {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def public_base(settings: Any, request: Any) -> str:
    """Where links point: TRAMA_PUBLIC_URL; outside production without it, the address
    the request reached (a developer's machine); in production without it, nothing (the
    links stay relative)."""
    if settings is not None and settings.public_url:
        return str(settings.public_url)
    if settings is not None and settings.is_production:
        return ""
    base = getattr(request, "base_url", None)
    if base is None:
        return ""
    scheme = {"ws": "http", "wss": "https"}.get(base.scheme, base.scheme)
    return f"{scheme}://{base.netloc}"

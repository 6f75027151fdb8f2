"""``POST /webhooks/{source}``: the one inbox for outside systems' webhooks (DESIGN §6).

For each delivery: the source's verifier checks the signature on the RAW body (constant
time); a refused delivery is answered 401 with a code and nothing is stored. A verified one
is stored raw with the key the sender makes unique (``domain/webhooks/service.py``) in a
short transaction and answered at once ``202 {"duplicate": false, ...}`` (``200`` with
``"duplicate": true`` when that key is stored already: a replay or a sender's retry is
acknowledged, never processed twice). The worker ``webhooks.process`` does the work later.

A source is declared by a module listed in :data:`SOURCE_MODULES` calling
:func:`register_source` with a factory ``(settings) -> WebhookSource``:

- ``verify(headers, body)`` raises :class:`SignatureRefused` (401),
  :class:`SourceNotConfigured` (503, e.g. no secret set) or :class:`PayloadRefused` (400);
- ``dedup_key(headers, body)`` the sender's unique key for the delivery;
- ``keep_headers``: header names stored with the delivery.

Errors are JSON ``{"error": {"code": ..., "message": ...}}``: unknown source 404
``NOT_FOUND``, body over TRAMA_WEBHOOK_MAX_BODY_BYTES 413 ``PAYLOAD_TOO_LARGE``.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.db import transaction
from app.settings import Settings
from domain.webhooks import service

log = logging.getLogger("trama.webhooks")

#: Modules that declare webhook sources (imported when the endpoint is built).
SOURCE_MODULES: tuple[str, ...] = ("app.webhooks_calcom", "app.docuseal")


class WebhookRefused(Exception):
    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class SignatureRefused(WebhookRefused):
    status = 401
    code = "INVALID_SIGNATURE"


class PayloadRefused(WebhookRefused):
    status = 400
    code = "INVALID_PAYLOAD"


class SourceNotConfigured(WebhookRefused):
    status = 503
    code = "WEBHOOK_NOT_CONFIGURED"


Verifier = Callable[[Headers, bytes], None]
DedupKey = Callable[[Headers, bytes], str]


@dataclass(frozen=True)
class WebhookSource:
    name: str
    verify: Verifier
    dedup_key: DedupKey
    keep_headers: tuple[str, ...] = ("content-type", "user-agent")


SourceFactory = Callable[[Settings], WebhookSource]
_FACTORIES: dict[str, SourceFactory] = {}


def register_source(name: str, factory: SourceFactory) -> SourceFactory:
    current = _FACTORIES.get(name)
    if current is not None and current is not factory:
        raise ValueError(f"webhook source {name!r} is declared twice")
    _FACTORIES[name] = factory
    return factory


def unregister_source(name: str) -> None:
    """Tests only: forget a source declared for a test."""
    _FACTORIES.pop(name, None)


def hmac_sha256_hex(secret: str | bytes, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def check_hex_signature(secret: str | bytes, body: bytes, given: str | None) -> None:
    """Refuse unless ``given`` is the hex HMAC-SHA256 of the raw ``body`` (constant time;
    case-insensitive hex, an optional ``sha256=`` prefix tolerated)."""
    if not given:
        raise SignatureRefused("the delivery carries no signature", code="MISSING_SIGNATURE")
    value = given.strip()
    if value.lower().startswith("sha256="):
        value = value[7:]
    expected = hmac_sha256_hex(secret, body)
    if not hmac.compare_digest(expected.encode(), value.lower().encode("ascii", "replace")):
        raise SignatureRefused("the signature does not match the body")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class WebhookEndpoint:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        for module in SOURCE_MODULES:
            importlib.import_module(module)

    def source(self, name: str) -> WebhookSource | None:
        factory = _FACTORIES.get(name)
        return factory(self.settings) if factory is not None else None

    async def _body(self, request: Request) -> bytes | None:
        limit = self.settings.webhook_max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return None
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                return None
        return bytes(body)

    async def handle(self, request: Request) -> Response:
        name = str(request.path_params["source"])
        source = self.source(name)
        if source is None:
            return _error(404, "NOT_FOUND", f"no webhook source {name!r}")
        body = await self._body(request)
        if body is None:
            return _error(
                413,
                "PAYLOAD_TOO_LARGE",
                f"the body is over {self.settings.webhook_max_body_bytes} bytes",
            )
        try:
            source.verify(request.headers, body)
            dedup_key = source.dedup_key(request.headers, body)
        except WebhookRefused as exc:
            log.warning("webhook %s refused: %s (%s)", name, exc.code, exc.message)
            return _error(exc.status, exc.code, exc.message)
        kept: Mapping[str, str] = {
            h: request.headers[h] for h in source.keep_headers if h in request.headers
        }
        async with transaction() as session:
            delivery, is_new = await service.record_delivery(
                session, source=name, dedup_key=dedup_key, body=body, headers=kept
            )
        return JSONResponse(
            {"received": True, "duplicate": not is_new, "deliveryId": str(delivery.id)},
            status_code=202 if is_new else 200,
        )

"""Report files: where they are kept and the signed links that fetch them
(``GET /reports/{id}/{format}``, served by ``app/report_files.py``).

Files live in the attachments' store (``TRAMA_ATTACHMENTS_STORE``: local disk or S3) under
``reports/<id>/csv|xlsx``. A link is signed like an attachment's — HMAC-SHA256 with the
same secret, over its own domain tag, the report, the format, the expiry and the principal
it was made for — and is valid ``TRAMA_REPORT_LINK_TTL`` seconds.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

from app.settings import Settings
from app.storage import LinkCheck, build_store, load_or_create_secret
from domain.cases.attachments import FileStore
from domain.shared.principal import Principal

__all__ = ["ReportLinkSigner", "report_signer", "report_store"]


class ReportLinkSigner:
    """``sig = HMAC-SHA256(secret, "trama-report-link-v1", id, format, exp, iss, sub)``."""

    def __init__(self, secret: bytes, *, ttl: int, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 32:
            raise ValueError("the link secret must have at least 32 bytes")
        self._secret = secret
        self.ttl = ttl
        self.clock = clock

    def _mac(self, report_id: uuid.UUID, fmt: str, exp: int, principal: Principal) -> str:
        message = "\n".join(
            (
                "trama-report-link-v1",
                str(report_id),
                fmt,
                str(exp),
                principal.issuer or "",
                principal.subject,
            )
        )
        digest = hmac.new(self._secret, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def path(self, report_id: uuid.UUID, fmt: str, principal: Principal) -> str:
        exp = int(self.clock()) + self.ttl
        sig = self._mac(report_id, fmt, exp, principal)
        return f"/reports/{report_id}/{fmt}?{urlencode({'exp': exp, 'sig': sig})}"

    def check(
        self, report_id: uuid.UUID, fmt: str, exp: str | None, sig: str | None, principal: Principal
    ) -> LinkCheck:
        if not exp or not sig or not exp.isascii() or not exp.isdigit() or len(exp) > 12:
            return LinkCheck.INVALID
        expected = self._mac(report_id, fmt, int(exp), principal)
        if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
            return LinkCheck.INVALID
        if int(exp) < self.clock():
            return LinkCheck.EXPIRED
        return LinkCheck.VALID


def _secret(settings: Settings) -> bytes:
    if settings.attachment_link_secret is not None:
        return settings.attachment_link_secret.get_secret_value().encode()
    return load_or_create_secret(settings.var_dir / "keys" / "attachment-links.key")


@functools.cache
def _signer(secret: bytes, ttl: int) -> ReportLinkSigner:
    return ReportLinkSigner(secret, ttl=ttl)


def report_signer(settings: Settings) -> ReportLinkSigner:
    return _signer(_secret(settings), settings.report_link_ttl)


_stores: dict[tuple[str, str, str | None, str | None], FileStore] = {}


def report_store(settings: Settings) -> FileStore:
    """The store report files are kept in (one per process and configuration)."""
    key = (
        settings.attachments_store,
        str(settings.var_dir.resolve()),
        settings.s3_bucket,
        settings.s3_endpoint_url,
    )
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = build_store(settings)
    return store

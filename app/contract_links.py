"""Signed links to a contract's PDF (``GET /contracts/{id}/{document}``, served by
``app/contract_files.py``): HMAC-SHA256 with the attachments' link secret, over their own
domain tag, the contract, the document (``unsigned`` | ``signed``), the expiry and the
principal they were made for; valid ``TRAMA_ATTACHMENT_LINK_TTL`` seconds."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

from app.report_links import _secret
from app.settings import Settings
from app.storage import LinkCheck
from domain.shared.principal import Principal

__all__ = ["ContractLinkSigner", "contract_signer"]


class ContractLinkSigner:
    """``sig = HMAC-SHA256(secret, "trama-contract-link-v1", id, document, exp, iss, sub)``."""

    def __init__(self, secret: bytes, *, ttl: int, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 32:
            raise ValueError("the link secret must have at least 32 bytes")
        self._secret = secret
        self.ttl = ttl
        self.clock = clock

    def _mac(self, contract_id: uuid.UUID, document: str, exp: int, principal: Principal) -> str:
        message = "\n".join(
            (
                "trama-contract-link-v1",
                str(contract_id),
                document,
                str(exp),
                principal.issuer or "",
                principal.subject,
            )
        )
        digest = hmac.new(self._secret, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def path(self, contract_id: uuid.UUID, document: str, principal: Principal) -> str:
        exp = int(self.clock()) + self.ttl
        sig = self._mac(contract_id, document, exp, principal)
        return f"/contracts/{contract_id}/{document}?{urlencode({'exp': exp, 'sig': sig})}"

    def check(
        self,
        contract_id: uuid.UUID,
        document: str,
        exp: str | None,
        sig: str | None,
        principal: Principal,
    ) -> LinkCheck:
        if not exp or not sig or not exp.isascii() or not exp.isdigit() or len(exp) > 12:
            return LinkCheck.INVALID
        expected = self._mac(contract_id, document, int(exp), principal)
        if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
            return LinkCheck.INVALID
        if int(exp) < self.clock():
            return LinkCheck.EXPIRED
        return LinkCheck.VALID


@functools.cache
def _signer(secret: bytes, ttl: int) -> ContractLinkSigner:
    return ContractLinkSigner(secret, ttl=ttl)


def contract_signer(settings: Settings) -> ContractLinkSigner:
    return _signer(_secret(settings), settings.attachment_link_ttl)

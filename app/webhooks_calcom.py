"""``POST /webhooks/calcom``: Cal.com's deliveries into the webhook inbox.

Verified with ``X-Cal-Signature-256`` (``domain/crm/calcom.py``); refused when
TRAMA_CALCOM_WEBHOOK_SECRET is unset (503), when the header is missing, wrong or
``no-secret-provided`` (401), when a correctly signed body is not a Cal.com delivery (400).
"""

from __future__ import annotations

from starlette.datastructures import Headers

from app.settings import Settings
from app.webhooks import (
    PayloadRefused,
    SignatureRefused,
    SourceNotConfigured,
    WebhookSource,
    register_source,
)
from domain.crm import calcom


def calcom_source(settings: Settings) -> WebhookSource:
    secret = (
        settings.calcom_webhook_secret.get_secret_value()
        if settings.calcom_webhook_secret is not None
        else None
    )

    def verify(headers: Headers, body: bytes) -> None:
        if not secret:
            raise SourceNotConfigured("Cal.com webhooks are not configured (no secret)")
        try:
            calcom.verify_signature(secret, body, headers.get(calcom.SIGNATURE_HEADER))
        except calcom.SignatureProblem as exc:
            raise SignatureRefused(exc.message, code=exc.code) from None

    def dedup(headers: Headers, body: bytes) -> str:
        try:
            return calcom.dedup_key(body)
        except ValueError as exc:
            raise PayloadRefused(str(exc)) from None

    return WebhookSource(
        calcom.SOURCE,
        verify,
        dedup,
        keep_headers=("content-type", "user-agent", calcom.SIGNATURE_HEADER),
    )


register_source(calcom.SOURCE, calcom_source)

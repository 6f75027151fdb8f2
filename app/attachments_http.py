"""``GET /attachments/{id}?exp=…&sig=…``: download a case attachment through its link.

A link alone is not enough. The request must also carry a Bearer token, and:

1. the signature must be the one Trama made for this attachment, this expiry and the
   token's principal (issuer and subject): a link leaked to someone else, or tampered
   with, is refused (403);
2. the link must not have expired (410);
3. the principal must still see the case, and the attachment (internal ones: staff of the
   involved partners), and may see the case's personal data in clear — checked now, not
   when the link was made (404 when it cannot see it, 403 when the customers' rule masks
   the case for it: ``domain.cases.scopes.pii_visible``).

The bytes are streamed with the type detected on upload, as an attachment (never shown
inline), with ``nosniff`` and a sandboxing CSP.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import AsyncIterator
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.auth.tokens import TokenError
from app.db import read_session
from app.runtime import Runtime
from app.storage import LinkCheck
from domain.cases import attachments
from domain.cases.attachments import StoredFileMissing
from domain.shared.errors import Forbidden, NotFound
from domain.shared.ids import parse_uuid

log = logging.getLogger("trama.attachments")


def _problem(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _unauthenticated(message: str, error: str | None = None) -> Response:
    challenge = 'Bearer realm="trama"' + (f', error="{error}"' if error else "")
    return _problem(401, "UNAUTHENTICATED", message, {"WWW-Authenticate": challenge})


def content_disposition(file_name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name (RFC 6266, 8187)."""
    ascii_name = unicodedata.normalize("NFKD", file_name).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(c if c.isprintable() and c not in '"\\;' else "_" for c in ascii_name)
    ascii_name = ascii_name.strip() or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name, safe='')}"


class AttachmentDownloads:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def download(self, request: Request) -> Response:
        services = self.runtime.attachments
        if services is None:
            return _problem(404, "NOT_FOUND", "attachments are not served here")
        attachment_id = parse_uuid(str(request.path_params.get("id", "")))
        if attachment_id is None:
            return _problem(404, "NOT_FOUND", "no such attachment")
        try:
            principal = await self.runtime.authenticator.authenticate(
                request.headers.get("authorization")
            )
        except TokenError as exc:
            return _unauthenticated(exc.message, "invalid_token")
        if principal is None:
            return _unauthenticated(
                "a download link needs the Bearer token of the person it was made for"
            )
        check = services.signer.check(
            attachment_id,
            request.query_params.get("exp"),
            request.query_params.get("sig"),
            principal,
        )
        if check is LinkCheck.INVALID:
            return _problem(
                403, "FORBIDDEN", "this download link is not valid (or was made for someone else)"
            )
        if check is LinkCheck.EXPIRED:
            return _problem(
                410, "LINK_EXPIRED", "this download link has expired: ask for a new one"
            )
        try:
            async with read_session() as session:
                attachment = await attachments.get_for_download(
                    session, principal=principal, attachment_id=attachment_id
                )
        except NotFound:
            return _problem(404, "NOT_FOUND", "no such attachment")
        except Forbidden as exc:
            return _problem(403, "FORBIDDEN", exc.message)
        chunks = services.store.stream(attachment.storage_key)
        try:
            first = await anext(chunks, b"")
        except StoredFileMissing:
            log.error(
                "attachment %s: the store has no file under %s",
                attachment.id,
                attachment.storage_key,
            )
            return _problem(500, "INTERNAL", "the file is missing from the store")
        log.info(
            "attachment %s downloaded by %s",
            attachment.id,
            principal.subject,
            extra={"attachment_id": str(attachment.id), "case_id": str(attachment.case_id)},
        )
        return StreamingResponse(
            _joined(first, chunks),
            media_type=attachment.content_type,
            headers={
                "Content-Length": str(attachment.size_bytes),
                "Content-Disposition": content_disposition(attachment.file_name),
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, no-store",
                "Referrer-Policy": "no-referrer",
                "X-Attachment-SHA256": attachment.sha256,
            },
        )


async def _joined(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk

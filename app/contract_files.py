"""``GET /contracts/{id}/{document}?exp=…&sig=…``: download a contract's PDF (``unsigned``: the
one sent for signature; ``signed``: DocuSeal's, kept when every party signed).

Links are signed like the reports' (HMAC-SHA256 with the attachments' link secret, over
their own domain tag, the contract, the document, the expiry and the principal they were
made for) and valid ``TRAMA_ATTACHMENT_LINK_TTL`` seconds. A link works only with the
Bearer token of that principal, who must still be allowed to read the contract when it is
fetched; the bytes are checked against the SHA-256 recorded with the contract.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from app.attachments_http import _problem, _unauthenticated, content_disposition
from app.auth.tokens import TokenError
from app.contract_links import contract_signer
from app.db import read_session
from app.report_links import report_store
from app.settings import Settings
from app.storage import LinkCheck
from domain.cases.attachments import StoredFileMissing
from domain.origination import contracts
from domain.shared.errors import Forbidden, NotFound
from domain.shared.ids import parse_uuid

log = logging.getLogger("trama.contracts")

DOCUMENTS = ("unsigned", "signed")


class ContractDownloads:
    def __init__(self, runtime: object) -> None:
        self.runtime = runtime

    async def download(self, request: Request) -> Response:
        runtime = self.runtime
        settings: Settings = runtime.settings  # type: ignore[attr-defined]
        contract_id = parse_uuid(str(request.path_params.get("id", "")))
        document = str(request.path_params.get("document", ""))
        if contract_id is None or document not in DOCUMENTS:
            return _problem(404, "NOT_FOUND", "no such contract document")
        try:
            principal = await runtime.authenticator.authenticate(  # type: ignore[attr-defined]
                request.headers.get("authorization")
            )
        except TokenError as exc:
            return _unauthenticated(exc.message, "invalid_token")
        if principal is None:
            return _unauthenticated(
                "a download link needs the Bearer token of the person it was made for"
            )
        check = contract_signer(settings).check(
            contract_id,
            document,
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
                contract, data = await contracts.read_document(
                    session,
                    principal=principal,
                    store=report_store(settings),
                    contract_id=contract_id,
                    which=document,
                )
        except NotFound:
            return _problem(404, "NOT_FOUND", "no such contract document")
        except Forbidden as exc:
            log.error("contract %s (%s): %s", contract_id, document, exc.message)
            return _problem(500, "INTERNAL", "the stored document does not match its hash")
        except StoredFileMissing:
            log.error("contract %s: the store has no %s document", contract_id, document)
            return _problem(500, "INTERNAL", "the file is missing from the store")
        log.info("contract %s (%s) downloaded by %s", contract_id, document, principal.subject)
        digest = contract.signed_sha256 if document == "signed" else contract.unsigned_sha256
        return Response(
            data,
            media_type="application/pdf",
            headers={
                "Content-Disposition": content_disposition(
                    f"{contract.reference}{'-firmado' if document == 'signed' else ''}.pdf"
                ),
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, no-store",
                "Referrer-Policy": "no-referrer",
                "X-Contract-SHA256": digest or "",
            },
        )

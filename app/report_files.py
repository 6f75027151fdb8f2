"""``GET /reports/{id}/{format}?exp=…&sig=…``: download a kept report's CSV or XLSX.

The link (``app/report_links.py``) works only with the Bearer token of the principal it was
made for, who must still be allowed to read the lender's reports when the file is fetched;
the bytes are checked against the hash recorded with the report.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from app.attachments_http import _problem, _unauthenticated, content_disposition
from app.auth.tokens import TokenError
from app.db import read_session
from app.report_links import report_signer, report_store
from app.settings import Settings
from app.storage import LinkCheck
from domain.cases.attachments import StoredFileMissing
from domain.collections.reports import service as reports
from domain.shared.errors import Forbidden, NotFound, ValidationFailed
from domain.shared.ids import parse_uuid

log = logging.getLogger("trama.reports")

FORMATS = ("csv", "xlsx")


class ReportDownloads:
    def __init__(self, runtime: object) -> None:
        self.runtime = runtime

    async def download(self, request: Request) -> Response:
        runtime = self.runtime
        settings: Settings = runtime.settings  # type: ignore[attr-defined]
        report_id = parse_uuid(str(request.path_params.get("id", "")))
        fmt = str(request.path_params.get("format", ""))
        if report_id is None or fmt not in FORMATS:
            return _problem(404, "NOT_FOUND", "no such report file")
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
        check = report_signer(settings).check(
            report_id,
            fmt,
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
        store = report_store(settings)
        try:
            async with read_session() as session:
                report, data = await reports.read_file(
                    session, principal=principal, store=store, report_id=report_id, fmt=fmt
                )
        except NotFound:
            return _problem(404, "NOT_FOUND", "no such report")
        except ValidationFailed as exc:
            return _problem(400, "VALIDATION", exc.message)
        except Forbidden as exc:
            return _problem(403, "FORBIDDEN", exc.message)
        except StoredFileMissing:
            log.error("report %s: the store has no %s file", report_id, fmt)
            return _problem(500, "INTERNAL", "the file is missing from the store")
        log.info("report %s (%s) downloaded by %s", report_id, fmt, principal.subject)
        return Response(
            data,
            media_type=reports.CONTENT_TYPES[fmt],
            headers={
                "Content-Disposition": content_disposition(reports.file_name(report, fmt)),
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, no-store",
                "Referrer-Policy": "no-referrer",
                "X-Report-SHA256": report.csv_sha256 if fmt == "csv" else report.xlsx_sha256,
            },
        )

"""A fake DocuSeal for the tests: the API calls Trama uses, and its webhooks.

API (``X-Auth-Token`` checked on every call, 401 otherwise), as DocuSeal answers them:

- ``POST /api/submissions/pdf`` (the submission with its ``submitters``) and
  ``POST /api/submissions`` (a template's: the list of submitters);
- ``GET /api/submitters?external_id=…|submission_id=…`` (``{"data": [...], "pagination"}``);
- ``GET /api/submissions/{id}`` with ``documents[].url`` links that expire: every link
  carries a generation, and :meth:`FakeDocuseal.expire_links` makes all links given so far
  answer 403 (as DocuSeal's signed storage URLs do once expired);
- ``GET /files/{token}``: a document's bytes.

Webhooks: :meth:`webhook` builds the body DocuSeal sends for an event, :meth:`signed_headers`
signs it (``X-Docuseal-Signature: <ts>.<hex HMAC-SHA256(secret, "<ts>.<body>")>``), with a
wrong secret or an old timestamp on request.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pypdf import PdfReader, PdfWriter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.origination.docuseal import sign
from domain.shared.time import isoformat, utcnow


@dataclass
class FakeSubmitter:
    id: int
    submission_id: int
    role: str
    email: str
    name: str
    external_id: str | None
    status: str = "sent"
    completed_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "submission_id": self.submission_id,
            "uuid": f"uuid-{self.id}",
            "slug": f"slug{self.id}",
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "external_id": self.external_id,
            "status": self.status,
            "completed_at": self.completed_at,
            "metadata": {},
        }


@dataclass
class FakeSubmission:
    id: int
    name: str
    document: bytes
    submitters: list[FakeSubmitter]
    template_id: int | None = None
    status: str = "pending"
    signed: bytes | None = None

    def as_json(self, links: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "slug": f"sub{self.id}",
            "source": "api",
            "status": self.status,
            "submitters_order": "preserved",
            "audit_log_url": f"https://docuseal.test/audit/{self.id}.pdf",
            "combined_document_url": None,
            "created_at": "2026-12-02T18:00:00.000Z",
            "completed_at": None,
            "submitters": [s.as_json() for s in self.submitters],
            "documents": links,
        }


@dataclass
class FakeDocuseal:
    api_key: str = "test-docuseal-key"
    webhook_secret: bytes = b"test-docuseal-webhook-secret"
    base_url: str = "http://docuseal.test"
    submissions: dict[int, FakeSubmission] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: Answer the next N API calls with a 500 (DocuSeal down).
    fail_next: int = 0
    #: Answer a create with a 500 *after* making the submission (the answer is lost).
    lose_create_answer: bool = False
    generation: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1001))
    _links: dict[str, tuple[int, int]] = field(default_factory=dict)

    # --- the app --------------------------------------------------------------------
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/submissions/pdf", self._create_pdf, methods=["POST"]),
                Route("/api/submissions", self._create_template, methods=["POST"]),
                Route("/api/submitters", self._list_submitters, methods=["GET"]),
                Route("/api/submissions/{id:int}", self._get_submission, methods=["GET"]),
                Route("/files/{token}", self._file, methods=["GET"]),
            ]
        )

    def _refuse(self, request: Request) -> Response | None:
        self.requests.append((request.method, request.url.path))
        if request.headers.get("x-auth-token") != self.api_key:
            return JSONResponse({"error": "Not authenticated"}, status_code=401)
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"error": "Internal Server Error"}, status_code=500)
        return None

    def _make(
        self, body: dict[str, Any], document: bytes, template_id: int | None
    ) -> FakeSubmission:
        submission_id = next(self._ids)
        people = [
            FakeSubmitter(
                id=next(self._ids),
                submission_id=submission_id,
                role=str(p["role"]),
                email=str(p["email"]),
                name=str(p.get("name") or ""),
                external_id=p.get("external_id"),
            )
            for p in body.get("submitters") or []
        ]
        submission = FakeSubmission(
            submission_id, str(body.get("name") or "template"), document, people, template_id
        )
        self.submissions[submission_id] = submission
        return submission

    async def _create_pdf(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused:
            return refused
        body = await request.json()
        documents = body.get("documents") or []
        if not documents or not body.get("submitters"):
            return JSONResponse({"error": "documents and submitters are required"}, 422)
        document = base64.b64decode(documents[0]["file"])
        if not document.startswith(b"%PDF-"):
            return JSONResponse({"error": "Invalid PDF"}, 422)
        roles = {p.get("role") for p in body["submitters"]}
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages)
        for role in roles:  # the PDF's text tags must name every role
            if f"role={role};" not in text:
                return JSONResponse({"error": f"Unknown submitter role: {role}"}, 422)
        submission = self._make(body, document, None)
        if self.lose_create_answer:
            self.lose_create_answer = False
            return JSONResponse({"error": "Gateway Timeout"}, status_code=504)
        return JSONResponse(submission.as_json(self._links_for(submission)))

    async def _create_template(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused:
            return refused
        body = await request.json()
        submission = self._make(body, _blank_pdf(), int(body["template_id"]))
        return JSONResponse([s.as_json() for s in submission.submitters])

    async def _list_submitters(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused:
            return refused
        external = request.query_params.get("external_id")
        submission = request.query_params.get("submission_id")
        rows = [
            s
            for sub in self.submissions.values()
            for s in sub.submitters
            if (external is None or s.external_id == external)
            and (submission is None or str(s.submission_id) == submission)
        ]
        return JSONResponse(
            {
                "data": [s.as_json() for s in rows],
                "pagination": {"count": len(rows), "next": None, "prev": None},
            }
        )

    async def _get_submission(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused:
            return refused
        submission = self.submissions.get(int(request.path_params["id"]))
        if submission is None:
            return JSONResponse({"error": "Not found"}, status_code=404)
        return JSONResponse(submission.as_json(self._links_for(submission)))

    def _links_for(self, submission: FakeSubmission) -> list[dict[str, str]]:
        token = secrets.token_hex(8)
        self._links[token] = (submission.id, self.generation)
        return [{"name": submission.name, "url": f"{self.base_url}/files/{token}"}]

    async def _file(self, request: Request) -> Response:
        self.requests.append((request.method, "/files"))
        found = self._links.get(str(request.path_params["token"]))
        if found is None or found[1] != self.generation:
            return Response("Request has expired", status_code=403)
        submission = self.submissions[found[0]]
        data = submission.signed or submission.document
        return Response(data, media_type="application/pdf")

    def expire_links(self) -> None:
        """Every document link handed out so far stops working."""
        self.generation += 1

    # --- what the signers do ------------------------------------------------------------
    def only(self) -> FakeSubmission:
        assert len(self.submissions) == 1, self.submissions
        return next(iter(self.submissions.values()))

    def complete(self, submission: FakeSubmission) -> None:
        """Every signer signed: the signed PDF is the sent one with the signatures'
        metadata added (other bytes, still a PDF)."""
        for submitter in submission.submitters:
            submitter.status = "completed"
            submitter.completed_at = isoformat(utcnow())
        submission.status = "completed"
        writer = PdfWriter(clone_from=io.BytesIO(submission.document))
        writer.add_metadata({"/DocuSealSubmission": str(submission.id)})
        out = io.BytesIO()
        writer.write(out)
        submission.signed = out.getvalue()

    # --- webhooks -----------------------------------------------------------------------
    def webhook(
        self,
        event_type: str,
        submission: FakeSubmission,
        *,
        submitter: FakeSubmitter | None = None,
        at: datetime | None = None,
        decline_reason: str | None = None,
    ) -> bytes:
        stamp = isoformat(at or utcnow()).replace("000Z", "Z")
        links = self._links_for(submission)
        if event_type.startswith("form."):
            assert submitter is not None
            data: dict[str, Any] = {
                **submitter.as_json(),
                "submission": {
                    "id": submission.id,
                    "status": submission.status,
                    "audit_log_url": f"https://docuseal.test/audit/{submission.id}.pdf",
                    "combined_document_url": None,
                },
                "documents": links,
                "audit_log_url": f"https://docuseal.test/audit/{submission.id}.pdf",
            }
            if decline_reason is not None:
                data["decline_reason"] = decline_reason
        else:
            data = submission.as_json(links)
        return json.dumps({"event_type": event_type, "timestamp": stamp, "data": data}).encode()

    def signed_headers(
        self, body: bytes, *, at: int, secret: bytes | None = None
    ) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "x-docuseal-signature": sign(secret or self.webhook_secret, body, at),
        }


def _blank_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()

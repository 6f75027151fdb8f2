"""DocuSeal: the API client (contracts out) and the webhook source (events in).

API calls used (``X-Auth-Token: <TRAMA_DOCUSEAL_API_KEY>``, JSON):

- ``POST /submissions/pdf`` ``{name, documents: [{name, file: <base64>}], submitters,
  send_email, order}``: a one-off submission from the generated contract; the signature
  fields come from the PDF's text tags. Or, with ``TRAMA_DOCUSEAL_TEMPLATE_ID``,
  ``POST /submissions`` ``{template_id, submitters, send_email, order}``. Each submitter is
  ``{role, email, name, external_id}``; ``external_id`` is Trama's ``<contract>:<role>``.
- ``GET /submitters?external_id=…``: on a retried send, the submission DocuSeal may already
  have made for the contract (so a retry never makes a second one).
- ``GET /submissions/{id}``: the submission with fresh ``documents[].url`` and
  ``audit_log_url`` (download links expire: they are fetched right before downloading).

The webhook source ``docuseal`` (``POST /webhooks/docuseal``) is declared here for the inbox
of ``app/webhooks.py``: it checks ``X-Docuseal-Signature`` (or the configured custom header)
and keys deliveries on ``(event_type, data.id, timestamp)``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.datastructures import Headers

from app.settings import Settings
from app.webhooks import (
    PayloadRefused,
    SignatureRefused,
    SourceNotConfigured,
    WebhookSource,
    register_source,
)
from domain.origination import docuseal as hooks

log = logging.getLogger("trama.docuseal")

USER_AGENT = "Trama-DocuSeal/1"
#: Status codes worth trying again later; other 4xx mean the request itself is wrong.
RETRYABLE = frozenset({408, 425, 429})
#: Largest signed document accepted (bytes).
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


class DocusealUnavailable(Exception):
    """DocuSeal could not be reached or failed (5xx, timeout): try again later."""


class DocusealRefused(Exception):
    """DocuSeal refused the request (4xx): retrying the same request cannot help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"DocuSeal answered {status}: {message}")
        self.status = status


class LinkExpired(Exception):
    """A document link no longer works (expired): ask DocuSeal for fresh ones."""


class DocusealNotConfigured(Exception):
    pass


@dataclass(frozen=True)
class SubmitterSpec:
    role: str
    email: str
    name: str
    external_id: str


@dataclass(frozen=True)
class CreatedSubmission:
    submission_id: int
    #: external_id -> DocuSeal submitter id
    submitters: dict[str, int]


@dataclass(frozen=True)
class SubmissionDocuments:
    submission_id: int
    status: str
    documents: list[tuple[str, str]]  # (name, url)
    combined_document_url: str | None
    audit_log_url: str | None


class DocusealClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "X-Auth-Token": api_key,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        self.timeout = timeout
        self._transport = transport

    @classmethod
    def from_settings(cls, settings: Settings) -> DocusealClient:
        if not settings.docuseal_url or settings.docuseal_api_key is None:
            raise DocusealNotConfigured(
                "TRAMA_DOCUSEAL_URL and TRAMA_DOCUSEAL_API_KEY must be set to send contracts"
            )
        return cls(
            settings.docuseal_url,
            settings.docuseal_api_key.get_secret_value(),
            timeout=settings.docuseal_timeout,
        )

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            headers=self._headers,
            timeout=self.timeout,
            transport=self._transport,
            trust_env=False,
        )

    async def _call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        try:
            async with self._client() as client:
                response = await client.request(
                    method, f"{self.base_url}{path}", json=json, params=params
                )
        except httpx.HTTPError as exc:
            raise DocusealUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code in RETRYABLE:
            raise DocusealUnavailable(f"{method} {path}: HTTP {response.status_code}")
        if response.status_code >= 300:
            raise DocusealRefused(response.status_code, _error_text(response))
        try:
            return response.json()
        except ValueError:
            raise DocusealUnavailable(f"{method} {path}: the answer is not JSON") from None

    # --- submissions ------------------------------------------------------------------
    async def create_submission(
        self,
        *,
        name: str,
        submitters: list[SubmitterSpec],
        pdf: bytes | None = None,
        template_id: int | None = None,
        send_email: bool = True,
    ) -> CreatedSubmission:
        people = [
            {"role": s.role, "email": s.email, "name": s.name, "external_id": s.external_id}
            for s in submitters
        ]
        if template_id is not None:
            answer = await self._call(
                "POST",
                "/submissions",
                json={
                    "template_id": template_id,
                    "send_email": send_email,
                    "order": "preserved",
                    "submitters": people,
                },
            )
        else:
            if pdf is None:
                raise ValueError("a submission needs a template or a document")
            answer = await self._call(
                "POST",
                "/submissions/pdf",
                json={
                    "name": name,
                    "send_email": send_email,
                    "order": "preserved",
                    "documents": [
                        {"name": f"{name}.pdf", "file": base64.b64encode(pdf).decode("ascii")}
                    ],
                    "submitters": people,
                },
            )
        return _created(answer)

    async def find_submission(self, external_id: str) -> CreatedSubmission | None:
        """The submission whose submitter carries ``external_id`` (a send that DocuSeal
        carried out although Trama never heard the answer), with all its submitters."""
        answer = await self._call("GET", "/submitters", params={"external_id": external_id})
        rows = answer.get("data") if isinstance(answer, dict) else answer
        if not rows:
            return None
        submission_id = int(rows[0]["submission_id"])
        siblings = await self._call("GET", "/submitters", params={"submission_id": submission_id})
        rows = siblings.get("data") if isinstance(siblings, dict) else siblings
        return CreatedSubmission(
            submission_id,
            {str(r["external_id"]): int(r["id"]) for r in rows or [] if r.get("external_id")},
        )

    async def get_submission(self, submission_id: int) -> SubmissionDocuments:
        answer = await self._call("GET", f"/submissions/{int(submission_id)}")
        documents = [
            (str(d.get("name") or "document"), str(d["url"]))
            for d in answer.get("documents") or []
            if d.get("url")
        ]
        return SubmissionDocuments(
            submission_id=int(answer["id"]),
            status=str(answer.get("status") or ""),
            documents=documents,
            combined_document_url=answer.get("combined_document_url"),
            audit_log_url=answer.get("audit_log_url"),
        )

    async def download(self, url: str) -> bytes:
        """A signed document's bytes. Links expire: 401/403/404/410 is :class:`LinkExpired`."""
        try:
            async with (
                httpx.AsyncClient(
                    headers={"User-Agent": USER_AGENT},
                    timeout=self.timeout,
                    transport=self._transport,
                    trust_env=False,
                    follow_redirects=True,
                    max_redirects=3,
                ) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code in (401, 403, 404, 410):
                    raise LinkExpired(f"the document link answered {response.status_code}")
                if response.status_code >= 300:
                    raise DocusealUnavailable(f"document download: HTTP {response.status_code}")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data.extend(chunk)
                    if len(data) > MAX_DOCUMENT_BYTES:
                        raise DocusealRefused(413, "the signed document is too large")
                return bytes(data)
        except httpx.HTTPError as exc:
            raise DocusealUnavailable(f"document download: {type(exc).__name__}") from exc

    async def download_signed(
        self, submission_id: int, *, attempts: int = 3, backoff: float = 0.5
    ) -> tuple[bytes, SubmissionDocuments]:
        """Fresh links, then the signed PDF at once; an expired link gets fresh links and
        another try (with a short backoff), up to ``attempts``."""
        last: Exception | None = None
        for attempt in range(attempts):
            submission = await self.get_submission(submission_id)
            url = _signed_document_url(submission)
            if url is None:
                raise DocusealUnavailable(f"submission {submission_id} lists no signed document")
            try:
                return await self.download(url), submission
            except LinkExpired as exc:
                last = exc
                if attempt + 1 < attempts:
                    await asyncio.sleep(backoff * (2**attempt))
        raise DocusealUnavailable(f"the signed document links kept expiring: {last}")


def _signed_document_url(submission: SubmissionDocuments) -> str | None:
    if len(submission.documents) == 1:
        return submission.documents[0][1]
    if submission.combined_document_url:
        return submission.combined_document_url
    return submission.documents[0][1] if submission.documents else None


def _created(answer: Any) -> CreatedSubmission:
    """``POST /submissions`` answers the list of submitters; ``/submissions/pdf`` the
    submission with its ``submitters``."""
    if isinstance(answer, dict):
        rows = answer.get("submitters") or []
        submission_id = answer.get("id")
    else:
        rows = list(answer or [])
        submission_id = rows[0].get("submission_id") if rows else None
    if submission_id is None or not rows:
        raise DocusealUnavailable("DocuSeal's answer names no submission")
    return CreatedSubmission(
        int(submission_id),
        {str(r["external_id"]): int(r["id"]) for r in rows if r.get("external_id")},
    )


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"])[:500]
    except ValueError:
        pass
    return response.text[:500] or response.reason_phrase


# --- the webhook source ---------------------------------------------------------------
def webhook_source(settings: Settings) -> WebhookSource:
    secret = settings.docuseal_webhook_secret
    header = (settings.docuseal_webhook_header or "").strip().lower()
    header_value = settings.docuseal_webhook_header_value

    def verify(headers: Headers, body: bytes) -> None:
        try:
            if secret is not None:
                hooks.verify_signature(
                    headers.get(hooks.SIGNATURE_HEADER),
                    body,
                    secret=secret.get_secret_value().encode(),
                    tolerance=settings.docuseal_webhook_tolerance,
                )
            elif header and header_value is not None:
                hooks.verify_header_value(headers.get(header), header_value.get_secret_value())
            else:
                raise SourceNotConfigured(
                    "DocuSeal webhooks need TRAMA_DOCUSEAL_WEBHOOK_SECRET (or a custom header)"
                )
        except hooks.SignatureInvalid as exc:
            raise SignatureRefused(exc.message, code=exc.code) from None

    def dedup_key(headers: Headers, body: bytes) -> str:
        try:
            return hooks.dedup_key(hooks.parse_event(body))
        except hooks.PayloadInvalid as exc:
            raise PayloadRefused(str(exc)) from None

    return WebhookSource(
        name="docuseal",
        verify=verify,
        dedup_key=dedup_key,
        keep_headers=("content-type", "user-agent", hooks.SIGNATURE_HEADER),
    )


register_source("docuseal", webhook_source)

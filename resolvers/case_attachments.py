"""Case attachments: ``attachCaseFile`` (GraphQL multipart upload), ``caseAttachments``,
and ``node`` for ``CaseAttachment``.

The upload arrives as a file object the HTTP edge parsed (``app/graphql_uploads.py``). It
is read here, at most one byte past the limit, and handed to the domain with the file
store. If the transaction does not commit after the domain stored the bytes, the stored
file is removed again.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.file_uploads import Upload
from strawberry.types import Info

from app.db import read_session
from app.file_checks import ChecksBusy
from app.hosts import public_base
from domain.cases import attachments, scopes
from domain.cases.attachments import AttachmentView
from domain.cases.models import Visibility
from domain.shared.errors import DomainError, NotFound, ValidationFailed
from domain.shared.principal import Principal
from resolvers.context import principal_of
from resolvers.errors import mutate, to_error_type
from resolvers.ids import decode_node_id, encode_node_id, require_node_id
from schema.case_attachments import (
    AttachCaseFilePayload,
    AttachCaseFileSuccess,
    CaseAttachment,
)

log = logging.getLogger("trama.attachments")


def _services(info: Info) -> Any:
    services = info.context.attachments
    if services is None:
        raise RuntimeError("attachments are not configured in this process")
    return services


def _download_url(info: Info, principal: Principal, view: AttachmentView) -> str | None:
    if not view.downloadable:
        return None
    path: str = _services(info).signer.path(view.id, principal)
    # TRAMA_PUBLIC_URL, never the request's Host: a forged one would send the token there.
    return public_base(info.context.settings, info.context.request) + path


def to_type(info: Info, principal: Principal, view: AttachmentView) -> CaseAttachment:
    return CaseAttachment.from_view(
        view,
        case_id=encode_node_id("Case", view.case_id),
        download_url=_download_url(info, principal, view),
    )


async def _read_upload(file: Any, max_bytes: int) -> tuple[bytes, str | None, str | None]:
    """The bytes (at most one past the limit, so the domain can say it is too large), the
    name and the declared type of an uploaded file."""
    if not (hasattr(file, "read") and hasattr(file, "filename")):
        raise ValidationFailed.on(
            "file", "send the file as a multipart request (GraphQL multipart request spec)"
        )
    content = await file.read(max_bytes + 1)
    return content, file.filename, getattr(file, "content_type", None)


async def attach_case_file(
    info: Info,
    case_id: strawberry.ID,
    version: int,
    file: Upload,
    visibility: Visibility = Visibility.INTERNAL,
) -> AttachCaseFilePayload:
    """Attach a file to a case (send it as a GraphQL multipart request)."""
    principal = principal_of(info)
    services = _services(info)
    stored: list[str] = []

    async def check() -> tuple[uuid.UUID, attachments.CheckedFile]:
        scopes.ensure_can_write(principal)  # before any argument is judged
        key = require_node_id(case_id, "Case", "caseId")
        content, name, declared = await _read_upload(file, services.max_bytes)
        # Sniffing and the card-number search are CPU work on a stranger's bytes: in the
        # bounded pool of worker processes, with a time limit (app/file_checks.py), and
        # before the transaction so no lock waits for them.
        try:
            inspected = await services.checks.inspect(
                content, file_name=name, declared_type=declared
            )
        except ChecksBusy as exc:
            raise GraphQLError(
                f"too many files are being checked: send it again in {exc.retry_after} s",
                extensions={"code": "RATE_LIMITED", "retryAfter": exc.retry_after},
            ) from None
        return key, attachments.CheckedFile(content=content, inspected=inspected)

    async def work(session: AsyncSession) -> AttachCaseFileSuccess:
        result = await attachments.attach_file(
            session,
            principal=principal,
            store=services.store,
            case_id=key,
            expected_version=version,
            file=checked,
            visibility=visibility,
        )
        if result.created:
            stored.append(result.attachment.storage_key)
        view = await attachments.view_for(session, principal, result.attachment)
        return AttachCaseFileSuccess(
            attachment=to_type(info, principal, view),
            case_id=strawberry.ID(encode_node_id("Case", result.case_id)),
            case_version=result.case_version,
            created=result.created,
        )

    try:
        key, checked = await check()
    except DomainError as exc:
        error = to_error_type(exc)
        if error is None:
            raise
        return error
    committed = False
    try:
        payload = await mutate(AttachCaseFilePayload, work)
        committed = isinstance(payload, AttachCaseFileSuccess)
        return payload
    finally:
        if stored and not committed:
            for stored_key in stored:
                try:
                    await attachments.forget(services.store, stored_key)
                except Exception:
                    log.warning(
                        "could not remove the uncommitted file %s", stored_key, exc_info=True
                    )


async def case_attachments(info: Info, case_id: strawberry.ID) -> list[CaseAttachment]:
    """The files attached to a case, oldest first."""
    principal = principal_of(info)
    scopes.ensure_can_read(principal)
    key = require_node_id(case_id, "Case", "caseId")
    async with read_session() as session:
        views = await attachments.list_attachments(session, principal=principal, case_id=key)
    return [to_type(info, principal, v) for v in views]


async def attachment_nodes(info: Info, node_ids: list[str]) -> list[CaseAttachment | None]:
    """``node(id:)`` for attachments: null for one the principal cannot see."""
    principal = principal_of(info)
    scopes.ensure_can_read(principal)
    keys: list[uuid.UUID | None] = [decode_node_id(n, "CaseAttachment") for n in node_ids]
    out: list[CaseAttachment | None] = []
    async with read_session() as session:
        for key in keys:
            if key is None:
                out.append(None)
                continue
            try:
                view = await attachments.get_attachment(
                    session, principal=principal, attachment_id=key
                )
            except NotFound:
                out.append(None)
                continue
            out.append(to_type(info, principal, view))
    return out

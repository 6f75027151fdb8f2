"""Files attached to a case: attach, list, fetch for download.

The bytes live in a :class:`FileStore` the edge injects (local disk or an S3-compatible
store, ``app/storage.py``); the ``case_attachments`` row keeps the metadata: the name as
cleaned, the type detected from the bytes, the size, the SHA-256, and the store key —
Trama's own (``cases/<case id>/<attachment id>``), never anything the client sent.

Rules:

- attaching is a change of the case (like a comment): staff of any involved partner (and
  administrators) may attach; it takes the version the caller read and bumps it; it writes
  a timeline entry, an audit record and a ``cases.attachment_added`` event. The event and
  the timeline carry no file name (names often hold a person's name or ID number); the
  audit record keeps it.
- the same bytes attached again to the same case are the same attachment: the call returns
  the existing one and changes nothing, whatever version it names (a retried upload whose
  answer was lost does not conflict and does not duplicate).
- the file is written to the store last, after every check and after the rows are flushed;
  if the transaction then fails, the edge deletes it (:func:`forget`).
- reading follows the case: an attachment of a case the principal cannot see does not
  exist; internal attachments are shown only to the involved partners' staff (like internal
  comments); names are masked and downloads refused where the case's personal data is
  masked for the principal (:func:`domain.cases.scopes.pii_visible`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import journal, presenters, rules, scopes
from domain.cases.attachment_rules import DEFAULT_MAX_BYTES, Inspected, inspect
from domain.cases.models import Case, CaseAttachment, TimelineKind, Visibility
from domain.cases.reads import get_case
from domain.shared import event_schemas as wire
from domain.shared.errors import Forbidden, NotFound, Problems, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.principal import Principal
from domain.shared.time import utcnow

#: Most attachments one case may hold.
MAX_PER_CASE = 100
TOPIC = "cases.attachment_added"


class FileStore(Protocol):
    """Where attachment bytes live. Keys are Trama's own; a store may refuse others."""

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write ``data`` under ``key`` whole or not at all (readers never see a part)."""

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`StoredFileMissing` when there are none."""

    def stream(self, key: str, *, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        """The bytes under ``key`` in chunks; :class:`StoredFileMissing` when there are none
        (raised by the first iteration)."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""


class StoredFileMissing(NotFound):
    """The row names a key the store does not hold (an operator's problem, not the user's)."""

    def __init__(self, key: str) -> None:
        super().__init__("stored file", key)


class AttachmentNotFound(NotFound):
    """No such attachment, or none the principal may see (the two are not told apart)."""

    def __init__(self, key: object) -> None:
        super().__init__("CaseAttachment", key)


def storage_key(case_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
    return f"cases/{case_id}/{attachment_id}"


@dataclass(frozen=True, slots=True)
class AttachResult:
    attachment: CaseAttachment
    #: False when the same bytes were already attached (nothing changed).
    created: bool
    case_id: uuid.UUID
    case_version: int


# --- attach -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CheckedFile:
    """Bytes that passed every rule of :mod:`domain.cases.attachment_rules`."""

    content: bytes
    inspected: Inspected


def check_file(
    content: bytes,
    *,
    file_name: str | None,
    declared_type: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> CheckedFile:
    """Every rule on the bytes, before any transaction opens (searching a large text for
    card numbers takes a while: the edge may run this in a worker thread)."""
    inspected = inspect(
        content, file_name=file_name, declared_type=declared_type, max_bytes=max_bytes
    )
    return CheckedFile(content=content, inspected=inspected)


async def attach_file(
    session: AsyncSession,
    *,
    principal: Principal,
    store: FileStore,
    case_id: uuid.UUID,
    expected_version: int,
    file: CheckedFile,
    visibility: Visibility | str = Visibility.INTERNAL,
) -> AttachResult:
    scopes.ensure_can_write(principal)
    problems = Problems()
    clean_visibility = rules.visibility(problems, "visibility", visibility)
    problems.raise_if_any()
    assert clean_visibility is not None
    inspected = file.inspected
    case = await journal.load_for_change(session, principal=principal, case_id=case_id)
    if not await scopes.can_comment(session, principal, case):
        raise Forbidden(f"only the partners involved in case {case.reference} can attach files")
    existing = await _same_bytes(session, case.id, inspected.sha256)
    if existing is not None:
        return AttachResult(existing, created=False, case_id=case.id, case_version=case.version)
    journal.ensure_version(case, expected_version)
    count = await session.scalar(
        sa.select(sa.func.count()).where(col(CaseAttachment.case_id) == case.id)
    )
    if (count or 0) >= MAX_PER_CASE:
        raise ValidationFailed.on(
            "file", f"case {case.reference} already has {MAX_PER_CASE} files, the most it can hold"
        )
    attachment = _new_row(principal, case, inspected, clean_visibility)
    session.add(attachment)
    case.version += 1
    case.updated_at = attachment.uploaded_at
    facts = {
        "attachment_id": attachment.id,
        "content_type": attachment.content_type,
        "size_bytes": attachment.size_bytes,
        "sha256": attachment.sha256,
        "visibility": attachment.visibility,
    }
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=TimelineKind.ATTACHMENT_ADDED,
        topic=TOPIC,
        after=facts,
        visibility=clean_visibility,
        audit_after={
            **facts,
            "file_name": attachment.file_name,
            "storage_key": attachment.storage_key,
        },
        payload={
            "attachmentId": wire.global_id("CaseAttachment", attachment.id),
            "contentType": attachment.content_type,
            "sizeBytes": attachment.size_bytes,
            "sha256": attachment.sha256,
            "visibility": attachment.visibility,
        },
    )
    await session.flush()
    await store.put(attachment.storage_key, file.content, content_type=attachment.content_type)
    return AttachResult(attachment, created=True, case_id=case.id, case_version=case.version)


def _new_row(
    principal: Principal, case: Case, inspected: Inspected, visibility: Visibility
) -> CaseAttachment:
    attachment_id = uuid7()
    return CaseAttachment(
        id=attachment_id,
        case_id=case.id,
        file_name=inspected.file_name,
        content_type=inspected.content_type,
        size_bytes=inspected.size_bytes,
        sha256=inspected.sha256,
        storage_key=storage_key(case.id, attachment_id),
        visibility=visibility.value,
        uploaded_by=principal.subject,
        uploaded_by_partner_id=principal.partner_id,
        uploaded_at=utcnow(),
    )


async def _same_bytes(
    session: AsyncSession, case_id: uuid.UUID, sha256: str
) -> CaseAttachment | None:
    stmt = (
        sa.select(CaseAttachment)
        .where(col(CaseAttachment.case_id) == case_id, col(CaseAttachment.sha256) == sha256)
        .order_by(col(CaseAttachment.uploaded_at))
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


async def forget(store: FileStore, key: str) -> None:
    """Remove a file whose transaction did not commit (best effort; the edge calls it)."""
    await store.delete(key)


# --- read -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AttachmentView:
    """An attachment as a principal may see it."""

    id: uuid.UUID
    case_id: uuid.UUID
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    visibility: str
    uploaded_by: str
    uploaded_by_partner_id: uuid.UUID | None
    uploaded_at: datetime
    #: False when personal data is masked for the principal: no name, no download.
    downloadable: bool


def present(attachment: CaseAttachment, *, masked: bool) -> AttachmentView:
    name = attachment.file_name
    if masked:
        dot = name.rfind(".")
        name = presenters.MASK + (name[dot:] if dot > 0 else "")
    return AttachmentView(
        id=attachment.id,
        case_id=attachment.case_id,
        file_name=name,
        content_type=attachment.content_type,
        size_bytes=attachment.size_bytes,
        sha256=attachment.sha256,
        visibility=attachment.visibility,
        uploaded_by=presenters.MASK if masked else attachment.uploaded_by,
        uploaded_by_partner_id=attachment.uploaded_by_partner_id,
        uploaded_at=attachment.uploaded_at,
        downloadable=not masked,
    )


async def view_for(
    session: AsyncSession, principal: Principal, attachment: CaseAttachment
) -> AttachmentView:
    """An attachment the principal may see (it just attached it, say), as it may see it."""
    return present(attachment, masked=await _masked(session, principal, attachment.case_id))


async def _internal_for(session: AsyncSession, principal: Principal, case: Case) -> bool:
    if principal.is_admin:
        return True
    return presenters.sees_internal(principal, await journal.involved_partners(session, case))


async def _masked(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> bool:
    """Whether the case's personal data (its files' names and bytes) is masked for the
    principal: the case's rule, :func:`scopes.pii_visible`."""
    return case_id not in await scopes.pii_visible_cases(session, principal, [case_id])


async def list_attachments(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID
) -> list[AttachmentView]:
    """A case's attachments, oldest first (at most :data:`MAX_PER_CASE`)."""
    case = await get_case(session, principal=principal, case_id=case_id)
    stmt = sa.select(CaseAttachment).where(col(CaseAttachment.case_id) == case.id)
    if not await _internal_for(session, principal, case):
        stmt = stmt.where(col(CaseAttachment.visibility) == Visibility.CUSTOMER.value)
    stmt = stmt.order_by(col(CaseAttachment.uploaded_at), col(CaseAttachment.id)).limit(
        MAX_PER_CASE
    )
    masked = await _masked(session, principal, case.id)
    rows = (await session.execute(stmt)).scalars().all()
    return [present(a, masked=masked) for a in rows]


async def get_attachment(
    session: AsyncSession, *, principal: Principal, attachment_id: uuid.UUID
) -> AttachmentView:
    """One attachment the principal may see (else :class:`AttachmentNotFound`)."""
    attachment = await _visible(session, principal, attachment_id)
    return present(attachment, masked=await _masked(session, principal, attachment.case_id))


async def get_for_download(
    session: AsyncSession, *, principal: Principal, attachment_id: uuid.UUID
) -> CaseAttachment:
    """The attachment whose bytes the principal may fetch: it sees the case now, it may
    see the attachment (internal ones: involved staff), and it may read personal data."""
    attachment = await _visible(session, principal, attachment_id)
    if await _masked(session, principal, attachment.case_id):
        raise Forbidden(
            "attachments may hold personal data: downloading them needs the customer's "
            "personal data in clear (the partners involved, consent, or pii:read)"
        )
    return attachment


async def _visible(
    session: AsyncSession, principal: Principal, attachment_id: uuid.UUID
) -> CaseAttachment:
    scopes.ensure_can_read(principal)
    attachment = await session.get(CaseAttachment, attachment_id)
    if attachment is None:
        raise AttachmentNotFound(attachment_id)
    case = (
        (
            await session.execute(
                sa.select(Case).where(
                    col(Case.id) == attachment.case_id,
                    scopes.visible_to(principal, scopes.widest_view(principal)),
                )
            )
        )
        .scalars()
        .first()
    )
    if case is None:
        raise AttachmentNotFound(attachment_id)
    if attachment.visibility != Visibility.CUSTOMER.value and not await _internal_for(
        session, principal, case
    ):
        raise AttachmentNotFound(attachment_id)
    return attachment

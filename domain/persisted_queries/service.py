"""Add, list and remove the documents of the allow-list.

The GraphQL checks (the document parses and validates against the schema) are the API's,
made before :func:`add_documents` is called; here: the hash is the document's, and a
batch is added or refused whole.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.persisted_queries.models import PersistedQuery
from domain.shared import audit
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.principal import Principal

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
#: The largest document accepted (a persisted document is sent by hash, so size is only
#: storage; TRAMA_MAX_BODY_BYTES bounds what a client may register through APQ anyway).
MAX_DOCUMENT_CHARS = 1_000_000


def document_hash(document: str) -> str:
    """The hex SHA-256 of the document's UTF-8 text, as Apollo clients compute it."""
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewDocument:
    document: str
    operation_names: list[str]
    source: str | None = None
    #: The hash a manifest declared for it (checked against the text), if any.
    declared_hash: str | None = None


@dataclass(frozen=True)
class AddResult:
    sha256: str
    added: bool  # False: it was registered already (same text, same hash)


async def add_documents(
    session: AsyncSession, *, principal: Principal, documents: Sequence[NewDocument]
) -> list[AddResult]:
    """Register ``documents`` (all or nothing); one already registered is left as it was."""
    if not documents:
        raise ValidationFailed.on("documents", "give at least one document")
    hashes: list[str] = []
    for index, item in enumerate(documents):
        where = item.source or f"document {index + 1}"
        if not item.document.strip():
            raise ValidationFailed.on("document", f"{where}: the document is empty")
        if len(item.document) > MAX_DOCUMENT_CHARS:
            raise ValidationFailed.on(
                "document", f"{where}: longer than {MAX_DOCUMENT_CHARS} characters"
            )
        sha = document_hash(item.document)
        if item.declared_hash is not None and item.declared_hash.lower() != sha:
            raise ValidationFailed.on(
                "sha256",
                f"{where}: the manifest says {item.declared_hash}, the document's SHA-256 is {sha}",
            )
        hashes.append(sha)
    existing = set(
        (
            await session.execute(
                sa.select(col(PersistedQuery.sha256)).where(col(PersistedQuery.sha256).in_(hashes))
            )
        ).scalars()
    )
    results: list[AddResult] = []
    seen: set[str] = set()
    for sha, item in zip(hashes, documents, strict=True):
        if sha in existing or sha in seen:
            results.append(AddResult(sha, False))
            continue
        seen.add(sha)
        session.add(
            PersistedQuery(
                sha256=sha,
                document=item.document,
                operation_names=list(item.operation_names),
                source=item.source[:300] if item.source else None,
                added_by=principal.subject[:200],
            )
        )
        audit.record(
            session,
            principal=principal,
            action="persisted_query.added",
            entity_type="persisted_query",
            entity_id=sha,
            after={"operations": list(item.operation_names), "source": item.source},
        )
        results.append(AddResult(sha, True))
    await session.flush()
    return results


async def remove_documents(
    session: AsyncSession, *, principal: Principal, hashes: Sequence[str]
) -> int:
    """Remove the documents of ``hashes`` (all or nothing: an unknown hash removes none)."""
    wanted = [h.lower() for h in hashes]
    for value in wanted:
        if not SHA256_HEX.match(value):
            raise ValidationFailed.on("sha256", f"{value!r} is not a hex SHA-256")
    rows = {
        row.sha256: row
        for row in (
            await session.execute(
                sa.select(PersistedQuery).where(col(PersistedQuery.sha256).in_(wanted))
            )
        ).scalars()
    }
    missing = [h for h in wanted if h not in rows]
    if missing:
        raise NotFound("persisted query", ", ".join(missing))
    for sha, row in rows.items():
        audit.record(
            session,
            principal=principal,
            action="persisted_query.removed",
            entity_type="persisted_query",
            entity_id=sha,
            before={"operations": row.operation_names, "source": row.source},
        )
        await session.delete(row)
    await session.flush()
    return len(rows)


async def list_documents(session: AsyncSession) -> list[PersistedQuery]:
    rows = await session.execute(
        sa.select(PersistedQuery).order_by(col(PersistedQuery.added_at), col(PersistedQuery.sha256))
    )
    return list(rows.scalars())


async def documents_by_hash(session: AsyncSession) -> dict[str, str]:
    """Every registered document by its hash (the allow-list an API process keeps)."""
    rows = await session.execute(
        sa.select(col(PersistedQuery.sha256), col(PersistedQuery.document))
    )
    return {sha: document for sha, document in rows.all()}

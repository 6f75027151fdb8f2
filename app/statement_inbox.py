"""The statement inbox: a folder (TRAMA_STATEMENT_INBOX) where banks' files are dropped,
swept by the ``collections.sweep_statement_inbox`` job (and ``trama statements sweep``).

Layout::

    inbox/                     files dropped here are read for the account they name
    inbox/<account number>/    CSV/XLSX exports (they name no account) go in the folder of
                               their account (its number, statement identifier or id)

Symbolic links (files or folders) are never taken, read or moved.
    inbox/processing/          a file being ingested (claimed by an atomic rename)
    inbox/done/                ingested files, each with <name>.result.json beside it
    inbox/rejected/            refused files, each with <name>.reason.json beside it

When is a file complete? A writer should write ``name.part`` (or a dot-file) and rename it
when done — the rename is atomic, and ``*.part``, ``*.tmp``, ``*.partial`` and dot-files are
never taken. For writers that cannot, a file is taken only once this process has seen the
same size and modification time for at least TRAMA_STATEMENT_INBOX_SETTLE_SECONDS
(monotonic clock; 0 takes files at once).

Each file is claimed by renaming it into ``processing/`` (only one sweeper wins the rename),
ingested in its own transaction, and then moved to ``done/`` or ``rejected/``. A sweeper
that dies between the commit and the move leaves the file in ``processing/``; the next sweep
takes it again after a while, and ingestion being idempotent (same bytes, same file) it
lands in ``done/`` with nothing stored twice. Moves never overwrite: a name already there
gets a counter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.db import transaction
from app.settings import Settings
from domain.collections import ingestion
from domain.collections.errors import RefusalCode, StatementRefused
from domain.collections.models import Channel
from domain.shared.principal import SYSTEM
from domain.shared.time import isoformat, utcnow

log = logging.getLogger("trama.collections.inbox")

__all__ = ["SweepReport", "sweep"]

_TEMPORARY = (".part", ".tmp", ".partial", ".crdownload", ".filepart")
_SPECIAL = {"processing", "done", "rejected"}
#: A file left in processing/ this long (a sweeper died) is taken again.
STALE_PROCESSING_SECONDS = 600
_MAX_FILES_PER_SWEEP = 200


@dataclass
class SweepReport:
    done: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"done": self.done, "rejected": self.rejected, "waiting": self.waiting}


#: (path) -> (size, mtime_ns, first seen at, monotonic)
_SEEN: dict[str, tuple[int, int, float]] = {}


def _settled(path: Path, settle: float) -> bool:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    if settle <= 0:
        return True
    key = str(path)
    now = time.monotonic()
    signature = (stat.st_size, stat.st_mtime_ns)
    seen = _SEEN.get(key)
    if seen is None or seen[:2] != signature:
        _SEEN[key] = (*signature, now)
        return False
    return now - seen[2] >= settle


def _link(path: Path) -> bool:
    """A symbolic link is never followed: whoever may drop files in the inbox (a bank's
    SFTP account) could otherwise have Trama read, quote in a reason file, and move out of
    its place any file the service can reach."""
    if path.is_symlink():
        log.warning("inbox: %s is a symbolic link; links are never taken", path)
        return True
    return False


def _candidates(inbox: Path) -> list[tuple[Path, str | None]]:
    """(file, account folder name or None), oldest first."""
    found: list[tuple[Path, str | None]] = []
    for entry in sorted(inbox.iterdir()):
        if entry.name.startswith(".") or _link(entry):
            continue
        if entry.is_dir():
            if entry.name in _SPECIAL:
                continue
            for inner in sorted(entry.iterdir()):
                if not _link(inner) and inner.is_file():
                    found.append((inner, entry.name))
        elif entry.is_file():
            found.append((entry, None))
    return [
        (path, folder)
        for path, folder in found
        if not path.name.startswith(".") and not path.name.lower().endswith(_TEMPORARY)
    ]


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    counter = 1
    while target.exists() or (folder / f"{target.name}.reason.json").exists():
        stem, dot, ext = name.rpartition(".")
        target = folder / (f"{stem}.{counter}.{ext}" if dot and stem else f"{name}.{counter}")
        counter += 1
    return target


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


async def _account_for(folder: str | None) -> Any:
    if folder is None:
        return None
    from app.db import read_session
    from domain.collections.accounts import account_named

    async with read_session() as session:
        return await account_named(session, folder)


async def _ingest_one(
    claimed: Path, original: str, folder: str | None, settings: Settings
) -> tuple[bool, dict[str, Any]]:
    content = await asyncio.to_thread(claimed.read_bytes)
    try:
        if len(content) > settings.statement_max_bytes:
            raise StatementRefused(
                RefusalCode.FILE_TOO_LARGE,
                f"the file has {len(content)} bytes, more than the "
                f"{settings.statement_max_bytes} accepted",
            )
        account_id = await _account_for(folder)
        if folder is not None and account_id is None:
            raise StatementRefused(
                RefusalCode.UNKNOWN_ACCOUNT, f"no registered collection account {folder!r}"
            )
        async with transaction() as session:
            result = await ingestion.ingest_file(
                session,
                principal=SYSTEM,
                content=content,
                file_name=original,
                channel=Channel.INBOX,
                account_id=account_id,
                policy=ingestion.IngestPolicy(
                    max_bytes=settings.statement_max_bytes,
                    max_unzipped_bytes=settings.statement_max_unzipped_bytes,
                    max_zip_ratio=settings.statement_max_zip_ratio,
                    refuse_broken=settings.statement_refuse_broken,
                ),
            )
            summary = {
                "file": original,
                "sha256": result.file.sha256,
                "already_received": result.already_received,
                "skipped_statements": result.skipped_statements,
                "line_count": result.line_count,
                "new_line_count": result.new_line_count,
                "statements": [
                    {
                        "id": str(s.id),
                        "kind": s.kind,
                        "statement_ref": s.statement_ref,
                        "integrity": s.integrity,
                        "problems": s.problems,
                        "line_count": s.line_count,
                        "new_line_count": s.new_line_count,
                    }
                    for s in result.statements
                ],
            }
    except StatementRefused as refused:
        return False, {"file": original, **refused.as_dict()}
    return True, summary


async def sweep(settings: Settings, *, inbox: Path | None = None) -> SweepReport:
    """Take every complete file of the inbox once (see the module)."""
    report = SweepReport()
    root = inbox or settings.statement_inbox
    if root is None:
        return report
    root.mkdir(parents=True, exist_ok=True)
    processing, done, rejected = (root / name for name in ("processing", "done", "rejected"))
    for sub in (processing, done, rejected):
        sub.mkdir(exist_ok=True)
    stale: list[tuple[Path, str | None]] = []
    for left in sorted(processing.iterdir()):
        if not _link(left) and left.is_file() and not left.name.startswith("."):
            age = time.time() - left.stat().st_mtime
            if age >= STALE_PROCESSING_SECONDS or age < 0:
                stale.append((left, None))
    batch = 0
    for path, folder in [*stale, *_candidates(root)]:
        if batch >= _MAX_FILES_PER_SWEEP:
            break
        in_processing = path.parent == processing
        if not in_processing and not _settled(path, settings.statement_inbox_settle_seconds):
            report.waiting.append(path.name)
            continue
        original = path.name
        prefix = f"{folder}__" if folder else ""
        if in_processing:
            claimed = path
            if "__" in original:
                folder, _, original = original.partition("__")
        else:
            claimed = _free_name(processing, prefix + original)
            try:
                path.rename(claimed)  # atomic: only one sweeper gets the file
            except FileNotFoundError:
                continue
            _SEEN.pop(str(path), None)
        batch += 1
        try:
            ok, data = await _ingest_one(claimed, original, folder, settings)
        except Exception:
            log.exception("inbox: %s could not be processed; it stays in processing/", original)
            continue
        data["at"] = isoformat(utcnow())
        target_folder = done if ok else rejected
        target = _free_name(target_folder, original)
        claimed.replace(target)
        _write_json(target.with_name(f"{target.name}.{'result' if ok else 'reason'}.json"), data)
        (report.done if ok else report.rejected).append(target.name)
        if ok:
            log.info("inbox: %s ingested (%s new lines)", original, data.get("new_line_count"))
        else:
            log.warning("inbox: %s rejected: %s %s", original, data["code"], data["message"])
    return report

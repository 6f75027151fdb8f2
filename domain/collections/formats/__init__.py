"""Reading a statement file, whatever its format: recognise it, check it is safe, read it.

Recognised by content, not by name: a zip (a bundle of statement files, or an XLSX
workbook), ISO 20022 XML (camt.052/053/054 by the document's namespace), SWIFT MT940/MT942
(``:20:`` then ``:25:``…), else a CSV export (only for an account with a column mapping).

A zip bundle holds at most :data:`MAX_MEMBERS` files, none of them a zip, inflating to at
most ``limits.max_unzipped_bytes`` in all and no member more than ``limits.max_ratio``
times its packed size (past :data:`RATIO_FLOOR_BYTES`): anything else is a ``ZIP_BOMB``.
The sizes are the ones the zip's directory declares; reading a member never yields more
(:mod:`zipfile` stops at the declared size and checks the CRC).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from domain.collections.errors import RefusalCode, StatementRefused
from domain.collections.formats import schema
from domain.collections.formats.base import (
    AccountRef,
    ParsedFile,
    ParsedStatement,
    Problem,
    malformed,
)
from domain.collections.formats.camt import message_of, parse_camt
from domain.collections.formats.swift import looks_like_swift, parse_swift
from domain.collections.formats.tabular import ColumnMapping, parse_tabular
from domain.collections.formats.xmlsafe import check_xml
from domain.collections.models import SchemaStatus, StatementKind

__all__ = ["ReadLimits", "TabularTarget", "read_file"]

MAX_MEMBERS = 100
RATIO_FLOOR_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReadLimits:
    max_unzipped_bytes: int = 256 * 1024 * 1024
    max_ratio: int = 100
    #: Above this size a camt file is checked against its XSD while streaming through it
    #: (first deviation only), not on the whole tree (``schema.py``).
    full_schema_report_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TabularTarget:
    """The account a CSV/XLSX export belongs to: its mapping, currency and number."""

    mapping: ColumnMapping | None
    currency: str
    account_number: str


def _is_zip(content: bytes) -> bool:
    return content[:4] == b"PK\x03\x04"


def _is_xml(content: bytes) -> bool:
    head = content[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<")


def _check_zip(archive: zipfile.ZipFile, limits: ReadLimits, label: str) -> list[zipfile.ZipInfo]:
    entries = [e for e in archive.infolist() if not e.is_dir()]
    if len(entries) > MAX_MEMBERS:
        raise StatementRefused(
            RefusalCode.ZIP_BOMB, f"the {label} holds {len(entries)} files, more than {MAX_MEMBERS}"
        )
    total = sum(e.file_size for e in entries)
    if total > limits.max_unzipped_bytes:
        raise StatementRefused(
            RefusalCode.ZIP_BOMB,
            f"the {label} inflates to {total} bytes, more than the "
            f"{limits.max_unzipped_bytes} accepted",
        )
    for entry in entries:
        if entry.file_size >= RATIO_FLOOR_BYTES:
            ratio = entry.file_size / max(entry.compress_size, 1)
            if ratio > limits.max_ratio:
                raise StatementRefused(
                    RefusalCode.ZIP_BOMB,
                    f"{entry.filename[:100]} is packed {ratio:.0f} to 1, more than "
                    f"{limits.max_ratio} to 1",
                )
    return entries


def _check_workbook_xml(
    archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo], file_name: str
) -> None:
    """Every XML part of a workbook passes the gate camt files pass (no DTD, no entity,
    nothing external) before openpyxl reads any: a bomb or an XXE in a sheet is refused
    with its code, as in a camt file."""
    for entry in entries:
        if not entry.filename.lower().endswith((".xml", ".rels", ".vml")):
            continue
        label = f"{file_name}:{entry.filename[:100]}"
        try:
            part = archive.read(entry)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, ValueError):
            raise malformed("a part of the workbook cannot be read", label) from None
        try:
            check_xml(part)
        except StatementRefused as refused:
            where = f"{label}, {refused.where}" if refused.where else label
            raise StatementRefused(RefusalCode(refused.code), refused.reason, where=where) from None


def _open_zip(content: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise malformed("a damaged zip file") from None


def read_file(
    content: bytes,
    *,
    file_name: str,
    tabular: Callable[[AccountRef | None], TabularTarget | None],
    limits: ReadLimits | None = None,
) -> ParsedFile:
    """Every statement of the file. ``tabular(None)`` gives the account a CSV/XLSX file is
    for (None: no account chosen)."""
    limits = limits or ReadLimits()
    if not content.strip():
        raise StatementRefused(RefusalCode.EMPTY_FILE, "the file is empty")
    if _is_zip(content):
        archive = _open_zip(content)
        with archive:
            names = set(archive.namelist())
            if "xl/workbook.xml" in names or "[Content_Types].xml" in names:
                entries = _check_zip(archive, limits, "workbook")
                _check_workbook_xml(archive, entries, file_name)
                return _tabular(content, StatementKind.XLSX, tabular)
            entries = _check_zip(archive, limits, "zip")
            return _bundle(archive, entries, file_name, tabular, limits)
    return _single(content, file_name=file_name, tabular=tabular, limits=limits)


def _bundle(
    archive: zipfile.ZipFile,
    entries: list[zipfile.ZipInfo],
    file_name: str,
    tabular: Callable[[AccountRef | None], TabularTarget | None],
    limits: ReadLimits,
) -> ParsedFile:
    statements: list[ParsedStatement] = []
    problems: list[Problem] = []
    kinds: set[StatementKind] = set()
    statuses: set[str] = set()
    if not entries:
        raise StatementRefused(RefusalCode.EMPTY_FILE, "the zip holds no file")
    for entry in entries:
        label = f"{file_name}:{entry.filename[:100]}"
        try:
            member = archive.read(entry)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, ValueError):
            raise malformed("a zip member cannot be read (damaged or encrypted)", label) from None
        if _is_zip(member):
            raise StatementRefused(
                RefusalCode.ZIP_BOMB, "a zip inside a zip is refused", where=label
            )
        try:
            parsed = _single(member, file_name=entry.filename, tabular=tabular, limits=limits)
        except StatementRefused as refused:
            where = f"{label}, {refused.where}" if refused.where else label
            raise StatementRefused(RefusalCode(refused.code), refused.reason, where=where) from None
        for statement in parsed.statements:
            statement.where = f"{label}, {statement.where}"
        statements += parsed.statements
        problems += parsed.problems
        kinds.add(parsed.kind)
        statuses.add(parsed.schema_status)
    if len(kinds) > 1:
        raise StatementRefused(
            RefusalCode.UNSUPPORTED_FORMAT, "a zip of statements must hold files of one format"
        )
    status = (
        SchemaStatus.INVALID.value
        if SchemaStatus.INVALID.value in statuses
        else next(iter(statuses))
    )
    return ParsedFile(kinds.pop(), statements, status, problems)


def _single(
    content: bytes,
    *,
    file_name: str,
    tabular: Callable[[AccountRef | None], TabularTarget | None],
    limits: ReadLimits,
) -> ParsedFile:
    if _is_xml(content):
        return _camt(content, limits)
    head = content[:8000].decode("latin-1")
    if looks_like_swift(head.replace("\r", "")):
        statements = parse_swift(content)
        kinds = {s.kind for s in statements}
        kind = StatementKind.MT942 if kinds == {StatementKind.MT942} else StatementKind.MT940
        return ParsedFile(kind, statements, SchemaStatus.NOT_APPLICABLE.value)
    if re.search(r"\.(csv|txt|tsv)$", file_name, re.I) or _looks_tabular(head):
        return _tabular(content, StatementKind.CSV, tabular)
    raise StatementRefused(
        RefusalCode.UNSUPPORTED_FORMAT,
        "not a statement Trama reads: camt.052/053/054 XML, MT940/MT942, CSV or XLSX",
    )


def _looks_tabular(head: str) -> bool:
    first = head.splitlines()[0] if head.splitlines() else ""
    return any(first.count(d) >= 2 for d in (",", ";", "\t", "|"))


def _tabular(
    content: bytes,
    kind: StatementKind,
    tabular: Callable[[AccountRef | None], TabularTarget | None],
) -> ParsedFile:
    target = tabular(None)
    if target is None:
        raise StatementRefused(
            RefusalCode.UNKNOWN_ACCOUNT,
            "a CSV or XLSX export does not name its account: choose the account it belongs to",
        )
    if target.mapping is None:
        raise StatementRefused(
            RefusalCode.NO_COLUMN_MAPPING,
            "CSV and XLSX statements need the account's column mapping: set it first",
        )
    account = AccountRef(other=target.account_number, currency=target.currency)
    statements = parse_tabular(
        content, kind=kind, mapping=target.mapping, currency=target.currency, account=account
    )
    return ParsedFile(kind, statements, SchemaStatus.NOT_APPLICABLE.value)


def _namespace(content: bytes) -> str:
    try:
        for _event, el in etree.iterparse(
            io.BytesIO(content),
            events=("start",),
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
        ):
            return str(etree.QName(el).namespace or "")
    except etree.XMLSyntaxError as error:
        raise malformed(f"not well-formed XML: {error.msg}", f"line {error.lineno}") from None
    return ""


def _camt(content: bytes, limits: ReadLimits) -> ParsedFile:
    check_xml(content)
    ns = _namespace(content)
    found = message_of(ns)
    if found is None:
        raise StatementRefused(
            RefusalCode.UNSUPPORTED_FORMAT,
            f"an XML document that is not a camt.052/053/054 statement (namespace {ns[:80]!r})",
            where="/Document",
        )
    message, version = found
    statements = parse_camt(content, message=message, version=version, ns=ns)
    valid, problems = schema.validate(
        content, message, version, full_report_bytes=limits.full_schema_report_bytes
    )
    kind = statements[0].kind
    if not valid:
        for statement in statements:
            statement.problems[:0] = problems
    return ParsedFile(
        kind,
        statements,
        SchemaStatus.VALID.value if valid else SchemaStatus.INVALID.value,
        problems,
    )

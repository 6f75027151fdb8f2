"""What a file must be to be attached to a case: its type read from its bytes, its name.

The type is never taken from the client: it is detected from the content (magic numbers,
and for text and Office documents a look inside) and checked against an allow-list. The
type the client declared (the multipart part's ``Content-Type``) and the name's extension
are claims: a claim that disagrees with the content is refused. A name without a fitting
extension gets the right one, so what a person saves is what it opens.

No card number enters Trama (DESIGN §4): text, CSV, Word and Excel files are searched for
one and refused when they hold one; so is a file name. PDFs and images cannot be searched.
Every XML part of a Word or Excel file is searched — the body, headers, footers, notes,
comments, drawings, and the metadata (``docProps/core.xml``: title, author, keywords…) —
with table cells, rows and paragraphs kept apart by separators, so a number split across
cells is still one number (:mod:`domain.shared.pan` joins groups across short separators).

The work is bounded before anything is inflated: a Word or Excel file (a zip) is refused
when its parts would unpack to more than :attr:`ScanLimits.max_unzipped_bytes` in all, when
one part would unpack to more than :attr:`ScanLimits.max_ratio` times its packed size (a
zip bomb), or when it has more than :data:`MAX_ZIP_ENTRIES` parts. The search itself is
linear in what it reads.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from domain.shared import pan
from domain.shared.errors import Problems, ValidationFailed

#: Default largest file, in bytes (the app takes TRAMA_ATTACHMENT_MAX_BYTES).
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: Longest name kept (characters, extension included); longer names are shortened.
NAME_MAX = 180
#: Default most bytes the parts of one Word or Excel file may unpack to, in all.
DEFAULT_MAX_UNZIPPED_BYTES = 50 * 1024 * 1024
#: Default largest ratio of unpacked to packed size of one part (a zip bomb exceeds it).
DEFAULT_MAX_RATIO = 100
#: Parts smaller than this unpacked are not held to the ratio (tiny XML packs very well).
RATIO_FLOOR_BYTES = 1024 * 1024
#: Most parts (entries) a Word or Excel file may have.
MAX_ZIP_ENTRIES = 5000
#: The field problems are reported on.
FIELD = "file"


@dataclass(frozen=True, slots=True)
class ScanLimits:
    """How much a zip-based file may unpack to (the app takes them from its settings)."""

    max_unzipped_bytes: int = DEFAULT_MAX_UNZIPPED_BYTES
    max_ratio: int = DEFAULT_MAX_RATIO


@dataclass(frozen=True, slots=True)
class FileType:
    key: str
    media_type: str
    label: str
    #: Extensions a name may end with (the first is added to a name that has none).
    extensions: tuple[str, ...]
    #: Declared media types that agree with this type.
    aliases: frozenset[str]


PDF = FileType(
    "pdf", "application/pdf", "a PDF document", (".pdf",), frozenset({"application/x-pdf"})
)
PNG = FileType("png", "image/png", "a PNG image", (".png",), frozenset({"image/x-png"}))
JPEG = FileType(
    "jpeg",
    "image/jpeg",
    "a JPEG image",
    (".jpg", ".jpeg", ".jpe", ".jfif"),
    frozenset({"image/jpg", "image/pjpeg"}),
)
TIFF = FileType("tiff", "image/tiff", "a TIFF image", (".tif", ".tiff"), frozenset({"image/tif"}))
#: Browsers on Windows label CSV files as Excel; all text labels agree with any text.
_TEXT_ALIASES = frozenset(
    {
        "text/plain",
        "text/csv",
        "application/csv",
        "text/comma-separated-values",
        "text/x-csv",
        "application/vnd.ms-excel",
    }
)
TEXT = FileType("text", "text/plain; charset=utf-8", "plain text", (".txt", ".text"), _TEXT_ALIASES)
CSV = FileType("csv", "text/csv; charset=utf-8", "CSV text", (".csv",), _TEXT_ALIASES)
DOCX = FileType(
    "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "a Word document",
    (".docx",),
    frozenset(),
)
XLSX = FileType(
    "xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "an Excel workbook",
    (".xlsx",),
    frozenset(),
)
_CSV_LABELS = frozenset(
    {"text/csv", "application/csv", "text/comma-separated-values", "text/x-csv"}
)
ALLOWED: tuple[FileType, ...] = (PDF, PNG, JPEG, TIFF, TEXT, CSV, DOCX, XLSX)
#: Declared types that make no claim.
NO_CLAIM = frozenset({"", "application/octet-stream", "binary/octet-stream"})
ACCEPTED = "PDF, PNG, JPEG, TIFF, plain text, CSV, Word (.docx) or Excel (.xlsx)"


@dataclass(frozen=True, slots=True)
class Inspected:
    """A file that passed every rule."""

    file_name: str
    file_type: FileType
    size_bytes: int
    sha256: str

    @property
    def content_type(self) -> str:
        return self.file_type.media_type


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def refuse(message: str) -> ValidationFailed:
    return ValidationFailed.on(FIELD, message)


# --- detection --------------------------------------------------------------------------
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "old Office files (.doc, .xls) and password-protected "
        "documents are not accepted: save it as .docx, .xlsx or PDF",
    ),
    (b"MZ", "programs are not accepted"),
    (b"\x7fELF", "programs are not accepted"),
    (b"GIF8", "GIF images are not accepted: send PNG or JPEG"),
    (b"Rar!", "archives are not accepted"),
    (b"\x1f\x8b", "archives are not accepted"),
    (b"7z\xbc\xaf", "archives are not accepted"),
)
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def detect(content: bytes, limits: ScanLimits | None = None) -> FileType:
    """The allowed type ``content`` is (TEXT for any text), or :class:`ValidationFailed`."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if content.startswith(b"PK\x03\x04"):
        return _office_type(content, limits or ScanLimits())
    for magic, message in _REFUSED_MAGIC:
        if content.startswith(magic):
            raise refuse(message)
    if _as_text(content) is not None:
        return TEXT
    raise refuse(f"this kind of file is not accepted: send {ACCEPTED}")


def _as_text(content: bytes) -> str | None:
    """The text of UTF-8 content (a BOM dropped) with no NUL or control characters
    other than tab, line feed, form feed and carriage return; else None."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.removeprefix("\ufeff")
    if _TEXT_CONTROL.search(text):
        return None
    return text


def _office_type(content: bytes, limits: ScanLimits) -> FileType:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise refuse("this document is damaged: it cannot be read as a .docx or .xlsx") from None
    names = [e.filename for e in entries]
    if "[Content_Types].xml" not in names:
        raise refuse(
            "zip archives are not accepted: send the documents themselves (PDF, .docx, .xlsx…)"
        )
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise refuse("documents with macros are not accepted: save it as .docx, .xlsx or PDF")
    _check_unpacked_size(entries, limits)
    if any(n.startswith("word/") for n in names):
        return DOCX
    if any(n.startswith("xl/") for n in names):
        return XLSX
    raise refuse("only Word (.docx) and Excel (.xlsx) Office documents are accepted")


def _check_unpacked_size(entries: list[zipfile.ZipInfo], limits: ScanLimits) -> None:
    """Refuse a document that would unpack to too much, from the sizes its directory
    declares (reading a part never yields more than its declared size: :mod:`zipfile`
    stops there and checks the CRC)."""
    if len(entries) > MAX_ZIP_ENTRIES:
        raise refuse(
            f"this document has {len(entries)} parts, more than the {MAX_ZIP_ENTRIES} "
            "accepted: send it as PDF"
        )
    total = sum(e.file_size for e in entries)
    if total > limits.max_unzipped_bytes:
        raise refuse(
            f"this document unpacks to {_size_text(total, exact=False)}, more than the "
            f"{_size_text(limits.max_unzipped_bytes, exact=False)} accepted: split it or "
            "send it as PDF"
        )
    for entry in entries:
        if entry.file_size < RATIO_FLOOR_BYTES:
            continue
        ratio = entry.file_size / max(entry.compress_size, 1)
        if ratio > limits.max_ratio:
            raise refuse(
                f"this document is packed {ratio:.0f} to 1 (in {entry.filename[:100]}), more "
                f"than the {limits.max_ratio} to 1 accepted (it may be a zip bomb): send it "
                "as PDF"
            )


# --- card numbers -----------------------------------------------------------------------
#: Parts searched: every XML part (body, headers, footers, notes, comments, drawings,
#: charts, custom XML, and the metadata: docProps/core.xml, app.xml, custom.xml).
_XML_PART = re.compile(r"\.(?:xml|rels|vml)$", re.IGNORECASE)
#: Metadata parts: each element is a field of its own.
_FIELDS_PART = re.compile(r"^(?:docProps|customXml)/", re.IGNORECASE)
_WORKSHEET = re.compile(r"^xl/(?:worksheets|chartsheets|dialogsheets)/[^/]+\.xml$")
_SHARED_STRINGS = "xl/sharedStrings.xml"
# Tags are matched with [^<>]* so a stray "<" ends the match: no scan runs past the next
# tag, whatever the part holds (linear).
_TAG = re.compile(r"<[^<>]*>")
#: Ends of table cells (Word, Excel), paragraphs, rows, shared strings, formulas, comments:
#: a line break; tabs and line breaks within a paragraph: a tab. Other tags (runs,
#: formatting) are dropped, so a number a word processor split across runs stays one
#: number. (Two patterns, each with a literal start, are much faster than one.)
_BLOCK_END = re.compile(r"</(?:\w+:)?(?:p|tc|tr|c|row|si|f|txbxContent|comment|text)>")
_BREAK = re.compile(r"<(?:\w+:)?(?:br|cr|tab)\b[^<>]*/>")
#: Attribute values (sheet names, hyperlink targets, comment authors…).
_ATTRIBUTE = re.compile(r"=[\"']([^\"'<>]*)[\"']")
#: A cell of a worksheet whose value is the index of a shared string.
_SHARED_CELL = re.compile(r"<c\b([^<>]*)>\s*<v>\s*([0-9]{1,9})\s*</v>")


def _pan_in_text(text: str) -> str | None:
    """A message naming the line of the first card number in ``text``, if any."""
    found = pan.first_pan(text)
    if found is None:
        return None
    line = text.count("\n", 0, found.start) + 1
    return (
        f"line {line} holds a card number ending in {found.last4}: card numbers are "
        "never kept; remove it (give only its last four digits) and send the file again"
    )


def _xml_text(xml: str, *, fields: bool = False) -> str:
    """The text of an Office XML part as a person reads it: runs of a paragraph joined (a
    number split across runs is one number), table cells, paragraphs and rows apart by line
    breaks. ``fields``: every element apart (metadata)."""
    if fields:
        return html.unescape(_TAG.sub("\n", xml))
    text = _BLOCK_END.sub("\n", xml)
    text = _BREAK.sub("\t", text)
    return html.unescape(_TAG.sub("", text))


def _attribute_text(xml: str) -> str:
    """The attribute values of an XML part, each apart (a character that joins nothing)."""
    return html.unescape("\x00".join(_ATTRIBUTE.findall(xml)))


def _shared_strings(xml: str) -> list[str]:
    """The strings of ``xl/sharedStrings.xml``, still XML-escaped (so they can stand in
    for a cell's value in a worksheet's XML)."""
    marked = xml.replace("</si>", "\x00")
    return [_TAG.sub("", piece) for piece in marked.split("\x00")[:-1]]


def _with_shared_strings(xml: str, strings: list[str]) -> str:
    """A worksheet's XML with each shared-string cell holding its string."""

    def value(match: re.Match[str]) -> str:
        attributes, index = match.group(1), int(match.group(2))
        if 't="s"' not in attributes or index >= len(strings):
            return match.group()
        return f"<c{attributes}><v>{strings[index]}</v>"

    return _SHARED_CELL.sub(value, xml)


def _read_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file_type: FileType) -> str:
    try:
        raw = archive.read(info)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError, NotImplementedError):
        raise refuse(f"this document is damaged: it cannot be read as {file_type.label}") from None
    return raw.decode("utf-8", errors="replace")


def _pan_in_office(
    content: bytes, file_type: FileType, limits: ScanLimits | None = None
) -> str | None:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        entries = archive.infolist()
        _check_unpacked_size(entries, limits or ScanLimits())
        parts = [e for e in entries if _XML_PART.search(e.filename) and not e.is_dir()]
        strings: list[str] = []
        shared = next((e for e in parts if e.filename == _SHARED_STRINGS), None)
        if shared is not None:
            strings = _shared_strings(_read_part(archive, shared, file_type))
        for info in parts:
            xml = _read_part(archive, info, file_type)
            if info is shared:
                # each string on its own (the worksheets show them in their cells)
                text = html.unescape("\x00".join(strings))
            else:
                if _WORKSHEET.match(info.filename) and strings:
                    xml = _with_shared_strings(xml, strings)
                text = _xml_text(xml, fields=bool(_FIELDS_PART.match(info.filename)))
            # the text as read, then the attribute values (sheet names, hyperlink targets,
            # comment authors): not text, but kept in the file all the same
            found = pan.first_pan(text) or pan.first_pan(_attribute_text(xml))
            if found is not None:
                return (
                    f"{file_type.label} holds a card number ending in {found.last4} (in "
                    f"{info.filename[:100]}): card numbers are never kept; remove it (give "
                    "only its last four digits) and send the file again"
                )
    return None


# --- names ------------------------------------------------------------------------------
_UNSAFE_NAME_CHARS = re.compile(r'[<>:"|?*\\/]')
_SPACES = re.compile(r"\s+")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
_EXTENSION = re.compile(r"(\.[A-Za-z0-9]{1,10})$")


def clean_file_name(raw: str | None) -> str:
    """A name safe to store and to offer for saving: its last path part only, NFC, no
    control or format characters (so no right-to-left tricks), none of ``<>:"|?*``, no
    leading or trailing dots or spaces, at most :data:`NAME_MAX` characters (the stem is
    shortened, the extension kept). May be empty."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"))
    name = _UNSAFE_NAME_CHARS.sub("_", name)
    name = _SPACES.sub(" ", name).strip(" .")
    match = _EXTENSION.search(name)
    ext = match.group(1).lower() if match and match.start() > 0 else ""
    stem = name[: len(name) - len(ext)].rstrip(" .") if ext else name
    if stem.lower() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    stem = stem[: NAME_MAX - len(ext)].rstrip(" .")
    return f"{stem}{ext}" if stem else ""


def _extension_of(name: str) -> str:
    match = _EXTENSION.search(name)
    return match.group(1).lower() if match and match.start() > 0 else ""


def _all_extensions(types: Iterable[FileType]) -> dict[str, FileType]:
    return {ext: t for t in types for ext in t.extensions}


_BY_EXTENSION = _all_extensions(ALLOWED)


def _declared(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _agrees(declared: str, file_type: FileType) -> bool:
    return declared == file_type.media_type.split(";", 1)[0] or declared in file_type.aliases


# --- the whole check --------------------------------------------------------------------
def inspect(
    content: bytes,
    *,
    file_name: str | None,
    declared_type: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limits: ScanLimits | None = None,
) -> Inspected:
    """Every rule at once; :class:`ValidationFailed` on ``file`` names the first broken."""
    limits = limits or ScanLimits()
    problems = Problems()
    size = len(content)
    if size == 0:
        raise refuse("the file is empty")
    if size > max_bytes:
        raise refuse(f"the file is larger than the limit of {_size_text(max_bytes)}")
    name = clean_file_name(file_name)
    if pan.contains_pan(name):
        raise refuse(f"the file name {pan.MESSAGE}")
    detected = detect(content, limits)
    ext = _extension_of(name)
    declared = _declared(declared_type)
    if detected is TEXT and (ext == ".csv" or (not ext and declared in _CSV_LABELS)):
        detected = CSV
    if declared not in NO_CLAIM and not _agrees(declared, detected):
        raise refuse(f"it was sent as {declared[:100]} but the content is {detected.label}")
    named = _BY_EXTENSION.get(ext)
    if (
        named is not None
        and named is not detected
        and not (named in (TEXT, CSV) and detected in (TEXT, CSV))
    ):
        raise refuse(f"the name ends in {ext} but the content is {detected.label}")
    if ext not in detected.extensions:
        # No extension, or one of no allowed type ("notes.v2", "page.html"): add the right one.
        right = detected.extensions[0]
        name = f"{name[: NAME_MAX - len(right)]}{right}" if name else f"file{right}"
    if detected in (TEXT, CSV):
        text = _as_text(content)
        message = _pan_in_text(text) if text is not None else None
        if message:
            problems.add(FIELD, message)
    elif detected in (DOCX, XLSX):
        message = _pan_in_office(content, detected, limits)
        if message:
            problems.add(FIELD, message)
    problems.raise_if_any()
    return Inspected(file_name=name, file_type=detected, size_bytes=size, sha256=sha256_of(content))


def _size_text(size: int, *, exact: bool = True) -> str:
    """``size`` in MB or KB when it is a whole number of them (or, not ``exact``, rounded
    to one decimal), else in bytes."""
    if size >= 1024 * 1024 and (size % (1024 * 1024) == 0 or not exact):
        megabytes = size / (1024 * 1024)
        return f"{megabytes:.0f} MB" if megabytes == int(megabytes) else f"{megabytes:.1f} MB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KB"
    return f"{size} bytes"

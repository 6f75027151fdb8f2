"""Word and Excel files built in memory as Office writes them: tables, metadata, shared
strings, inline strings, numbers; and hostile ones (zip bombs, lying sizes, many parts)."""

from __future__ import annotations

import io
import struct
import zipfile
from xml.sax.saxutils import escape

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
)
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def pack(parts: dict[str, str | bytes], *, level: int = 6) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _run(text: str) -> str:
    return f'<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">{escape(text)}</w:t></w:r>'


def _paragraph(text: str) -> str:
    # Split in two runs, as Word often writes a paragraph.
    half = len(text) // 2
    return f"<w:p><w:pPr/>{_run(text[:half])}{_run(text[half:])}</w:p>"


def _table(rows: list[list[str]]) -> str:
    body = "".join(
        "<w:tr><w:trPr/>"
        + "".join(f'<w:tc><w:tcPr><w:tcW w:w="1000"/></w:tcPr>{_paragraph(c)}</w:tc>' for c in row)
        + "</w:tr>"
        for row in rows
    )
    return f"<w:tbl><w:tblPr/>{body}</w:tbl>"


def core(**fields: str) -> str:
    values = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
        'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"{values}</cp:coreProperties>"
    )


def docx(
    *paragraphs: str,
    table: list[list[str]] | None = None,
    extra: dict[str, str | bytes] | None = None,
    title: str = "Reclamo",
    creator: str = "Agente 12",
) -> bytes:
    body = "".join(_paragraph(p) for p in paragraphs or ("Reclamo por cobro de intereses",))
    if table is not None:
        body += _table(table)
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": CONTENT_TYPES,
        "word/document.xml": f"<w:document {W}><w:body>{body}</w:body></w:document>",
        "docProps/core.xml": core(**{"dc:title": title, "dc:creator": creator}),
        "docProps/app.xml": "<Properties><Pages>1</Pages><Words>12</Words></Properties>",
    }
    parts.update(extra or {})
    return pack(parts)


def xlsx(rows: list[list[str | int]], *, strings: str = "shared") -> bytes:
    """A workbook of one sheet; text cells as shared strings (``shared``, what Excel
    writes) or inline strings (``inline``); int cells as numbers."""
    shared: list[str] = []
    xml_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{chr(65 + c)}{r}"
            if isinstance(value, int):
                cells.append(f'<c r="{ref}" s="1"><v>{value}</v></c>')
            elif strings == "shared":
                shared.append(value)
                cells.append(f'<c r="{ref}" s="2" t="s"><v>{len(shared) - 1}</v></c>')
            else:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>')
        xml_rows.append(f'<row r="{r}" spans="1:{len(row)}">{"".join(cells)}</row>')
    sst = "".join(f"<si><t>{escape(v)}</t></si>" for v in shared)
    return pack(
        {
            "[Content_Types].xml": CONTENT_TYPES,
            "xl/workbook.xml": '<workbook><sheets><sheet name="Hoja1" sheetId="1"/></sheets>'
            "</workbook>",
            "xl/sharedStrings.xml": f'<sst count="{len(shared)}">{sst}</sst>',
            "xl/worksheets/sheet1.xml": (
                f"<worksheet><sheetData>{''.join(xml_rows)}</sheetData></worksheet>"
            ),
            "docProps/core.xml": core(**{"dc:creator": "Cobranzas"}),
        }
    )


def bomb_docx(unpacked: int) -> bytes:
    """A Word document whose body unpacks to ``unpacked`` bytes of XML packed about a
    thousand to one (the shape of a zip bomb)."""
    filler = "<w:p><w:r><w:t>0</w:t></w:r></w:p>"
    body = filler * (unpacked // len(filler))
    return pack(
        {
            "[Content_Types].xml": CONTENT_TYPES,
            "word/document.xml": f"<w:document {W}><w:body>{body}</w:body></w:document>",
        },
        level=9,
    )


def lying_docx(real: bytes, declared: int) -> bytes:
    """A Word document whose directory declares ``declared`` bytes for a body that really
    unpacks to ``len(real)``."""
    content = pack({"[Content_Types].xml": CONTENT_TYPES, "word/document.xml": real})
    data = bytearray(content)
    name = b"word/document.xml"
    # patch the uncompressed size in both headers that name the body
    at = 0
    while (at := data.find(name, at + 1)) != -1:
        if data[at - 46 : at - 42] == b"PK\x01\x02":  # central directory entry
            struct.pack_into("<I", data, at - 46 + 24, declared)
        elif data[at - 30 : at - 26] == b"PK\x03\x04":  # local header
            struct.pack_into("<I", data, at - 30 + 22, declared)
    return bytes(data)


def many_parts_docx(count: int) -> bytes:
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": CONTENT_TYPES,
        "word/document.xml": f"<w:document {W}><w:body/></w:document>",
    }
    parts.update({f"customXml/item{i}.xml": "<a/>" for i in range(count)})
    return pack(parts)

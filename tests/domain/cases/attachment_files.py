"""Small real files of every accepted type (and some refused ones), built in memory."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

PAN = "4111 1111 1111 1111"  # a test Visa number: passes Luhn


def pdf(text: str = "Cartola de intereses") -> bytes:
    body = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R >> endobj\n"
        + f"4 0 obj << /Length {len(body)} >> stream\n".encode()
        + body
        + b"\nendstream endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\x00" * 64
        + b"\xff\xd9"
    )


def tiff() -> bytes:
    return b"II*\x00\x08\x00\x00\x00" + b"\x00" * 32


def _zip(parts: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


CONTENT_TYPES = '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'


def docx(*paragraphs: str, macros: bool = False) -> bytes:
    def paragraph(text: str) -> str:
        # Two runs, the text split between them, as Word often writes it.
        half = len(text) // 2
        runs = (text[:half], text[half:])
        return "<w:p>" + "".join(f"<w:r><w:t>{r}</w:t></w:r>" for r in runs) + "</w:p>"

    body = "".join(paragraph(p) for p in paragraphs or ("Reclamo por cobro de intereses",))
    parts = {
        "[Content_Types].xml": CONTENT_TYPES,
        "word/document.xml": f'<w:document xmlns:w="w"><w:body>{body}</w:body></w:document>',
    }
    if macros:
        parts["word/vbaProject.bin"] = "binary"
    return _zip(parts)


def xlsx(*cells: str) -> bytes:
    strings = "".join(f"<si><t>{c}</t></si>" for c in cells or ("Fecha", "Monto"))
    return _zip(
        {
            "[Content_Types].xml": CONTENT_TYPES,
            "xl/workbook.xml": "<workbook/>",
            "xl/sharedStrings.xml": f"<sst>{strings}</sst>",
            "xl/worksheets/sheet1.xml": (
                '<worksheet><sheetData><row><c t="s"><v>0</v></c></row></sheetData></worksheet>'
            ),
        }
    )


def plain_zip() -> bytes:
    return _zip({"notes.txt": "hola"})


def ole() -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64


def exe() -> bytes:
    return b"MZ\x90\x00" + b"\x00" * 64


def gif() -> bytes:
    return b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


CSV = "fecha,monto,detalle\n2026-01-05,15000,interés de mora\n2026-02-05,0,sin cargo\n".encode()
TEXT = "El cliente indica que pagó a tiempo.\r\nAdjunta comprobante.\n".encode()

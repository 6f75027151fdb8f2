"""Card numbers in attachments wherever they hide (table cells, CSV cells, metadata,
attribute values), and a bounded search: zip bombs, lying sizes and too many parts are
refused before anything is inflated."""

from __future__ import annotations

import zipfile
from typing import Any

import pytest

from domain.cases import attachment_rules as rules
from domain.shared import pan
from domain.shared.errors import ValidationFailed
from tests.domain.cases import office_files as office

PAN = "4111111111111111"
GROUPS = ["4111", "1111", "1111", "1111"]


def problem(content: bytes, name: str = "archivo", **kw: Any) -> str:
    with pytest.raises(ValidationFailed) as caught:
        rules.inspect(content, file_name=name, declared_type=None, **kw)
    [first, *_] = caught.value.problems
    assert first.field == "file"
    return first.message


def accepted(content: bytes, name: str = "archivo", **kw: Any) -> rules.Inspected:
    return rules.inspect(content, file_name=name, declared_type=None, **kw)


# --- text and CSV ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        "4111 - 1111 - 1111 - 1111",
        "4111/1111/1111/1111",
        "4111\t1111\t1111\t1111",
        "4111_1111_1111_1111",
        "4111\u20131111\u20131111\u20131111",
        "4111,1111,1111,1111",
        '"4111";"1111";"1111";"1111"',
        "\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11",
        "\u0664\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661",
        "4111111111111111123",
    ],
)
def test_card_numbers_in_text_and_csv_files_however_written(line: str) -> None:
    content = f"fecha;detalle\n2026-01-05;cargo\n{line}\n".encode()
    message = problem(content, "mov.csv")
    assert "line 3" in message and "1111" in message and "4111" not in message


def test_a_card_number_split_over_lines_names_its_first_line() -> None:
    content = b"reclamo\n4111\n1111\n1111\n1111\n"
    assert "line 2" in problem(content, "nota.txt")


def test_a_bank_statement_csv_passes() -> None:
    rows = ["fecha;descripcion;cargo;abono;saldo"]
    for day in range(1, 29):
        rows.append(f"{day:02d}/11/2026;COMPRA {day * 37};-{day * 12_345:,};0;{day * 987_654:,}")
        rows.append(f"2026-11-{day:02d},{day * 7_654_321},{day * 4_321},{1000 + day}")
    rows.append("RUT 12.345.678-5;+56 9 1234 5678;CBU 0110599520000001234567")
    assert accepted("\n".join(rows).encode(), "cartola.csv").file_type is rules.CSV


# --- Word ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "table",
    [
        [GROUPS],  # one group per cell of a row
        [[g] for g in GROUPS],  # one group per row
        [["Tarjeta", *GROUPS, "CVV 123"]],
        [list(PAN)],  # one digit per cell
        [["Titular", "Número"], ["Ana Pérez", PAN]],
    ],
)
def test_a_card_number_in_a_word_table_is_refused(table: list[list[str]]) -> None:
    content = office.docx("Datos del cliente", table=table)
    message = problem(content, "carta.docx")
    assert "card number ending in 1111" in message and "word/document.xml" in message


@pytest.mark.parametrize(
    "fields",
    [
        {"title": f"Tarjeta {PAN}"},
        {"creator": "4111 1111 1111 1111"},
    ],
)
def test_a_card_number_in_the_metadata_of_a_word_file_is_refused(fields: dict[str, str]) -> None:
    message = problem(office.docx("Reclamo", **fields), "carta.docx")
    assert "docProps/core.xml" in message


@pytest.mark.parametrize(
    ("part", "xml"),
    [
        (
            "docProps/custom.xml",
            f"<Properties><property><vt:lpwstr>{PAN}</vt:lpwstr></property></Properties>",
        ),
        ("docProps/app.xml", "<Properties><Company>4111-1111-1111-1111</Company></Properties>"),
        ("word/header1.xml", f"<w:hdr><w:p><w:r><w:t>{PAN}</w:t></w:r></w:p></w:hdr>"),
        (
            "word/charts/chart1.xml",
            "<c:chart><a:p><a:r><a:t>4111 1111</a:t></a:r>"
            "<a:r><a:t> 1111 1111</a:t></a:r></a:p></c:chart>",
        ),
        ("customXml/item1.xml", f"<datos><tarjeta>{PAN}</tarjeta></datos>"),
        (
            "word/_rels/document.xml.rels",
            f'<Relationships><Relationship Target="https://pago.example/?pan={PAN}"/></Relationships>',
        ),
    ],
)
def test_a_card_number_in_any_part_of_a_word_file_is_refused(part: str, xml: str) -> None:
    assert part in problem(office.docx("Reclamo", extra={part: xml}), "carta.docx")


def test_a_card_number_in_a_comment_author_is_refused() -> None:
    comments = (
        f'<w:comments {office.W}><w:comment w:id="0" w:author="4111 1111 1111 1111">'
        "<w:p><w:r><w:t>revisar</w:t></w:r></w:p></w:comment></w:comments>"
    )
    content = office.docx("Reclamo", extra={"word/comments.xml": comments})
    assert "word/comments.xml" in problem(content, "carta.docx")


def test_numbers_in_attributes_are_not_joined_into_card_numbers() -> None:
    assert pan.card_network("2225" * 4) == "Mastercard"  # were they joined, it would be one
    grid = "".join('<w:gridCol w:w="2225"/>' for _ in range(6))
    margins = '<w:pgMar w:top="1417" w:right="1701" w:bottom="1417" w:left="1701"/>'
    extra = {
        "word/document.xml": (
            f"<w:document {office.W}><w:body><w:tbl><w:tblGrid>{grid}</w:tblGrid></w:tbl>"
            f"<w:sectPr>{margins}</w:sectPr></w:body></w:document>"
        )
    }
    assert accepted(office.docx(extra=extra), "carta.docx").file_type is rules.DOCX


def test_a_word_file_with_tables_dates_and_amounts_passes() -> None:
    content = office.docx(
        "Cuota 3 de 36, pagada el 21/11/2026 por $1.234.567",
        table=[
            ["Fecha", "Monto", "Saldo", "Folio"],
            ["2026-11-21", "1.234.567", "12.345.678", "0001-00012345"],
            ["2026-12-21", "1.234.567", "11.111.111", "0001-00012346"],
        ],
        creator="Ana Pérez (RUT 12.345.678-5)",
    )
    assert accepted(content, "carta.docx").file_type is rules.DOCX


# --- Excel --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rows", "strings"),
    [
        ([["Tarjeta", *GROUPS]], "shared"),  # a group per cell, as text
        ([["Tarjeta", *GROUPS]], "inline"),
        ([["Tarjeta", *map(int, GROUPS)]], "shared"),  # as numbers
        ([["Tarjeta"], *[[g] for g in GROUPS]], "shared"),  # a group per row
        ([["Número", f"{PAN}"]], "shared"),
    ],
)
def test_a_card_number_in_excel_cells_is_refused(rows: list[list[str | int]], strings: str) -> None:
    assert "card number" in problem(office.xlsx(rows, strings=strings), "tabla.xlsx")


def test_a_card_number_in_a_sheet_name_is_refused() -> None:
    content = office.pack(
        {
            "[Content_Types].xml": office.CONTENT_TYPES,
            "xl/workbook.xml": f'<workbook><sheets><sheet name="{PAN}"/></sheets></workbook>',
            "xl/worksheets/sheet1.xml": "<worksheet><sheetData/></worksheet>",
        }
    )
    assert "xl/workbook.xml" in problem(content, "tabla.xlsx")


def test_an_excel_statement_passes() -> None:
    rows: list[list[str | int]] = [["Fecha", "Detalle", "Monto", "Saldo", "Referencia"]]
    for day in range(1, 29):
        rows.append(
            [f"2026-11-{day:02d}", "Pago cuota", day * 12_345, day * 987_654, day * 7_654_321]
        )
    assert accepted(office.xlsx(rows), "cartola.xlsx").file_type is rules.XLSX


# --- bounded work -------------------------------------------------------------------------
def test_a_zip_bomb_is_refused_before_anything_is_inflated(monkeypatch: pytest.MonkeyPatch) -> None:
    content = office.bomb_docx(8 * 1024 * 1024)
    assert len(content) < 64 * 1024

    def never(*args: Any, **kw: Any) -> Any:
        raise AssertionError("a part was inflated")

    monkeypatch.setattr(zipfile.ZipFile, "open", never)
    message = problem(content, "bomba.docx")
    assert "to 1" in message and "zip bomb" in message and "word/document.xml" in message


def test_what_unpacks_to_more_than_the_limit_is_refused() -> None:
    content = office.docx("Reclamo", table=[["a" * 5000]])
    limits = rules.ScanLimits(max_unzipped_bytes=4096, max_ratio=1000)
    assert "more than the 4 KB accepted" in problem(content, "carta.docx", limits=limits)
    assert accepted(content, "carta.docx").file_type is rules.DOCX


def test_the_ratio_limit_is_a_setting() -> None:
    content = office.bomb_docx(2 * 1024 * 1024)
    assert "zip bomb" in problem(content, "a.docx")
    loose = rules.ScanLimits(max_ratio=100_000)
    assert accepted(content, "a.docx", limits=loose).file_type is rules.DOCX


def test_a_document_that_lies_about_its_size_is_refused() -> None:
    real = ("<w:document><w:body>" + "<w:p/>" * 200_000 + "</w:body></w:document>").encode()
    content = office.lying_docx(real, declared=1000)
    assert "damaged" in problem(content, "a.docx")


def test_a_document_of_too_many_parts_is_refused() -> None:
    content = office.many_parts_docx(rules.MAX_ZIP_ENTRIES + 1)
    assert "parts" in problem(content, "a.docx")

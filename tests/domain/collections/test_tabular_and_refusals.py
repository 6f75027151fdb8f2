"""CSV and XLSX exports read with the account's saved mapping; every bad input refused with
its code and nothing written (XXE, XML and zip bombs, sizes, currencies, formats)."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest
import xlsxwriter

from domain.collections.errors import StatementRefused
from domain.collections.ingestion import IngestPolicy
from tests.domain.collections.conftest import counts, ingest, lines_of, read

CARTOLA = {
    "date": "Fecha",
    "date_format": "%d/%m/%Y",
    "description": "Descripción",
    "bank_reference": "N° Documento",
    "national_id": "RUT Origen",
    "debit": "Cargos ($)",
    "credit": "Abonos ($)",
    "balance": "Saldo ($)",
    "decimal_separator": ",",
    "thousands_separator": ".",
    "delimiter": ";",
    "encoding": "latin-1",
    "header_row": 3,
    "skip_rows_matching": "^Total",
}


async def test_a_latin1_cartola_with_comma_decimals_and_a_running_balance(
    make_account, supervisor
) -> None:
    account = await make_account(mapping=CARTOLA)
    result = await ingest(
        read("cartola_bancoestado.csv"), "cartola.csv", principal=supervisor, account=account.id
    )
    (statement,) = result.statements
    assert statement.kind == "CSV"
    assert (statement.opening_balance, statement.closing_balance) == (1000000, 1352500)
    assert statement.integrity == "OK"
    assert (statement.from_date, statement.to_date) == (date(2026, 12, 1), date(2026, 12, 2))
    lines = await lines_of(account.id)
    assert [line.amount for line in lines] == [150000, -2500, 55000, 150000]
    assert lines[0].remittance_info == "TRANSF. DE JUAN PÉREZ CR-2026-000001"
    assert lines[0].counterparty_national_id == "123456785"
    assert lines[2].counterparty_national_id == "76543216"  # found in the description
    assert lines[0].identity_key == "ref:1001"


async def test_an_overlapping_export_books_only_what_is_new(make_account, supervisor) -> None:
    mapping = {k: v for k, v in CARTOLA.items() if k != "bank_reference"}
    account = await make_account(mapping=mapping)
    await ingest(read("cartola_bancoestado.csv"), "1.csv", principal=supervisor, account=account.id)
    text = read("cartola_bancoestado.csv").decode("latin-1").split("\r\n")
    overlap = (
        text[:3]
        + text[5:7]
        + [
            "03/12/2026;DEPÓSITO SIN REFERENCIA;;;;10.000;1.362.500",
        ]
    )
    result = await ingest(
        "\r\n".join(overlap).encode("latin-1"), "2.csv", principal=supervisor, account=account.id
    )
    assert (result.file.line_count, result.file.new_line_count) == (3, 1)
    lines = await lines_of(account.id)
    assert [line.amount for line in lines] == [150000, -2500, 55000, 150000, 10000]
    # Two identical payments on different days are two lines; keys are hashes here.
    assert all(line.identity_key.startswith("h:") for line in lines)


async def test_a_running_balance_that_breaks_is_reported(make_account, supervisor) -> None:
    account = await make_account(mapping=CARTOLA)
    wrong = read("cartola_bancoestado.csv").replace(b"1.202.500", b"1.202.400")
    result = await ingest(wrong, "c.csv", principal=supervisor, account=account.id)
    (statement,) = result.statements
    assert statement.integrity == "BROKEN"
    assert [p["code"] for p in statement.problems] == ["RUNNING_BALANCE", "RUNNING_BALANCE"]
    assert statement.problems[0]["where"] == "row 6"


async def test_quoted_comma_decimals(make_account) -> None:
    account = await make_account(
        currency="USD",
        number="000999888777",
        mapping={
            "date": "Fecha Operación",
            "amount": "Importe",
            "description": "Concepto",
            "reference": 4,
            "decimal_separator": ",",
            "delimiter": ",",
        },
    )
    await ingest(read("export_usd_comma.csv"), "usd.csv", account=account.id)
    lines = await lines_of(account.id)
    assert [line.amount for line in lines] == [123450, -1025]
    assert lines[0].remittance_info == "REF-1\nPago cuota, cliente Gómez"


def _xlsx(rows: list[list[object]]) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("Movimientos")
    dates = book.add_format({"num_format": "dd-mm-yyyy"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, date):
                sheet.write_datetime(r, c, value, dates)
            else:
                sheet.write(r, c, value)
    book.close()
    return out.getvalue()


XLSX_MAPPING = {"date": "Fecha", "amount": "Monto", "reference": "Glosa", "sheet": "Movimientos"}


async def test_an_xlsx_export_with_dates_and_numbers(make_account) -> None:
    account = await make_account(mapping=XLSX_MAPPING)
    content = _xlsx(
        [
            ["Fecha", "Glosa", "Monto"],
            [date(2026, 12, 1), "PAGO CR-2026-000001", 150000],
            [date(2026, 12, 1), "CARGO", -2500.0],
        ]
    )
    result = await ingest(content, "mov.xlsx", account=account.id)
    assert result.statements[0].kind == "XLSX"
    assert [line.amount for line in await lines_of(account.id)] == [150000, -2500]


async def test_an_xlsx_amount_with_more_decimals_than_its_currency_is_refused(
    make_account,
) -> None:
    account = await make_account(mapping=XLSX_MAPPING)
    content = _xlsx([["Fecha", "Glosa", "Monto"], [date(2026, 12, 1), "X", 1500.5]])
    before = await counts()
    with pytest.raises(StatementRefused) as refused:
        await ingest(content, "mov.xlsx", account=account.id)
    assert refused.value.code == "MALFORMED_STATEMENT"
    assert refused.value.where == "row 2, column Monto"
    assert await counts() == before


async def test_csv_needs_an_account_and_its_mapping(make_account) -> None:
    account = await make_account()
    with pytest.raises(StatementRefused) as no_account:
        await ingest(read("cartola_bancoestado.csv"), "c.csv")
    assert no_account.value.code == "UNKNOWN_ACCOUNT"
    with pytest.raises(StatementRefused) as no_mapping:
        await ingest(read("cartola_bancoestado.csv"), "c.csv", account=account.id)
    assert no_mapping.value.code == "NO_COLUMN_MAPPING"


CAMT8 = b"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="NS"><BkToCstmrStmt>&xxe;</BkToCstmrStmt></Document>""".replace(b"NS", CAMT8)
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&lol2;</Document>"""
DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ELEMENT Document ANY>]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>"""


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (XXE, "XML_EXTERNAL_ENTITY"),
        (BOMB, "XML_BOMB"),
        (DTD, "XML_FORBIDDEN"),
        (b"   \n", "EMPTY_FILE"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3 binary statement", "UNSUPPORTED_FORMAT"),
        (
            b"<?xml version='1.0'?><Document xmlns='"
            b"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09'/>",
            "UNSUPPORTED_FORMAT",
        ),
        (b"<?xml version='1.0'?><Document><Unclosed></Document>", "MALFORMED_STATEMENT"),
        (_zip({"bomb.xml": b"<a>" + b"0" * 3_000_000 + b"</a>"}), "ZIP_BOMB"),
        (_zip({"inner.zip": _zip({"a.xml": b"<a/>"})}), "ZIP_BOMB"),
    ],
    ids=[
        "xxe",
        "billion-laughs",
        "dtd",
        "empty",
        "pdf",
        "other-iso-message",
        "ill-formed",
        "zip-bomb",
        "zip-in-zip",
    ],
)
async def test_bad_files_are_refused_with_their_code_and_nothing_is_written(
    make_account, content: bytes, code: str
) -> None:
    await make_account(number="000777000222", bank_code="039")
    before = await counts()
    with pytest.raises(StatementRefused) as refused:
        await ingest(content, "file.xml")
    assert refused.value.code == code
    assert await counts() == before


def _workbook_with(part: str, prolog: bytes, cell: bytes) -> bytes:
    """A good XLSX export whose ``part`` gets ``prolog`` (a DTD) before its root and, for a
    sheet, its amount cell replaced by ``cell`` (an entity reference)."""
    good = _xlsx([["Fecha", "Glosa", "Monto"], [date(2026, 12, 1), "PAGO", 150000]])
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(good)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for name in source.namelist():
            data = source.read(name)
            if name == part:
                head, _, body = data.partition(b"?>")
                data = head + b"?>" + prolog + body.replace(b"<v>150000</v>", cell, 1)
            archive.writestr(name, data)
    return out.getvalue()


LAUGHS = (
    b'<!DOCTYPE worksheet [<!ENTITY lol "lol">'
    b'<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
)
PASSWD = b'<!DOCTYPE workbook [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


@pytest.mark.parametrize(
    ("part", "prolog", "cell", "code"),
    [
        ("xl/worksheets/sheet1.xml", LAUGHS, b"<v>&lol1;</v>", "XML_BOMB"),
        ("xl/worksheets/sheet1.xml", PASSWD, b"<v>&xxe;</v>", "XML_EXTERNAL_ENTITY"),
        ("xl/workbook.xml", PASSWD, b"", "XML_EXTERNAL_ENTITY"),
        ("xl/styles.xml", b"<!DOCTYPE styleSheet [<!ELEMENT a ANY>]>", b"", "XML_FORBIDDEN"),
    ],
    ids=["sheet-bomb", "sheet-xxe", "workbook-xxe", "styles-dtd"],
)
async def test_an_xlsx_whose_xml_is_unsafe_is_refused_with_its_code(
    make_account, part: str, prolog: bytes, cell: bytes, code: str
) -> None:
    account = await make_account(mapping=XLSX_MAPPING)
    before = await counts()
    with pytest.raises(StatementRefused) as refused:
        await ingest(_workbook_with(part, prolog, cell), "mov.xlsx", account=account.id)
    assert refused.value.code == code
    assert refused.value.where == f"mov.xlsx:{part}"
    assert await counts() == before
    # The same workbook without the DTD is read.
    result = await ingest(
        _workbook_with(part, b"", b"<v>150000</v>"), "ok.xlsx", account=account.id
    )
    assert result.statements[0].kind == "XLSX"


async def test_a_file_over_the_size_limit_is_refused(make_account) -> None:
    await make_account(number="000777000222", bank_code="039")
    content = read("camt053_v08_two_days.xml")
    with pytest.raises(StatementRefused) as refused:
        await ingest(content, "big.xml", policy=IngestPolicy(max_bytes=len(content) - 1))
    assert refused.value.code == "FILE_TOO_LARGE"


async def test_an_unknown_currency_and_an_unknown_account(make_account) -> None:
    await make_account(number="000777000222", bank_code="039")
    euros = (
        read("camt053_v08_two_days.xml")
        .replace(b'Ccy="CLP"', b'Ccy="EUR"')
        .replace(b"<Ccy>CLP</Ccy>", b"<Ccy>EUR</Ccy>")
    )
    with pytest.raises(StatementRefused) as refused:
        await ingest(euros, "eur.xml")
    assert refused.value.code == "UNKNOWN_CURRENCY"
    elsewhere = read("camt053_v08_two_days.xml").replace(b"000777000222", b"000777000999")
    with pytest.raises(StatementRefused) as unknown:
        await ingest(elsewhere, "x.xml")
    assert unknown.value.code == "UNKNOWN_ACCOUNT"
    assert "000777000999" in unknown.value.reason


async def test_a_file_for_another_account_than_the_one_chosen(make_account) -> None:
    chosen = await make_account(number="000123456789")
    await make_account(number="000777000222", bank_code="039")
    with pytest.raises(StatementRefused) as refused:
        await ingest(read("camt053_v08_two_days.xml"), "x.xml", account=chosen.id)
    assert refused.value.code == "ACCOUNT_MISMATCH"


async def test_a_zip_of_statements(make_account) -> None:
    account = await make_account(number="000777000222", bank_code="039")
    bundle = _zip(
        {
            "1-ntf.xml": read("camt054_v08_notification.xml"),
            "2-stmt.xml": read("camt053_v08_two_days.xml"),
        }
    )
    with pytest.raises(StatementRefused) as mixed:
        await ingest(bundle, "dia.zip")
    assert mixed.value.code == "UNSUPPORTED_FORMAT"  # one format per zip
    only_statements = _zip({"2-stmt.xml": read("camt053_v08_two_days.xml")})
    result = await ingest(only_statements, "dia.zip")
    assert len(result.statements) == 2
    assert len(await lines_of(account.id)) == 3


async def test_a_bank_reference_numbered_afresh_each_export_loses_no_line(make_account) -> None:
    """Some banks number an export's movements from 1 (or each day's): the same reference
    on another day or amount is another movement, kept and reported, never dropped as a
    repeat; the same export again still adds nothing."""
    account = await make_account(
        mapping={
            "date": "Fecha",
            "amount": "Monto",
            "bank_reference": "Nro",
            "description": "Glosa",
        }
    )
    monday = b"Fecha,Nro,Glosa,Monto\n2026-12-07,1,PAGO CR-1,150000\n2026-12-07,2,PAGO CR-2,80000\n"
    tuesday = (
        b"Fecha,Nro,Glosa,Monto\n2026-12-08,1,PAGO CR-3,150000\n2026-12-08,2,PAGO CR-4,95000\n"
    )
    await ingest(monday, "lunes.csv", account=account.id)
    result = await ingest(tuesday, "martes.csv", account=account.id)
    (statement,) = result.statements
    assert result.new_line_count == 2
    assert [p["code"] for p in statement.problems] == ["REFERENCE_REUSED", "REFERENCE_REUSED"]
    assert statement.problems[0]["where"] == "row 2"
    assert "'1' was given before" in statement.problems[0]["message"]
    assert statement.integrity == "UNCHECKED"  # no balances in this export: nothing broken
    stored = await lines_of(account.id)
    assert [(line.booking_date.day, line.amount) for line in stored] == [
        (7, 150000),
        (7, 80000),
        (8, 150000),
        (8, 95000),
    ]
    assert [line.identity_key.split(":")[0] for line in stored] == ["ref", "ref", "h", "h"]
    # Tuesday's export again (another file: one more blank line): nothing new.
    again = await ingest(tuesday + b"\n", "martes-2.csv", account=account.id)
    assert again.new_line_count == 0 and len(await lines_of(account.id)) == 4
    # Monday's own lines are still recognised by their reference.
    assert (await ingest(monday + b"\n", "lunes-2.csv", account=account.id)).new_line_count == 0

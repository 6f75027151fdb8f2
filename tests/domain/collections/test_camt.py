"""ISO 20022 camt in: .001.02 to .001.14, batches split, reversals signed and linked, pending
entries left out, camt.054 then camt.053 booking each line once, XSD deviations reported."""

from __future__ import annotations

import pytest

from bench.statement_files import ACCOUNT, camt053
from domain.collections.errors import StatementRefused
from tests.domain.collections.conftest import counts, ingest, lines_of, read


async def test_a_version_02_statement_with_a_batch_a_reversal_and_a_pending_entry(
    make_account, supervisor
) -> None:
    account = await make_account(number="000555000111")
    result = await ingest(read("camt053_v02_cl.xml"), "estado.xml", principal=supervisor)
    (statement,) = result.statements
    assert statement.kind == "CAMT053"
    assert statement.message_version == "camt.053.001.02"
    assert statement.schema_status == "VALID"
    assert statement.sequence == 55
    assert (statement.opening_balance, statement.closing_balance) == (1000000, 1300000)
    assert statement.integrity == "WARNINGS"
    assert [p["code"] for p in statement.problems] == ["NOT_BOOKED"]
    lines = await lines_of(account.id)
    assert [line.amount for line in lines] == [150000, 100000, 200000, -150000]
    paid, first, second, reversal = lines
    assert paid.counterparty_name == "Juan Pérez Soto"
    assert (paid.counterparty_national_id_type, paid.counterparty_national_id) == (
        "CL_RUT",
        "123456785",
    )
    assert paid.counterparty_account == "0071234567"
    assert paid.counterparty_bank == "BSCHCLRM"
    assert paid.remittance_info == "PAGO CUOTA 3 CR-2026-000001\nVEHICULO TOYOTA YARIS"
    assert paid.bank_transaction_code == "PMNT/RCDT/DMCT"
    # The batch entry of 300000 is split into its two transactions.
    assert (first.batch_key, first.batch_amount, first.batch_size) == ("B-20261201-0002", 300000, 2)
    assert (first.end_to_end_id, second.end_to_end_id) == ("NOM-1", "NOM-2")
    assert first.identity_key == "ref:B-20261201-0002#NOM-1"
    assert second.counterparty_national_id == "98765433"
    # A debit reversal: money out, linked to the credit it takes back.
    assert reversal.is_reversal and reversal.direction == "DEBIT"
    assert reversal.reverses_line_id == paid.id
    assert reversal.identity_key == "ref:R-20261201-0003:R"


async def test_two_statements_in_one_file_each_checked_and_sequenced(make_account) -> None:
    account = await make_account(number="000777000222", bank_code="039")
    result = await ingest(read("camt053_v08_two_days.xml"), "itau.xml")
    assert [s.sequence for s in result.statements] == [1, 2]
    assert [s.integrity for s in result.statements] == ["OK", "OK"]
    assert result.statements[1].closing_balance == -5000  # an overdrawn account: DBIT
    lines = await lines_of(account.id)
    assert [line.amount for line in lines] == [245000, 50000, -300000]
    first = lines[0]
    assert first.creditor_reference == "CR-2026-000004"
    assert first.end_to_end_id is None  # NOTPROVIDED is no reference
    assert first.transaction_id == "TX-1"
    assert first.counterparty_name == "Pedro Soto Rivas"
    assert first.counterparty_national_id == "76543216"
    assert first.counterparty_bank == "BCHICLRM"
    # The payer's RUT written in the remittance text is found too.
    assert lines[1].counterparty_national_id == "154328769"
    assert lines[2].counterparty_name == "AutoCrédito Club (cuenta propia)"


async def test_a_notification_then_the_statement_books_the_line_once(make_account) -> None:
    account = await make_account(number="000777000222", bank_code="039")
    notified = await ingest(read("camt054_v08_notification.xml"), "ntf.xml")
    (notification,) = notified.statements
    assert notification.kind == "CAMT054" and notification.interim
    assert notification.integrity == "WARNINGS"  # one pending entry left out
    (early,) = await lines_of(account.id)
    assert early.booked_statement_id is None
    result = await ingest(read("camt053_v08_two_days.xml"), "itau.xml")
    day2 = result.statements[1]
    assert (day2.line_count, day2.new_line_count) == (2, 1)
    lines = await lines_of(account.id)
    assert len(lines) == 3
    (same,) = [line for line in lines if line.id == early.id]
    assert same.booked_statement_id == day2.id
    assert same.statement_id == notification.id


@pytest.mark.parametrize("version", range(2, 15))
async def test_every_version_reads_and_validates(make_account, version: int) -> None:
    account = await make_account(number="0012345678901234", identifier=ACCOUNT)
    content = camt053(12, version=version, per_statement=5)
    result = await ingest(content, f"v{version}.xml")
    assert [s.integrity for s in result.statements] == ["OK", "OK", "OK"]
    assert {s.message_version for s in result.statements} == {f"camt.053.001.{version:02d}"}
    assert {s.schema_status for s in result.statements} == {"VALID"}
    lines = await lines_of(account.id)
    assert len(lines) == 12
    assert all(line.counterparty_national_id_type == "CL_RUT" for line in lines)


async def test_a_file_that_bends_the_schema_is_read_and_reported(make_account) -> None:
    await make_account(number="000777000222", bank_code="039")
    bent = read("camt053_v08_two_days.xml").replace(
        b"<LglSeqNb>1</LglSeqNb>", b"<LglSeqNb>1</LglSeqNb><BancoPropio>x</BancoPropio>"
    )
    result = await ingest(bent, "bent.xml")
    first, second = result.statements
    assert first.schema_status == second.schema_status == "INVALID"
    assert first.integrity == "WARNINGS"
    (problem,) = first.problems
    assert problem["code"] == "XSD"
    assert "BancoPropio" in problem["message"]
    assert problem["where"].startswith("/Document/BkToCstmrStmt/Stmt[1]")


async def test_an_entry_without_amount_refuses_the_file_with_its_element(make_account) -> None:
    await make_account(number="000777000222", bank_code="039")
    broken = read("camt053_v08_two_days.xml").replace(
        b'<Amt Ccy="CLP">50000</Amt>\n        <CdtDbtInd>CRDT</CdtDbtInd>',
        b"<CdtDbtInd>CRDT</CdtDbtInd>",
        1,
    )
    before = await counts()
    with pytest.raises(StatementRefused) as refused:
        await ingest(broken, "broken.xml")
    assert refused.value.code == "MALFORMED_STATEMENT"
    assert refused.value.where is not None
    assert refused.value.where.startswith("/Document/BkToCstmrStmt/Stmt[2]/Ntry[1]/Amt (line")
    assert await counts() == before


async def test_balances_that_do_not_add_up_are_reported(make_account) -> None:
    await make_account(number="000777000222", bank_code="039")
    wrong = read("camt053_v08_two_days.xml").replace(
        b'<Amt Ccy="CLP">5000</Amt><CdtDbtInd>DBIT</CdtDbtInd>',
        b'<Amt Ccy="CLP">5000</Amt><CdtDbtInd>CRDT</CdtDbtInd>',
    )
    result = await ingest(wrong, "wrong.xml")
    assert result.statements[1].integrity == "BROKEN"
    assert [p["code"] for p in result.statements[1].problems] == ["BALANCE_MISMATCH"]


async def test_declared_totals_are_checked(make_account) -> None:
    await make_account(number="000777000222", bank_code="039")
    wrong = read("camt053_v08_two_days.xml").replace(
        b"<NbOfNtries>1</NbOfNtries><Sum>50000</Sum>", b"<NbOfNtries>2</NbOfNtries><Sum>50000</Sum>"
    )
    result = await ingest(wrong, "wrong.xml")
    assert [p["code"] for p in result.statements[1].problems] == ["DECLARED_TOTALS"]


async def test_an_intraday_camt052_report_is_interim(make_account) -> None:
    account = await make_account(number="000777000222", bank_code="039")
    report = (
        read("camt053_v08_two_days.xml")
        .replace(b"camt.053.001.08", b"camt.052.001.08")
        .replace(b"BkToCstmrStmt>", b"BkToCstmrAcctRpt>")
        .replace(b"<Stmt>", b"<Rpt>")
        .replace(b"</Stmt>", b"</Rpt>")
        .replace(b"<Cd>CLBD</Cd>", b"<Cd>ITBD</Cd>")
        .replace(b"<Cd>PRCD</Cd>", b"<Cd>ITBD</Cd>")
    )
    result = await ingest(report, "intradia.xml")
    assert [s.kind for s in result.statements] == ["CAMT052", "CAMT052"]
    assert all(s.interim for s in result.statements)
    assert {s.schema_status for s in result.statements} == {"VALID"}
    assert [s.integrity for s in result.statements] == ["OK", "OK"]
    assert all(line.booked_statement_id is None for line in await lines_of(account.id))
    # The day's statements then book them, and only add what the reports did not have.
    booked = await ingest(read("camt053_v08_two_days.xml"), "itau.xml")
    assert [s.new_line_count for s in booked.statements] == [0, 0]
    assert all(line.booked_statement_id is not None for line in await lines_of(account.id))


async def test_a_notified_line_the_statement_books_on_another_day_stays_one(make_account) -> None:
    """The bank's reference is the identity even when the end-of-day statement books the
    notified movement on the next day: one line, booked by the statement (a reference seen
    before is taken for another movement only against what a statement booked)."""
    account = await make_account(number="000777000222", bank_code="039")
    early_day = read("camt054_v08_notification.xml").replace(
        b"<BookgDt><Dt>2026-12-02</Dt></BookgDt>", b"<BookgDt><Dt>2026-12-01</Dt></BookgDt>"
    )
    await ingest(early_day, "ntf.xml")
    (early,) = await lines_of(account.id)
    result = await ingest(read("camt053_v08_two_days.xml"), "itau.xml")
    assert result.statements[1].new_line_count == 1
    assert [p["code"] for s in result.statements for p in s.problems].count("REFERENCE_REUSED") == 0
    lines = await lines_of(account.id)
    assert len(lines) == 3
    (same,) = [line for line in lines if line.id == early.id]
    assert same.booked_statement_id == result.statements[1].id

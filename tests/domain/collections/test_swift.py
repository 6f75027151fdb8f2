"""MT940 and MT942 in: several banks' dialects, reversals with their sign, :86: kept whole,
overlaps booked once, malformed files refused with their line and nothing written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.db import read_session
from domain.collections.errors import StatementRefused
from domain.collections.ingestion import IngestPolicy
from domain.collections.models import BankAccount
from domain.shared.event_schemas import global_id
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import Role
from tests.domain.collections.conftest import (
    counts,
    ingest,
    lines_of,
    person,
    read,
    statements_of,
)

CL_ID = "BCHICLRM/000123456789"


async def test_a_chilean_bank_statement_with_envelopes_reversals_and_long_details(
    make_account, supervisor
) -> None:
    account = await make_account(identifier=CL_ID)
    result = await ingest(read("mt940_cl_bancochile.sta"), "cartola.sta", principal=supervisor)
    assert [s.integrity for s in result.statements] == ["OK", "OK"]
    assert [s.sequence for s in result.statements] == [101, 102]
    assert result.file.line_count == result.file.new_line_count == 5
    lines = await lines_of(account.id)
    assert [(line.amount, line.is_reversal) for line in lines] == [
        (150000, False),
        (-2500, False),
        (40000, True),  # RD: a debit given back, money in
        (200000, False),
        (-150000, True),  # RC: a credit taken back, money out
    ]
    first, _, _, _, taken_back = lines
    assert taken_back.reverses_line_id == first.id
    # The :86: is kept whole: ten lines, more than SWIFT's six, none cut.
    assert first.remittance_info is not None
    assert first.remittance_info.count("\n") == 9
    assert first.remittance_info.endswith("LINEA DIEZ FINAL DEL DETALLE")
    assert first.counterparty_national_id == "123456785"
    assert first.counterparty_national_id_type == "CL_RUT"
    assert first.customer_reference == "CR-2026-000001"
    assert first.bank_reference == "0012612010001"
    assert all(line.state == "NEW" and line.version == 1 for line in lines)
    async with read_session() as session:
        stored = await session.get(BankAccount, account.id)
        events = (
            (
                await session.execute(
                    sa.select(OutboxEvent).where(OutboxEvent.topic == "statements.ingested")
                )
            )  # type: ignore[arg-type]
            .scalars()
            .all()
        )
    assert stored is not None
    assert stored.last_sequence == 102
    assert stored.last_closing_balance == 5237500
    mine = [
        e for e in events if e.payload["accountId"] == global_id("CollectionAccount", account.id)
    ]
    assert sorted(e.payload["newLineCount"] for e in mine) == [2, 3]


async def test_the_same_file_twice_books_nothing_twice(make_account, supervisor) -> None:
    await make_account(identifier=CL_ID)
    await ingest(read("mt940_cl_bancochile.sta"), "a.sta", principal=supervisor)
    before = await counts()
    again = await ingest(read("mt940_cl_bancochile.sta"), "a (1).sta", principal=supervisor)
    assert again.already_received
    assert await counts() == before
    # The same statements in another file (re-exported with other envelopes): skipped.
    content = read("mt940_cl_bancochile.sta").replace(b"{CHK:0123456789AB}", b"{CHK:FFFF}")
    other = await ingest(content, "b.sta", principal=supervisor)
    assert not other.already_received
    assert other.skipped_statements == 2
    assert other.file.new_line_count == 0


async def test_an_mt942_then_the_mt940_of_the_day_books_each_line_once(
    make_account, supervisor
) -> None:
    account = await make_account(identifier=CL_ID)
    await ingest(read("mt940_cl_bancochile.sta"), "1.sta", principal=supervisor)
    interim = await ingest(read("mt942_cl_interim.sta"), "942.sta", principal=supervisor)
    (report,) = interim.statements
    assert report.kind == "MT942" and report.interim and report.integrity == "UNCHECKED"
    notified = [line for line in await lines_of(account.id) if line.booked_statement_id is None]
    assert [line.amount for line in notified] == [80000]
    day = await ingest(read("mt940_cl_day3.sta"), "940.sta", principal=supervisor)
    (statement,) = day.statements
    assert statement.integrity == "OK"
    assert statement.line_count == 2 and statement.new_line_count == 1
    lines = await lines_of(account.id)
    assert len(lines) == 7
    assert all(line.booked_statement_id is not None for line in lines)
    assert [line.booked_statement_id for line in lines if line.amount in (80000, 55000)] == [
        statement.id,
        statement.id,
    ]


async def test_a_statement_without_closing_balance_is_refused_with_its_line(
    make_account, supervisor
) -> None:
    await make_account(identifier=CL_ID)
    before = await counts()
    with pytest.raises(StatementRefused) as refused:
        await ingest(read("mt940_missing_62f.sta"), "bad.sta", principal=supervisor)
    assert refused.value.code == "MALFORMED_STATEMENT"
    assert refused.value.where == "line 1"
    assert ":62F:" in refused.value.reason
    assert await counts() == before


async def test_a_line_the_library_cannot_read_is_refused_with_its_line(
    make_account, supervisor
) -> None:
    await make_account(identifier=CL_ID)
    content = read("mt940_cl_bancochile.sta").replace(
        b":61:2612011201D2500,NCHG", b":61:26120X1201D2500,NCHG"
    )
    with pytest.raises(StatementRefused) as refused:
        await ingest(content, "bad.sta", principal=supervisor)
    assert refused.value.code == "MALFORMED_STATEMENT"
    assert refused.value.where == "line 17, :61:"


async def test_structured_details_of_rabobank_and_ing(make_account, supervisor) -> None:
    account = await make_account(
        number="000987654321", currency="USD", identifier="CL12BANK000987654321"
    )
    result = await ingest(read("mt940_structured86.sta"), "usd.sta", principal=supervisor)
    assert result.statements[0].integrity == "OK"
    paid, fee = await lines_of(account.id)
    assert paid.amount == 25050 and fee.amount == -1025
    assert paid.end_to_end_id == "CR-2026-000010"
    assert paid.counterparty_name == "PEDRO SOTO"
    assert paid.counterparty_account == "CL0012000000001234"
    assert paid.counterparty_bank == "BANKCLRM"
    assert paid.bank_transaction_text == "/TRCD/00100/"


async def test_an_argentine_bank_in_latin1_with_a_cuit(make_account, other_lender) -> None:
    account = await make_account(
        country="AR",
        kind="CBU",
        bank_code=None,
        number="0140999832000012345677",
        currency="ARS",
        bank_name="Banco de la Pampa",
    )
    result = await ingest(read("mt940_ar_pampa.sta"), "pampa.sta")
    (statement,) = result.statements
    assert statement.integrity == "OK" and statement.sequence == 45
    paid, cash = await lines_of(account.id)
    assert paid.amount == 3550075
    assert paid.counterparty_national_id_type == "AR_CUIL"
    assert paid.counterparty_national_id == "20123456786"
    assert paid.remittance_info is not None and "GÓMEZ RAÚL CUOTA Nº 4" in paid.remittance_info
    assert cash.counterparty_national_id is None


async def test_a_mexican_bank_with_clabe_and_rfc(make_account, other_lender) -> None:
    account = await make_account(
        partner=other_lender,
        country="MX",
        kind="CLABE",
        bank_code=None,
        number="012180001234567899",
        currency="MXN",
        bank_name="BBVA México",
    )
    boss = person(Role.SUPERVISOR, other_lender)
    await ingest(read("mt940_mx_norte.sta"), "mx.sta", principal=boss)
    (line,) = await lines_of(account.id)
    assert line.amount == 499999
    assert (line.counterparty_national_id_type, line.counterparty_national_id) == (
        "MX_RFC",
        "GODE561231GR8",
    )
    assert line.remittance_info is not None and line.remittance_info.endswith("CR-2026-000020")


async def test_another_partners_account_is_unknown(make_account, other_lender, supervisor) -> None:
    await make_account(
        partner=other_lender,
        country="MX",
        kind="CLABE",
        bank_code=None,
        number="012180001234567899",
        currency="MXN",
    )
    before = await counts()
    with pytest.raises(StatementRefused) as refused:
        await ingest(read("mt940_mx_norte.sta"), "mx.sta", principal=supervisor)
    assert refused.value.code == "UNKNOWN_ACCOUNT"
    assert await counts() == before


async def test_a_sequence_gap_is_reported_or_refused_by_setting(make_account, supervisor) -> None:
    account = await make_account(identifier=CL_ID)
    await ingest(read("mt940_cl_bancochile.sta"), "1.sta", principal=supervisor)
    skipped = read("mt940_cl_day3.sta").replace(b":28C:00103/001", b":28C:00105/001")
    before = await counts()
    with pytest.raises(StatementRefused) as refused:
        await ingest(
            skipped, "3.sta", principal=supervisor, policy=IngestPolicy(refuse_broken=True)
        )
    assert refused.value.code == "INTEGRITY_BROKEN"
    assert "SEQUENCE_GAP" in refused.value.reason
    assert await counts() == before
    result = await ingest(skipped, "3.sta", principal=supervisor)
    (statement,) = result.statements
    assert statement.integrity == "BROKEN"
    assert [p["code"] for p in statement.problems] == ["SEQUENCE_GAP"]
    assert len(await statements_of(account.id)) == 3


async def test_balances_that_do_not_add_up_break_the_statement(make_account, supervisor) -> None:
    await make_account(identifier=CL_ID, refuse_broken=True)
    wrong = read("mt940_cl_bancochile.sta").replace(
        b":62F:C261201CLP5187500,", b":62F:C261201CLP5187000,"
    )
    with pytest.raises(StatementRefused) as refused:
        await ingest(wrong, "x.sta", principal=supervisor)
    assert refused.value.code == "INTEGRITY_BROKEN"
    assert "BALANCE_MISMATCH" in refused.value.reason
    assert "not the closing balance 5187000 CLP" in refused.value.reason


async def test_a_statement_in_another_currency_is_refused(make_account, supervisor) -> None:
    await make_account(identifier=CL_ID, currency="USD", number="000123456789")
    with pytest.raises(StatementRefused) as refused:
        await ingest(read("mt940_cl_bancochile.sta"), "x.sta", principal=supervisor)
    assert refused.value.code == "CURRENCY_MISMATCH"


async def test_the_same_file_sent_twice_at_once_is_stored_once(make_account, supervisor) -> None:
    import asyncio

    account = await make_account(identifier=CL_ID)
    content = read("mt940_cl_bancochile.sta")
    results = await asyncio.gather(
        ingest(content, "a.sta", principal=supervisor),
        ingest(content, "b.sta", principal=supervisor),
    )
    assert sorted(r.already_received for r in results) == [False, True]
    assert len(await lines_of(account.id)) == 5
    assert len(await statements_of(account.id)) == 2


async def test_an_account_number_registered_twice_is_never_guessed(
    make_account, other_lender, supervisor
) -> None:
    """The same number at two banks (accounts are unique per country, bank and number):
    another lender's account named like ours never takes our file nor hides our account,
    and the system (CLI, inbox) refuses to guess between them."""
    theirs = await make_account(partner=other_lender, identifier=None, bank_code="001")
    ours = await make_account(identifier=None, bank_code="012")
    content = read("mt940_cl_bancochile.sta")  # :25: BCHICLRM/000123456789
    before = await counts()
    with pytest.raises(StatementRefused) as refused:
        await ingest(content, "cl.sta")  # as the system
    assert refused.value.code == "UNKNOWN_ACCOUNT"
    assert "2 registered accounts" in refused.value.reason
    assert await counts() == before
    result = await ingest(content, "cl.sta", principal=supervisor)
    assert {s.account_id for s in result.statements} == {ours.id}
    assert len(await lines_of(ours.id)) == 5 and await lines_of(theirs.id) == []
    # The system may book it when told which account.
    again = await ingest(read("mt940_cl_day3.sta"), "d3.sta", account=ours.id)
    assert {s.account_id for s in again.statements} == {ours.id}

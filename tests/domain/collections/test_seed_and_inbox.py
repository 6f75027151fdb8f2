"""The demo statement the seed ingests, and the inbox folder: complete files taken once,
moved to done/ or rejected/ with their result or reason beside them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import sqlalchemy as sa

from app import statement_inbox
from app.db import read_session
from app.seed_statements import ACCOUNT_NUMBER
from app.settings import Settings
from domain.collections.models import BankAccount, BankStatement
from tests.domain.collections.conftest import counts, lines_of, read


async def test_the_seed_ingests_a_statement_paying_demo_credits(db) -> None:
    async with read_session() as session:
        account = (
            await session.execute(
                sa.select(BankAccount).where(BankAccount.account_number == ACCOUNT_NUMBER)  # type: ignore[arg-type]
            )
        ).scalar_one()
        statement = (
            await session.execute(
                sa.select(BankStatement).where(BankStatement.account_id == account.id)  # type: ignore[arg-type]
            )
        ).scalar_one()
    assert statement.integrity == "OK" and statement.kind == "MT940"
    lines = await lines_of(account.id)
    paying = [
        line
        for line in lines
        if line.amount > 0
        and ("CR-" in (line.remittance_info or "") or line.counterparty_national_id is not None)
    ]
    assert len(paying) >= 2  # by reference, by the payer's RUT
    assert any(line.counterparty_national_id_type == "CL_RUT" for line in paying)
    assert all(line.state == "NEW" for line in lines)
    assert any(line.amount < 0 for line in lines)  # the bank's fee


def _settings(settings: Settings, inbox: Path) -> Settings:
    return settings.model_copy(
        update={"statement_inbox": inbox, "statement_inbox_settle_seconds": 0.0}
    )


async def test_the_inbox_takes_complete_files_and_sorts_them(
    make_account, settings: Settings, tmp_path: Path
) -> None:
    account = await make_account(identifier="BCHICLRM/000123456789")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "cartola.sta").write_bytes(read("mt940_cl_bancochile.sta"))
    (inbox / "roto.sta").write_bytes(read("mt940_missing_62f.sta"))
    (inbox / "llegando.sta.part").write_bytes(read("mt940_cl_day3.sta")[:40])
    (inbox / ".oculto").write_bytes(b"x")
    report = await statement_inbox.sweep(_settings(settings, inbox))
    assert report.done == ["cartola.sta"] and report.rejected == ["roto.sta"]
    assert sorted(p.name for p in (inbox / "done").iterdir()) == [
        "cartola.sta",
        "cartola.sta.result.json",
    ]
    result = json.loads((inbox / "done" / "cartola.sta.result.json").read_text())
    assert result["new_line_count"] == 5
    reason = json.loads((inbox / "rejected" / "roto.sta.reason.json").read_text())
    assert reason["code"] == "MALFORMED_STATEMENT" and reason["where"] == "line 1"
    # What is still being written stays; the writer renames it when done.
    assert (inbox / "llegando.sta.part").exists()
    os.rename(inbox / "llegando.sta.part", inbox / "llegando.sta")
    (inbox / "llegando.sta").write_bytes(read("mt940_cl_day3.sta"))
    (inbox / "otra-vez.sta").write_bytes(read("mt940_cl_bancochile.sta"))
    second = await statement_inbox.sweep(_settings(settings, inbox))
    assert sorted(second.done) == ["llegando.sta", "otra-vez.sta"]
    again = json.loads((inbox / "done" / "otra-vez.sta.result.json").read_text())
    assert again["already_received"] is True and again["new_line_count"] == 5
    assert len(await lines_of(account.id)) == 7
    assert list((inbox / "processing").iterdir()) == []


async def test_a_file_still_growing_waits_for_the_next_sweep(
    make_account, settings: Settings, tmp_path: Path
) -> None:
    await make_account(identifier="BCHICLRM/000123456789")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "cartola.sta").write_bytes(read("mt940_cl_bancochile.sta"))
    slow = settings.model_copy(
        update={"statement_inbox": inbox, "statement_inbox_settle_seconds": 0.05}
    )
    before = await counts()
    first = await statement_inbox.sweep(slow)
    assert first.waiting == ["cartola.sta"] and not first.done
    assert await counts() == before
    import asyncio

    await asyncio.sleep(0.06)
    second = await statement_inbox.sweep(slow)
    assert second.done == ["cartola.sta"]


async def test_csv_exports_go_in_their_accounts_folder(
    make_account, settings: Settings, tmp_path: Path
) -> None:
    from tests.domain.collections.test_tabular_and_refusals import CARTOLA

    account = await make_account(mapping=CARTOLA)
    inbox = tmp_path / "inbox"
    (inbox / account.account_number).mkdir(parents=True)
    (inbox / account.account_number / "cartola.csv").write_bytes(read("cartola_bancoestado.csv"))
    (inbox / "suelto.csv").write_bytes(read("cartola_bancoestado.csv"))
    report = await statement_inbox.sweep(_settings(settings, inbox))
    assert report.done == ["cartola.csv"] and report.rejected == ["suelto.csv"]
    reason = json.loads((inbox / "rejected" / "suelto.csv.reason.json").read_text())
    assert reason["code"] == "UNKNOWN_ACCOUNT"
    assert len(await lines_of(account.id)) == 4


async def test_a_folder_named_like_two_accounts_is_refused_not_guessed(
    make_account, other_lender, settings: Settings, tmp_path: Path
) -> None:
    """The same number at two banks (here of two lenders): an export in the folder of that
    number is rejected with the accounts' ids, never booked to either; the folder named
    after the account's id takes it."""
    from tests.domain.collections.test_tabular_and_refusals import CARTOLA

    theirs = await make_account(partner=other_lender, mapping=CARTOLA, bank_code="001")
    ours = await make_account(mapping=CARTOLA, bank_code="012")
    inbox = tmp_path / "inbox"
    (inbox / ours.account_number).mkdir(parents=True)
    (inbox / ours.account_number / "cartola.csv").write_bytes(read("cartola_bancoestado.csv"))
    before = await counts()
    report = await statement_inbox.sweep(_settings(settings, inbox))
    assert report.rejected == ["cartola.csv"]
    reason = json.loads((inbox / "rejected" / "cartola.csv.reason.json").read_text())
    assert reason["code"] == "UNKNOWN_ACCOUNT" and "2 registered accounts" in reason["message"]
    assert await counts() == before
    (inbox / str(ours.id)).mkdir()
    (inbox / str(ours.id) / "cartola.csv").write_bytes(read("cartola_bancoestado.csv"))
    assert (await statement_inbox.sweep(_settings(settings, inbox))).done == ["cartola.csv"]
    assert len(await lines_of(ours.id)) == 4 and await lines_of(theirs.id) == []


async def test_symbolic_links_are_never_taken(
    make_account, settings: Settings, tmp_path: Path
) -> None:
    """Whoever drops files (a bank's SFTP account) cannot have Trama read or move a file
    elsewhere on the machine through a link, to a file or to a folder."""
    from tests.domain.collections.test_tabular_and_refusals import CARTOLA

    account = await make_account(mapping=CARTOLA)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = elsewhere / "cartola.csv"
    secret.write_bytes(read("cartola_bancoestado.csv"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "linked.sta").symlink_to(secret)
    (inbox / account.account_number).symlink_to(elsewhere, target_is_directory=True)
    before = await counts()
    report = await statement_inbox.sweep(_settings(settings, inbox))
    assert report.as_dict() == {"done": [], "rejected": [], "waiting": []}
    assert secret.read_bytes() == read("cartola_bancoestado.csv")  # still there, untouched
    assert not any((inbox / "processing").iterdir())
    assert await counts() == before

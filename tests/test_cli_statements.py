"""``trama statements ingest`` and ``trama statements sweep``, run as an operator runs them,
on the CLI tests' database (migrated and seeded through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.domain.collections.conftest import FILES
from tests.test_cli import Cli
from tests.test_cli import cli as cli  # the module's shared database (a fixture)

LINES = "SELECT count(*) FROM statement_lines"


async def test_the_seed_left_a_demo_statement(cli: Cli) -> None:
    assert "bank statement lines" in (cli.first_seed.out if cli.first_seed else "")
    assert await cli.scalar("SELECT count(*) FROM bank_statements WHERE kind = 'MT940'") >= 1


async def test_ingest_files_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    # No account is named like the test file's: refused, one JSON object per file.
    out = await cli("statements", "ingest", str(FILES / "mt940_cl_bancochile.sta"), "--json")
    assert out.code == 1
    refused = json.loads(out.out)
    assert refused["status"] == "REFUSED" and refused["code"] == "UNKNOWN_ACCOUNT"
    # The same statements for the seed's demo account.
    renamed = tmp_path / "demo.sta"
    renamed.write_bytes(
        (FILES / "mt940_cl_bancochile.sta")
        .read_bytes()
        .replace(b"BCHICLRM/000123456789", b"BECHCLRM/000012345678")
    )
    before = await cli.scalar(LINES)
    first = await cli.ok("statements", "ingest", str(renamed))
    # Its numbers do not follow the demo statement's (00001): stored, the break reported.
    assert "INGESTED MT940, 2 statement(s) (BROKEN, OK), 5 lines, 5 new" in first
    assert await cli.scalar(LINES) == before + 5
    again = await cli.ok("statements", "ingest", str(renamed), "--account", "000012345678")
    assert "ALREADY_RECEIVED MT940" in again
    assert await cli.scalar(LINES) == before + 5


async def test_a_refused_file_prints_its_reason_and_writes_nothing(cli: Cli) -> None:
    before = await cli.scalar(LINES)
    result = await cli("statements", "ingest", str(FILES / "mt940_missing_62f.sta"))
    assert result.code == 1
    assert "REFUSED MALFORMED_STATEMENT" in result.err and "(line 1)" in result.err
    assert "Traceback" not in result.err
    assert await cli.scalar(LINES) == before


async def test_sweep_an_inbox_once(cli: Cli, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "roto.sta").write_bytes((FILES / "mt940_missing_62f.sta").read_bytes())
    result = await cli("statements", "sweep", "--inbox", str(inbox), "--settle", "0")
    assert result.code == 1
    assert json.loads(result.out)["rejected"] == ["roto.sta"]
    assert (inbox / "rejected" / "roto.sta.reason.json").exists()

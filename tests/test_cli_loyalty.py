"""``trama loyalty purchases|accrue|verify|expire`` run as a user runs them, on a database
migrated and seeded through the CLI (the seed adds Banco de la Pampa's program)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from domain.shared.time import isoformat, utcnow
from tests.test_cli import Cli
from tests.test_cli import cli as cli  # the module's shared database (a fixture)

HEADER = "external_id,member_number,kind,refund_of,amount,currency,occurred_at,mcc,channel\n"


async def _member(cli: Cli) -> str:
    number = await cli.scalar(
        "SELECT a.number FROM loyalty_accounts a JOIN loyalty_programs p ON p.id = a.program_id"
        " WHERE p.code = 'PAMPA_PUNTOS' ORDER BY a.number LIMIT 1"
    )
    assert number, "the seed enrols members"
    return str(number)


async def test_seeded_ledger_is_proved(cli: Cli) -> None:
    result = await cli("loyalty", "verify")
    assert result.code == 0, result.err
    assert "program PAMPA_PUNTOS:" in result.out and ": ok" in result.out


async def test_purchases_file_recorded_once_and_accrued(cli: Cli, tmp_path: Path) -> None:
    number = await _member(cli)
    when = isoformat(utcnow() - timedelta(hours=3))
    path = tmp_path / "compras.csv"
    path.write_text(
        HEADER
        + f"CLI-1,{number},PURCHASE,,25000.00,ARS,{when},5411,POS\n"
        + f"CLI-2,{number},PURCHASE,,3000.50,ARS,{when},5999,ECOMMERCE\n"
        + f"CLI-3,{number},REFUND,CLI-2,3000.50,ARS,{when},,\n"
    )
    out = json.loads(
        await cli.ok("loyalty", "purchases", str(path), "--program", "PAMPA_PUNTOS", "--accrue")
    )
    assert out["accepted"] == 3 and out["duplicates"] == 0 and out["accrued"] >= 1
    again = json.loads(await cli.ok("loyalty", "purchases", str(path), "--program", "PAMPA_PUNTOS"))
    assert again == {"records": 3, "accepted": 0, "duplicates": 3}
    status = await cli.scalar(
        "SELECT count(*) FROM loyalty_purchases WHERE external_id LIKE 'CLI-%'"
        " AND status = 'ACCRUED'"
    )
    assert status == 3


async def test_a_bad_file_records_nothing(cli: Cli, tmp_path: Path) -> None:
    number = await _member(cli)
    when = isoformat(utcnow())
    path = tmp_path / "malas.csv"
    path.write_text(
        HEADER
        + f"BAD-1,{number},PURCHASE,,100.00,ARS,{when},5411,POS\n"
        + f"BAD-2,{number},PURCHASE,,100.00,ARS,{when},54X1,POS\n"
        + f"BAD-3,4111111111111111,PURCHASE,,100.00,ARS,{when},5411,POS\n"
    )
    result = await cli("loyalty", "purchases", str(path), "--program", "PAMPA_PUNTOS")
    assert result.code == 2
    assert "line 3.mcc" in result.err and "line 4.memberNumber" in result.err
    assert "4111111111111111" not in result.err
    assert (
        await cli.scalar("SELECT count(*) FROM loyalty_purchases WHERE external_id LIKE 'BAD-%'")
        == 0
    )


async def test_verify_exits_1_on_a_difference(cli: Cli) -> None:
    lot = await cli.scalar(
        "SELECT id FROM loyalty_lots WHERE remaining > 1 ORDER BY opened_at LIMIT 1"
    )
    await cli.scalar("UPDATE loyalty_lots SET remaining = remaining - 1 WHERE id = :id", id=lot)
    try:
        result = await cli("loyalty", "verify", "--program", "PAMPA_PUNTOS")
        assert result.code == 1
        assert "DIFFERENCES" in result.out and "LOT" in result.out
    finally:
        await cli.scalar("UPDATE loyalty_lots SET remaining = remaining + 1 WHERE id = :id", id=lot)

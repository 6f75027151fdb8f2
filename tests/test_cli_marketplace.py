"""``trama vehicles import`` run as a user runs it, on a database migrated and seeded
through the CLI (the seed lists the demo dealers' vehicles, with photos)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import Cli
from tests.test_cli import cli as cli  # the module's shared database (a fixture)

HEADER = "stock_id;marca;modelo;version;año;km;combustible;transmision;color;precio\n"


async def test_seeded_catalogue_and_a_feed_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    seeded = await cli.scalar("SELECT count(*) FROM vehicles")
    assert seeded >= 300
    without_photo = await cli.scalar(
        "SELECT count(*) FROM vehicles v WHERE NOT EXISTS"
        " (SELECT 1 FROM vehicle_photos p WHERE p.vehicle_id = v.id)"
    )
    assert without_photo == 0
    path = tmp_path / "stock.csv"
    path.write_text(
        HEADER
        + "CLI-1;Toyota;Yaris;GLI;2022;31.000;Bencina;Manual;Rojo;10.490.000\n"
        + "CLI-2;Kia;Rio;EX;2021;40.500;Bencina;Automática;Azul;9.990.000\n"
    )
    out = json.loads(await cli.ok("vehicles", "import", str(path), "--dealer", "AUTOS_PACIFICO"))
    assert (out["created"], out["updated"], out["unchanged"]) == (2, 0, 0)
    again = json.loads(await cli.ok("vehicles", "import", str(path), "--dealer", "AUTOS_PACIFICO"))
    assert (again["created"], again["unchanged"]) == (0, 2)

    bad = tmp_path / "malo.csv"
    bad.write_text(HEADER + "CLI-3;Kia;Rio;EX;2021;40.500;Vapor;Manual;Azul;-9.990.000\n")
    before = await cli.scalar("SELECT count(*) FROM vehicles")
    refused = await cli("vehicles", "import", str(bad), "--dealer", "AUTOS_PACIFICO")
    assert refused.code == 2
    assert "line 2: fuel" in refused.err and "line 2: price" in refused.err
    unknown = await cli("vehicles", "import", str(path), "--dealer", "BANCO_ANDINO")
    assert unknown.code == 2 and "Dealer BANCO_ANDINO was not found" in unknown.err
    assert await cli.scalar("SELECT count(*) FROM vehicles") == before

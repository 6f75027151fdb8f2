"""``trama scoring fit|activate|psi`` run as a user runs them, on a database migrated and
seeded through the CLI (the seed activates the reference scorecard and writes a history)."""

from __future__ import annotations

import json
from pathlib import Path

from domain.scoring import history
from tests.test_cli import Cli
from tests.test_cli import cli as cli  # the module's shared database (a fixture)


async def test_fit_stores_a_draft_that_can_be_activated(cli: Cli, tmp_path: Path) -> None:
    seeded = cli.var_dir / "scoring" / "history-AUTOCREDITO.csv"
    assert seeded.exists(), "the seed writes the lender's history"
    path = tmp_path / "history.csv"
    history.write_csv(history.synthetic_rows(1200, seed=3), path)
    before = await cli.scalar("SELECT count(*) FROM scoring_scorecards")
    out = json.loads(
        await cli.ok("scoring", "fit", "--history", str(path), "--lender", "AUTOCREDITO")
    )
    assert out["status"] == "DRAFT" and out["lender"] == "AUTOCREDITO"
    assert float(out["gini"]) > 0.3 and float(out["ks"]) > 0.2 and out["holdoutRows"] == 360
    assert await cli.scalar("SELECT count(*) FROM scoring_scorecards") == before + 1
    activated = json.loads(
        await cli.ok(
            "scoring", "activate", "--lender", "AUTOCREDITO", "--version", str(out["version"])
        )
    )
    assert activated["status"] == "ACTIVE"
    active = await cli.scalar(
        "SELECT count(*) FROM scoring_scorecards s JOIN partners p ON p.id = s.lender_id"
        " WHERE p.code = 'AUTOCREDITO' AND s.status = 'ACTIVE'"
    )
    assert active == 1
    report = json.loads(await cli.ok("scoring", "psi", "--lender", "AUTOCREDITO"))
    assert report["lines"][0]["name"] == "SCORE" and report["rows"] == 0


async def test_bad_history_refused_nothing_written(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("bureau_score,bad\n700,maybe\n")
    before = await cli.scalar("SELECT count(*) FROM scoring_scorecards")
    result = await cli("scoring", "fit", "--history", str(path))
    assert result.code == 2 and "line 2: bad must be 0 or 1" in result.err
    result = await cli("scoring", "fit", "--history", str(tmp_path / "missing.csv"))
    assert result.code == 2
    assert await cli.scalar("SELECT count(*) FROM scoring_scorecards") == before

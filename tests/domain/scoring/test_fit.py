"""Fitting a scorecard from a history: optimal binning + logistic regression, Gini and KS on
the holdout, the stored card as exact data, deterministic; the heavy libraries stay off the
API's import path."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from domain.scoring import history, psi
from domain.scoring.card import parse
from domain.scoring.fit import fit
from domain.scoring.history import HISTORY_FEATURES, HistoryProblem


def test_fit_on_a_synthetic_history(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    history.write_csv(history.synthetic_rows(2000, seed=5), path)
    features, rows, targets = history.read_rows(path)
    assert features == list(HISTORY_FEATURES) and len(rows) == 2000
    result = fit(features, rows, targets)
    m = result.metrics
    assert m["holdoutRows"] == 600 and m["trainRows"] == 1400
    # the synthetic outcomes follow a known model: the card must separate them
    assert Decimal(m["gini"]) > Decimal("0.35") and Decimal(m["ks"]) > Decimal("0.25")
    # the stored (rounded, exact) card ranks the holdout as the fitted model does
    assert abs(Decimal(m["storedGini"]) - Decimal(m["gini"])) <= Decimal("0.02")
    card = parse(result.document)
    assert [a.feature for a in card.attributes] == list(HISTORY_FEATURES)
    bureau = next(a for a in card.attributes if a.feature == "bureau_score")
    ranged = [b for b in bureau.bins if not b.missing]
    assert ranged[0].points < ranged[-1].points  # a better bureau score earns more
    assert all(isinstance(b.points, int) for a in card.attributes for b in a.bins)
    assert result.document["grades"][0]["grade"] == "A"  # carried from the base card
    assert result.development["rows"] == 1400
    dev_psi = psi.report(card, result.development, [])
    assert dev_psi.rows == 0
    # the same history and seed give the same card, bit for bit
    again = fit(features, rows, targets)
    assert again.document == result.document and again.metrics == result.metrics


def test_bad_history_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("bureau_score,shoe_size,bad\n700,42,0\n")
    with pytest.raises(HistoryProblem, match="unknown columns: shoe_size"):
        history.read_rows(path)
    path.write_text("bureau_score,bad\n700,2\n")
    with pytest.raises(HistoryProblem, match="line 2: bad must be 0 or 1"):
        history.read_rows(path)
    path.write_text("bureau_score,bad\nhigh,1\n")
    with pytest.raises(HistoryProblem, match="line 2: bureau_score 'high' is not a number"):
        history.read_rows(path)
    path.write_text("bureau_score,bad\n" + "700,0\n" * 300)
    with pytest.raises(HistoryProblem, match="good and bad"):
        history.read_rows(path)


def test_the_api_does_not_import_the_fitting_libraries() -> None:
    code = (
        "import sys, app.main, app.cli, workers.actors.scoring, domain.scoring.service;"
        "print(','.join(m for m in ('sklearn', 'optbinning', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert out.stdout.strip() == ""

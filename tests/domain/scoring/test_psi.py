"""Population stability: PSI values, bands, the development distribution and the report."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from domain.scoring import psi
from domain.scoring.card import parse
from domain.scoring.defaults import reference_document
from domain.scoring.engine import score

CARD = parse(reference_document())


def _applicant(rng: random.Random, shift: int = 0) -> dict[str, Any]:
    return {
        "bureau_score": rng.randint(380 + shift, 880),
        "bureau_delinquencies": rng.choice([0, 0, 0, 1, 2, 4]),
        "bureau_inquiries": rng.randint(0, 8),
        "debt_to_income": Decimal(rng.randint(0, 7000)) / 10000,
        "down_payment_ratio": Decimal(rng.randint(0, 5000)) / 10000,
        "employment_type": rng.choice(["EMPLOYED", "SELF_EMPLOYED", "FIXED_TERM", "RETIRED"]),
        "employment_months": rng.randint(0, 200),
        "trama_max_dpd": rng.choice([0, 0, 0, 0, 10, 45]),
        "trama_open_cases": rng.choice([0, 0, 1]),
    }


def test_psi_values_and_bands() -> None:
    same = {"0": Decimal("0.5"), "1": Decimal("0.5")}
    assert psi.psi(same, same) == Decimal("0")
    # (0.7-0.5) ln(1.4) + (0.3-0.5) ln(0.6) = 0.0673 + 0.1022
    assert psi.psi(same, {"0": Decimal("0.7"), "1": Decimal("0.3")}) == Decimal("0.1695")
    # an empty bin counts as 0.0001, not as an infinite PSI
    assert psi.psi(same, {"0": Decimal("1"), "1": Decimal("0")}) > Decimal("3")
    assert psi.band(Decimal("0.0999")) == "STABLE"
    assert psi.band(Decimal("0.10")) == "SHIFT"
    assert psi.band(Decimal("0.2499")) == "SHIFT"
    assert psi.band(Decimal("0.25")) == "UNSTABLE"


def test_report_against_the_development_sample() -> None:
    rng = random.Random(7)
    sample = [_applicant(rng) for _ in range(2000)]
    dev = psi.development(CARD, sample)
    assert dev["rows"] == 2000
    assert len(dev["score"]["shares"]) == len(dev["score"]["edges"]) + 1
    for code, shares in dev["attributes"].items():
        assert abs(sum(Decimal(s) for s in shares.values()) - 1) <= Decimal("0.0010"), code

    def decided(rows: list[dict[str, Any]]) -> list[tuple[int, list[dict[str, Any]]]]:
        out = []
        for facts in rows:
            d = score(CARD, facts)
            out.append((d.total, [a.to_json() for a in d.attributes]))
        return out

    alike = psi.report(CARD, dev, decided([_applicant(rng) for _ in range(2000)]))
    assert alike.rows == 2000 and alike.development_rows == 2000
    assert alike.lines[0].name == "SCORE"
    assert all(line.band == "STABLE" for line in alike.lines), alike.lines
    # recent applicants with far better bureau scores: the bureau attribute and the score move
    shifted = psi.report(CARD, dev, decided([_applicant(rng, shift=400) for _ in range(2000)]))
    lines = {line.name: line for line in shifted.lines}
    assert lines["BUREAU_SCORE"].band == "UNSTABLE"
    assert lines["SCORE"].psi >= Decimal("0.10")
    assert lines["EMPLOYMENT"].band == "STABLE"

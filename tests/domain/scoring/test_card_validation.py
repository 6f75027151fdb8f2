"""A scorecard document is refused with codes for each broken rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from domain.scoring.card import parse
from domain.scoring.defaults import reference_document
from domain.scoring.errors import ScorecardInvalid


def _codes(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ScorecardInvalid) as info:
        parse(document)
    assert info.value.code == "SCORECARD_INVALID"
    return info.value.codes


def _doc() -> dict[str, Any]:
    return copy.deepcopy(reference_document())


def test_reference_is_valid() -> None:
    card = parse(_doc())
    assert [g.grade for g in card.grades] == ["A", "B", "C", "D", "E"]


def test_numeric_bins_gap_overlap_and_unbounded() -> None:
    doc = _doc()
    doc["attributes"][0]["bins"][1]["min"] = "520"  # [520, 650) leaves [500, 520) uncovered
    assert _codes(doc) == ["BINS_GAP"]
    doc = _doc()
    doc["attributes"][0]["bins"][1]["min"] = "480"
    assert _codes(doc) == ["BINS_OVERLAP"]
    doc = _doc()
    doc["attributes"][0]["bins"][0]["min"] = "0"  # nothing below 0
    assert _codes(doc) == ["BINS_GAP"]
    doc = _doc()
    del doc["attributes"][0]["bins"][3]  # no bin from 800 on
    assert _codes(doc) == ["BINS_GAP"]
    doc = _doc()
    doc["attributes"][0]["bins"][1] = {"min": "650", "max": "500", "points": 1}
    assert "BIN_EMPTY_RANGE" in _codes(doc)


def test_missing_other_and_categories() -> None:
    doc = _doc()
    del doc["attributes"][0]["bins"][4]
    assert _codes(doc) == ["MISSING_BIN_REQUIRED"]
    doc = _doc()
    employment = doc["attributes"][5]
    employment["bins"] = [b for b in employment["bins"] if not b.get("other")]
    assert _codes(doc) == ["OTHER_BIN_REQUIRED"]
    doc = _doc()
    doc["attributes"][5]["bins"][1]["categories"].append("EMPLOYED")
    assert _codes(doc) == ["CATEGORY_DUPLICATE"]
    doc = _doc()
    doc["attributes"][5]["bins"][0] = {"min": "1", "points": 3}
    assert "BIN_KIND_MISMATCH" in _codes(doc)


def test_points_features_and_texts() -> None:
    doc = _doc()
    doc["attributes"][0]["bins"][0]["points"] = 10.5
    assert _codes(doc) == ["POINTS_NOT_INTEGER"]
    doc = _doc()
    doc["attributes"][0]["feature"] = "shoe_size"
    assert _codes(doc) == ["FEATURE_UNKNOWN"]
    doc = _doc()
    doc["attributes"][1]["code"] = doc["attributes"][0]["code"]
    assert _codes(doc) == ["ATTRIBUTE_CODE_DUPLICATE"]
    doc = _doc()
    doc["attributes"][0]["reason"] = {"es": "Puntaje bajo."}
    assert _codes(doc) == ["TEXT_REQUIRED"]
    doc = _doc()
    doc["attributes"][0]["bins"][0]["max"] = 500.0
    assert _codes(doc) == ["NOT_A_DECIMAL"]
    doc = _doc()
    doc["attributes"] = []
    assert _codes(doc) == ["ATTRIBUTES_EMPTY"]


def test_grades_and_cutoffs() -> None:
    doc = _doc()
    doc["grades"][2]["minScore"] = 660  # C above B
    assert _codes(doc) == ["GRADES_ORDER"]
    doc = _doc()
    doc["grades"][1]["grade"] = "C"
    assert _codes(doc) == ["GRADES_ORDER"]
    doc = _doc()
    doc["grades"][3]["annualRate"] = "0.10"  # D cheaper than C
    assert _codes(doc) == ["GRADE_RATE"]
    doc = _doc()
    doc["grades"][0]["annualRate"] = "1.5"
    assert _codes(doc) == ["GRADE_RATE"]
    doc = _doc()
    doc["grades"][4]["maxTermMonths"] = 96  # E longer than D
    assert _codes(doc) == ["GRADE_TERM"]
    doc = _doc()
    doc["grades"] = doc["grades"][:1]
    assert _codes(doc) == ["GRADES_COUNT"]
    doc = _doc()
    doc["cutoffs"] = {"approve": 560, "refer": 600}
    assert _codes(doc) == ["CUTOFFS_ORDER"]
    doc = _doc()
    doc["cutoffs"] = {"approve": 610, "refer": 500}  # referred below grade E: no grade
    assert _codes(doc) == ["CUTOFF_BELOW_GRADES"]
    doc = _doc()
    doc["scaling"]["pdo"] = 0
    assert _codes(doc) == ["SCALING"]
    doc = _doc()
    doc["reasonCount"] = 7
    assert _codes(doc) == ["REASON_COUNT"]


def test_every_problem_is_reported_at_once() -> None:
    doc = _doc()
    doc["format"] = "x"
    doc["cutoffs"] = {"approve": 500, "refer": 600}
    doc["attributes"][0]["bins"][1]["min"] = "480"
    with pytest.raises(ScorecardInvalid) as info:
        parse(doc)
    assert info.value.codes == ["BINS_OVERLAP", "CUTOFFS_ORDER", "FORMAT"]
    fields = [p.field for p in info.value.problems]
    assert "attributes[0].bins[1]" in fields and "cutoffs" in fields

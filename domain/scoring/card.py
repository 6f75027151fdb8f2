"""A scorecard as data: its document, parsed into frozen objects, and the rules it must keep.

The document (JSON, stored with each version)::

    {"format": "trama.scoring.scorecard/1",
     "scaling": {"baseScore": 600, "baseOdds": "50", "pdo": 20},
     "basePoints": 0, "reasonCount": 4,
     "attributes": [
        {"code": "BUREAU_SCORE", "feature": "bureau_score", "reasonCode": "LOW_BUREAU_SCORE",
         "reason": {"es": "Su puntaje en el buró de crédito es bajo.",
                    "en": "Your credit bureau score is low."},
         "bins": [{"max": "500", "points": 5}, {"min": "500", "max": "700", "points": 20},
                  {"min": "700", "points": 45}, {"missing": true, "points": 12}]},
        {"code": "EMPLOYMENT", "feature": "employment_type", ...,
         "bins": [{"categories": ["EMPLOYED"], "points": 30}, {"other": true, "points": 10},
                  {"missing": true, "points": 5}]}],
     "grades": [{"grade": "A", "minScore": 700, "annualRate": "0.1290", "maxTermMonths": 72},
                …, {"grade": "E", "minScore": 520, "annualRate": "0.3490", "maxTermMonths": 24}],
     "cutoffs": {"approve": 640, "refer": 580}}

Numeric bins are half-open ``[min, max)``; the first has no ``min`` and the last no ``max``,
each starts where the one before ended (no gap, no overlap). Categorical bins list their
categories (each in one bin only) and one ``other`` bin catches the unseen ones. Every
attribute has one ``missing`` bin. Points are integers. Grades are A, B, … in that order,
each from its ``minScore`` up to the better grade's, rates rising and terms not growing as
grades worsen. A score at or above ``approve`` is approved, at or above ``refer`` referred,
below it rejected; ``refer`` is not below the worst grade's ``minScore`` (whoever is not
rejected has a grade).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.scoring.errors import ScorecardInvalid, ScorecardProblem
from domain.scoring.features import FEATURES, Kind

FORMAT = "trama.scoring.scorecard/1"
GRADE_NAMES = ("A", "B", "C", "D", "E")
MAX_TERM_MONTHS = 120
MAX_ATTRIBUTES = 40
MAX_BINS = 40
MAX_POINTS = 10_000


@dataclass(frozen=True)
class Bin:
    index: int
    label: str
    points: int
    missing: bool = False
    other: bool = False
    low: Decimal | None = None  # numeric: inclusive
    high: Decimal | None = None  # numeric: exclusive
    categories: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Attribute:
    code: str
    feature: str
    kind: Kind
    reason_code: str
    reason_es: str
    reason_en: str
    bins: tuple[Bin, ...]

    @property
    def best_points(self) -> int:
        return max(b.points for b in self.bins)

    def bin_for(self, value: Any) -> Bin:
        if value is None:
            return next(b for b in self.bins if b.missing)
        if self.kind is Kind.CATEGORICAL:
            text = str(value)
            for b in self.bins:
                if text in b.categories:
                    return b
            return next(b for b in self.bins if b.other)
        number = value if isinstance(value, Decimal) else Decimal(value)
        for b in self.bins:
            if b.missing:
                continue
            if (b.low is None or number >= b.low) and (b.high is None or number < b.high):
                return b
        raise AssertionError(f"{self.code}: no bin holds {value!r} (the card was validated)")


@dataclass(frozen=True)
class Grade:
    grade: str
    min_score: int
    annual_rate: Decimal
    max_term_months: int


@dataclass(frozen=True)
class Scaling:
    base_score: int
    base_odds: Decimal
    pdo: int


@dataclass(frozen=True)
class Card:
    scaling: Scaling
    base_points: int
    reason_count: int
    attributes: tuple[Attribute, ...]
    grades: tuple[Grade, ...]  # A first
    approve_at: int
    refer_at: int

    def grade_for(self, score: int) -> Grade | None:
        for grade in self.grades:
            if score >= grade.min_score:
                return grade
        return None

    def grade_named(self, name: str) -> Grade | None:
        return next((g for g in self.grades if g.grade == name), None)

    @property
    def features(self) -> frozenset[str]:
        return frozenset(a.feature for a in self.attributes)


def document_hash(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class _Problems:
    def __init__(self) -> None:
        self.items: list[ScorecardProblem] = []

    def add(self, field: str, code: str, message: str) -> None:
        self.items.append(ScorecardProblem(field, code, message))


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(p: _Problems, where: str, value: Any, *, code: str = "NOT_AN_INTEGER") -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        p.add(where, code, "an integer")
        return None
    return value


def _decimal(p: _Problems, where: str, value: Any) -> Decimal | None:
    if isinstance(value, (bool, float)) or value is None:
        p.add(where, "NOT_A_DECIMAL", "an exact number (an integer or a decimal string)")
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        p.add(where, "NOT_A_DECIMAL", "an exact number (an integer or a decimal string)")
        return None
    if not number.is_finite():
        p.add(where, "NOT_A_DECIMAL", "a finite number")
        return None
    return number


def _text(p: _Problems, where: str, value: Any, *, limit: int = 300) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        p.add(where, "TEXT_REQUIRED", f"a text of 1 to {limit} characters")
        return ""
    return value.strip()


def _code(p: _Problems, where: str, value: Any) -> str:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > 40
        or not value.replace("_", "").isalnum()
        or value.upper() != value
    ):
        p.add(where, "BAD_CODE", "upper-case letters, digits and _ (at most 40)")
        return ""
    return value


def _label(low: Decimal | None, high: Decimal | None) -> str:
    if low is None and high is None:
        return "ALL"
    if low is None:
        return f"< {high}"
    if high is None:
        return f">= {low}"
    return f"[{low}, {high})"


def _numeric_bins(p: _Problems, where: str, raw: list[Any]) -> list[Bin]:
    bins: list[Bin] = []
    ranged: list[tuple[int, Decimal | None, Decimal | None, int]] = []
    missing = 0
    unreadable = False
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            p.add(at, "FORMAT", "an object")
            continue
        points = _int(p, f"{at}.points", item.get("points"), code="POINTS_NOT_INTEGER")
        if points is not None and abs(points) > MAX_POINTS:
            p.add(f"{at}.points", "POINTS_OUT_OF_RANGE", f"between -{MAX_POINTS} and {MAX_POINTS}")
        if "categories" in item or item.get("other"):
            p.add(at, "BIN_KIND_MISMATCH", "a numeric attribute's bins are ranges (min/max)")
            continue
        if item.get("missing"):
            missing += 1
            if "min" in item or "max" in item:
                p.add(at, "BIN_KIND_MISMATCH", "the missing bin has no range")
            bins.append(Bin(index=i, label="MISSING", points=points or 0, missing=True))
            continue
        low = _decimal(p, f"{at}.min", item["min"]) if item.get("min") is not None else None
        high = _decimal(p, f"{at}.max", item["max"]) if item.get("max") is not None else None
        if (low is None and item.get("min") is not None) or (
            high is None and item.get("max") is not None
        ):
            unreadable = True
        if low is not None and high is not None and low >= high:
            p.add(at, "BIN_EMPTY_RANGE", "min must be below max")
        ranged.append((i, low, high, points or 0))
        bins.append(Bin(index=i, label=_label(low, high), points=points or 0, low=low, high=high))
    if missing != 1:
        p.add(where, "MISSING_BIN_REQUIRED", "exactly one bin with missing: true")
    if not ranged:
        p.add(where, "BINS_GAP", "at least one range")
        return bins
    if unreadable:
        return bins  # coverage is judged once every bound reads
    ordered = sorted(
        ranged, key=lambda r: (r[1] is not None, r[1] if r[1] is not None else Decimal(0))
    )
    if ordered[0][1] is not None:
        p.add(where, "BINS_GAP", f"nothing holds values below {ordered[0][1]} (first bin: no min)")
    if ordered[-1][2] is not None:
        p.add(where, "BINS_GAP", f"nothing holds values from {ordered[-1][2]} (last bin: no max)")
    for before, after in itertools.pairwise(ordered):
        end, start = before[2], after[1]
        if end is None or start is None or start < end:
            p.add(
                f"{where}[{after[0]}]",
                "BINS_OVERLAP",
                f"overlaps the bin {_label(before[1], before[2])}",
            )
        elif start > end:
            p.add(f"{where}[{after[0]}]", "BINS_GAP", f"values in [{end}, {start}) have no bin")
    return bins


def _categorical_bins(p: _Problems, where: str, raw: list[Any]) -> list[Bin]:
    bins: list[Bin] = []
    seen: dict[str, int] = {}
    missing = other = 0
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            p.add(at, "FORMAT", "an object")
            continue
        points = _int(p, f"{at}.points", item.get("points"), code="POINTS_NOT_INTEGER")
        if points is not None and abs(points) > MAX_POINTS:
            p.add(f"{at}.points", "POINTS_OUT_OF_RANGE", f"between -{MAX_POINTS} and {MAX_POINTS}")
        if "min" in item or "max" in item:
            p.add(at, "BIN_KIND_MISMATCH", "a categorical attribute's bins list categories")
            continue
        if item.get("missing"):
            missing += 1
            bins.append(Bin(index=i, label="MISSING", points=points or 0, missing=True))
            continue
        if item.get("other"):
            other += 1
            bins.append(Bin(index=i, label="OTHER", points=points or 0, other=True))
            continue
        cats = item.get("categories")
        if not isinstance(cats, list) or not cats or not all(isinstance(c, str) for c in cats):
            p.add(f"{at}.categories", "FORMAT", "a non-empty list of texts")
            continue
        for c in cats:
            if c in seen:
                p.add(f"{at}.categories", "CATEGORY_DUPLICATE", f"{c!r} is also in bin {seen[c]}")
            seen[c] = i
        bins.append(
            Bin(
                index=i,
                label=", ".join(sorted(cats)),
                points=points or 0,
                categories=frozenset(cats),
            )
        )
    if missing != 1:
        p.add(where, "MISSING_BIN_REQUIRED", "exactly one bin with missing: true")
    if other != 1:
        p.add(where, "OTHER_BIN_REQUIRED", "exactly one bin with other: true (unseen categories)")
    return bins


def _attribute(p: _Problems, where: str, raw: Any) -> Attribute | None:
    if not isinstance(raw, dict):
        p.add(where, "FORMAT", "an object")
        return None
    code = _code(p, f"{where}.code", raw.get("code"))
    feature = raw.get("feature")
    if feature not in FEATURES:
        p.add(f"{where}.feature", "FEATURE_UNKNOWN", f"one of {', '.join(sorted(FEATURES))}")
        return None
    kind = FEATURES[feature][0]
    reason_code = _code(p, f"{where}.reasonCode", raw.get("reasonCode"))
    reason = _obj(raw.get("reason"))
    es = _text(p, f"{where}.reason.es", reason.get("es"))
    en = _text(p, f"{where}.reason.en", reason.get("en"))
    raw_bins = raw.get("bins")
    if not isinstance(raw_bins, list) or not raw_bins or len(raw_bins) > MAX_BINS:
        p.add(f"{where}.bins", "FORMAT", f"a list of 1 to {MAX_BINS} bins")
        return None
    if kind is Kind.NUMERIC:
        bins = _numeric_bins(p, f"{where}.bins", raw_bins)
    else:
        bins = _categorical_bins(p, f"{where}.bins", raw_bins)
    return Attribute(
        code=code,
        feature=str(feature),
        kind=kind,
        reason_code=reason_code,
        reason_es=es,
        reason_en=en,
        bins=tuple(bins),
    )


def _grades(p: _Problems, raw: Any) -> list[Grade]:
    if not isinstance(raw, list) or not 2 <= len(raw) <= len(GRADE_NAMES):
        p.add("grades", "GRADES_COUNT", "2 to 5 grades, A first")
        return []
    grades: list[Grade] = []
    for i, item in enumerate(raw):
        at = f"grades[{i}]"
        if not isinstance(item, dict):
            p.add(at, "FORMAT", "an object")
            continue
        name = item.get("grade")
        if name != GRADE_NAMES[i]:
            p.add(f"{at}.grade", "GRADES_ORDER", f"grade {GRADE_NAMES[i]} here (A, B, … in order)")
        min_score = _int(p, f"{at}.minScore", item.get("minScore"))
        rate = _decimal(p, f"{at}.annualRate", item.get("annualRate"))
        if rate is not None and not Decimal(0) < rate < Decimal(1):
            p.add(f"{at}.annualRate", "GRADE_RATE", "a yearly rate between 0 and 1 (0.1490)")
        term = _int(p, f"{at}.maxTermMonths", item.get("maxTermMonths"))
        if term is not None and not 1 <= term <= MAX_TERM_MONTHS:
            p.add(f"{at}.maxTermMonths", "GRADE_TERM", f"1 to {MAX_TERM_MONTHS} months")
        if min_score is None or rate is None or term is None:
            continue
        grades.append(Grade(str(name), min_score, rate, term))
    for i in range(1, len(grades)):
        better, worse = grades[i - 1], grades[i]
        if worse.min_score >= better.min_score:
            p.add(f"grades[{i}].minScore", "GRADES_ORDER", f"below grade {better.grade}'s")
        if worse.annual_rate < better.annual_rate:
            p.add(f"grades[{i}].annualRate", "GRADE_RATE", f"not below grade {better.grade}'s")
        if worse.max_term_months > better.max_term_months:
            p.add(f"grades[{i}].maxTermMonths", "GRADE_TERM", f"not above grade {better.grade}'s")
    return grades


def parse(document: Any) -> Card:
    """The card a document describes, or :class:`ScorecardInvalid` with every problem."""
    p = _Problems()
    if not isinstance(document, dict):
        raise ScorecardInvalid([ScorecardProblem("document", "FORMAT", "a JSON object")])
    if document.get("format") != FORMAT:
        p.add("format", "FORMAT", f"{FORMAT!r}")
    scaling_raw = _obj(document.get("scaling"))
    base_score = _int(p, "scaling.baseScore", scaling_raw.get("baseScore"))
    base_odds = _decimal(p, "scaling.baseOdds", scaling_raw.get("baseOdds"))
    pdo = _int(p, "scaling.pdo", scaling_raw.get("pdo"))
    if base_odds is not None and base_odds <= 0:
        p.add("scaling.baseOdds", "SCALING", "good:bad odds above 0")
    if pdo is not None and pdo <= 0:
        p.add("scaling.pdo", "SCALING", "points to double the odds above 0")
    base_points = _int(p, "basePoints", document.get("basePoints", 0))
    reason_count = _int(p, "reasonCount", document.get("reasonCount", 4))
    if reason_count is not None and not 3 <= reason_count <= 5:
        p.add("reasonCount", "REASON_COUNT", "3 to 5 reasons")
    raw_attributes = document.get("attributes")
    attributes: list[Attribute] = []
    if not isinstance(raw_attributes, list) or not raw_attributes:
        p.add("attributes", "ATTRIBUTES_EMPTY", "at least one attribute")
    elif len(raw_attributes) > MAX_ATTRIBUTES:
        p.add("attributes", "FORMAT", f"at most {MAX_ATTRIBUTES} attributes")
    else:
        codes: set[str] = set()
        for i, raw in enumerate(raw_attributes):
            attribute = _attribute(p, f"attributes[{i}]", raw)
            if attribute is None:
                continue
            if attribute.code in codes:
                p.add(f"attributes[{i}].code", "ATTRIBUTE_CODE_DUPLICATE", attribute.code)
            codes.add(attribute.code)
            attributes.append(attribute)
    grades = _grades(p, document.get("grades"))
    cut = _obj(document.get("cutoffs"))
    approve = _int(p, "cutoffs.approve", cut.get("approve"))
    refer = _int(p, "cutoffs.refer", cut.get("refer"))
    if approve is not None and refer is not None:
        if refer > approve:
            p.add("cutoffs", "CUTOFFS_ORDER", "refer must not be above approve")
        if grades and refer < grades[-1].min_score:
            p.add(
                "cutoffs.refer",
                "CUTOFF_BELOW_GRADES",
                f"not below the worst grade's minScore ({grades[-1].min_score}): whoever is "
                "not rejected needs a grade",
            )
    if p.items:
        raise ScorecardInvalid(p.items)
    assert base_score is not None and base_odds is not None and pdo is not None
    assert approve is not None and refer is not None
    return Card(
        scaling=Scaling(base_score, base_odds, pdo),
        base_points=base_points or 0,
        reason_count=reason_count or 4,
        attributes=tuple(attributes),
        grades=tuple(grades),
        approve_at=approve,
        refer_at=refer,
    )

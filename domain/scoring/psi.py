"""Population stability: recent applications against the development sample.

PSI = sum of (actual% - expected%) * ln(actual% / expected%) over the bins of an attribute (or
the score's bands); an empty share counts as 0.0001 so the logarithm is defined. Bands:
``STABLE`` below 0.10, ``SHIFT`` from 0.10 to 0.25, ``UNSTABLE`` from 0.25.

The development distribution is stored with the scorecard::

    {"rows": 8000,
     "attributes": {"BUREAU_SCORE": {"0": "0.1250", "1": "0.4000", …}, …},   # bin index → share
     "score": {"edges": [540, 580, …], "shares": ["0.1000", …]}}              # len(edges) + 1
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from domain.scoring.card import Card
from domain.scoring.engine import score

FLOOR = Decimal("0.0001")
SHARE = Decimal("0.0001")
PSI_PLACES = Decimal("0.0001")
STABLE_BELOW = Decimal("0.10")
UNSTABLE_FROM = Decimal("0.25")


def band(value: Decimal) -> str:
    if value < STABLE_BELOW:
        return "STABLE"
    if value < UNSTABLE_FROM:
        return "SHIFT"
    return "UNSTABLE"


def shares(counts: Mapping[str, int], keys: Iterable[str]) -> dict[str, Decimal]:
    total = sum(counts.values())
    out: dict[str, Decimal] = {}
    for key in keys:
        n = counts.get(key, 0)
        out[key] = (
            (Decimal(n) / Decimal(total)).quantize(SHARE, rounding=ROUND_HALF_EVEN)
            if total
            else Decimal(0)
        )
    return out


def psi(expected: Mapping[str, Decimal], actual: Mapping[str, Decimal]) -> Decimal:
    total = Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 28
        for key in sorted(set(expected) | set(actual)):
            e = max(Decimal(expected.get(key, 0)), FLOOR)
            a = max(Decimal(actual.get(key, 0)), FLOOR)
            total += (a - e) * (a / e).ln()
    return total.quantize(PSI_PLACES, rounding=ROUND_HALF_EVEN)


def score_edges(totals: Sequence[int], *, bands: int = 10) -> list[int]:
    """Interior edges of ``bands`` score bands holding about equal shares of ``totals``."""
    ordered = sorted(totals)
    if not ordered:
        return []
    edges: list[int] = []
    for i in range(1, bands):
        edge = ordered[(len(ordered) * i) // bands]
        if not edges or edge > edges[-1]:
            edges.append(edge)
    return edges


def score_band(edges: Sequence[int], total: int) -> str:
    return str(bisect_right(edges, total))


def development(card: Card, sample: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The development distribution of ``card`` over ``sample`` (facts per row)."""
    bins: dict[str, Counter[str]] = {a.code: Counter() for a in card.attributes}
    totals: list[int] = []
    for facts in sample:
        decision = score(card, facts)
        totals.append(decision.total)
        for result in decision.attributes:
            bins[result.code][str(result.bin_index)] += 1
    edges = score_edges(totals)
    score_counts = Counter(score_band(edges, t) for t in totals)
    return {
        "rows": len(totals),
        "attributes": {
            a.code: {k: str(v) for k, v in shares(bins[a.code], _bin_keys(card, a.code)).items()}
            for a in card.attributes
        },
        "score": {
            "edges": edges,
            "shares": [
                str(v)
                for v in shares(score_counts, [str(i) for i in range(len(edges) + 1)]).values()
            ],
        },
    }


def _bin_keys(card: Card, code: str) -> list[str]:
    attribute = next(a for a in card.attributes if a.code == code)
    return [str(b.index) for b in attribute.bins]


@dataclass(frozen=True)
class PsiLine:
    name: str  # an attribute's code, or SCORE
    psi: Decimal
    band: str


@dataclass(frozen=True)
class PsiReport:
    rows: int
    development_rows: int
    lines: tuple[PsiLine, ...]  # SCORE first, then the attributes in the card's order


def report(
    card: Card,
    dev: Mapping[str, Any],
    recent: Sequence[tuple[int, Sequence[Mapping[str, Any]]]],
) -> PsiReport:
    """Compare ``recent`` decisions — (total, attributes as stored: ``code``/``binIndex``) —
    with the development distribution ``dev``."""
    edges = [int(e) for e in dev["score"]["edges"]]
    keys = [str(i) for i in range(len(edges) + 1)]
    expected_score = dict(zip(keys, (Decimal(s) for s in dev["score"]["shares"]), strict=True))
    actual_score = shares(Counter(score_band(edges, total) for total, _ in recent), keys)
    value = psi(expected_score, actual_score)
    lines = [PsiLine("SCORE", value, band(value))]
    for attribute in card.attributes:
        expected = {k: Decimal(v) for k, v in dev["attributes"].get(attribute.code, {}).items()}
        counts: Counter[str] = Counter()
        for _, attributes in recent:
            for item in attributes:
                if item.get("code") == attribute.code:
                    counts[str(item.get("binIndex"))] += 1
        actual = shares(counts, _bin_keys(card, attribute.code))
        value = psi(expected, actual)
        lines.append(PsiLine(attribute.code, value, band(value)))
    return PsiReport(rows=len(recent), development_rows=int(dev.get("rows", 0)), lines=tuple(lines))

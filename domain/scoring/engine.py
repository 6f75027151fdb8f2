"""The pure scoring engine: ``score(card, facts) -> Decision``.

Deterministic and exact: points are integers, the total is their sum, the probability of
default comes from the card's scaling in :class:`~decimal.Decimal` arithmetic (34 digits)
rounded half-even to six decimals::

    odds(good:bad) = baseOdds * 2 ^ ((score - baseScore) / pdo)      PD = 1 / (1 + odds)

The reasons are the attributes that cost the applicant most: ranked by the gap between the
attribute's best points and the points it earned (largest first; ties in the card's order),
only those with a gap, at most ``reasonCount`` of them. A bureau that could not answer sends
the application to REFER with ``BUREAU_UNAVAILABLE`` first, never to a silent approval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum
from typing import Any

from domain.scoring.card import Card

PD_PLACES = Decimal("0.000001")
BUREAU_UNAVAILABLE = "BUREAU_UNAVAILABLE"
BUREAU_REASON_ES = "No pudimos consultar el buró de crédito; un analista revisará su solicitud."
BUREAU_REASON_EN = "We could not reach the credit bureau; an analyst will review your application."


class Outcome(StrEnum):
    APPROVE = "approve"
    REFER = "refer"
    REJECT = "reject"


@dataclass(frozen=True)
class AttributeScore:
    code: str
    feature: str
    value: str | None  # the fact as text (exact), None when missing
    bin: str
    bin_index: int
    points: int
    best_points: int

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "feature": self.feature,
            "value": self.value,
            "bin": self.bin,
            "binIndex": self.bin_index,
            "points": self.points,
            "bestPoints": self.best_points,
        }


@dataclass(frozen=True)
class Reason:
    code: str
    attribute: str | None
    gap: int
    text_es: str
    text_en: str

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "attribute": self.attribute,
            "gap": self.gap,
            "es": self.text_es,
            "en": self.text_en,
        }


@dataclass(frozen=True)
class Decision:
    total: int
    pd: Decimal
    grade: str | None
    outcome: Outcome
    attributes: tuple[AttributeScore, ...]
    reasons: tuple[Reason, ...]
    bureau_available: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reason_codes(self) -> list[str]:
        return [r.code for r in self.reasons]


def probability_of_default(card: Card, total: int) -> Decimal:
    s = card.scaling
    with localcontext() as ctx:
        ctx.prec = 34
        exponent = Decimal(total - s.base_score) / Decimal(s.pdo)
        odds = s.base_odds * (Decimal(2) ** exponent)
        pd = Decimal(1) / (Decimal(1) + odds)
        return pd.quantize(PD_PLACES, rounding=ROUND_HALF_EVEN)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        raise TypeError("facts are exact: use int or Decimal, never float")
    return str(value)


def score(card: Card, facts: Mapping[str, Any], *, bureau_available: bool = True) -> Decision:
    """Score ``facts`` (feature → value, ``None`` or absent when unknown) with ``card``."""
    results: list[AttributeScore] = []
    total = card.base_points
    for attribute in card.attributes:
        value = facts.get(attribute.feature)
        if isinstance(value, float):
            raise TypeError(f"{attribute.feature}: facts are exact, never float")
        chosen = attribute.bin_for(value)
        total += chosen.points
        results.append(
            AttributeScore(
                code=attribute.code,
                feature=attribute.feature,
                value=_as_text(value),
                bin=chosen.label,
                bin_index=chosen.index,
                points=chosen.points,
                best_points=attribute.best_points,
            )
        )
    ranked = sorted(
        (
            (r.best_points - r.points, i, r, a)
            for i, (r, a) in enumerate(zip(results, card.attributes, strict=True))
        ),
        key=lambda t: (-t[0], t[1]),
    )
    reasons = [
        Reason(
            code=a.reason_code, attribute=a.code, gap=gap, text_es=a.reason_es, text_en=a.reason_en
        )
        for gap, _, _r, a in ranked
        if gap > 0
    ]
    # one reason per code (two attributes may share one), the costliest kept
    unique: list[Reason] = []
    for reason in reasons:
        if all(u.code != reason.code for u in unique):
            unique.append(reason)
    grade = card.grade_for(total)
    if total >= card.approve_at:
        outcome = Outcome.APPROVE
    elif total >= card.refer_at:
        outcome = Outcome.REFER
    else:
        outcome = Outcome.REJECT
    limit = card.reason_count
    notes: list[str] = []
    if not bureau_available:
        notes.append(f"bureau unavailable: {outcome.value} by the score, referred")
        outcome = Outcome.REFER
        unique.insert(
            0,
            Reason(
                code=BUREAU_UNAVAILABLE,
                attribute=None,
                gap=0,
                text_es=BUREAU_REASON_ES,
                text_en=BUREAU_REASON_EN,
            ),
        )
    return Decision(
        total=total,
        pd=probability_of_default(card, total),
        grade=grade.grade if grade is not None else None,
        outcome=outcome,
        attributes=tuple(results),
        reasons=tuple(unique[:limit]),
        bureau_available=bureau_available,
        notes=tuple(notes),
    )

"""The pure engine: bins, points, PD from the scaling, grades, outcomes, reasons."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.scoring.card import parse
from domain.scoring.defaults import reference_document
from domain.scoring.engine import BUREAU_UNAVAILABLE, Outcome, probability_of_default, score

CARD = parse(reference_document())

GOOD: dict[str, Any] = {
    "bureau_score": 820,
    "bureau_delinquencies": 0,
    "bureau_inquiries": 1,
    "debt_to_income": Decimal("0.1000"),
    "down_payment_ratio": Decimal("0.3000"),
    "employment_type": "EMPLOYED",
    "employment_months": 60,
    "trama_max_dpd": 0,
    "trama_open_cases": 0,
}


def test_best_applicant_gets_every_best_bin_and_no_reason() -> None:
    d = score(CARD, GOOD)
    assert d.total == sum(a.best_points for a in CARD.attributes) == 720
    assert d.grade == "A" and d.outcome is Outcome.APPROVE
    assert d.reasons == ()
    assert all(a.points == a.best_points for a in d.attributes)


def test_bins_are_half_open_and_missing_has_its_bin() -> None:
    at_edge = score(CARD, {**GOOD, "bureau_score": 650})
    below = score(CARD, {**GOOD, "bureau_score": 649})
    bureau = {a.code: a for a in at_edge.attributes}["BUREAU_SCORE"]
    assert (bureau.bin, bureau.points, bureau.value) == ("[650, 800)", 110, "650")
    assert {a.code: a for a in below.attributes}["BUREAU_SCORE"].bin == "[500, 650)"
    missing = score(CARD, {**GOOD, "bureau_score": None})
    m = {a.code: a for a in missing.attributes}["BUREAU_SCORE"]
    assert (m.bin, m.points, m.value) == ("MISSING", 70, None)
    absent = score(CARD, {k: v for k, v in GOOD.items() if k != "employment_type"})
    assert {a.code: a for a in absent.attributes}["EMPLOYMENT"].bin == "MISSING"
    unseen = score(CARD, {**GOOD, "employment_type": "ASTRONAUT"})
    assert {a.code: a for a in unseen.attributes}["EMPLOYMENT"].bin == "OTHER"
    decimal_edge = score(CARD, {**GOOD, "debt_to_income": Decimal("0.3500")})
    assert {a.code: a for a in decimal_edge.attributes}["DEBT_TO_INCOME"].points == 45


def test_reasons_ranked_by_gap_to_the_best_points_then_card_order() -> None:
    facts = {
        **GOOD,
        "bureau_score": 480,  # gap 95
        "debt_to_income": Decimal("0.6"),  # gap 70
        "down_payment_ratio": Decimal("0.05"),  # gap 40
        "employment_months": 6,  # gap 35
        "trama_open_cases": 1,  # gap 10
        "bureau_inquiries": 4,  # gap 15
    }
    d = score(CARD, facts)
    assert d.reason_codes == [
        "LOW_BUREAU_SCORE",
        "HIGH_DEBT_TO_INCOME",
        "LOW_DOWN_PAYMENT",
        "SHORT_EMPLOYMENT",
    ]
    assert [r.gap for r in d.reasons] == [95, 70, 40, 35]
    assert d.reasons[0].text_es.startswith("Su puntaje")
    assert d.reasons[0].text_en == "Your credit bureau score is low."
    # a tie (15 and 15) is broken by the card's order: BUREAU_INQUIRIES comes first
    tie = score(
        CARD, {**GOOD, "bureau_inquiries": 4, "trama_open_cases": 1, "employment_months": 20}
    )
    assert tie.reason_codes == ["MANY_INQUIRIES", "SHORT_EMPLOYMENT", "OPEN_DISPUTES"]
    assert [r.gap for r in tie.reasons] == [15, 15, 10]


def test_pd_follows_the_scaling_exactly() -> None:
    # at the base score the odds are the base odds: PD = 1 / 51
    assert probability_of_default(CARD, 600) == Decimal("0.019608")
    # pdo points double the odds: 1 / 101
    assert probability_of_default(CARD, 620) == Decimal("0.009901")
    assert probability_of_default(CARD, 580) == Decimal("0.038462")  # 1 / 26
    assert isinstance(score(CARD, GOOD).pd, Decimal)


def test_grades_and_cutoffs() -> None:
    card = CARD
    assert card.grade_for(690).grade == "A"  # type: ignore[union-attr]
    assert card.grade_for(689).grade == "B"  # type: ignore[union-attr]
    assert card.grade_for(530).grade == "E"  # type: ignore[union-attr]
    assert card.grade_for(529) is None
    refer = score(card, {**GOOD, "bureau_score": 480, "debt_to_income": Decimal("0.6")})
    assert refer.total == 555 and refer.outcome is Outcome.REFER and refer.grade == "E"
    reject = score(
        card,
        {
            **GOOD,
            "bureau_score": 480,
            "debt_to_income": Decimal("0.6"),
            "bureau_delinquencies": 4,
        },
    )
    assert reject.total == 475 and reject.outcome is Outcome.REJECT and reject.grade is None


def test_a_bureau_that_is_down_refers_never_approves() -> None:
    assert score(CARD, GOOD).outcome is Outcome.APPROVE  # the score alone approves
    d = score(CARD, GOOD, bureau_available=False)
    assert d.outcome is Outcome.REFER and d.grade == "A"
    assert d.reason_codes == [BUREAU_UNAVAILABLE]
    facts = {**GOOD, "bureau_score": None, "bureau_delinquencies": None, "bureau_inquiries": None}
    d = score(CARD, facts, bureau_available=False)
    assert d.outcome is Outcome.REFER
    assert d.reason_codes[0] == BUREAU_UNAVAILABLE
    assert len(d.reasons) == CARD.reason_count


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        score(CARD, {**GOOD, "debt_to_income": 0.2})


@settings(max_examples=40, deadline=None)
@given(
    bureau=st.one_of(st.none(), st.integers(0, 999)),
    dti=st.one_of(st.none(), st.decimals("0", "3", places=4)),
    months=st.one_of(st.none(), st.integers(0, 600)),
    kind=st.sampled_from(["EMPLOYED", "SELF_EMPLOYED", "UNEMPLOYED", "X", None]),
)
def test_deterministic_and_consistent(
    bureau: int | None, dti: Decimal | None, months: int | None, kind: str | None
) -> None:
    facts = {
        **GOOD,
        "bureau_score": bureau,
        "debt_to_income": dti,
        "employment_months": months,
        "employment_type": kind,
    }
    a, b = score(CARD, facts), score(CARD, copy.deepcopy(facts))
    assert a == b
    assert a.total == sum(x.points for x in a.attributes)
    gaps = [r.gap for r in a.reasons]
    assert gaps == sorted(gaps, reverse=True) and all(g > 0 for g in gaps)
    assert len(a.reasons) <= 4
    assert Decimal(0) < a.pd < Decimal(1)
    if a.outcome is not Outcome.REJECT:
        assert a.grade is not None

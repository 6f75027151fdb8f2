"""Rule sets as data: validation by path, the JSON Schema saying the same, exact
evaluation rounded once with the stated mode, caps, tiers, versions that never overlap."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.db import transaction
from domain.loyalty import rules, rulesets
from domain.loyalty.errors import OverlappingDates
from domain.loyalty.rules_schema import RULE_SET_SCHEMA
from domain.shared.errors import ValidationFailed
from domain.shared.principal import SYSTEM
from tests.domain.loyalty.conftest import RULES, World, snapshot

VALIDATOR = jsonschema.Draft202012Validator(RULE_SET_SCHEMA)


def _purchase(amount: int, day: date = date(2026, 6, 3), **kw: Any) -> rules.PurchaseFacts:
    return rules.PurchaseFacts(amount=amount, currency="ARS", day=day, **kw)


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(RULES)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


BAD = [
    (["format"], "trama.loyalty.rules/0", "document.format"),
    (["rounding"], "ROUND_NEAREST", "document.rounding"),
    (["currency"], "XYZ", "document.currency"),
    (["earn", "rules", 0, "match", "mcc", 0], "54111", "document.earn.rules[0].match.mcc[0]"),
    (["earn", "rules", 0, "match", "mcc", 0], "ABCD", "document.earn.rules[0].match.mcc[0]"),
    (["earn", "rules", 0, "per"], "0", "document.earn.rules[0].per"),
    (["earn", "rules", 0, "points"], 2, "document.earn.rules[0].points"),
    (["earn", "base"], KeyError, "document.earn.base"),
    (["multipliers", 0, "factor"], "-1", "document.multipliers[0].factor"),
    (["caps", "day"], -5, "document.caps.day"),
    (["tiers", "windowDays"], 0, "document.tiers.windowDays"),
    (["surprise"], 1, "document.surprise"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD)
def test_bad_documents_named_by_path_and_refused_by_the_schema(
    path: list[Any], value: Any, field: str
) -> None:
    doc = _with(path, value)
    with pytest.raises(ValidationFailed) as raised:
        rules.parse_rule_set(doc)
    assert field in {p.field for p in raised.value.problems}
    assert not VALIDATOR.is_valid(doc)


def test_the_demo_rules_are_valid_for_both() -> None:
    assert VALIDATOR.is_valid(RULES)
    rules.parse_rule_set(RULES)


def test_checks_a_schema_cannot_make() -> None:
    doc = _with(["earn", "rules", 0, "match", "mcc", 1], "5499-5412")
    with pytest.raises(ValidationFailed):
        rules.parse_rule_set(doc)
    doc = _with(["multipliers"], [{"id": "a", "match": {"tiers": ["ORO"]}, "factor": "2"}] * 2)
    with pytest.raises(ValidationFailed):
        rules.parse_rule_set(doc)


def test_evaluation_explains_its_figure() -> None:
    rule_set = rules.parse_rule_set(RULES)
    gold = rules.MemberFacts("ORO", frozenset())
    result = rules.evaluate(rule_set, _purchase(1234567, mcc="5412"), gold, rules.CapCounters())
    # 12345.67 / 100 * 2 * 1.5 = 370.3701 -> ROUND_DOWN 370
    assert result.points == 370
    assert result.explanation["raw"] == "370.3701"
    assert result.explanation["rate"]["rule"] == "supermercados"
    assert result.explanation["factors"] == [{"id": "oro", "kind": "multiplier", "factor": "1.5"}]
    below = rules.evaluate(rule_set, _purchase(49999), gold, rules.CapCounters())
    assert (below.points, below.explanation["result"]) == (0, "BELOW_MINIMUM")


def test_caps_and_promotions() -> None:
    doc = _with(
        ["promotions"],
        [
            {
                "id": "finde",
                "from": "2026-06-01",
                "until": "2026-06-30",
                "match": {"daysOfWeek": [6, 7]},
                "factor": "2",
                "bonus": 10,
            },
        ],
    )
    rule_set = rules.parse_rule_set(doc)
    member = rules.MemberFacts()
    counters = rules.CapCounters()
    saturday = date(2026, 6, 6)
    first = rules.evaluate(rule_set, _purchase(10_000_000, saturday), member, counters)
    assert (first.points, first.campaign) == (2010, "finde")
    counters.add(saturday, 19000)
    capped = rules.evaluate(rule_set, _purchase(10_000_000, saturday), member, counters)
    assert capped.points == 1000 and capped.explanation["caps"]["day"]["room"] == 1000


@settings(max_examples=200, deadline=None)
@given(
    st.fractions(min_value=-(10**6), max_value=10**6, max_denominator=10**4),
    st.sampled_from(rules.ROUNDINGS),
)
def test_rounding_matches_decimal(value: Fraction, mode: str) -> None:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    if Fraction(exact) != value:  # not a terminating decimal: compare with a wide context
        from decimal import localcontext

        with localcontext() as ctx:
            ctx.prec = 80
            exact = Decimal(value.numerator) / Decimal(value.denominator)
    assert rules.round_fraction(value, mode) == int(exact.quantize(Decimal(1), rounding=mode))


def test_tier_policy_keeps_and_downgrades() -> None:
    policy = rules.parse_rule_set(RULES).tiers
    assert policy is not None
    assert policy.decide(None, 6000) == "ORO"
    assert policy.decide("ORO", 4500) == "ORO"  # keeps it above keepPoints
    assert policy.decide("ORO", 3999) == "CLASICO"
    assert policy.decide("CLASICO", 4999) == "CLASICO"


def test_clawback_never_takes_more_than_earned() -> None:
    assert rules.clawback_due(101, 1000, 500, 0) == 50
    assert rules.clawback_due(101, 1000, 1000, 50) == 51
    assert rules.clawback_due(101, 1000, 5000, 101) == 0


async def test_versions_never_overlap(world: World) -> None:
    before = await snapshot()
    with pytest.raises(OverlappingDates) as raised:
        async with transaction() as session:
            await rulesets.create_rule_set(
                session,
                SYSTEM,
                program_id=world.program_id,
                name="Otra",
                effective_from=date(2026, 6, 1),
                effective_until=None,
                document=RULES,
            )
    assert raised.value.code == "OVERLAPPING_DATES"
    assert await snapshot() == before
    async with transaction() as session:
        new = await rulesets.replace_rule_set(
            session,
            SYSTEM,
            rule_set_id=world.rule_set_id,
            expected_version=1,
            name="Reglas 2027",
            effective_from=date(2027, 1, 1),
            document=_with(["earn", "base", "points"], "2"),
        )
        assert new.version == 2
        calendar = await rulesets.calendar(session, world.program_id)
    assert calendar.at(date(2026, 12, 31)).version == 1  # type: ignore[union-attr]
    assert calendar.at(date(2027, 1, 1)).version == 2  # type: ignore[union-attr]

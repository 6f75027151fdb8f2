"""Rule sets as data: their format, validation and the pure evaluator of purchases.

The format (``trama.loyalty.rules/1``) is described in ``docs/loyalty.md`` §Rules and, as a
JSON Schema, in :data:`domain.loyalty.rules_schema.RULE_SET_SCHEMA`. :func:`parse_rule_set`
checks a document field by field (every problem named by its JSON path) and returns a
:class:`RuleSet`; :func:`evaluate` gives the points of one purchase with the inputs and the
formula that gave them (the explanation stored on the ledger entry).

Arithmetic is exact (:class:`fractions.Fraction` from the decimal strings of the document),
rounded once, with the rounding mode the rule set states.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from domain.loyalty.models import PurchaseKind
from domain.shared.errors import Problems
from domain.shared.money import exponent

FORMAT = "trama.loyalty.rules/1"
ROUNDINGS = (
    "ROUND_DOWN",
    "ROUND_UP",
    "ROUND_HALF_UP",
    "ROUND_HALF_DOWN",
    "ROUND_HALF_EVEN",
    "ROUND_FLOOR",
    "ROUND_CEILING",
)
STACKINGS = ("MULTIPLY", "ADD", "MAX")
MCC = re.compile(r"^[0-9]{4}$", re.ASCII)
_MCC_ITEM = re.compile(r"^([0-9]{4})(?:-([0-9]{4}))?$", re.ASCII)
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$", re.ASCII)
_DECIMAL = re.compile(r"^[0-9]{1,12}(?:\.[0-9]{1,8})?$", re.ASCII)
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", re.ASCII)
MAX_POINTS = 10**12
MAX_ITEMS = 500

_MATCH_KEYS = (
    "mcc",
    "merchantPartners",
    "channels",
    "cardProducts",
    "tiers",
    "segments",
    "daysOfWeek",
)


# --- the parsed rule set -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Match:
    mcc: tuple[tuple[int, int], ...] | None = None
    merchant_partners: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    card_products: frozenset[str] | None = None
    tiers: frozenset[str] | None = None
    segments: frozenset[str] | None = None
    days_of_week: frozenset[int] | None = None

    def matches(self, purchase: PurchaseFacts, member: MemberFacts) -> bool:
        if self.mcc is not None:
            if purchase.mcc is None or not MCC.match(purchase.mcc):
                return False
            code = int(purchase.mcc)
            if not any(lo <= code <= hi for lo, hi in self.mcc):
                return False
        if self.merchant_partners is not None and purchase.merchant_partner not in (
            self.merchant_partners
        ):
            return False
        if self.channels is not None and purchase.channel not in self.channels:
            return False
        if self.card_products is not None and purchase.card_product not in self.card_products:
            return False
        if self.tiers is not None and member.tier not in self.tiers:
            return False
        if self.segments is not None and not (self.segments & member.segments):
            return False
        return self.days_of_week is None or purchase.day.isoweekday() in self.days_of_week


@dataclass(frozen=True, slots=True)
class Rate:
    id: str
    points: Fraction
    per: Fraction  # major units
    points_text: str
    per_text: str
    match: Match = Match()


@dataclass(frozen=True, slots=True)
class Factor:
    id: str
    kind: str  # "multiplier" | "promotion"
    factor: Fraction
    factor_text: str
    match: Match
    starts: date | None = None
    ends: date | None = None  # inclusive
    bonus: int = 0

    def applies(self, purchase: PurchaseFacts, member: MemberFacts) -> bool:
        if self.starts is not None and purchase.day < self.starts:
            return False
        if self.ends is not None and purchase.day > self.ends:
            return False
        return self.match.matches(purchase, member)


@dataclass(frozen=True, slots=True)
class EventRule:
    id: str
    type: str
    points: int


@dataclass(frozen=True, slots=True)
class TierLevel:
    code: str
    name: str
    qualify_points: int
    keep_points: int


@dataclass(frozen=True, slots=True)
class TierPolicy:
    window_days: int
    levels: tuple[TierLevel, ...]  # by qualify_points ascending

    def level(self, code: str | None) -> TierLevel | None:
        return next((lv for lv in self.levels if lv.code == code), None)

    def decide(self, current: str | None, window_points: int) -> str | None:
        """The tier a member with ``window_points`` in the window should hold: the highest
        it qualifies for, or its current one while it keeps it."""
        qualified = None
        for lv in self.levels:
            if window_points >= lv.qualify_points:
                qualified = lv
        held = self.level(current)
        if (
            held is not None
            and window_points >= held.keep_points
            and (qualified is None or qualified.qualify_points <= held.qualify_points)
        ):
            return held.code
        return qualified.code if qualified else None


@dataclass(frozen=True, slots=True)
class Caps:
    day: int | None = None
    month: int | None = None
    year: int | None = None


@dataclass(frozen=True, slots=True)
class RuleSet:
    currency: str
    rounding: str
    stacking: str
    base: Rate
    minimum: Fraction | None
    minimum_text: str | None
    rules: tuple[Rate, ...]
    factors: tuple[Factor, ...]
    caps: Caps
    events: tuple[EventRule, ...]
    tiers: TierPolicy | None
    document: Mapping[str, Any] = field(compare=False, repr=False, default_factory=dict)


# --- inputs ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PurchaseFacts:
    """What the evaluator reads of a purchase (or an event)."""

    amount: int  # minor units
    currency: str
    day: date  # local day of the purchase in the program's timezone
    mcc: str | None = None
    merchant_partner: str | None = None
    channel: str | None = None
    card_product: str | None = None
    kind: str = PurchaseKind.PURCHASE.value
    event_type: str | None = None


@dataclass(frozen=True, slots=True)
class MemberFacts:
    tier: str | None = None
    segments: frozenset[str] = frozenset()


class CapCounters:
    """Points a member accrued per local day, month and year (what caps count)."""

    __slots__ = ("days", "months", "years")

    def __init__(self) -> None:
        self.days: dict[date, int] = defaultdict(int)
        self.months: dict[tuple[int, int], int] = defaultdict(int)
        self.years: dict[int, int] = defaultdict(int)

    def add(self, day: date, points: int) -> None:
        if points:
            self.days[day] += points
            self.months[(day.year, day.month)] += points
            self.years[day.year] += points

    def room(self, caps: Caps, day: date) -> tuple[int | None, dict[str, dict[str, int]]]:
        """Points still allowed on ``day`` (None: no cap) and each cap's figures."""
        limits = (
            ("day", caps.day, self.days.get(day, 0)),
            ("month", caps.month, self.months.get((day.year, day.month), 0)),
            ("year", caps.year, self.years.get(day.year, 0)),
        )
        room: int | None = None
        detail: dict[str, dict[str, int]] = {}
        for name, limit, used in limits:
            if limit is None:
                continue
            left = max(0, limit - used)
            detail[name] = {"limit": limit, "used": used, "room": left}
            room = left if room is None else min(room, left)
        return room, detail


@dataclass(frozen=True, slots=True)
class Evaluation:
    points: int
    explanation: dict[str, Any]
    rule_id: str | None = None
    campaign: str | None = None


# --- exact arithmetic ------------------------------------------------------------------------
def round_fraction(value: Fraction, mode: str) -> int:
    """Round an exact value to an integer with a :mod:`decimal` rounding mode's rule."""
    floor = value.numerator // value.denominator
    rest = value - floor
    if rest == 0:
        return floor
    positive = value > 0
    if mode == "ROUND_FLOOR":
        return floor
    if mode == "ROUND_CEILING":
        return floor + 1
    if mode == "ROUND_DOWN":
        return floor if positive else floor + 1
    if mode == "ROUND_UP":
        return floor + 1 if positive else floor
    half = Fraction(1, 2)
    if rest < half:
        return floor
    if rest > half:
        return floor + 1
    if mode == "ROUND_HALF_UP":
        return floor + 1 if positive else floor
    if mode == "ROUND_HALF_DOWN":
        return floor if positive else floor + 1
    if mode == "ROUND_HALF_EVEN":
        return floor if floor % 2 == 0 else floor + 1
    raise ValueError(f"unknown rounding {mode!r}")


def fraction_text(value: Fraction) -> str:
    """An exact decimal when the value has one (``"24.6875"``), else ``"p/q"``."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = value * 10**places
    assert scaled.denominator == 1
    text = format(Decimal(scaled.numerator).scaleb(-places), "f")
    return text


def _amount_text(amount: int, currency: str) -> str:
    """Major units with the currency's decimals ("12345.67"), from the minor units."""
    places = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}" if places else f"{sign}{whole}"


def _minor_to_major(amount: int, currency: str) -> Fraction:
    return Fraction(amount, 10 ** exponent(currency))


# --- evaluation --------------------------------------------------------------------------------
def evaluate(
    rule_set: RuleSet, purchase: PurchaseFacts, member: MemberFacts, counters: CapCounters
) -> Evaluation:
    """The points of one purchase or event, with the explanation; does not touch the
    counters (the caller adds what it books: :func:`replay` does)."""
    inputs: dict[str, Any] = {
        "kind": purchase.kind,
        "day": purchase.day.isoformat(),
        "tier": member.tier,
        "segments": sorted(member.segments),
    }
    if purchase.kind == PurchaseKind.EVENT.value:
        inputs["eventType"] = purchase.event_type
        rule = next((e for e in rule_set.events if e.type == purchase.event_type), None)
        if rule is None:
            return Evaluation(0, {"inputs": inputs, "result": "NO_EVENT_RULE", "points": 0})
        room, caps = counters.room(rule_set.caps, purchase.day)
        points = rule.points if room is None else min(rule.points, room)
        return Evaluation(
            points,
            {
                "formula": "event points, capped",
                "inputs": inputs,
                "event": {"id": rule.id, "points": rule.points},
                "caps": caps,
                "points": points,
            },
            rule_id=rule.id,
        )
    amount = _minor_to_major(purchase.amount, purchase.currency)
    inputs |= {
        "amount": _amount_text(purchase.amount, purchase.currency),
        "currency": purchase.currency,
        "mcc": purchase.mcc,
        "merchantPartner": purchase.merchant_partner,
        "channel": purchase.channel,
        "cardProduct": purchase.card_product,
    }
    if purchase.currency != rule_set.currency:
        return Evaluation(0, {"inputs": inputs, "result": "OTHER_CURRENCY", "points": 0})
    if rule_set.minimum is not None and amount < rule_set.minimum:
        return Evaluation(
            0,
            {
                "inputs": inputs,
                "result": "BELOW_MINIMUM",
                "minimumPurchase": rule_set.minimum_text,
                "points": 0,
            },
        )
    rate = next((r for r in rule_set.rules if r.match.matches(purchase, member)), rule_set.base)
    raw = amount / rate.per * rate.points
    applied = [f for f in rule_set.factors if f.applies(purchase, member)]
    combined = _combine([f.factor for f in applied], rule_set.stacking)
    raw *= combined
    rounded = round_fraction(raw, rule_set.rounding)
    bonus = sum(f.bonus for f in applied if f.kind == "promotion")
    before_caps = max(0, rounded + bonus)
    room, caps = counters.room(rule_set.caps, purchase.day)
    points = before_caps if room is None else min(before_caps, room)
    promotions = [f.id for f in applied if f.kind == "promotion"]
    explanation = {
        "formula": "round(amount / per * points * factor, rounding) + bonus, capped",
        "inputs": inputs,
        "rate": {"rule": rate.id, "points": rate.points_text, "per": rate.per_text},
        "factors": [{"id": f.id, "kind": f.kind, "factor": f.factor_text} for f in applied],
        "stacking": rule_set.stacking,
        "factor": "1" if not applied else fraction_text(combined),
        "raw": fraction_text(raw),
        "rounding": rule_set.rounding,
        "rounded": rounded,
        "bonus": bonus,
        "beforeCaps": before_caps,
        "caps": caps,
        "points": points,
    }
    return Evaluation(
        points,
        explanation,
        rule_id=rate.id,
        campaign=promotions[0] if promotions else None,
    )


def _combine(factors: Sequence[Fraction], stacking: str) -> Fraction:
    if not factors:
        return Fraction(1)
    if stacking == "MULTIPLY":
        out = Fraction(1)
        for f in factors:
            out *= f
        return out
    if stacking == "ADD":
        return 1 + sum((f - 1 for f in factors), Fraction(0))
    return max(factors)


Resolver = Callable[[date], "tuple[RuleSet, Any] | None"]


def replay(
    resolve: Resolver,
    purchases: Iterable[PurchaseFacts],
    member: Callable[[date], MemberFacts] | MemberFacts,
    counters: CapCounters | None = None,
) -> list[tuple[Evaluation, Any]]:
    """Evaluate one member's purchases in the given (time) order, each under the rule set
    ``resolve(day)`` returns (with a tag of the caller's: its id and version), the caps
    accumulating; refunds are not evaluated here (they take back a share of what the
    purchase earned). Returns ``(evaluation, tag)`` per purchase (tag None: no rule set in
    force, 0 points)."""
    counters = counters or CapCounters()
    out: list[tuple[Evaluation, Any]] = []
    for purchase in purchases:
        found = resolve(purchase.day)
        facts = member(purchase.day) if callable(member) else member
        if found is None:
            out.append((Evaluation(0, {"result": "NO_RULE_SET", "points": 0}), None))
            continue
        rule_set, tag = found
        evaluation = evaluate(rule_set, purchase, facts, counters)
        counters.add(purchase.day, evaluation.points)
        out.append((evaluation, tag))
    return out


def clawback_due(earned: int, amount: int, refunded_total: int, taken_before: int) -> int:
    """Points a refund takes back: the share of the purchase refunded so far (rounded
    down: never more than it earned), less what earlier refunds took."""
    if amount <= 0 or earned <= 0:
        return 0
    share = min(refunded_total, amount)
    return max(0, earned * share // amount - taken_before)


# --- parsing and validation --------------------------------------------------------------------
def parse_rule_set(document: object, *, field_name: str = "document") -> RuleSet:
    """Validate ``document`` and return it parsed; :class:`ValidationFailed` naming every
    problem by its path otherwise."""
    p = Problems()
    if not isinstance(document, dict):
        p.add(field_name, "a rule set is a JSON object")
        p.raise_if_any()
    assert isinstance(document, dict)
    d = document
    _known(
        p,
        field_name,
        d,
        (
            "format",
            "currency",
            "rounding",
            "stacking",
            "earn",
            "multipliers",
            "promotions",
            "caps",
            "events",
            "tiers",
        ),
    )
    if d.get("format") != FORMAT:
        p.add(f"{field_name}.format", f"must be {FORMAT!r}")
    currency = d.get("currency")
    if not isinstance(currency, str):
        p.add(f"{field_name}.currency", "an ISO 4217 code")
        currency = "XXX"
    else:
        try:
            exponent(currency)
        except ValueError:
            p.add(f"{field_name}.currency", f"unsupported currency {currency!r}")
    rounding = d.get("rounding")
    if rounding not in ROUNDINGS:
        p.add(f"{field_name}.rounding", f"one of {', '.join(ROUNDINGS)}")
    stacking = d.get("stacking", "MULTIPLY")
    if stacking not in STACKINGS:
        p.add(f"{field_name}.stacking", f"one of {', '.join(STACKINGS)}")
    earn = d.get("earn")
    base: Rate | None = None
    rules: list[Rate] = []
    minimum: Fraction | None = None
    minimum_text: str | None = None
    if not isinstance(earn, dict):
        p.add(f"{field_name}.earn", "an object with base and rules")
    else:
        at = f"{field_name}.earn"
        _known(p, at, earn, ("base", "minimumPurchase", "rules"))
        base = _rate(p, f"{at}.base", earn.get("base"), "base", with_match=False)
        if earn.get("minimumPurchase") is not None:
            minimum_text = earn["minimumPurchase"]
            minimum = _decimal(p, f"{at}.minimumPurchase", minimum_text)
        for i, item in enumerate(_list(p, f"{at}.rules", earn.get("rules", []))):
            rate = _rate(p, f"{at}.rules[{i}]", item, None, with_match=True)
            if rate is not None:
                rules.append(rate)
        _unique_ids(p, f"{at}.rules", [r.id for r in rules])
    factors: list[Factor] = []
    for i, item in enumerate(_list(p, f"{field_name}.multipliers", d.get("multipliers", []))):
        f = _factor(p, f"{field_name}.multipliers[{i}]", item, "multiplier")
        if f is not None:
            factors.append(f)
    for i, item in enumerate(_list(p, f"{field_name}.promotions", d.get("promotions", []))):
        f = _factor(p, f"{field_name}.promotions[{i}]", item, "promotion")
        if f is not None:
            factors.append(f)
    _unique_ids(p, f"{field_name}.multipliers/promotions", [f.id for f in factors])
    caps = _caps(p, f"{field_name}.caps", d.get("caps"))
    events: list[EventRule] = []
    for i, item in enumerate(_list(p, f"{field_name}.events", d.get("events", []))):
        at = f"{field_name}.events[{i}]"
        if not isinstance(item, dict):
            p.add(at, "an object with id, type and points")
            continue
        _known(p, at, item, ("id", "type", "points"))
        ident = _code(p, f"{at}.id", item.get("id"))
        kind = _code(p, f"{at}.type", item.get("type"))
        points = _points(p, f"{at}.points", item.get("points"))
        if ident and kind and points is not None:
            events.append(EventRule(ident, kind, points))
    _unique_ids(p, f"{field_name}.events", [e.type for e in events], what="type")
    tiers = _tiers(p, f"{field_name}.tiers", d.get("tiers"))
    p.raise_if_any()
    assert base is not None and isinstance(currency, str)
    return RuleSet(
        currency=currency,
        rounding=str(rounding),
        stacking=str(stacking),
        base=base,
        minimum=minimum,
        minimum_text=minimum_text,
        rules=tuple(rules),
        factors=tuple(factors),
        caps=caps,
        events=tuple(events),
        tiers=tiers,
        document=d,
    )


def _known(p: Problems, at: str, obj: Mapping[str, Any], keys: Sequence[str]) -> None:
    for key in obj:
        if key not in keys:
            p.add(f"{at}.{key}", "unknown field")


def _list(p: Problems, at: str, value: object) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        p.add(at, "a list")
        return []
    if len(value) > MAX_ITEMS:
        p.add(at, f"at most {MAX_ITEMS} items")
        return []
    return value


def _code(p: Problems, at: str, value: object) -> str | None:
    if not isinstance(value, str) or not _CODE.match(value):
        p.add(at, "a code of letters, digits, '_', '.', '-' (at most 40)")
        return None
    return value


def _decimal(p: Problems, at: str, value: object, *, positive: bool = False) -> Fraction | None:
    if not isinstance(value, str) or not _DECIMAL.match(value):
        p.add(at, 'a decimal written as a string, like "100.00"')
        return None
    out = Fraction(Decimal(value))
    if positive and out <= 0:
        p.add(at, "must be more than zero")
        return None
    return out


def _points(p: Problems, at: str, value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_POINTS:
        p.add(at, f"a whole number of points from 0 to {MAX_POINTS}")
        return None
    return value


def _day(p: Problems, at: str, value: object) -> date | None:
    if not isinstance(value, str) or not _DAY.match(value):
        p.add(at, "a day like 2026-05-11")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        p.add(at, f"{value} is not a day")
        return None


def _unique_ids(p: Problems, at: str, ids: Sequence[str], *, what: str = "id") -> None:
    seen: set[str] = set()
    for ident in ids:
        if ident in seen:
            p.add(at, f"{what} {ident!r} appears twice")
        seen.add(ident)


def _match(p: Problems, at: str, value: object) -> Match:
    if value is None:
        return Match()
    if not isinstance(value, dict):
        p.add(at, "an object of criteria")
        return Match()
    _known(p, at, value, _MATCH_KEYS)
    ranges: list[tuple[int, int]] | None = None
    if "mcc" in value:
        ranges = []
        for i, item in enumerate(_list(p, f"{at}.mcc", value["mcc"])):
            m = _MCC_ITEM.match(item) if isinstance(item, str) else None
            if m is None:
                p.add(f"{at}.mcc[{i}]", "a merchant category code of 4 digits or a range 5411-5499")
                continue
            lo = int(m.group(1))
            hi = int(m.group(2) or m.group(1))
            if hi < lo:
                p.add(f"{at}.mcc[{i}]", "a range goes from the lower code to the higher")
                continue
            ranges.append((lo, hi))
        if not ranges and not any(x.field.startswith(f"{at}.mcc") for x in p.items):
            p.add(f"{at}.mcc", "at least one code")

    def codes(key: str) -> frozenset[str] | None:
        if key not in value:
            return None
        items = _list(p, f"{at}.{key}", value[key])
        out = [_code(p, f"{at}.{key}[{i}]", x) for i, x in enumerate(items)]
        if not items:
            p.add(f"{at}.{key}", "at least one value")
        return frozenset(x for x in out if x)

    days: frozenset[int] | None = None
    if "daysOfWeek" in value:
        raw = _list(p, f"{at}.daysOfWeek", value["daysOfWeek"])
        ok = [x for x in raw if isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 7]
        if len(ok) != len(raw) or not raw:
            p.add(f"{at}.daysOfWeek", "days 1 (Monday) to 7 (Sunday)")
        days = frozenset(ok)
    return Match(
        mcc=tuple(ranges) if ranges is not None else None,
        merchant_partners=codes("merchantPartners"),
        channels=codes("channels"),
        card_products=codes("cardProducts"),
        tiers=codes("tiers"),
        segments=codes("segments"),
        days_of_week=days,
    )


def _rate(
    p: Problems, at: str, value: object, ident: str | None, *, with_match: bool
) -> Rate | None:
    if not isinstance(value, dict):
        p.add(at, "an object with points and per")
        return None
    keys = ("id", "match", "points", "per") if with_match else ("points", "per")
    _known(p, at, value, keys)
    name = ident if ident is not None else _code(p, f"{at}.id", value.get("id"))
    points = _decimal(p, f"{at}.points", value.get("points"))
    per = _decimal(p, f"{at}.per", value.get("per"), positive=True)
    match = _match(p, f"{at}.match", value.get("match")) if with_match else Match()
    if with_match and not value.get("match"):
        p.add(f"{at}.match", "a rule needs at least one criterion (the base rate has none)")
    if name is None or points is None or per is None:
        return None
    return Rate(name, points, per, value["points"], value["per"], match)


def _factor(p: Problems, at: str, value: object, kind: str) -> Factor | None:
    if not isinstance(value, dict):
        p.add(at, "an object")
        return None
    keys = ("id", "match", "factor") + (("from", "until", "bonus") if kind == "promotion" else ())
    _known(p, at, value, keys)
    ident = _code(p, f"{at}.id", value.get("id"))
    text = value.get("factor", "1" if kind == "promotion" else None)
    factor = _decimal(p, f"{at}.factor", text, positive=True)
    match = _match(p, f"{at}.match", value.get("match"))
    starts = ends = None
    bonus = 0
    if kind == "promotion":
        starts = _day(p, f"{at}.from", value.get("from"))
        ends = _day(p, f"{at}.until", value.get("until"))
        if starts and ends and ends < starts:
            p.add(f"{at}.until", "a promotion ends on or after the day it starts")
        bonus = _points(p, f"{at}.bonus", value.get("bonus", 0)) or 0
    elif not value.get("match"):
        p.add(f"{at}.match", "a multiplier needs at least one criterion")
    if ident is None or factor is None:
        return None
    return Factor(ident, kind, factor, str(text), match, starts, ends, bonus)


def _caps(p: Problems, at: str, value: object) -> Caps:
    if value is None:
        return Caps()
    if not isinstance(value, dict):
        p.add(at, "an object with day, month and year")
        return Caps()
    _known(p, at, value, ("day", "month", "year"))
    out: dict[str, int | None] = {}
    for key in ("day", "month", "year"):
        raw = value.get(key)
        out[key] = None if raw is None else _points(p, f"{at}.{key}", raw)
    return Caps(out["day"], out["month"], out["year"])


def _tiers(p: Problems, at: str, value: object) -> TierPolicy | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        p.add(at, "an object with windowDays and levels")
        return None
    _known(p, at, value, ("windowDays", "levels"))
    window = value.get("windowDays")
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 3660:
        p.add(f"{at}.windowDays", "days from 1 to 3660")
        window = None
    levels: list[TierLevel] = []
    for i, item in enumerate(_list(p, f"{at}.levels", value.get("levels"))):
        here = f"{at}.levels[{i}]"
        if not isinstance(item, dict):
            p.add(here, "an object")
            continue
        _known(p, here, item, ("code", "name", "qualifyPoints", "keepPoints"))
        code = _code(p, f"{here}.code", item.get("code"))
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            p.add(f"{here}.name", "a name of at most 100 characters")
            name = None
        qualify = _points(p, f"{here}.qualifyPoints", item.get("qualifyPoints"))
        keep = _points(p, f"{here}.keepPoints", item.get("keepPoints", qualify))
        if qualify is not None and keep is not None and keep > qualify:
            p.add(f"{here}.keepPoints", "keeping a tier cannot need more than reaching it")
        if code and name and qualify is not None and keep is not None:
            levels.append(TierLevel(code, name.strip(), qualify, keep))
    if not levels and not any(x.field.startswith(f"{at}.levels") for x in p.items):
        p.add(f"{at}.levels", "at least one level")
    _unique_ids(p, f"{at}.levels", [lv.code for lv in levels], what="code")
    ordered = sorted(levels, key=lambda lv: lv.qualify_points)
    if len({lv.qualify_points for lv in ordered}) != len(ordered):
        p.add(f"{at}.levels", "two levels need the same points to qualify")
    if window is None or not levels:
        return None
    return TierPolicy(window, tuple(ordered))

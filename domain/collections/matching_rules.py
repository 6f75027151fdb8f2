"""Matching rules as data: what a rule is, how it is checked, and Trama's default rules.

A lender's rule set is an ordered list of rules (``collections_match_rule_sets.rules``),
evaluated in order on every line the ``collections.reconcile`` worker looks at. A rule is:

``code``, ``name``
    Its short code (``REFERENCIA``) and the name a clerk reads.
``kind``
    ``IGNORE``: the line is a movement nobody pays a credit with (bank fees, interest, a
    transfer between the lender's own accounts): when every criterion holds, the line is
    IGNORED. ``MATCH``: the line pays credits; the rule finds candidates and scores them.
``source`` (MATCH)
    Where candidates come from: ``REFERENCE`` (credit or payment-order references read
    in the line's texts), ``NATIONAL_ID`` (the credits of the customer whose national ID
    the payer has), ``AMOUNT`` (installments of the lender's credits whose amount and due
    date fit the line), ``PAYER_ACCOUNT`` (the credits earlier lines from the same payer
    account paid).
``criteria``
    What must hold, each with its parameters (tolerances). Each gives a score from 0 to
    100 and evidence in words; a criterion that fails rules the candidate out.
    ``REFERENCE`` / ``NATIONAL_ID``: the candidate was found that way. ``AMOUNT``: the
    line's amount equals one of ``targets`` (``INSTALLMENT``: an installment due, the
    oldest unpaid first; ``INSTALLMENTS``: the first unpaid ones together; ``OVERDUE``:
    everything due at the value date; ``PAYOFF``: what closes the credit) within
    ``toleranceMinor`` or ``tolerancePercent``; with ``mode: NOT_ABOVE_PAYOFF`` any
    amount up to the payoff passes (a partial payment). ``DATE_WINDOW``: the value date is
    between ``daysBefore`` days before and ``daysAfter`` days after the due date of the
    installment the amount pays. ``SINGLE_CANDIDATE``: exactly one candidate passes the
    other criteria. IGNORE rules: ``DIRECTION`` (``value``), ``TRANSACTION_CODE``
    (``codes``, prefixes), ``TEXT`` (``pattern``, a regular expression on the line's texts,
    upper case, accents folded), ``OWN_ACCOUNT`` (the counterparty account is one of the
    lender's collection accounts).
``split``
    ``NONE``: one credit. ``CREDITS``: one line pays several credits of one customer
    (their overdue totals add up to it). ``LINES``: several lines of one payer together
    pay one installment (or one credit's overdue total); each line books its own part.
``shortfallPolicy``
    When the amount is short of the target within the tolerance (bank fees, withholdings):
    ``PARTIAL_PAYMENT`` books what arrived, the rest stays owed; ``WRITE_OFF`` also books
    the shortfall as a written-off adjustment so the installment is settled.
``baseConfidence``, ``minConfidence``, ``suggestConfidence`` (percent)
    A candidate's confidence is ``baseConfidence`` times its weakest criterion's score.
    At or above ``minConfidence`` the line is AUTO_MATCHED (and booked); at or above
    ``suggestConfidence`` it is offered to a person (SUGGESTED).

Rules are checked when a version is created (:func:`parse_rules`): every problem is a
``ValidationFailed`` naming the rule and field (``rules[2].criteria[0].toleranceMinor``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any

from domain.shared.errors import Problems

__all__ = [
    "DEFAULT_RULES",
    "AmountMode",
    "Criterion",
    "CriterionType",
    "Rule",
    "RuleKind",
    "ShortfallPolicy",
    "Source",
    "Split",
    "Target",
    "parse_rules",
    "rules_to_data",
]

MAX_RULES = 40
MAX_CRITERIA = 12
MAX_PATTERN = 300
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$", re.ASCII)


class RuleKind(StrEnum):
    IGNORE = "IGNORE"
    MATCH = "MATCH"


class Source(StrEnum):
    REFERENCE = "REFERENCE"
    NATIONAL_ID = "NATIONAL_ID"
    AMOUNT = "AMOUNT"
    PAYER_ACCOUNT = "PAYER_ACCOUNT"


class CriterionType(StrEnum):
    REFERENCE = "REFERENCE"
    NATIONAL_ID = "NATIONAL_ID"
    AMOUNT = "AMOUNT"
    DATE_WINDOW = "DATE_WINDOW"
    SINGLE_CANDIDATE = "SINGLE_CANDIDATE"
    PAYER_ACCOUNT = "PAYER_ACCOUNT"
    DIRECTION = "DIRECTION"
    TRANSACTION_CODE = "TRANSACTION_CODE"
    TEXT = "TEXT"
    OWN_ACCOUNT = "OWN_ACCOUNT"


_MATCH_CRITERIA = frozenset(
    {
        CriterionType.REFERENCE,
        CriterionType.NATIONAL_ID,
        CriterionType.AMOUNT,
        CriterionType.DATE_WINDOW,
        CriterionType.SINGLE_CANDIDATE,
        CriterionType.PAYER_ACCOUNT,
    }
)
_IGNORE_CRITERIA = frozenset(
    {
        CriterionType.DIRECTION,
        CriterionType.TRANSACTION_CODE,
        CriterionType.TEXT,
        CriterionType.OWN_ACCOUNT,
    }
)


class Target(StrEnum):
    INSTALLMENT = "INSTALLMENT"
    INSTALLMENTS = "INSTALLMENTS"
    OVERDUE = "OVERDUE"
    PAYOFF = "PAYOFF"


class AmountMode(StrEnum):
    EQUALS = "EQUALS"
    NOT_ABOVE_PAYOFF = "NOT_ABOVE_PAYOFF"


class Split(StrEnum):
    NONE = "NONE"
    CREDITS = "CREDITS"
    LINES = "LINES"


class ShortfallPolicy(StrEnum):
    PARTIAL_PAYMENT = "PARTIAL_PAYMENT"
    WRITE_OFF = "WRITE_OFF"


@dataclass(frozen=True, slots=True)
class Criterion:
    type: CriterionType
    targets: tuple[Target, ...] = ()
    mode: AmountMode = AmountMode.EQUALS
    tolerance_minor: int = 0
    tolerance_percent: Decimal = Decimal(0)
    days_before: int = 0
    days_after: int = 0
    value: str | None = None
    codes: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None

    #: ``tolerance_percent`` / 100 as a fraction (numerator, denominator), exact and fast;
    #: derived from ``tolerance_percent`` whatever built the criterion.
    ratio: tuple[int, int] = field(default=(0, 1), init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "ratio", (Fraction(self.tolerance_percent) / 100).as_integer_ratio()
        )

    def tolerance(self, amount: int) -> int:
        """The tolerance for a target of ``amount`` minor units: the larger of both (the
        percentage of the amount rounded down)."""
        num, den = self.ratio
        share = abs(amount) * num // den if num else 0
        return share if share > self.tolerance_minor else self.tolerance_minor


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    kind: RuleKind
    source: Source | None
    criteria: tuple[Criterion, ...]
    split: Split = Split.NONE
    shortfall_policy: ShortfallPolicy = ShortfallPolicy.PARTIAL_PAYMENT
    base_confidence: int = 100
    min_confidence: int = 90
    suggest_confidence: int = 60
    enabled: bool = True
    by_type: dict[CriterionType, Criterion] = field(default_factory=dict, compare=False)

    def criterion(self, kind: CriterionType) -> Criterion | None:
        return self.by_type.get(kind)


# --- parsing -------------------------------------------------------------------------------
def _enum(problems: Problems, where: str, value: Any, kind: type[StrEnum]) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        problems.add(where, f"{value!r} is not one of {allowed}")
        return None


def _int(problems: Problems, where: str, value: Any, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(where, "must be a whole number")
        return default
    if not low <= value <= high:
        problems.add(where, f"must be between {low} and {high}")
        return default
    return value


def _criterion(problems: Problems, where: str, data: Any, kind: RuleKind) -> Criterion | None:
    if not isinstance(data, dict):
        problems.add(where, "must be an object with a type")
        return None
    known = {
        "type",
        "targets",
        "mode",
        "toleranceMinor",
        "tolerancePercent",
        "daysBefore",
        "daysAfter",
        "value",
        "codes",
        "pattern",
    }
    for name in sorted(set(data) - known):
        problems.add(f"{where}.{name}", "is not a parameter of a criterion")
    ctype = _enum(problems, f"{where}.type", data.get("type"), CriterionType)
    if ctype is None:
        return None
    allowed = _MATCH_CRITERIA if kind == RuleKind.MATCH else _IGNORE_CRITERIA
    if ctype not in allowed:
        problems.add(f"{where}.type", f"{ctype.value} is not a criterion of {kind.value} rules")
        return None
    targets: list[Target] = []
    raw_targets = data.get("targets")
    if ctype == CriterionType.AMOUNT:
        if raw_targets is None:
            raw_targets = [t.value for t in Target]
        if not isinstance(raw_targets, list) or not raw_targets:
            problems.add(f"{where}.targets", "must be a non-empty list")
        else:
            for i, raw in enumerate(raw_targets):
                target = _enum(problems, f"{where}.targets[{i}]", raw, Target)
                if target is not None and target not in targets:
                    targets.append(target)
    mode = AmountMode.EQUALS
    if data.get("mode") is not None:
        mode = _enum(problems, f"{where}.mode", data.get("mode"), AmountMode) or mode
    percent = Decimal(0)
    if data.get("tolerancePercent") is not None:
        try:
            percent = Decimal(str(data["tolerancePercent"]))
            if not percent.is_finite() or not Decimal(0) <= percent <= Decimal(20):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            problems.add(f"{where}.tolerancePercent", "must be a decimal from 0 to 20")
            percent = Decimal(0)
    codes: tuple[str, ...] = ()
    if ctype == CriterionType.TRANSACTION_CODE:
        raw = data.get("codes")
        if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
            problems.add(f"{where}.codes", "must be a non-empty list of codes")
        else:
            codes = tuple(c.strip().upper() for c in raw if c.strip())
    pattern = None
    if ctype == CriterionType.TEXT:
        raw = data.get("pattern")
        if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_PATTERN:
            problems.add(f"{where}.pattern", f"1 to {MAX_PATTERN} characters")
        else:
            try:
                pattern = re.compile(raw, re.IGNORECASE)
            except re.error as exc:
                problems.add(f"{where}.pattern", f"is not a valid regular expression: {exc}")
    value = None
    if ctype == CriterionType.DIRECTION:
        raw = data.get("value")
        if raw not in {"CREDIT", "DEBIT"}:
            problems.add(f"{where}.value", "must be CREDIT or DEBIT")
        else:
            value = str(raw)
    return Criterion(
        type=ctype,
        targets=tuple(targets),
        mode=mode,
        tolerance_minor=_int(
            problems, f"{where}.toleranceMinor", data.get("toleranceMinor"), 0, 10**9, 0
        ),
        tolerance_percent=percent,
        days_before=_int(problems, f"{where}.daysBefore", data.get("daysBefore"), 0, 120, 0),
        days_after=_int(problems, f"{where}.daysAfter", data.get("daysAfter"), 0, 120, 0),
        value=value,
        codes=codes,
        pattern=pattern,
    )


def _rule(problems: Problems, where: str, data: Any) -> Rule | None:
    if not isinstance(data, dict):
        problems.add(where, "must be an object")
        return None
    known = {
        "code",
        "name",
        "kind",
        "source",
        "criteria",
        "split",
        "shortfallPolicy",
        "baseConfidence",
        "minConfidence",
        "suggestConfidence",
        "enabled",
    }
    for name in sorted(set(data) - known):
        problems.add(f"{where}.{name}", "is not a field of a rule")
    code = data.get("code")
    if not isinstance(code, str) or not _CODE.match(code):
        problems.add(f"{where}.code", "2 to 40 upper-case letters, digits or '_', a letter first")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 120:
        problems.add(f"{where}.name", "1 to 120 characters")
    kind = _enum(problems, f"{where}.kind", data.get("kind"), RuleKind)
    if kind is None:
        return None
    source = None
    if kind == RuleKind.MATCH:
        source = _enum(problems, f"{where}.source", data.get("source"), Source)
    elif data.get("source") is not None:
        problems.add(f"{where}.source", "an IGNORE rule has no source")
    raw = data.get("criteria")
    criteria: list[Criterion] = []
    if not isinstance(raw, list) or not raw or len(raw) > MAX_CRITERIA:
        problems.add(f"{where}.criteria", f"1 to {MAX_CRITERIA} criteria")
    else:
        for i, item in enumerate(raw):
            found = _criterion(problems, f"{where}.criteria[{i}]", item, kind)
            if found is not None:
                criteria.append(found)
    types = [c.type for c in criteria]
    for duplicate in sorted({t for t in types if types.count(t) > 1}):
        problems.add(f"{where}.criteria", f"{duplicate.value} is given more than once")
    split = Split.NONE
    if data.get("split") is not None:
        split = _enum(problems, f"{where}.split", data.get("split"), Split) or split
    policy = ShortfallPolicy.PARTIAL_PAYMENT
    if data.get("shortfallPolicy") is not None:
        policy = (
            _enum(problems, f"{where}.shortfallPolicy", data["shortfallPolicy"], ShortfallPolicy)
            or policy
        )
    base = _int(problems, f"{where}.baseConfidence", data.get("baseConfidence"), 1, 100, 100)
    minimum = _int(problems, f"{where}.minConfidence", data.get("minConfidence"), 1, 100, 90)
    suggest = _int(
        problems, f"{where}.suggestConfidence", data.get("suggestConfidence"), 1, 100, 60
    )
    if suggest > minimum:
        problems.add(f"{where}.suggestConfidence", "cannot be above minConfidence")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.add(f"{where}.enabled", "must be true or false")
        enabled = True
    if kind == RuleKind.MATCH and split != Split.NONE and CriterionType.AMOUNT not in types:
        problems.add(f"{where}.criteria", "a rule that splits needs an AMOUNT criterion")
    if kind == RuleKind.MATCH and source == Source.AMOUNT and CriterionType.AMOUNT not in types:
        problems.add(f"{where}.criteria", "a rule whose source is AMOUNT needs an AMOUNT criterion")
    if not isinstance(code, str) or not isinstance(name, str):
        return None
    return Rule(
        code=code,
        name=name.strip(),
        kind=kind,
        source=source,
        criteria=tuple(criteria),
        split=split,
        shortfall_policy=policy,
        base_confidence=base,
        min_confidence=minimum,
        suggest_confidence=suggest,
        enabled=enabled,
        by_type={c.type: c for c in criteria},
    )


def parse_rules(data: Any, *, field_name: str = "rules") -> list[Rule]:
    """The rules of ``data`` (the stored JSON list), checked; ``ValidationFailed`` naming
    every problem."""
    problems = Problems()
    rules: list[Rule] = []
    if not isinstance(data, list) or not data or len(data) > MAX_RULES:
        problems.add(field_name, f"1 to {MAX_RULES} rules")
        problems.raise_if_any()
    for i, item in enumerate(data):
        found = _rule(problems, f"{field_name}[{i}]", item)
        if found is not None:
            rules.append(found)
    codes = [r.code for r in rules]
    for duplicate in sorted({c for c in codes if codes.count(c) > 1}):
        problems.add(field_name, f"the code {duplicate} is used by more than one rule")
    problems.raise_if_any()
    return rules


def rules_to_data(rules: Sequence[Rule]) -> list[dict[str, Any]]:
    """The rules as they are stored (and shown), in the API's words."""
    out = []
    for rule in rules:
        criteria = []
        for c in rule.criteria:
            item: dict[str, Any] = {"type": c.type.value}
            if c.type == CriterionType.AMOUNT:
                item.update(
                    targets=[t.value for t in c.targets],
                    mode=c.mode.value,
                    toleranceMinor=c.tolerance_minor,
                    tolerancePercent=str(c.tolerance_percent),
                )
            if c.type == CriterionType.DATE_WINDOW:
                item.update(daysBefore=c.days_before, daysAfter=c.days_after)
            if c.value is not None:
                item["value"] = c.value
            if c.codes:
                item["codes"] = list(c.codes)
            if c.pattern is not None:
                item["pattern"] = c.pattern.pattern
            criteria.append(item)
        data: dict[str, Any] = {
            "code": rule.code,
            "name": rule.name,
            "kind": rule.kind.value,
            "criteria": criteria,
            "split": rule.split.value,
            "shortfallPolicy": rule.shortfall_policy.value,
            "baseConfidence": rule.base_confidence,
            "minConfidence": rule.min_confidence,
            "suggestConfidence": rule.suggest_confidence,
            "enabled": rule.enabled,
        }
        if rule.source is not None:
            data["source"] = rule.source.value
        out.append(data)
    return out


#: Trama's rules while a lender has none of its own (version 0). Tolerances are in the
#: line's minor units: 1,000 pesos or 1 % for bank fees and withholdings.
DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "code": "TRASPASO_PROPIO",
        "name": "Traspaso entre cuentas propias",
        "kind": "IGNORE",
        "criteria": [{"type": "OWN_ACCOUNT"}],
    },
    {
        "code": "CARGOS_BANCARIOS",
        "name": "Comisiones, impuestos e intereses del banco",
        "kind": "IGNORE",
        "criteria": [
            {"type": "DIRECTION", "value": "DEBIT"},
            {
                "type": "TEXT",
                "pattern": r"\b(COMISION|MANTENCION|MANTENIMIENTO|CARGO|IMPUESTO|IVA|ITF|GMF|"
                r"IDB|INTERES|GASTO)",
            },
        ],
    },
    {
        "code": "CODIGO_CARGO_BANCARIO",
        "name": "Cargo del banco según su código de transacción",
        "kind": "IGNORE",
        "criteria": [
            {"type": "DIRECTION", "value": "DEBIT"},
            {
                "type": "TRANSACTION_CODE",
                "codes": ["NCHG", "NCOM", "NINT", "NTAX", "ACMT/MDOP/CHRG", "PMNT/MDOP/CHRG"],
            },
        ],
    },
    {
        "code": "INTERESES_GANADOS",
        "name": "Intereses que paga el banco",
        "kind": "IGNORE",
        "criteria": [
            {"type": "DIRECTION", "value": "CREDIT"},
            {"type": "TRANSACTION_CODE", "codes": ["NINT", "ACMT/MCOP/INTR"]},
        ],
    },
    {
        "code": "REFERENCIA",
        "name": "Referencia del crédito u orden de pago en la glosa",
        "kind": "MATCH",
        "source": "REFERENCE",
        "criteria": [
            {"type": "REFERENCE"},
            {
                "type": "AMOUNT",
                "mode": "NOT_ABOVE_PAYOFF",
                "targets": ["INSTALLMENT", "INSTALLMENTS", "OVERDUE", "PAYOFF"],
                "toleranceMinor": 1000,
                "tolerancePercent": "1",
            },
        ],
        "minConfidence": 90,
        "suggestConfidence": 60,
    },
    {
        "code": "RUT_Y_MONTO",
        "name": "Identificación del pagador y monto de una cuota, lo vencido o el pago total",
        "kind": "MATCH",
        "source": "NATIONAL_ID",
        "criteria": [
            {"type": "NATIONAL_ID"},
            {
                "type": "AMOUNT",
                "targets": ["INSTALLMENT", "INSTALLMENTS", "OVERDUE", "PAYOFF"],
                "toleranceMinor": 1000,
                "tolerancePercent": "1",
            },
            {"type": "SINGLE_CANDIDATE"},
        ],
        "baseConfidence": 97,
        "minConfidence": 90,
        "suggestConfidence": 60,
    },
    {
        "code": "VARIOS_CREDITOS",
        "name": "Un pago para varios créditos del mismo cliente",
        "kind": "MATCH",
        "source": "NATIONAL_ID",
        "split": "CREDITS",
        "criteria": [
            {"type": "NATIONAL_ID"},
            {"type": "AMOUNT", "targets": ["OVERDUE", "INSTALLMENT"], "toleranceMinor": 1000},
        ],
        "baseConfidence": 92,
        "minConfidence": 90,
    },
    {
        "code": "VARIAS_TRANSFERENCIAS",
        "name": "Varias transferencias del mismo pagador para una cuota",
        "kind": "MATCH",
        "source": "NATIONAL_ID",
        "split": "LINES",
        "shortfallPolicy": "PARTIAL_PAYMENT",
        "criteria": [
            {"type": "NATIONAL_ID"},
            {
                "type": "AMOUNT",
                "targets": ["INSTALLMENT", "OVERDUE"],
                "toleranceMinor": 1000,
                "tolerancePercent": "1",
            },
            {"type": "DATE_WINDOW", "daysBefore": 10, "daysAfter": 10},
        ],
        "baseConfidence": 92,
        "minConfidence": 90,
    },
    {
        "code": "CUENTA_CONOCIDA",
        "name": "Cuenta de origen que ya pagó el crédito",
        "kind": "MATCH",
        "source": "PAYER_ACCOUNT",
        "criteria": [
            {"type": "PAYER_ACCOUNT"},
            {
                "type": "AMOUNT",
                "targets": ["INSTALLMENT", "OVERDUE", "PAYOFF"],
                "toleranceMinor": 1000,
                "tolerancePercent": "1",
            },
            {"type": "SINGLE_CANDIDATE"},
        ],
        "baseConfidence": 85,
        "minConfidence": 90,
        "suggestConfidence": 60,
    },
    {
        "code": "MONTO_Y_FECHA",
        "name": "Monto de una cuota y fecha cercana al vencimiento, un solo crédito posible",
        "kind": "MATCH",
        "source": "AMOUNT",
        "criteria": [
            {"type": "AMOUNT", "targets": ["INSTALLMENT"], "toleranceMinor": 0},
            {"type": "DATE_WINDOW", "daysBefore": 5, "daysAfter": 3},
            {"type": "SINGLE_CANDIDATE"},
        ],
        "baseConfidence": 90,
        "minConfidence": 90,
        "suggestConfidence": 50,
    },
]

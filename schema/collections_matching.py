"""Collections in the API, part 2: the reconciliation queue, decisions explained, the
people's actions on it, and the lenders' matching rules.

A line's decision says why it is in its state: the rule (its code, the rule set's
version), the confidence in percent, and the evidence per criterion, in words a collections
clerk reads — Spanish by default, English with ``locale: EN`` (the decision stores codes
and parameters; the words are rendered when asked, so they can be translated).
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeAlias

import strawberry

from domain.collections.matching_engine import Decision as EngineDecision
from domain.collections.matching_models import LineApplication as ApplicationModel
from domain.collections.matching_models import LineCase as CaseLinkModel
from domain.collections.matching_models import LineDecision as DecisionModel
from domain.collections.matching_models import MatchRuleSet as RuleSetModel
from domain.collections.matching_reads import QueueItem
from domain.collections.matching_rules import (
    AmountMode,
    CriterionType,
    RuleKind,
    ShortfallPolicy,
    Source,
    Split,
    Target,
)
from domain.collections.matching_text import render
from domain.collections.models import LineState as LineStateEnum
from domain.shared.money import Money as DomainMoney
from resolvers.ids import encode_node_id
from schema.collections import StatementLine, StatementLineState
from schema.common import Connection
from schema.errors import (
    ConflictError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from schema.money import Money, MoneyInput

strawberry.enum(RuleKind, name="MatchRuleKind", description="IGNORE or MATCH.")
strawberry.enum(
    Source,
    name="MatchSource",
    description="Where a MATCH rule finds candidates: REFERENCE (credit or payment-order "
    "references in the line's texts), NATIONAL_ID (the payer's customer), AMOUNT "
    "(installments of about the amount falling due about the date), PAYER_ACCOUNT (credits "
    "the same source account paid before).",
)
strawberry.enum(CriterionType, name="MatchCriterionType")
strawberry.enum(
    Target,
    name="AmountTarget",
    description="INSTALLMENT (one due, the oldest unpaid first, or the one a payment order "
    "names), INSTALLMENTS (the first unpaid ones together), OVERDUE (everything due on the "
    "value date), PAYOFF (what closes the credit that day).",
)
strawberry.enum(
    AmountMode,
    name="MatchAmountMode",
    description="EQUALS a target (within the tolerance), or NOT_ABOVE_PAYOFF (any amount up "
    "to the payoff: a partial payment).",
)
strawberry.enum(
    Split,
    name="MatchSplit",
    description="NONE; CREDITS (one line pays several credits of one customer); LINES "
    "(several lines of one payer pay one installment).",
)
strawberry.enum(
    ShortfallPolicy,
    name="MatchShortfallPolicy",
    description="A shortfall within the tolerance: PARTIAL_PAYMENT (stays owed) or WRITE_OFF "
    "(booked as a written-off adjustment).",
)
MatchRuleKind: TypeAlias = RuleKind
MatchSource: TypeAlias = Source
MatchCriterionType: TypeAlias = CriterionType
AmountTarget: TypeAlias = Target
MatchAmountMode: TypeAlias = AmountMode
MatchSplit: TypeAlias = Split
MatchShortfallPolicy: TypeAlias = ShortfallPolicy


@strawberry.enum(description="The language of explanations.")
class MatchLocale(enum.Enum):
    ES = "es"
    EN = "en"


# --- decisions -----------------------------------------------------------------------------
@strawberry.type(description="One criterion's finding on a line.")
class MatchEvidence:
    criterion: str = strawberry.field(description="REFERENCE, NATIONAL_ID, AMOUNT, …")
    result: str = strawberry.field(description="PASS, FAIL or INFO.")
    score: int | None = strawberry.field(description="0 to 100.")
    message: str = strawberry.field(description="The message code (stable).")
    params: strawberry.Private[dict[str, Any]]

    @strawberry.field(description="The finding in words.")
    def text(self, locale: MatchLocale = MatchLocale.ES) -> str:
        return render(self.message, self.params, locale.value)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> MatchEvidence:
        return cls(
            criterion=str(data.get("criterion") or ""),
            result=str(data.get("result") or ""),
            score=data.get("score"),
            message=str(data.get("message") or ""),
            params=dict(data.get("params") or {}),
        )


def _money(data: dict[str, Any] | None) -> Money | None:
    if not data:
        return None
    return Money.from_domain(DomainMoney(int(data["amount"]), str(data["currency"])))


@strawberry.type(description="A credit a line pays, or could pay.")
class MatchCandidate:
    option: int = strawberry.field(
        description="The option it belongs to (confirmMatch's `candidate`); a split has "
        "several credits in one option."
    )
    credit_id: strawberry.ID
    reference: str | None
    amount: Money = strawberry.field(description="Of the line, in its currency.")
    target: str | None = strawberry.field(
        description="What the amount matches: INSTALLMENT, INSTALLMENTS, OVERDUE, PAYOFF, PARTIAL."
    )
    installments: list[int]
    score: int
    write_off: Money | None = strawberry.field(
        description="A shortfall written off beside the payment, as the policy says."
    )

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> MatchCandidate:
        amount = _money(data.get("amount"))
        assert amount is not None
        write_off = _money(data.get("writeOff"))
        return cls(
            option=int(data.get("option") or 0),
            credit_id=strawberry.ID(encode_node_id("Credit", uuid.UUID(str(data["creditId"])))),
            reference=data.get("reference"),
            amount=amount,
            target=data.get("target"),
            installments=[int(n) for n in data.get("installments") or []],
            score=int(data.get("score") or 0),
            write_off=write_off if write_off and write_off.minor_units else None,
        )


@strawberry.type(description="Why a line is (or was) in its state.")
class MatchDecision:
    state: StatementLineState
    reason: str | None = strawberry.field(
        description="EXCEPTION: AMBIGUOUS, DUPLICATE, AMOUNT_MISMATCH, CREDIT_NOT_PAYABLE, "
        "CURRENCY_MISMATCH, REVERSAL_WITHOUT_ORIGINAL, UNEXPECTED_DEBIT, BOOKING_REFUSED. "
        "IGNORED: the rule's code, REVERSED, REVERSAL, IGNORED_BY_USER."
    )
    rule_code: str | None
    rule_set_version: int | None = strawberry.field(description="0: Trama's default rules.")
    confidence: int | None = strawberry.field(description="Percent.")
    kind: str = strawberry.field(description="AUTO (a rule), USER (a person) or CASE.")
    decided_by: str
    decided_at: datetime
    note: str | None
    current: bool
    evidence: list[MatchEvidence]
    candidates: list[MatchCandidate] = strawberry.field(
        description="AUTO_MATCHED: what was booked; SUGGESTED and EXCEPTION: the options."
    )

    @strawberry.field(description="The evidence in words, one sentence per criterion.")
    def explanation(self, locale: MatchLocale = MatchLocale.ES) -> list[str]:
        return [e.text(locale) for e in self.evidence]

    @classmethod
    def from_model(cls, d: DecisionModel) -> MatchDecision:
        return cls(
            state=LineStateEnum(d.state),
            reason=d.reason,
            rule_code=d.rule_code,
            rule_set_version=d.rule_set_version,
            confidence=d.confidence,
            kind=d.kind,
            decided_by=d.decided_by,
            decided_at=d.created_at,
            note=d.note,
            current=d.current,
            evidence=[MatchEvidence.from_data(e) for e in d.evidence or []],
            candidates=[MatchCandidate.from_data(c) for c in d.candidates or []],
        )

    @classmethod
    def from_engine(cls, d: EngineDecision, version: int) -> MatchDecision:
        from domain.shared.time import utcnow

        return cls(
            state=LineStateEnum(d.state),
            reason=d.reason,
            rule_code=d.rule_code,
            rule_set_version=version,
            confidence=d.confidence,
            kind="PREVIEW",
            decided_by="collections.reconcile",
            decided_at=utcnow(),
            note=None,
            current=False,
            evidence=[MatchEvidence.from_data(e.as_data()) for e in d.evidence],
            candidates=[MatchCandidate.from_data(p.as_data(d.line.currency)) for p in d.parts],
        )


@strawberry.type(
    description="What a line booked on a credit: a payment, or the shortfall its rule wrote off."
)
class LineBooking:
    credit_id: strawberry.ID
    payment_id: strawberry.ID | None = strawberry.field(
        description="The payment booked; none for a WRITE_OFF (a write-off is not a payment)."
    )
    write_off_id: strawberry.ID | None = strawberry.field(
        description="A WRITE_OFF's partial write-off on the credit (its id)."
    )
    kind: str = strawberry.field(description="PAYMENT, or WRITE_OFF (a written-off shortfall).")
    amount: Money
    status: str = strawberry.field(description="BOOKED or REVERSED.")
    booked_at: datetime
    reversed_at: datetime | None
    reversal_reason: str | None

    @classmethod
    def from_model(cls, a: ApplicationModel) -> LineBooking:
        return cls(
            credit_id=strawberry.ID(encode_node_id("Credit", a.credit_id)),
            payment_id=(
                strawberry.ID(encode_node_id("Payment", a.payment_id))
                if a.payment_id is not None
                else None
            ),
            write_off_id=strawberry.ID(str(a.write_off_id)) if a.write_off_id else None,
            kind=a.kind,
            amount=Money.from_domain(DomainMoney(a.amount, a.currency)),
            status=a.status,
            booked_at=a.created_at,
            reversed_at=a.reversed_at,
            reversal_reason=a.reversal_reason,
        )


@strawberry.type(description="The 'unidentified payment' case a line opened.")
class UnidentifiedPaymentCase:
    case_id: strawberry.ID | None = strawberry.field(
        description="Null when no case could be opened (the payer is not a known customer)."
    )
    status: str = strawberry.field(description="OPEN, APPLIED, CLOSED or NO_CUSTOMER.")
    note: str | None
    opened_at: datetime

    @classmethod
    def from_model(cls, c: CaseLinkModel) -> UnidentifiedPaymentCase:
        return cls(
            case_id=strawberry.ID(encode_node_id("Case", c.case_id)) if c.case_id else None,
            status=c.status,
            note=c.note,
            opened_at=c.created_at,
        )


@strawberry.type(description="A statement line in the reconciliation, with its decision.")
class ReconciliationItem:
    line: StatementLine
    state: StatementLineState
    version: int = strawberry.field(description="Give it back to act on the line.")
    age_days: int = strawberry.field(description="Days since the bank booked it.")
    decision: MatchDecision | None = strawberry.field(description="Null while NEW.")
    bookings: list[LineBooking]
    unidentified_payment_case: UnidentifiedPaymentCase | None

    @classmethod
    def from_item(cls, item: QueueItem, today: date) -> ReconciliationItem:
        line = item.line
        return cls(
            line=StatementLine.from_model(line),
            state=LineStateEnum(line.state),
            version=line.version,
            age_days=max(0, (today - line.booking_date).days),
            decision=MatchDecision.from_model(item.decision) if item.decision else None,
            bookings=[LineBooking.from_model(a) for a in item.applications],
            unidentified_payment_case=(
                UnidentifiedPaymentCase.from_model(item.case) if item.case else None
            ),
        )


ReconciliationItemConnection = Connection[ReconciliationItem]


@strawberry.input(description="Which lines; the queue's states by default.")
class ReconciliationQueueFilter:
    states: list[StatementLineState] | None = strawberry.field(
        default=None, description="Default SUGGESTED, EXCEPTION, UNMATCHED."
    )
    account_id: strawberry.ID | None = None
    min_age_days: int | None = strawberry.field(
        default=None, description="Booked at least this many days ago."
    )
    max_age_days: int | None = strawberry.field(
        default=None, description="Booked at most this many days ago."
    )
    reason: str | None = strawberry.field(default=None, description="E.g. AMBIGUOUS.")
    partner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Administrators: one lender's lines."
    )


# --- rule sets -----------------------------------------------------------------------------
@strawberry.type(description="A criterion of a rule and its parameters.")
class MatchCriterion:
    type: MatchCriterionType
    targets: list[AmountTarget] | None
    mode: MatchAmountMode | None
    tolerance_minor: int | None = strawberry.field(
        description="In the line's minor units (pesos: 1000 = $1.000)."
    )
    tolerance_percent: Decimal | None
    days_before: int | None
    days_after: int | None
    value: str | None
    codes: list[str] | None
    pattern: str | None


@strawberry.type(description="A matching rule, as data.")
class MatchRule:
    code: str
    name: str
    kind: MatchRuleKind
    source: MatchSource | None
    criteria: list[MatchCriterion]
    split: MatchSplit
    shortfall_policy: MatchShortfallPolicy
    base_confidence: int
    min_confidence: int = strawberry.field(description="AUTO_MATCHED at or above (percent).")
    suggest_confidence: int = strawberry.field(description="SUGGESTED at or above (percent).")
    enabled: bool

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> MatchRule:
        criteria = []
        for c in data.get("criteria") or []:
            criteria.append(
                MatchCriterion(
                    type=CriterionType(c["type"]),
                    targets=[Target(t) for t in c["targets"]] if c.get("targets") else None,
                    mode=AmountMode(c["mode"]) if c.get("mode") else None,
                    tolerance_minor=c.get("toleranceMinor"),
                    tolerance_percent=Decimal(c["tolerancePercent"])
                    if c.get("tolerancePercent") is not None
                    else None,
                    days_before=c.get("daysBefore"),
                    days_after=c.get("daysAfter"),
                    value=c.get("value"),
                    codes=c.get("codes"),
                    pattern=c.get("pattern"),
                )
            )
        return cls(
            code=data["code"],
            name=data["name"],
            kind=RuleKind(data["kind"]),
            source=Source(data["source"]) if data.get("source") else None,
            criteria=criteria,
            split=Split(data.get("split") or "NONE"),
            shortfall_policy=ShortfallPolicy(data.get("shortfallPolicy") or "PARTIAL_PAYMENT"),
            base_confidence=int(data.get("baseConfidence") or 100),
            min_confidence=int(data.get("minConfidence") or 90),
            suggest_confidence=int(data.get("suggestConfidence") or 60),
            enabled=bool(data.get("enabled", True)),
        )


@strawberry.type(description="One version of a lender's matching rules.")
class MatchRuleSet:
    id: strawberry.ID
    partner_id: strawberry.ID
    version: int
    effective_from: datetime
    description: str
    rules: list[MatchRule]
    created_by: str
    created_at: datetime
    in_force: bool = strawberry.field(description="The version the next lines are decided by.")

    @classmethod
    def from_model(cls, r: RuleSetModel, in_force: bool) -> MatchRuleSet:
        return cls(
            id=strawberry.ID(str(r.id)),
            partner_id=strawberry.ID(encode_node_id("Partner", r.partner_id)),
            version=r.version,
            effective_from=r.effective_from,
            description=r.description,
            rules=[MatchRule.from_data(d) for d in r.rules],
            created_by=r.created_by,
            created_at=r.created_at,
            in_force=in_force,
        )


@strawberry.type(description="A lender's rule set versions.")
class MatchRuleSets:
    versions: list[MatchRuleSet] = strawberry.field(description="Newest first.")
    version_in_force: int = strawberry.field(description="0: Trama's default rules.")
    default_rules: list[MatchRule] = strawberry.field(
        description="Trama's rules, used while a lender has no version of its own."
    )


@strawberry.type(description="What one rule alone makes of the line.")
class RuleTrace:
    rule_code: str
    rule_name: str
    decision: MatchDecision


@strawberry.type(description="The rules on one line, now; nothing is written.")
class ReconciliationExplanation:
    rule_set_version: int
    decision: MatchDecision = strawberry.field(description="What the rule set would decide.")
    rules: list[RuleTrace]


# --- inputs and payloads -------------------------------------------------------------------
@strawberry.input(description="A criterion: its type and the parameters it takes.")
class MatchCriterionInput:
    type: MatchCriterionType
    targets: list[AmountTarget] | None = None
    mode: MatchAmountMode | None = None
    tolerance_minor: int | None = None
    tolerance_percent: Decimal | None = None
    days_before: int | None = None
    days_after: int | None = None
    value: str | None = None
    codes: list[str] | None = None
    pattern: str | None = None


@strawberry.input(description="A rule (see the README for what each field does).")
class MatchRuleInput:
    code: str
    name: str
    kind: MatchRuleKind
    source: MatchSource | None = None
    criteria: list[MatchCriterionInput]
    split: MatchSplit | None = None
    shortfall_policy: MatchShortfallPolicy | None = None
    base_confidence: int | None = None
    min_confidence: int | None = None
    suggest_confidence: int | None = None
    enabled: bool | None = None


def rules_data(rules: list[MatchRuleInput]) -> list[dict[str, Any]]:
    """The input as the stored JSON (checked by the domain)."""
    out = []
    for r in rules:
        criteria = []
        for c in r.criteria:
            item: dict[str, Any] = {"type": c.type.value}
            if c.targets is not None:
                item["targets"] = [t.value for t in c.targets]
            if c.mode is not None:
                item["mode"] = c.mode.value
            for name, value in (
                ("toleranceMinor", c.tolerance_minor),
                ("daysBefore", c.days_before),
                ("daysAfter", c.days_after),
                ("value", c.value),
                ("codes", c.codes),
                ("pattern", c.pattern),
            ):
                if value is not None:
                    item[name] = value
            if c.tolerance_percent is not None:
                item["tolerancePercent"] = str(c.tolerance_percent)
            criteria.append(item)
        data: dict[str, Any] = {
            "code": r.code,
            "name": r.name,
            "kind": r.kind.value,
            "criteria": criteria,
        }
        for name, value in (
            ("source", r.source.value if r.source else None),
            ("split", r.split.value if r.split else None),
            ("shortfallPolicy", r.shortfall_policy.value if r.shortfall_policy else None),
            ("baseConfidence", r.base_confidence),
            ("minConfidence", r.min_confidence),
            ("suggestConfidence", r.suggest_confidence),
            ("enabled", r.enabled),
        ):
            if value is not None:
                data[name] = value
        out.append(data)
    return out


@strawberry.input(description="A new version of a lender's matching rules.")
class CreateMatchRuleSetInput:
    partner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Administrators: the lender (staff: their own)."
    )
    description: str
    effective_from: datetime | None = strawberry.field(
        default=None, description="Now by default; never in the past."
    )
    rules: list[MatchRuleInput] = strawberry.field(description="In the order they are tried.")


@strawberry.input(description="Book a suggestion.")
class ConfirmMatchInput:
    line_id: strawberry.ID
    version: int = strawberry.field(description="The line's version you read.")
    candidate: int = strawberry.field(default=0, description="The option (0: the best).")


@strawberry.input(description="A credit the line pays, and how much of the line.")
class ManualMatchPartInput:
    credit_id: strawberry.ID
    amount: MoneyInput | None = strawberry.field(
        default=None, description="Leave out with a single credit: the whole line."
    )
    installment_number: int | None = strawberry.field(
        default=None,
        description="The installment you meant (kept with the decision; the credit's "
        "allocation order decides what the money pays).",
    )


@strawberry.input(description="Book a line to one or several credits.")
class MatchManuallyInput:
    line_id: strawberry.ID
    version: int
    parts: list[ManualMatchPartInput]


@strawberry.input(description="Undo a line's match: its payments are reversed.")
class UnmatchLineInput:
    line_id: strawberry.ID
    version: int
    reason: str


@strawberry.input(description="Set aside a line that pays no credit.")
class IgnoreLineInput:
    line_id: strawberry.ID
    version: int
    reason: str


@strawberry.type
class ReconciliationSuccess:
    item: ReconciliationItem


_LINE_ERRORS = (
    ValidationError | NotFoundError | ForbiddenError | ConflictError | InvalidTransitionError
)
ConfirmMatchPayload = Annotated[
    ReconciliationSuccess | _LINE_ERRORS, strawberry.union("ConfirmMatchPayload")
]
MatchManuallyPayload = Annotated[
    ReconciliationSuccess | _LINE_ERRORS, strawberry.union("MatchManuallyPayload")
]
UnmatchLinePayload = Annotated[
    ReconciliationSuccess | _LINE_ERRORS, strawberry.union("UnmatchLinePayload")
]
IgnoreLinePayload = Annotated[
    ReconciliationSuccess | _LINE_ERRORS, strawberry.union("IgnoreLinePayload")
]


@strawberry.type
class CreateMatchRuleSetSuccess:
    rule_set: MatchRuleSet


CreateMatchRuleSetPayload = Annotated[
    CreateMatchRuleSetSuccess | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union("CreateMatchRuleSetPayload"),
]

__all__ = [
    "ConfirmMatchPayload",
    "CreateMatchRuleSetPayload",
    "IgnoreLinePayload",
    "MatchManuallyPayload",
    "UnmatchLinePayload",
]

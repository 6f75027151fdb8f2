"""The matcher: statement lines in, one decision per line out. Pure: no database.

The service (``matching.py``) loads what the lines need in a few bulk queries into a
:class:`MatchIndex` (credits by reference, customers by national ID, open installments by
amount, payer accounts seen before, the lender's own accounts), and :func:`decide` runs the
rule set over every line with dictionary lookups only. Per line:

1. A reversal reverses its original (or is an EXCEPTION when the original is unknown);
   a line with the same end-to-end reference, date and amount as another is an EXCEPTION
   (DUPLICATE).
2. IGNORE rules, in order: the first whose criteria all hold makes the line IGNORED.
3. MATCH rules, in order (split ``NONE`` and ``CREDITS``): each finds candidates from its
   source and scores them (``matching_rules``). The first rule with one candidate at or
   above its ``minConfidence`` wins: AUTO_MATCHED, with the plan of payments. Two or more
   at that level make the line ambiguous unless a later rule settles it.
4. Lines still open are grouped by payer for the ``LINES`` rules (several transfers for
   one installment).
5. What is left: EXCEPTION (ambiguous; amount above what the credit owes; a credit that
   takes no payments or is in another currency), SUGGESTED (candidates at or above a
   rule's ``suggestConfidence``, best first), or UNMATCHED; a debit no rule recognises is
   an EXCEPTION.

Every decision carries the rule, the confidence (percent) and the evidence per criterion
as message codes with parameters (``matching_text.MESSAGES``).
"""

from __future__ import annotations

import bisect
import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from domain.collections.matching_rules import (
    AmountMode,
    Criterion,
    CriterionType,
    Rule,
    RuleKind,
    ShortfallPolicy,
    Source,
    Split,
    Target,
)
from domain.collections.matching_text import (
    FoundReference,
    compacted_references_in,
    id_keys,
    national_ids_in,
    references_in,
)
from domain.collections.models import LineState

__all__ = [
    "CreditFacts",
    "Decision",
    "Evidence",
    "InstallmentDue",
    "LineView",
    "MatchIndex",
    "Part",
    "decide",
]

#: States a credit takes payments in.
PAYABLE = frozenset({"ACTIVE", "DELINQUENT", "RESTRUCTURED"})
#: At most this many credits of one customer, and lines of one payer, are combined.
MAX_SPLIT_CREDITS = 8
MAX_GROUP_LINES = 6
MAX_INSTALLMENTS_TOGETHER = 12
#: Suggestions kept on a line.
MAX_SUGGESTIONS = 5


# --- inputs --------------------------------------------------------------------------------
@dataclass(slots=True)
class LineView:
    """The columns of a statement line the matcher reads."""

    id: uuid.UUID
    account_id: uuid.UUID
    partner_id: uuid.UUID
    booking_date: date
    value_date: date | None
    amount: int
    currency: str
    direction: str
    is_reversal: bool
    reverses_line_id: uuid.UUID | None
    bank_reference: str | None
    end_to_end_id: str | None
    customer_reference: str | None
    creditor_reference: str | None
    remittance_info: str | None
    counterparty_name: str | None
    counterparty_account: str | None
    counterparty_national_id_type: str | None
    counterparty_national_id: str | None
    bank_transaction_code: str | None
    bank_transaction_text: str | None
    state: str
    version: int

    @property
    def day(self) -> date:
        """The value date (the booking date when the bank gives none)."""
        return self.value_date or self.booking_date

    def texts(self) -> list[tuple[str, str | None]]:
        return [
            ("creditor_reference", self.creditor_reference),
            ("remittance_info", self.remittance_info),
            ("end_to_end_id", self.end_to_end_id),
            ("customer_reference", self.customer_reference),
        ]


@dataclass(slots=True)
class InstallmentDue:
    number: int
    due_date: date
    #: Owed on it at the credit's ``ledger_as_of`` (late interest accrued to then).
    outstanding: int
    principal_unpaid: int
    interest_due: int  # scheduled interest still unpaid (for the payoff bound)


@dataclass(slots=True)
class CreditFacts:
    """What the matcher knows of one credit: enough to compute what it owes on a day."""

    id: uuid.UUID
    reference: str
    partner_id: uuid.UUID
    customer_id: uuid.UUID
    currency: str
    status: str
    ledger_as_of: date | None
    #: Late interest per minor unit of principal per day: (numerator, denominator).
    late_rate: tuple[int, int]
    late_grace_days: int
    unpaid: list[InstallmentDue]  # installments of the schedule in force not paid, in order
    credit_balance: int
    #: Principal unpaid of the installments not in ``unpaid`` (a credit only the AMOUNT-source
    #: rules found is loaded with the installments they read; the rest counts here).
    principal_beyond: int = 0

    def owed_at(self, item: InstallmentDue, day: date) -> int:
        """What ``item`` owes on ``day``: its outstanding plus late interest accrued from
        the ledger's day to ``day`` on its unpaid principal (the allocator's rule, to the
        minor unit but for its rounding, which the amount tolerance absorbs)."""
        start = item.due_date + timedelta(days=self.late_grace_days)
        if self.ledger_as_of is not None and self.ledger_as_of > start:
            start = self.ledger_as_of
        extra = 0
        if day > start and item.principal_unpaid > 0:
            num, den = self.late_rate
            extra = item.principal_unpaid * (day - start).days * num // den
        return max(0, item.outstanding + extra)

    def due_by(self, day: date) -> list[InstallmentDue]:
        return [i for i in self.unpaid if i.due_date <= day]

    def overdue_at(self, day: date) -> int:
        return sum(self.owed_at(i, day) for i in self.due_by(day))

    def payoff_bounds(self, day: date) -> tuple[int, int]:
        """(lower, upper) bounds of the payoff on ``day``: what is due plus the principal
        not due, and that plus the scheduled interest of the next installment."""
        due = self.overdue_at(day)
        later = [i for i in self.unpaid if i.due_date > day]
        principal = sum(i.principal_unpaid for i in later) + self.principal_beyond
        interest = later[0].interest_due if later else 0
        return due + principal, due + principal + interest


@dataclass
class MatchIndex:
    """The in-memory indexes of one reconciliation run (one lender)."""

    country: str
    credits: dict[uuid.UUID, CreditFacts] = field(default_factory=dict)
    by_reference: dict[str, uuid.UUID] = field(default_factory=dict)
    #: Every reference of the lender read in the lines, known or not (to say "unknown").
    customers_by_id: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)
    credits_by_customer: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    #: (amount of the oldest unpaid installment, credit id, installment number), sorted.
    installment_amounts: list[tuple[int, uuid.UUID, int]] = field(default_factory=list)
    #: counterparty account -> {credit id: lines of it that paid the credit}
    payer_accounts: dict[str, dict[uuid.UUID, int]] = field(default_factory=dict)
    own_accounts: frozenset[str] = frozenset()
    #: (account, booking date, amount, end-to-end id) -> a line already stored with them
    end_to_end: dict[tuple[uuid.UUID, date, int, str], uuid.UUID] = field(default_factory=dict)
    #: Lines the reversals point at: id -> (state, booking date, amount, currency, payments)
    originals: dict[uuid.UUID, tuple[str, date, int, str, int]] = field(default_factory=dict)
    #: UF values by day (CLP lines paying UF credits are compared in pesos).
    uf_values: dict[date, Decimal] = field(default_factory=dict)
    #: Exact payoffs computed by the service: (credit id, day) -> amount.
    payoffs: dict[tuple[uuid.UUID, date], int] = field(default_factory=dict)
    #: False while the AMOUNT-source candidates are not loaded (``build_index(amounts=
    #: False)``): a line that reaches an AMOUNT-source rule is then left undecided.
    amounts_loaded: bool = True

    def add_installment_amounts(self) -> None:
        self.installment_amounts = sorted(
            (i.outstanding, c.id, i.number)
            for c in self.credits.values()
            if c.status in PAYABLE
            for i in c.unpaid[:3]
        )


# --- outputs -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Evidence:
    criterion: str
    result: str  # PASS, FAIL, INFO
    score: int | None
    message: str
    params: dict[str, Any]

    def as_data(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "result": self.result,
            "score": self.score,
            "message": self.message,
            "params": self.params,
        }


@dataclass(frozen=True, slots=True)
class Part:
    """One payment of a plan (or a suggestion): ``amount`` of the line (its currency) to
    ``credit_id``; ``write_off`` the shortfall booked beside it when the policy says so."""

    credit_id: uuid.UUID
    reference: str
    amount: int
    target: str | None
    installments: tuple[int, ...]
    score: int
    write_off: int = 0
    #: Which option of a suggestion the part belongs to (a split option has several).
    option: int = 0

    def as_data(self, currency: str) -> dict[str, Any]:
        return {
            "option": self.option,
            "creditId": str(self.credit_id),
            "reference": self.reference,
            "amount": {"amount": self.amount, "currency": currency},
            "target": self.target,
            "installments": list(self.installments),
            "score": self.score,
            "writeOff": {"amount": self.write_off, "currency": currency},
        }


@dataclass
class Decision:
    line: LineView
    state: LineState
    reason: str | None = None
    rule_code: str | None = None
    confidence: int | None = None
    evidence: list[Evidence] = field(default_factory=list)
    #: AUTO_MATCHED: the payments to book; SUGGESTED/EXCEPTION: the candidates.
    parts: list[Part] = field(default_factory=list)
    #: A reversal: the original line whose bookings are reversed.
    reverses: uuid.UUID | None = None


# --- amounts -------------------------------------------------------------------------------
def _to_line_currency(index: MatchIndex, amount: int, credit: CreditFacts, line: LineView) -> int:
    """``amount`` of ``credit``'s currency in the line's (UF to pesos at the day's value)."""
    if credit.currency == line.currency:
        return amount
    value = index.uf_values.get(line.day)
    if value is None:
        return -1
    pesos = (Decimal(amount) / 10_000 * value).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(pesos)


@dataclass(frozen=True, slots=True)
class _Fit:
    target: Target
    target_amount: int  # in the line's currency
    installments: tuple[int, ...]
    difference: int  # line amount - target (negative: short)
    tolerance: int
    score: int
    due_date: date | None


_TargetValue = tuple[Target, int, tuple[int, ...], date | None]


def _targets(
    index: MatchIndex,
    credit: CreditFacts,
    line: LineView,
    wanted: Iterable[Target],
    order_installment: int | None,
    up_to: int | None = None,
) -> Iterator[_TargetValue]:
    """The amounts ``credit`` may be paid with on the line's day, in the line's currency,
    the likeliest first (computed only as far as they are asked for), each above zero.

    Sums of installments stop at the first one above ``up_to`` (the amount they are
    compared with: the line's unless said; the closest sums are the last one not above
    and the first one above it, since every installment owes something); ``up_to < 0``
    gives every sum."""
    day = line.day
    unpaid = credit.unpaid
    limit = line.amount if up_to is None else up_to
    wanted = wanted if isinstance(wanted, frozenset | set) else frozenset(wanted)
    if unpaid:
        yield from _installment_targets(index, credit, line, wanted, order_installment, limit)
    if Target.PAYOFF in wanted:
        exact = index.payoffs.get((credit.id, day))
        if exact is not None:
            value = _to_line_currency(index, exact, credit, line)
            if value > 0:
                yield (Target.PAYOFF, value, tuple(i.number for i in unpaid), None)


def _installment_targets(
    index: MatchIndex,
    credit: CreditFacts,
    line: LineView,
    wanted: frozenset[Target] | set[Target],
    order_installment: int | None,
    limit: int,
) -> Iterator[_TargetValue]:
    day = line.day
    unpaid = credit.unpaid
    same = credit.currency == line.currency
    owed = credit.owed_at

    def convert(value: int) -> int:
        return value if same else _to_line_currency(index, value, credit, line)

    first = unpaid[0]
    first_owed = owed(first, day)
    if Target.INSTALLMENT in wanted:
        # the installment a payment order names, the oldest unpaid, the next one falling due
        chosen: list[tuple[InstallmentDue, int]] = []
        if order_installment is not None and order_installment != first.number:
            for item in unpaid:
                if item.number == order_installment:
                    chosen.append((item, owed(item, day)))
                    break
        chosen.append((first, first_owed))
        if first.due_date < day:
            for item in unpaid[1:]:
                if item.due_date >= day:
                    chosen.append((item, owed(item, day)))
                    break
        for item, value in chosen:
            value = convert(value)
            if value > 0:
                yield (Target.INSTALLMENT, value, (item.number,), item.due_date)
    if Target.OVERDUE in wanted and first.due_date <= day:
        total = 0
        count = 0
        for item in unpaid:
            if item.due_date > day:
                break
            total += owed(item, day) if count else first_owed
            count += 1
        # the overdue total of one installment is that installment, already given
        if count > 1 or Target.INSTALLMENT not in wanted:
            value = convert(total)
            if value > 0:
                numbers = tuple(i.number for i in unpaid[:count])
                yield (Target.OVERDUE, value, numbers, unpaid[count - 1].due_date)
    if Target.INSTALLMENTS in wanted and len(unpaid) > 1:
        total = first_owed
        for k, item in enumerate(unpaid[1:MAX_INSTALLMENTS_TOGETHER], start=1):
            total += owed(item, day)
            value = convert(total)
            if value > 0:
                yield (
                    Target.INSTALLMENTS,
                    value,
                    tuple(i.number for i in unpaid[: k + 1]),
                    item.due_date,
                )
            if 0 <= limit < value:
                break


def _fit(
    amount: int,
    targets: Iterable[_TargetValue],
    criterion: Criterion,
) -> _Fit | None:
    """The target the amount fits best (exactly: the first such; else the closest within
    the tolerance)."""
    best: _Fit | None = None
    for target, value, numbers, due in targets:
        if value <= 0:
            continue
        difference = amount - value
        if difference == 0:
            return _Fit(target, value, numbers, 0, criterion.tolerance(value), 100, due)
        tolerance = criterion.tolerance(value)
        if abs(difference) > tolerance:
            continue
        score = 100 - (20 * abs(difference)) // max(tolerance, 1)
        if best is None or (score, -abs(difference)) > (best.score, -abs(best.difference)):
            best = _Fit(target, value, numbers, difference, tolerance, score, due)
    return best


def _target_label(fit: _Fit) -> dict[str, Any]:
    if fit.target == Target.INSTALLMENT:
        return {"label": "INSTALLMENT", "params": {"installment": fit.installments[0]}}
    if fit.target == Target.INSTALLMENTS:
        return {
            "label": "INSTALLMENTS",
            "params": {"first": fit.installments[0], "last": fit.installments[-1]},
        }
    return {"label": fit.target.value, "params": {}}


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


# --- candidates ----------------------------------------------------------------------------
@dataclass
class _Candidate:
    credit: CreditFacts
    via: list[Evidence] = field(default_factory=list)  # how it was found (source evidence)
    order_installment: int | None = None


class _LineContext:
    """What is read in a line, read once and only when a rule asks for it."""

    __slots__ = ("_compacted", "_ids", "_refs", "country", "line")

    def __init__(self, line: LineView, country: str) -> None:
        self.line = line
        self.country = country
        self._refs: list[FoundReference] | None = None
        self._compacted: list[FoundReference] | None = None
        self._ids: list[tuple[str, str, str]] | None = None

    @property
    def references(self) -> list[FoundReference]:
        """Readings as written (compacted only where nothing was read as written)."""
        if self._refs is None:
            self._refs = references_in(self.line.texts(), compacted=None)
        return self._refs

    @property
    def compacted(self) -> list[FoundReference]:
        """Readings of the texts with every separator removed (a reference the bank cut)."""
        if self._compacted is None:
            self._compacted = compacted_references_in(self.line.texts())
        return self._compacted

    @property
    def payer_ids(self) -> list[tuple[str, str, str]]:
        """(type, number, where: file | text) of the payer's national IDs."""
        if self._ids is None:
            line = self.line
            ids: list[tuple[str, str, str]] = []
            if line.counterparty_national_id_type and line.counterparty_national_id:
                ids.append(
                    (line.counterparty_national_id_type, line.counterparty_national_id, "file")
                )
            elif line.remittance_info or line.counterparty_name:
                for text in (line.remittance_info, line.counterparty_name):
                    for id_type, number in national_ids_in(text, self.country):
                        if (id_type.value, number) not in [(t, n) for t, n, _ in ids]:
                            ids.append((id_type.value, number, "text"))
            self._ids = ids
        return self._ids


def _context(line: LineView, index: MatchIndex) -> _LineContext:
    return _LineContext(line, index.country)


def _by_reference(line: LineView, ctx: _LineContext, index: MatchIndex) -> list[_Candidate]:
    readings = ctx.references
    if not any(ref.reference in index.by_reference for ref in readings):
        readings = ctx.compacted
    found: dict[uuid.UUID, _Candidate] = {}
    for ref in readings:
        credit_id = index.by_reference.get(ref.reference)
        if credit_id is None:
            continue
        credit = index.credits[credit_id]
        score = 100 if ref.field == "creditor_reference" else 98
        candidate = found.get(credit_id)
        if candidate is None:
            candidate = found[credit_id] = _Candidate(credit)
        if ref.installment is not None and any(i.number == ref.installment for i in credit.unpaid):
            if candidate.order_installment is None:
                candidate.order_installment = ref.installment
                candidate.via = [
                    Evidence(
                        "REFERENCE",
                        "PASS",
                        score,
                        "ORDER_FOUND",
                        {
                            "reference": credit.reference,
                            "installment": ref.installment,
                            "field": {"label": ref.field, "params": {}},
                        },
                    )
                ]
        elif not candidate.via:
            candidate.via = [
                Evidence(
                    "REFERENCE",
                    "PASS",
                    score,
                    "REFERENCE_FOUND",
                    {"reference": credit.reference, "field": {"label": ref.field, "params": {}}},
                )
            ]
    return list(found.values())


def _by_national_id(line: LineView, ctx: _LineContext, index: MatchIndex) -> list[_Candidate]:
    out: list[_Candidate] = []
    seen: set[uuid.UUID] = set()
    for id_type, number, where in ctx.payer_ids:
        for key in id_keys(id_type, number):
            customer = index.customers_by_id.get(key)
            if customer is None:
                continue
            for credit_id in index.credits_by_customer.get(customer, []):
                if credit_id in seen:
                    continue
                seen.add(credit_id)
                credit = index.credits[credit_id]
                out.append(
                    _Candidate(
                        credit,
                        [
                            Evidence(
                                "NATIONAL_ID",
                                "PASS",
                                100 if where == "file" else 95,
                                "NATIONAL_ID_MATCH",
                                {
                                    "national_id": number,
                                    "national_id_type": id_type,
                                    "source": {"label": where, "params": {}},
                                    "reference": credit.reference,
                                },
                            )
                        ],
                    )
                )
    return out


def _by_payer_account(line: LineView, index: MatchIndex) -> list[_Candidate]:
    account = (line.counterparty_account or "").strip()
    if not account:
        return []
    out = []
    for credit_id, times in sorted(index.payer_accounts.get(account, {}).items(), key=str):
        credit = index.credits.get(credit_id)
        if credit is None:
            continue
        out.append(
            _Candidate(
                credit,
                [
                    Evidence(
                        "PAYER_ACCOUNT",
                        "PASS",
                        100,
                        "PAYER_ACCOUNT_MATCH",
                        {"account": account, "reference": credit.reference, "times": times},
                    )
                ],
            )
        )
    return out


def _by_amount(line: LineView, rule: Rule, index: MatchIndex) -> list[_Candidate]:
    criterion = rule.criterion(CriterionType.AMOUNT)
    assert criterion is not None
    tolerance = criterion.tolerance(line.amount)
    amounts = index.installment_amounts
    low = bisect.bisect_left(amounts, (line.amount - tolerance,))
    high = bisect.bisect_right(amounts, (line.amount + tolerance + 1,))
    out: list[_Candidate] = []
    seen: set[uuid.UUID] = set()
    for _, credit_id, _ in amounts[low:high]:
        if credit_id in seen:
            continue
        seen.add(credit_id)
        credit = index.credits[credit_id]
        if credit.currency == line.currency:
            out.append(_Candidate(credit))
    return out


def _sources(rule: Rule, line: LineView, ctx: _LineContext, index: MatchIndex) -> list[_Candidate]:
    if rule.source == Source.REFERENCE:
        return _by_reference(line, ctx, index)
    if rule.source == Source.NATIONAL_ID:
        return _by_national_id(line, ctx, index)
    if rule.source == Source.PAYER_ACCOUNT:
        return _by_payer_account(line, index)
    if rule.source == Source.AMOUNT:
        return _by_amount(line, rule, index)
    return []


# --- evaluating ----------------------------------------------------------------------------
@dataclass
class _Scored:
    candidate: _Candidate
    confidence: int
    evidence: list[Evidence]
    parts: list[Part]
    failed: str | None = None  # why it is out (an exception reason when it is telling)


@dataclass
class _Notes:
    """What the rules saw that may explain an exception or an unmatched line."""

    reasons: dict[str, list[Evidence]] = field(default_factory=dict)

    def add(self, reason: str, evidence: Evidence) -> None:
        self.reasons.setdefault(reason, []).append(evidence)


def _payable(credit: CreditFacts, line: LineView, notes: _Notes) -> bool:
    if credit.status not in PAYABLE:
        status = credit.status.lower().replace("_", " ")
        notes.add(
            "CREDIT_NOT_PAYABLE",
            Evidence(
                "CREDIT",
                "FAIL",
                0,
                "CREDIT_NOT_PAYABLE",
                {"reference": credit.reference, "status": status},
            ),
        )
        return False
    if credit.currency != line.currency and not (
        credit.currency == "CLF" and line.currency == "CLP"
    ):
        notes.add(
            "CURRENCY_MISMATCH",
            Evidence(
                "CREDIT",
                "FAIL",
                0,
                "CURRENCY_MISMATCH",
                {
                    "reference": credit.reference,
                    "currency": line.currency,
                    "credit_currency": credit.currency,
                },
            ),
        )
        return False
    return True


def _score_one(
    rule: Rule, line: LineView, candidate: _Candidate, index: MatchIndex, notes: _Notes
) -> _Scored | None:
    credit = candidate.credit
    evidence = list(candidate.via)
    scores = [e.score or 0 for e in evidence]
    fit: _Fit | None = None
    amount_criterion = rule.criterion(CriterionType.AMOUNT)
    part_amount = line.amount
    write_off = 0
    target_name: str | None = None
    installments: tuple[int, ...] = ()
    if amount_criterion is not None:
        targets = _targets(
            index, credit, line, amount_criterion.targets, candidate.order_installment
        )
        fit = _fit(line.amount, targets, amount_criterion)
        if fit is not None:
            scores.append(fit.score)
            target_name = fit.target.value
            installments = fit.installments
            params = {
                "amount": _money(line.amount, line.currency),
                "target": _target_label(fit),
                "target_amount": _money(fit.target_amount, line.currency),
            }
            if fit.difference == 0:
                evidence.append(Evidence("AMOUNT", "PASS", fit.score, "AMOUNT_EQUALS", params))
            else:
                params.update(
                    difference=_money(abs(fit.difference), line.currency),
                    tolerance=_money(fit.tolerance, line.currency),
                )
                evidence.append(Evidence("AMOUNT", "PASS", fit.score, "AMOUNT_WITHIN", params))
                if fit.difference < 0 and rule.shortfall_policy == ShortfallPolicy.WRITE_OFF:
                    write_off = -fit.difference
        elif amount_criterion.mode == AmountMode.NOT_ABOVE_PAYOFF:
            lower, upper = credit.payoff_bounds(line.day)
            exact = index.payoffs.get((credit.id, line.day))
            limit = exact if exact is not None else upper
            limit_line = _to_line_currency(index, limit, credit, line)
            tolerance = amount_criterion.tolerance(limit_line)
            if limit_line >= 0 and line.amount <= limit_line + tolerance:
                if exact is None and line.amount > _to_line_currency(index, lower, credit, line):
                    notes.add(
                        "NEEDS_PAYOFF",
                        Evidence("AMOUNT", "INFO", None, "", {"credit": str(credit.id)}),
                    )
                scores.append(95)
                target_name = "PARTIAL"
                evidence.append(
                    Evidence(
                        "AMOUNT",
                        "PASS",
                        95,
                        "AMOUNT_PARTIAL",
                        {
                            "amount": _money(line.amount, line.currency),
                            "payoff": _money(limit_line, line.currency),
                            "extra": "",
                        },
                    )
                )
            else:
                if exact is None:
                    notes.add(
                        "NEEDS_PAYOFF",
                        Evidence("AMOUNT", "INFO", None, "", {"credit": str(credit.id)}),
                    )
                notes.add(
                    "AMOUNT_MISMATCH",
                    Evidence(
                        "AMOUNT",
                        "FAIL",
                        0,
                        "AMOUNT_ABOVE_PAYOFF",
                        {
                            "amount": _money(line.amount, line.currency),
                            "difference": _money(line.amount - limit_line, line.currency),
                            "reference": credit.reference,
                            "payoff": _money(limit_line, line.currency),
                        },
                    ),
                )
                return None
        else:
            first = credit.unpaid[0] if credit.unpaid else None
            lower, upper = credit.payoff_bounds(line.day)
            if lower <= line.amount <= upper and (credit.id, line.day) not in index.payoffs:
                notes.add(
                    "NEEDS_PAYOFF", Evidence("AMOUNT", "INFO", None, "", {"credit": str(credit.id)})
                )
            notes.add(
                "AMOUNT_OFF",
                Evidence(
                    "AMOUNT",
                    "FAIL",
                    0,
                    "AMOUNT_NO_TARGET",
                    {
                        "amount": _money(line.amount, line.currency),
                        "installment": _money(
                            _to_line_currency(index, credit.owed_at(first, line.day), credit, line)
                            if first
                            else 0,
                            line.currency,
                        ),
                        "overdue": _money(
                            _to_line_currency(index, credit.overdue_at(line.day), credit, line),
                            line.currency,
                        ),
                        "payoff": _money(
                            _to_line_currency(
                                index,
                                index.payoffs.get((credit.id, line.day), upper),
                                credit,
                                line,
                            ),
                            line.currency,
                        ),
                        "reference": credit.reference,
                    },
                ),
            )
            return None
    window = rule.criterion(CriterionType.DATE_WINDOW)
    if window is not None:
        due = fit.due_date if fit is not None else None
        if due is None:
            first = credit.unpaid[0] if credit.unpaid else None
            due = first.due_date if first else None
        number = (
            installments[-1] if installments else (credit.unpaid[0].number if credit.unpaid else 0)
        )
        if due is None:
            return None
        delta = (line.day - due).days
        window_params: dict[str, Any] = {
            "value_date": line.day.isoformat(),
            "installment": number,
            "due_date": due.isoformat(),
            "days": abs(delta),
            "before": window.days_before,
            "after": window.days_after,
        }
        if -window.days_before <= delta <= window.days_after:
            span = max(window.days_before, window.days_after, 1)
            score = 100 - (15 * abs(delta)) // span
            scores.append(score)
            evidence.append(Evidence("DATE_WINDOW", "PASS", score, "DATE_IN_WINDOW", window_params))
        else:
            return None
    confidence = rule.base_confidence * min(scores or [100]) // 100
    part = Part(
        credit_id=credit.id,
        reference=credit.reference,
        amount=part_amount,
        target=target_name,
        installments=installments,
        score=confidence,
        write_off=write_off,
    )
    return _Scored(candidate, confidence, evidence, [part])


def _split_credits(
    rule: Rule, line: LineView, candidates: list[_Candidate], index: MatchIndex
) -> _Scored | None:
    """One line for several credits of one customer: a set of them whose amounts (each its
    first fitting target) add up to the line."""
    criterion = rule.criterion(CriterionType.AMOUNT)
    assert criterion is not None
    by_customer: dict[uuid.UUID, list[_Candidate]] = defaultdict(list)
    for c in candidates:
        by_customer[c.credit.customer_id].append(c)
    found: list[_Scored] = []
    for group in by_customer.values():
        options: list[tuple[_Candidate, Target, int, tuple[int, ...]]] = []
        for c in group[:MAX_SPLIT_CREDITS]:
            for target, value, numbers, _ in _targets(
                index, c.credit, line, criterion.targets, None
            ):
                options.append((c, target, value, numbers))
                break  # the first target of each credit, in the criterion's order
        if len(options) < 2:
            continue
        for size in range(2, len(options) + 1):
            for combo in itertools.combinations(options, size):
                total = sum(o[2] for o in combo)
                tolerance = criterion.tolerance(total)
                if abs(line.amount - total) > tolerance:
                    continue
                difference = line.amount - total
                score = (
                    100 if difference == 0 else 100 - (20 * abs(difference)) // max(tolerance, 1)
                )
                parts = []
                # the line's amount shared as the targets say; the last part takes the rest
                for i, (c, target, value, numbers) in enumerate(combo):
                    amount = (
                        value if i < len(combo) - 1 else line.amount - sum(o[2] for o in combo[:-1])
                    )
                    parts.append(
                        Part(c.credit.id, c.credit.reference, amount, target.value, numbers, score)
                    )
                if any(p.amount <= 0 for p in parts):
                    continue
                evidence = [e for c, *_ in combo for e in c.via]
                evidence.append(
                    Evidence(
                        "AMOUNT",
                        "PASS",
                        score,
                        "AMOUNT_SPLIT_CREDITS",
                        {
                            "amount": _money(line.amount, line.currency),
                            "count": size,
                            "parts": [
                                f"{c.credit.reference} {target.value}" for c, target, *_ in combo
                            ],
                        },
                    )
                )
                confidence = (
                    rule.base_confidence * min([score] + [e.score or 100 for e in evidence]) // 100
                )
                found.append(_Scored(combo[0][0], confidence, evidence, parts))
    if not found:
        return None
    found.sort(key=lambda s: -s.confidence)
    if len(found) > 1 and found[1].confidence == found[0].confidence:
        return None  # two ways to split: leave it to a person
    return found[0]


# --- IGNORE rules --------------------------------------------------------------------------
def _ignored(rule: Rule, line: LineView, index: MatchIndex) -> list[Evidence] | None:
    evidence: list[Evidence] = []
    for c in rule.criteria:
        if c.type == CriterionType.DIRECTION:
            if line.direction != c.value:
                return None
            evidence.append(
                Evidence(
                    "DIRECTION",
                    "PASS",
                    100,
                    "DIRECTION_IS",
                    {"direction": {"label": line.direction, "params": {}}},
                )
            )
        elif c.type == CriterionType.TRANSACTION_CODE:
            code = (line.bank_transaction_code or "").upper()
            if not code or not any(code.startswith(prefix) for prefix in c.codes):
                return None
            evidence.append(
                Evidence("TRANSACTION_CODE", "PASS", 100, "CODE_MATCHES", {"code": code})
            )
        elif c.type == CriterionType.TEXT:
            assert c.pattern is not None
            text = " ".join(
                t
                for t in (line.remittance_info, line.bank_transaction_text, line.counterparty_name)
                if t
            )
            if not text:
                return None
            from domain.shared.text import fold

            folded = fold(text).upper()
            match = c.pattern.search(folded)
            if match is None:
                return None
            evidence.append(Evidence("TEXT", "PASS", 100, "TEXT_MATCHES", {"text": text[:80]}))
        elif c.type == CriterionType.OWN_ACCOUNT:
            account = _compact_account(line.counterparty_account)
            if not account or account not in index.own_accounts:
                return None
            evidence.append(
                Evidence(
                    "OWN_ACCOUNT",
                    "PASS",
                    100,
                    "OWN_ACCOUNT",
                    {"account": line.counterparty_account},
                )
            )
    return evidence


def _compact_account(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch.isalnum()).upper()


# --- the run -------------------------------------------------------------------------------
class _AmountsNeeded(Exception):
    """A line reached an AMOUNT-source rule while the index has no amount candidates."""


def decide(
    lines: Sequence[LineView],
    rules: Sequence[Rule],
    index: MatchIndex,
    *,
    rule_code_of_reversal: str = "REVERSO",
    pending: list[LineView] | None = None,
) -> tuple[list[Decision], set[uuid.UUID]]:
    """One decision per line (in the lines' order), and the credits whose exact payoff
    would settle a line (the service computes them into ``index.payoffs`` and runs the
    lines again).

    With an index whose amount candidates are not loaded (``index.amounts_loaded``
    false), ``pending`` gets, in order, every line whose decision could depend on them —
    each line that reaches an AMOUNT-source rule, and every line no rule decided (lines
    paying together are only grouped once every line is known) — and only the other
    lines are decided: a line decided before any AMOUNT-source rule is decided the same
    whatever those candidates are. Deciding the pending lines alone on the completed
    index then gives what one pass over every line would give (duplicates too: a pending
    line was never a duplicate of a decided one)."""
    partial = not index.amounts_loaded
    if partial and pending is None:
        raise ValueError("decide: an index without amount candidates needs a pending list")
    decisions: dict[uuid.UUID, Decision] = {}
    needs_payoff: set[uuid.UUID] = set()
    open_lines: list[tuple[LineView, _LineContext, _Notes, list[_Scored]]] = []
    seen_e2e: dict[tuple[uuid.UUID, date, int, str], uuid.UUID] = dict(index.end_to_end)
    match_rules = [r for r in rules if r.enabled and r.kind == RuleKind.MATCH]
    ignore_rules = [r for r in rules if r.enabled and r.kind == RuleKind.IGNORE]
    reversed_now = {
        line.reverses_line_id: line for line in lines if line.is_reversal and line.reverses_line_id
    }

    for line in lines:
        if line.is_reversal:
            decisions[line.id] = _reversal(line, index, rule_code_of_reversal)
            continue
        if line.id in reversed_now:
            reversal = reversed_now[line.id]
            decisions[line.id] = Decision(
                line,
                LineState.IGNORED,
                reason="REVERSED",
                rule_code=rule_code_of_reversal,
                confidence=100,
                evidence=[
                    Evidence(
                        "REVERSAL",
                        "PASS",
                        100,
                        "REVERSED_BY",
                        {"booking_date": reversal.booking_date.isoformat()},
                    )
                ],
            )
            continue
        if line.end_to_end_id:
            key = (
                line.account_id,
                line.booking_date,
                line.amount,
                line.end_to_end_id.strip().upper(),
            )
            other = seen_e2e.get(key)
            if other is not None and other != line.id:
                decisions[line.id] = Decision(
                    line,
                    LineState.EXCEPTION,
                    reason="DUPLICATE",
                    evidence=[
                        Evidence(
                            "DUPLICATE",
                            "FAIL",
                            0,
                            "DUPLICATE_OF",
                            {"end_to_end": line.end_to_end_id, "line": str(other)},
                        )
                    ],
                )
                continue
            seen_e2e[key] = line.id
        ignored = None
        for rule in ignore_rules:
            evidence = _ignored(rule, line, index)
            if evidence is not None:
                ignored = Decision(
                    line,
                    LineState.IGNORED,
                    reason=rule.code,
                    rule_code=rule.code,
                    confidence=100,
                    evidence=[
                        Evidence("RULE", "PASS", 100, "IGNORED_BY_RULE", {"rule": rule.name}),
                        *evidence,
                    ],
                )
                break
        if ignored is not None:
            decisions[line.id] = ignored
            continue
        if line.direction != "CREDIT":
            decisions[line.id] = Decision(
                line,
                LineState.EXCEPTION,
                reason="UNEXPECTED_DEBIT",
                evidence=[Evidence("DIRECTION", "FAIL", 0, "DEBIT_WITHOUT_RULE", {})],
            )
            continue
        ctx = _context(line, index)
        notes = _Notes()
        suggestions: list[_Scored] = []
        try:
            decided = _match_line(line, ctx, match_rules, index, notes, suggestions)
        except _AmountsNeeded:
            assert pending is not None
            pending.append(line)
            continue
        for need in notes.reasons.get("NEEDS_PAYOFF", []):
            needs_payoff.add(uuid.UUID(need.params["credit"]))
        if decided is not None:
            decisions[line.id] = decided
        else:
            open_lines.append((line, ctx, notes, suggestions))

    if partial:
        assert pending is not None
        if open_lines:
            waiting = {line.id for line, *_ in open_lines} | {line.id for line in pending}
            pending[:] = [line for line in lines if line.id in waiting]
        return [decisions[line.id] for line in lines if line.id in decisions], needs_payoff

    _group_lines(open_lines, [r for r in match_rules if r.split == Split.LINES], index, decisions)

    for line, ctx, notes, suggestions in open_lines:
        if line.id in decisions:
            continue
        decisions[line.id] = _leftover(line, ctx, notes, suggestions)
    return [decisions[line.id] for line in lines], needs_payoff


def _match_line(
    line: LineView,
    ctx: _LineContext,
    rules: Sequence[Rule],
    index: MatchIndex,
    notes: _Notes,
    suggestions: list[_Scored],
) -> Decision | None:
    ambiguous: list[_Scored] = []
    ambiguous_rule: Rule | None = None
    for rule in rules:
        if rule.split == Split.LINES:
            continue
        if rule.source == Source.AMOUNT and not index.amounts_loaded:
            raise _AmountsNeeded
        candidates = _sources(rule, line, ctx, index)
        if not candidates:
            continue
        payable = [c for c in candidates if _payable(c.credit, line, notes)]
        if not payable:
            continue
        if rule.split == Split.CREDITS:
            scored = _split_credits(rule, line, payable, index)
            if scored is None:
                continue
            if scored.confidence >= rule.min_confidence:
                return _matched(line, rule, scored)
            if scored.confidence >= rule.suggest_confidence:
                suggestions.append(scored)
            continue
        results = [s for c in payable if (s := _score_one(rule, line, c, index, notes)) is not None]
        if not results:
            continue
        results.sort(key=lambda s: (-s.confidence, s.candidate.credit.reference))
        single = rule.criterion(CriterionType.SINGLE_CANDIDATE)
        top = results[0]
        if single is not None:
            if len(results) == 1:
                top.evidence.append(
                    Evidence("SINGLE_CANDIDATE", "PASS", 100, "SINGLE_CANDIDATE", {})
                )
            else:
                evidence = Evidence(
                    "SINGLE_CANDIDATE",
                    "FAIL",
                    0,
                    "SEVERAL_CANDIDATES",
                    {
                        "count": len(results),
                        "references": [
                            s.candidate.credit.reference for s in results[:MAX_SUGGESTIONS]
                        ],
                    },
                )
                for s in results:
                    s.evidence.append(evidence)
                if results[1].confidence >= rule.min_confidence and not ambiguous:
                    ambiguous = results
                    ambiguous_rule = rule
                for s in results:
                    if s.confidence >= rule.suggest_confidence:
                        suggestions.append(s)
                continue
        if top.confidence >= rule.min_confidence:
            if len(results) > 1 and results[1].confidence == top.confidence:
                if not ambiguous:
                    ambiguous = results
                    ambiguous_rule = rule
                continue
            return _matched(line, rule, top)
        suggestions.extend(s for s in results if s.confidence >= rule.suggest_confidence)
    if ambiguous:
        assert ambiguous_rule is not None
        return Decision(
            line,
            LineState.EXCEPTION,
            reason="AMBIGUOUS",
            rule_code=ambiguous_rule.code,
            confidence=ambiguous[0].confidence,
            evidence=list(ambiguous[0].evidence),
            parts=_options(ambiguous[:MAX_SUGGESTIONS]),
        )
    return None


def _matched(line: LineView, rule: Rule, scored: _Scored) -> Decision:
    return Decision(
        line,
        LineState.AUTO_MATCHED,
        rule_code=rule.code,
        confidence=scored.confidence,
        evidence=scored.evidence,
        parts=scored.parts,
    )


def _group_lines(
    open_lines: list[tuple[LineView, _LineContext, _Notes, list[_Scored]]],
    rules: Sequence[Rule],
    index: MatchIndex,
    decisions: dict[uuid.UUID, Decision],
) -> None:
    """Several transfers of one payer for one installment (or overdue total)."""
    if not rules:
        return
    by_payer: dict[tuple[str, str], list[LineView]] = defaultdict(list)
    for line, ctx, _, _ in open_lines:
        if ctx.payer_ids:
            id_type, number, _ = ctx.payer_ids[0]
            by_payer[(id_type, number)].append(line)
    for (id_type, number), lines in by_payer.items():
        if len(lines) < 2:
            continue
        customer = None
        for key in id_keys(id_type, number):
            customer = index.customers_by_id.get(key)
            if customer is not None:
                break
        if customer is None:
            continue
        credits = [index.credits[c] for c in index.credits_by_customer.get(customer, [])]
        for rule in rules:
            amount = rule.criterion(CriterionType.AMOUNT)
            window = rule.criterion(CriterionType.DATE_WINDOW)
            assert amount is not None
            pool = [line for line in lines if line.id not in decisions][:MAX_GROUP_LINES]
            best: (
                tuple[
                    int,
                    tuple[LineView, ...],
                    CreditFacts,
                    tuple[Target, int, tuple[int, ...], date | None],
                ]
                | None
            ) = None
            for size in range(len(pool), 1, -1):
                for combo in itertools.combinations(pool, size):
                    if len({line.currency for line in combo}) > 1:
                        continue
                    total = sum(line.amount for line in combo)
                    last = max(combo, key=lambda line: line.day)
                    for credit in credits:
                        if credit.status not in PAYABLE or credit.currency != last.currency:
                            continue
                        for target in _targets(
                            index, credit, last, amount.targets, None, up_to=total
                        ):
                            tolerance = amount.tolerance(target[1])
                            if abs(total - target[1]) > tolerance:
                                continue
                            if (
                                window is not None
                                and target[3] is not None
                                and not all(
                                    -window.days_before
                                    <= (line.day - target[3]).days
                                    <= window.days_after
                                    for line in combo
                                )
                            ):
                                continue
                            difference = total - target[1]
                            score = (
                                100
                                if difference == 0
                                else 100 - (20 * abs(difference)) // max(tolerance, 1)
                            )
                            if best is None or score > best[0]:
                                best = (score, combo, credit, target)
                if best is not None:
                    break
            if best is None:
                continue
            score, combo, credit, target = best
            confidence = rule.base_confidence * score // 100
            if confidence < rule.suggest_confidence:
                continue
            total = sum(line.amount for line in combo)
            shortfall = target[1] - total
            fake_fit = _Fit(target[0], target[1], target[2], -shortfall, 0, score, target[3])
            label = _target_label(fake_fit)
            for i, line in enumerate(combo):
                write_off = (
                    shortfall
                    if shortfall > 0
                    and rule.shortfall_policy == ShortfallPolicy.WRITE_OFF
                    and i == len(combo) - 1
                    else 0
                )
                short_text: dict[str, Any] | str = ""
                if shortfall > 0:
                    short_text = {
                        "message": "SHORTFALL_WRITE_OFF"
                        if rule.shortfall_policy == ShortfallPolicy.WRITE_OFF
                        else "SHORTFALL_PARTIAL",
                        "params": {"difference": _money(shortfall, line.currency)},
                    }
                evidence = [
                    Evidence(
                        "NATIONAL_ID",
                        "PASS",
                        100,
                        "NATIONAL_ID_MATCH",
                        {
                            "national_id": number,
                            "national_id_type": id_type,
                            "source": {"label": "file", "params": {}},
                            "reference": credit.reference,
                        },
                    ),
                    Evidence(
                        "AMOUNT",
                        "PASS",
                        score,
                        "AMOUNT_SPLIT_LINES",
                        {
                            "others": len(combo) - 1,
                            "total": _money(total, line.currency),
                            "target": label,
                            "reference": credit.reference,
                            "target_amount": _money(target[1], line.currency),
                            "shortfall": short_text,
                            "lines": [str(other.id) for other in combo if other.id != line.id],
                        },
                    ),
                ]
                state = (
                    LineState.AUTO_MATCHED
                    if confidence >= rule.min_confidence
                    else LineState.SUGGESTED
                )
                decisions[line.id] = Decision(
                    line,
                    state,
                    rule_code=rule.code,
                    confidence=confidence,
                    evidence=evidence,
                    parts=[
                        Part(
                            credit.id,
                            credit.reference,
                            line.amount,
                            target[0].value,
                            target[2],
                            confidence,
                            write_off,
                        )
                    ],
                )


def _reversal(line: LineView, index: MatchIndex, rule_code: str) -> Decision:
    original = index.originals.get(line.reverses_line_id) if line.reverses_line_id else None
    if original is None:
        return Decision(
            line,
            LineState.EXCEPTION,
            reason="REVERSAL_WITHOUT_ORIGINAL",
            evidence=[Evidence("REVERSAL", "FAIL", 0, "REVERSAL_WITHOUT_ORIGINAL", {})],
        )
    _state, booking_date, amount, currency, booked = original
    params = {
        "booking_date": booking_date.isoformat(),
        "amount": _money(abs(amount), currency),
        "payments": f" ({booked})" if booked else "",
    }
    return Decision(
        line,
        LineState.AUTO_MATCHED if booked else LineState.IGNORED,
        reason=None if booked else "REVERSAL",
        rule_code=rule_code,
        confidence=100,
        evidence=[Evidence("REVERSAL", "PASS", 100, "REVERSAL_OF", params)],
        reverses=line.reverses_line_id,
    )


def _options(ranked: Sequence[_Scored]) -> list[Part]:
    """The parts of each suggestion, numbered by option (the best first)."""
    out: list[Part] = []
    for n, scored in enumerate(ranked):
        for p in scored.parts:
            out.append(
                Part(
                    p.credit_id,
                    p.reference,
                    p.amount,
                    p.target,
                    p.installments,
                    scored.confidence,
                    p.write_off,
                    n,
                )
            )
    return out


def _leftover(
    line: LineView, ctx: _LineContext, notes: _Notes, suggestions: list[_Scored]
) -> Decision:
    for reason in ("AMOUNT_MISMATCH", "CREDIT_NOT_PAYABLE", "CURRENCY_MISMATCH"):
        if reason in notes.reasons and ctx.references and not suggestions:
            return Decision(
                line, LineState.EXCEPTION, reason=reason, evidence=notes.reasons[reason][:3]
            )
    if suggestions:
        best: dict[tuple[uuid.UUID, ...], _Scored] = {}
        for s in sorted(suggestions, key=lambda s: -s.confidence):
            key = tuple(p.credit_id for p in s.parts)
            if key not in best:
                best[key] = s
        ranked = list(best.values())[:MAX_SUGGESTIONS]
        return Decision(
            line,
            LineState.SUGGESTED,
            confidence=ranked[0].confidence,
            evidence=ranked[0].evidence,
            parts=_options(ranked),
        )
    for reason in ("AMOUNT_MISMATCH", "CREDIT_NOT_PAYABLE", "CURRENCY_MISMATCH"):
        if reason in notes.reasons:
            return Decision(
                line, LineState.EXCEPTION, reason=reason, evidence=notes.reasons[reason][:3]
            )
    evidence = []
    for ref in ctx.references[:1]:
        evidence.append(
            Evidence("REFERENCE", "FAIL", 0, "REFERENCE_UNKNOWN", {"reference": ref.reference})
        )
    for id_type, number, _ in ctx.payer_ids[:1]:
        evidence.append(
            Evidence(
                "NATIONAL_ID",
                "FAIL",
                0,
                "NATIONAL_ID_UNKNOWN",
                {"national_id": number, "national_id_type": id_type},
            )
        )
    if "AMOUNT_OFF" in notes.reasons:
        evidence.extend(notes.reasons["AMOUNT_OFF"][:2])
    if not evidence:
        evidence.append(Evidence("NONE", "FAIL", 0, "NOTHING_FOUND", {}))
    return Decision(line, LineState.UNMATCHED, evidence=evidence)

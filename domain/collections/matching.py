"""Reconciliation runs: statement lines matched, explained and booked (issue 10, C2).

:func:`reconcile` is what the ``collections.reconcile`` worker runs after a statement is
ingested: it takes the statement's NEW lines (row-locked, ``SKIP LOCKED`` on PostgreSQL so
two workers never take the same line), decides each with the lender's rule set in force
(``matching_engine.decide`` over the indexes of ``matching_index.build_index``), books the
AUTO_MATCHED ones through the credits domain in one batch
(``domain.credits.payment_batches.register_payments``) and the shortfalls a rule writes off
as partial write-offs (``domain.credits.write_offs``, never payments), reverses what
reversed lines had booked, and writes per line its state (``statement_lines.state``,
version + 1) and its decision (``collections_line_decisions``), plus what it booked
(``collections_line_applications``). One outbox event and one audit record per run tell the
counts; each payment has its own (``payments.received`` and its audit record).

**Booked once.** A payment's idempotency key is derived from the line and the line's
version when it was matched (``bl-<line>-v<version>-<part>``): a run retried after a crash
(everything rolled back) books with the same keys, and the credits domain books a key once;
a line matched again after an unmatch gets new keys, since the first payment was reversed.
Only NEW lines are taken, under a row lock, and each line's update checks its version, so
two deliveries of the same event never decide a line twice.
"""

from __future__ import annotations

import base64
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.collections.matching_engine import Decision, LineView, MatchIndex, Part, decide
from domain.collections.matching_events import COUNT_KEYS
from domain.collections.matching_index import (
    LINE_COLUMNS,
    add_amount_candidates,
    build_index,
    line_views,
)
from domain.collections.matching_models import (
    ApplicationKind,
    ApplicationStatus,
    DecisionKind,
    LineApplication,
    LineDecision,
    MatchRuleSet,
)
from domain.collections.matching_rules import DEFAULT_RULES, Rule, parse_rules
from domain.collections.models import LineState, StatementLine
from domain.credits import payment_batches, write_offs
from domain.credits.payment_batches import PaymentRequest
from domain.credits.policy import COUNTRY_TIMEZONES, CreditPolicy, get_policy
from domain.partners.models import Partner
from domain.shared import audit, outbox, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, DomainError, NotFound
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.principal import ROLE_SCOPES, Principal, Role
from domain.shared.sql import dialect_of
from domain.shared.time import utcnow

__all__ = [
    "ACTOR",
    "RuleSetInForce",
    "RunResult",
    "idempotency_key",
    "paid_at_of",
    "reconcile",
    "rule_set_in_force",
    "worker_principal",
]

#: The actor the decisions and bookings of the worker are recorded under.
ACTOR = "collections.reconcile"
#: Lines decided per chunk (one booking batch, one event, one audit record each).
CHUNK = 1000


def worker_principal(partner_id: uuid.UUID) -> Principal:
    """The worker acts for the lender whose lines it reconciles: it books on that lender's
    credits only (the credits domain checks it like for any partner system)."""
    return Principal(
        subject=ACTOR,
        roles=frozenset({Role.PARTNER_SYSTEM}),
        scopes=ROLE_SCOPES[Role.PARTNER_SYSTEM],
        partner_id=partner_id,
        kind="system",
        display_name="Conciliación automática",
    )


@dataclass(frozen=True, slots=True)
class RuleSetInForce:
    id: uuid.UUID | None  # None: Trama's default rules
    version: int
    rules: list[Rule]


async def rule_set_in_force(
    session: AsyncSession, partner_id: uuid.UUID, at: datetime
) -> RuleSetInForce:
    """The lender's latest version in effect at ``at``, or the default rules (version 0)."""
    table = table_of(MatchRuleSet)
    row = (
        await session.execute(
            sa.select(table.c.id, table.c.version, table.c.rules)
            .where(table.c.partner_id == partner_id, table.c.effective_from <= at)
            .order_by(table.c.effective_from.desc(), table.c.version.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return RuleSetInForce(None, 0, parse_rules(DEFAULT_RULES))
    return RuleSetInForce(row.id, row.version, parse_rules(row.rules))


def _b32(value: uuid.UUID) -> str:
    return base64.b32encode(value.bytes).decode("ascii").rstrip("=").lower()


def idempotency_key(line_id: uuid.UUID, version: int, part: int, write_off: bool = False) -> str:
    """The key a line's payment is booked with (visible ASCII, no hyphenated UUID: a UUID's
    digit groups can read as a card number to the input checks)."""
    return f"bl-{_b32(line_id)}-v{version}-{part}{'-wo' if write_off else ''}"


def paid_at_of(day: date, timezone: str) -> datetime:
    """The instant a line's money is booked at: noon of its value date where the lender
    is (so its business date is that day), or now when that is still ahead."""
    noon = datetime.combine(day, time(12, 0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    return min(noon, utcnow())


def booking_reference(line: LineView) -> str:
    """What the payment says it is: the bank line it came from."""
    bank = (line.bank_reference or line.end_to_end_id or "").strip()
    if bank and pan.contains_pan(bank):
        bank = ""
    text = f"Banco {line.booking_date.isoformat()} {bank}".strip()
    return " ".join(text.split())[:100]


@dataclass
class RunResult:
    lines: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    payments: int = 0
    reversed_payments: int = 0
    rule_set_version: int = 0
    decisions: list[Decision] = field(default_factory=list)

    def add(self, other: RunResult) -> None:
        self.lines += other.lines
        self.by_state.update(other.by_state)
        self.by_rule.update(other.by_rule)
        self.payments += other.payments
        self.reversed_payments += other.reversed_payments
        self.rule_set_version = other.rule_set_version


async def _lender(session: AsyncSession, partner_id: uuid.UUID) -> tuple[str, str]:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("Partner", partner_id)
    country = partner.country
    return country, COUNTRY_TIMEZONES.get(country, COUNTRY_TIMEZONES["CL"])


async def _take_lines(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    statement_id: uuid.UUID | None,
    line_ids: Sequence[uuid.UUID] | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[LineView]:
    table = table_of(StatementLine)
    stmt = sa.select(*(table.c[name] for name in LINE_COLUMNS)).where(
        table.c.partner_id == partner_id, table.c.state == LineState.NEW.value
    )
    if statement_id is not None:
        stmt = stmt.where(
            sa.or_(
                table.c.statement_id == statement_id, table.c.booked_statement_id == statement_id
            )
        )
    if line_ids is not None:
        stmt = stmt.where(table.c.id.in_(list(line_ids)))
    if after is not None:
        stmt = stmt.where(table.c.id > after)
    stmt = stmt.order_by(table.c.id).limit(limit)
    if dialect_of(session) == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return line_views((await session.execute(stmt)).all())


async def reconcile(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    statement_id: uuid.UUID | None = None,
    line_ids: Sequence[uuid.UUID] | None = None,
    policy: CreditPolicy | None = None,
    chunk: int = CHUNK,
) -> RunResult:
    """Decide and book every NEW line of the lender (of ``statement_id``, or ``line_ids``),
    ``chunk`` lines at a time in the caller's transaction. Idempotent: lines already decided
    are not NEW any more and are left alone."""
    policy = policy or get_policy()
    country, timezone = await _lender(session, partner_id)
    principal = worker_principal(partner_id)
    total = RunResult()
    after: uuid.UUID | None = None
    while True:
        lines = await _take_lines(
            session,
            partner_id=partner_id,
            statement_id=statement_id,
            line_ids=line_ids,
            after=after,
            limit=chunk,
        )
        if not lines:
            break
        result = await _run_chunk(
            session,
            principal=principal,
            partner_id=partner_id,
            country=country,
            timezone=timezone,
            lines=lines,
            policy=policy,
            statement_id=statement_id,
        )
        total.add(result)
        after = lines[-1].id
        if len(lines) < chunk:
            break
    return total


async def _decide(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    country: str,
    lines: list[LineView],
    rule_set: RuleSetInForce,
    policy: CreditPolicy,
) -> tuple[list[Decision], MatchIndex]:
    index = await build_index(
        session,
        partner_id=partner_id,
        country=country,
        lines=lines,
        rules=rule_set.rules,
        policy=policy,
        amounts=False,
    )
    if index.amounts_loaded:
        decisions, needs_payoff = decide(lines, rule_set.rules, index)
    else:
        # most lines are decided before the AMOUNT-source rules: their candidates are
        # loaded only for the lines left (see ``decide``), then those are decided
        pending: list[LineView] = []
        decisions, needs_payoff = decide(lines, rule_set.rules, index, pending=pending)
        await add_amount_candidates(
            session,
            index,
            partner_id=partner_id,
            lines=pending,
            rules=rule_set.rules,
            policy=policy,
            through=max(line.day for line in lines),
        )
        if pending:
            rest, more = decide(pending, rule_set.rules, index)
            needs_payoff |= more
            by_line = {d.line.id: d for d in (*decisions, *rest)}
            decisions = [by_line[line.id] for line in lines]
    if needs_payoff:
        # rare: exact payoffs may change which rule decides a line, so every line is
        # decided again on an index with every line's amount candidates
        await add_amount_candidates(
            session,
            index,
            partner_id=partner_id,
            lines=lines,
            rules=rule_set.rules,
            policy=policy,
            through=max(line.day for line in lines),
        )
        await _payoffs(session, index, needs_payoff, lines, policy)
        decisions, _ = decide(lines, rule_set.rules, index)
    return decisions, index


async def _payoffs(
    session: AsyncSession,
    index: MatchIndex,
    credit_ids: set[uuid.UUID],
    lines: Sequence[LineView],
    policy: CreditPolicy,
) -> None:
    """The exact payoff of each credit on the days of the lines that need it (the credit's
    ledger replayed with a quoting payment, as ``payoffQuote`` computes it)."""
    from domain.credits import ledger, payoff
    from domain.credits.allocation import PaymentEvent, Prepayment
    from domain.credits.models import Credit

    days = sorted({line.day for line in lines})
    for credit_id in sorted(credit_ids, key=str):
        credit = await session.get(Credit, credit_id)
        if credit is None:
            continue
        for day in days:
            quoting = PaymentEvent(
                id=payoff._QUOTE_ID,
                at=payoff._end_of_day(day, credit.timezone),
                on=day,
                amount=payoff._UNBOUNDED,
                prepayment=Prepayment.SHORTER_TERM,
            )
            try:
                result, _, _ = await ledger.compute(
                    session, credit, as_of=day, policy=policy, extra_payments=[quoting]
                )
            except (DomainError, ValueError):
                continue
            index.payoffs[(credit_id, day)] = payoff.quote_from(credit, result, day, day).amount


async def _run_chunk(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID,
    country: str,
    timezone: str,
    lines: list[LineView],
    policy: CreditPolicy,
    statement_id: uuid.UUID | None,
) -> RunResult:
    now = utcnow()
    rule_set = await rule_set_in_force(session, partner_id, now)
    decisions, _ = await _decide(
        session,
        partner_id=partner_id,
        country=country,
        lines=lines,
        rule_set=rule_set,
        policy=policy,
    )
    booked = await _book(session, principal, decisions, timezone, policy)
    reversed_count = await _reverse_originals(session, principal, decisions, policy)
    await _store(session, decisions, booked, rule_set, now)
    result = RunResult(
        lines=len(decisions),
        by_state=Counter(d.state.value for d in decisions),
        by_rule=Counter(d.rule_code or "-" for d in decisions),
        payments=sum(len(v) for v in booked.values()),
        reversed_payments=reversed_count,
        rule_set_version=rule_set.version,
        decisions=decisions,
    )
    _record_run(session, principal, partner_id, statement_id, result, decisions)
    return result


# --- booking -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Booked:
    credit_id: uuid.UUID
    payment_id: uuid.UUID | None
    kind: ApplicationKind
    amount: int
    key: str
    write_off_id: uuid.UUID | None = None


async def _book(
    session: AsyncSession,
    principal: Principal,
    decisions: list[Decision],
    timezone: str,
    policy: CreditPolicy,
) -> dict[uuid.UUID, list[_Booked]]:
    """Book the AUTO_MATCHED lines' parts in one batch, then the shortfalls their rule
    writes off (``domain.credits.write_offs``: forgiven, never a payment, so a credit's
    payments add up to what the bank paid). A line any part of which is refused books
    nothing (what it booked is reversed) and becomes an EXCEPTION."""
    requests: list[PaymentRequest] = []
    owners: list[tuple[Decision, Part]] = []
    shortfalls: list[tuple[Decision, Part, int, datetime, str]] = []
    for decision in decisions:
        if decision.state != LineState.AUTO_MATCHED or decision.reverses is not None:
            continue
        line = decision.line
        paid_at = paid_at_of(line.day, timezone)
        reference = booking_reference(line)
        for n, part in enumerate(decision.parts):
            requests.append(
                PaymentRequest(
                    credit_id=part.credit_id,
                    amount=Money(part.amount, line.currency),
                    paid_at=paid_at,
                    reference=reference,
                    idempotency_key=idempotency_key(line.id, line.version, n),
                )
            )
            owners.append((decision, part))
            if part.write_off:
                shortfalls.append((decision, part, n, paid_at, reference))
    if not requests:
        return {}
    outcomes = await payment_batches.register_payments(
        session, principal=principal, requests=requests, policy=policy
    )
    booked: dict[uuid.UUID, list[_Booked]] = {}
    refused: dict[uuid.UUID, tuple[Part, DomainError]] = {}
    for (decision, part), request, outcome in zip(owners, requests, outcomes, strict=True):
        line_id = decision.line.id
        if outcome.error is not None:
            refused.setdefault(line_id, (part, outcome.error))
            continue
        assert outcome.payment is not None
        booked.setdefault(line_id, []).append(
            _Booked(
                part.credit_id,
                outcome.payment.id,
                ApplicationKind.PAYMENT,
                part.amount,
                request.idempotency_key,
            )
        )
    for decision, part, n, paid_at, reference in shortfalls:
        line = decision.line
        if line.id in refused:
            continue
        key = idempotency_key(line.id, line.version, n, write_off=True)
        try:
            written = await write_offs.write_off_shortfall(
                session,
                principal=principal,
                credit_id=part.credit_id,
                amount=Money(part.write_off, line.currency),
                written_at=paid_at,
                installment_number=part.installments[0] if part.installments else None,
                reason="Diferencia dentro de la tolerancia castigada según la regla "
                f"{decision.rule_code or ''}".strip(),
                reference=f"Castigo diferencia {reference}"[:100],
                idempotency_key=key,
                source=f"StatementLine:{line.id}",
                policy=policy,
            )
        except DomainError as exc:
            refused.setdefault(line.id, (part, exc))
            continue
        booked.setdefault(line.id, []).append(
            _Booked(
                part.credit_id,
                None,
                ApplicationKind.WRITE_OFF,
                part.write_off,
                key,
                write_off_id=written.id,
            )
        )
    for decision in decisions:
        failure = refused.get(decision.line.id)
        if failure is None:
            continue
        part, error = failure
        for done in reversed(booked.pop(decision.line.id, [])):
            await _reverse_booking(session, principal, done, "booking refused", policy)
        from domain.collections.matching_engine import Evidence

        decision.state = LineState.EXCEPTION
        decision.reason = "BOOKING_REFUSED"
        decision.evidence = [
            *decision.evidence,
            Evidence(
                "BOOKING",
                "FAIL",
                0,
                "BOOKING_REFUSED",
                {"reference": part.reference, "message": error.message},
            ),
        ]
    return booked


async def _reverse_booking(
    session: AsyncSession,
    principal: Principal,
    done: _Booked,
    reason: str,
    policy: CreditPolicy,
) -> bool:
    if done.write_off_id is not None:
        return await _reverse_write_off(session, principal, done.write_off_id, reason, policy)
    assert done.payment_id is not None
    return await _reverse_payment(session, principal, done.payment_id, reason, policy)


async def _reverse_write_off(
    session: AsyncSession,
    principal: Principal,
    write_off_id: uuid.UUID,
    reason: str,
    policy: CreditPolicy,
) -> bool:
    from domain.credits.models import WriteOff
    from domain.credits.states import PaymentStatus

    found = await session.get(WriteOff, write_off_id)
    if found is None or found.status != PaymentStatus.BOOKED:
        return False
    await write_offs.reverse_write_off(
        session, principal=principal, write_off_id=write_off_id, reason=reason, policy=policy
    )
    return True


async def _reverse_payment(
    session: AsyncSession,
    principal: Principal,
    payment_id: uuid.UUID,
    reason: str,
    policy: CreditPolicy,
) -> bool:
    from domain.credits import payments
    from domain.credits.models import Payment
    from domain.credits.states import PaymentStatus

    payment = await session.get(Payment, payment_id)
    if payment is None or payment.status != PaymentStatus.BOOKED:
        return False
    await payments.reverse_payment(
        session, principal=principal, payment_id=payment_id, reason=reason, policy=policy
    )
    return True


async def reverse_applications(
    session: AsyncSession,
    principal: Principal,
    line_id: uuid.UUID,
    reason: str,
    policy: CreditPolicy | None = None,
) -> int:
    """Reverse every payment and write-off ``line_id`` booked (the count is of payments);
    its applications become REVERSED."""
    policy = policy or get_policy()
    table = table_of(LineApplication)
    rows = (
        await session.execute(
            sa.select(table.c.id, table.c.payment_id, table.c.write_off_id)
            .where(table.c.line_id == line_id, table.c.status == ApplicationStatus.BOOKED.value)
            .order_by(table.c.created_at.desc(), table.c.id.desc())
        )
    ).all()
    count = 0
    now = utcnow()
    for application_id, payment_id, write_off_id in rows:
        if write_off_id is not None:
            # the shortfall is owed again; a reversed write-off is not a reversed payment
            await _reverse_write_off(session, principal, write_off_id, reason, policy)
        elif await _reverse_payment(session, principal, payment_id, reason, policy):
            count += 1
        await session.execute(
            sa.update(table)
            .where(table.c.id == application_id)
            .values(
                status=ApplicationStatus.REVERSED.value,
                reversed_at=now,
                reversal_reason=reason[:300],
            )
        )
    return count


async def _reverse_originals(
    session: AsyncSession,
    principal: Principal,
    decisions: list[Decision],
    policy: CreditPolicy,
) -> int:
    """A reversal line undoes what its original booked; the original leaves the queue."""
    count = 0
    for decision in decisions:
        if decision.reverses is None:
            continue
        reason = f"Reverso bancario {decision.line.booking_date.isoformat()}"
        count += await reverse_applications(session, principal, decision.reverses, reason, policy)
        await _supersede_original(session, decision)
    return count


async def _supersede_original(session: AsyncSession, decision: Decision) -> None:
    """The line a reversal points at: IGNORED (reversed by the bank), unless it is still NEW
    (then this run decides it with the same words)."""
    from domain.collections.matching_engine import Evidence

    assert decision.reverses is not None
    lines = table_of(StatementLine)
    row = (
        await session.execute(
            sa.select(lines.c.id, lines.c.state, lines.c.version, lines.c.partner_id).where(
                lines.c.id == decision.reverses
            )
        )
    ).first()
    if row is None or row.state in {LineState.NEW.value, LineState.IGNORED.value}:
        return
    evidence = [
        Evidence(
            "REVERSAL",
            "PASS",
            100,
            "REVERSED_BY",
            {"booking_date": decision.line.booking_date.isoformat()},
        ).as_data()
    ]
    await write_decision(
        session,
        line_id=row.id,
        partner_id=row.partner_id,
        version=row.version,
        state=LineState.IGNORED,
        reason="REVERSED",
        rule_code=decision.rule_code,
        confidence=100,
        evidence=evidence,
        candidates=[],
        kind=DecisionKind.AUTO,
        decided_by=ACTOR,
    )


# --- storing -------------------------------------------------------------------------------
async def write_decision(
    session: AsyncSession,
    *,
    line_id: uuid.UUID,
    partner_id: uuid.UUID,
    version: int,
    state: LineState,
    reason: str | None,
    rule_code: str | None,
    confidence: int | None,
    evidence: list[dict[str, Any]],
    candidates: list[dict[str, Any]],
    kind: DecisionKind,
    decided_by: str,
    note: str | None = None,
    rule_set_id: uuid.UUID | None = None,
    rule_set_version: int | None = None,
) -> uuid.UUID:
    """One line's new decision (the previous one stays as history) and its state, checking
    the line's version: ``Conflict`` when someone changed it since."""
    lines = table_of(StatementLine)
    decisions = table_of(LineDecision)
    now = utcnow()
    changed = await session.execute(
        sa.update(lines)
        .where(lines.c.id == line_id, lines.c.version == version)
        .values(state=state.value, version=version + 1, updated_at=now)
        .returning(lines.c.id)
    )
    if changed.first() is None:
        raise Conflict("the line changed since you read it; read it again")
    await session.execute(
        sa.update(decisions)
        .where(decisions.c.line_id == line_id, decisions.c.current.is_(True))
        .values(current=False)
    )
    decision_id = uuid7()
    await session.execute(
        sa.insert(decisions).values(
            id=decision_id,
            line_id=line_id,
            partner_id=partner_id,
            state=state.value,
            reason=reason,
            rule_set_id=rule_set_id,
            rule_set_version=rule_set_version,
            rule_code=rule_code,
            confidence=confidence,
            evidence=evidence,
            candidates=candidates,
            kind=kind.value,
            decided_by=decided_by,
            note=note,
            current=True,
            created_at=now,
        )
    )
    return decision_id


async def _store(
    session: AsyncSession,
    decisions: list[Decision],
    booked: dict[uuid.UUID, list[_Booked]],
    rule_set: RuleSetInForce,
    now: datetime,
) -> None:
    """The chunk's decisions, applications and line states, in a few statements."""
    if not decisions:
        return
    lines = table_of(StatementLine)
    decision_rows: list[dict[str, Any]] = []
    application_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for d in decisions:
        line = d.line
        decision_id = uuid7()
        decision_rows.append(
            {
                "id": decision_id,
                "line_id": line.id,
                "partner_id": line.partner_id,
                "state": d.state.value,
                "reason": d.reason,
                "rule_set_id": rule_set.id,
                "rule_set_version": rule_set.version,
                "rule_code": d.rule_code,
                "confidence": d.confidence,
                "evidence": [e.as_data() for e in d.evidence],
                "candidates": [p.as_data(line.currency) for p in d.parts],
                "kind": DecisionKind.AUTO.value,
                "decided_by": ACTOR,
                "note": None,
                "current": True,
                "created_at": now,
            }
        )
        for done in booked.get(line.id, []):
            application_rows.append(
                {
                    "id": uuid7(),
                    "line_id": line.id,
                    "decision_id": decision_id,
                    "partner_id": line.partner_id,
                    "credit_id": done.credit_id,
                    "payment_id": done.payment_id,
                    "write_off_id": done.write_off_id,
                    "kind": done.kind.value,
                    "amount": done.amount,
                    "currency": line.currency,
                    "idempotency_key": done.key,
                    "status": ApplicationStatus.BOOKED.value,
                    "created_at": now,
                    "reversed_at": None,
                    "reversal_reason": None,
                }
            )
        updates.append(
            {
                "b_id": line.id,
                "b_version": line.version,
                "b_state": d.state.value,
                "b_next": line.version + 1,
                "b_now": now,
            }
        )
    result = await session.execute(
        sa.update(lines)
        .where(lines.c.id == sa.bindparam("b_id"), lines.c.version == sa.bindparam("b_version"))
        .values(
            state=sa.bindparam("b_state"),
            version=sa.bindparam("b_next"),
            updated_at=sa.bindparam("b_now"),
        ),
        updates,
        execution_options={"synchronize_session": False},
    )
    if cast(Any, result).rowcount not in (-1, len(updates)):
        raise Conflict("lines changed while they were reconciled; the run is retried")
    await session.execute(sa.insert(table_of(LineDecision)), decision_rows)
    if application_rows:
        await session.execute(sa.insert(table_of(LineApplication)), application_rows)


def _record_run(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    statement_id: uuid.UUID | None,
    result: RunResult,
    decisions: list[Decision],
) -> None:
    """One audit record and one event for the chunk (each line's detail is its decision)."""
    counts = {state: result.by_state.get(state.value, 0) for state in LineState}
    summary = {
        "lines": result.lines,
        "by_state": {k.value: v for k, v in counts.items() if v},
        "by_rule": dict(sorted(result.by_rule.items())),
        "payments": result.payments,
        "reversed_payments": result.reversed_payments,
        "rule_set_version": result.rule_set_version,
    }
    entity = statement_id or partner_id
    audit.record(
        session,
        principal=principal,
        action="collections.lines_reconciled",
        entity_type="BankStatement" if statement_id else "Partner",
        entity_id=entity,
        # hex: a dashed uuid7 now and then reads as a card number to the audit's check
        # (four groups of four digits that pass Luhn) and would lose its digits there
        after={**summary, "line_ids": [d.line.id.hex for d in decisions]},
    )
    outbox.add(
        session,
        "collections.lines_reconciled",
        {
            "partnerId": wire.global_id("Partner", partner_id),
            "statementId": wire.maybe_global_id("BankStatement", statement_id),
            "ruleSetVersion": result.rule_set_version,
            "lineCount": result.lines,
            "paymentCount": result.payments,
            "reversedPaymentCount": result.reversed_payments,
            "counts": {key: counts[state] for state, key in COUNT_KEYS.items()},
            "lines": [
                {
                    "lineId": wire.global_id("StatementLine", d.line.id),
                    "state": d.state.value,
                    "reason": d.reason,
                    "ruleCode": d.rule_code,
                    "confidence": d.confidence,
                }
                for d in decisions
            ],
        },
        partner_ids=[partner_id],
        key=wire.global_id("BankStatement", statement_id)
        if statement_id
        else wire.global_id("Partner", partner_id),
    )


async def lenders_with_new_lines(
    session: AsyncSession, *, created_before: datetime
) -> list[uuid.UUID]:
    """Lenders with lines still NEW that were stored before ``created_before`` (the sweep's:
    lines whose ``statements.ingested`` event no reconciliation took)."""
    table = table_of(StatementLine)
    rows = await session.execute(
        sa.select(table.c.partner_id)
        .where(table.c.state == LineState.NEW.value, table.c.created_at < created_before)
        .distinct()
    )
    return sorted(rows.scalars().all(), key=str)

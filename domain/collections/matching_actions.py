"""People working the reconciliation queue: confirm a suggestion, match by hand, undo a
match, set a line aside. Each is audited, checks the line's version (optimistic
concurrency: ``Conflict`` when someone changed it since it was read), writes everything or
nothing, and emits its event.

- :func:`confirm_match`: a SUGGESTED line (or an ambiguous EXCEPTION) is booked as one of
  its candidates (by position, the best first).
- :func:`match_manually`: any line not booked (and not a reversal or a debit) is booked to
  one or several credits; the parts add up to the line's amount. An installment number may
  be given per part: it is kept with the decision, while the credit's allocation order
  decides what the money pays (as for any payment).
- :func:`unmatch`: an AUTO_MATCHED line's payments are reversed; the line is UNMATCHED.
- :func:`ignore_line`: a line that booked nothing is IGNORED (it pays no credit).

The payments are booked with keys derived from the line and its version
(``matching.idempotency_key``), through the same batch path as the worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.collections import access
from domain.collections.matching import (
    booking_reference,
    idempotency_key,
    paid_at_of,
    reverse_applications,
    write_decision,
)
from domain.collections.matching_engine import LineView
from domain.collections.matching_index import LINE_COLUMNS, line_views
from domain.collections.matching_models import (
    ApplicationKind,
    ApplicationStatus,
    DecisionKind,
    LineApplication,
    LineDecision,
)
from domain.collections.models import LineState, StatementLine
from domain.credits import payment_batches
from domain.credits.models import Credit
from domain.credits.payment_batches import PaymentRequest
from domain.credits.policy import COUNTRY_TIMEZONES, CreditPolicy, get_policy
from domain.partners.models import Partner
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidTransition,
    NotFound,
    Problems,
    ValidationFailed,
)
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.principal import Principal, Scope
from domain.shared.sql import for_update
from domain.shared.time import utcnow

__all__ = [
    "ManualPart",
    "confirm_match",
    "ensure_can_reconcile",
    "ignore_line",
    "match_manually",
    "unmatch",
]

MAX_PARTS = 20
MAX_REASON = 300


def ensure_can_reconcile(principal: Principal) -> None:
    access.ensure_can_read(principal)
    if not principal.has_scope(Scope.COLLECTIONS_WRITE):
        raise Forbidden("you cannot work the reconciliation queue")
    if not principal.has_scope(Scope.PAYMENTS_WRITE):
        raise Forbidden("you cannot book payments")


@dataclass(frozen=True, slots=True)
class ManualPart:
    credit_id: uuid.UUID
    amount: Money | None = None
    installment_number: int | None = None


async def _load(
    session: AsyncSession, principal: Principal, line_id: uuid.UUID, version: int
) -> LineView:
    table = table_of(StatementLine)
    stmt = for_update(
        sa.select(*(table.c[name] for name in LINE_COLUMNS)).where(
            table.c.id == line_id, access.lines_visible_to(principal)
        ),
        session,
    )
    rows = line_views((await session.execute(stmt)).all())
    if not rows:
        raise NotFound("StatementLine", line_id)
    line = rows[0]
    if not isinstance(version, int) or line.version != version:
        raise Conflict(
            f"the line changed since version {version}; it is now at version {line.version}",
            current_version=line.version,
        )
    return line


def _reason(reason: object) -> str:
    text = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not text or len(text) > MAX_REASON:
        raise ValidationFailed.on("reason", f"1 to {MAX_REASON} characters")
    from domain.shared import pan

    if pan.contains_pan(text):
        raise ValidationFailed.on("reason", pan.MESSAGE)
    return text


async def _current(session: AsyncSession, line_id: uuid.UUID) -> dict[str, Any] | None:
    table = table_of(LineDecision)
    row = (
        (
            await session.execute(
                sa.select(table)
                .where(table.c.line_id == line_id, table.c.current.is_(True))
                .order_by(table.c.created_at.desc(), table.c.id.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def _timezone(session: AsyncSession, partner_id: uuid.UUID) -> str:
    partner = await session.get(Partner, partner_id)
    return COUNTRY_TIMEZONES.get(partner.country if partner else "CL", COUNTRY_TIMEZONES["CL"])


def _snapshot(line: LineView, state: str, decision: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "state": state,
        "version": line.version,
        "amount": line.amount,
        "currency": line.currency,
        "rule_code": decision.get("rule_code") if decision else None,
        "reason": decision.get("reason") if decision else None,
        "candidates": decision.get("candidates") if decision else None,
    }


def _emit(
    session: AsyncSession,
    topic: str,
    line: LineView,
    state: LineState,
    principal: Principal,
    extra: dict[str, Any],
) -> None:
    outbox.add(
        session,
        topic,
        {
            "lineId": wire.global_id("StatementLine", line.id),
            "partnerId": wire.global_id("Partner", line.partner_id),
            "state": state.value,
            "version": line.version + 1,
            "amount": wire.money(line.amount, line.currency),
            "decidedBy": principal.subject,
            **extra,
        },
        partner_ids=[line.partner_id],
        key=wire.global_id("StatementLine", line.id),
    )


async def _book_parts(
    session: AsyncSession,
    principal: Principal,
    line: LineView,
    parts: Sequence[tuple[uuid.UUID, int]],
    policy: CreditPolicy,
) -> list[tuple[uuid.UUID, uuid.UUID, int, str]]:
    """Book ``(credit, amount)`` parts of ``line``; all or nothing (the first refusal is
    raised, and the caller's transaction rolls back)."""
    timezone = await _timezone(session, line.partner_id)
    paid_at = paid_at_of(line.day, timezone)
    reference = booking_reference(line)
    requests = [
        PaymentRequest(
            credit_id=credit_id,
            amount=Money(amount, line.currency),
            paid_at=paid_at,
            reference=reference,
            idempotency_key=idempotency_key(line.id, line.version, n),
        )
        for n, (credit_id, amount) in enumerate(parts)
    ]
    outcomes = await payment_batches.register_payments(
        session, principal=principal, requests=requests, policy=policy
    )
    for n, outcome in enumerate(outcomes):
        if outcome.error is not None:
            error = outcome.error
            if isinstance(error, ValidationFailed):
                raise ValidationFailed(
                    [FieldProblem(f"parts[{n}].{p.field}", p.message) for p in error.problems]
                )
            raise error
    return [
        (req.credit_id, outcome.payment.id, amount, req.idempotency_key)  # type: ignore[union-attr]
        for req, outcome, (_, amount) in zip(requests, outcomes, parts, strict=True)
    ]


async def _store_applications(
    session: AsyncSession,
    line: LineView,
    decision_id: uuid.UUID,
    booked: list[tuple[uuid.UUID, uuid.UUID, int, str]],
) -> None:
    if not booked:
        return
    now = utcnow()
    await session.execute(
        sa.insert(table_of(LineApplication)),
        [
            {
                "id": uuid7(),
                "line_id": line.id,
                "decision_id": decision_id,
                "partner_id": line.partner_id,
                "credit_id": credit_id,
                "payment_id": payment_id,
                "kind": ApplicationKind.PAYMENT.value,
                "amount": amount,
                "currency": line.currency,
                "idempotency_key": key,
                "status": ApplicationStatus.BOOKED.value,
                "created_at": now,
                "reversed_at": None,
                "reversal_reason": None,
            }
            for credit_id, payment_id, amount, key in booked
        ],
    )


def _refuse_unbookable(line: LineView) -> None:
    if line.direction != "CREDIT":
        raise InvalidTransition("StatementLine", "DEBIT", LineState.AUTO_MATCHED)
    if line.is_reversal:
        raise InvalidTransition("StatementLine", "REVERSAL", LineState.AUTO_MATCHED)


async def _apply(
    session: AsyncSession,
    *,
    principal: Principal,
    line: LineView,
    parts: list[tuple[uuid.UUID, int, int | None]],
    message: str,
    policy: CreditPolicy,
    previous: dict[str, Any] | None,
    confidence: int | None,
    rule_code: str | None,
) -> None:
    booked = await _book_parts(session, principal, line, [(c, a) for c, a, _ in parts], policy)
    references = dict(
        (
            await session.execute(
                sa.select(table_of(Credit).c.id, table_of(Credit).c.reference).where(
                    table_of(Credit).c.id.in_([c for c, _, _ in parts])
                )
            )
        ).all()
    )
    money = {"currency": line.currency}
    parts_text = [f"{references.get(c, c)} {Money(a, line.currency).format()}" for c, a, _ in parts]
    candidates = [
        {
            "creditId": str(c),
            "reference": references.get(c),
            "amount": {"amount": a, **money},
            "target": None,
            "installments": [n] if n else [],
            "score": 100,
            "writeOff": {"amount": 0, **money},
        }
        for c, a, n in parts
    ]
    evidence = [
        {
            "criterion": "PERSON",
            "result": "PASS",
            "score": 100,
            "message": message,
            "params": {"user": principal.display_name or principal.subject, "parts": parts_text},
        }
    ]
    decision_id = await write_decision(
        session,
        line_id=line.id,
        partner_id=line.partner_id,
        version=line.version,
        state=LineState.AUTO_MATCHED,
        reason=None,
        rule_code=rule_code,
        confidence=confidence,
        evidence=evidence,
        candidates=candidates,
        kind=DecisionKind.USER,
        decided_by=principal.subject,
    )
    await _store_applications(session, line, decision_id, booked)
    audit.record(
        session,
        principal=principal,
        action="collections.line_matched",
        entity_type="StatementLine",
        entity_id=line.id,
        before=_snapshot(line, line.state, previous),
        after={
            "state": LineState.AUTO_MATCHED.value,
            "version": line.version + 1,
            "parts": candidates,
            "payments": [str(p) for _, p, _, _ in booked],
        },
    )
    _emit(
        session,
        "collections.line_matched",
        line,
        LineState.AUTO_MATCHED,
        principal,
        {
            "payments": [
                {
                    "creditId": wire.global_id("Credit", c),
                    "paymentId": wire.global_id("Payment", p),
                    "amount": wire.money(a, line.currency),
                }
                for c, p, a, _ in booked
            ],
            "confirmed": message == "CONFIRMED",
        },
    )


async def confirm_match(
    session: AsyncSession,
    *,
    principal: Principal,
    line_id: uuid.UUID,
    version: int,
    candidate: int = 0,
    policy: CreditPolicy | None = None,
) -> uuid.UUID:
    """Book a SUGGESTED (or ambiguous) line as its candidate number ``candidate``."""
    ensure_can_reconcile(principal)
    line = await _load(session, principal, line_id, version)
    if line.state not in {LineState.SUGGESTED.value, LineState.EXCEPTION.value}:
        raise InvalidTransition("StatementLine", line.state, LineState.AUTO_MATCHED)
    _refuse_unbookable(line)
    previous = await _current(session, line.id)
    offered = (previous or {}).get("candidates") or []
    options = sorted({int(c.get("option") or 0) for c in offered})
    if not offered:
        raise InvalidTransition("StatementLine", line.state, LineState.AUTO_MATCHED)
    if not isinstance(candidate, int) or candidate not in options:
        raise ValidationFailed.on(
            "candidate", f"0 to {len(options) - 1}: the line has {len(options)} option(s)"
        )
    chosen = [c for c in offered if int(c.get("option") or 0) == candidate]
    parts: list[tuple[uuid.UUID, int, int | None]] = [
        (uuid.UUID(c["creditId"]), int(c["amount"]["amount"]), None) for c in chosen
    ]
    if sum(a for _, a, _ in parts) != line.amount:
        raise ValidationFailed.on(
            "candidate", "this option does not add up to the line's amount; use matchManually"
        )
    await _apply(
        session,
        principal=principal,
        line=line,
        parts=parts,
        message="CONFIRMED",
        policy=policy or get_policy(),
        previous=previous,
        confidence=int(chosen[0].get("score") or 0) or None,
        rule_code=(previous or {}).get("rule_code"),
    )
    return line.id


async def match_manually(
    session: AsyncSession,
    *,
    principal: Principal,
    line_id: uuid.UUID,
    version: int,
    parts: Sequence[ManualPart],
    policy: CreditPolicy | None = None,
) -> uuid.UUID:
    """Book the line to the credits of ``parts`` (their amounts add up to the line's; a
    single part without an amount takes it all)."""
    ensure_can_reconcile(principal)
    problems = Problems()
    if not parts or len(parts) > MAX_PARTS:
        problems.add("parts", f"1 to {MAX_PARTS} credits")
        problems.raise_if_any()
    line = await _load(session, principal, line_id, version)
    if line.state == LineState.AUTO_MATCHED.value:
        raise InvalidTransition("StatementLine", line.state, LineState.AUTO_MATCHED)
    _refuse_unbookable(line)
    amounts: list[tuple[uuid.UUID, int, int | None]] = []
    for n, part in enumerate(parts):
        if part.amount is None:
            if len(parts) > 1:
                problems.add(
                    f"parts[{n}].amount", "give each credit's amount when there are several"
                )
                continue
            value = line.amount
        else:
            if part.amount.currency != line.currency:
                problems.add(f"parts[{n}].amount", f"the line is in {line.currency}")
                continue
            value = part.amount.amount
            if value <= 0:
                problems.add(f"parts[{n}].amount", "must be greater than zero")
                continue
        if part.installment_number is not None and not 1 <= part.installment_number <= 1000:
            problems.add(f"parts[{n}].installmentNumber", "1 to 1000")
        amounts.append((part.credit_id, value, part.installment_number))
    ids = [c for c, _, _ in amounts]
    if len(set(ids)) != len(ids):
        problems.add("parts", "name each credit once")
    problems.raise_if_any()
    if sum(a for _, a, _ in amounts) != line.amount:
        raise ValidationFailed.on(
            "parts",
            f"the parts add up to {Money(sum(a for _, a, _ in amounts), line.currency).format()}, "
            f"the line is {Money(line.amount, line.currency).format()}",
        )
    previous = await _current(session, line.id)
    await _apply(
        session,
        principal=principal,
        line=line,
        parts=amounts,
        message="MANUAL_MATCH",
        policy=policy or get_policy(),
        previous=previous,
        confidence=100,
        rule_code=None,
    )
    return line.id


async def unmatch(
    session: AsyncSession,
    *,
    principal: Principal,
    line_id: uuid.UUID,
    version: int,
    reason: str,
    policy: CreditPolicy | None = None,
) -> uuid.UUID:
    """Reverse what an AUTO_MATCHED line booked; the line is UNMATCHED again."""
    ensure_can_reconcile(principal)
    text = _reason(reason)
    line = await _load(session, principal, line_id, version)
    if line.state != LineState.AUTO_MATCHED.value:
        raise InvalidTransition("StatementLine", line.state, LineState.UNMATCHED)
    if line.is_reversal:
        raise InvalidTransition("StatementLine", "REVERSAL", LineState.UNMATCHED)
    previous = await _current(session, line.id)
    reversed_count = await reverse_applications(
        session, principal, line.id, f"Deshecho: {text}", policy or get_policy()
    )
    await write_decision(
        session,
        line_id=line.id,
        partner_id=line.partner_id,
        version=line.version,
        state=LineState.UNMATCHED,
        reason="UNMATCHED_BY_USER",
        rule_code=None,
        confidence=None,
        evidence=[
            {
                "criterion": "PERSON",
                "result": "INFO",
                "score": None,
                "message": "UNMATCHED_BY",
                "params": {"user": principal.display_name or principal.subject, "reason": text},
            }
        ],
        candidates=(previous or {}).get("candidates") or [],
        kind=DecisionKind.USER,
        decided_by=principal.subject,
        note=text,
    )
    audit.record(
        session,
        principal=principal,
        action="collections.line_unmatched",
        entity_type="StatementLine",
        entity_id=line.id,
        before=_snapshot(line, line.state, previous),
        after={"state": LineState.UNMATCHED.value, "version": line.version + 1, "reason": text},
    )
    _emit(
        session,
        "collections.line_unmatched",
        line,
        LineState.UNMATCHED,
        principal,
        {"reason": text, "reversedPayments": reversed_count},
    )
    return line.id


async def ignore_line(
    session: AsyncSession,
    *,
    principal: Principal,
    line_id: uuid.UUID,
    version: int,
    reason: str,
) -> uuid.UUID:
    """Set aside a line that booked nothing: it pays no credit (a transfer between own
    accounts the rules did not know, a refund by a supplier…)."""
    ensure_can_reconcile(principal)
    text = _reason(reason)
    line = await _load(session, principal, line_id, version)
    if line.state in {LineState.AUTO_MATCHED.value, LineState.IGNORED.value}:
        raise InvalidTransition("StatementLine", line.state, LineState.IGNORED)
    booked = (
        await session.execute(
            sa.select(sa.func.count())
            .select_from(table_of(LineApplication))
            .where(
                table_of(LineApplication).c.line_id == line.id,
                table_of(LineApplication).c.status == ApplicationStatus.BOOKED.value,
            )
        )
    ).scalar_one()
    if booked:
        raise InvalidTransition("StatementLine", LineState.AUTO_MATCHED, LineState.IGNORED)
    previous = await _current(session, line.id)
    await write_decision(
        session,
        line_id=line.id,
        partner_id=line.partner_id,
        version=line.version,
        state=LineState.IGNORED,
        reason="IGNORED_BY_USER",
        rule_code=None,
        confidence=None,
        evidence=[
            {
                "criterion": "PERSON",
                "result": "INFO",
                "score": None,
                "message": "IGNORED_BY",
                "params": {"user": principal.display_name or principal.subject, "reason": text},
            }
        ],
        candidates=[],
        kind=DecisionKind.USER,
        decided_by=principal.subject,
        note=text,
    )
    audit.record(
        session,
        principal=principal,
        action="collections.line_ignored",
        entity_type="StatementLine",
        entity_id=line.id,
        before=_snapshot(line, line.state, previous),
        after={"state": LineState.IGNORED.value, "version": line.version + 1, "reason": text},
    )
    _emit(session, "collections.line_ignored", line, LineState.IGNORED, principal, {"reason": text})
    return line.id

"""A lender's credits as they stood at the end of a day, **as known at an instant**.

Reports are computed from dated facts, never from the current state of a credit (its
stored status, bucket or balances move every day). Each figure is the ledger replayed to
the day ``as_of`` from what had been recorded by ``known_at``:

- a credit counts once its disbursement was recorded (the audit trail's
  ``credits.disbursed``, at or before ``known_at``) and its disbursement date is on or
  before ``as_of``; it is written off from the business day of its ``credits.written_off``
  record, if that was recorded by ``known_at``;
- the schedule in force is the latest one started by ``as_of`` (a restructure recorded
  after ``known_at`` does not count);
- payments, refunds and partial write-offs count when dated on or before ``as_of`` and
  recorded by ``known_at``; a payment (or write-off) reversed by ``known_at`` never
  happened, one reversed later still counts. A partial write-off forgives what is owed
  (outstanding, overdue) and is never cash: ``payments_between`` does not list it.

So a report rerun with the same ``known_at`` gives the same figures whatever happened
since (backdated payments, reversals, restructures, write-offs), and the same
``known_at`` is kept with each report. The replay is the credits domain's own
(``ledger.allocate_loaded``): late interest, allocation order and rounding are the ledger's.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits import ledger
from domain.credits.allocation import AllocationResult, RefundEvent, WriteOffEvent
from domain.credits.models import Credit, CreditSchedule, Payment, Refund, WriteOff
from domain.credits.policy import CreditPolicy, business_date, get_policy
from domain.credits.states import CreditStatus, PaymentStatus, aging_bucket
from domain.shared import pan
from domain.shared.audit import AuditRecord

__all__ = [
    "CreditFact",
    "PaymentFact",
    "credits_as_of",
    "payments_between",
    "policy_from",
    "policy_params",
]

CHUNK = 500


def policy_params(policy: CreditPolicy) -> dict[str, Any]:
    """What the replay depends on in the process's policy, kept with a report."""
    return {
        "maxLateAnnualRate": str(policy.max_late_annual_rate),
        "lateInterestBasis": policy.late_interest_basis,
        "lateGraceDays": policy.late_grace_days,
    }


def policy_from(params: dict[str, Any] | None) -> CreditPolicy:
    import dataclasses

    base = get_policy()
    if not params:
        return base
    return dataclasses.replace(
        base,
        max_late_annual_rate=Decimal(params["maxLateAnnualRate"]),
        late_interest_basis=int(params["lateInterestBasis"]),
        late_grace_days=int(params["lateGraceDays"]),
    )


@dataclass
class CreditFact:
    credit_id: uuid.UUID
    reference: str
    currency: str
    customer_id: uuid.UUID
    timezone: str
    principal: int  # lent
    financed: int  # amortised by the first schedule (a financed fee included)
    disbursed_on: date
    #: OPEN, PAID_OFF or WRITTEN_OFF as of the day.
    status: str
    days_past_due: int = 0
    bucket: str = "CURRENT"
    outstanding_principal: int = 0
    overdue: int = 0
    paid_off_on: date | None = None
    written_off_on: date | None = None
    #: Lines of the replay: payment id -> component -> amount.
    lines: dict[uuid.UUID, dict[str, int]] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status == "OPEN"

    @property
    def state(self) -> str:
        """The bucket of an open credit, or PAID_OFF / WRITTEN_OFF."""
        return self.bucket if self.is_open else self.status


@dataclass(frozen=True, slots=True)
class PaymentFact:
    payment_id: uuid.UUID
    credit_id: uuid.UUID
    paid_at: datetime
    paid_on: date
    amount: int  # in the credit's currency
    currency: str


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite's aggregates lose the column's type
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _recorded(
    session: AsyncSession,
    action: str,
    credits: Sequence[Credit],
    known_at: datetime,
) -> dict[uuid.UUID, datetime]:
    """When ``action`` was first recorded for each credit, by ``known_at`` (audit trail).

    The audit writer keeps any text that reads as a card number as its last four digits,
    and a UUID's digit groups sometimes do (``…-8845-4306-8294-2759…``): such a credit's
    records carry the redacted id, so they are looked up by it too and recognised by the
    credit's reference in the record.
    """
    if not credits:
        return {}
    table = AuditRecord.__table__  # type: ignore[attr-defined]
    by_text = {str(c.id): c for c in credits}
    out: dict[uuid.UUID, datetime] = {}
    rows = await session.execute(
        sa.select(table.c.entity_id, sa.func.min(table.c.occurred_at))
        .where(
            table.c.entity_id.in_(list(by_text)),
            table.c.entity_type == "Credit",
            table.c.action == action,
            table.c.occurred_at <= known_at,
        )
        .group_by(table.c.entity_id)
    )
    for entity_id, occurred in rows:
        out[by_text[entity_id].id] = _aware(occurred)
    redacted: dict[str, list[Credit]] = defaultdict(list)
    for text, credit in by_text.items():
        if pan.contains_pan(text):
            redacted[pan.redact(text)].append(credit)
    if redacted:
        rows = await session.execute(
            sa.select(table.c.entity_id, table.c.occurred_at, table.c.after)
            .where(
                table.c.entity_id.in_(list(redacted)),
                table.c.entity_type == "Credit",
                table.c.action == action,
                table.c.occurred_at <= known_at,
            )
            .order_by(table.c.seq)
        )
        for entity_id, occurred, after in rows:
            reference = (after or {}).get("reference")
            for credit in redacted.get(entity_id, []):
                if credit.reference == reference and credit.id not in out:
                    out[credit.id] = _aware(occurred)
    return out


def _known_write_off(row: Any, as_of: date, known_at: datetime) -> bool:
    if row.written_on > as_of or row.created_at > known_at:
        return False
    if row.status == PaymentStatus.BOOKED:
        return True
    return row.reversed_at is not None and row.reversed_at > known_at


def _known_payment(payment: Payment, as_of: date, known_at: datetime) -> bool:
    if payment.paid_on > as_of or payment.created_at > known_at:
        return False
    if payment.status == PaymentStatus.BOOKED:
        return True
    return payment.reversed_at is not None and payment.reversed_at > known_at


async def credits_as_of(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    as_of: date,
    known_at: datetime,
    policy: CreditPolicy | None = None,
    with_lines: bool = False,
) -> dict[uuid.UUID, CreditFact]:
    """Every credit of the lender disbursed by ``as_of``, replayed to that day from what was
    recorded by ``known_at`` (module doc)."""
    policy = policy or get_policy()
    candidates = list(
        (
            await session.execute(
                sa.select(Credit)
                .where(
                    col(Credit.partner_id) == partner_id,
                    col(Credit.created_at) <= known_at,
                    col(Credit.disbursement_date).is_not(None),
                    col(Credit.disbursement_date) <= as_of,
                    col(Credit.status) != CreditStatus.CANCELLED,
                )
                .order_by(col(Credit.id))
            )
        ).scalars()
    )
    out: dict[uuid.UUID, CreditFact] = {}
    for start in range(0, len(candidates), CHUNK):
        chunk = candidates[start : start + CHUNK]
        out.update(await _chunk(session, chunk, as_of, known_at, policy, with_lines))
    return out


async def _chunk(
    session: AsyncSession,
    credits: list[Credit],
    as_of: date,
    known_at: datetime,
    policy: CreditPolicy,
    with_lines: bool,
) -> dict[uuid.UUID, CreditFact]:
    ids = [c.id for c in credits]
    disbursed = await _recorded(session, "credits.disbursed", credits, known_at)
    written = await _recorded(session, "credits.written_off", credits, known_at)
    headers: dict[uuid.UUID, list[CreditSchedule]] = defaultdict(list)
    for header in (
        await session.execute(
            sa.select(CreditSchedule)
            .where(
                col(CreditSchedule.credit_id).in_(ids), col(CreditSchedule.created_at) <= known_at
            )
            .order_by(col(CreditSchedule.credit_id), col(CreditSchedule.schedule_no))
        )
    ).scalars():
        headers[header.credit_id].append(header)
    payments: dict[tuple[uuid.UUID, int], list[Payment]] = defaultdict(list)
    for payment in (
        await session.execute(
            sa.select(Payment)
            .where(
                col(Payment.credit_id).in_(ids),
                col(Payment.paid_on) <= as_of,
                col(Payment.created_at) <= known_at,
            )
            .order_by(col(Payment.credit_id), col(Payment.paid_at), col(Payment.id))
        )
    ).scalars():
        if _known_payment(payment, as_of, known_at):
            payments[(payment.credit_id, payment.schedule_no)].append(payment)
    refunds: dict[tuple[uuid.UUID, int], list[RefundEvent]] = defaultdict(list)
    for r in await session.execute(
        sa.select(
            col(Refund.credit_id),
            col(Refund.schedule_no),
            col(Refund.id),
            col(Refund.refunded_at),
            col(Refund.refunded_on),
            col(Refund.amount),
        ).where(
            col(Refund.credit_id).in_(ids),
            col(Refund.refunded_on) <= as_of,
            col(Refund.created_at) <= known_at,
        )
    ):
        refunds[(r.credit_id, r.schedule_no)].append(
            RefundEvent(id=r.id, at=r.refunded_at, on=r.refunded_on, amount=r.amount)
        )
    write_offs: dict[tuple[uuid.UUID, int], list[WriteOffEvent]] = defaultdict(list)
    for w in await session.execute(
        sa.select(
            col(WriteOff.credit_id),
            col(WriteOff.schedule_no),
            col(WriteOff.id),
            col(WriteOff.written_at),
            col(WriteOff.written_on),
            col(WriteOff.credit_amount),
            col(WriteOff.installment_number),
            col(WriteOff.status),
            col(WriteOff.created_at),
            col(WriteOff.reversed_at),
        ).where(
            col(WriteOff.credit_id).in_(ids),
            col(WriteOff.written_on) <= as_of,
            col(WriteOff.created_at) <= known_at,
        )
    ):
        if _known_write_off(w, as_of, known_at):
            write_offs[(w.credit_id, w.schedule_no)].append(
                WriteOffEvent(
                    id=w.id,
                    at=w.written_at,
                    on=w.written_on,
                    amount=w.credit_amount,
                    installment=w.installment_number,
                )
            )
    out: dict[uuid.UUID, CreditFact] = {}
    for credit in credits:
        if credit.id not in disbursed or credit.disbursement_date is None:
            continue
        own = headers.get(credit.id, [])
        in_force = [h for h in own if h.start_date <= as_of]
        if not in_force:
            continue
        header = in_force[-1]
        fact = CreditFact(
            credit_id=credit.id,
            reference=credit.reference,
            currency=credit.currency,
            customer_id=credit.customer_id,
            timezone=credit.timezone,
            principal=credit.principal,
            financed=own[0].principal,
            disbursed_on=credit.disbursement_date,
            status="OPEN",
        )
        written_at = written.get(credit.id)
        day = as_of
        if written_at is not None:
            written_on = business_date(written_at, credit.timezone)
            if written_on <= as_of:
                fact.status = "WRITTEN_OFF"
                fact.written_off_on = written_on
                day = written_on  # the figures it was written off with
        key = (credit.id, header.schedule_no)
        events = [p for p in payments.get(key, []) if p.paid_on <= day]
        result = ledger.allocate_loaded(
            credit,
            header,
            ledger.payment_events(events),
            [r for r in refunds.get(key, []) if r.on <= day],
            as_of=day,
            policy=policy,
            write_offs=[w for w in write_offs.get(key, []) if w.on <= day],
        )
        _fill(fact, result, with_lines)
        if fact.status == "OPEN" and result.paid_off_on is not None and result.paid_off_on <= as_of:
            fact.status = "PAID_OFF"
            fact.paid_off_on = result.paid_off_on
        out[credit.id] = fact
    return out


def _fill(fact: CreditFact, result: AllocationResult, with_lines: bool) -> None:
    fact.days_past_due = result.days_past_due
    fact.bucket = aging_bucket(result.days_past_due).value
    fact.outstanding_principal = result.outstanding_principal
    fact.overdue = result.overdue()
    if with_lines:
        lines: dict[uuid.UUID, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for line in result.lines:
            lines[line.payment_id][line.component.value] += line.amount
        fact.lines = {k: dict(v) for k, v in lines.items()}


async def payments_between(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    start: date,
    end: date,
    known_at: datetime,
) -> list[PaymentFact]:
    """The lender's payments dated in [start, end], as known at ``known_at``."""
    rows = await session.execute(
        sa.select(Payment, col(Credit.currency))
        .join(Credit, col(Credit.id) == col(Payment.credit_id))
        .where(
            col(Credit.partner_id) == partner_id,
            col(Payment.paid_on) >= start,
            col(Payment.paid_on) <= end,
            col(Payment.created_at) <= known_at,
        )
        .order_by(col(Payment.paid_at), col(Payment.id))
    )
    return [
        PaymentFact(p.id, p.credit_id, p.paid_at, p.paid_on, p.credit_amount, currency)
        for p, currency in rows.all()
        if _known_payment(p, end, known_at)
    ]


def by_currency(facts: Iterable[CreditFact]) -> dict[str, list[CreditFact]]:
    out: dict[str, list[CreditFact]] = defaultdict(list)
    for fact in facts:
        out[fact.currency].append(fact)
    return dict(sorted(out.items()))

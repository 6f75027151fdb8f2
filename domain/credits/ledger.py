"""The stored ledger of a credit: replay its schedule in force and persist the difference.

:func:`replay` loads the schedule's terms, its booked payments and refunds, runs the pure
:func:`~domain.credits.allocation.allocate`, and writes only what changed: allocation rows,
installment rows (a prepayment can reshape or drop rows), what each payment became, the
credit's balances and days past due, and the status the new state implies (paid off,
delinquent, cured, reopened), each status change audited with its outbox event.
Schedules superseded by a restructure are frozen: their rows are never replayed again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits import events as credit_events
from domain.credits.allocation import (
    AllocationOrder,
    AllocationResult,
    HeldChunk,
    PaymentEvent,
    Plan,
    Prepayment,
    RefundEvent,
    ReplayConflict,
    WriteOffEvent,
    allocate,
)
from domain.credits.models import (
    Allocation,
    Credit,
    CreditSchedule,
    Installment,
    Payment,
    Refund,
    WriteOff,
)
from domain.credits.policy import CreditPolicy
from domain.credits.records import build_plan, current_header, emit, installment_values, snapshot
from domain.credits.states import (
    CreditStatus,
    InstallmentStatus,
    PaymentStatus,
    aging_bucket,
    ensure_transition,
)
from domain.shared import audit
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import Principal
from domain.shared.time import utcnow

__all__ = [
    "ReplayOutcome",
    "StatusChange",
    "allocate_loaded",
    "apply_status",
    "carried_chunks",
    "compute",
    "freeze_schedule",
    "payment_events",
    "replay",
    "settle_status",
    "status_payload",
    "sync_distributions",
    "target_status",
    "write_off_events",
]


@dataclass
class ReplayOutcome:
    result: AllocationResult
    allocations_changed: bool
    status_changes: list[tuple[str, str]] = field(default_factory=list)


async def _load_events(
    session: AsyncSession, credit: Credit
) -> tuple[list[PaymentEvent], list[RefundEvent], list[Payment]]:
    payments = list(
        (
            await session.execute(
                sa.select(Payment)
                .where(
                    col(Payment.credit_id) == credit.id,
                    col(Payment.schedule_no) == credit.schedule_no,
                    col(Payment.status) == PaymentStatus.BOOKED,
                )
                .order_by(col(Payment.paid_at), col(Payment.id))
            )
        )
        .scalars()
        .all()
    )
    events = payment_events(payments)
    refund_table = table_of(Refund)
    rows = await session.execute(
        sa.select(
            refund_table.c.id,
            refund_table.c.refunded_at,
            refund_table.c.refunded_on,
            refund_table.c.amount,
        ).where(
            refund_table.c.credit_id == credit.id,
            refund_table.c.schedule_no == credit.schedule_no,
        )
    )
    refunds = [
        RefundEvent(id=r.id, at=r.refunded_at, on=r.refunded_on, amount=r.amount) for r in rows
    ]
    return events, refunds, payments


def write_off_events(rows: Iterable[Any]) -> list[WriteOffEvent]:
    """Booked write-offs (``WriteOff`` rows or rows with their columns) as the allocator's
    events."""
    return [
        WriteOffEvent(
            id=r.id,
            at=r.written_at,
            on=r.written_on,
            amount=r.credit_amount,
            installment=r.installment_number,
        )
        for r in rows
    ]


async def _load_write_offs(session: AsyncSession, credit: Credit) -> list[WriteOff]:
    return list(
        (
            await session.execute(
                sa.select(WriteOff)
                .where(
                    col(WriteOff.credit_id) == credit.id,
                    col(WriteOff.schedule_no) == credit.schedule_no,
                    col(WriteOff.status) == PaymentStatus.BOOKED,
                )
                .order_by(col(WriteOff.written_at), col(WriteOff.id))
            )
        )
        .scalars()
        .all()
    )


def carried_chunks(header: CreditSchedule) -> list[HeldChunk]:
    return [
        HeldChunk(uuid.UUID(str(item["payment_id"])), int(item["amount"]))
        for item in header.carried_balance or []
    ]


async def compute(
    session: AsyncSession,
    credit: Credit,
    *,
    as_of: date,
    policy: CreditPolicy,
    extra_payments: Iterable[PaymentEvent] = (),
    exclude_payment: uuid.UUID | None = None,
    extra_write_offs: Iterable[WriteOffEvent] = (),
) -> tuple[AllocationResult, list[Payment], CreditSchedule]:
    """The ledger of the schedule in force as of ``as_of``, computed, nothing written."""
    header = await current_header(session, credit)
    events, refunds, payments = await _load_events(session, credit)
    events = [e for e in events if e.id != exclude_payment] + list(extra_payments)
    write_offs = write_off_events(await _load_write_offs(session, credit))
    write_offs += list(extra_write_offs)
    result = allocate_loaded(
        credit, header, events, refunds, as_of=as_of, policy=policy, write_offs=write_offs
    )
    return result, payments, header


def payment_events(payments: Iterable[Payment]) -> list[PaymentEvent]:
    """Booked payments as the allocator's events (amounts in the credit's currency)."""
    return [
        PaymentEvent(
            id=p.id,
            at=p.paid_at,
            on=p.paid_on,
            amount=p.credit_amount,
            prepayment=Prepayment(p.prepayment) if p.prepayment else None,
        )
        for p in payments
    ]


def allocate_loaded(
    credit: Credit,
    header: CreditSchedule,
    events: list[PaymentEvent],
    refunds: list[RefundEvent],
    *,
    as_of: date,
    policy: CreditPolicy,
    plan: Plan | None = None,
    write_offs: list[WriteOffEvent] | None = None,
) -> AllocationResult:
    """The ledger of the schedule ``header`` from already loaded events (pure; shared by
    :func:`compute`, the batched reads of many credits and the batched payments, which pass
    the ``plan`` they already hold)."""
    if plan is None:
        _, plan = build_plan(header, credit.currency)
    write_offs = write_offs or []
    last = max(
        [e.on for e in events] + [r.on for r in refunds] + [w.on for w in write_offs],
        default=as_of,
    )
    try:
        return allocate(
            plan,
            events,
            as_of=max(as_of, last),
            late=policy.late_policy(credit.late_annual_rate),
            order=AllocationOrder.parse(
                credit.allocation_order, credit.allocation_mode, field="allocationOrder"
            ),
            refunds=refunds,
            carried=carried_chunks(header),
            write_offs=write_offs,
        )
    except ReplayConflict as exc:
        raise Conflict(
            f"the payment history of credit {credit.reference} cannot be replayed: {exc}"
        ) from None


async def _persist_allocations(
    session: AsyncSession, credit: Credit, result: AllocationResult
) -> bool:
    table = table_of(Allocation)
    rows = await session.execute(
        sa.select(
            table.c.id,
            table.c.payment_id,
            table.c.installment_number,
            table.c.component,
            table.c.amount,
        ).where(table.c.credit_id == credit.id, table.c.schedule_no == credit.schedule_no)
    )
    existing: dict[tuple[Any, int, str], tuple[uuid.UUID, int]] = {}
    duplicates: list[uuid.UUID] = []
    for r in rows:
        key = (r.payment_id, r.installment_number, r.component)
        if key in existing:
            duplicates.append(r.id)
        else:
            existing[key] = (r.id, r.amount)
    wanted = {
        (line.payment_id, line.installment, line.component.value): line.amount
        for line in result.lines
    }
    deletes = duplicates + [row_id for key, (row_id, _) in existing.items() if key not in wanted]
    updates = [
        {"b_id": existing[key][0], "b_amount": amount}
        for key, amount in wanted.items()
        if key in existing and existing[key][1] != amount
    ]
    inserts = [
        {
            "id": uuid7(),
            "credit_id": credit.id,
            "payment_id": key[0],
            "schedule_no": credit.schedule_no,
            "installment_number": key[1],
            "component": key[2],
            "amount": amount,
        }
        for key, amount in wanted.items()
        if key not in existing
    ]
    for start in range(0, len(deletes), 500):
        await session.execute(sa.delete(table).where(table.c.id.in_(deletes[start : start + 500])))
    if updates:
        await session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"))
            .values(amount=sa.bindparam("b_amount")),
            updates,
        )
    for start in range(0, len(inserts), 1000):
        await session.execute(sa.insert(table), inserts[start : start + 1000])
    return bool(deletes or updates or inserts)


async def _persist_installments(
    session: AsyncSession, credit: Credit, result: AllocationResult
) -> None:
    table = table_of(Installment)
    rows = await session.execute(
        sa.select(table).where(
            table.c.credit_id == credit.id, table.c.schedule_no == credit.schedule_no
        )
    )
    existing = {r.number: r._mapping for r in rows}
    seen: set[int] = set()
    for state in result.installments:
        values = installment_values(credit.id, credit.schedule_no, state)
        seen.add(state.number)
        row = existing.get(state.number)
        if row is None:
            await session.execute(sa.insert(table).values(id=uuid7(), **values))
            continue
        changed = {k: v for k, v in values.items() if row[k] != v}
        if changed:
            await session.execute(sa.update(table).where(table.c.id == row["id"]).values(changed))
    gone = [row["id"] for number, row in existing.items() if number not in seen]
    if gone:
        await session.execute(sa.delete(table).where(table.c.id.in_(gone)))


async def _persist_payments(
    session: AsyncSession,
    credit: Credit,
    result: AllocationResult,
    payments: list[Payment],
    carried: list[HeldChunk],
) -> None:
    """Each payment's allocated / held / refunded amounts (they always sum to it)."""
    ids = {p.id for p in payments} | {c.payment_id for c in carried}
    if not ids:
        return
    table = table_of(Allocation)
    rows = await session.execute(
        sa.select(table.c.payment_id, sa.func.sum(table.c.amount))
        .where(table.c.credit_id == credit.id, table.c.payment_id.in_(ids))
        .group_by(table.c.payment_id)
    )
    totals = {row[0]: row[1] for row in rows}
    by_id = {p.id: p for p in payments}
    missing = [i for i in ids if i not in by_id]
    if missing:
        more = await session.execute(sa.select(Payment).where(col(Payment.id).in_(missing)))
        by_id.update({p.id: p for p in more.scalars()})
    for pid, payment in by_id.items():
        allocated = int(totals.get(pid) or 0)
        held = result.held_by_payment.get(pid, 0)
        refunded = payment.credit_amount - allocated - held
        if (payment.allocated_amount, payment.held_amount, payment.refunded_amount) != (
            allocated,
            held,
            refunded,
        ):
            payment.allocated_amount = allocated
            payment.held_amount = held
            payment.refunded_amount = refunded


def write_off_components(result: AllocationResult) -> dict[Any, list[dict[str, Any]]]:
    """What each write-off forgave, by write-off id, as stored in ``components``."""
    out: dict[Any, list[dict[str, Any]]] = {}
    for line in sorted(
        result.write_off_lines, key=lambda x: (str(x.payment_id), x.installment, x.component)
    ):
        out.setdefault(line.payment_id, []).append(
            {
                "installment": line.installment,
                "component": line.component.value,
                "amount": line.amount,
            }
        )
    return out


async def persist_write_offs(
    session: AsyncSession, credit: Credit, result: AllocationResult
) -> None:
    """Each booked write-off of the schedule in force: what it forgave (a replay can change
    it, e.g. a backdated payment leaves less to forgive)."""
    table = table_of(WriteOff)
    rows = (
        await session.execute(
            sa.select(table.c.id, table.c.applied_amount, table.c.components).where(
                table.c.credit_id == credit.id,
                table.c.schedule_no == credit.schedule_no,
                table.c.status == PaymentStatus.BOOKED.value,
            )
        )
    ).all()
    if not rows:
        return
    components = write_off_components(result)
    for row in rows:
        applied = result.applied_by_write_off.get(row.id, 0)
        parts = components.get(row.id, [])
        if row.applied_amount != applied or (row.components or []) != parts:
            await session.execute(
                sa.update(table)
                .where(table.c.id == row.id)
                .values(applied_amount=applied, components=parts)
            )


def target_status(credit: Credit, result: AllocationResult, policy: CreditPolicy) -> str:
    if result.paid_off_on is not None:
        return CreditStatus.PAID_OFF
    if result.days_past_due >= policy.delinquent_after_days:
        return CreditStatus.DELINQUENT
    return CreditStatus.RESTRUCTURED if credit.schedule_no > 1 else CreditStatus.ACTIVE


_STATUS_TOPICS = {
    CreditStatus.PAID_OFF: "credits.paid_off",
    CreditStatus.DELINQUENT: "credits.delinquent",
}


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A status the ledger moved a credit to: the topic of its event and the credit's
    snapshot before it."""

    source: CreditStatus
    target: CreditStatus
    topic: str
    before: dict[str, Any]


def apply_status(
    credit: Any, result: AllocationResult, policy: CreditPolicy
) -> StatusChange | None:
    """Set what the ledger ``result`` implies on ``credit`` (a ``Credit`` or a stand-in with
    its attributes, as the batched payments keep): days past due, bucket, paid-off day and
    the status, bumping the version when the status changes. Pure: the caller audits and
    emits the change returned (:func:`settle_status`)."""
    credit.days_past_due = result.days_past_due
    credit.aging_bucket = aging_bucket(result.days_past_due)
    credit.ledger_as_of = result.as_of
    if credit.status not in {
        CreditStatus.ACTIVE,
        CreditStatus.DELINQUENT,
        CreditStatus.RESTRUCTURED,
        CreditStatus.PAID_OFF,
    }:
        return None
    source = CreditStatus(credit.status)
    target = CreditStatus(target_status(credit, result, policy))
    if target == CreditStatus.DELINQUENT and credit.delinquent_since is None:
        credit.delinquent_since = result.as_of - timedelta(days=result.days_past_due - 1)
    if target != CreditStatus.DELINQUENT:
        credit.delinquent_since = None
    credit.paid_off_on = result.paid_off_on
    if target == source:
        return None
    ensure_transition(source, target)
    before = snapshot(credit)
    credit.status = target
    credit.closed_at = utcnow() if target == CreditStatus.PAID_OFF else None
    credit.status_reason = None
    if source == CreditStatus.PAID_OFF:
        topic = "credits.reopened"
    elif source == CreditStatus.DELINQUENT and target in {
        CreditStatus.ACTIVE,
        CreditStatus.RESTRUCTURED,
    }:
        topic = "credits.cured"
    else:
        topic = _STATUS_TOPICS.get(target, "credits.status_changed")
    credit.version += 1
    credit.updated_at = utcnow()
    return StatusChange(source, target, topic, before)


def status_payload(credit: Any, result: AllocationResult, change: StatusChange) -> dict[str, Any]:
    """The topic's own fields of a status change's event."""
    return {
        "previousStatus": change.source,
        "daysPastDue": result.days_past_due,
        "agingBucket": credit_events.aging_bucket(credit.aging_bucket),
        "outstandingPrincipal": wire.money(result.outstanding_principal, credit.currency),
        "paidOffOn": wire.maybe_day(result.paid_off_on),
        "asOf": wire.day(result.as_of),
    }


async def settle_status(
    session: AsyncSession,
    credit: Credit,
    result: AllocationResult,
    *,
    policy: CreditPolicy,
    actor: Principal,
) -> list[tuple[str, str]]:
    """Move the credit to the status its ledger implies; audit and emit each change."""
    change = apply_status(credit, result, policy)
    if change is None:
        return []
    audit.record(
        session,
        principal=actor,
        action=change.topic,
        entity_type="Credit",
        entity_id=credit.id,
        before=change.before,
        after=snapshot(credit),
    )
    emit(session, credit, change.topic, status_payload(credit, result, change))
    return [(change.source, change.target)]


async def replay(
    session: AsyncSession,
    credit: Credit,
    *,
    as_of: date,
    policy: CreditPolicy,
    actor: Principal,
    sync_investors: bool = True,
) -> ReplayOutcome:
    """Recompute the schedule in force from its payments and persist what changed.

    The caller holds the credit's row lock. When allocations changed (and
    ``sync_investors``), the investors' distribution lines are recomputed too.
    """
    result, payments, header = await compute(session, credit, as_of=as_of, policy=policy)
    changed = await _persist_allocations(session, credit, result)
    await _persist_installments(session, credit, result)
    await _persist_payments(session, credit, result, payments, carried_chunks(header))
    await persist_write_offs(session, credit, result)
    credit.credit_balance = result.credit_balance
    credit.outstanding_principal = result.outstanding_principal
    changes = await settle_status(session, credit, result, policy=policy, actor=actor)
    await session.flush()
    if changed and sync_investors:
        await sync_distributions(session, credit.id)
    return ReplayOutcome(result=result, allocations_changed=changed, status_changes=changes)


async def sync_distributions(session: AsyncSession, credit_id: uuid.UUID) -> None:
    """Let the investors domain recompute its lines from the stored allocations."""
    from domain.investors import distributions

    await distributions.sync_credit(session, credit_id=credit_id)


async def freeze_schedule(session: AsyncSession, credit: Credit, closed_on: date) -> None:
    """Mark the unpaid rows of the schedule in force RESTRUCTURED (a restructure replaces
    it) and close its header."""
    table = table_of(Installment)
    await session.execute(
        sa.update(table)
        .where(
            table.c.credit_id == credit.id,
            table.c.schedule_no == credit.schedule_no,
            table.c.status != InstallmentStatus.PAID,
        )
        .values(status=InstallmentStatus.RESTRUCTURED)
    )
    header = await current_header(session, credit)
    header.closed_on = closed_on

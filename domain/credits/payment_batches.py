"""Many payments in a few statements: :func:`register_payments`.

``payments.register_payment`` books one payment in ~20 statements (lock, idempotency check,
a replay of the credit loaded as ORM objects, one UPDATE per changed installment …). This is
the same booking for a list of payments over many credits, set-based:

1. **Load** every credit of the batch in a fixed number of statements, whatever their
   number: the credits (row-locked, in id order so two batches never deadlock), all their
   payments, their schedule headers, refunds, installment rows and allocation rows, the UF
   values of the days paid, the investors' fundings and the distribution lines written.
2. **Simulate**, in memory and in the order the payments are given, exactly what calling
   ``register_payment`` once per payment would do: the same checks (and the same errors),
   the idempotency keys (a key already used on the credit returns its payment; with
   another amount it is a ``Conflict``), a new version, a replay of the credit's schedule
   with every payment booked so far (``ledger.allocate_loaded``: allocation order, late
   interest, credit balance, prepayments), the status the ledger implies
   (``ledger.apply_status``: delinquent, cured, paid off, reopened), the investors'
   distribution lines (``distributions.lines_to_append``), and each step's audit records
   and outbox events (``payments.received``, ``credits.*``) with the figures of that step.
   The rules are the credits' and investors' own functions, called with the loaded rows;
   none is restated here.
3. **Write** the difference between what was loaded and where the simulation ended, in one
   statement per kind of change (inserted payments, allocation rows inserted, updated and
   deleted, changed installment rows, payments' allocated/held/refunded amounts, credits,
   distribution lines, outbox events; the audit records are sealed at commit as always).

So the tables, events and audit records end as after the one-by-one path (the property
tests of ``tests/domain/credits/test_payment_batches.py`` compare every table, event and
audit record), at a small fraction of its cost. A payment whose checks fail is reported in
its :class:`BatchOutcome` with the error the one-by-one path raises, and nothing of it is
written; the others are booked (the caller decides whether one failure refuses all).

The plan the allocator replays is taken from the stored installment rows when no
prepayment is involved (a replay leaves the rows of the plan as they are unless a
prepayment rebuilt them); otherwise it is rebuilt from the schedule's terms as
``ledger.compute`` does. Backdated payments need no other path: every step replays the
credit from scratch in memory, and only the difference is written.

The caller holds the transaction; like every service this flushes, never commits. ORM
objects of the batch's credits, payments, installments and allocations that the session
already holds are expired (their rows were written with Core statements).
"""

from __future__ import annotations

import operator
import uuid
from collections import defaultdict, namedtuple
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.credits import ledger, records, uf
from domain.credits.access import ensure_visible
from domain.credits.allocation import (
    AllocationOrder,
    AllocationResult,
    HeldChunk,
    PaymentEvent,
    Plan,
    PlanRow,
    Prepayment,
    RefundEvent,
    WriteOffEvent,
)
from domain.credits.calendar import DayCount
from domain.credits.inputs import AmountInput
from domain.credits.models import (
    Allocation,
    Credit,
    CreditSchedule,
    Installment,
    Payment,
    Refund,
    WriteOff,
)
from domain.credits.payments import (
    _KEY,
    _REFUSED,
    MAX_REFERENCE,
    _clean_text,
    _parse_paid_at,
    _parse_payment_amount,
    _received_payload,
    _snapshot,
    ensure_can_pay,
)
from domain.credits.policy import CreditPolicy, business_date, get_policy, today
from domain.credits.schedules import GraceKind, Scheme
from domain.credits.states import CreditStatus, PaymentStatus
from domain.shared import audit, outbox, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, DomainError, NotFound, Problems, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.principal import Principal
from domain.shared.sql import dialect_of
from domain.shared.time import ensure_utc, utcnow

__all__ = ["BatchOutcome", "BookedPayment", "PaymentRequest", "register_payments"]

#: Ids per ``IN (…)`` list (under SQLite's and asyncpg's bound-parameter limits).
_CHUNK = 1000

#: Installment columns a replay may change (``records.installment_values`` less the keys).
_INSTALLMENT_FIELDS = (
    "due_date",
    "days",
    "opening_balance",
    "interest",
    "capitalised",
    "principal",
    "insurance",
    "other_charges",
    "amount",
    "closing_balance",
    "principal_paid",
    "interest_paid",
    "charges_paid",
    "late_interest_accrued",
    "late_interest_paid",
    "principal_written_off",
    "interest_written_off",
    "charges_written_off",
    "late_interest_written_off",
    "status",
    "paid_on",
)
#: Credit columns the booking of a payment may change.
_CREDIT_FIELDS = (
    "version",
    "updated_at",
    "status",
    "status_reason",
    "credit_balance",
    "outstanding_principal",
    "days_past_due",
    "aging_bucket",
    "delinquent_since",
    "ledger_as_of",
    "paid_off_on",
    "closed_at",
)


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """One payment to book: the arguments of ``payments.register_payment``."""

    credit_id: uuid.UUID
    amount: AmountInput
    paid_at: datetime
    reference: str
    idempotency_key: str
    currency: str | None = None
    prepayment: str | None = None
    expected_version: int | None = None


@dataclass(slots=True)
class BookedPayment:
    """A payment row (the columns of ``credit_payments``) as the batch leaves it."""

    id: uuid.UUID
    credit_id: uuid.UUID
    schedule_no: int
    amount: int
    currency: str
    credit_amount: int
    uf_value: Decimal | None
    paid_at: datetime
    paid_on: date
    reference: str
    idempotency_key: str
    prepayment: str | None
    status: str
    allocated_amount: int
    held_amount: int
    refunded_amount: int
    reversed_at: datetime | None
    reversal_reason: str | None
    created_by: str
    created_at: datetime

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _PAYMENT_COLUMNS}


_PAYMENT_COLUMNS = tuple(f.name for f in fields(BookedPayment))


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What became of one request: its payment (new, or the one its idempotency key already
    booked: ``repeated``), or the error the one-by-one path raises for it."""

    request: PaymentRequest
    payment: BookedPayment | None = None
    error: DomainError | None = None
    repeated: bool = False

    @property
    def booked(self) -> bool:
        return self.payment is not None and not self.repeated


class _CreditState:
    """The columns of a ``credits`` row as attributes: the stand-in the credits' own rules
    (``apply_status``, ``snapshot``, ``event_body``, ``ensure_visible``) work on."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.__dict__.update(row)

    if TYPE_CHECKING:  # its attributes are the table's columns

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...


@dataclass
class _Funding:
    """The investors' side of one funded credit, kept up to date step by step."""

    fundings: list[Any]
    existing: dict[tuple[uuid.UUID, Any], int]
    value_dates: dict[uuid.UUID, date]


@dataclass
class _Book:
    """One credit of the batch: what was loaded, and where the simulation is."""

    credit: _CreditState
    original: dict[str, Any]
    header: Any | None  # the credit_schedules row in force
    stored_installments: dict[int, Any]
    stored_allocations: dict[tuple[uuid.UUID, int, str], tuple[uuid.UUID, int]]
    duplicates: list[uuid.UUID]
    other_allocated: dict[uuid.UUID, int]  # allocations of other schedules, per payment
    other_components: dict[uuid.UUID, dict[str, int]]  # … and per component
    payments: dict[uuid.UUID, BookedPayment]
    by_key: dict[str, BookedPayment]
    refunds: list[RefundEvent]
    carried: list[HeldChunk]
    write_offs: list[WriteOffEvent] = field(default_factory=list)
    order: AllocationOrder | None = None
    plan: Plan | None = None
    lines: dict[tuple[uuid.UUID, int, str], int] = field(default_factory=dict)
    result: AllocationResult | None = None
    first_replay: bool = True
    dirty: bool = False
    stored_amounts: dict[uuid.UUID, tuple[int, int, int]] = field(default_factory=dict)
    funding: _Funding | None = None
    prepayments: bool = False  # a prepayment is booked or requested: rebuild the plan

    def booked_current(self) -> list[BookedPayment]:
        schedule_no = self.credit.schedule_no
        return [
            p
            for p in self.payments.values()
            if p.status == PaymentStatus.BOOKED and p.schedule_no == schedule_no
        ]

    def latest_booked_at(self) -> datetime | None:
        times = [p.paid_at for p in self.payments.values() if p.status == PaymentStatus.BOOKED]
        return max(times) if times else None


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _event(payment: BookedPayment) -> PaymentEvent:
    return PaymentEvent(
        id=payment.id,
        at=payment.paid_at,
        on=payment.paid_on,
        amount=payment.credit_amount,
        prepayment=Prepayment(payment.prepayment) if payment.prepayment else None,
    )


def _plan_from_rows(header: Any, rows: Iterable[Any]) -> Plan:
    """The plan the stored rows hold: the schedule's own rows while no prepayment has
    rebuilt them (what ``records.build_plan`` would rebuild from the terms), as tuples that
    carry every field of a ``PlanRow`` by the same name (the allocator only reads them)."""
    return Plan(
        start_date=header.start_date,
        rows=cast(
            tuple[PlanRow, ...],
            tuple(_StoredPlanRow._make(r[3:12]) for r in sorted(rows, key=_number)),
        ),
        annual_rate=header.annual_rate,
        day_count=DayCount(header.day_count),
        scheme=Scheme(header.scheme),
        grace_months=header.grace_months,
        grace_kind=GraceKind(header.grace_kind),
        rounding=header.rounding,
    )


_number = operator.itemgetter(3)  # of a stored row (``_ROW_COLUMNS``)
#: The plan's fields of an installment row, in ``PlanRow``'s order …
_PLAN_FIELDS = (
    "number",
    "due_date",
    "days",
    "opening_balance",
    "interest",
    "capitalised",
    "principal",
    "insurance",
    "other_charges",
)
#: … and what a replay may change of it: read from a result's state by name, and from a
#: stored row by position (the columns of ``credit_installments`` are read in this order).
_COMPARED = (
    *_PLAN_FIELDS[1:],
    "principal_paid",
    "interest_paid",
    "charges_paid",
    "late_interest_accrued",
    "late_interest_paid",
    "principal_written_off",
    "interest_written_off",
    "charges_written_off",
    "late_interest_written_off",
    "status",
    "paid_on",
)
_STATE_VALUES = operator.attrgetter(*_COMPARED)
_ROW_COLUMNS = ("id", "credit_id", "schedule_no", "number", *_COMPARED)
#: A stored row as the allocator reads a ``PlanRow`` (by attribute, nothing else).
_StoredPlanRow = namedtuple("_StoredPlanRow", _PLAN_FIELDS)  # type: ignore[misc]
_STORED_VALUES = operator.itemgetter(*range(4, len(_ROW_COLUMNS)))


_ALLOCATION_COLUMNS = (
    "credit_id",
    "id",
    "payment_id",
    "schedule_no",
    "installment_number",
    "component",
    "amount",
)
_REFUND_COLUMNS = ("credit_id", "id", "schedule_no", "refunded_at", "refunded_on", "amount")
_WRITE_OFF_COLUMNS = (
    "credit_id",
    "id",
    "schedule_no",
    "status",
    "written_at",
    "written_on",
    "credit_amount",
    "installment_number",
)


# --- loading -------------------------------------------------------------------------------
async def _rows_of(
    session: AsyncSession, table: sa.Table, columns: Sequence[str], credit_ids: list[uuid.UUID]
) -> Sequence[Sequence[Any]]:
    """``columns`` of the rows of ``table`` whose ``credit_id`` is one of ``credit_ids``, as
    tuples. On PostgreSQL through the driver itself: these are the batch's bulk reads (tens
    of rows per credit), and asyncpg's records cost a fraction of SQLAlchemy's rows; the
    values are the same Python objects either way (the connection's codecs are
    SQLAlchemy's, timestamps come back as UTC instants)."""
    if dialect_of(session) == "postgresql":
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        sql = (
            f"SELECT {', '.join(columns)} FROM {table.name} "  # noqa: S608 - names are ours
            "WHERE credit_id = ANY($1::uuid[])"
        )
        # asyncpg's records index and slice like tuples
        return await raw.driver_connection.fetch(sql, credit_ids)  # type: ignore[union-attr]
    out: list[Sequence[Any]] = []
    for chunk in _chunks(credit_ids):
        stmt = sa.select(*(table.c[name] for name in columns)).where(table.c.credit_id.in_(chunk))
        out.extend(tuple(r) for r in await session.execute(stmt))
    return out


async def _load(
    session: AsyncSession, credit_ids: list[uuid.UUID], prepaying: set[uuid.UUID]
) -> dict[uuid.UUID, _Book]:
    credits_t = table_of(Credit)
    payments_t = table_of(Payment)
    headers_t = table_of(CreditSchedule)
    rows_t = table_of(Installment)
    allocations_t = table_of(Allocation)
    refunds_t = table_of(Refund)
    write_offs_t = table_of(WriteOff)
    postgres = dialect_of(session) == "postgresql"

    credit_rows: dict[uuid.UUID, dict[str, Any]] = {}
    for chunk in _chunks(credit_ids):
        stmt = sa.select(credits_t).where(credits_t.c.id.in_(chunk)).order_by(credits_t.c.id)
        if postgres:
            stmt = stmt.with_for_update()
        for found in (await session.execute(stmt)).mappings():
            credit_rows[found["id"]] = dict(found)
    ids = sorted(credit_rows)
    if not ids:
        return {}
    schedule_of = {i: credit_rows[i]["schedule_no"] for i in ids}

    payments: dict[uuid.UUID, dict[uuid.UUID, BookedPayment]] = {i: {} for i in ids}
    headers: dict[uuid.UUID, Any] = {}
    installments: dict[uuid.UUID, dict[int, Any]] = {i: {} for i in ids}
    allocations: dict[uuid.UUID, list[Any]] = {i: [] for i in ids}
    refunds: dict[uuid.UUID, list[RefundEvent]] = {i: [] for i in ids}
    for paid in await _rows_of(session, payments_t, _PAYMENT_COLUMNS, ids):
        one = BookedPayment(*paid)
        payments[one.credit_id][one.id] = one
    for chunk in _chunks(ids):
        for head in await session.execute(
            sa.select(headers_t).where(headers_t.c.credit_id.in_(chunk))
        ):
            if head.schedule_no == schedule_of[head.credit_id]:
                headers[head.credit_id] = head
    for line in await _rows_of(session, rows_t, _ROW_COLUMNS, ids):
        if line[2] == schedule_of[line[1]]:
            installments[line[1]][line[3]] = line
    for part in await _rows_of(session, allocations_t, _ALLOCATION_COLUMNS, ids):
        allocations[part[0]].append(part[1:])
    for back in await _rows_of(session, refunds_t, _REFUND_COLUMNS, ids):
        credit_id, refund_id, schedule_no, at, on, amount = back
        if schedule_no == schedule_of[credit_id]:
            refunds[credit_id].append(RefundEvent(id=refund_id, at=at, on=on, amount=amount))
    write_offs: dict[uuid.UUID, list[WriteOffEvent]] = {i: [] for i in ids}
    for w in await _rows_of(session, write_offs_t, _WRITE_OFF_COLUMNS, ids):
        credit_id, write_off_id, schedule_no, status, at, on, amount, number = w
        if schedule_no == schedule_of[credit_id] and status == PaymentStatus.BOOKED:
            write_offs[credit_id].append(
                WriteOffEvent(id=write_off_id, at=at, on=on, amount=amount, installment=number)
            )

    books: dict[uuid.UUID, _Book] = {}
    for credit_id in ids:
        header = headers.get(credit_id)
        row = credit_rows[credit_id]
        stored: dict[tuple[uuid.UUID, int, str], tuple[uuid.UUID, int]] = {}
        duplicates: list[uuid.UUID] = []
        other: dict[uuid.UUID, int] = defaultdict(int)
        other_components: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
        in_force = row["schedule_no"]
        for row_id, payment_id, schedule_no, number, component, amount in allocations[credit_id]:
            if schedule_no != in_force:
                other[payment_id] += amount
                parts = other_components[payment_id]
                parts[component] = parts.get(component, 0) + amount
                continue
            key = (payment_id, number, component)
            if key in stored:
                duplicates.append(row_id)
            else:
                stored[key] = (row_id, amount)
        own = payments[credit_id]
        book = _Book(
            credit=_CreditState(row),
            original=row,
            header=header,
            stored_installments=installments[credit_id],
            stored_allocations=stored,
            duplicates=duplicates,
            other_allocated=dict(other),
            other_components=dict(other_components),
            payments=own,
            by_key={p.idempotency_key: p for p in own.values()},
            refunds=refunds[credit_id],
            write_offs=write_offs[credit_id],
            carried=ledger.carried_chunks(cast(CreditSchedule, header)) if header else [],
        )
        book.lines = {key: amount for key, (_, amount) in stored.items()}
        book.stored_amounts = {
            p.id: (p.allocated_amount, p.held_amount, p.refunded_amount) for p in own.values()
        }
        book.prepayments = credit_id in prepaying or any(
            p.prepayment
            for p in own.values()
            if p.status == PaymentStatus.BOOKED and p.schedule_no == row["schedule_no"]
        )
        books[credit_id] = book
    return books


async def _load_fundings(session: AsyncSession, books: dict[uuid.UUID, _Book]) -> None:
    """The fundings of the batch's credits and, for the funded ones, the distribution
    lines written (what ``distributions.sync_credit`` reads)."""
    from domain.investors.distributions import FundingShare
    from domain.investors.models import CreditFunding, DistributionLine

    fundings_t = table_of(CreditFunding)
    lines_t = table_of(DistributionLine)
    found: dict[uuid.UUID, list[FundingShare]] = defaultdict(list)
    for chunk in _chunks(sorted(books)):
        rows = await session.execute(
            sa.select(
                fundings_t.c.credit_id,
                fundings_t.c.id,
                fundings_t.c.investor_id,
                fundings_t.c.share_ppm,
                fundings_t.c.servicing_fee_ppm,
                fundings_t.c.effective_on,
                fundings_t.c.amount,
                fundings_t.c.principal_repaid_before,
            )
            .where(fundings_t.c.credit_id.in_(chunk))
            .order_by(fundings_t.c.credit_id, fundings_t.c.id)
        )
        for row in rows:
            found[row[0]].append(FundingShare(*row[1:]))
    if not found:
        return
    funded = sorted(found)
    existing: dict[uuid.UUID, dict[tuple[uuid.UUID, Any], int]] = defaultdict(dict)
    value_dates: dict[uuid.UUID, dict[uuid.UUID, date]] = defaultdict(dict)
    for chunk in _chunks(funded):
        written = await session.execute(
            sa.select(
                lines_t.c.credit_id,
                lines_t.c.payment_id,
                lines_t.c.party,
                lines_t.c.funding_id,
                lines_t.c.component,
                sa.func.min(lines_t.c.value_date),
                sa.func.sum(lines_t.c.amount),
            )
            .where(lines_t.c.credit_id.in_(chunk))
            .group_by(
                lines_t.c.credit_id,
                lines_t.c.payment_id,
                lines_t.c.party,
                lines_t.c.funding_id,
                lines_t.c.component,
            )
        )
        for credit_id, payment_id, party, funding_id, component, day, amount in written:
            existing[credit_id][(payment_id, (party, funding_id, component))] = int(amount)
            value_dates[credit_id][payment_id] = day
    for credit_id in funded:
        books[credit_id].funding = _Funding(
            fundings=found[credit_id],
            existing=existing[credit_id],
            value_dates=value_dates[credit_id],
        )


# --- the simulation ------------------------------------------------------------------------
@dataclass
class _Run:
    session: AsyncSession
    principal: Principal
    policy: CreditPolicy
    books: dict[uuid.UUID, _Book]
    uf_values: dict[date, Decimal]
    events: list[dict[str, Any]] = field(default_factory=list)
    new_payments: list[BookedPayment] = field(default_factory=list)
    distribution_rows: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, credit: _CreditState, topic: str, payload: dict[str, Any]) -> None:
        """``records.emit``, as a row for one INSERT at the end."""
        self.events.append(
            {
                "id": uuid7(),
                "topic": topic,
                "key": wire.global_id("Credit", credit.id),
                "payload": records.event_body(credit, payload),
                "audience": outbox.audience_of([credit.partner_id]),
                "created_at": utcnow(),
                "position": None,
                "relayed_at": None,
            }
        )

    def book_one(self, request: PaymentRequest) -> BatchOutcome:
        """``payments.register_payment`` for one request, on the loaded state."""
        key = request.idempotency_key
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValidationFailed.on(
                "idempotencyKey", "1 to 100 visible ASCII characters, no spaces"
            )
        if pan.contains_pan(key):
            raise ValidationFailed.on("idempotencyKey", pan.MESSAGE)
        book = self.books.get(request.credit_id)
        if book is None:
            raise NotFound("Credit", request.credit_id)
        credit = book.credit
        ensure_visible(self.principal, cast(Credit, credit))
        p = Problems()
        money = _parse_payment_amount(request.amount, request.currency, p)
        existing = book.by_key.get(key)
        if existing is not None:
            p.raise_if_any()
            if money is not None and (existing.amount, existing.currency) == (
                money.amount,
                money.currency,
            ):
                return BatchOutcome(request, existing, repeated=True)
            raise Conflict(
                f"idempotency key {key!r} was already used on this credit for "
                f"another amount ({Money(existing.amount, existing.currency)})"
            )
        records.check_version(cast(Credit, credit), request.expected_version)
        at = _parse_paid_at(request.paid_at, p)
        text = _clean_text(request.reference, "reference", MAX_REFERENCE, p)
        option = None
        if request.prepayment is not None:
            if request.prepayment not in {o.value for o in Prepayment}:
                allowed = ", ".join(o.value for o in Prepayment)
                p.add("prepayment", f"{request.prepayment!r} is not one of {allowed}")
            else:
                option = Prepayment(request.prepayment)
        if credit.status in _REFUSED:
            p.add("creditId", _REFUSED[CreditStatus(credit.status)])
        converts = money is not None and (credit.currency, money.currency) == ("CLF", "CLP")
        if money is not None and money.currency != credit.currency and not converts:
            accepted = "CLF or CLP" if credit.currency == "CLF" else credit.currency
            p.add("currency", f"this credit is in {credit.currency}; pay in {accepted}")
        p.raise_if_any()
        assert money is not None and at is not None
        paid_on = business_date(at, credit.timezone)
        header = book.header
        if header is None:
            raise NotFound("CreditSchedule", f"{credit.id}#{credit.schedule_no}")
        if paid_on < header.start_date:
            what = "disbursed" if credit.schedule_no == 1 else "restructured"
            raise ValidationFailed.on(
                "paidAt", f"is before the credit was {what}, on {header.start_date.isoformat()}"
            )
        uf_value: Decimal | None = None
        credit_amount = money.amount
        if money.currency != credit.currency:
            uf_value = self.uf_values.get(paid_on)
            if uf_value is None:
                raise ValidationFailed.on(
                    "paidAt",
                    f"there is no UF value for {paid_on.isoformat()}; load the UF values for "
                    "that day",
                )
            credit_amount = uf.clp_to_uf(money, uf_value).amount
            if credit_amount <= 0:
                raise ValidationFailed.on("amount", "is less than the smallest amount of UF")
        latest = book.latest_booked_at()
        now = utcnow()
        payment = BookedPayment(
            id=uuid7(),
            credit_id=credit.id,
            schedule_no=credit.schedule_no,
            amount=money.amount,
            currency=money.currency,
            credit_amount=credit_amount,
            uf_value=uf_value,
            paid_at=at,
            paid_on=paid_on,
            reference=text,
            idempotency_key=key,
            prepayment=option,
            status=PaymentStatus.BOOKED,
            allocated_amount=0,
            held_amount=0,
            refunded_amount=0,
            reversed_at=None,
            reversal_reason=None,
            created_by=self.principal.subject,
            created_at=now,
        )
        booked = book.booked_current()
        # The replay of ``ledger.replay``, on the loaded rows: it may refuse (a history that
        # cannot be replayed), so nothing of the book changes before it succeeded.
        if book.plan is None:
            if book.prepayments or not book.stored_installments:
                _, book.plan = records.build_plan(cast(CreditSchedule, header), credit.currency)
            else:
                book.plan = _plan_from_rows(header, book.stored_installments.values())
        result = ledger.allocate_loaded(
            cast(Credit, credit),
            cast(CreditSchedule, header),
            [_event(b) for b in booked] + [_event(payment)],
            book.refunds,
            as_of=max(today(credit.timezone), paid_on),
            policy=self.policy,
            plan=book.plan,
            write_offs=book.write_offs,
        )
        # The payment is booked: the credit moves on.
        book.payments[payment.id] = payment
        book.by_key[key] = payment
        book.dirty = True
        self.new_payments.append(payment)
        credit.version += 1
        credit.updated_at = now
        wanted = {
            (line.payment_id, line.installment, line.component.value): line.amount
            for line in result.lines
        }
        changed = wanted != book.lines or (book.first_replay and bool(book.duplicates))
        book.first_replay = False
        book.lines = wanted
        book.result = result
        allocated: dict[uuid.UUID, int] = defaultdict(int)
        for (pid, _, _), amount in wanted.items():
            allocated[pid] += amount
        for pid in {b.id for b in booked} | {payment.id} | {c.payment_id for c in book.carried}:
            one = book.payments.get(pid)
            if one is None:
                continue
            total = allocated.get(pid, 0) + book.other_allocated.get(pid, 0)
            held = result.held_by_payment.get(pid, 0)
            one.allocated_amount = total
            one.held_amount = held
            one.refunded_amount = one.credit_amount - total - held
        credit.credit_balance = result.credit_balance
        credit.outstanding_principal = result.outstanding_principal
        change = ledger.apply_status(credit, result, self.policy)
        if change is not None:
            audit.record(
                self.session,
                principal=self.principal,
                action=change.topic,
                entity_type="Credit",
                entity_id=credit.id,
                before=change.before,
                after=records.snapshot(credit),
            )
            self.emit(credit, change.topic, ledger.status_payload(credit, result, change))
        if changed and book.funding is not None:
            self._distribute(book)
        audit.record(
            self.session,
            principal=self.principal,
            action="payments.received",
            entity_type="Payment",
            entity_id=payment.id,
            after=_snapshot(payment),
        )
        self.emit(
            credit,
            "payments.received",
            _received_payload(
                payment,
                credit,
                backdated=latest is not None and ensure_utc(latest) > at,
                days_past_due=result.days_past_due,
            ),
        )
        return BatchOutcome(request, payment)

    def _distribute(self, book: _Book) -> None:
        """``distributions.sync_credit`` on the step's allocations."""
        from domain.investors.distributions import _FROM_ALLOCATION, lines_to_append

        funding = book.funding
        assert funding is not None
        credit = book.credit
        booked = sorted(
            (p for p in book.payments.values() if p.status == PaymentStatus.BOOKED),
            key=lambda p: (p.paid_at, p.id),
        )
        paid_on = {p.id: p.paid_on for p in booked}
        booking_order = [p.id for p in sorted(booked, key=lambda p: (p.created_at, p.id))]
        sums: dict[uuid.UUID, dict[Any, int]] = defaultdict(dict)
        for pid, components in book.other_components.items():
            if pid in paid_on:
                for component, amount in components.items():
                    if component in _FROM_ALLOCATION:
                        sums[pid][_FROM_ALLOCATION[component]] = amount
        for (pid, _, component), amount in book.lines.items():
            if pid in paid_on and component in _FROM_ALLOCATION:
                target = sums[pid]
                name = _FROM_ALLOCATION[component]
                target[name] = target.get(name, 0) + amount
        rows = lines_to_append(
            credit_id=credit.id,
            currency=credit.currency,
            fundings=funding.fundings,
            paid_on=paid_on,
            booking_order=booking_order,
            sums=sums,
            existing=funding.existing,
            value_dates=funding.value_dates,
            business_today=today(credit.timezone),
            now=utcnow(),
        )
        for row in rows:
            full_key = (row["payment_id"], (row["party"], row["funding_id"], row["component"]))
            funding.existing[full_key] = funding.existing.get(full_key, 0) + row["amount"]
        self.distribution_rows.extend(rows)


# --- writing -------------------------------------------------------------------------------
def _installment_changes(
    book: _Book,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[uuid.UUID]]:
    """(updates, inserts, deletes) of the installment rows of the schedule in force."""
    result = book.result
    assert result is not None
    credit = book.credit
    stored = book.stored_installments
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    seen: set[int] = set()
    for state in result.installments:
        seen.add(state.number)
        row = stored.get(state.number)
        if row is not None and _STORED_VALUES(row) == _STATE_VALUES(state):
            continue
        values = records.installment_values(credit.id, credit.schedule_no, state)
        if row is None:
            inserts.append({"id": uuid7(), **values})
        else:
            updates.append({"b_id": row[0], **{f"b_{k}": values[k] for k in _INSTALLMENT_FIELDS}})
    deletes = [row[0] for number, row in stored.items() if number not in seen]
    return updates, inserts, deletes


async def _write(run: _Run) -> None:
    session = run.session
    payments_t = table_of(Payment)
    allocations_t = table_of(Allocation)
    rows_t = table_of(Installment)
    credits_t = table_of(Credit)
    dirty = [b for b in run.books.values() if b.dirty]

    alloc_deletes: list[uuid.UUID] = []
    alloc_updates: list[dict[str, Any]] = []
    alloc_inserts: list[dict[str, Any]] = []
    row_updates: list[dict[str, Any]] = []
    row_inserts: list[dict[str, Any]] = []
    row_deletes: list[uuid.UUID] = []
    payment_updates: list[dict[str, Any]] = []
    credit_updates: list[dict[str, Any]] = []
    new_ids = {p.id for p in run.new_payments}
    for book in dirty:
        credit = book.credit
        stored = book.stored_allocations
        alloc_deletes.extend(book.duplicates)
        alloc_deletes.extend(row_id for key, (row_id, _) in stored.items() if key not in book.lines)
        for key, amount in book.lines.items():
            found = stored.get(key)
            if found is None:
                alloc_inserts.append(
                    {
                        "id": uuid7(),
                        "credit_id": credit.id,
                        "payment_id": key[0],
                        "schedule_no": credit.schedule_no,
                        "installment_number": key[1],
                        "component": key[2],
                        "amount": amount,
                    }
                )
            elif found[1] != amount:
                alloc_updates.append({"b_id": found[0], "b_amount": amount})
        updates, inserts, deletes = _installment_changes(book)
        row_updates.extend(updates)
        row_inserts.extend(inserts)
        row_deletes.extend(deletes)
        for pid, amounts in book.stored_amounts.items():
            one = book.payments[pid]
            now = (one.allocated_amount, one.held_amount, one.refunded_amount)
            if pid not in new_ids and now != amounts:
                payment_updates.append(
                    {
                        "b_id": pid,
                        "b_allocated": now[0],
                        "b_held": now[1],
                        "b_refunded": now[2],
                    }
                )
        credit_updates.append(
            {"b_id": credit.id, **{f"b_{k}": getattr(credit, k) for k in _CREDIT_FIELDS}}
        )

    if run.new_payments:
        await session.execute(sa.insert(payments_t), [p.row() for p in run.new_payments])
    for chunk in _chunks(alloc_deletes):
        await session.execute(sa.delete(allocations_t).where(allocations_t.c.id.in_(chunk)))
    if alloc_updates:
        await session.execute(
            sa.update(allocations_t)
            .where(allocations_t.c.id == sa.bindparam("b_id"))
            .values(amount=sa.bindparam("b_amount")),
            alloc_updates,
            execution_options={"synchronize_session": False},
        )
    if alloc_inserts:
        await session.execute(sa.insert(allocations_t), alloc_inserts)
    for chunk in _chunks(row_deletes):
        await session.execute(sa.delete(rows_t).where(rows_t.c.id.in_(chunk)))
    if row_updates:
        await session.execute(
            sa.update(rows_t)
            .where(rows_t.c.id == sa.bindparam("b_id"))
            .values({k: sa.bindparam(f"b_{k}") for k in _INSTALLMENT_FIELDS}),
            row_updates,
            execution_options={"synchronize_session": False},
        )
    if row_inserts:
        await session.execute(sa.insert(rows_t), row_inserts)
    if payment_updates:
        await session.execute(
            sa.update(payments_t)
            .where(payments_t.c.id == sa.bindparam("b_id"))
            .values(
                allocated_amount=sa.bindparam("b_allocated"),
                held_amount=sa.bindparam("b_held"),
                refunded_amount=sa.bindparam("b_refunded"),
            ),
            payment_updates,
            execution_options={"synchronize_session": False},
        )
    if credit_updates:
        await session.execute(
            sa.update(credits_t)
            .where(credits_t.c.id == sa.bindparam("b_id"))
            .values({k: sa.bindparam(f"b_{k}") for k in _CREDIT_FIELDS}),
            credit_updates,
            execution_options={"synchronize_session": False},
        )
    for book in dirty:
        if book.write_offs and book.result is not None:
            await ledger.persist_write_offs(session, cast(Credit, book.credit), book.result)
    if run.distribution_rows:
        from domain.investors.models import DistributionLine

        await session.execute(sa.insert(table_of(DistributionLine)), run.distribution_rows)
    if run.events:
        await session.execute(sa.insert(table_of(outbox.OutboxEvent)), run.events)
        session.info[outbox.ADDED_FLAG] = True
    _expire(session, {b.credit.id for b in dirty})


def _expire(session: AsyncSession, credit_ids: set[uuid.UUID]) -> None:
    """ORM objects the session holds of rows written here are stale: expire them."""
    if not credit_ids:
        return
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Credit):
            stale = obj.id in credit_ids
        elif isinstance(obj, Payment | Installment | Allocation | CreditSchedule):
            stale = obj.credit_id in credit_ids
        else:
            stale = False
        if stale:
            session.expire(obj)


# --- the service ---------------------------------------------------------------------------
async def register_payments(
    session: AsyncSession,
    *,
    principal: Principal,
    requests: Sequence[PaymentRequest],
    policy: CreditPolicy | None = None,
) -> list[BatchOutcome]:
    """Book ``requests`` in order, as ``payments.register_payment`` would one by one, in a
    few statements; one :class:`BatchOutcome` per request, in the same order. A request
    refused by the checks (or whose replay fails) gets its error and writes nothing; the
    others are booked. ``Forbidden`` (no ``payments:write``) refuses the whole batch."""
    ensure_can_pay(principal)
    policy = policy or get_policy()
    if not requests:
        return []
    await session.flush()
    credit_ids = sorted({r.credit_id for r in requests if isinstance(r.credit_id, uuid.UUID)})
    prepaying = {r.credit_id for r in requests if r.prepayment is not None}
    books = await _load(session, credit_ids, prepaying)
    if books:
        days = {
            business_date(ensure_utc(r.paid_at), books[r.credit_id].credit.timezone)
            for r in requests
            if r.credit_id in books
            and books[r.credit_id].credit.currency == "CLF"
            and isinstance(r.paid_at, datetime)
            and r.paid_at.tzinfo is not None
        }
        uf_values = await uf.get_uf_values(session, days) if days else {}
        await _load_fundings(session, books)
    else:
        uf_values = {}
    run = _Run(
        session=session, principal=principal, policy=policy, books=books, uf_values=uf_values
    )
    outcomes: list[BatchOutcome] = []
    for request in requests:
        try:
            outcomes.append(run.book_one(request))
        except DomainError as exc:
            outcomes.append(BatchOutcome(request, error=exc))
    await _write(run)
    return outcomes

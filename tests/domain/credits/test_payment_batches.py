"""The batched payments (``payment_batches.register_payments``) against the one-by-one path.

Each example books the same requests twice on the same committed credits, each time in a
transaction that is rolled back after its state was read: once through
``payments.register_payment`` one request at a time (each in a savepoint, so a refused one
leaves nothing, as a batch item does), once through ``register_payments``. Every table the
booking writes (credits, installments, payments, allocations, distribution lines), every
outbox event in order and every audit record in order must be the same, ids and clock
readings aside; so must each request's outcome (its payment, or the error and its message).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import get_database, transaction
from domain.credits import payment_batches, payments, service, uf
from domain.credits.models import Allocation, Credit, Installment, Payment
from domain.credits.payment_batches import PaymentRequest
from domain.investors import service as investors
from domain.investors.models import DistributionLine
from domain.investors.rules import BankAccount
from domain.shared import audit
from domain.shared.errors import DomainError, Forbidden
from domain.shared.event_schemas import global_id
from domain.shared.money import Money
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import SYSTEM, Principal, Role

from .conftest import at_noon, local_today

DAYS = 130
_TIMES = {"updated_at", "closed_at", "created_at", "id"}


async def _disburse(credit: Credit, days_ago: int) -> Credit:
    async with transaction() as session:
        return await service.disburse_credit(
            session,
            principal=SYSTEM,
            credit_id=credit.id,
            expected_version=credit.version,
            disbursement_date=local_today() - timedelta(days=days_ago),
        )


@pytest.fixture
async def credits(agent, admin, make_credit) -> list[Credit]:
    """Four credits of the lender: CLP funded 60 % by an investor (payments already booked
    on it), CLF (UF values loaded, pesos convert), a small one close to paid off, and one
    allocating component first."""
    day = local_today()
    csv_text = "".join(
        f"{(day - timedelta(days=n)).isoformat()},{39000 + n}.50\n" for n in range(DAYS + 1)
    )
    async with transaction() as session:
        await uf.load_uf_csv(session, principal=admin, csv_text=csv_text)
        investor = await investors.create_investor(
            session,
            principal=SYSTEM,
            kind="COMPANY",
            legal_name="Inversiones Andes SpA",
            national_id_type="CL_RUT",
            national_id="76086428-5",
            bank_account=BankAccount(bank_code="012", account_type="VISTA", number="00123456"),
            email="tesoreria@andes.cl",
        )
        await investors.change_kyc_status(
            session, principal=SYSTEM, investor_id=investor.id, status="VERIFIED"
        )
    funded = await make_credit(disbursed_days_ago=None, amount="1200000")
    async with transaction() as session:
        await investors.fund_credit(
            session,
            principal=SYSTEM,
            credit_id=funded.id,
            investor_id=investor.id,
            share=Decimal("0.6"),
            servicing_fee_rate=Decimal("0.01"),
        )
    funded = await _disburse(funded, DAYS)
    in_uf = await make_credit(disbursed_days_ago=DAYS, currency="CLF", amount="300", term_months=24)
    small = await make_credit(disbursed_days_ago=DAYS, amount="150000", term_months=6)
    by_component = await make_credit(
        disbursed_days_ago=DAYS, amount="800000", allocation_mode="COMPONENT_FIRST"
    )
    for key, days_ago, amount in (("h1", 95, 110_000), ("h2", 60, 50_000), ("h3", 20, 90_000)):
        async with transaction() as session:
            await payments.register_payment(
                session,
                principal=agent,
                credit_id=funded.id,
                amount=Money(amount, "CLP"),
                paid_at=at_noon(day - timedelta(days=days_ago)),
                reference=f"history {key}",
                idempotency_key=key,
            )
    async with transaction() as session:  # a reversed payment: its key stays taken
        booked = await session.execute(
            sa.select(Payment).where(
                Payment.credit_id == funded.id,  # type: ignore[arg-type]
                Payment.idempotency_key == "h3",  # type: ignore[arg-type]
            )
        )
        await payments.reverse_payment(
            session, principal=agent, payment_id=booked.scalar_one().id, reason="bounced"
        )
    return [funded, in_uf, small, by_component]


def _request(credits: list[Credit], spec: tuple[Any, ...]) -> PaymentRequest:
    index, days_ago, minute, amount, currency, key, option = spec
    credit = credits[index]
    if currency == "OWN":
        money = Money(amount if credit.currency == "CLP" else amount // 25, credit.currency)
    else:
        money = Money(amount, currency)
    return PaymentRequest(
        credit_id=credit.id,
        amount=money,
        paid_at=at_noon(local_today() - timedelta(days=days_ago)) + timedelta(minutes=minute),
        reference=f"line {key}",
        idempotency_key=key,
        prepayment=option,
    )


requests = st.lists(
    st.tuples(
        st.integers(0, 3),  # credit
        st.integers(0, DAYS + 3),  # days ago (a few before the disbursement: refused)
        st.integers(0, 50),  # minute
        st.sampled_from([0, 1, 7_000, 45_000, 95_000, 110_000, 260_000, 900_000]),
        st.sampled_from(["OWN", "OWN", "OWN", "CLP", "USD"]),  # CLP on the UF credit converts
        st.sampled_from(["k1", "k2", "k3", "k4", "k5", "k6", "h2", "h3"]),  # repeats, history
        st.sampled_from([None, None, None, None, "SHORTER_TERM", "SMALLER_INSTALLMENT"]),
    ),
    min_size=1,
    max_size=9,
)


def _normalise(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {k: _normalise(v, names) for k, v in value.items() if k not in _TIMES}
    if isinstance(value, list | tuple):
        return [_normalise(v, names) for v in value]
    return value


async def _state(session: Any, credit_ids: list[uuid.UUID], first_event: Any) -> dict[str, Any]:
    """Everything a booking writes, for these credits, with ids and times replaced."""
    pays = (
        await session.execute(
            sa.select(Payment.__table__).where(Payment.__table__.c.credit_id.in_(credit_ids))  # type: ignore[attr-defined]
        )
    ).mappings()
    names: dict[Any, str] = {}
    payment_rows = []
    for row in pays:
        label = f"payment {credit_ids.index(row['credit_id'])}/{row['idempotency_key']}"
        names[row["id"]] = label
        names[str(row["id"])] = label
        names[global_id("Payment", row["id"])] = label
        payment_rows.append(row)

    def rows_of(model: Any, drop: set[str] = _TIMES) -> list[Any]:
        return sorted(
            (
                tuple(
                    (k, names.get(v, v) if isinstance(v, uuid.UUID) else v)
                    for k, v in row.items()
                    if k not in drop
                )
                for row in model
            ),
            key=repr,
        )

    out: dict[str, Any] = {"payments": rows_of(payment_rows)}
    for model in (Credit, Installment, Allocation, DistributionLine):
        table = model.__table__  # type: ignore[attr-defined]
        column = table.c.id if model is Credit else table.c.credit_id
        found = (await session.execute(sa.select(table).where(column.in_(credit_ids)))).mappings()
        out[table.name] = rows_of(list(found))
    events = OutboxEvent.__table__  # type: ignore[attr-defined]
    out["events"] = [
        (row.topic, row.key, row.audience, _normalise(row.payload, names))
        for row in await session.execute(
            sa.select(events).where(events.c.id > first_event).order_by(events.c.id)
        )
    ]
    out["audit"] = [
        (
            r.action,
            r.entity_type,
            names.get(r.entity_id, r.entity_id),
            r.actor,
            _normalise(r.before, names),
            _normalise(r.after, names),
        )
        for r in session.info.get("trama.audit.pending", [])
    ]
    out["_names"] = names
    return out


def _outcome(result: Any, names: dict[Any, str]) -> Any:
    if isinstance(result, DomainError):
        return (type(result).__name__, str(result))
    return names[result.id]


async def _one_by_one(actor, specs, credit_ids, mark):
    async with get_database().sessionmaker() as session:
        await session.connection(execution_options={"trama_write": True})
        results: list[Any] = []
        for request in specs:
            try:
                async with session.begin_nested():
                    results.append(
                        await payments.register_payment(
                            session,
                            principal=actor,
                            credit_id=request.credit_id,
                            amount=request.amount,
                            paid_at=request.paid_at,
                            reference=request.reference,
                            idempotency_key=request.idempotency_key,
                            prepayment=request.prepayment,
                        )
                    )
            except DomainError as exc:
                results.append(exc)
        await session.flush()
        state = await _state(session, credit_ids, mark)
        audit.discard_pending(session)
        await session.rollback()
    return state, [_outcome(r, state["_names"]) for r in results]


async def _batched(actor, specs, credit_ids, mark):
    async with get_database().sessionmaker() as session:
        await session.connection(execution_options={"trama_write": True})
        outcomes = await payment_batches.register_payments(session, principal=actor, requests=specs)
        await session.flush()
        state = await _state(session, credit_ids, mark)
        audit.discard_pending(session)
        await session.rollback()
    results = [o.error if o.error is not None else o.payment for o in outcomes]
    return state, [_outcome(r, state["_names"]) for r in results]


async def _last_event() -> Any:
    async with get_database().sessionmaker() as session:
        events = OutboxEvent.__table__  # type: ignore[attr-defined]
        last = sa.select(events.c.id).order_by(events.c.id.desc()).limit(1)
        return (await session.execute(last)).scalar()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=requests)
async def test_property_a_batch_ends_where_one_by_one_ends(agent, credits, specs):
    batch = [_request(credits, spec) for spec in specs]
    ids = [c.id for c in credits]
    mark = await _last_event()
    left, left_outcomes = await _one_by_one(agent, batch, ids, mark)
    right, right_outcomes = await _batched(agent, batch, ids, mark)
    assert left_outcomes == right_outcomes
    for name in ("payments", "credits", "credit_installments", "credit_allocations"):
        assert left[name] == right[name], name
    assert left["distribution_lines"] == right["distribution_lines"]
    assert left["events"] == right["events"]
    assert left["audit"] == right["audit"]


async def test_a_batch_books_once_and_reports_each_refusal(agent, credits):
    funded, in_uf, small, _ = credits
    day = local_today()
    batch = [
        PaymentRequest(funded.id, Money(100_000, "CLP"), at_noon(day), "bank line 1", "line-1"),
        PaymentRequest(funded.id, Money(100_000, "CLP"), at_noon(day), "bank line 1", "line-1"),
        PaymentRequest(funded.id, Money(99_000, "CLP"), at_noon(day), "bank line 1", "line-1"),
        PaymentRequest(in_uf.id, Money(1_000_000, "CLP"), at_noon(day), "pesos", "line-2"),
        PaymentRequest(small.id, Money(5, "USD"), at_noon(day), "dollars", "line-3"),
        PaymentRequest(uuid.uuid4(), Money(5, "CLP"), at_noon(day), "nobody", "line-4"),
    ]
    async with transaction() as session:
        outcomes = await payment_batches.register_payments(session, principal=agent, requests=batch)
    first, again, other, pesos, dollars, unknown = outcomes
    assert first.booked and again.repeated and again.payment is not None
    assert again.payment.id == first.payment.id  # type: ignore[union-attr]
    assert type(other.error).__name__ == "Conflict"
    assert pesos.booked and pesos.payment is not None
    assert pesos.payment.uf_value == Decimal(f"{39000}.50")
    assert type(dollars.error).__name__ == "ValidationFailed"
    assert type(unknown.error).__name__ == "NotFound"
    # booked once: a second batch with the same keys books nothing more
    async with transaction() as session:
        repeat = await payment_batches.register_payments(
            session, principal=agent, requests=batch[:1] + batch[3:4]
        )
    assert all(o.repeated for o in repeat)
    async with get_database().sessionmaker() as session:
        count = (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(Payment)
                .where(Payment.idempotency_key.in_(["line-1", "line-2"]))  # type: ignore[attr-defined]
            )
        ).scalar_one()
    assert count == 2


async def test_a_batch_needs_the_payments_scope(credits, lender):
    reader = Principal(
        subject="test:reader", roles=frozenset({Role.AGENT}), scopes=frozenset(), partner_id=lender
    )
    request = PaymentRequest(
        credits[0].id, Money(1, "CLP"), at_noon(local_today()), "line", "line-x"
    )
    async with transaction() as session:
        with pytest.raises(Forbidden):
            await payment_batches.register_payments(session, principal=reader, requests=[request])

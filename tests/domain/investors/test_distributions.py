"""Distributions: each payment's interest, late interest and principal split pro rata,
minus the servicing fee, exactly; lines append-only; the ledger nets after reversals and
backdated payments (property-based)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import Database, read_session, transaction
from domain.credits.models import Allocation, Credit, Installment, Payment
from domain.investors import distributions
from domain.investors.distributions import (
    FundingShare,
    round_half_even,
)
from domain.investors.models import CreditFunding, DistributionLine
from domain.shared.errors import ValidationFailed
from domain.shared.models import table_of
from domain.shared.money import Money, allocate_int
from domain.shared.time import utcnow
from tests.domain.investors.conftest import (
    World,
    fund,
    make_credit,
    make_investor,
    pay,
    reverse,
)

SHARED = ("INTEREST", "LATE_INTEREST", "PRINCIPAL")


@dataclass
class Ledger:
    booked_total: int
    allocations: dict[uuid.UUID, dict[str, int]]
    booked: set[uuid.UUID]
    credit_balance: int
    #: (payment, party, funding, component) -> sum of lines
    figures: dict[tuple[uuid.UUID, str, uuid.UUID | None, str], int]
    line_rows: list[tuple[uuid.UUID, int, str]]
    fundings: list[FundingShare]


async def load(credit_id: uuid.UUID) -> Ledger:
    async with read_session() as session:
        credit = await session.get(Credit, credit_id)
        assert credit is not None
        payments = (
            await session.execute(
                sa.select(Payment.id, Payment.status, Payment.credit_amount).where(  # type: ignore[call-overload]
                    Payment.credit_id == credit_id  # type: ignore[arg-type]
                )
            )
        ).all()
        alloc: dict[uuid.UUID, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        a = table_of(Allocation)
        for payment_id, component, amount in (
            await session.execute(
                sa.select(a.c.payment_id, a.c.component, a.c.amount).where(
                    a.c.credit_id == credit_id
                )
            )
        ).all():
            alloc[payment_id][component] += amount
        t = table_of(DistributionLine)
        rows = (
            await session.execute(
                sa.select(
                    t.c.id, t.c.payment_id, t.c.party, t.c.funding_id, t.c.component, t.c.amount
                )
                .where(t.c.credit_id == credit_id)
                .order_by(t.c.id)
            )
        ).all()
        f = table_of(CreditFunding)
        fundings = [
            FundingShare(*r)
            for r in (
                await session.execute(
                    sa.select(
                        f.c.id,
                        f.c.investor_id,
                        f.c.share_ppm,
                        f.c.servicing_fee_ppm,
                        f.c.effective_on,
                        f.c.amount,
                        f.c.principal_repaid_before,
                    )
                    .where(f.c.credit_id == credit_id)
                    .order_by(f.c.id)
                )
            ).all()
        ]
    figures: dict[tuple[uuid.UUID, str, uuid.UUID | None, str], int] = defaultdict(int)
    for _, payment_id, party, funding_id, component, amount in rows:
        figures[(payment_id, party, funding_id, component)] += amount
    booked = {p.id for p in payments if p.status == "BOOKED"}
    return Ledger(
        booked_total=sum(p.credit_amount for p in payments if p.status == "BOOKED"),
        allocations={k: dict(v) for k, v in alloc.items()},
        booked=booked,
        credit_balance=credit.credit_balance,
        figures=dict(figures),
        line_rows=[(r.id, r.amount, r.component) for r in rows],
        fundings=fundings,
    )


def check_ledger(ledger: Ledger) -> dict[str, int]:
    """Nothing created or lost; returns the buckets for the caller to look at."""
    allocated = sum(sum(c.values()) for c in ledger.allocations.values())
    # payments = allocations + credit balance (no refunds in these tests)
    assert ledger.booked_total == allocated + ledger.credit_balance
    investor_net = fees = lender = charges = 0
    for payment_id in ledger.allocations.keys() | {k[0] for k in ledger.figures}:
        components = ledger.allocations.get(payment_id, {})
        mine = {k: v for k, v in ledger.figures.items() if k[0] == payment_id}
        if payment_id not in ledger.booked:
            assert components == {} or sum(components.values()) == 0
            assert all(v == 0 for v in mine.values()), "a reversed payment still owes"
            continue
        shared = sum(components.get(c, 0) for c in SHARED)
        p_fees = -sum(v for k, v in mine.items() if k[3] == "SERVICING_FEE")
        p_investors = sum(v for k, v in mine.items() if k[1] == "INVESTOR")
        p_lender = sum(v for k, v in mine.items() if k[1] == "LENDER")
        # every funding here is from the start: every booked payment is shared
        assert p_investors + p_fees + p_lender == shared
        investor_net += p_investors
        fees += p_fees
        lender += p_lender
        charges += components.get("CHARGES", 0)
        # pro rata: within two units of the exact share on each payment
        for component in SHARED:
            total = components.get(component, 0)
            parts = [
                mine.get((payment_id, "INVESTOR", f.funding_id, component), 0)
                for f in ledger.fundings
            ]
            for f, part in zip(ledger.fundings, parts, strict=True):
                assert abs(part - Fraction(total * f.share_ppm, 1_000_000)) < 2
            assert sum(parts) + mine.get((payment_id, "LENDER", None, component), 0) == total
    # over the credit's life, every party has exactly the split of the whole: of interest
    # and late interest by largest remainder; of principal, each investor its share of
    # what was repaid since it funded rounded down, never past what it put in
    if ledger.fundings:
        repaid = sum(ledger.allocations.get(p, {}).get("PRINCIPAL", 0) for p in ledger.booked)
        for f in ledger.fundings:
            assert f.amount is not None
            got = sum(
                v
                for k, v in ledger.figures.items()
                if k[1] == "INVESTOR" and k[2] == f.funding_id and k[3] == "PRINCIPAL"
            )
            since = max(0, repaid - f.principal_repaid_before)
            assert got == min(f.amount, since * f.share_ppm // 1_000_000)
        weights = [f.share_ppm for f in ledger.fundings]
        weights.append(1_000_000 - sum(weights))
        for component in ("INTEREST", "LATE_INTEREST"):
            whole = sum(ledger.allocations.get(p, {}).get(component, 0) for p in ledger.booked)
            want = allocate_int(whole, weights) if whole else [0] * len(weights)
            got = [
                sum(
                    v
                    for k, v in ledger.figures.items()
                    if k[1] == "INVESTOR" and k[2] == f.funding_id and k[3] == component
                )
                for f in ledger.fundings
            ]
            got.append(
                sum(v for k, v in ledger.figures.items() if k[1] == "LENDER" and k[3] == component)
            )
            assert got == want, component
        for i, f in enumerate(ledger.fundings):
            fees_of = -sum(
                v
                for k, v in ledger.figures.items()
                if k[2] == f.funding_id and k[3] == "SERVICING_FEE"
            )
            expected_fees = 0
            for component in ("INTEREST", "LATE_INTEREST"):
                gross = sum(
                    v
                    for k, v in ledger.figures.items()
                    if k[1] == "INVESTOR" and k[2] == f.funding_id and k[3] == component
                )
                expected_fees += round_half_even(gross * f.servicing_fee_ppm, 1_000_000)
            assert fees_of == expected_fees, i
    assert ledger.booked_total == investor_net + fees + lender + charges + ledger.credit_balance
    return {"investors": investor_net, "fees": fees, "lender": lender, "charges": charges}


async def installment_amount(credit_id: uuid.UUID) -> tuple[int, date]:
    async with read_session() as session:
        row = (
            await session.execute(
                sa.select(Installment.amount, Installment.due_date)  # type: ignore[call-overload]
                .where(Installment.credit_id == credit_id, Installment.number == 1)  # type: ignore[arg-type]
                .order_by(Installment.schedule_no)  # type: ignore[arg-type]
                .limit(1)
            )
        ).one()
    return int(row[0]), row[1]


# --- against the credits service ------------------------------------------------------------
async def test_payment_is_distributed_and_reversal_adjusts(db: Database, world: World) -> None:
    credit = await make_credit(world, disburse=False, monthly_insurance=15_000)
    a, b = await make_investor(), await make_investor()
    fa = await fund(credit.id, a.id, "0.25")
    fb = await fund(credit.id, b.id, "0.333333", fee="0.02")
    from tests.domain.investors.conftest import disburse_credit

    start = utcnow().date() - timedelta(days=100)
    await disburse_credit(credit.id, start)
    amount, due = await installment_amount(credit.id)
    first = await pay(credit.id, amount, due)
    ledger = await load(credit.id)
    buckets = check_ledger(ledger)
    assert buckets["charges"] == 15_000
    keys = {(k[2], k[3]) for k in ledger.figures if k[1] == "INVESTOR"}
    assert (fa.id, "PRINCIPAL") in keys and (fb.id, "SERVICING_FEE") in keys
    originals = list(ledger.line_rows)

    # syncing again with nothing changed writes nothing
    async with transaction() as session:
        await distributions.sync_credit(session, credit_id=credit.id)
    assert (await load(credit.id)).line_rows == originals

    second = await pay(credit.id, amount, due + timedelta(days=31))
    await reverse(first)
    after = await load(credit.id)
    check_ledger(after)
    # append-only: every earlier line is still there, unchanged
    assert set(originals) <= set(after.line_rows)
    assert all(v == 0 for k, v in after.figures.items() if k[0] == first)
    assert any(v != 0 for k, v in after.figures.items() if k[0] == second)
    async with read_session() as session:
        kinds = (
            await session.execute(
                sa.select(DistributionLine.kind, sa.func.count())  # type: ignore[call-overload]
                .where(DistributionLine.payment_id == first)  # type: ignore[arg-type]
                .group_by(DistributionLine.kind)
            )
        ).all()
    assert dict(kinds)["ADJUSTMENT"] > 0


async def test_backdated_payment_replays_and_nets(db: Database, world: World) -> None:
    credit = await make_credit(world, disburse=False)
    a = await make_investor()
    await fund(credit.id, a.id, "0.5")
    from tests.domain.investors.conftest import disburse_credit

    start = utcnow().date() - timedelta(days=130)
    await disburse_credit(credit.id, start)
    amount, due = await installment_amount(credit.id)
    await pay(credit.id, amount, due + timedelta(days=40))  # late: late interest
    await pay(credit.id, amount, due + timedelta(days=70))
    before = await load(credit.id)
    check_ledger(before)
    await pay(credit.id, amount // 2, due - timedelta(days=3))  # backdated, before both
    after = await load(credit.id)
    check_ledger(after)
    assert set(before.line_rows) <= set(after.line_rows)


async def test_unfunded_credit_writes_no_lines(db: Database, world: World) -> None:
    credit = await make_credit(world, disbursed_on=utcnow().date() - timedelta(days=40))
    amount, due = await installment_amount(credit.id)
    await pay(credit.id, amount, min(due, utcnow().date()))
    assert (await load(credit.id)).line_rows == []


async def test_funding_an_active_credit_does_not_share_earlier_payments(
    db: Database, world: World
) -> None:
    credit = await make_credit(world, disbursed_on=utcnow().date() - timedelta(days=40))
    amount, due = await installment_amount(credit.id)
    await pay(credit.id, amount, min(due, utcnow().date()))
    investor = await make_investor()
    funding = await fund(credit.id, investor.id, "0.5")
    assert funding.effective_on is not None and funding.effective_on > utcnow().date() - timedelta(
        1
    )
    assert (await load(credit.id)).line_rows == []


# --- property: random credits, fundings and payment sequences ------------------------------
ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 250), st.integers(1, 250)),
        st.tuples(st.just("reverse"), st.integers(0, 50), st.just(0)),
    ),
    min_size=1,
    max_size=7,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    amount=st.integers(500_000, 40_000_000),
    rate_per_mille=st.integers(0, 450),
    term=st.integers(2, 18),
    shares=st.lists(st.integers(1, 700_000), min_size=1, max_size=4),
    fee=st.integers(0, 60_000),
    ops=ops_strategy,
)
async def test_ledger_nets_exactly_property(
    db: Database,
    world: World,
    amount: int,
    rate_per_mille: int,
    term: int,
    shares: list[int],
    fee: int,
    ops: list[tuple[str, int, int]],
) -> None:
    from decimal import Decimal

    from tests.domain.investors.conftest import disburse_credit

    credit = await make_credit(
        world, disburse=False, amount=amount, rate=str(Decimal(rate_per_mille) / 1000), term=term
    )
    total = 0
    for share in shares:
        if total + share > 1_000_000:
            continue
        total += share
        investor = await make_investor()
        await fund(
            credit.id,
            investor.id,
            str(Decimal(share) / 1_000_000),
            fee=str(Decimal(fee) / 1_000_000),
        )
    start = utcnow().date() - timedelta(days=260)
    await disburse_credit(credit.id, start)
    installment, _ = await installment_amount(credit.id)
    booked: list[uuid.UUID] = []
    seen: list[tuple[uuid.UUID, int, str]] = []
    for kind, x, y in ops:
        if kind == "pay":
            value = max(1, installment * y // 100)
            try:
                booked.append(await pay(credit.id, value, start + timedelta(days=x)))
            except ValidationFailed as exc:  # a paid-off credit takes no more payments
                assert "paid off" in str(exc)
                continue
        elif booked:
            target = booked.pop(x % len(booked))
            await reverse(target)
        ledger = await load(credit.id)
        check_ledger(ledger)
        assert set(seen) <= set(ledger.line_rows), "a line was rewritten or deleted"
        seen = ledger.line_rows


async def test_a_written_off_shortfall_is_never_distributed(db: Database, world: World) -> None:
    """Investors are paid from cash: a shortfall written off (a collections policy) settles
    the installment but adds nothing to distribute, and undoing it changes no line."""
    from domain.credits import write_offs
    from tests.domain.investors.conftest import ADMIN, at_noon, disburse_credit

    credit = await make_credit(world, disburse=False)
    a = await make_investor()
    await fund(credit.id, a.id, "0.5")
    await disburse_credit(credit.id, utcnow().date() - timedelta(days=100))
    amount, due = await installment_amount(credit.id)
    await pay(credit.id, amount - 500, due)
    before = await load(credit.id)
    async with transaction() as session:
        written = await write_offs.write_off_shortfall(
            session,
            principal=ADMIN,
            credit_id=credit.id,
            amount=Money(500, "CLP"),
            written_at=at_noon(due),
            installment_number=1,
            reason="Comisión bancaria",
            reference="diferencia",
            idempotency_key="wo-1",
        )
    assert written.applied_amount == 500
    after = await load(credit.id)
    check_ledger(after)
    assert after.line_rows == before.line_rows  # nothing distributed for it
    assert after.booked_total == amount - 500
    async with transaction() as session:
        await write_offs.reverse_write_off(
            session, principal=ADMIN, write_off_id=written.id, reason="deshecho"
        )
    assert (await load(credit.id)).line_rows == before.line_rows

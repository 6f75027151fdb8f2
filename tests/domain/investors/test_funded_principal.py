"""An investor's principal always equals what it funded minus what was distributed to it
(issue 9: "an investor loses principal on paper"), whatever the order of fundings and
payments — backdated payments, reversals and refunds included — and nothing is created or
lost. The rule: ``docs/investors.md`` §2-3."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import Database, read_session, transaction
from domain.credits import payments as credit_payments
from domain.credits.calendar import add_months
from domain.credits.models import Allocation, Credit, Payment
from domain.investors.models import CreditFunding, DistributionLine
from domain.investors.portfolio import investor_portfolio
from domain.shared.errors import Conflict, ValidationFailed
from domain.shared.models import table_of
from domain.shared.principal import SYSTEM
from domain.shared.time import local_today
from tests.domain.investors.conftest import (
    World,
    disburse_credit,
    fund,
    make_credit,
    make_investor,
    pay,
    reverse,
)

SANTIAGO = "America/Santiago"
SHARED = ("INTEREST", "LATE_INTEREST", "PRINCIPAL")


@dataclass
class Books:
    credit: Credit
    fundings: list[CreditFunding]
    #: payment id -> component -> allocated amount (booked payments only)
    allocations: dict[uuid.UUID, dict[str, int]]
    #: (payment, party, funding, component) -> sum of lines
    lines: dict[tuple[uuid.UUID, str, uuid.UUID | None, str], int]


async def books(credit_id: uuid.UUID) -> Books:
    async with read_session() as session:
        credit = await session.get(Credit, credit_id)
        assert credit is not None
        fundings = list(
            (
                await session.execute(
                    sa.select(CreditFunding).where(CreditFunding.credit_id == credit_id)  # type: ignore[arg-type]
                )
            )
            .scalars()
            .all()
        )
        booked = set(
            (
                await session.execute(
                    sa.select(Payment.id).where(  # type: ignore[call-overload]
                        Payment.credit_id == credit_id,  # type: ignore[arg-type]
                        Payment.status == "BOOKED",  # type: ignore[arg-type]
                    )
                )
            )
            .scalars()
            .all()
        )
        a = table_of(Allocation)
        allocations: dict[uuid.UUID, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for payment_id, component, amount in (
            await session.execute(
                sa.select(a.c.payment_id, a.c.component, a.c.amount).where(
                    a.c.credit_id == credit_id
                )
            )
        ).all():
            if payment_id in booked:
                allocations[payment_id][component] += amount
        t = table_of(DistributionLine)
        lines: dict[tuple[uuid.UUID, str, uuid.UUID | None, str], int] = defaultdict(int)
        for payment_id, party, funding_id, component, amount in (
            await session.execute(
                sa.select(
                    t.c.payment_id, t.c.party, t.c.funding_id, t.c.component, t.c.amount
                ).where(t.c.credit_id == credit_id)
            )
        ).all():
            lines[(payment_id, party, funding_id, component)] += amount
    return Books(credit, fundings, {k: dict(v) for k, v in allocations.items()}, dict(lines))


def received_principal(b: Books, funding: CreditFunding) -> int:
    return sum(v for k, v in b.lines.items() if k[2] == funding.id and k[3] == "PRINCIPAL")


async def outstanding_of(investor_id: uuid.UUID) -> int:
    async with read_session() as session:
        portfolio = await investor_portfolio(session, principal=SYSTEM, investor_id=investor_id)
    if not portfolio.currencies:
        return 0
    (clp,) = portfolio.currencies
    return clp.outstanding_principal.amount + clp.written_off_principal.amount


def check(b: Books, outstanding: dict[uuid.UUID, int]) -> None:
    """The invariants, for every investor and every payment."""
    repaid = sum(c.get("PRINCIPAL", 0) for c in b.allocations.values())
    for f in b.fundings:
        got = received_principal(b, f)
        # what the investor holds is what it put in minus what it was given back ...
        assert outstanding[f.investor_id] == f.amount - got
        # ... which is its share of the principal repaid since it funded, never above the
        # amount it put in (the lender keeps the rounding, as with the invested amount)
        beyond = max(0, repaid - f.principal_repaid_before)
        assert got == min(f.amount, beyond * f.share_ppm // 1_000_000)
        assert 0 <= got <= f.amount
        # and agrees with the credit's figure, to the unit
        if b.credit.outstanding_principal * f.share_ppm // 1_000_000 <= f.amount:
            assert abs(f.amount - got - b.credit.outstanding_principal * f.share_ppm / 1e6) < 2
        if b.credit.status == "PAID_OFF":
            assert got == f.amount, "a paid-off credit owes its investors nothing"
    # nothing created or lost: each payment's lines add up to its shared components
    for payment_id in b.allocations.keys() | {k[0] for k in b.lines}:
        components = b.allocations.get(payment_id, {})
        mine = {k: v for k, v in b.lines.items() if k[0] == payment_id}
        if not any(mine.values()):
            continue  # the lender kept the whole payment
        shared = sum(components.get(c, 0) for c in SHARED)
        assert sum(v for k, v in mine.items() if k[3] != "SERVICING_FEE") == shared
        principal = sum(v for k, v in mine.items() if k[3] == "PRINCIPAL")
        assert principal == components.get("PRINCIPAL", 0)


# --- the reported case -----------------------------------------------------------------------
async def test_a_payment_dated_earlier_the_same_day_is_shared(db: Database, world: World) -> None:
    """Fund 40 % of an active CLP 12,000,000 credit whose first installment falls due today,
    then book a payment dated earlier today of that installment's interest (180,000) and
    201,172 of principal. Before the fix the investor's outstanding principal (then 40 % of
    the credit's) fell by 80,469 while the payment's value date, before the funding's
    ``effective_on`` (tomorrow), left it without a line: it lost 80,469 on paper. Now it is
    given 40 % of the principal repaid since it funded, rounded down as its invested amount
    was (80,468.8 -> 80,468; the lender keeps the odd unit), and holds exactly what it put
    in minus that."""
    today = local_today(SANTIAGO)
    credit = await make_credit(world, disbursed_on=add_months(today, -1))
    assert credit.status == "ACTIVE" and credit.outstanding_principal == 12_000_000
    investor = await make_investor()
    funding = await fund(credit.id, investor.id, "0.4")
    assert funding.amount == 4_800_000 and funding.effective_on == today + timedelta(days=1)
    assert await outstanding_of(investor.id) == 4_800_000

    payment = await pay(credit.id, 180_000 + 201_172, today)  # 16:00 UTC: before the funding
    b = await books(credit.id)
    assert b.allocations[payment] == {"INTEREST": 180_000, "PRINCIPAL": 201_172}
    assert b.credit.outstanding_principal == 12_000_000 - 201_172
    after = await outstanding_of(investor.id)
    assert received_principal(b, funding) == 80_468  # was 0: nothing was distributed
    assert 4_800_000 - after == 80_468  # was 80,469
    # the interest accrued before the investor came in stays with the lender
    assert b.lines.get((payment, "INVESTOR", funding.id, "INTEREST"), 0) == 0
    assert b.lines[(payment, "LENDER", None, "INTEREST")] == 180_000
    assert b.lines[(payment, "LENDER", None, "PRINCIPAL")] == 201_172 - 80_468
    check(b, {investor.id: after})


async def test_a_reversed_backdated_payment_gives_the_principal_back(
    db: Database, world: World
) -> None:
    today = local_today(SANTIAGO)
    credit = await make_credit(world, disbursed_on=add_months(today, -1))
    investor = await make_investor()
    await fund(credit.id, investor.id, "0.4")
    payment = await pay(credit.id, 381_172, today)
    await reverse(payment)
    b = await books(credit.id)
    assert await outstanding_of(investor.id) == 4_800_000
    check(b, {investor.id: 4_800_000})


async def test_payments_booked_before_the_funding_stay_with_the_lender(
    db: Database, world: World
) -> None:
    today = local_today(SANTIAGO)
    credit = await make_credit(world, disbursed_on=add_months(today, -1))
    await pay(credit.id, 381_172, today)
    investor = await make_investor()
    funding = await fund(credit.id, investor.id, "0.4")
    assert funding.principal_repaid_before == 201_172
    assert funding.amount == (12_000_000 - 201_172) * 4 // 10
    b = await books(credit.id)
    assert received_principal(b, funding) == 0
    assert await outstanding_of(investor.id) == funding.amount
    check(b, {investor.id: funding.amount})


# --- the property ----------------------------------------------------------------------------
ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("fund"), st.integers(1, 600_000), st.just(0)),
        st.tuples(st.just("pay"), st.integers(0, 200), st.integers(1, 250)),
        st.tuples(st.just("reverse"), st.integers(0, 50), st.just(0)),
        st.tuples(st.just("refund"), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    amount=st.integers(300_000, 30_000_000),
    rate_per_mille=st.integers(0, 450),
    term=st.integers(2, 12),
    days=st.integers(20, 200),
    before=st.lists(st.integers(1, 600_000), max_size=2),
    ops=ops_strategy,
)
async def test_an_investor_holds_what_it_funded_minus_what_it_was_given(
    db: Database,
    world: World,
    amount: int,
    rate_per_mille: int,
    term: int,
    days: int,
    before: list[int],
    ops: list[tuple[str, int, int]],
) -> None:
    """Fundings before and after disbursement, payments on any day since (so backdated
    against each other and against the fundings), reversals and refunds, in any order."""
    today = local_today(SANTIAGO)
    start = today - timedelta(days=days)
    credit = await make_credit(
        world,
        disburse=False,
        disbursed_on=start,
        amount=amount,
        rate=str(Decimal(rate_per_mille) / 1000),
        term=term,
    )
    investors: list[uuid.UUID] = []
    funded = 0

    async def try_fund(share: int) -> None:
        nonlocal funded
        if funded + share > 1_000_000:
            return
        investor = await make_investor()
        try:
            await fund(credit.id, investor.id, str(Decimal(share) / 1_000_000))
        except ValidationFailed as exc:  # only APPROVED or ACTIVE credits are funded
            assert "only APPROVED or ACTIVE" in str(exc)
            return
        funded += share
        investors.append(investor.id)

    for share in before:
        await try_fund(share)
    await disburse_credit(credit.id, start)
    installment = max(1, amount // term)
    booked: list[uuid.UUID] = []
    refunded = False
    for kind, x, y in ops:
        if kind == "fund":
            await try_fund(x)
        elif kind == "pay":
            day = start + timedelta(days=min(x, days))
            try:
                booked.append(await pay(credit.id, max(1, installment * y // 100), day))
            except ValidationFailed as exc:  # a paid-off credit takes no more payments
                assert "paid off" in str(exc)
            except Conflict as exc:  # a backdated payment would undo a refund made since
                assert refunded and "cannot be replayed" in str(exc), exc
        elif kind == "reverse" and booked:
            chosen = booked[x % len(booked)]
            try:
                await reverse(chosen)
            except Conflict as exc:  # so would taking back a payment a refund came from
                assert refunded and "cannot be replayed" in str(exc), exc
            else:
                booked.remove(chosen)
        elif kind == "refund":
            async with read_session() as session:
                current = await session.get(Credit, credit.id)
            assert current is not None
            if current.credit_balance:
                try:
                    async with transaction() as session:
                        await credit_payments.refund_credit_balance(
                            session,
                            principal=SYSTEM,
                            credit_id=credit.id,
                            expected_version=current.version,
                            reference=f"refund-{uuid.uuid4().hex[:8]}",
                        )
                    refunded = True
                except ValidationFailed:  # the balance went to an installment that fell due
                    pass
        b = await books(credit.id)
        check(b, {i: await outstanding_of(i) for i in investors})

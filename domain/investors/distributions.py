"""What each investor is owed of each payment: distribution lines, append-only.

The credits service calls :func:`sync_credit` after every change to a credit's payment
allocations (a new payment, a reversal, a backdated replay). It recomputes, from the stored
allocations of every BOOKED payment of the credit, the figure each party is owed per payment
and component, compares it with the sum of the lines already written, and appends one line
for each difference. Lines are never rewritten: a line may already be part of a settlement
statement (paid or not), so a change shows up as an ``ADJUSTMENT`` line that the next
settlement picks up.

The split (``docs/investors.md`` states it with an example):

- A payment's INTEREST, LATE_INTEREST and PRINCIPAL allocations are shared; CHARGES
  (insurance and other charges) stay with the lender and get no line.
- The investors sharing a payment are the credit's fundings in effect on the payment's
  value date (``paid_on``; see :mod:`domain.investors.fundings`). If there are none, the
  payment has no lines at all (the lender keeps everything).
- Each component is split by the largest-remainder method over the weights
  ``[share_ppm of each funding…, unfunded ppm]``, the last part being the lender's unfunded
  remainder (a LENDER line). The split is of the *running total* of the component over
  the credit's booked payments in ``(paid_at, id)`` order: a payment's part is
  ``split(total up to and including it) - split(total before it)``. The parts of each
  payment still sum exactly to its component, and rounding never accumulates: over the
  credit's life each party's total is the largest-remainder split of the whole (an
  investor holding 50 % of a credit gets exactly half of the principal repaid, to the
  minor unit, not half plus one unit per payment). A part may rarely be one unit below
  zero (the largest-remainder method is not monotone for three or more parties).
- The servicing fee of each investor is taken the same way from the running totals of its
  INTEREST and LATE_INTEREST parts:
  ``fee(total) = round_half_even(total * servicing_fee_ppm / 1,000,000)``, and a payment's
  fee is the difference, written as a negative SERVICING_FEE line. So per payment, exactly:
  ``Σ investor lines (net of fees) + fees + lender lines = interest + late interest +
  principal`` and ``allocations = that + charges``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.credits.allocation import Component
from domain.credits.models import Allocation, Credit, Payment
from domain.credits.policy import today
from domain.credits.states import PaymentStatus
from domain.investors.models import (
    PPM,
    CreditFunding,
    DistributionLine,
    LineComponent,
    LineKind,
    Party,
)
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import allocate_int
from domain.shared.sql import for_update
from domain.shared.time import utcnow

__all__ = [
    "FundingShare",
    "PaymentParts",
    "lines_to_append",
    "repaid_principal",
    "round_half_even",
    "split_payments",
    "sync_credit",
]

#: Allocation components shared with investors, and whether the servicing fee applies.
SHARED_COMPONENTS: tuple[tuple[LineComponent, bool], ...] = (
    (LineComponent.INTEREST, True),
    (LineComponent.LATE_INTEREST, True),
    (LineComponent.PRINCIPAL, False),
)
_FROM_ALLOCATION = {
    Component.INTEREST.value: LineComponent.INTEREST,
    Component.LATE_INTEREST.value: LineComponent.LATE_INTEREST,
    Component.PRINCIPAL.value: LineComponent.PRINCIPAL,
}

#: (party, funding id or None for the lender, component)
Key = tuple[str, uuid.UUID | None, str]


@dataclass(frozen=True, slots=True)
class FundingShare:
    funding_id: uuid.UUID
    investor_id: uuid.UUID
    share_ppm: int
    servicing_fee_ppm: int
    effective_on: date | None
    #: The principal the investor put in: its principal is never repaid beyond it (None:
    #: no cap, for splits computed on their own).
    amount: int | None = None
    #: The principal the credit had repaid when the funding was made.
    principal_repaid_before: int = 0

    def shares(self, value_date: date) -> bool:
        """Whether the interest of a payment with this value date is shared."""
        return self.effective_on is None or self.effective_on <= value_date

    def principal_at(self, repaid: int) -> tuple[int, int]:
        """``(principal, beyond)`` owed to the investor once the credit has repaid
        ``repaid`` of principal in all: its share of what was repaid since it funded,
        rounded down, up to the amount it put in; ``beyond`` is its share past that amount
        (interest that was capitalised into the principal), owed as interest."""
        share = max(0, repaid - self.principal_repaid_before) * self.share_ppm // PPM
        if self.amount is None or share <= self.amount:
            return share, 0
        return self.amount, share - self.amount


@dataclass(frozen=True, slots=True)
class PaymentParts:
    """One booked payment: its value date and its shared allocation components."""

    payment_id: uuid.UUID
    value_date: date
    components: dict[LineComponent, int]


def round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, ties to even (exact)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2 == 1):
        q += 1
    return q


def _split(total: int, weights: list[int]) -> list[int]:
    return allocate_int(total, weights) if total else [0] * len(weights)


def split_payments(
    payments: Sequence[PaymentParts],
    fundings: Sequence[FundingShare],
    booking_order: Sequence[uuid.UUID] | None = None,
) -> dict[uuid.UUID, dict[Key, int]]:
    """The figures of each payment, ``{payment_id: {(party, funding_id, component):
    amount}}``; ``payments`` in value order (``paid_at``, id), ``booking_order`` the same
    payments in the order they were booked (default: value order). Payments no funding
    shares are left out (the lender keeps them whole).

    - Interest and late interest: the fundings in effect on the payment's value date share
      them, by largest remainder of running totals per set of sharing fundings.
    - Principal: in booking order, each funding is owed ``FundingShare.principal_at`` of
      the running total; a payment's part is the difference, the lender's the rest. Its
      share past the amount it put in is added to its INTEREST.
    """
    out: dict[uuid.UUID, dict[Key, int]] = {}
    by_id = {p.payment_id: p for p in payments}

    # principal, in booking order: what each funding is owed of each payment
    principal: dict[uuid.UUID, list[tuple[int, int]]] = {}
    repaid = 0
    for payment_id in booking_order if booking_order is not None else list(by_id):
        amount = by_id[payment_id].components.get(LineComponent.PRINCIPAL, 0)
        differences = []
        for funding in fundings:
            was, was_beyond = funding.principal_at(repaid)
            now, now_beyond = funding.principal_at(repaid + amount)
            differences.append((now - was, now_beyond - was_beyond))
        repaid += amount
        principal[payment_id] = differences
    beyond_total: dict[uuid.UUID, int] = defaultdict(int)  # per funding, fee base

    # Running totals per set of sharing fundings (fundings only join, so each set covers
    # one stretch of value dates): component total, and each party's split of it.
    totals: dict[tuple[tuple[uuid.UUID, ...], LineComponent], int] = defaultdict(int)
    for payment in payments:
        parts = [f for f in fundings if f.shares(payment.value_date)]
        owed = principal.get(payment.payment_id, [(0, 0)] * len(fundings))
        if not parts and not any(a or b for a, b in owed):
            continue
        unfunded = PPM - sum(f.share_ppm for f in parts)
        if unfunded < 0:
            raise AssertionError("the shares of a credit sum to more than 100 %")
        weights = [f.share_ppm for f in parts] + [unfunded]
        group = tuple(f.funding_id for f in parts)
        lines: dict[Key, int] = {}
        for component, with_fee in SHARED_COMPONENTS:
            if component == LineComponent.PRINCIPAL:
                continue
            amount = payment.components.get(component, 0)
            before_total = totals[(group, component)]
            after_total = before_total + amount
            totals[(group, component)] = after_total
            before = _split(before_total, weights)
            after = _split(after_total, weights)
            for i, funding in enumerate(parts):
                lines[(Party.INVESTOR.value, funding.funding_id, component.value)] = (
                    after[i] - before[i]
                )
                if with_fee:
                    fee = round_half_even(
                        after[i] * funding.servicing_fee_ppm, PPM
                    ) - round_half_even(before[i] * funding.servicing_fee_ppm, PPM)
                    key = (
                        Party.INVESTOR.value,
                        funding.funding_id,
                        LineComponent.SERVICING_FEE.value,
                    )
                    lines[key] = lines.get(key, 0) - fee
            lines[(Party.LENDER.value, None, component.value)] = after[-1] - before[-1]
        amount = payment.components.get(LineComponent.PRINCIPAL, 0)
        lender = amount
        for funding, (part, beyond) in zip(fundings, owed, strict=True):
            if not (part or beyond or funding in parts):
                continue
            lines[(Party.INVESTOR.value, funding.funding_id, LineComponent.PRINCIPAL.value)] = part
            lender -= part + beyond
            if beyond:
                key = (Party.INVESTOR.value, funding.funding_id, LineComponent.INTEREST.value)
                lines[key] = lines.get(key, 0) + beyond
                was = beyond_total[funding.funding_id]
                beyond_total[funding.funding_id] = was + beyond
                fee = round_half_even((was + beyond) * funding.servicing_fee_ppm, PPM) - (
                    round_half_even(was * funding.servicing_fee_ppm, PPM)
                )
                key = (Party.INVESTOR.value, funding.funding_id, LineComponent.SERVICING_FEE.value)
                lines[key] = lines.get(key, 0) - fee
        lines[(Party.LENDER.value, None, LineComponent.PRINCIPAL.value)] = lender
        out[payment.payment_id] = lines
    return out


async def _fundings(session: AsyncSession, credit_id: uuid.UUID) -> list[FundingShare]:
    t = table_of(CreditFunding)
    rows = await session.execute(
        sa.select(
            t.c.id,
            t.c.investor_id,
            t.c.share_ppm,
            t.c.servicing_fee_ppm,
            t.c.effective_on,
            t.c.amount,
            t.c.principal_repaid_before,
        )
        .where(t.c.credit_id == credit_id)
        .order_by(t.c.id)
    )
    return [FundingShare(*row) for row in rows.all()]


async def repaid_principal(session: AsyncSession, credit_id: uuid.UUID) -> int:
    """The principal a credit has repaid so far: its booked payments' principal
    allocations, every schedule included."""
    payments = table_of(Payment)
    allocations = table_of(Allocation)
    total = await session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(allocations.c.amount), 0))
        .select_from(allocations)
        .join(payments, payments.c.id == allocations.c.payment_id)
        .where(
            allocations.c.credit_id == credit_id,
            allocations.c.component == Component.PRINCIPAL.value,
            payments.c.status == PaymentStatus.BOOKED.value,
        )
    )
    return int(total.scalar_one())


async def sync_credit(session: AsyncSession, *, credit_id: uuid.UUID) -> None:
    """Bring the distribution lines of ``credit_id`` in line with its allocations.

    Idempotent: a second call with nothing changed writes nothing. Takes the credit's row
    lock, so concurrent calls for one credit are serialized.
    """
    credits = table_of(Credit)
    credit = (
        await session.execute(
            for_update(
                sa.select(credits.c.id, credits.c.currency, credits.c.timezone).where(
                    credits.c.id == credit_id
                ),
                session,
            )
        )
    ).first()
    if credit is None:
        return
    fundings = await _fundings(session, credit_id)
    if not fundings:
        return  # nothing was ever shared: no lines exist and none are owed
    payments = table_of(Payment)
    allocations = table_of(Allocation)
    lines = table_of(DistributionLine)

    booked = (
        await session.execute(
            sa.select(payments.c.id, payments.c.paid_on, payments.c.created_at)
            .where(
                payments.c.credit_id == credit_id,
                payments.c.status == PaymentStatus.BOOKED.value,
            )
            .order_by(payments.c.paid_at, payments.c.id)
        )
    ).all()
    paid_on: dict[uuid.UUID, date] = {row.id: row.paid_on for row in booked}
    booking_order = [row.id for row in sorted(booked, key=lambda r: (r.created_at, r.id))]
    sums: dict[uuid.UUID, dict[LineComponent, int]] = defaultdict(dict)
    allocated = await session.execute(
        sa.select(
            allocations.c.payment_id,
            allocations.c.component,
            sa.func.sum(allocations.c.amount),
        )
        .where(
            allocations.c.credit_id == credit_id,
            allocations.c.component.in_(list(_FROM_ALLOCATION)),
        )
        .group_by(allocations.c.payment_id, allocations.c.component)
    )
    for payment_id, component, amount in allocated.all():
        if payment_id in paid_on:
            sums[payment_id][_FROM_ALLOCATION[component]] = int(amount or 0)

    existing: dict[tuple[uuid.UUID, Key], int] = {}
    value_dates: dict[uuid.UUID, date] = {}
    written = await session.execute(
        sa.select(
            lines.c.payment_id,
            lines.c.party,
            lines.c.funding_id,
            lines.c.component,
            sa.func.min(lines.c.value_date),
            sa.func.sum(lines.c.amount),
        )
        .where(lines.c.credit_id == credit_id)
        .group_by(lines.c.payment_id, lines.c.party, lines.c.funding_id, lines.c.component)
    )
    for payment_id, party, funding_id, component, value_date, amount in written.all():
        existing[(payment_id, (party, funding_id, component))] = int(amount)
        value_dates[payment_id] = value_date

    rows = lines_to_append(
        credit_id=credit_id,
        currency=credit.currency,
        fundings=fundings,
        paid_on=paid_on,
        booking_order=booking_order,
        sums=sums,
        existing=existing,
        value_dates=value_dates,
        business_today=today(credit.timezone),
        now=utcnow(),
    )
    if rows:
        await session.execute(sa.insert(lines), rows)


def lines_to_append(
    *,
    credit_id: uuid.UUID,
    currency: str,
    fundings: Sequence[FundingShare],
    paid_on: dict[uuid.UUID, date],
    booking_order: Sequence[uuid.UUID],
    sums: dict[uuid.UUID, dict[LineComponent, int]],
    existing: dict[tuple[uuid.UUID, Key], int],
    value_dates: dict[uuid.UUID, date],
    business_today: date,
    now: datetime,
) -> list[dict[str, Any]]:
    """The lines that bring a credit's written lines (``existing``: sums per payment and
    key) to what its booked payments are owed (pure; :func:`sync_credit` and the batched
    payments of ``domain.credits.payment_batches`` share it). ``paid_on``: the booked
    payments' value dates in value order; ``sums``: their shared allocation components;
    ``value_dates``: the value date of the lines already written per payment (a payment
    without any gets its ``paid_on``; the dict is completed in place)."""
    investor_of: dict[uuid.UUID, uuid.UUID] = {f.funding_id: f.investor_id for f in fundings}
    ordered = [PaymentParts(pid, day, sums.get(pid, {})) for pid, day in paid_on.items()]
    desired: dict[tuple[uuid.UUID, Key], int] = {}
    for payment_id, figures in split_payments(ordered, fundings, booking_order).items():
        for key, amount in figures.items():
            desired[(payment_id, key)] = amount
        value_dates.setdefault(payment_id, paid_on[payment_id])

    rows: list[dict[str, Any]] = []
    for full_key in sorted(
        desired.keys() | existing.keys(), key=lambda k: (str(k[0]), k[1][0], str(k[1][1]), k[1][2])
    ):
        diff = desired.get(full_key, 0) - existing.get(full_key, 0)
        if diff == 0:
            continue
        payment_id, (party, funding_id, component) = full_key
        value_date = value_dates[payment_id]
        adjustment = full_key in existing
        rows.append(
            {
                "id": uuid7(),
                "credit_id": credit_id,
                "payment_id": payment_id,
                "party": party,
                "funding_id": funding_id,
                "investor_id": investor_of[funding_id] if funding_id is not None else None,
                "component": component,
                "kind": (LineKind.ADJUSTMENT if adjustment else LineKind.ORIGINAL).value,
                "amount": diff,
                "currency": currency,
                "value_date": value_date,
                "occurred_on": max(value_date, business_today) if adjustment else value_date,
                "created_at": now,
                "statement_id": None,
            }
        )
    return rows

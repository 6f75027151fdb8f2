"""Funding credits: an investor takes a share of a credit.

A share is a ``Decimal`` fraction of the credit (``0.25`` = 25 %) stored exactly as parts
per million (``share_ppm``); so a share has at most six decimals. The shares of one credit
never sum above 1,000,000 ppm: :func:`fund_credit` locks the credit row (``SELECT … FOR
UPDATE`` on PostgreSQL; SQLite has a single writer) before it adds them up, so two
concurrent fundings cannot both take the last part.

- A credit still ``APPROVED`` (not disbursed) is funded from its start: the investor puts in
  its share of the principal and shares every payment (``effective_on`` is NULL).
- An ``ACTIVE`` credit is funded as it stands when the funding is made: the investor puts
  in its share of the outstanding principal, and is owed its share of every principal
  repaid beyond what the credit had repaid then (``principal_repaid_before``) — a payment
  booked later but dated earlier included, since the outstanding it bought still counted
  it. Interest and late interest are shared for payments whose value date (``paid_on``)
  is on or after ``effective_on`` (the next day of the credit): interest accrued before
  stays with the lender.
- Invested amounts are rounded down to the minor unit (the lender keeps the remainder),
  and so is the investor's principal: ``floor(share * repaid since)``, never more than it
  put in. So what it holds is always what it put in minus what it was given back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits import service as credits_service
from domain.credits.models import Credit, Installment
from domain.credits.policy import today
from domain.credits.states import CreditStatus
from domain.investors import access
from domain.investors.distributions import repaid_principal, sync_credit
from domain.investors.models import PPM, CreditFunding, Investor, KycStatus
from domain.investors.policy import get_policy
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import NotFound, Problems, ValidationFailed
from domain.shared.models import table_of
from domain.shared.principal import Principal
from domain.shared.sql import for_update
from domain.shared.time import utcnow

__all__ = [
    "FUNDABLE_STATUSES",
    "credit_fundings",
    "fund_credit",
    "funded_ppm",
    "funded_ppm_many",
    "fundings_of_credits",
    "investor_fundings",
    "ppm_of",
    "share_of",
]

FUNDABLE_STATUSES = frozenset({CreditStatus.APPROVED, CreditStatus.ACTIVE})


def ppm_of(value: object, *, field: str, problems: Problems, allow_zero: bool = False) -> int:
    """A fraction (``Decimal``, or an ``int`` 0/1) as exact parts per million."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        problems.add(field, "must be a decimal fraction such as 0.25")
        return 0
    value = Decimal(value)
    if not value.is_finite():
        problems.add(field, "must be a finite decimal fraction")
        return 0
    scaled = value.scaleb(6)
    if scaled != scaled.to_integral_value():
        problems.add(field, "at most six decimals (shares are kept in parts per million)")
        return 0
    ppm = int(scaled)
    low_ok = ppm >= 0 if allow_zero else ppm > 0
    if not low_ok:
        problems.add(field, "must be zero or more" if allow_zero else "must be more than zero")
    elif ppm > PPM:
        problems.add(field, "cannot be more than 1 (100 %)")
    return ppm


def share_of(ppm: int) -> Decimal:
    """Parts per million back to a ``Decimal`` fraction (``250000`` → ``0.25``)."""
    return (Decimal(ppm).scaleb(-6)).normalize() if ppm else Decimal(0)


async def funded_ppm(session: AsyncSession, credit_id: uuid.UUID) -> int:
    """How much of a credit is funded, in ppm (no access check: a figure, not personal)."""
    total = (
        await session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(col(CreditFunding.share_ppm)), 0)).where(
                col(CreditFunding.credit_id) == credit_id
            )
        )
    ).scalar_one()
    return int(total)


async def _financed(session: AsyncSession, credit: Credit) -> int:
    """What the schedule in force amortises (the principal, plus a financed opening fee)."""
    rows = table_of(Installment)
    opening = (
        await session.execute(
            sa.select(rows.c.opening_balance)
            .where(rows.c.credit_id == credit.id, rows.c.schedule_no == credit.schedule_no)
            .order_by(rows.c.number)
            .limit(1)
        )
    ).scalar()
    return credit.principal if opening is None else int(opening)


def _percent(ppm: int) -> str:
    return f"{share_of(ppm * 100):f}%"


async def fund_credit(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    investor_id: uuid.UUID,
    share: Decimal,
    servicing_fee_rate: Decimal | None = None,
) -> CreditFunding:
    """Give ``investor_id`` a ``share`` of ``credit_id``. Refused, with nothing written,
    when the share is not in (0, 1] or has more than six decimals, the credit is unknown or
    not APPROVED/ACTIVE, the investor is unknown or not VERIFIED, or the credit's shares
    would pass 100 %."""
    access.ensure_can_write(principal)
    problems = Problems()
    share_ppm = ppm_of(share, field="share", problems=problems)
    rate = get_policy().servicing_fee_rate if servicing_fee_rate is None else servicing_fee_rate
    fee_ppm = ppm_of(rate, field="servicingFeeRate", problems=problems, allow_zero=True)
    if not problems.items and fee_ppm >= PPM:
        problems.add("servicingFeeRate", "must be below 1 (100 %)")
    problems.raise_if_any()

    credit = (
        (
            await session.execute(
                for_update(sa.select(Credit).where(col(Credit.id) == credit_id), session)
            )
        )
        .scalars()
        .first()
    )
    if credit is None or not credits_service.may_see(principal, credit):
        raise NotFound("Credit", credit_id)  # a credit of another lender does not exist
    if credit.status not in FUNDABLE_STATUSES:
        raise ValidationFailed.on(
            "creditId",
            f"the credit is {credit.status}; only APPROVED or ACTIVE credits can be funded",
        )
    investor = await session.get(Investor, investor_id)
    if investor is None:
        raise NotFound("Investor", investor_id)
    if investor.kyc_status != KycStatus.VERIFIED.value:
        raise ValidationFailed.on(
            "investorId",
            f"the investor's KYC is {investor.kyc_status}; only VERIFIED investors can fund",
        )
    already = await funded_ppm(session, credit.id)
    if already + share_ppm > PPM:
        raise ValidationFailed.on(
            "share",
            f"the credit is {_percent(already)} funded; at most {_percent(PPM - already)} is left",
        )
    from_start = credit.status == CreditStatus.APPROVED
    base = await _financed(session, credit) if from_start else credit.outstanding_principal
    funding = CreditFunding(
        credit_id=credit.id,
        investor_id=investor.id,
        share_ppm=share_ppm,
        servicing_fee_ppm=fee_ppm,
        amount=share_ppm * base // PPM,
        currency=credit.currency,
        effective_on=None if from_start else today(credit.timezone) + timedelta(days=1),
        principal_repaid_before=0 if from_start else await repaid_principal(session, credit.id),
        funded_at=utcnow(),
        funded_by=principal.subject[:200],
    )
    session.add(funding)
    await session.flush()
    facts: dict[str, Any] = {
        "funding_id": funding.id,
        "credit_id": credit.id,
        "investor_id": investor.id,
        "share_ppm": share_ppm,
        "servicing_fee_ppm": fee_ppm,
        "amount": funding.amount,
        "currency": funding.currency,
        "effective_on": funding.effective_on,
        "funded_ppm": already + share_ppm,
    }
    audit.record(
        session,
        principal=principal,
        action="credits.fund",
        entity_type="Credit",
        entity_id=credit.id,
        after=facts,
    )
    outbox.add(
        session,
        "credits.funded",
        {
            "fundingId": wire.global_id("CreditFunding", funding.id),
            "creditId": wire.global_id("Credit", credit.id),
            "investorId": wire.global_id("Investor", investor.id),
            "share": wire.decimal(share_of(share_ppm)),
            "servicingFeeRate": wire.decimal(share_of(fee_ppm)),
            "invested": wire.money(funding.amount, funding.currency),
            "effectiveOn": wire.maybe_day(funding.effective_on),
            "fundedShare": wire.decimal(share_of(already + share_ppm)),
        },
        partner_ids=[credit.partner_id],
        key=wire.global_id("Credit", credit.id),
    )
    await sync_credit(session, credit_id=credit.id)
    return funding


async def credit_fundings(
    session: AsyncSession, *, principal: Principal, credit_id: uuid.UUID
) -> list[CreditFunding]:
    """The fundings of one credit, oldest first; an investor sees only its own."""
    stmt = (
        sa.select(CreditFunding)
        .where(
            col(CreditFunding.credit_id) == credit_id,
            access.visible_investors(principal, col(CreditFunding.investor_id)),
        )
        .order_by(col(CreditFunding.funded_at), col(CreditFunding.id))
    )
    return list((await session.execute(stmt)).scalars().all())


async def investor_fundings(
    session: AsyncSession, *, principal: Principal, investor_id: uuid.UUID
) -> list[CreditFunding]:
    """Everything one investor funded, oldest first."""
    access.ensure_can_read(principal, investor_id)
    stmt = (
        sa.select(CreditFunding)
        .where(col(CreditFunding.investor_id) == investor_id)
        .order_by(col(CreditFunding.funded_at), col(CreditFunding.id))
    )
    return list((await session.execute(stmt)).scalars().all())


async def funded_ppm_many(
    session: AsyncSession, credit_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """``funded_ppm`` of many credits in one query (DataLoaders); 0 for unfunded ones."""
    if not credit_ids:
        return {}
    rows = await session.execute(
        sa.select(col(CreditFunding.credit_id), sa.func.sum(col(CreditFunding.share_ppm)))
        .where(col(CreditFunding.credit_id).in_(list(credit_ids)))
        .group_by(col(CreditFunding.credit_id))
    )
    found = {credit_id: int(total) for credit_id, total in rows.all()}
    return {credit_id: found.get(credit_id, 0) for credit_id in credit_ids}


async def fundings_of_credits(
    session: AsyncSession, *, principal: Principal, credit_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[CreditFunding]]:
    """The fundings of many credits in one query (DataLoaders), oldest first; an investor
    sees only its own."""
    out: dict[uuid.UUID, list[CreditFunding]] = {credit_id: [] for credit_id in credit_ids}
    if not credit_ids:
        return out
    stmt = (
        sa.select(CreditFunding)
        .where(
            col(CreditFunding.credit_id).in_(list(credit_ids)),
            access.visible_investors(principal, col(CreditFunding.investor_id)),
        )
        .order_by(col(CreditFunding.funded_at), col(CreditFunding.id))
    )
    for funding in (await session.execute(stmt)).scalars().all():
        out[funding.credit_id].append(funding)
    return out

"""Credit registry: create credits and read them.

Amount inputs are ``Money`` (minor units) or a major-unit decimal (``"1500000"``,
``Decimal("1250.50")``) in the given ``currency``. Field names in ``ValidationFailed`` are
the API's (camelCase). The lifecycle mutations live in :mod:`domain.credits.lifecycle` and
are re-exported here, with the access checks, so callers need only this module.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.credits import records
from domain.credits.access import (
    ensure_can_list,
    ensure_can_read,
    ensure_can_write,
    ensure_customer,
    ensure_supervisor,
    ensure_visible,
    may_see,
    visible_to,
)
from domain.credits.allocation import AllocationOrder
from domain.credits.calendar import DayCount
from domain.credits.inputs import (
    AmountInput,
    parse_amount,
    parse_date,
    parse_rate,
    parse_reason,
    schedule_problems,
)
from domain.credits.lifecycle import (
    cancel_credit,
    disburse_credit,
    restructure_credit,
    write_off_credit,
)
from domain.credits.models import Credit, CreditSchedule, Installment
from domain.credits.policy import COUNTRY_TIMEZONES, PRODUCT_CODE, CreditPolicy, get_policy
from domain.credits.schedules import FeeMode, GraceKind, ScheduleRequest, Scheme, build_schedule
from domain.credits.states import AgingBucket, CreditStatus, ScheduleReason
from domain.customers.models import Customer
from domain.partners.models import Partner, PartnerKind
from domain.shared import audit, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Forbidden, NotFound, Problems, ValidationFailed
from domain.shared.models import table_of
from domain.shared.money import CURRENCY_EXPONENTS
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.reads import KeysetQuery
from domain.shared.text import like_escape
from domain.shared.time import utcnow
from domain.shared.types import UUIDType

__all__ = [
    "AmountInput",
    "cancel_credit",
    "create_credit",
    "disburse_credit",
    "ensure_can_read",
    "ensure_can_write",
    "ensure_supervisor",
    "ensure_visible",
    "get_by_reference",
    "get_credit",
    "get_many",
    "installments_of",
    "list_installments",
    "list_my_credits",
    "list_schedules",
    "may_see",
    "normalise_reference",
    "parse_reason",
    "restructure_credit",
    "search_credits",
    "visible_to",
    "write_off_credit",
]


_CURSOR_TAG = "credits.v1"

_PRODUCT_CODE = PRODUCT_CODE

_REFERENCE = re.compile(r"^CR-[0-9]{4}-[0-9]{6,}$", re.ASCII)

MAX_VEHICLE_REF = 100


async def _lender(
    session: AsyncSession, principal: Principal, requested: uuid.UUID | None, problems: Problems
) -> Partner | None:
    partner_id = requested or principal.partner_id
    if partner_id is None:
        problems.add("partnerId", "is required for a principal without a partner")
        return None
    if requested and requested != principal.partner_id and not principal.is_admin:
        raise Forbidden("you can only register credits for your own partner")
    partner = await session.get(Partner, partner_id)
    if partner is None or not partner.active:
        problems.add("partnerId", "is not an active partner")
        return None
    if partner.kind == PartnerKind.LOYALTY:
        problems.add("partnerId", "a loyalty program does not lend")
        return None
    if partner.country not in COUNTRY_TIMEZONES:
        problems.add("partnerId", f"no business calendar for country {partner.country}")
        return None
    return partner


async def create_credit(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: uuid.UUID,
    product_code: str,
    currency: str,
    amount: AmountInput,
    annual_rate: Decimal | str,
    term_months: int,
    disbursement_date: date,
    scheme: str = Scheme.FRENCH,
    day_count: str = DayCount.THIRTY_360,
    grace_months: int = 0,
    grace_kind: str = GraceKind.INTEREST_ONLY,
    opening_fee: AmountInput | None = None,
    opening_fee_mode: str = FeeMode.DEDUCTED,
    monthly_insurance: AmountInput | None = None,
    monthly_charges: AmountInput | None = None,
    vehicle_ref: str | None = None,
    late_annual_rate: Decimal | str | None = None,
    allocation_order: str | Sequence[str] | None = None,
    allocation_mode: str | None = None,
    partner_id: uuid.UUID | None = None,
    policy: CreditPolicy | None = None,
) -> Credit:
    """Register an APPROVED credit with its planned schedule (schedule 1, rebuilt on the
    actual disbursement date when it is disbursed)."""
    ensure_can_write(principal)
    policy = policy or get_policy()
    p = Problems()
    if not isinstance(currency, str) or currency not in CURRENCY_EXPONENTS:
        known = ", ".join(sorted(CURRENCY_EXPONENTS))
        raise ValidationFailed.on("currency", f"{currency!r} is not a supported currency ({known})")
    code = product_code.strip().upper() if isinstance(product_code, str) else ""
    if not _PRODUCT_CODE.match(code):
        p.add("productCode", "1 to 40 letters, digits, '-' or '_'")
    elif pan.contains_pan(code):
        p.add("productCode", pan.MESSAGE)
        code = ""
    money = parse_amount(amount, currency, "amount", p)
    if money is not None and money.amount <= 0:
        p.add("amount", "must be greater than zero")
        money = None
    if money is not None and _PRODUCT_CODE.match(code):
        limit = policy.principal_limit(currency, code)
        if money > limit:
            p.add("amount", f"{money} is above the maximum principal of {code} credits, {limit}")
            money = None
    fee = parse_amount(opening_fee, currency, "openingFee", p, optional=True)
    insurance = parse_amount(monthly_insurance, currency, "monthlyInsurance", p, optional=True)
    charges = parse_amount(monthly_charges, currency, "monthlyCharges", p, optional=True)
    rate = parse_rate(annual_rate, "annualRate", p)
    if rate is not None and rate > policy.max_annual_rate:
        p.add("annualRate", f"{rate} is above the maximum annual rate {policy.max_annual_rate}")
        rate = None
    late_rate = policy.late_annual_rate if late_annual_rate is None else None
    if late_annual_rate is not None:
        late_rate = parse_rate(late_annual_rate, "lateAnnualRate", p)
    if late_rate is not None and late_rate > policy.max_late_annual_rate:
        p.add(
            "lateAnnualRate",
            f"{late_rate} is above the maximum late-interest rate {policy.max_late_annual_rate}",
        )
        late_rate = None
    if (
        not isinstance(term_months, int)
        or isinstance(term_months, bool)
        or not (1 <= term_months <= policy.max_term_months)
    ):
        p.add("termMonths", f"must be a whole number of months from 1 to {policy.max_term_months}")
    planned = parse_date(disbursement_date, "disbursementDate", p)
    vehicle = None
    if vehicle_ref is not None:
        vehicle = " ".join(str(vehicle_ref).split())
        if not vehicle or len(vehicle) > MAX_VEHICLE_REF:
            p.add("vehicleRef", f"1 to {MAX_VEHICLE_REF} characters")
        elif pan.contains_pan(vehicle):
            p.add("vehicleRef", pan.MESSAGE)
    order = None
    try:
        order = AllocationOrder.parse(allocation_order, allocation_mode, field="allocationOrder")
    except ValidationFailed as exc:
        p.items.extend(exc.problems)
    if allocation_order is None and allocation_mode is None:
        order = policy.allocation_order
    customer = (
        await session.get(Customer, customer_id) if isinstance(customer_id, uuid.UUID) else None
    )
    if customer is None:
        p.add("customerId", "no such customer")
    lender = await _lender(session, principal, partner_id, p)
    schedule = None
    if money is not None and rate is not None and planned is not None and not p.items:
        try:
            schedule = build_schedule(
                ScheduleRequest(
                    principal=money,
                    annual_rate=rate,
                    term_months=term_months,
                    disbursement_date=planned,
                    scheme=scheme,  # type: ignore[arg-type]
                    day_count=day_count,  # type: ignore[arg-type]
                    grace_months=grace_months,
                    grace_kind=grace_kind,  # type: ignore[arg-type]
                    opening_fee=fee,
                    opening_fee_mode=opening_fee_mode,  # type: ignore[arg-type]
                    monthly_insurance=insurance,
                    monthly_charges=charges,
                    max_annual_rate=policy.max_annual_rate,
                )
            )
        except ValidationFailed as exc:
            p.items.extend(schedule_problems(exc))
    p.raise_if_any()
    assert schedule is not None and lender is not None and late_rate is not None
    assert order is not None and money is not None and rate is not None and planned is not None
    now = utcnow()
    credit = Credit(
        reference=await records.next_reference(session, now.year),
        customer_id=customer_id,
        partner_id=lender.id,
        product_code=code,
        currency=currency,
        principal=money.amount,
        annual_rate=rate,
        late_annual_rate=late_rate,
        term_months=term_months,
        scheme=schedule.scheme,
        day_count=DayCount(day_count),
        grace_months=grace_months,
        grace_kind=GraceKind(grace_kind),
        opening_fee=schedule.opening_fee.amount,
        opening_fee_mode=FeeMode(opening_fee_mode),
        monthly_insurance=insurance.amount if insurance else 0,
        monthly_charges=charges.amount if charges else 0,
        rounding=schedule.rounding,
        allocation_order=order.encode(),
        allocation_mode=order.mode,
        vehicle_ref=vehicle,
        timezone=COUNTRY_TIMEZONES[lender.country],
        planned_disbursement_date=planned,
        status=CreditStatus.APPROVED,
        created_at=now,
        updated_at=now,
    )
    session.add(credit)
    await session.flush()
    session.add(records.header_from(credit.id, 1, ScheduleReason.ORIGINAL, schedule))
    await session.flush()
    await records.store_installments(session, credit.id, 1, schedule)
    audit.record(
        session,
        principal=principal,
        action="credits.created",
        entity_type="Credit",
        entity_id=credit.id,
        after=records.snapshot(credit),
    )
    records.emit(
        session,
        credit,
        "credits.created",
        {
            "customerId": wire.global_id("Customer", credit.customer_id),
            "productCode": credit.product_code,
            "principal": wire.money(credit.principal, credit.currency),
            "annualRate": wire.decimal(credit.annual_rate),
            "termMonths": credit.term_months,
            "scheme": credit.scheme,
        },
    )
    return credit


async def get_many(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Credit]:
    """Credits by id, no access check (DataLoaders of an already-checked parent)."""
    if not ids:
        return {}
    rows = await session.execute(sa.select(Credit).where(col(Credit.id).in_(list(ids))))
    return {c.id: c for c in rows.scalars().all()}


async def get_credit(
    session: AsyncSession, *, principal: Principal, credit_id: uuid.UUID
) -> Credit:
    ensure_can_read(principal)
    credit = await session.get(Credit, credit_id)
    if credit is None:
        raise NotFound("Credit", credit_id)
    ensure_visible(principal, credit)
    return credit


async def get_by_reference(
    session: AsyncSession, *, principal: Principal, reference: str
) -> Credit:
    ensure_can_read(principal)
    text = reference.strip().upper() if isinstance(reference, str) else ""
    credit = (
        (await session.execute(sa.select(Credit).where(col(Credit.reference) == text)))
        .scalars()
        .first()
    )
    if credit is None or not may_see(principal, credit):
        raise NotFound("Credit", text)
    return credit


async def search_credits(
    session: AsyncSession,
    *,
    principal: Principal,
    limit: int,
    after: str | None = None,
    statuses: Sequence[str] | None = None,
    customer_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    aging_buckets: Sequence[str] | None = None,
    reference: str | None = None,
    with_total: bool = False,
) -> Page[Credit]:
    """Credits the principal may see, newest first (keyset on the time-ordered id). Staff
    and administrators only: a customer lists their own with :func:`list_my_credits`."""
    ensure_can_list(principal)
    return await _search(
        session,
        principal=principal,
        limit=limit,
        after=after,
        statuses=statuses,
        customer_id=customer_id,
        partner_id=partner_id,
        aging_buckets=aging_buckets,
        reference=reference,
        with_total=with_total,
    )


async def list_my_credits(
    session: AsyncSession,
    *,
    principal: Principal,
    limit: int,
    after: str | None = None,
    statuses: Sequence[str] | None = None,
    with_total: bool = False,
) -> Page[Credit]:
    """A customer's own credits, newest first (``Forbidden`` for anyone but a customer)."""
    customer_id = ensure_customer(principal)
    return await _search(
        session,
        principal=principal,
        limit=limit,
        after=after,
        statuses=statuses,
        customer_id=customer_id,
        with_total=with_total,
    )


def credit_cursor(credit_id: uuid.UUID) -> str:
    """The cursor of a credit in the lists' order (newest first, by the time-ordered id)."""
    return encode_cursor(_CURSOR_TAG, str(credit_id))


def credit_list(
    principal: Principal,
    *,
    limit: int,
    after: str | None = None,
    statuses: Sequence[str] | None = None,
    customer_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    aging_buckets: Sequence[str] | None = None,
    reference: str | None = None,
) -> KeysetQuery:
    """The credits ``principal`` may see that match, newest first: the list every read
    path selects from (:func:`search_credits`, :func:`list_my_credits`, compiled reads).
    The caller checked who may list (:func:`ensure_can_list`, :func:`ensure_customer`)."""
    table = table_of(Credit)
    conditions: list[sa.ColumnElement[bool]] = [visible_to(principal)]
    if statuses:
        known = {s.value for s in CreditStatus}
        bad = [s for s in statuses if s not in known]
        if bad:
            raise ValidationFailed.on("status", f"unknown status {bad[0]!r}")
        conditions.append(table.c.status.in_(list(statuses)))
    if aging_buckets:
        known = {b.value for b in AgingBucket}
        bad = [b for b in aging_buckets if b not in known]
        if bad:
            raise ValidationFailed.on("agingBucket", f"unknown bucket {bad[0]!r}")
        conditions.append(table.c.aging_bucket.in_(list(aging_buckets)))
    if customer_id is not None:
        conditions.append(table.c.customer_id == customer_id)
    if partner_id is not None:
        conditions.append(table.c.partner_id == partner_id)
    if reference and reference.strip():
        prefix = reference.strip().upper()[:20]
        conditions.append(table.c.reference.like(like_escape(prefix) + "%", escape="\\"))
    keyset: tuple[sa.ColumnElement[bool], ...] = ()
    if after:
        (raw,) = decode_cursor(after, _CURSOR_TAG, 1)
        try:
            last_id = uuid.UUID(str(raw))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        keyset = (table.c.id < sa.literal(last_id, type_=UUIDType),)
    return KeysetQuery(
        table=table,
        conditions=tuple(conditions),
        keyset=keyset,
        order_by=(table.c.id.desc(),),
        limit=limit,
        after=after,
        cursor_keys=("id",),
        cursor=credit_cursor,
    )


async def _search(
    session: AsyncSession,
    *,
    principal: Principal,
    limit: int,
    after: str | None = None,
    statuses: Sequence[str] | None = None,
    customer_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    aging_buckets: Sequence[str] | None = None,
    reference: str | None = None,
    with_total: bool = False,
) -> Page[Credit]:
    query = credit_list(
        principal,
        limit=limit,
        after=after,
        statuses=statuses,
        customer_id=customer_id,
        partner_id=partner_id,
        aging_buckets=aging_buckets,
        reference=reference,
    )
    rows = list((await session.execute(query.statement(Credit))).scalars().all())
    total = None
    if with_total:
        total = int((await session.execute(query.count_statement())).scalar_one())
    return query.page(rows, total=total)


async def list_installments(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    schedule_no: int | None = None,
) -> list[Installment]:
    """The stored rows of one schedule (the one in force by default), in order."""
    credit = await get_credit(session, principal=principal, credit_id=credit_id)
    number = credit.schedule_no if schedule_no is None else schedule_no
    rows = await session.execute(
        sa.select(Installment)
        .where(col(Installment.credit_id) == credit.id, col(Installment.schedule_no) == number)
        .order_by(col(Installment.number))
    )
    return list(rows.scalars().all())


def installments_query(
    credit_ids: Sequence[uuid.UUID], *, current_only: bool = True
) -> tuple[sa.FromClause, list[sa.ColumnElement[bool]], list[sa.ColumnElement[object]]]:
    """The installment rows of many credits (of the schedule in force, or every schedule),
    in order: ``(from clause, conditions, order_by)`` for any read path."""
    rows = table_of(Installment)
    credits = table_of(Credit)
    conditions: list[sa.ColumnElement[bool]] = [rows.c.credit_id.in_(list(credit_ids))]
    if current_only:
        conditions.append(rows.c.schedule_no == credits.c.schedule_no)
    return (
        rows.join(credits, credits.c.id == rows.c.credit_id),
        conditions,
        [rows.c.credit_id, rows.c.schedule_no, rows.c.number],
    )


async def installments_of(
    session: AsyncSession, credit_ids: Sequence[uuid.UUID], *, current_only: bool = True
) -> dict[uuid.UUID, list[Installment]]:
    """Installments of many credits in one query (DataLoaders; no access check)."""
    if not credit_ids:
        return {}
    from_, conditions, order_by = installments_query(credit_ids, current_only=current_only)
    stmt = sa.select(Installment).select_from(from_).where(*conditions).order_by(*order_by)
    out: dict[uuid.UUID, list[Installment]] = {i: [] for i in credit_ids}
    for row in (await session.execute(stmt)).scalars():
        out[row.credit_id].append(row)
    return out


async def list_schedules(
    session: AsyncSession, *, principal: Principal, credit_id: uuid.UUID
) -> list[CreditSchedule]:
    """Every schedule of the credit, the original first (restructures keep the old ones)."""
    credit = await get_credit(session, principal=principal, credit_id=credit_id)
    rows = await session.execute(
        sa.select(CreditSchedule)
        .where(col(CreditSchedule.credit_id) == credit.id)
        .order_by(col(CreditSchedule.schedule_no))
    )
    return list(rows.scalars().all())


def normalise_reference(value: str) -> str | None:
    text = value.strip().upper() if isinstance(value, str) else ""
    return text if _REFERENCE.match(text) else None

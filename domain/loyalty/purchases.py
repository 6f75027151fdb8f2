"""Purchases in: the card platform's batches (``recordPurchases``, ``trama loyalty
purchases FILE``) and Trama's own events (an on-time credit payment).

A batch is checked whole — every problem named by its field, nothing written when there is
one — and is idempotent by the platform's transaction id: one already received with the
same figures is a duplicate (counted, not written again); with other figures it is refused.
No card number gets in: every text is searched (``domain/shared/pan.py``). Accepted rows
wait as ``RECEIVED`` for ``loyalty.accrue`` (``domain/loyalty/accrual.py``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty import access, rulesets
from domain.loyalty import accounts as accounts_service
from domain.loyalty import events as loyalty_events
from domain.loyalty.lots import local_date
from domain.loyalty.models import (
    AccountStatus,
    LoyaltyAccount,
    LoyaltyProgram,
    LoyaltyPurchase,
    PurchaseKind,
    PurchaseStatus,
)
from domain.loyalty.rules import MCC
from domain.shared import audit, pan
from domain.shared.errors import Problems
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import Money, MoneyError
from domain.shared.principal import Principal
from domain.shared.sql import insert_ignoring_conflicts
from domain.shared.time import NaiveDatetimeError, ensure_utc, utcnow

MAX_BATCH = 1000
#: A purchase dated further in the future than this is refused (clocks differ a little).
FUTURE_TOLERANCE = timedelta(minutes=10)
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,99}$", re.ASCII)
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$", re.ASCII)


@dataclass(frozen=True, slots=True)
class PurchaseInput:
    """One record as the platform sends it (``amount`` in major units, as text)."""

    external_id: str
    amount: str
    currency: str
    occurred_at: datetime
    kind: str = PurchaseKind.PURCHASE.value
    account_id: uuid.UUID | None = None
    member_number: str | None = None
    refund_of: str | None = None  # the refunded purchase's transaction id
    mcc: str | None = None
    merchant_partner: str | None = None
    merchant_name: str | None = None
    channel: str | None = None
    card_product: str | None = None


@dataclass(frozen=True, slots=True)
class RecordResult:
    accepted: int
    duplicates: int
    purchase_ids: list[uuid.UUID]


def _same(row: Any, values: dict[str, Any]) -> bool:
    keys = ("account_id", "kind", "amount", "currency", "mcc", "channel", "card_product")
    if any(getattr(row, k) != values[k] for k in keys):
        return False
    return bool(ensure_utc(row.occurred_at) == values["occurred_at"])


async def record_purchases(
    session: AsyncSession,
    principal: Principal,
    *,
    program_id: uuid.UUID,
    purchases: Sequence[PurchaseInput],
) -> RecordResult:
    """Check and store a batch; all or nothing."""
    access.ensure_can_write(principal)
    program = await accounts_service.get_program(session, program_id)
    access.ensure_staff_of(principal, program)
    p = Problems()
    if not purchases:
        p.add("purchases", "at least one purchase")
    if len(purchases) > MAX_BATCH:
        p.add("purchases", f"at most {MAX_BATCH} purchases per batch")
    p.raise_if_any()
    now = utcnow()
    # who: accounts by id or member number, of this program
    numbers = {x.member_number for x in purchases if x.member_number}
    ids = {x.account_id for x in purchases if x.account_id}
    accounts = table_of(LoyaltyAccount)
    found = (
        await session.execute(
            sa.select(accounts.c.id, accounts.c.number).where(
                accounts.c.program_id == program.id,
                sa.or_(
                    accounts.c.number.in_(list(numbers)) if numbers else sa.false(),
                    accounts.c.id.in_(list(ids)) if ids else sa.false(),
                ),
            )
        )
    ).all()
    by_number = {r.number: r.id for r in found}
    known_ids = {r.id for r in found}
    # what was received before (the batch's ids and the refunded purchases')
    table = table_of(LoyaltyPurchase)
    wanted = {x.external_id for x in purchases if isinstance(x.external_id, str)}
    wanted |= {x.refund_of for x in purchases if x.refund_of}
    before = {
        r.external_id: r
        for r in (
            await session.execute(
                sa.select(table).where(
                    table.c.program_id == program.id, table.c.external_id.in_(list(wanted))
                )
            )
        ).all()
    }
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    duplicates = 0
    refunded: dict[str, int] = {}
    for i, x in enumerate(purchases):
        at = f"purchases[{i}]"
        values = _check_one(p, at, x, program.currency, now)
        account_id = x.account_id if x.account_id in known_ids else None
        if x.member_number:
            account_id = by_number.get(x.member_number)
        if x.account_id is None and not x.member_number:
            p.add(f"{at}.memberNumber", "say whose purchase it is (memberNumber or accountId)")
        elif account_id is None:
            p.add(
                f"{at}.memberNumber" if x.member_number else f"{at}.accountId",
                "not a member of this program",
            )
        if values is None or account_id is None:
            continue
        values["account_id"] = account_id
        if x.external_id in seen:
            p.add(
                f"{at}.externalId", f"appears twice in the batch (also at [{seen[x.external_id]}])"
            )
            continue
        seen[x.external_id] = i
        old = before.get(x.external_id)
        if old is not None:
            if _same(old, values):
                duplicates += 1
            else:
                p.add(f"{at}.externalId", "already received with other figures")
            continue
        refund_of_id = None
        if values["kind"] == PurchaseKind.REFUND.value:
            original = before.get(x.refund_of or "")
            batch_original = next((r for r in rows if r["external_id"] == x.refund_of), None)
            target: Any = original if original is not None else batch_original
            if target is None:
                p.add(f"{at}.refundOf", "the refunded purchase was not received")
                continue
            kind = target.kind if original is not None else target["kind"]
            target_account = target.account_id if original is not None else target["account_id"]
            amount = target.amount if original is not None else target["amount"]
            target_id = target.id if original is not None else target["id"]
            if kind != PurchaseKind.PURCHASE.value or target_account != account_id:
                p.add(f"{at}.refundOf", "not a purchase of the same member")
                continue
            already = refunded.get(x.refund_of or "")
            if already is None:
                already = await _refunded_so_far(session, target_id) if original else 0
            if already + values["amount"] > amount:
                p.add(
                    f"{at}.amount",
                    "refunds of a purchase cannot add up to more than the purchase",
                )
                continue
            refunded[x.refund_of or ""] = already + values["amount"]
            refund_of_id = target_id
        rows.append(
            {
                **values,
                "id": uuid7(),
                "program_id": program.id,
                "refund_of_id": refund_of_id,
                "event_type": None,
                "received_at": now,
                "status": PurchaseStatus.RECEIVED.value,
            }
        )
    p.raise_if_any()
    inserted = await insert_ignoring_conflicts(
        session, table, rows, index_elements=["program_id", "external_id"]
    )
    duplicates += len(rows) - inserted
    audit.record(
        session,
        principal=principal,
        action="loyalty.purchases.record",
        entity_type="LoyaltyProgram",
        entity_id=program.id,
        after={"accepted": inserted, "duplicates": duplicates, "count": len(purchases)},
    )
    loyalty_events.emit(
        session,
        "loyalty.purchases_recorded",
        program,
        {"accepted": inserted, "duplicates": duplicates},
    )
    return RecordResult(inserted, duplicates, [r["id"] for r in rows])


async def _refunded_so_far(session: AsyncSession, purchase_id: uuid.UUID) -> int:
    table = table_of(LoyaltyPurchase)
    total = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(table.c.amount), 0)).where(
            table.c.refund_of_id == purchase_id,
            table.c.status != PurchaseStatus.REJECTED.value,
        )
    )
    return int(total or 0)


def _code(p: Problems, field: str, value: str | None, what: str) -> str | None:
    if value is None:
        return None
    pan.check(p, field, value)
    text = value.strip()
    if not _CODE.match(text):
        p.add(field, f"a {what} code of letters, digits, '_', '.', '-' (at most 40)")
        return None
    return text


def _check_one(
    p: Problems, at: str, x: PurchaseInput, currency: str, now: datetime
) -> dict[str, Any] | None:
    before = len(p.items)
    for label, value in (
        ("externalId", x.external_id),
        ("memberNumber", x.member_number),
        ("refundOf", x.refund_of),
        ("merchantName", x.merchant_name),
        ("amount", x.amount),
    ):
        pan.check(p, f"{at}.{label}", value)
    if not isinstance(x.external_id, str) or not _EXTERNAL_ID.match(x.external_id):
        p.add(f"{at}.externalId", "the platform's transaction id: letters, digits, _.:/- (≤100)")
    kind = x.kind
    if kind not in (PurchaseKind.PURCHASE.value, PurchaseKind.REFUND.value):
        p.add(f"{at}.kind", "PURCHASE or REFUND")
    if kind == PurchaseKind.REFUND.value and not x.refund_of:
        p.add(f"{at}.refundOf", "a refund names the purchase it refunds")
    if kind == PurchaseKind.PURCHASE.value and x.refund_of:
        p.add(f"{at}.refundOf", "only refunds name a purchase")
    amount: Money | None = None
    if x.currency != currency:
        p.add(f"{at}.currency", f"the program's currency is {currency}")
    else:
        try:
            amount = Money.parse(x.amount, currency)
        except MoneyError as exc:
            p.add(f"{at}.amount", str(exc))
    if amount is not None and amount.amount <= 0:
        p.add(f"{at}.amount", "more than zero")
    mcc = x.mcc.strip() if isinstance(x.mcc, str) else None
    if mcc is not None and not MCC.match(mcc):
        p.add(f"{at}.mcc", "a merchant category code (MCC) is 4 digits, like 5411")
    channel = _code(p, f"{at}.channel", x.channel, "channel")
    product = _code(p, f"{at}.cardProduct", x.card_product, "card product")
    merchant = _code(p, f"{at}.merchantPartner", x.merchant_partner, "partner")
    name = x.merchant_name.strip() if x.merchant_name else None
    if name is not None and len(name) > 200:
        p.add(f"{at}.merchantName", "at most 200 characters")
    try:
        occurred = ensure_utc(x.occurred_at)
    except NaiveDatetimeError:
        p.add(f"{at}.occurredAt", "an instant with its timezone")
        occurred = None
    if occurred is not None and occurred > now + FUTURE_TOLERANCE:
        p.add(f"{at}.occurredAt", "in the future")
    if len(p.items) > before or amount is None or occurred is None:
        return None
    return {
        "external_id": x.external_id,
        "kind": kind,
        "amount": amount.amount,
        "currency": currency,
        "mcc": mcc,
        "merchant_partner": merchant,
        "merchant_name": name,
        "channel": channel,
        "card_product": product,
        "occurred_at": occurred,
    }


#: Trama's own events a program's rules may reward (``events[].type`` of a rule set).
EVENT_CREDIT_PAYMENT_ON_TIME = "credit_payment_on_time"


async def record_event(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    event_type: str,
    source_id: str,
    occurred_at: datetime,
    currency: str,
    amount: int = 0,
) -> list[uuid.UUID]:
    """A Trama event that may earn points: one ``EVENT`` row per ACTIVE account of the
    customer whose program's rules in force reward ``event_type`` (idempotent by
    ``event:<type>:<source id>``). Returns the rows written (the caller accrues them)."""
    accounts = table_of(LoyaltyAccount)
    programs = table_of(LoyaltyProgram)
    found = (
        await session.execute(
            sa.select(
                accounts.c.id, accounts.c.program_id, programs.c.timezone, programs.c.currency
            )
            .join(programs, programs.c.id == accounts.c.program_id)
            .where(
                accounts.c.customer_id == customer_id,
                accounts.c.status == AccountStatus.ACTIVE.value,
                programs.c.active.is_(True),
            )
        )
    ).all()
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for account_id, program_id, timezone, program_currency in found:
        calendar = await rulesets.calendar(session, program_id)
        version = calendar.at(local_date(occurred_at, ZoneInfo(timezone)))
        if version is None or not any(e.type == event_type for e in version.rules.events):
            continue
        rows.append(
            {
                "id": uuid7(),
                "program_id": program_id,
                "account_id": account_id,
                "external_id": f"event:{event_type}:{source_id}"[:100],
                "kind": PurchaseKind.EVENT.value,
                "refund_of_id": None,
                "event_type": event_type,
                "amount": amount if currency == program_currency else 0,
                "currency": program_currency,
                "mcc": None,
                "merchant_partner": None,
                "merchant_name": None,
                "channel": None,
                "card_product": None,
                "occurred_at": occurred_at,
                "received_at": now,
                "status": PurchaseStatus.RECEIVED.value,
            }
        )
    if not rows:
        return []
    table = table_of(LoyaltyPurchase)
    await insert_ignoring_conflicts(
        session, table, rows, index_elements=["program_id", "external_id"]
    )
    return [r["id"] for r in rows]

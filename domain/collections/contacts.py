"""The contact log: every call, message, letter or visit about a credit, with its outcome.

A contact whose outcome is ``PROMISE_TO_PAY`` carries the promise (amount and date) and
records it in the same transaction (``domain.collections.promises``). Logging a contact
marks the credit's open queue items as worked (their count and the time of the last
contact), so a collector's list shows what is still untouched today. Notes stay in Trama:
events carry the outcome, never the note.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.collections import promises
from domain.collections import work_access as access
from domain.collections.collectors import collector_for_subject
from domain.collections.work_models import (
    Contact,
    ContactChannel,
    ContactDirection,
    ContactOutcome,
    Promise,
    QueueItem,
    QueueStatus,
)
from domain.shared import audit, outbox, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Problems, ValidationFailed
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.time import NaiveDatetimeError, ensure_utc, isoformat, utcnow
from domain.shared.types import UTCDateTime

__all__ = ["ContactLogged", "PromiseInput", "list_contacts", "log_contact"]

NOTE_MAX = 2000
#: A contact may be logged up to this long after it happened.
MAX_BACKDATE = timedelta(days=30)
_FUTURE_TOLERANCE = timedelta(minutes=5)
_CURSOR_TAG = "contacts.v1"


@dataclass(frozen=True, slots=True)
class PromiseInput:
    amount: Money
    promised_date: date


@dataclass(frozen=True, slots=True)
class ContactLogged:
    contact: Contact
    promise: Promise | None


def _enum(problems: Problems, kind: Any, value: str, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        problems.add(field, f"one of {', '.join(k.value for k in kind)}")
        return None


async def log_contact(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    channel: str,
    outcome: str,
    direction: str = ContactDirection.OUTBOUND,
    note: str | None = None,
    contacted_at: datetime | None = None,
    promise: PromiseInput | None = None,
) -> ContactLogged:
    """Log a contact on a credit of the lender (now, or when it happened, up to 30 days
    back). ``PROMISE_TO_PAY`` needs ``promise``; other outcomes refuse one."""
    access.ensure_can_work(principal)
    credit = await promises.lender_credit(session, principal, credit_id, lock=True)
    problems = Problems()
    kind = _enum(problems, ContactChannel, channel, "channel")
    result = _enum(problems, ContactOutcome, outcome, "outcome")
    way = _enum(problems, ContactDirection, direction, "direction")
    text = None
    if note is not None and " ".join(note.split()):
        text = note.strip()
        if len(text) > NOTE_MAX:
            problems.add("note", f"at most {NOTE_MAX} characters")
        elif pan.contains_pan(text):
            problems.add("note", pan.MESSAGE)
    now = utcnow()
    when = now
    if contacted_at is not None:
        try:
            when = ensure_utc(contacted_at)
        except NaiveDatetimeError:
            problems.add("contactedAt", "must carry a timezone")
        else:
            if when > now + _FUTURE_TOLERANCE:
                problems.add("contactedAt", "cannot be in the future")
            elif when < now - MAX_BACKDATE:
                problems.add("contactedAt", "at most 30 days back")
    if result is ContactOutcome.PROMISE_TO_PAY and promise is None:
        problems.add("promise", "a promise to pay needs its amount and date")
    if promise is not None and result is not None and result is not ContactOutcome.PROMISE_TO_PAY:
        problems.add("promise", "only a PROMISE_TO_PAY outcome carries a promise")
    problems.raise_if_any()
    made = None
    if promise is not None:
        made = await promises.make_promise(
            session,
            principal=principal,
            credit_id=credit.id,
            amount=promise.amount,
            promised_date=promise.promised_date,
            field_prefix="promise.",
        )
    collector = None
    if principal.partner_id is not None:
        collector = await collector_for_subject(session, credit.partner_id, principal.subject)
    contact = Contact(
        partner_id=credit.partner_id,
        credit_id=credit.id,
        customer_id=credit.customer_id,
        channel=kind.value,
        direction=way.value,
        outcome=result.value,
        note=text,
        contacted_at=when,
        collector_id=collector.id if collector is not None else None,
        promise_id=made.id if made is not None else None,
        created_by=principal.subject,
    )
    session.add(contact)
    await session.flush()
    items = table_of(QueueItem)
    await session.execute(
        items.update()
        .where(items.c.credit_id == credit.id, items.c.status == QueueStatus.OPEN)
        .values(
            contact_count=items.c.contact_count + 1,
            last_contact_at=sa.case(
                (items.c.last_contact_at.is_(None), sa.literal(when, UTCDateTime())),
                (items.c.last_contact_at < when, sa.literal(when, UTCDateTime())),
                else_=items.c.last_contact_at,
            ),
            promise_id=made.id if made is not None else items.c.promise_id,
            updated_at=now,
            version=items.c.version + 1,
        ),
        execution_options={"synchronize_session": False},
    )
    audit.record(
        session,
        principal=principal,
        action="collections.contact_logged",
        entity_type="CollectionContact",
        entity_id=contact.id,
        after={
            "credit_id": credit.id,
            "channel": contact.channel,
            "direction": contact.direction,
            "outcome": contact.outcome,
            "note": contact.note,
            "contacted_at": contact.contacted_at,
            "promise_id": contact.promise_id,
        },
    )
    outbox.add(
        session,
        "collections.contact_logged",
        {
            "creditId": wire.global_id("Credit", credit.id),
            "customerId": wire.global_id("Customer", credit.customer_id),
            "partnerId": wire.global_id("Partner", credit.partner_id),
            "contactId": str(contact.id),
            "channel": contact.channel,
            "direction": contact.direction,
            "outcome": contact.outcome,
            "contactedAt": wire.instant(contact.contacted_at),
            "collectorId": str(contact.collector_id) if contact.collector_id else None,
            "promiseId": str(contact.promise_id) if contact.promise_id else None,
        },
        partner_ids=[credit.partner_id],
        key=wire.global_id("Credit", credit.id),
    )
    return ContactLogged(contact, made)


async def list_contacts(
    session: AsyncSession,
    *,
    principal: Principal,
    lender_id: uuid.UUID | None,
    limit: int,
    after: str | None = None,
    credit_id: uuid.UUID | None = None,
    outcomes: Sequence[str] | None = None,
) -> Page[Contact]:
    """A lender's contacts, the latest first (by when they happened)."""
    partner_id = access.lender_for(principal, lender_id)
    conditions: list[sa.ColumnElement[bool]] = [col(Contact.partner_id) == partner_id]
    if credit_id is not None:
        conditions.append(col(Contact.credit_id) == credit_id)
    if outcomes:
        known = {o.value for o in ContactOutcome}
        bad = [o for o in outcomes if o not in known]
        if bad:
            raise ValidationFailed.on("outcome", f"unknown outcome {bad[0]!r}")
        conditions.append(col(Contact.outcome).in_(list(outcomes)))
    stmt = sa.select(Contact).where(*conditions)
    if after:
        raw_at, raw_id = decode_cursor(after, _CURSOR_TAG, 2)
        try:
            last_at = datetime.fromisoformat(str(raw_at).replace("Z", "+00:00"))
            last_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        stmt = stmt.where(
            sa.or_(
                col(Contact.contacted_at) < last_at,
                sa.and_(col(Contact.contacted_at) == last_at, col(Contact.id) < last_id),
            )
        )
    stmt = stmt.order_by(col(Contact.contacted_at).desc(), col(Contact.id).desc()).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    items = rows[:limit]
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR_TAG, isoformat(c.contacted_at), str(c.id)) for c in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
    )

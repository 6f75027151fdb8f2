"""One timeline per lead and per customer (issue 12).

Design: a table of items (:class:`CrmTimelineItem`) written when things happen, rather than
a UNION over every domain's tables at read time. CRM writes its own items in the same
transaction as the change (a capture, a task, a stage change); other domains' items are
written by the ``crm.timeline`` consumer of their events (``workers/actors/crm.py``), which
has the event id as ``source_ref``, so a redelivered event writes nothing twice; a backfill
(``trama crm backfill-timeline``) runs the same code over the retained event log. A page is
then one indexed range scan on ``(customer_id | lead_id, occurred_at, id)``, newest first,
whatever domains the items came from, and the viewer's rule is one SQL condition:

- administrators see everything;
- a partner's staff and systems see the items whose ``audience`` names their partner (the
  partners the source event went to; CRM's own items: the lender) — and a lead's timeline
  only when the lead is their lender's;
- a customer (their own principal) sees the items marked ``visible_to_customer`` of their
  own timeline, and nothing of a lead's.

Items keep ids and figures (as events do) plus the text of a CRM note, which only the
lender's audience sees.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.crm import access
from domain.crm.models import CrmLead, CrmTimelineItem, TimelineKind
from domain.crm.parties import Party, PartyKind
from domain.shared.errors import Forbidden, NotFound, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.outbox import audience_of
from domain.shared.pagination import Page, clamp_page_size, decode_cursor, encode_cursor
from domain.shared.principal import PARTNER_ROLES, Principal, Role, Scope
from domain.shared.sql import insert_ignoring_conflicts
from domain.shared.time import ensure_utc, isoformat, utcnow

_CURSOR_TAG = "crm.timeline.v1"
MAX_PAGE = 100
DEFAULT_PAGE = 20


async def add_timeline_item(
    session: AsyncSession,
    *,
    subject: Party | uuid.UUID,
    kind: TimelineKind | str,
    occurred_at: datetime,
    visible_to_customer: bool,
    partner_id: uuid.UUID | None,
    payload: dict[str, Any],
    source_ref: str,
    audience: Iterable[uuid.UUID] = (),
) -> bool:
    """Write one item on a lead's or a customer's timeline, once per ``source_ref``.

    ``subject``: a :class:`Party` (or a bare lead or customer id); an item of a converted
    lead also lands on its customer's timeline. ``partner_id``: the partner whose item it
    is; it is always in the audience, with ``audience``'s partners. Returns whether the item
    was written (False: ``source_ref`` was written before — nothing changed)."""
    kind_value = TimelineKind(kind).value
    if not source_ref or len(source_ref) > 200:
        raise ValueError("a timeline item needs a source_ref of 1-200 characters")
    lead_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    kind_of = subject.kind if isinstance(subject, Party) else None
    key = subject.id if isinstance(subject, Party) else subject
    if kind_of in (None, PartyKind.LEAD):
        lead = await session.get(CrmLead, key)
        if lead is not None:
            lead_id, customer_id = lead.id, lead.customer_id
    if lead_id is None:
        if kind_of is PartyKind.LEAD:
            raise NotFound("Lead", key)
        customer_id = key
        if isinstance(subject, Party) and subject.lead_id is not None:
            lead_id = subject.lead_id
    partners = {p for p in audience if p is not None}
    if partner_id is not None:
        partners.add(partner_id)
    row = {
        "id": uuid7(),
        "lead_id": lead_id,
        "customer_id": customer_id,
        "kind": kind_value,
        "occurred_at": ensure_utc(occurred_at),
        "partner_id": partner_id,
        "audience": audience_of(partners),
        "visible_to_customer": visible_to_customer,
        "payload": payload,
        "source_ref": source_ref,
        "created_at": utcnow(),
    }
    inserted = await insert_ignoring_conflicts(
        session, table_of(CrmTimelineItem), [row], index_elements=["source_ref"]
    )
    return inserted == 1


async def move_lead_items(
    session: AsyncSession, *, lead_id: uuid.UUID, customer_id: uuid.UUID
) -> int:
    """A converted lead's items join its customer's timeline (they keep ``lead_id``)."""
    table = table_of(CrmTimelineItem)
    result = await session.execute(
        sa.update(table).where(table.c.lead_id == lead_id).values(customer_id=customer_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def viewer_condition(
    principal: Principal, subject: Party, table: sa.Table
) -> sa.ColumnElement[bool]:
    """The items of ``subject``'s timeline ``principal`` may see (see the module doc)."""
    if principal.is_admin:
        return sa.true()
    if principal.has_role(Role.CUSTOMER):
        if subject.kind is PartyKind.CUSTOMER and principal.customer_id == subject.id:
            return table.c.visible_to_customer.is_(True)
        return sa.false()
    if principal.partner_id is not None and principal.has_role(*PARTNER_ROLES):
        return table.c.audience.like(f"%,{principal.partner_id},%")
    return sa.false()


async def ensure_can_view(session: AsyncSession, principal: Principal, subject: Party) -> Party:
    """Refuse a timeline the principal may not read at all; a lead of another lender is
    NOT_FOUND (its existence is not told)."""
    if subject.kind is PartyKind.LEAD:
        lead = await session.get(CrmLead, subject.id)
        if lead is None or not access.may_read(principal, lead.partner_id):
            raise NotFound("Lead", subject.id)
        return Party(PartyKind.LEAD, lead.id, partner_id=lead.partner_id)
    if principal.has_role(Role.CUSTOMER):
        if principal.customer_id != subject.id:
            raise Forbidden("a customer reads their own timeline only")
        return subject
    if not principal.is_admin and not (
        principal.has_scope(Scope.CRM_READ) or principal.has_scope(Scope.CUSTOMERS_READ)
    ):
        raise Forbidden("reading a timeline needs crm:read or customers:read")
    return subject


def _kinds(kinds: Sequence[str] | None) -> list[str] | None:
    if kinds is None:
        return None
    known = {k.value for k in TimelineKind}
    wrong = [k for k in kinds if k not in known]
    if wrong:
        raise ValidationFailed.on("kinds", f"unknown kind {wrong[0]!r}")
    return sorted(set(kinds))


async def read_timeline(
    session: AsyncSession,
    *,
    principal: Principal,
    subject: Party,
    first: int | None = None,
    after: str | None = None,
    kinds: Sequence[str] | None = None,
    checked: bool = False,
) -> Page[CrmTimelineItem]:
    """A page of the timeline, newest first (keyset on ``occurred_at``, ``id``)."""
    size = clamp_page_size(first, default=DEFAULT_PAGE, maximum=MAX_PAGE)
    wanted = _kinds(kinds)
    if not checked:
        subject = await ensure_can_view(session, principal, subject)
    table = table_of(CrmTimelineItem)
    owner = (
        table.c.lead_id == subject.id
        if subject.kind is PartyKind.LEAD
        else table.c.customer_id == subject.id
    )
    query = sa.select(CrmTimelineItem).where(owner, viewer_condition(principal, subject, table))
    if wanted is not None:
        query = query.where(table.c.kind.in_(wanted))
    if after is not None:
        at, key = decode_cursor(after, _CURSOR_TAG, 2)
        try:
            at_value = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
            key_value = uuid.UUID(str(key))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        query = query.where(
            sa.or_(
                table.c.occurred_at < at_value,
                sa.and_(table.c.occurred_at == at_value, table.c.id < key_value),
            )
        )
    query = query.order_by(table.c.occurred_at.desc(), table.c.id.desc()).limit(size + 1)
    rows = list((await session.execute(query)).scalars())
    items = rows[:size]
    cursors = [encode_cursor(_CURSOR_TAG, isoformat(i.occurred_at), str(i.id)) for i in items]
    return Page(
        items=items, cursors=cursors, has_next=len(rows) > size, has_previous=after is not None
    )

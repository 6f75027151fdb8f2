"""Demo cases for ``trama seed [--cases N]``: every state, across partners, with timelines.

First the parameters the cases domain needs: the typology catalog and a default
homologation table for every partner that has none. Then N demo cases told as stories —
open, in progress, waiting for the customer or a partner, derived and waiting for the
target, derived and accepted, resolved, closed, rejected, at risk, breached — cycling
through :data:`app.seed_case_stories.PATTERN` so that any N from 20 up shows every state.

The rows are inserted set-wise (``trama seed --cases 100000`` takes seconds, not hours) but
are the rows the services would have written: gap-free references from the year's counter,
a status row for every involved partner (the originator's carries the demo's external
reference ``DEMO-0000001``), a numbered timeline whose length is the case's
``timeline_seq``, ``version`` = 1 + the changes, comments beside their timeline entries,
SLA windows on each partner's banking calendar consistent with the state. One audit record
per batch says what was seeded; no outbox events (demo history, not news).

Deterministic and additive: case ``i`` is a pure function of ``i``, the demo customers and
the day the seed runs; the seed counts the demo cases present and adds only the missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import transaction
from app.seed_case_stories import CURRENCIES, DEMO_PREFIX, Story, StoryContext, story
from domain.cases import homologation, typologies
from domain.cases.models import (
    Case,
    CaseComment,
    CaseEvent,
    CasePartnerStatus,
    CaseReferenceCounter,
)
from domain.cases.references import format_reference
from domain.customers.models import Customer
from domain.partners.models import Partner, PartnerKind
from domain.shared import audit
from domain.shared.models import table_of
from domain.shared.principal import SYSTEM
from domain.shared.sql import dialect_of
from domain.shared.time import utcnow

DEMO_CASES = 60
#: Cases per transaction.
BATCH = 2_000
#: After adding this many cases, refresh PostgreSQL's statistics of the tables.
ANALYZE_AFTER = 5_000


# --- database -----------------------------------------------------------------------------
async def _prepare(session: AsyncSession) -> None:
    await typologies.ensure_catalog(session)
    partner_ids = (await session.execute(sa.select(table_of(Partner).c.id))).scalars().all()
    for partner_id in partner_ids:
        await homologation.ensure_default_mapping(session, principal=SYSTEM, partner_id=partner_id)


async def _context(session: AsyncSession, now: datetime) -> StoryContext | None:
    partners = list(
        (await session.execute(sa.select(Partner).order_by(table_of(Partner).c.code))).scalars()
    )
    # post-sale cases are opened at card issuers, banks, retailers and lenders; a loyalty
    # program or a vehicle dealer of the marketplace handles none
    working = [
        p
        for p in partners
        if p.active
        and p.kind not in (PartnerKind.LOYALTY, PartnerKind.DEALER)
        and p.country in CURRENCIES
    ]
    c = table_of(Customer)
    customers = [
        (r.id, r.home_partner_id)
        for r in (
            await session.execute(
                sa.select(c.c.id, c.c.home_partner_id).order_by(
                    c.c.national_id_type, c.c.national_id
                )
            )
        ).all()
    ]
    if not working or not customers:
        return None
    rows = (await session.execute(sa.select(typologies.CaseTypology))).scalars().all()
    return StoryContext(
        now=now,
        partners=working,
        by_id={p.id: p for p in partners},
        customers=customers,
        typologies={t.code: t for t in rows if t.active},
    )


async def demo_count(session: AsyncSession) -> int:
    statuses = table_of(CasePartnerStatus)
    stmt = sa.select(sa.func.count()).where(statuses.c.external_ref.like(f"{DEMO_PREFIX}%"))
    return int((await session.execute(stmt)).scalar_one())


async def _take_numbers(session: AsyncSession, year: int, count: int) -> int:
    """Reserve ``count`` numbers of ``year``; returns the first."""
    table = table_of(CaseReferenceCounter)
    bump = {"last_number": table.c.last_number + count}
    insert = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .values(year=year, last_number=count)
        .on_conflict_do_update(index_elements=[table.c.year], set_=bump)
        .returning(table.c.last_number)
    )
    last = int((await session.execute(stmt)).scalar_one())
    return last - count + 1


async def _insert(session: AsyncSession, stories: Sequence[Story]) -> None:
    by_year: dict[int, list[Story]] = {}
    for item in sorted(stories, key=lambda s: (s.case["created_at"], s.case["id"])):
        by_year.setdefault(item.case["created_at"].year, []).append(item)
    for year, group in sorted(by_year.items()):
        first = await _take_numbers(session, year, len(group))
        for offset, item in enumerate(group):
            item.case["reference"] = format_reference(year, first + offset)
    await session.execute(sa.insert(table_of(Case)), [s.case for s in stories])
    await session.execute(
        sa.insert(table_of(CasePartnerStatus)), [r for s in stories for r in s.statuses]
    )
    await session.execute(sa.insert(table_of(CaseEvent)), [r for s in stories for r in s.timeline])
    comments = [r for s in stories for r in s.comments]
    if comments:
        await session.execute(sa.insert(table_of(CaseComment)), comments)
    references = sorted(s.case["reference"] for s in stories)
    audit.record(
        session,
        principal=SYSTEM,
        action="cases.seeded",
        entity_type="CaseSeed",
        entity_id=references[0],
        after={"cases": len(stories), "first": references[0], "last": references[-1]},
    )


async def seed_cases(
    count: int = DEMO_CASES, *, batch: int = BATCH, now: datetime | None = None
) -> int:
    """Make sure the cases parameters exist and that there are ``count`` demo cases.
    Returns how many cases were added."""
    async with transaction() as session:
        await _prepare(session)
    async with transaction() as session:
        have = await demo_count(session)
        ctx = await _context(session, now or utcnow())
    if ctx is None or have >= count:
        return 0
    added = 0
    for start in range(have, count, batch):
        stories = [story(i, ctx) for i in range(start, min(count, start + batch))]
        async with transaction() as session:
            await _insert(session, stories)
        added += len(stories)
    if added >= ANALYZE_AFTER:
        async with transaction() as session:
            if dialect_of(session) == "postgresql":
                # fresh statistics, so the planner does not take the new rows for a few
                await session.execute(
                    sa.text("ANALYZE cases, case_partner_statuses, case_events, case_comments")
                )
    return added

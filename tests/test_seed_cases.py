"""Demo cases (``trama seed --cases N``): every state, consistent rows, additive."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import sqlalchemy as sa

from app.db import read_session, transaction
from app.seed_case_stories import DEMO_PREFIX, PATTERN
from app.seed_cases import seed_cases
from domain.cases import homologation, search, sla
from domain.cases.models import Case, CaseComment, CaseEvent, CasePartnerStatus, StatusMapping
from domain.cases.states import FINISHED
from domain.shared import audit
from domain.shared.models import table_of
from domain.shared.principal import SYSTEM
from domain.shared.time import utcnow


async def rows(model: Any) -> list[Any]:
    async with read_session() as session:
        return list((await session.execute(sa.select(table_of(model)))).all())


async def test_demo_cases_in_every_state_and_consistent(db: Any) -> None:
    assert await seed_cases(len(PATTERN) * 2) == len(PATTERN) * 2
    cases = await rows(Case)
    timeline = await rows(CaseEvent)
    statuses = await rows(CasePartnerStatus)
    comments = await rows(CaseComment)
    assert len(cases) == 40
    states = Counter(c.status for c in cases)
    assert set(states) == {
        "OPEN",
        "IN_PROGRESS",
        "WAITING_CUSTOMER",
        "WAITING_PARTNER",
        "RESOLVED",
        "REJECTED",
        "CLOSED",
    }
    assert any(c.pending_derivation_to is not None for c in cases)
    assert any(c.handling_partner_id != c.originating_partner_id for c in cases)
    assert {c.sla_state for c in cases if c.status not in FINISHED} == {
        "ON_TRACK",
        "AT_RISK",
        "BREACHED",
    }
    # references are the year's gap-free numbers
    numbers = sorted(int(c.reference.rsplit("-", 1)[1]) for c in cases)
    assert numbers == list(range(1, 41))
    assert all(re.fullmatch(r"CS-\d{4}-\d{6}", c.reference) for c in cases)
    # each case: a numbered timeline as long as timeline_seq, version = 1 + the changes
    by_case: dict[Any, list[int]] = {}
    for entry in timeline:
        by_case.setdefault(entry.case_id, []).append(entry.seq)
    for c in cases:
        assert sorted(by_case[c.id]) == list(range(1, c.timeline_seq + 1))
        assert c.version == c.timeline_seq
        assert c.updated_at >= c.created_at
        if c.status in FINISHED:
            assert c.resolved_at is not None and c.resolution_code is not None
        if c.status == "CLOSED":
            assert c.closed_at is not None
        if c.status == "WAITING_CUSTOMER":
            assert c.sla_paused_at is not None
    commented = Counter(e.case_id for e in timeline if e.kind == "COMMENTED")
    assert sum(commented.values()) == len(comments) > 0
    # status rows: the originator (with its demo reference) and the handler
    involved: dict[Any, set[Any]] = {}
    for row in statuses:
        involved.setdefault(row.case_id, set()).add(row.partner_id)
    for c in cases:
        assert {c.originating_partner_id, c.handling_partner_id} == involved[c.id]
    assert sum(1 for r in statuses if (r.external_ref or "").startswith(DEMO_PREFIX)) == 40
    # the SLA flags are what the sweep would set: it finds nothing to do
    async with transaction() as session:
        sweep = await sla.evaluate_sla(session, now=utcnow())
    assert sweep.at_risk == [] and sweep.breached == []
    # parameters: catalog and a homologation table for every partner
    mapped = {r.partner_id for r in await rows(StatusMapping)}
    async with read_session() as session:
        partners = (await session.execute(sa.text("select id from partners"))).scalars().all()
        table = await homologation.get_mapping(
            session, principal=SYSTEM, partner_id=c.handling_partner_id
        )
        assert table.version == 1
        # searchable like any case
        found = await search.search_cases(
            session, principal=SYSTEM, view="NETWORK", first=100, with_total=True
        )
        assert found.total == 40
        assert (await audit.verify(session)).ok
    assert len(mapped) == len(partners)


async def test_seeding_is_additive_and_deterministic(db: Any) -> None:
    assert await seed_cases(10) == 10
    first = {(c.reference, c.typology_code, c.status) for c in await rows(Case)}
    assert await seed_cases(10) == 0
    assert await seed_cases(25) == 15
    after = await rows(Case)
    assert len(after) == 25
    assert first <= {(c.reference, c.typology_code, c.status) for c in after}
    refs = sorted(r.external_ref for r in await rows(CasePartnerStatus) if r.external_ref)
    assert refs == [f"{DEMO_PREFIX}{i:07d}" for i in range(1, 26)]

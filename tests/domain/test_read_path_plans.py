"""The main searches use the indexes made for them (migration 0013): with enough rows for
the planner to choose, ``EXPLAIN`` (PostgreSQL) or ``EXPLAIN QUERY PLAN`` (SQLite) of the
statements the domain really runs shows an index scan on the big table, never a full scan."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event

from app.db import Database, read_session, transaction
from domain.cases.models import Case, CaseTypology
from domain.cases.search import CaseFilter, CaseOrder, search_cases
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared.ids import uuid7
from domain.shared.principal import Principal, Role, effective_scopes
from domain.shared.time import utcnow

CASES = 12_000
STATUSES = ["OPEN", "IN_PROGRESS", "WAITING_CUSTOMER", "WAITING_PARTNER", "RESOLVED", "CLOSED"]


def admin() -> Principal:
    roles = frozenset({Role.ADMIN})
    return Principal(subject="test:plans", roles=roles, scopes=effective_scopes(roles, None))


async def make_cases(db: Database) -> list[uuid.UUID]:
    """``CASES`` cases over the seeded customers and the partners, set-wise."""
    async with transaction() as session:
        partners = list((await session.execute(sa.select(Partner.id))).scalars())
        customers = list((await session.execute(sa.select(Customer.id))).scalars())
        session.add(CaseTypology(code="PLAN_TEST", name="Plan test"))
    start = utcnow() - timedelta(days=400)
    rows: list[dict[str, Any]] = []
    for i in range(CASES):
        moment = start + timedelta(minutes=i)
        rows.append(
            {
                "id": uuid7(),
                "reference": f"CS-PLAN-{i:06d}",
                "customer_id": customers[i % len(customers)],
                "typology_code": "PLAN_TEST",
                "originating_partner_id": partners[i % len(partners)],
                "handling_partner_id": partners[(i * 7 + 3) % len(partners)],
                "channel": "WEB",
                "priority": "MEDIUM",
                "status": STATUSES[(i // 7) % len(STATUSES)],
                "status_changed_at": moment,
                "description": "plan",
                "description_folded": "plan",
                "sla_state": "ON_TRACK",
                "created_by": "test",
                "timeline_seq": 0,
                "version": 1,
                "created_at": moment,
                "updated_at": start + timedelta(minutes=(i * 7919) % CASES),
            }
        )
    async with transaction() as session:
        for chunk in range(0, len(rows), 5000):
            await session.execute(sa.insert(Case), rows[chunk : chunk + 5000])
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE")
        await conn.commit()
    return partners


class Captured:
    """The statements (and parameters) the engine sends while it listens."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self.items: list[tuple[str, Any]] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.items.append((statement, parameters))

    def __enter__(self) -> Captured:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


async def plan_of(db: Database, statement: str, parameters: Any) -> tuple[list[str], list[str]]:
    """(index names used, tables read whole) in the plan of ``statement``."""
    async with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            result = await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
            raw = result.scalar()
            plan = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
            indexes: list[str] = []
            full: list[str] = []

            def walk(node: dict[str, Any]) -> None:
                if "Index Name" in node:
                    indexes.append(node["Index Name"])
                if node.get("Node Type") == "Seq Scan":
                    full.append(node["Relation Name"])
                for child in node.get("Plans", []):
                    walk(child)

            walk(plan[0]["Plan"])
            return indexes, full
        rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)).all()
        details = [str(r[-1]) for r in rows]
        used = [m.group(1) for d in details for m in [re.search(r"INDEX (\w+)", d)] if m]
        scanned = [
            m.group(1) for d in details for m in [re.match(r"SCAN (\w+)(?: AS \w+)?$", d)] if m
        ]
        return used, scanned


async def test_a_partners_cases_in_one_status_use_their_index(db: Database) -> None:
    partners = await make_cases(db)
    with Captured(db) as captured:
        async with read_session() as session:
            result = await search_cases(
                session,
                principal=admin(),
                view="NETWORK",
                filter=CaseFilter(handling_partner_ids=[partners[1]], statuses=["WAITING_PARTNER"]),
                order_by=CaseOrder.UPDATED_AT_DESC,
                first=50,
                with_total=True,
                with_facets=True,
                with_related=False,
            )
    assert len(result.page.items) == 50 and result.total and result.total > 50
    updated = [c.updated_at for c in result.page.items]
    assert updated == sorted(updated, reverse=True)
    [page, facets] = [(s, p) for s, p in captured.items if "FROM cases" in s]
    for statement, parameters in (page, facets):
        used, whole = await plan_of(db, statement, parameters)
        assert "ix_cases_handling_status_updated" in used, (statement, used)
        assert "cases" not in whole, (statement, whole)

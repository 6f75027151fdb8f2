"""Unified search: views applied in the query, every filter, keyset orderings, totals and
facets, masking, refusals, and a constant number of SQL statements per search."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from app.seed_cases import seed_cases
from domain.cases import scopes, search, service
from domain.cases.models import Case
from domain.cases.scopes import CaseView
from domain.cases.search import CaseFilter, CaseOrder
from domain.customers.models import Customer
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.money import Money
from domain.shared.principal import Principal, Role
from tests.conftest import StatementCounter
from tests.domain.cases.conftest import ADMIN, Network, derived_to, open_case, principal, run


async def find(who: Principal, view: CaseView | str, **kw: Any) -> search.CaseSearchResult:
    async with read_session() as session:
        return await search.search_cases(session, principal=who, view=view, **kw)


async def refs(who: Principal, view: CaseView | str, **kw: Any) -> set[str]:
    kw.setdefault("first", 100)
    return {c.reference for c in (await find(who, view, **kw)).page.items}


async def visible(who: Principal, view: CaseView) -> set[str]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(Case.reference).where(scopes.visible_to(who, view))  # type: ignore[call-overload]
        )
        return set(rows.scalars().all())


async def everything() -> list[Case]:
    async with read_session() as session:
        return list((await session.execute(sa.select(Case))).scalars().all())


@pytest.fixture
async def world(net: Network) -> dict[str, Case]:
    """a: BANCO_ANDINO's, in progress; b: RETAIL_SUR's, waiting for BANCO_ANDINO to take
    it; c: opened at BANCO_PAMPA, handled by TARJETA_PLATA; d: RETAIL_SUR's, resolved, for
    another customer, a blocking (hours SLA, critical)."""
    a = await open_case(net, description="Cobro de intereses después de pagar a tiempo.")
    a = await run(
        service.transition_case,
        net.agent("BANCO_ANDINO"),
        case_id=a.id,
        expected_version=a.version,
        to_status="IN_PROGRESS",
    )
    b = await open_case(
        net,
        net.agent("RETAIL_SUR"),
        typology="CARGO_DUPLICADO",
        description="Compra en Ñuñoa cobrada dos veces.",
    )
    b = await run(
        service.derive_case,
        net.agent("RETAIL_SUR"),
        case_id=b.id,
        expected_version=b.version,
        to_partner_id=net.ids["BANCO_ANDINO"],
        reason="emisor",
    )
    c = await derived_to(
        net,
        await open_case(net, net.agent("BANCO_PAMPA"), amount=Money(1_500_00, "ARS")),
        "TARJETA_PLATA",
    )
    d = await open_case(
        net,
        net.agent("RETAIL_SUR"),
        typology="BLOQUEO_TARJETA",
        amount=None,
        customer_id=net.customers[1],
        description="Robo de tarjeta en la micro.",
    )
    d = await run(
        service.resolve_case,
        net.agent("RETAIL_SUR"),
        case_id=d.id,
        expected_version=d.version,
        code="SERVICE_PERFORMED",
        note="Tarjeta bloqueada.",
    )
    return {"a": a, "b": b, "c": c, "d": d}


# --- views -----------------------------------------------------------------------------------
@pytest.mark.parametrize("view", list(CaseView))
@pytest.mark.parametrize("code", ["BANCO_ANDINO", "RETAIL_SUR", "BANCO_PAMPA", "TARJETA_PLATA"])
async def test_a_view_is_exactly_what_visible_to_allows(
    net: Network, world: dict[str, Case], view: CaseView, code: str
) -> None:
    who = net.supervisor(code)  # supervisors may use the three views
    assert await refs(who, view) == await visible(who, view)


async def test_the_views_of_one_agent(net: Network, world: dict[str, Case]) -> None:
    agent = net.agent("BANCO_ANDINO")
    a, b = world["a"].reference, world["b"].reference
    assert await refs(agent, "OWN") == {a, b}
    assert await refs(agent, CaseView.ECOSYSTEM) == {a, b}
    assert await refs(net.agent("RETAIL_SUR"), "OWN") == {b, world["d"].reference}
    assert await refs(net.agent("BANCO_PAMPA"), "OWN") == set()
    assert await refs(net.agent("BANCO_PAMPA"), "ECOSYSTEM") == {world["c"].reference}
    assert await refs(ADMIN, "NETWORK") == {c.reference for c in world.values()}


async def test_filters_never_widen_a_view(net: Network, world: dict[str, Case]) -> None:
    """Naming another partner's cases — by partner, customer, reference, text, status —
    finds nothing the view does not already allow."""
    agent = net.agent("BANCO_PAMPA")
    c, d = world["c"], world["d"]
    probes = [
        CaseFilter(handling_partner_ids=[net.ids["RETAIL_SUR"]]),
        CaseFilter(originating_partner_ids=[net.ids["RETAIL_SUR"], net.ids["BANCO_ANDINO"]]),
        CaseFilter(customer_id=d.customer_id),
        CaseFilter(text=d.reference),
        CaseFilter(text=d.reference[:9]),
        CaseFilter(text="robo"),
        CaseFilter(statuses=["RESOLVED"]),
        CaseFilter(pending_derivation=True),
    ]
    for probe in probes:
        for view in ("OWN", "ECOSYSTEM"):
            result = await find(agent, view, filter=probe, with_total=True, with_facets=True)
            found = {x.reference for x in result.page.items}
            assert found <= {c.reference}, (probe, view)
            assert result.total == len(found)
            assert sum((result.by_status or {}).values()) == len(found)
    # the handling partner filter narrows inside the ecosystem
    mine = CaseFilter(handling_partner_ids=[net.ids["TARJETA_PLATA"]])
    assert await refs(agent, "ECOSYSTEM", filter=mine) == {c.reference}
    assert await refs(agent, "OWN", filter=mine) == set()


async def test_views_not_allowed_are_refused(net: Network) -> None:
    with pytest.raises(Forbidden):
        await find(net.agent("BANCO_ANDINO"), "NETWORK")
    with pytest.raises(Forbidden):
        await find(principal(Role.INVESTOR), "OWN")
    with pytest.raises(ValidationFailed) as caught:
        await find(net.agent("BANCO_ANDINO"), "EVERYTHING")
    assert caught.value.problems[0].field == "view"
    # a viewer without a partner sees nothing in the partner views
    assert await refs(net.viewer(), "OWN") == set()


async def consent(customer_id: uuid.UUID, value: bool) -> None:
    async with transaction() as session:
        await session.execute(
            sa.update(Customer)
            .where(Customer.id == customer_id)  # type: ignore[arg-type]
            .values(consent_data_sharing=value)
        )


async def test_masking_travels_with_the_result(net: Network, world: dict[str, Case]) -> None:
    """Case by case, as the customers' rule says for each case's customer (issue 9)."""
    for customer in {c.customer_id for c in world.values()}:
        await consent(customer, False)
    viewer = await find(net.viewer(), "NETWORK", first=100)
    assert viewer.view is CaseView.NETWORK and len(viewer.page.items) == 4
    assert all(viewer.masked(c) for c in viewer.page.items)
    assert all(v.pii_masked for v in viewer.customers.values())
    for who, view in (
        (net.supervisor("BANCO_ANDINO"), "NETWORK"),
        (net.agent("BANCO_ANDINO"), "OWN"),
    ):
        found = await find(who, view, first=100)  # its home customers
        assert found.page.items and not any(found.masked(c) for c in found.page.items)
    # A partner not involved sees every case masked, until a customer consents: then that
    # customer's cases (and only those) are in clear.
    outsider = net.supervisor("CLUB_PUNTOS")
    before = await find(outsider, "NETWORK")
    assert all(before.masked(c) for c in world.values())
    await consent(world["d"].customer_id, True)
    found = await find(outsider, "NETWORK", first=100)
    shown = {c.reference: not found.masked(c) for c in found.page.items}
    assert shown == {c.reference: c.customer_id == world["d"].customer_id for c in world.values()}
    assert {k: not v.pii_masked for k, v in found.customers.items()} == {
        c.customer_id: c.customer_id == world["d"].customer_id for c in world.values()
    }


# --- filters ---------------------------------------------------------------------------------
async def test_each_filter(net: Network, world: dict[str, Case]) -> None:
    a, b, c, d = (world[k].reference for k in "abcd")
    cases: list[tuple[CaseFilter, set[str]]] = [
        (CaseFilter(statuses=["IN_PROGRESS"]), {a}),
        (CaseFilter(statuses=["OPEN", "RESOLVED"]), {b, c, d}),
        (CaseFilter(typologies=["cargo_duplicado", "BLOQUEO_TARJETA"]), {b, d}),
        (CaseFilter(originating_partner_ids=[net.ids["RETAIL_SUR"]]), {b, d}),
        (CaseFilter(handling_partner_ids=[net.ids["TARJETA_PLATA"]]), {c}),
        (CaseFilter(priorities=["CRITICAL"]), {d}),
        (CaseFilter(customer_id=world["d"].customer_id), {d}),
        (CaseFilter(pending_derivation=True), {b}),
        (CaseFilter(pending_derivation=False), {a, c, d}),
        (CaseFilter(typologies=["CARGO_DUPLICADO"], pending_derivation=False), set()),
    ]
    for probe, expected in cases:
        assert await refs(ADMIN, "NETWORK", filter=probe) == expected, probe


async def test_time_ranges(net: Network, world: dict[str, Case]) -> None:
    all_refs = {c.reference for c in world.values()}
    created = sorted(world.values(), key=lambda c: c.created_at)
    middle = created[2].created_at
    earlier = {c.reference for c in created if c.created_at < middle}
    assert await refs(ADMIN, "NETWORK", filter=CaseFilter(created_to=middle)) == earlier
    assert (
        await refs(ADMIN, "NETWORK", filter=CaseFilter(created_from=middle)) == all_refs - earlier
    )
    far = datetime(2000, 1, 1, tzinfo=UTC)
    assert await refs(ADMIN, "NETWORK", filter=CaseFilter(updated_to=far)) == set()
    assert (
        await refs(ADMIN, "NETWORK", filter=CaseFilter(updated_from=far, updated_to=None))
        == all_refs
    )


async def test_sla_state_filter(net: Network, world: dict[str, Case]) -> None:
    async with transaction() as session:
        from domain.cases import sla

        due = world["a"].sla_due_at
        assert due is not None
        await sla.evaluate_sla(session, now=due + timedelta(seconds=1))
    breached = await refs(ADMIN, "NETWORK", filter=CaseFilter(sla_states=["BREACHED"]))
    assert world["a"].reference in breached and world["d"].reference not in breached
    on_track = await refs(ADMIN, "NETWORK", filter=CaseFilter(sla_states=["ON_TRACK"]))
    assert world["d"].reference in on_track and not (breached & on_track)


async def test_free_text(net: Network, world: dict[str, Case]) -> None:
    a, b, d = world["a"], world["b"], world["d"]
    async with read_session() as session:
        someone = await session.get(Customer, a.customer_id)
        other = await session.get(Customer, d.customer_id)
    assert someone is not None and other is not None
    text_of = lambda t: refs(ADMIN, "NETWORK", filter=CaseFilter(text=t))  # noqa: E731
    # references: exact (any case, with or without padding), prefix
    assert await text_of(b.reference.lower()) == {b.reference}
    number = int(b.reference.rsplit("-", 1)[1])
    assert await text_of(f"CS-{b.reference[3:7]}-{number}") == {b.reference}
    assert await text_of(b.reference[:8]) == {x.reference for x in world.values()}
    # customer's name: every word, without accents or case
    family = someone.family_names.split()[0]
    assert a.reference in await text_of(family.upper())
    assert a.reference in await text_of(f"{someone.given_names.split()[0]} {family}")
    assert d.reference not in await text_of(f"{family} zzzz")
    # national ID: a prefix of the normalised number, however it is written
    assert a.reference in await text_of(someone.national_id)
    assert d.reference in await text_of(other.national_id[:6])
    # description, folded
    assert await text_of("ñuñoa COBRADA") == {b.reference}
    assert await text_of("micro") == {d.reference}
    assert await text_of("nada que ver con nada") == set()
    # LIKE wildcards are literal
    assert await text_of("%") == set()
    assert await text_of("_") == set()


async def test_masked_text_matches_references_only(net: Network, world: dict[str, Case]) -> None:
    viewer = net.viewer()
    b = world["b"]
    assert await refs(viewer, "NETWORK", filter=CaseFilter(text=b.reference)) == {b.reference}
    assert await refs(viewer, "NETWORK", filter=CaseFilter(text="ñuñoa")) == set()
    async with read_session() as session:
        someone = await session.get(Customer, b.customer_id)
    assert someone is not None
    assert await refs(viewer, "NETWORK", filter=CaseFilter(text=someone.national_id)) == set()
    assert await refs(viewer, "NETWORK", filter=CaseFilter(text=someone.family_names)) == set()


async def test_free_text_matches_personal_data_only_where_it_is_shown(
    net: Network, world: dict[str, Case]
) -> None:
    """A partner's supervisor in NETWORK: names, national IDs and descriptions match the
    cases whose customer it sees in clear, never the others (issue 9)."""
    d = world["d"]
    async with read_session() as session:
        someone = await session.get(Customer, d.customer_id)
    assert someone is not None
    outsider = net.supervisor("CLUB_PUNTOS")
    probes = [someone.national_id[:6], someone.national_id, someone.family_names, "micro"]
    await consent(d.customer_id, False)
    for text in probes:
        assert await refs(outsider, "NETWORK", filter=CaseFilter(text=text)) == set(), text
        assert d.reference in await refs(ADMIN, "NETWORK", filter=CaseFilter(text=text)), text
    await consent(d.customer_id, True)
    for text in probes:
        assert d.reference in await refs(outsider, "NETWORK", filter=CaseFilter(text=text)), text


@pytest.mark.parametrize(
    ("probe", "field"),
    [
        (CaseFilter(statuses=["OPEN", "SOLVED"]), "filter.statuses"),
        (CaseFilter(priorities=["URGENT"]), "filter.priorities"),
        (CaseFilter(sla_states=["LATE"]), "filter.slaStates"),
        (CaseFilter(typologies=["X" * 41]), "filter.typologies"),
        (CaseFilter(typologies=["A"] * 51), "filter.typologies"),
        (
            CaseFilter(handling_partner_ids=[uuid.uuid4() for _ in range(51)]),
            "filter.handlingPartnerIds",
        ),
        (CaseFilter(created_from=datetime(2026, 1, 1)), "filter.createdFrom"),
        (
            CaseFilter(
                updated_from=datetime(2026, 2, 1, tzinfo=UTC),
                updated_to=datetime(2026, 1, 1, tzinfo=UTC),
            ),
            "filter.updatedTo",
        ),
        (CaseFilter(text="x" * 101), "filter.text"),
        (CaseFilter(text="tarjeta 4111 1111 1111 1111 robada"), "filter.text"),
    ],
)
async def test_bad_filters_are_refused(
    net: Network, world: dict[str, Case], probe: CaseFilter, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await find(ADMIN, "NETWORK", filter=probe)
    assert caught.value.problems[0].field == field


async def test_bad_paging_is_refused(net: Network, world: dict[str, Case]) -> None:
    for kw, field in (
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"order_by": "PRIORITY"}, "orderBy"),
        ({"after": "not a cursor!"}, "after"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            await find(ADMIN, "NETWORK", **kw)
        assert caught.value.problems[0].field == field
    page = await find(ADMIN, "NETWORK", first=1, order_by="CREATED_AT_DESC")
    with pytest.raises(ValidationFailed):  # a cursor of another ordering
        await find(
            ADMIN, "NETWORK", first=1, order_by="UPDATED_AT_DESC", after=page.page.cursors[0]
        )


# --- ordering, paging, totals, facets ------------------------------------------------------
def _expected(cases: list[Case], order: CaseOrder) -> list[str]:
    name, descending = {
        CaseOrder.CREATED_AT_DESC: ("created_at", True),
        CaseOrder.CREATED_AT_ASC: ("created_at", False),
        CaseOrder.UPDATED_AT_DESC: ("updated_at", True),
        CaseOrder.UPDATED_AT_ASC: ("updated_at", False),
        CaseOrder.SLA_DUE_AT_ASC: ("sla_due_at", False),
    }[order]
    if name == "sla_due_at":
        far = datetime.max.replace(tzinfo=UTC)
        ordered = sorted(cases, key=lambda c: (c.sla_due_at or far, c.id))
    else:
        ordered = sorted(cases, key=lambda c: (getattr(c, name), c.id), reverse=descending)
    return [c.reference for c in ordered]


@pytest.fixture
async def many(net: Network) -> list[Case]:
    assert await seed_cases(45) == 45
    return await everything()


@pytest.mark.parametrize("order", list(CaseOrder))
async def test_keyset_pages_walk_every_case_once_in_order(
    many: list[Case], order: CaseOrder
) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        result = await find(ADMIN, "NETWORK", order_by=order, first=7, after=after)
        pages += 1
        seen.extend(c.reference for c in result.page.items)
        assert result.page.has_previous is (after is not None)
        if not result.page.has_next:
            break
        after = result.page.cursors[-1]
    assert seen == _expected(many, order)
    assert pages == -(-len(many) // 7)


async def test_a_filtered_walk_and_its_facets(net: Network, many: list[Case]) -> None:
    who = net.supervisor("BANCO_ANDINO")
    wanted = CaseFilter(statuses=["OPEN", "IN_PROGRESS", "RESOLVED"])
    result = await find(who, "ECOSYSTEM", filter=wanted, first=5, with_total=True, with_facets=True)
    seen = await visible(who, CaseView.ECOSYSTEM)
    expected = [
        c for c in many if c.status in ("OPEN", "IN_PROGRESS", "RESOLVED") and c.reference in seen
    ]
    assert result.total == len(expected) > 5
    statuses: dict[str, int] = {}
    typologies: dict[str, int] = {}
    for c in expected:
        statuses[c.status] = statuses.get(c.status, 0) + 1
        typologies[c.typology_code] = typologies.get(c.typology_code, 0) + 1
    assert result.by_status == statuses and result.by_typology == typologies
    assert result.page.total == result.total
    # totals are optional
    bare = await find(who, "ECOSYSTEM", filter=wanted, first=5)
    assert bare.total is None and bare.by_status is None
    only_facets = await find(who, "ECOSYSTEM", filter=wanted, first=0, with_facets=True)
    assert only_facets.page.items == [] and only_facets.total is None
    assert only_facets.by_status == statuses


async def test_related_customers_and_partners_come_with_the_page(many: list[Case]) -> None:
    result = await find(ADMIN, "NETWORK", first=20)
    assert {c.customer_id for c in result.page.items} == set(result.customers)
    named = {c.handling_partner_id for c in result.page.items} | {
        c.originating_partner_id for c in result.page.items
    }
    assert named <= set(result.partners)
    assert (await find(ADMIN, "NETWORK", first=20, with_related=False)).customers == {}


async def test_a_constant_number_of_statements_whatever_the_page_size(
    many: list[Case], net: Network, sql_counter: StatementCounter
) -> None:
    async with read_session() as session:
        someone = await session.get(Customer, many[0].customer_id)
    assert someone is not None
    counts = {}
    for who, view, text in (
        (ADMIN, "NETWORK", None),
        (net.supervisor("BANCO_ANDINO"), "ECOSYSTEM", None),
        (net.agent("BANCO_ANDINO"), "OWN", None),
        (ADMIN, "NETWORK", someone.family_names.split()[0]),
        (ADMIN, "NETWORK", "CS-2"),
    ):
        for size in (1, 10, 100):
            sql_counter.reset()
            result = await find(
                who,
                view,
                filter=CaseFilter(text=text),
                first=size,
                with_total=True,
                with_facets=True,
            )
            assert result.page.items
            statements = [s for s in sql_counter.statements if s.strip().upper() != "BEGIN"]
            counts[(view, text, size)] = len(statements)
    # the page, the total with both facets, the page's customers, the page's partners
    assert set(counts.values()) == {4}, counts

"""Views and permissions: OWN, ECOSYSTEM and NETWORK as SQL conditions; reads by id, by
reference and in batches obey them; personal data follows the customers' rule, per case."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.cases import scopes, service
from domain.cases.errors import CaseNotFound
from domain.cases.models import Case
from domain.cases.scopes import CaseView
from domain.customers.models import Customer
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.principal import Principal, Role
from tests.domain.cases.conftest import ADMIN, Network, derived_to, open_case, principal, run


async def visible(who: Principal, view: CaseView) -> set[uuid.UUID]:
    async with read_session() as session:
        rows = await session.execute(sa.select(Case.id).where(scopes.visible_to(who, view)))  # type: ignore[call-overload]
        return set(rows.scalars().all())


@pytest.fixture
async def world(net: Network) -> dict[str, Case]:
    """a: BANCO_ANDINO's own; b: RETAIL_SUR's, waiting for BANCO_ANDINO to accept it;
    c: opened at BANCO_PAMPA, now handled by TARJETA_PLATA."""
    a = await open_case(net)
    b = await open_case(net, net.agent("RETAIL_SUR"))
    b = await run(
        service.derive_case,
        net.agent("RETAIL_SUR"),
        case_id=b.id,
        expected_version=1,
        to_partner_id=net.ids["BANCO_ANDINO"],
        reason="emisor",
    )
    c = await derived_to(net, await open_case(net, net.agent("BANCO_PAMPA")), "TARJETA_PLATA")
    return {"a": a, "b": b, "c": c}


async def test_the_three_views(net: Network, world: dict[str, Case]) -> None:
    a, b, c = world["a"].id, world["b"].id, world["c"].id
    expected = {
        ("BANCO_ANDINO", CaseView.OWN): {a, b},
        ("BANCO_ANDINO", CaseView.ECOSYSTEM): {a, b},
        ("RETAIL_SUR", CaseView.OWN): {b},
        ("RETAIL_SUR", CaseView.ECOSYSTEM): {b},
        ("BANCO_PAMPA", CaseView.OWN): set(),
        ("BANCO_PAMPA", CaseView.ECOSYSTEM): {c},
        ("TARJETA_PLATA", CaseView.OWN): {c},
        ("TARJETA_PLATA", CaseView.ECOSYSTEM): {c},
        ("CLUB_PUNTOS", CaseView.ECOSYSTEM): set(),
    }
    for (code, view), ids in expected.items():
        assert await visible(net.agent(code), view) == ids, (code, view)
        assert await visible(net.system(code), view) == ids, (code, view)
    everything = {a, b, c}
    for who in [net.supervisor("CLUB_PUNTOS"), net.viewer(), net.viewer("BANCO_PAMPA"), ADMIN]:
        assert await visible(who, CaseView.NETWORK) == everything
    # A principal without a partner has no own cases.
    assert await visible(net.viewer(), CaseView.OWN) == set()
    assert await visible(ADMIN, CaseView.ECOSYSTEM) == set()


async def test_views_that_are_not_allowed(net: Network) -> None:
    for who in [net.agent("BANCO_ANDINO"), net.system("BANCO_ANDINO")]:
        with pytest.raises(Forbidden):
            scopes.visible_to(who, CaseView.NETWORK)
    for who in [principal(Role.INVESTOR), Principal(subject="nobody")]:
        with pytest.raises(Forbidden):
            scopes.visible_to(who, CaseView.OWN)
    with pytest.raises(ValueError):
        scopes.visible_to(net.agent("BANCO_ANDINO"), "EVERYTHING")


async def test_personal_data_follows_the_customers_rule(
    net: Network, world: dict[str, Case]
) -> None:
    """A case's personal data is its customer's: in clear where the customers' rule says
    (home partner, involved partners, consent, pii:read), decided in SQL (issue 9)."""
    customer = world["a"].customer_id
    assert {c.customer_id for c in world.values()} == {customer}  # one person, three cases
    ids = [c.id for c in world.values()]

    async def shown(who: Principal) -> set[uuid.UUID]:
        async with read_session() as session:
            by_helper = await scopes.pii_visible_cases(session, who, ids)
            # the same rule as a selected column of a statement that reads cases itself
            rows = await session.execute(
                sa.select(Case.id, scopes.pii_visible(who)).where(Case.id.in_(ids))  # type: ignore[call-overload,attr-defined]
            )
            by_column = {key for key, visible in rows.all() if visible}
        assert by_helper == by_column, who
        return by_helper

    async with transaction() as session:
        await session.execute(
            sa.update(Customer)
            .where(Customer.id == customer)  # type: ignore[arg-type]
            .values(consent_data_sharing=False)
        )
    everything = set(ids)
    # The home partner (BANCO_ANDINO), and every partner involved in any of the person's
    # cases (RETAIL_SUR, BANCO_PAMPA, TARJETA_PLATA), sees all of the person's cases.
    for code in ("BANCO_ANDINO", "RETAIL_SUR", "BANCO_PAMPA", "TARJETA_PLATA"):
        assert await shown(net.supervisor(code)) == everything, code
        assert await shown(net.agent(code)) == everything, code
    assert await shown(ADMIN) == everything
    # Nobody else: not a partner that never touched them, not a network viewer.
    for who in (net.supervisor("CLUB_PUNTOS"), net.viewer(), net.viewer("BANCO_PAMPA")):
        assert await shown(who) == set(), who
    # Consent opens them to every partner — not to network-wide roles without pii:read.
    async with transaction() as session:
        await session.execute(
            sa.update(Customer)
            .where(Customer.id == customer)  # type: ignore[arg-type]
            .values(consent_data_sharing=True)
        )
    assert await shown(net.supervisor("CLUB_PUNTOS")) == everything
    assert await shown(net.viewer()) == set()


async def test_reads_obey_the_views(net: Network, world: dict[str, Case]) -> None:
    a, c = world["a"], world["c"]
    async with read_session() as session:
        found = await service.get_case(session, principal=net.agent("BANCO_ANDINO"), case_id=a.id)
        assert found.id == a.id
        with pytest.raises(CaseNotFound):
            await service.get_case(session, principal=net.agent("BANCO_ANDINO"), case_id=c.id)
        with pytest.raises(CaseNotFound):
            await service.get_case(
                session, principal=net.agent("BANCO_ANDINO"), case_id=uuid.uuid4()
            )
        # A network supervisor finds any case by id; asked for its own view, not.
        assert await service.get_case(
            session, principal=net.supervisor("CLUB_PUNTOS"), case_id=c.id
        )
        with pytest.raises(CaseNotFound):
            await service.get_case(
                session,
                principal=net.supervisor("CLUB_PUNTOS"),
                case_id=c.id,
                view=CaseView.OWN,
            )
        with pytest.raises(Forbidden):
            await service.get_case(
                session, principal=net.agent("BANCO_ANDINO"), case_id=a.id, view=CaseView.NETWORK
            )
        ref = a.reference.lower().replace("-00000", "-")
        by_ref = await service.get_case_by_reference(
            session, principal=net.agent("BANCO_ANDINO"), reference=ref
        )
        assert by_ref.id == a.id
        with pytest.raises(CaseNotFound):
            await service.get_case_by_reference(
                session, principal=net.agent("BANCO_PAMPA"), reference=a.reference
            )
        with pytest.raises(CaseNotFound):
            await service.get_case_by_reference(
                session, principal=net.agent("BANCO_ANDINO"), reference="nonsense"
            )
        many = await service.get_many(
            session, [a.id, c.id, uuid.uuid4()], principal=net.agent("BANCO_PAMPA")
        )
        assert set(many) == {c.id}
        assert await service.get_many(session, [], principal=net.agent("BANCO_PAMPA")) == {}


async def test_timeline_and_partner_statuses(net: Network, world: dict[str, Case]) -> None:
    c = world["c"]
    async with read_session() as session:
        page = await service.list_timeline(
            session, principal=net.agent("BANCO_PAMPA"), case_id=c.id, limit=2
        )
        assert [e.kind for e in page.items] == ["OPENED", "DERIVED"] and page.has_next
        rest = await service.list_timeline(
            session,
            principal=net.agent("BANCO_PAMPA"),
            case_id=c.id,
            limit=5,
            after=page.cursors[-1],
        )
        assert [e.kind for e in rest.items] == ["DERIVATION_ACCEPTED"] and not rest.has_next
        shown = await service.list_timeline(
            session,
            principal=net.agent("BANCO_PAMPA"),
            case_id=c.id,
            limit=5,
            customer_visible_only=True,
        )
        assert [e.kind for e in shown.items] == ["OPENED", "DERIVATION_ACCEPTED"]
        with pytest.raises(ValidationFailed):
            await service.list_timeline(
                session, principal=net.agent("BANCO_PAMPA"), case_id=c.id, limit=5, after="x"
            )
        with pytest.raises(CaseNotFound):
            await service.list_timeline(
                session, principal=net.agent("BANCO_ANDINO"), case_id=c.id, limit=5
            )
        statuses = await service.list_partner_statuses(
            session, principal=net.agent("TARJETA_PLATA"), case_id=c.id
        )
        assert {s.partner_id for s in statuses} == {
            net.ids["BANCO_PAMPA"],
            net.ids["TARJETA_PLATA"],
        }
        with pytest.raises(CaseNotFound):
            await service.list_partner_statuses(
                session, principal=net.agent("RETAIL_SUR"), case_id=c.id
            )


async def test_who_acts(net: Network, world: dict[str, Case]) -> None:
    c = world["c"]
    assert scopes.can_act_on(net.agent("TARJETA_PLATA"), c)
    assert scopes.can_act_on(net.system("TARJETA_PLATA"), c)
    assert scopes.can_act_on(ADMIN, c)
    assert not scopes.can_act_on(net.agent("BANCO_PAMPA"), c)  # the originator
    assert not scopes.can_act_on(net.supervisor("BANCO_ANDINO"), c)
    assert not scopes.can_act_on(net.viewer("TARJETA_PLATA"), c)  # reads only
    b = world["b"]
    assert scopes.can_answer_derivation(net.agent("BANCO_ANDINO"), b)
    assert not scopes.can_answer_derivation(net.agent("RETAIL_SUR"), b)
    assert not scopes.can_answer_derivation(net.agent("BANCO_ANDINO"), c)
    async with read_session() as session:
        assert await scopes.can_report_on(session, net.system("BANCO_PAMPA"), c)
        assert not await scopes.can_report_on(session, net.agent("BANCO_PAMPA"), c)
        assert not await scopes.can_report_on(session, net.system("RETAIL_SUR"), c)
        assert await scopes.can_comment(session, net.agent("BANCO_PAMPA"), c)
        assert not await scopes.can_comment(session, net.supervisor("CLUB_PUNTOS"), c)
        assert await scopes.is_visible(session, net.agent("BANCO_PAMPA"), c.id)
        assert not await scopes.is_visible(session, principal(Role.INVESTOR), c.id)


async def test_actable_by_is_can_act_on_in_sql(net: Network, world: dict[str, Case]) -> None:
    people = [
        net.agent("TARJETA_PLATA"),
        net.system("RETAIL_SUR"),
        net.supervisor("BANCO_ANDINO"),
        net.agent("BANCO_PAMPA"),
        net.viewer("TARJETA_PLATA"),
        ADMIN,
        principal(Role.INVESTOR),
    ]
    async with read_session() as session:
        cases = (await session.execute(sa.select(Case))).scalars().all()
        for who in people:
            rows = await session.execute(sa.select(Case.id).where(scopes.actable_by(who)))  # type: ignore[call-overload]
            assert set(rows.scalars().all()) == {c.id for c in cases if scopes.can_act_on(who, c)}

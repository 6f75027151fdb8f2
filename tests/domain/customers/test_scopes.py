"""The customers' rule on its own (``domain/customers/scopes.py``): who sees a customer's
personal data in clear and whom a principal may list, as SQL over the seeded network."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.credits.models import Credit
from domain.customers import scopes, service
from domain.customers.models import Customer
from domain.loyalty.models import LoyaltyAccount, LoyaltyProgram
from domain.origination.models import CreditApplication
from domain.partners.models import Partner
from domain.shared.errors import Forbidden
from domain.shared.models import table_of
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role

CUSTOMERS = table_of(Customer)


def principal(role: Role, partner: uuid.UUID | None = None, **changes: Any) -> Principal:
    return Principal(
        subject=f"test:{role.value}",
        roles=frozenset({role}),
        scopes=ROLE_SCOPES[role],
        partner_id=partner,
        **changes,
    )


async def ids_where(condition: sa.ColumnElement[bool]) -> set[uuid.UUID]:
    async with read_session() as session:
        rows = await session.execute(sa.select(CUSTOMERS.c.id).where(condition))
        return set(rows.scalars().all())


@pytest.fixture
async def world(db: Any) -> dict[str, Any]:
    async with read_session() as session:
        partners = {
            code: key
            for code, key in (await session.execute(sa.select(Partner.code, Partner.id))).all()  # type: ignore[call-overload]
        }
        rows = (await session.execute(sa.select(CUSTOMERS))).all()
        lent = (await session.execute(sa.select(Credit.customer_id, Credit.partner_id))).all()  # type: ignore[call-overload]
        accounts, programs = table_of(LoyaltyAccount), table_of(LoyaltyProgram)
        members = (
            await session.execute(
                sa.select(accounts.c.customer_id, programs.c.partner_id).join(
                    programs, programs.c.id == accounts.c.program_id
                )
            )
        ).all()
        applied = (
            await session.execute(
                sa.select(CreditApplication.customer_id, CreditApplication.lender_id)  # type: ignore[call-overload]
            )
        ).all()
    # a partner holding a credit, running a loyalty program the customer belongs to, or
    # lending on one of the customer's credit applications
    return {"partners": partners, "customers": rows, "lent": [*lent, *members, *applied]}


async def test_the_rule_for_each_kind_of_principal(world: dict[str, Any]) -> None:
    partners, rows, lent = world["partners"], world["customers"], world["lent"]
    everyone = {r.id for r in rows}
    for code, partner in partners.items():
        home = {r.id for r in rows if r.home_partner_id == partner}
        holds_credit = {customer for customer, lender in lent if lender == partner}
        consented = {r.id for r in rows if r.consent_data_sharing}
        for role in (Role.AGENT, Role.SUPERVISOR, Role.PARTNER_SYSTEM):
            who = principal(role, partner)
            assert await ids_where(scopes.related_to(who)) == home | holds_credit, (code, role)
            visible = await ids_where(scopes.pii_visible_to(who))
            assert visible == home | holds_credit | consented, (code, role)
    # network-wide: everything with pii:read, nothing without it (consent is for partners)
    assert await ids_where(scopes.pii_visible_to(SYSTEM)) == everyone
    assert await ids_where(scopes.related_to(SYSTEM)) == everyone
    viewer = principal(Role.NETWORK_VIEWER, partners["BANCO_ANDINO"])  # a partner claim alone
    assert await ids_where(scopes.pii_visible_to(viewer)) == set()
    assert await ids_where(scopes.related_to(viewer)) == set()
    # the person themselves
    me = rows[0].id
    customer = principal(Role.CUSTOMER, customer_id=me)
    assert await ids_where(scopes.pii_visible_to(customer)) == {me}
    assert await ids_where(scopes.related_to(customer)) == {me}
    assert await ids_where(scopes.pii_visible_to(principal(Role.INVESTOR))) == set()


async def test_an_involvement_rule_registers_into_every_path(world: dict[str, Any]) -> None:
    """The extension point: a domain's rule, once registered, opens the customer on every
    read (here a stand-in for loyalty accounts: one chosen customer)."""
    partner = world["partners"]["CLUB_PUNTOS"]
    target = world["customers"][0]
    async with transaction() as session:
        await session.execute(
            sa.update(CUSTOMERS)
            .where(CUSTOMERS.c.id == target.id)
            .values(consent_data_sharing=False)
        )
    who = principal(Role.AGENT, partner)

    def loyalty(partner_id: uuid.UUID, customer_id: sa.ColumnElement[Any]) -> Any:
        return sa.and_(sa.literal(partner_id == partner), customer_id == target.id)

    async with read_session() as session:
        before = await service.read_customers(session, principal=who, ids=[target.id])
    assert before[target.id].pii_masked
    assert target.id not in await ids_where(scopes.related_to(who))
    scopes.register_involvement("test_loyalty", loyalty)
    try:
        scopes.register_involvement("test_loyalty", loyalty)  # the same rule again: fine
        with pytest.raises(ValueError):
            scopes.register_involvement("test_loyalty", lambda p, c: sa.false())
        async with read_session() as session:
            after = await service.read_customers(session, principal=who, ids=[target.id])
        assert not after[target.id].pii_masked
        assert target.id in await ids_where(scopes.related_to(who))
    finally:
        scopes._INVOLVEMENTS.pop("test_loyalty", None)
    assert set(scopes.involvement_rules()) == {"applications", "cases", "credits", "loyalty"}


async def test_the_exact_lookup_is_for_partners(world: dict[str, Any]) -> None:
    target = world["customers"][0]
    partner = world["partners"]["RETAIL_SUR"]
    async with read_session() as session:
        found = await service.look_up_national_id(
            session,
            principal=principal(Role.AGENT, partner),
            id_type=target.national_id_type,
            number=target.national_id,
        )
        assert found is not None and found.id == target.id
        for who in (principal(Role.NETWORK_VIEWER), principal(Role.INVESTOR)):
            with pytest.raises(Forbidden):
                await service.look_up_national_id(
                    session,
                    principal=who,
                    id_type=target.national_id_type,
                    number=target.national_id,
                )

"""Customers in the credits domain: a customer principal sees its own credits only (the SQL
scope and the per-row check agree), lists them only with ``list_my_credits``, and changes
nothing. Also: only an APPROVED credit is disbursed."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.credits import access, payments, service
from domain.credits.models import Credit
from domain.customers.models import Customer
from domain.shared.errors import Forbidden, InvalidTransition, NotFound
from domain.shared.principal import ROLE_SCOPES, Principal, Role, Scope

from .conftest import db_state


def customer(customer_id: uuid.UUID) -> Principal:
    return Principal(
        subject=f"customer:{customer_id}",
        roles=frozenset({Role.CUSTOMER}),
        scopes=ROLE_SCOPES[Role.CUSTOMER],
        customer_id=customer_id,
    )


@pytest.fixture
async def two_customers(db) -> list[uuid.UUID]:
    async with read_session() as session:
        stmt = sa.select(Customer.id).order_by(Customer.id).limit(2)  # type: ignore[call-overload]
        return list((await session.execute(stmt)).scalars().all())


async def visible_ids(who: Principal) -> set[uuid.UUID]:
    async with read_session() as session:
        stmt = sa.select(Credit.id).where(access.visible_to(who))  # type: ignore[call-overload]
        return set((await session.execute(stmt)).scalars().all())


def test_a_customer_reads_credits_and_cases_and_nothing_else():
    # cases:read since issue 9 (myCases), loyalty since issue 13 (their own balances, and
    # redeeming their points), applications since issue 11 (their own credit applications);
    # each domain narrows it to their own rows
    assert ROLE_SCOPES[Role.CUSTOMER] == frozenset(
        {
            Scope.CREDITS_READ,
            Scope.CASES_READ,
            Scope.LOYALTY_READ,
            Scope.LOYALTY_WRITE,
            Scope.APPLICATIONS_READ,
            Scope.APPLICATIONS_WRITE,
        }
    )


async def test_a_customer_sees_only_their_own_credits(make_credit, two_customers, outsider):
    me, other = two_customers
    mine = await make_credit(customer_id=me, disbursed_days_ago=5)
    approved = await make_credit(customer_id=me, disbursed_days_ago=None)
    theirs = await make_credit(customer_id=other, disbursed_days_ago=5)
    who = customer(me)
    assert await visible_ids(who) == {mine.id, approved.id}
    for credit in (mine, approved, theirs):
        assert access.may_see(who, credit) == (credit.customer_id == me)
    async with read_session() as session:
        page = await service.list_my_credits(session, principal=who, limit=10, with_total=True)
        assert {c.id for c in page.items} == {mine.id, approved.id} and page.total == 2
        only = await service.list_my_credits(session, principal=who, limit=10, statuses=["ACTIVE"])
        assert [c.id for c in only.items] == [mine.id]
        assert (await service.get_credit(session, principal=who, credit_id=mine.id)).id == mine.id
        with pytest.raises(NotFound):
            await service.get_credit(session, principal=who, credit_id=theirs.id)
        with pytest.raises(NotFound):
            await service.get_by_reference(session, principal=who, reference=theirs.reference)
        with pytest.raises(NotFound):
            await payments.list_payments(session, principal=who, credit_id=theirs.id, limit=5)
        with pytest.raises(Forbidden, match="myCredits"):
            await service.search_credits(session, principal=who, limit=10)
        with pytest.raises(Forbidden):
            await service.list_my_credits(session, principal=outsider, limit=10)


async def test_a_customer_role_without_its_customer_sees_nothing(make_credit, two_customers):
    await make_credit(customer_id=two_customers[0])
    nameless = Principal(
        subject="customer:?", roles=frozenset({Role.CUSTOMER}), scopes=ROLE_SCOPES[Role.CUSTOMER]
    )
    assert await visible_ids(nameless) == set()
    async with read_session() as session:
        with pytest.raises(Forbidden):
            await service.list_my_credits(session, principal=nameless, limit=10)


async def test_staff_who_are_also_customers_keep_their_staff_view(
    make_credit, two_customers, lender
):
    mine = await make_credit(customer_id=two_customers[0])
    theirs = await make_credit(customer_id=two_customers[1])
    both = Principal(
        subject="agent-and-customer",
        roles=frozenset({Role.AGENT, Role.CUSTOMER}),
        scopes=ROLE_SCOPES[Role.AGENT],
        partner_id=lender,
        customer_id=two_customers[0],
    )
    assert await visible_ids(both) >= {mine.id, theirs.id}
    async with read_session() as session:
        page = await service.search_credits(session, principal=both, limit=50)
    assert {mine.id, theirs.id} <= {c.id for c in page.items}


async def test_a_customer_changes_nothing(make_credit, two_customers):
    credit = await make_credit(customer_id=two_customers[0], disbursed_days_ago=40)
    who = customer(two_customers[0])
    before = await db_state()
    with pytest.raises(Forbidden):
        async with transaction() as session:
            await payments.register_payment(
                session,
                principal=who,
                credit_id=credit.id,
                amount="1000",
                currency="CLP",
                paid_at=credit.created_at,
                reference="self",
                idempotency_key="self-1",
            )
    with pytest.raises(Forbidden):
        async with transaction() as session:
            await service.cancel_credit(
                session, principal=who, credit_id=credit.id, expected_version=1, reason="x"
            )
    assert await db_state() == before


async def test_only_an_approved_credit_is_disbursed(make_credit, agent):
    """DELINQUENT -> ACTIVE (a cure) and PAID_OFF -> ACTIVE (a reopening) are transitions of
    the ledger, never a second disbursement that would re-date the schedule."""
    credit = await make_credit(disbursed_days_ago=70)
    assert credit.status == "DELINQUENT"
    before = await db_state()
    with pytest.raises(InvalidTransition) as info:
        async with transaction() as session:
            await service.disburse_credit(
                session, principal=agent, credit_id=credit.id, expected_version=credit.version
            )
    assert (info.value.from_state, info.value.to_state) == ("DELINQUENT", "ACTIVE")
    assert await db_state() == before

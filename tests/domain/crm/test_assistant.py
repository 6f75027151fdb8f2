"""The assistant Ana: a verified caller gets a short credit status and nothing else; wrong
factors are counted and lock the national ID (and a client trying many people) out for a
while; every lookup is audited; conversations are logged once, on the timeline, and a
hand-off opens a CRM task or a case with the transcript linked."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from stdnum.cl import rut

from app.db import read_session, transaction
from domain.cases.models import Case
from domain.credits.models import Credit
from domain.credits.states import OPEN_STATUSES
from domain.crm import assistant
from domain.crm.assistant_models import AssistantConversation, VerificationLock
from domain.crm.models import CrmTask, CrmTimelineItem
from domain.customers.models import Customer
from domain.shared import time as clock
from domain.shared.audit import AuditRecord
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role

DOB = date(1988, 4, 17)


def client(partner: Any, name: str = "ana-pbx") -> Principal:
    return Principal(
        subject=f"client:{name}",
        roles=frozenset({Role.PARTNER_SYSTEM}),
        scopes=ROLE_SCOPES[Role.PARTNER_SYSTEM],
        partner_id=partner,
        client_id=name,
        kind="client",
    )


async def caller() -> tuple[Customer, Credit]:
    """A seeded customer with an open credit and a phone; their date of birth registered."""
    async with transaction() as session:
        row = (
            await session.execute(
                sa.select(Credit, Customer)
                .join(Customer, Customer.id == Credit.customer_id)  # type: ignore[arg-type]
                .where(
                    Credit.status.in_(list(OPEN_STATUSES)),  # type: ignore[attr-defined]
                    Customer.national_id_type == "CL_RUT",  # type: ignore[arg-type]
                )
                .order_by(Credit.reference)  # type: ignore[arg-type]
                .limit(1)
            )
        ).first()
        assert row is not None, "the demo seed has open credits of Chilean customers"
        credit, customer = row
        customer.phone = "+56987654321"
        session.add(customer)
        await assistant.register_verification_factors(
            session, principal=SYSTEM, customer_id=customer.id, date_of_birth=DOB
        )
        return customer, credit


async def lookup(principal: Principal, customer: Customer, **given: Any) -> Any:
    async with transaction() as session:
        return await assistant.credit_status_for_assistant(
            session,
            principal=principal,
            national_id_type=customer.national_id_type,
            national_id=customer.national_id,
            verification=assistant.Verification(**given),
        )


async def audits(action: str) -> int:
    async with read_session() as session:
        return (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(AuditRecord)
                .where(AuditRecord.action == action)
            )
        ).scalar_one()


async def test_a_verified_caller_gets_the_short_status_only(db: Any) -> None:
    customer, credit = await caller()
    ana = client(credit.partner_id)
    for given in ({"date_of_birth": DOB}, {"phone_last_digits": "4321"}):
        status = await lookup(ana, customer, **given)
        assert status.verified is True
        assert credit.reference in [line.reference for line in status.credits]
        line = next(x for x in status.credits if x.reference == credit.reference)
        assert line.currency == credit.currency and line.status == credit.status
        assert line.payoff_amount is not None and line.payoff_amount > 0
        assert line.next_installment_due is not None
        assert line.days_past_due == credit.days_past_due
    # Nothing but these fields: no name, contact, address or national ID.
    assert {f.name for f in dataclasses.fields(assistant.CreditStatusLine)} == {
        "reference",
        "status",
        "currency",
        "days_past_due",
        "next_installment_number",
        "next_installment_due",
        "next_installment_amount",
        "payoff_amount",
        "payoff_valid_until",
    }
    assert {f.name for f in dataclasses.fields(assistant.AssistantStatus)} == {
        "verified",
        "credits",
        "attempts_left",
        "locked_until",
    }
    assert await audits("assistant.credit_status") == 2
    # Another lender's assistant sees none of this lender's credits.
    async with read_session() as session:
        other = (
            await session.execute(
                sa.select(Credit.partner_id).where(Credit.partner_id != credit.partner_id).limit(1)  # type: ignore[arg-type]
            )
        ).scalar_one()
    elsewhere = await lookup(client(other, "ana-other"), customer, date_of_birth=DOB)
    assert elsewhere.verified is True
    assert credit.reference not in [line.reference for line in elsewhere.credits]


async def test_wrong_factors_are_counted_and_lock_the_id_out(db: Any) -> None:
    customer, credit = await caller()
    ana = client(credit.partner_id)
    left = [
        (await lookup(ana, customer, date_of_birth=DOB + timedelta(days=n))).attempts_left
        for n in (1, 2, 3)
    ]
    assert left == [2, 1, 0]
    locked = await lookup(ana, customer, date_of_birth=DOB)  # right, but locked
    assert locked.verified is False and locked.credits == []
    assert locked.locked_until is not None and locked.locked_until > clock.utcnow()
    assert await audits("assistant.credit_status_locked") == 1
    # both factors given: both must match
    assert await audits("assistant.verification_failed") == 3
    # The lock is for this national ID: another caller's lookup goes on.
    # After the cool-down the right factor works and clears the count.
    async with transaction() as session:
        await session.execute(
            sa.update(VerificationLock)
            .where(VerificationLock.key.like("nid:%"))  # type: ignore[attr-defined]
            .values(locked_until=clock.utcnow() - timedelta(seconds=1))
        )
    status = await lookup(ana, customer, date_of_birth=DOB, phone_last_digits="4321")
    assert status.verified is True
    mixed = await lookup(ana, customer, date_of_birth=DOB, phone_last_digits="0000")
    assert mixed.verified is False and mixed.attempts_left == 2


async def test_unknown_ids_fail_alike_and_a_client_is_locked_too(db: Any) -> None:
    customer, credit = await caller()
    ana = client(credit.partner_id, "ana-busy")
    answers = []
    for n in range(assistant.MAX_CLIENT_FAILURES):
        number = str(30_000_000 + n * 7919)
        fake = Customer(
            national_id_type="CL_RUT", national_id=number + rut.calc_check_digit(number)
        )
        answers.append(await lookup(ana, fake, date_of_birth=DOB))
    assert all(a.verified is False and a.attempts_left == 2 for a in answers)
    assert (await lookup(ana, customer, date_of_birth=DOB)).locked_until is not None
    # Another client of the lender is not locked by this one's failures.
    assert (
        await lookup(client(credit.partner_id, "ana-web"), customer, date_of_birth=DOB)
    ).verified


async def test_bad_input_is_refused_and_nothing_counted(db: Any) -> None:
    customer, credit = await caller()
    ana = client(credit.partner_id)
    with pytest.raises(ValidationFailed):
        await lookup(ana, customer)
    with pytest.raises(ValidationFailed):
        await lookup(ana, customer, phone_last_digits="43a1")
    bad = Customer(national_id_type="CL_RUT", national_id="12.345.678-0")
    with pytest.raises(ValidationFailed):
        await lookup(ana, bad, date_of_birth=DOB)
    agent = Principal(
        "agent",
        roles=frozenset({Role.AGENT}),
        scopes=ROLE_SCOPES[Role.AGENT],
        partner_id=credit.partner_id,
    )
    with pytest.raises(Forbidden):
        await lookup(agent, customer, date_of_birth=DOB)
    async with read_session() as session:
        locks = (await session.execute(sa.select(VerificationLock))).scalars().all()
    assert all(lock.failures == 0 for lock in locks)
    async with transaction() as session:
        with pytest.raises(ValidationFailed):
            await assistant.register_verification_factors(
                session, principal=SYSTEM, customer_id=customer.id, date_of_birth=date(2999, 1, 1)
            )


def conversation(external_id: str, **changes: Any) -> assistant.ConversationInput:
    start = clock.utcnow() - timedelta(minutes=10)
    data: dict[str, Any] = {
        "external_id": external_id,
        "channel": "PHONE",
        "started_at": start,
        "ended_at": start + timedelta(minutes=4),
        "intent": "payment_not_applied",
        "outcome": "HANDED_OFF",
        "turns": [
            assistant.Turn("ASSISTANT", "Hola, soy Ana. ¿En qué te ayudo?", start),
            assistant.Turn(
                "CALLER", "Pagué la cuota y sigue apareciendo impaga", start + timedelta(seconds=20)
            ),
            assistant.Turn(
                "ASSISTANT", "Te comunico con una persona", start + timedelta(seconds=50)
            ),
        ],
        "handoff": "TASK",
        "handoff_reason": "Pago no reflejado",
    }
    data.update(changes)
    return assistant.ConversationInput(**data)


async def test_conversations_are_logged_once_and_hand_off(db: Any) -> None:
    customer, credit = await caller()
    ana = client(credit.partner_id)
    async with transaction() as session:
        first, new = await assistant.log_conversation(
            session,
            principal=ana,
            data=conversation("pbx-1", national_id_type="CL_RUT", national_id=customer.national_id),
        )
    async with transaction() as session:
        again, new_again = await assistant.log_conversation(
            session,
            principal=ana,
            data=conversation("pbx-1", national_id_type="CL_RUT", national_id=customer.national_id),
        )
    assert new and not new_again and again.id == first.id
    assert first.customer_id == customer.id and first.task_id is not None
    async with read_session() as session:
        task = await session.get(CrmTask, first.task_id)
        items = (
            (
                await session.execute(
                    sa.select(CrmTimelineItem).where(
                        CrmTimelineItem.customer_id == customer.id,  # type: ignore[arg-type]
                        CrmTimelineItem.kind == "CONVERSATION",  # type: ignore[arg-type]
                    )
                )
            )
            .scalars()
            .all()
        )
    assert task is not None and task.kind == "HANDOFF" and str(first.id) in (task.note or "")
    assert [i.payload["conversationId"] for i in items] == [str(first.id)]
    async with transaction() as session:
        to_case, _ = await assistant.log_conversation(
            session,
            principal=ana,
            data=conversation(
                "wa-2",
                channel="WHATSAPP",
                handoff="CASE",
                national_id_type="CL_RUT",
                national_id=customer.national_id,
            ),
        )
    async with read_session() as session:
        case = await session.get(Case, to_case.case_id)
    assert case is not None and str(to_case.id) in case.description
    bad = [
        conversation("x-1", channel="FAX"),
        conversation("x-2", turns=[]),
        conversation("x-3", outcome="RESOLVED"),  # a hand-off is HANDED_OFF
        conversation("x-4", handoff="CASE"),  # a case needs the national ID
        conversation("x-5", turns=[assistant.Turn("ROBOT", "hola", clock.utcnow())]),
    ]
    for data in bad:
        async with transaction() as session:
            with pytest.raises(ValidationFailed):
                await assistant.log_conversation(session, principal=ana, data=data)
    async with read_session() as session:
        count = (
            await session.execute(sa.select(sa.func.count()).select_from(AssistantConversation))
        ).scalar_one()
    assert count == 2

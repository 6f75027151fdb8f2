"""The application's life through the services: start, submit, scoring's decision, offer,
signing, credit, disbursement; the idempotent entry points; withdrawals; hand decisions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.credits.models import Credit
from domain.origination import service, states
from domain.origination.errors import AlreadyDecided
from domain.origination.models import (
    ApplicationEvent,
    ApplicationState,
    CreditApplication,
    CreditOffer,
    OfferStatus,
)
from domain.shared.errors import Forbidden, InvalidTransition
from domain.shared.outbox import OutboxEvent
from tests.domain.origination.conftest import CONSENTS, World

S = ApplicationState


async def start(world: World, **changes: Any) -> CreditApplication:
    values: dict[str, Any] = {
        "lender_id": world.lender_id,
        "requested_principal": 8_000_000,
        "down_payment": 2_000_000,
        "currency": "CLP",
        "term_months": 36,
        "monthly_income": 1_800_000,
        "employment_type": "EMPLOYED",
        "employment_months": 40,
        "declared_obligations": 150_000,
        "consents": CONSENTS,
    }
    values.update(changes)
    principal = values.pop("principal", world.customer)
    async with transaction() as session:
        return await service.start_application(session, principal=principal, **values)


async def submitted(world: World, **changes: Any) -> CreditApplication:
    app = await start(world, **changes)
    async with transaction() as session:
        return await service.submit_application(
            session, principal=world.customer, application_id=app.id, expected_version=app.version
        )


async def decide(
    app_id: uuid.UUID, outcome: str, grade: str | None = "B", **kw: Any
) -> CreditApplication:
    async with transaction() as session:
        return await service.apply_decision(
            session,
            application_id=app_id,
            decision_id=kw.get("decision_id", uuid.uuid4()),
            outcome=outcome,
            grade=grade,
            reasons=kw.get("reasons", ["INCOME_LOW"]),
        )


async def topics(app_id: uuid.UUID) -> list[str]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(OutboxEvent.topic, OutboxEvent.payload).order_by(OutboxEvent.id)
        )
        return [t for t, p in rows if (p or {}).get("reference") and _is(p, app_id)]


def _is(payload: dict[str, Any], app_id: uuid.UUID) -> bool:
    from domain.shared import event_schemas as wire

    return payload.get("applicationId") == wire.global_id("CreditApplication", app_id)


def test_transition_table_is_closed() -> None:
    for source, targets in states.TRANSITIONS.items():
        for target in targets:
            assert target in states.TRANSITIONS
        assert source not in targets
    assert {S.REJECTED, S.DISBURSED, S.WITHDRAWN, S.EXPIRED} == states.FINAL
    assert not states.can_move("DRAFT", "APPROVED")
    assert not states.can_move("NONSENSE", "DRAFT")
    with pytest.raises(InvalidTransition):
        states.ensure_move("APPROVED", "OFFERED")


async def test_the_whole_way_to_a_disbursed_credit(world: World) -> None:
    app = await start(world)
    assert app.state == "DRAFT" and app.reference.startswith("AP-2026-")
    async with transaction() as session:
        app = await service.submit_application(
            session, principal=world.customer, application_id=app.id, expected_version=app.version
        )
    assert app.state == "SUBMITTED" and app.due_at is not None and app.submitted_at is not None
    decision = uuid.uuid4()
    app = await decide(app.id, "approve", "B", decision_id=decision)
    # no vehicle: nothing to inspect, the offer follows the approval
    assert app.state == "OFFERED" and app.decision_id == decision and app.grade == "B"
    assert service.time_to_decision(app) is not None
    async with transaction() as session:
        offer = await service.get_offer(session, application_id=app.id)
    assert offer is not None and offer.status == OfferStatus.OPEN.value
    assert offer.principal == 8_000_000 and offer.term_months == 36
    assert offer.installment == max(r["installment"] for r in offer.schedule)
    assert sum(r["principal"] for r in offer.schedule) == 8_000_000
    assert offer.cae > offer.annual_rate - 1  # computed, a fraction
    async with transaction() as session:
        app = await service.accept_offer(
            session, principal=world.customer, application_id=app.id, offer_id=offer.id
        )
    assert app.state == "SIGNING"
    contract = uuid.uuid4()
    async with transaction() as session:
        app = await service.complete_signing(session, application_id=app.id, contract_id=contract)
    assert app.state == "APPROVED" and app.credit_id is not None
    credit_id = app.credit_id
    async with transaction() as session:  # idempotent: one application, one credit
        again = await service.complete_signing(session, application_id=app.id, contract_id=contract)
        assert again.credit_id == credit_id
        credits = await session.scalar(
            sa.select(sa.func.count())
            .select_from(Credit)
            .where(Credit.customer_id == world.customer_id, Credit.id == credit_id)
        )
        assert credits == 1
        credit = await session.get(Credit, credit_id)
        assert (
            credit is not None
            and credit.status == "APPROVED"
            and credit.partner_id == world.lender_id
        )
    with pytest.raises(Forbidden):
        async with transaction() as session:
            await service.record_disbursement(
                session,
                principal=world.customer,
                application_id=app.id,
                expected_version=app.version,
            )
    async with transaction() as session:
        app = await service.record_disbursement(
            session, principal=world.agent, application_id=app.id, expected_version=app.version
        )
        credit = await session.get(Credit, credit_id)
        assert credit is not None and credit.status == "ACTIVE"
    assert app.state == "DISBURSED"
    assert await topics(app.id) == [
        "applications.started",
        "applications.submitted",
        "applications.scored",
        "applications.pre_approved",
        "applications.offered",
        "applications.offer_accepted",
        "applications.approved",
        "applications.disbursed",
    ]
    async with read_session() as session:
        seqs = (
            await session.execute(
                sa.select(ApplicationEvent.seq, ApplicationEvent.to_state)
                .where(ApplicationEvent.application_id == app.id)
                .order_by(ApplicationEvent.seq)
            )
        ).all()
    assert [s for s, _ in seqs] == list(range(1, len(seqs) + 1))
    assert seqs[-1][1] == "DISBURSED"


async def test_apply_decision_is_idempotent_and_refuses_a_second_decision(world: World) -> None:
    app = await submitted(world)
    decision = uuid.uuid4()
    first = await decide(app.id, "refer", "C", decision_id=decision)
    assert first.state == "REFERRED"
    version = first.version
    again = await decide(app.id, "refer", "C", decision_id=decision)
    assert again.version == version  # nothing changed
    with pytest.raises(AlreadyDecided):
        await decide(app.id, "approve", "A")
    # a decision for a withdrawn application changes nothing
    other = await submitted(world)
    async with transaction() as session:
        await service.withdraw_application(
            session,
            principal=world.customer,
            application_id=other.id,
            expected_version=other.version,
        )
    late = await decide(other.id, "approve", "A")
    assert late.state == "WITHDRAWN" and late.decision_id is None


async def test_a_term_beyond_the_grade_is_referred_not_approved(world: World) -> None:
    app = await submitted(world, term_months=60)
    decided = await decide(app.id, "approve", "D")  # D lends at most 36 months
    assert decided.state == "REFERRED"
    assert "TERM_BEYOND_GRADE" in decided.decision_reasons


async def test_rejection_and_hand_decisions(world: World) -> None:
    app = await submitted(world)
    rejected = await decide(app.id, "reject", None)
    assert rejected.state == "REJECTED"
    referred = await decide((await submitted(world)).id, "refer", "C")
    with pytest.raises(Forbidden):  # the customer cannot decide
        async with transaction() as session:
            await service.decide_referred(
                session,
                principal=world.customer,
                application_id=referred.id,
                expected_version=referred.version,
                approve=True,
                reason="ok",
            )
    async with transaction() as session:
        approved = await service.decide_referred(
            session,
            principal=world.supervisor,
            application_id=referred.id,
            expected_version=referred.version,
            approve=True,
            reason="ingresos verificados con liquidaciones",
        )
    assert approved.state == "OFFERED" and approved.decided_by == world.supervisor.subject


async def test_signature_declined_returns_to_offered_and_expired_expires(world: World) -> None:
    app = await decide((await submitted(world)).id, "approve", "B")
    async with transaction() as session:
        offer = await service.get_offer(session, application_id=app.id)
        assert offer is not None
        app = await service.accept_offer(
            session, principal=world.customer, application_id=app.id, offer_id=offer.id
        )
    async with transaction() as session:
        app = await service.signature_declined(
            session, application_id=app.id, contract_id=uuid.uuid4(), reason="no estoy de acuerdo"
        )
    assert app.state == "OFFERED"
    async with transaction() as session:
        fresh = await service.get_offer(session, application_id=app.id)
        assert fresh is not None and fresh.id != offer.id and fresh.status == "OPEN"
        old = await session.get(CreditOffer, offer.id)
        assert old is not None and old.status == "SUPERSEDED"
        again = await service.signature_declined(session, application_id=app.id)
        assert again.version == app.version  # a late repeat changes nothing
        app = await service.accept_offer(
            session, principal=world.customer, application_id=app.id, offer_id=fresh.id
        )
    async with transaction() as session:
        app = await service.signature_expired(session, application_id=app.id)
    assert app.state == "EXPIRED"


async def test_drafts_change_only_as_drafts(world: World) -> None:
    app = await start(world)
    async with transaction() as session:
        app = await service.update_draft(
            session,
            principal=world.customer,
            application_id=app.id,
            expected_version=app.version,
            changes={"term_months": 48, "monthly_income": 2_000_000},
        )
    assert app.term_months == 48 and app.version == 2
    async with transaction() as session:
        app = await service.submit_application(
            session, principal=world.customer, application_id=app.id, expected_version=app.version
        )
    with pytest.raises(InvalidTransition):
        async with transaction() as session:
            await service.update_draft(
                session,
                principal=world.customer,
                application_id=app.id,
                expected_version=app.version,
                changes={"term_months": 12},
            )

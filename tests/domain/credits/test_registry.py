"""Credit registry and lifecycle: create, disburse, cancel, write off, restructure, reads,
access, optimistic concurrency, and every bad input refused with nothing written."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.db import read_session, transaction
from domain.credits import payments, service
from domain.credits.models import CreditSchedule, Installment, Payment
from domain.credits.states import CreditStatus, InstallmentStatus, can_transition
from domain.shared.audit import AuditRecord
from domain.shared.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from domain.shared.event_schemas import global_id as gid
from domain.shared.event_schemas import money
from domain.shared.money import Money
from domain.shared.principal import Role

from .conftest import at_noon, db_state, events, fields, local_today, principal, reload, rows_of


def base(customer: uuid.UUID, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "customer_id": customer,
        "product_code": "AUTO-NEW",
        "currency": "CLP",
        "amount": "1000000",
        "annual_rate": Decimal("0.12"),
        "term_months": 12,
        "disbursement_date": local_today(),
    }
    values.update(changes)
    return values


# --- create ---------------------------------------------------------------------------------
async def test_create_registers_an_approved_credit_with_its_planned_schedule(
    agent, customer_id, lender
):
    async with transaction() as session:
        credit = await service.create_credit(
            session,
            principal=agent,
            **base(
                customer_id,
                opening_fee="20000",
                monthly_insurance=Money(1_500, "CLP"),
                vehicle_ref=" VIN  3FA6P0H7 ",
                product_code="auto-new",
            ),
        )
    assert re.fullmatch(r"CR-\d{4}-000001", credit.reference)
    assert credit.status == CreditStatus.APPROVED and credit.version == 1
    assert credit.partner_id == lender and credit.timezone == "America/Santiago"
    assert credit.product_code == "AUTO-NEW" and credit.vehicle_ref == "VIN 3FA6P0H7"
    assert credit.annual_rate == Decimal("0.12") and credit.late_annual_rate == Decimal("0.30")
    assert credit.allocation_order == "LATE_INTEREST,CHARGES,INTEREST,PRINCIPAL"
    stored = await reload(credit.id)
    assert stored.annual_rate == Decimal("0.12")  # exact decimal round trip
    rows = await rows_of(Installment, credit_id=credit.id)
    assert len(rows) == 12 and {r.status for r in rows} == {InstallmentStatus.PENDING}
    assert sum(r.principal for r in rows) == 1_000_000
    assert rows[0].insurance == 1_500
    (header,) = await rows_of(CreditSchedule, credit_id=credit.id)
    assert header.reason == "ORIGINAL" and header.opening_fee == 20_000
    (event,) = await events("credits.created")
    assert event.payload["creditId"] == gid("Credit", credit.id)
    assert event.payload["principal"] == {"amount": "1000000", "currency": "CLP"}
    assert event.audience == f",{lender},"
    assert "nationalId" not in str(event.payload) and "givenNames" not in str(event.payload)
    (record,) = await rows_of(
        AuditRecord, action="credits.created", entity_id=str(credit.id)
    )  # the demo credits of the seed have records of their own
    assert record.entity_id == str(credit.id)
    async with transaction() as session:
        second = await service.create_credit(session, principal=agent, **base(customer_id))
    assert second.reference.endswith("-000002")


async def test_admin_creates_for_any_lender_and_in_uf(admin, customer_id, lender):
    async with transaction() as session:
        credit = await service.create_credit(
            session,
            principal=admin,
            partner_id=lender,
            **base(customer_id, currency="CLF", amount="450.5"),
        )
    assert credit.principal == 4_505_000 and credit.currency == "CLF"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "10.5"}, "amount"),  # CLP has no decimals
        ({"currency": "XYZ"}, "currency"),
        ({"currency": None}, "currency"),
        ({"annual_rate": Decimal("1.51")}, "annualRate"),
        ({"annual_rate": Decimal("-0.01")}, "annualRate"),
        ({"annual_rate": 0.12}, "annualRate"),  # a float
        ({"annual_rate": "twelve"}, "annualRate"),
        ({"term_months": 0}, "termMonths"),
        ({"term_months": 601}, "termMonths"),
        ({"term_months": True}, "termMonths"),
        ({"grace_months": 12}, "graceMonths"),
        ({"scheme": "ITALIAN"}, "scheme"),
        ({"day_count": "ACT/ACT"}, "dayCount"),
        ({"opening_fee": "1000000"}, "openingFee"),  # a deducted fee as large as the principal
        ({"monthly_insurance": "-1"}, "monthlyInsurance"),
        ({"monthly_insurance": Money(100, "USD")}, "monthlyInsurance"),
        ({"late_annual_rate": Decimal("0.51")}, "lateAnnualRate"),
        ({"product_code": ""}, "productCode"),
        ({"product_code": "auto new!"}, "productCode"),
        ({"vehicle_ref": "x" * 101}, "vehicleRef"),
        ({"allocation_order": "PRINCIPAL"}, "allocationOrder"),
        ({"allocation_mode": "RANDOM"}, "allocationOrderMode"),
        ({"customer_id": uuid.UUID(int=1)}, "customerId"),
        ({"disbursement_date": "2026-01-01"}, "disbursementDate"),
    ],
)
async def test_create_refuses_bad_input_and_writes_nothing(agent, customer_id, changes, field):
    before = await db_state()
    with pytest.raises(ValidationFailed) as info:
        async with transaction() as session:
            await service.create_credit(session, principal=agent, **base(customer_id, **changes))
    assert field in fields(info.value), info.value.problems
    assert await db_state() == before


async def test_create_reports_every_bad_field_at_once(agent, customer_id):
    with pytest.raises(ValidationFailed) as info:
        async with transaction() as session:
            await service.create_credit(
                session,
                principal=agent,
                **base(customer_id, amount="0", annual_rate=Decimal("9"), product_code="?"),
            )
    assert {"amount", "annualRate", "productCode"} <= set(fields(info.value))


async def test_create_access(customer_id, ids, outsider, partner_system):
    before = await db_state()
    with pytest.raises(Forbidden):
        async with transaction() as session:
            await service.create_credit(
                session, principal=outsider, partner_id=ids["AUTOCREDITO"], **base(customer_id)
            )
    with pytest.raises(Forbidden):  # partner systems pay, they do not grant credits
        async with transaction() as session:
            await service.create_credit(session, principal=partner_system, **base(customer_id))
    loyalty = principal(Role.AGENT, ids["CLUB_PUNTOS"])
    with pytest.raises(ValidationFailed) as info:
        async with transaction() as session:
            await service.create_credit(session, principal=loyalty, **base(customer_id))
    assert fields(info.value) == ["partnerId"]
    assert await db_state() == before


# --- lifecycle ------------------------------------------------------------------------------
async def test_disburse_rebuilds_the_schedule_on_the_actual_date(agent, make_credit):
    credit = await make_credit(disbursed_days_ago=None)
    day = local_today() - timedelta(days=3)
    async with transaction() as session:
        active = await service.disburse_credit(
            session,
            principal=agent,
            credit_id=credit.id,
            expected_version=1,
            disbursement_date=day,
        )
    assert active.status == CreditStatus.ACTIVE and active.disbursement_date == day
    assert active.version == 2 and active.outstanding_principal == 1_000_000
    rows = sorted(await rows_of(Installment, credit_id=credit.id), key=lambda r: r.number)
    assert len(rows) == 12 and rows[0].due_date > day
    (header,) = await rows_of(CreditSchedule, credit_id=credit.id)
    assert header.start_date == day
    (event,) = await events("credits.disbursed")
    assert event.payload["netDisbursed"] == money(1_000_000, "CLP")
    with pytest.raises(InvalidTransition):
        async with transaction() as session:
            await service.disburse_credit(
                session, principal=agent, credit_id=credit.id, expected_version=2
            )


async def test_disburse_refuses_a_future_date_and_a_stale_version(agent, make_credit):
    credit = await make_credit(disbursed_days_ago=None)
    before = await db_state()
    with pytest.raises(ValidationFailed) as info:
        async with transaction() as session:
            await service.disburse_credit(
                session,
                principal=agent,
                credit_id=credit.id,
                expected_version=1,
                disbursement_date=local_today() + timedelta(days=1),
            )
    assert fields(info.value) == ["disbursementDate"]
    with pytest.raises(Conflict) as conflict:
        async with transaction() as session:
            await service.disburse_credit(
                session, principal=agent, credit_id=credit.id, expected_version=7
            )
    assert conflict.value.current_version == 1
    assert await db_state() == before


async def test_cancel_only_an_approved_credit(agent, make_credit):
    approved = await make_credit(disbursed_days_ago=None)
    with pytest.raises(ValidationFailed):
        async with transaction() as session:
            await service.cancel_credit(
                session, principal=agent, credit_id=approved.id, expected_version=1, reason=" "
            )
    async with transaction() as session:
        cancelled = await service.cancel_credit(
            session,
            principal=agent,
            credit_id=approved.id,
            expected_version=1,
            reason="customer  withdrew",
        )
    assert cancelled.status == CreditStatus.CANCELLED
    assert cancelled.status_reason == "customer withdrew" and cancelled.closed_at is not None
    assert [e.topic for e in await events("credits.cancelled")] == ["credits.cancelled"]
    active = await make_credit()
    with pytest.raises(InvalidTransition):
        async with transaction() as session:
            await service.cancel_credit(
                session,
                principal=agent,
                credit_id=active.id,
                expected_version=active.version,
                reason="too late",
            )


async def test_write_off_is_for_supervisors(agent, supervisor, make_credit):
    credit = await make_credit(disbursed_days_ago=100)
    assert credit.status == CreditStatus.DELINQUENT
    with pytest.raises(Forbidden):
        async with transaction() as session:
            await service.write_off_credit(
                session,
                principal=agent,
                credit_id=credit.id,
                expected_version=credit.version,
                reason="uncollectable",
            )
    async with transaction() as session:
        gone = await service.write_off_credit(
            session,
            principal=supervisor,
            credit_id=credit.id,
            expected_version=credit.version,
            reason="uncollectable",
        )
    assert gone.status == CreditStatus.WRITTEN_OFF
    (event,) = await events("credits.written_off")
    assert event.payload["outstandingPrincipal"] == money(1_000_000, "CLP")
    assert event.payload["daysPastDue"] > 60
    with pytest.raises(ValidationFailed) as info:
        async with transaction() as session:
            await payments.register_payment(
                session,
                principal=agent,
                credit_id=credit.id,
                amount=Money(1_000, "CLP"),
                paid_at=at_noon(local_today()),
                reference="late",
                idempotency_key="k-1",
            )
    assert fields(info.value) == ["creditId"]


def test_the_state_machine():
    assert can_transition("APPROVED", "ACTIVE") and can_transition("APPROVED", "CANCELLED")
    assert can_transition("ACTIVE", "DELINQUENT") and can_transition("DELINQUENT", "ACTIVE")
    assert can_transition("DELINQUENT", "RESTRUCTURED") and can_transition("ACTIVE", "PAID_OFF")
    assert not can_transition("APPROVED", "PAID_OFF")
    assert not can_transition("CANCELLED", "ACTIVE")
    assert not can_transition("WRITTEN_OFF", "ACTIVE")
    assert not can_transition("ACTIVE", "CANCELLED")


# --- restructure ----------------------------------------------------------------------------
async def test_restructure_builds_a_new_schedule_from_the_outstanding_balance(
    agent, supervisor, make_credit
):
    credit = await make_credit(disbursed_days_ago=75)
    assert credit.status == CreditStatus.DELINQUENT
    async with transaction() as session:
        early = await payments.register_payment(
            session,
            principal=agent,
            credit_id=credit.id,
            amount=Money(50_000, "CLP"),
            paid_at=at_noon(local_today() - timedelta(days=20)),
            reference="deposit 1",
            idempotency_key="pay-1",
        )
    credit = await reload(credit.id)
    before_rows = await rows_of(Installment, credit_id=credit.id)
    overdue_principal = sum(
        r.principal - r.principal_paid for r in before_rows
    )  # every unpaid principal is carried
    with pytest.raises(Forbidden):
        async with transaction() as session:
            await service.restructure_credit(
                session,
                principal=agent,
                credit_id=credit.id,
                expected_version=credit.version,
                term_months=24,
                reason="hardship",
            )
    async with transaction() as session:
        restructured = await service.restructure_credit(
            session,
            principal=supervisor,
            credit_id=credit.id,
            expected_version=credit.version,
            term_months=24,
            annual_rate="0.10",
            reason="hardship",
        )
    assert restructured.status == CreditStatus.RESTRUCTURED and restructured.schedule_no == 2
    headers = sorted(
        await rows_of(CreditSchedule, credit_id=credit.id), key=lambda h: h.schedule_no
    )
    assert [h.reason for h in headers] == ["ORIGINAL", "RESTRUCTURE"]
    assert headers[0].closed_on == local_today()
    new = headers[1]
    assert new.carried_principal == overdue_principal
    assert new.carried_interest > 0 and new.carried_late_interest > 0
    assert new.principal == (
        new.carried_principal
        + new.carried_interest
        + new.carried_charges
        + new.carried_late_interest
    )
    assert new.annual_rate == Decimal("0.10") and new.term_months == 24
    rows = await rows_of(Installment, credit_id=credit.id)
    old = [r for r in rows if r.schedule_no == 1]
    fresh = [r for r in rows if r.schedule_no == 2]
    assert len(old) == 12 and len(fresh) == 24
    assert {r.status for r in old} <= {InstallmentStatus.PAID, InstallmentStatus.RESTRUCTURED}
    assert sum(r.principal for r in fresh) == new.principal
    assert restructured.outstanding_principal == new.principal
    (event,) = await events("credits.restructured")
    assert event.payload["scheduleNo"] == 2
    assert event.payload["principal"] == money(new.principal, "CLP")
    # the old schedule is frozen: no payment before the restructure, no reversal of one
    before = await db_state()
    with pytest.raises(ValidationFailed) as info:
        async with transaction() as session:
            await payments.register_payment(
                session,
                principal=agent,
                credit_id=credit.id,
                amount=Money(10_000, "CLP"),
                paid_at=at_noon(local_today() - timedelta(days=1)),
                reference="backdated",
                idempotency_key="pay-2",
            )
    assert fields(info.value) == ["paidAt"]
    with pytest.raises(Conflict):
        async with transaction() as session:
            await payments.reverse_payment(
                session, principal=agent, payment_id=early.id, reason="bounced"
            )
    assert await db_state() == before
    # payments from the restructure date on pay the new schedule
    async with transaction() as session:
        paid = await payments.register_payment(
            session,
            principal=agent,
            credit_id=credit.id,
            amount=Money(10_000, "CLP"),
            paid_at=at_noon(local_today()),
            reference="new",
            idempotency_key="pay-3",
        )
    assert paid.schedule_no == 2 and paid.held_amount == 10_000  # nothing due yet


async def test_restructure_refuses_bad_terms_and_closed_credits(supervisor, make_credit):
    credit = await make_credit(disbursed_days_ago=40)
    before = await db_state()
    for changes, field in (
        ({"term_months": 0}, "termMonths"),
        ({"term_months": 12, "annual_rate": "2"}, "annualRate"),
        (
            {"term_months": 12, "restructure_date": local_today() + timedelta(days=1)},
            "restructureDate",
        ),
        (
            {"term_months": 12, "restructure_date": local_today() - timedelta(days=41)},
            "restructureDate",
        ),
        ({"term_months": 12, "grace_months": 12}, "graceMonths"),
        ({"term_months": 12, "scheme": "NOPE"}, "scheme"),
    ):
        with pytest.raises(ValidationFailed) as info:
            async with transaction() as session:
                await service.restructure_credit(
                    session,
                    principal=supervisor,
                    credit_id=credit.id,
                    expected_version=credit.version,
                    reason="r",
                    **changes,
                )
        assert field in fields(info.value), (changes, info.value.problems)
    assert await db_state() == before
    approved = await make_credit(disbursed_days_ago=None)
    with pytest.raises(InvalidTransition):
        async with transaction() as session:
            await service.restructure_credit(
                session,
                principal=supervisor,
                credit_id=approved.id,
                expected_version=approved.version,
                term_months=12,
                reason="r",
            )


# --- reads and access -----------------------------------------------------------------------
async def test_search_pages_with_keyset_cursors_and_respects_partners(
    agent, admin, outsider, make_credit, customer_id
):
    made = [await make_credit(disbursed_days_ago=None) for _ in range(5)]
    async with read_session() as session:
        first = await service.search_credits(session, principal=agent, limit=2, with_total=True)
        second = await service.search_credits(
            session, principal=agent, limit=2, after=first.cursors[-1]
        )
        third = await service.search_credits(
            session, principal=agent, limit=2, after=second.cursors[-1]
        )
        theirs = await service.search_credits(session, principal=outsider, limit=10)
        everything = await service.search_credits(session, principal=admin, limit=10)
        by_ref = await service.search_credits(
            session, principal=agent, limit=10, reference=made[0].reference.lower()
        )
        approved = await service.search_credits(
            session, principal=agent, limit=10, statuses=["APPROVED"], customer_id=customer_id
        )
    seen = [c.id for page in (first, second, third) for c in page.items]
    assert seen == [c.id for c in reversed(made)]
    assert first.total == 5 and first.has_next and not third.has_next
    assert theirs.items == [] and len(everything.items) == 5
    assert [c.id for c in by_ref.items] == [made[0].id]
    assert len(approved.items) == 5
    async with read_session() as session:
        with pytest.raises(ValidationFailed):
            await service.search_credits(session, principal=agent, limit=2, statuses=["NOPE"])
        with pytest.raises(ValidationFailed):
            await service.search_credits(session, principal=agent, limit=2, after="garbage!")
        with pytest.raises(NotFound):
            await service.get_credit(session, principal=outsider, credit_id=made[0].id)
        with pytest.raises(Forbidden):
            await service.get_credit(
                session, principal=principal(Role.INVESTOR), credit_id=made[0].id
            )
        got = await service.get_by_reference(session, principal=agent, reference=made[1].reference)
        assert got.id == made[1].id
        rows = await service.list_installments(session, principal=agent, credit_id=made[0].id)
        assert [r.number for r in rows] == list(range(1, 13))
        schedules = await service.list_schedules(session, principal=agent, credit_id=made[0].id)
        assert [s.schedule_no for s in schedules] == [1]
        many = await service.installments_of(session, [made[0].id, made[1].id])
        assert {k: len(v) for k, v in many.items()} == {made[0].id: 12, made[1].id: 12}


async def test_a_write_on_another_partners_credit_is_not_found(outsider, make_credit):
    credit = await make_credit(disbursed_days_ago=None)
    before = await db_state()
    with pytest.raises(NotFound):
        async with transaction() as session:
            await service.disburse_credit(
                session, principal=outsider, credit_id=credit.id, expected_version=1
            )
    with pytest.raises(NotFound):
        async with transaction() as session:
            await payments.register_payment(
                session,
                principal=outsider,
                credit_id=credit.id,
                amount=Money(1, "CLP"),
                paid_at=at_noon(local_today()),
                reference="x",
                idempotency_key="x",
            )
    assert await db_state() == before
    assert await rows_of(Payment) == []

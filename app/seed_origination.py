"""Demo credit applications at AutoCrédito Club (the demo's Chilean vehicle lender), one or
more in every state a customer or a person at the lender sees: draft, submitted (its 24-hour
clock running), pre-approved, referred, rejected, inspection, offered, signing, approved,
disbursed, withdrawn, expired. Each is moved through the very services the API and the
workers use (scoring's decisions through ``apply_decision``). ``SCORED`` is a passing state
(scoring moves on in the same transaction), so no application rests there.

States after a decision need the lender's active scorecard (grade rates and terms, seeded
by ``app/seed_scoring.py``) and states about a vehicle (pre-approved, inspection) a vehicle
of the marketplace; without them those states are skipped and said so in the log.
Deterministic; added once (a lender that already has applications is left as it is).
"""

from __future__ import annotations

import importlib
import logging
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from app.db import transaction
from domain.customers.models import Customer
from domain.origination import lending, service
from domain.origination.errors import GradeTermsUnavailable
from domain.origination.models import CreditApplication
from domain.origination.service import ConsentInput
from domain.partners.models import Partner
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role
from domain.shared.time import utcnow

log = logging.getLogger("trama.seed.origination")

CONSENTS = {
    "bureau_check": ConsentInput(accepted=True, text_version="buro-2026-01"),
    "data_processing": ConsentInput(accepted=True, text_version="datos-2026-01"),
}
#: (state wanted, principal in CLP, down payment, term, monthly income, obligations, grade)
STORIES: list[tuple[str, int, int, int, int, int, str | None]] = [
    ("DRAFT", 6_500_000, 1_500_000, 36, 1_400_000, 120_000, None),
    ("SUBMITTED", 9_000_000, 2_000_000, 48, 2_100_000, 250_000, None),
    ("SUBMITTED", 4_200_000, 800_000, 24, 950_000, 0, None),
    ("REFERRED", 12_000_000, 2_500_000, 60, 1_900_000, 420_000, "C"),
    ("REJECTED", 15_000_000, 500_000, 60, 800_000, 300_000, None),
    ("OFFERED", 7_800_000, 2_200_000, 36, 2_600_000, 150_000, "B"),
    ("SIGNING", 5_500_000, 1_000_000, 24, 1_700_000, 90_000, "A"),
    ("APPROVED", 8_900_000, 3_000_000, 36, 3_100_000, 200_000, "A"),
    ("DISBURSED", 10_400_000, 2_600_000, 48, 3_400_000, 310_000, "B"),
    ("WITHDRAWN", 6_000_000, 1_200_000, 36, 1_500_000, 100_000, None),
    ("EXPIRED", 7_100_000, 1_400_000, 36, 2_000_000, 140_000, "C"),
]
VEHICLE_STORIES = [("PRE_APPROVED", "B"), ("INSPECTION", "A")]


def _customer(customer_id: uuid.UUID) -> Principal:
    return Principal(
        subject=f"customer:{customer_id}",
        roles=frozenset({Role.CUSTOMER}),
        scopes=ROLE_SCOPES[Role.CUSTOMER],
        customer_id=customer_id,
        display_name="Cliente demo",
    )


def _agent(lender_id: uuid.UUID) -> Principal:
    return Principal(
        subject="agent@autocredito",
        roles=frozenset({Role.AGENT}),
        scopes=ROLE_SCOPES[Role.AGENT],
        partner_id=lender_id,
        partner_code="AUTOCREDITO",
        display_name="Agente AutoCrédito Club",
    )


async def seed_origination() -> int:
    """Add the demo applications; returns how many were added."""
    async with transaction() as session:
        lender = (
            await session.execute(sa.select(Partner).where(col(Partner.code) == "AUTOCREDITO"))
        ).scalar_one_or_none()
        if lender is None:
            return 0
        if await session.scalar(
            sa.select(sa.func.count())
            .select_from(CreditApplication)
            .where(col(CreditApplication.lender_id) == lender.id)
        ):
            return 0
        chilean = sa.select(col(Partner.id)).where(col(Partner.country) == "CL")
        customers = list(
            (
                await session.execute(
                    sa.select(col(Customer.id))
                    .where(col(Customer.home_partner_id).in_(chilean))
                    .order_by(
                        col(Customer.home_partner_id) != lender.id,
                        col(Customer.sort_name),
                        col(Customer.id),
                    )
                    .limit(len(STORIES) + len(VEHICLE_STORIES))
                )
            ).scalars()
        )
        try:
            await lending.grade_terms(session, lender_id=lender.id, grade="A")
            graded = True
        except (GradeTermsUnavailable, ModuleNotFoundError):
            graded = False
    if not graded:
        log.warning("no active scorecard for AUTOCREDITO: decided applications are not seeded")
    added = 0
    for (state, amount, down, term, income, debts, grade), customer_id in zip(
        STORIES, customers, strict=False
    ):
        if grade is not None and not graded:
            continue
        await _story(lender.id, customer_id, state, amount, down, term, income, debts, grade)
        added += 1
    vehicles = await _available_vehicles(len(VEHICLE_STORIES))
    if graded and vehicles:
        rest = customers[len(STORIES) :]
        for (state, grade), vehicle, customer_id in zip(
            VEHICLE_STORIES, vehicles, rest, strict=False
        ):
            await _vehicle_story(lender.id, customer_id, vehicle, state, grade)
            added += 1
    elif not vehicles:
        log.warning("no marketplace vehicles: pre-approved and inspection applications not seeded")
    return added


async def _story(
    lender_id: uuid.UUID,
    customer_id: uuid.UUID,
    state: str,
    amount: int,
    down: int,
    term: int,
    income: int,
    debts: int,
    grade: str | None,
) -> None:
    me = _customer(customer_id)
    async with transaction() as session:
        app = await service.start_application(
            session,
            principal=me,
            lender_id=lender_id,
            requested_principal=amount,
            down_payment=down,
            currency="CLP",
            term_months=term,
            monthly_income=income,
            employment_type="EMPLOYED",
            employment_months=30,
            declared_obligations=debts,
            consents=CONSENTS,
        )
        if state == "DRAFT":
            return
        app = await service.submit_application(
            session, principal=me, application_id=app.id, expected_version=None
        )
        if state == "SUBMITTED":
            return
        if state == "WITHDRAWN":
            await service.withdraw_application(
                session,
                principal=me,
                application_id=app.id,
                expected_version=None,
                reason="Compré el auto al contado",
            )
            return
        outcome = {"REFERRED": "refer", "REJECTED": "reject"}.get(state, "approve")
        reasons = {
            "refer": ["HIGH_DEBT_TO_INCOME", "SHORT_EMPLOYMENT"],
            "reject": ["LOW_INCOME", "HIGH_DEBT_TO_INCOME", "LOW_BUREAU_SCORE"],
        }.get(outcome, ["SHORT_EMPLOYMENT"])
        app = await service.apply_decision(
            session,
            application_id=app.id,
            decision_id=uuid.uuid5(uuid.NAMESPACE_URL, f"trama-seed:{app.reference}"),
            outcome=outcome,
            grade=grade,
            reasons=reasons,
        )
        if state in ("REFERRED", "REJECTED", "OFFERED"):
            return
        offer = await service.get_offer(session, application_id=app.id)
        assert offer is not None
        app = await service.accept_offer(
            session, principal=me, application_id=app.id, offer_id=offer.id
        )
        if state == "SIGNING":
            return
        if state == "EXPIRED":
            await service.signature_expired(session, application_id=app.id)
            return
        app = await service.complete_signing(session, application_id=app.id, contract_id=None)
        if state == "DISBURSED":
            await service.record_disbursement(
                session, principal=_agent(lender_id), application_id=app.id, expected_version=None
            )


async def _available_vehicles(count: int) -> list[uuid.UUID]:
    try:
        models: Any = importlib.import_module("domain.marketplace.models")
    except ModuleNotFoundError:
        return []
    vehicle = models.Vehicle
    try:
        async with transaction() as session:
            rows = await session.execute(
                sa.select(vehicle.id)
                .where(vehicle.status == "AVAILABLE", vehicle.currency == "CLP")
                .order_by(vehicle.price, vehicle.id)
                .limit(count)
            )
            return list(rows.scalars())
    except sa.exc.DBAPIError:  # the marketplace's tables are not migrated here
        return []


async def _vehicle_story(
    lender_id: uuid.UUID, customer_id: uuid.UUID, vehicle_id: uuid.UUID, state: str, grade: str
) -> None:
    me = _customer(customer_id)
    async with transaction() as session:
        app = await service.start_application(
            session,
            principal=me,
            lender_id=lender_id,
            vehicle_id=vehicle_id,
            requested_principal=0,
            down_payment=0,
            currency="CLP",
            term_months=36,
            monthly_income=4_500_000,
            employment_type="EMPLOYED",
            employment_months=60,
            declared_obligations=0,
            consents=CONSENTS,
        )
        app = await service.submit_application(
            session, principal=me, application_id=app.id, expected_version=None
        )
        app = await service.apply_decision(
            session,
            application_id=app.id,
            decision_id=uuid.uuid5(uuid.NAMESPACE_URL, f"trama-seed:{app.reference}"),
            outcome="approve",
            grade=grade,
            reasons=[],
        )
        if state == "INSPECTION":
            start = utcnow() + timedelta(days=2)
            await service.book_inspection(
                session,
                principal=me,
                application_id=app.id,
                expected_version=None,
                slot_start=start,
                slot_end=start + timedelta(hours=1),
                place="Centro de inspección AutoCrédito, Av. Vicuña Mackenna 3200, Macul",
            )


__all__ = ["SYSTEM", "seed_origination"]

"""Demo CRM data for AutoCrédito Club (issue 12): its advisors (one away, a supervisor),
leads from several campaigns through the same capture as the landing page (a few people
sent the form twice), opportunities in every stage, two leads found to be the lender's
customers already (converted: linked to them, no customer added), and tasks open and done."""

from __future__ import annotations

import logging
import unicodedata
from datetime import timedelta

import sqlalchemy as sa

from app.db import transaction
from domain.crm import advisors, leads, opportunities, tasks
from domain.crm.leads import LeadInput
from domain.crm.models import CrmAdvisor, Stage
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared.principal import SYSTEM
from domain.shared.time import utcnow

log = logging.getLogger("trama.seed")

LENDER = "AUTOCREDITO"
ADVISORS = (
    ("asesor.camila", "Camila Fuentes"),
    ("asesor.diego", "Diego Morales"),
    ("asesor.valentina", "Valentina Reyes"),
    ("asesor.tomas", "Tomás Herrera"),  # goes away at the end
)
CAMPAIGNS = (
    ("google", "cpc", "verano-2026"),
    ("facebook", "social", "suv-familia"),
    ("instagram", "social", "primer-auto"),
    ("newsletter", "email", "inversionistas"),
    (None, None, None),  # organic: the calculator
)
GIVEN = ("Ana", "Benjamín", "Carla", "Felipe", "Ignacia", "Joaquín", "Martina", "Nicolás")
FAMILY = ("Rojas", "Muñoz", "Soto", "Contreras", "Silva", "Pizarro", "Vargas", "Tapia")
VEHICLES = ("Toyota Yaris 2022", "Kia Sportage 2021", "Hyundai Tucson 2023", "Suzuki Swift 2020")
#: Where each seeded opportunity ends (every stage, LOST with a reason).
PATH = {
    Stage.NEW: [],
    Stage.CONTACTED: [Stage.CONTACTED],
    Stage.QUALIFIED: [Stage.CONTACTED, Stage.QUALIFIED],
    Stage.APPLICATION: [Stage.QUALIFIED, Stage.APPLICATION],
    Stage.OFFER: [Stage.QUALIFIED, Stage.APPLICATION, Stage.OFFER],
    Stage.WON: [Stage.QUALIFIED, Stage.APPLICATION, Stage.OFFER, Stage.WON],
    Stage.LOST: [Stage.CONTACTED, Stage.LOST],
}


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if c.isascii())


async def seed_crm(leads_count: int = 28) -> int:
    """Add the demo CRM data once (nothing when the lender already has advisors)."""
    async with transaction() as session:
        lender = (
            await session.execute(sa.select(Partner).where(Partner.code == LENDER))  # type: ignore[arg-type]
        ).scalar_one_or_none()
        if lender is None:
            return 0
        existing = (
            await session.execute(
                sa.select(sa.func.count()).where(CrmAdvisor.partner_id == lender.id)  # type: ignore[arg-type]
            )
        ).scalar_one()
        if existing:
            return 0
        boss = await advisors.add_advisor(
            session,
            principal=SYSTEM,
            partner_id=lender.id,
            subject="supervisora.paula",
            name="Paula Carrasco",
            on_shift=False,
        )
        for subject, name in ADVISORS:
            await advisors.add_advisor(
                session,
                principal=SYSTEM,
                partner_id=lender.id,
                subject=subject,
                name=name,
                supervisor_id=boss.id,
                on_shift=True,
            )
        lender_id = lender.id
    captured = []
    for i in range(leads_count):
        source, medium, campaign = CAMPAIGNS[i % len(CAMPAIGNS)]
        given, family = GIVEN[i % len(GIVEN)], FAMILY[(i * 3) % len(FAMILY)]
        investing = campaign == "inversionistas"
        data = LeadInput(
            lender_id=lender_id,
            name=f"{given} {family}",
            email=f"{_ascii(given)}.{_ascii(family)}{i}@example.cl",
            phone=f"+5699{i:07d}",
            product="INVESTMENT" if investing else "VEHICLE_CREDIT",
            amount=str(5_000_000 + 500_000 * i),
            currency="CLP",
            vehicle_description=None if investing else VEHICLES[i % len(VEHICLES)],
            simulation=None
            if investing
            else {
                "inputs": {"price": str(9_000_000 + 500_000 * i), "termMonths": 36 + 12 * (i % 3)},
                "result": {"installment": str(250_000 + 9_000 * i)},
            },
            consent=True,
            consent_text_version="2026-11",
            utm_source=source,
            utm_medium=medium,
            utm_campaign=campaign,
            referrer="https://www.google.com/" if source == "google" else None,
        )
        async with transaction() as session:
            capture = await leads.capture_lead(session, data=data)
        captured.append(capture)
        if i % 9 == 4:  # the same person sent the form again a while later
            async with transaction() as session:
                await leads.capture_lead(session, data=data)
    stages = list(PATH)
    for i, capture in enumerate(captured):
        if capture.opportunity is None:
            continue
        target = stages[i % len(stages)]
        for step in PATH[target]:
            async with transaction() as session:
                await opportunities.move_stage(
                    session,
                    principal=SYSTEM,
                    opportunity_id=capture.opportunity.id,
                    to_stage=step.value,
                    lost_reason="Compró con otra financiera" if step is Stage.LOST else None,
                )
    # Two leads turn out to be the lender's customers already (their national ID is on
    # file): converting links them, keeping their history, and adds no customer.
    async with transaction() as session:
        known = list(
            (
                await session.execute(
                    sa.select(Customer)
                    .where(Customer.home_partner_id == lender_id)  # type: ignore[arg-type]
                    .order_by(Customer.sort_name, Customer.id)  # type: ignore[arg-type]
                    .limit(2)
                )
            ).scalars()
        )
    vehicle_leads = [
        c.lead for c in captured if c.lead is not None and c.lead.product == "VEHICLE_CREDIT"
    ]
    for lead, customer in zip(vehicle_leads, known, strict=False):
        async with transaction() as session:
            await leads.convert_lead(
                session,
                principal=SYSTEM,
                lead_id=lead.id,
                national_id_type=customer.national_id_type,
                national_id=customer.national_id,
                given_names=customer.given_names,
                family_names=customer.family_names,
            )
    now = utcnow()
    for i, capture in enumerate(captured[:10]):
        if capture.lead is None:
            continue
        async with transaction() as session:
            follow = await tasks.create_task(
                session,
                principal=SYSTEM,
                partner_id=lender_id,
                title="Enviar cotización" if i % 2 else "Llamar para resolver dudas",
                note="Pidió comparar cuotas a 36 y 48 meses." if i % 3 == 0 else None,
                due_at=now + timedelta(hours=4 + 6 * i),
                kind="FOLLOW_UP",
                lead_id=capture.lead.id,
                opportunity_id=capture.opportunity.id if capture.opportunity else None,
            )
            if i % 4 == 0:
                await tasks.complete_task(session, principal=SYSTEM, task_id=follow.id)
    async with transaction() as session:  # Tomás goes away: the job moves his leads
        tomas = (
            await session.execute(
                sa.select(CrmAdvisor).where(CrmAdvisor.subject == "asesor.tomas")  # type: ignore[arg-type]
            )
        ).scalar_one()
        await advisors.update_advisor(
            session, principal=SYSTEM, advisor_id=tomas.id, on_shift=False
        )
    async with transaction() as session:
        await leads.reassign_from_away(session)
    log.info("seed: %d CRM leads", len(captured))
    return len(captured)

"""After the decision: inspection, offer, signing, credit, disbursement.

- An application that names a vehicle is inspected before an offer: ``book_inspection``
  (pre_approved → inspection; a local booking: slot and place) and ``record_inspection`` by
  an inspector of the lender. A failed checklist, or a valuation below the vehicle's price,
  sends it back to referred with the reason; a pass makes the offer (inspection → offered).
- An application without a vehicle (a plain amount) has nothing to inspect: the offer is made
  as soon as it is pre-approved (by scoring or by hand).
- The offer's figures come from the credits engine (``simulate_credit``: the FRENCH schedule at
  the grade's rate over the application's term, and its CAE). ``accept_offer`` (the applicant)
  moves to signing and emits ``applications.offer_accepted`` (the contract worker sends it).
- The contract worker calls :func:`get_offer`, :func:`complete_signing` (signing → approved,
  the credit registered through ``domain.credits.service.create_credit`` — one application,
  one credit — the vehicle sold), :func:`signature_declined` (→ offered, a fresh offer) and
  :func:`signature_expired` (→ expired).
- ``record_disbursement`` (the lender's staff) disburses the credit in the registry and moves
  approved → disbursed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases.sla import COUNTRY_TIMEZONES
from domain.credits import lifecycle as credit_lifecycle
from domain.credits import service as credits
from domain.credits.cae import simulate_credit
from domain.credits.calendar import DayCount
from domain.credits.schedules import ScheduleRequest, Scheme
from domain.origination import access, journal, lending, states
from domain.origination.errors import OfferExpired
from domain.origination.models import (
    ApplicationState,
    CreditApplication,
    CreditOffer,
    Inspection,
    InspectionStatus,
    OfferStatus,
)
from domain.partners.models import Partner
from domain.shared import event_schemas as wire
from domain.shared.errors import Forbidden, NotFound, Problems, ValidationFailed
from domain.shared.money import Money
from domain.shared.principal import SYSTEM, Principal, Role
from domain.shared.time import ensure_utc, local_today, utcnow

S = ApplicationState
PRODUCT_CODE = "TRANKI_AUTO"
_CAE_QUANTUM = Decimal("0.000001")
CHECKLIST_ITEMS = frozenset(
    {
        "BODY",
        "BRAKES",
        "TYRES",
        "ENGINE",
        "TRANSMISSION",
        "LIGHTS",
        "INTERIOR",
        "DOCUMENTS",
        "VIN_MATCH",
        "ODOMETER",
    }
)


# --- offers -------------------------------------------------------------------------------------
async def _lender_day(session: AsyncSession, app: CreditApplication) -> date:
    lender = await session.get(Partner, app.lender_id)
    assert lender is not None
    return local_today(COUNTRY_TIMEZONES.get(lender.country, "UTC"))


async def make_offer(
    session: AsyncSession, *, principal: Principal, app: CreditApplication
) -> CreditOffer:
    """Offer the credit: the engine's schedule and CAE for the requested principal at the
    grade's rate over the application's term (pre_approved | inspection → offered)."""
    if app.grade is None:
        raise ValidationFailed.on("grade", "the application has no grade to offer at")
    terms = await lending.grade_terms(session, lender_id=app.lender_id, grade=app.grade)
    lender = await session.get(Partner, app.lender_id)
    assert lender is not None
    settings = await lending.settings_for(session, lender)
    day = await _lender_day(session, app)
    simulation = simulate_credit(
        ScheduleRequest(
            principal=Money(app.requested_principal, app.currency),
            annual_rate=terms.annual_rate,
            term_months=app.term_months,
            disbursement_date=day,
            scheme=Scheme.FRENCH,
            day_count=DayCount.THIRTY_360,
        )
    )
    schedule = simulation.schedule
    now = utcnow()
    await session.execute(
        sa.update(CreditOffer)
        .where(
            col(CreditOffer.application_id) == app.id,
            col(CreditOffer.status) == OfferStatus.OPEN.value,
        )
        .values(status=OfferStatus.SUPERSEDED.value)
        .execution_options(synchronize_session=False)
    )
    if app.vehicle_id is not None:
        await lending.hold_vehicle(
            session, vehicle_id=app.vehicle_id, application_id=app.id, now=now
        )
    offer = CreditOffer(
        application_id=app.id,
        principal=app.requested_principal,
        currency=app.currency,
        annual_rate=terms.annual_rate,
        term_months=app.term_months,
        installment=max(r.installment.amount for r in schedule.rows),
        scheme=Scheme.FRENCH.value,
        day_count=DayCount.THIRTY_360.value,
        disbursement_date=day.isoformat(),
        total_interest=schedule.totals.interest.amount,
        total_paid=schedule.total_cost.amount,
        cae=simulation.cae.annual_rate.quantize(_CAE_QUANTUM),
        schedule=[
            {
                "number": r.number,
                "due_date": r.due_date.isoformat(),
                "installment": r.installment.amount,
                "interest": r.interest.amount,
                "principal": r.principal.amount,
                "balance": r.closing_balance.amount,
            }
            for r in schedule.rows
        ],
        grade=app.grade,
        valid_until=now + timedelta(days=settings.offer_valid_days),
        created_at=now,
    )
    session.add(offer)
    await session.flush()
    await journal.move(
        session,
        principal=principal,
        app=app,
        to=S.OFFERED,
        details={"offer_id": offer.id, "installment": offer.installment, "cae": offer.cae},
        payload={"offerId": str(offer.id)},
    )
    return offer


async def after_pre_approval(
    session: AsyncSession, *, principal: Principal, app: CreditApplication
) -> None:
    """Without a vehicle there is nothing to inspect: the offer follows the approval."""
    if app.state == S.PRE_APPROVED.value and app.vehicle_id is None:
        await make_offer(session, principal=principal, app=app)


async def current_offer(session: AsyncSession, application_id: uuid.UUID) -> CreditOffer | None:
    stmt = (
        sa.select(CreditOffer)
        .where(
            col(CreditOffer.application_id) == application_id,
            col(CreditOffer.status).in_([OfferStatus.OPEN.value, OfferStatus.ACCEPTED.value]),
        )
        .order_by(col(CreditOffer.created_at).desc(), col(CreditOffer.id).desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


async def get_offer(session: AsyncSession, *, application_id: uuid.UUID) -> CreditOffer | None:
    """The application's live offer (open or accepted), for the contract worker."""
    return await current_offer(session, application_id)


async def accept_offer(
    session: AsyncSession,
    *,
    principal: Principal,
    application_id: uuid.UUID,
    offer_id: uuid.UUID,
    expected_version: int | None = None,
) -> CreditApplication:
    """The applicant accepts the open offer: offered → signing, ``applications.offer_accepted``."""
    app = await journal.load_for_change(session, application_id)
    access.ensure_can_write(principal)
    access.ensure_visible(principal, app)
    if not (
        principal.is_admin
        or (access.is_customer(principal) and principal.customer_id == app.customer_id)
        or (principal.partner_id == app.lender_id and principal.has_role(*access.WRITER_ROLES))
    ):
        raise Forbidden("only the applicant accepts an offer")
    journal.ensure_version(app, expected_version)
    states.ensure_move(app.state, S.SIGNING.value)
    offer = await current_offer(session, app.id)
    if offer is None or offer.id != offer_id or offer.status != OfferStatus.OPEN.value:
        raise NotFound("CreditOffer", offer_id)
    now = utcnow()
    if ensure_utc(offer.valid_until) <= now:
        offer.status = OfferStatus.EXPIRED.value
        raise OfferExpired(f"the offer expired at {wire.instant(offer.valid_until)}")
    if app.vehicle_id is not None:
        await lending.hold_vehicle(
            session, vehicle_id=app.vehicle_id, application_id=app.id, now=now
        )
    offer.status = OfferStatus.ACCEPTED.value
    offer.accepted_at = now
    offer.accepted_by = principal.subject
    await journal.move(
        session,
        principal=principal,
        app=app,
        to=S.SIGNING,
        kind="offer_accepted",
        details={"offer_id": offer.id},
        payload={"offerId": str(offer.id)},
    )
    await session.flush()
    return app


async def complete_signing(
    session: AsyncSession, *, application_id: uuid.UUID, contract_id: uuid.UUID | None
) -> CreditApplication:
    """The contract is signed: signing → approved, the credit registered from the accepted
    offer (once: a second call returns the application with its credit), the vehicle sold.
    ``contract_id`` is the contract worker's record; None for a contract signed outside
    Trama (on paper at a branch)."""
    app = await journal.load_for_change(session, application_id)
    if app.credit_id is not None:
        return app
    states.ensure_move(app.state, S.APPROVED.value)
    offer = await current_offer(session, app.id)
    if offer is None or offer.status != OfferStatus.ACCEPTED.value:
        raise NotFound("CreditOffer", f"accepted offer of {app.reference}")
    lender = await session.get(Partner, app.lender_id)
    assert lender is not None
    credit = await credits.create_credit(
        session,
        principal=SYSTEM,
        customer_id=app.customer_id,
        product_code=PRODUCT_CODE,
        currency=offer.currency,
        amount=offer.principal,
        annual_rate=offer.annual_rate,
        term_months=offer.term_months,
        disbursement_date=max(
            date.fromisoformat(offer.disbursement_date), await _lender_day(session, app)
        ),
        scheme=offer.scheme,
        day_count=offer.day_count,
        vehicle_ref=app.reference
        if app.vehicle_id is None
        else f"{app.reference} {app.vehicle_id}",
        partner_id=app.lender_id,
    )
    app.credit_id = credit.id
    app.contract_id = contract_id
    if app.vehicle_id is not None:
        await lending.mark_vehicle_sold(session, vehicle_id=app.vehicle_id, application_id=app.id)
    await journal.move(
        session,
        principal=SYSTEM,
        app=app,
        to=S.APPROVED,
        details={"credit_id": credit.id, "contract_id": contract_id},
        payload={
            "creditId": wire.global_id("Credit", credit.id),
            **({"contractId": str(contract_id)} if contract_id else {}),
        },
    )
    await session.flush()
    return app


async def signature_declined(
    session: AsyncSession,
    *,
    application_id: uuid.UUID,
    contract_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> CreditApplication:
    """A signer declined: signing → offered with a fresh offer (the declined one is
    superseded). Late or repeated calls change nothing."""
    app = await journal.load_for_change(session, application_id)
    if app.state != S.SIGNING.value:
        return app
    note = " ".join((reason or "the signature was declined").split())[:2000]
    await session.execute(
        sa.update(CreditOffer)
        .where(
            col(CreditOffer.application_id) == app.id,
            col(CreditOffer.status) == OfferStatus.ACCEPTED.value,
        )
        .values(status=OfferStatus.SUPERSEDED.value)
        .execution_options(synchronize_session=False)
    )
    before = journal.snapshot(app)
    states.ensure_move(app.state, S.OFFERED.value)
    app.state = S.OFFERED.value
    await journal.record(
        session,
        principal=SYSTEM,
        app=app,
        kind="signature_declined",
        topic="applications.signature_declined",
        before=before,
        from_state=S.SIGNING.value,
        note=note,
        details={"contract_id": contract_id},
        payload={"reason": note, **({"contractId": str(contract_id)} if contract_id else {})},
    )
    # a fresh offer to accept again (same terms, a new validity), without a second move
    await _reoffer(session, app)
    await session.flush()
    return app


async def _reoffer(session: AsyncSession, app: CreditApplication) -> None:
    previous = (
        (
            await session.execute(
                sa.select(CreditOffer)
                .where(col(CreditOffer.application_id) == app.id)
                .order_by(col(CreditOffer.created_at).desc(), col(CreditOffer.id).desc())
                .limit(1)
            )
        )
        .scalars()
        .first()
    )
    if previous is None:
        return
    lender = await session.get(Partner, app.lender_id)
    assert lender is not None
    settings = await lending.settings_for(session, lender)
    now = utcnow()
    fresh = CreditOffer(
        **{
            name: getattr(previous, name)
            for name in (
                "application_id",
                "principal",
                "currency",
                "annual_rate",
                "term_months",
                "installment",
                "scheme",
                "day_count",
                "disbursement_date",
                "total_interest",
                "total_paid",
                "cae",
                "schedule",
                "grade",
            )
        },
        status=OfferStatus.OPEN.value,
        valid_until=now + timedelta(days=settings.offer_valid_days),
        created_at=now,
    )
    session.add(fresh)


async def signature_expired(
    session: AsyncSession, *, application_id: uuid.UUID, contract_id: uuid.UUID | None = None
) -> CreditApplication:
    """The signature lapsed: signing → expired (the vehicle is released). Late or repeated
    calls change nothing."""
    app = await journal.load_for_change(session, application_id)
    if app.state != S.SIGNING.value:
        return app
    await _release_vehicle(session, app)
    await session.execute(
        sa.update(CreditOffer)
        .where(
            col(CreditOffer.application_id) == app.id,
            col(CreditOffer.status) == OfferStatus.ACCEPTED.value,
        )
        .values(status=OfferStatus.EXPIRED.value)
        .execution_options(synchronize_session=False)
    )
    app.closed_reason = "the signature expired"
    await journal.move(
        session,
        principal=SYSTEM,
        app=app,
        to=S.EXPIRED,
        note=app.closed_reason,
        payload={
            "reason": app.closed_reason,
            **({"contractId": str(contract_id)} if contract_id else {}),
        },
    )
    await session.flush()
    return app


async def _release_vehicle(session: AsyncSession, app: CreditApplication) -> None:
    if app.vehicle_id is not None:
        await lending.release_vehicle(session, vehicle_id=app.vehicle_id, application_id=app.id)


async def record_disbursement(
    session: AsyncSession,
    *,
    principal: Principal,
    application_id: uuid.UUID,
    expected_version: int | None,
    disbursement_date: date | None = None,
) -> CreditApplication:
    """The lender paid out: the registry's credit is disbursed and approved → disbursed."""
    access.ensure_can_write(principal)
    app = await journal.load_for_change(session, application_id)
    access.ensure_lender_staff(principal, app, "record disbursements")
    if not (principal.is_admin or principal.has_role(*access.DECIDER_ROLES)):
        raise Forbidden("only the lender's agents and supervisors record disbursements")
    journal.ensure_version(app, expected_version)
    states.ensure_move(app.state, S.DISBURSED.value)
    assert app.credit_id is not None
    from domain.credits.models import Credit

    credit = await session.get(Credit, app.credit_id)
    assert credit is not None
    await credit_lifecycle.disburse_credit(
        session,
        principal=SYSTEM,
        credit_id=credit.id,
        expected_version=credit.version,
        disbursement_date=disbursement_date,
    )
    app.disbursed_at = utcnow()
    await journal.move(
        session,
        principal=principal,
        app=app,
        to=S.DISBURSED,
        details={"credit_id": app.credit_id},
        payload={"creditId": wire.global_id("Credit", app.credit_id)},
    )
    await session.flush()
    return app


# --- inspection ---------------------------------------------------------------------------------
async def book_inspection(
    session: AsyncSession,
    *,
    principal: Principal,
    application_id: uuid.UUID,
    expected_version: int | None,
    slot_start: datetime,
    slot_end: datetime,
    place: str,
) -> Inspection:
    """Book the vehicle's inspection (a local booking): pre_approved → inspection, or a
    new slot for one already booked."""
    app = await journal.load_for_change(session, application_id)
    access.ensure_visible(principal, app)
    if not (
        principal.is_admin
        or (access.is_customer(principal) and principal.customer_id == app.customer_id)
        or (
            principal.partner_id == app.lender_id
            and principal.has_role(*access.WRITER_ROLES, Role.INSPECTOR)
        )
    ):
        raise Forbidden("only the applicant, the lender's staff or its inspectors book inspections")
    journal.ensure_version(app, expected_version)
    p = Problems()
    if app.vehicle_id is None:
        p.add("applicationId", "the application names no vehicle to inspect")
    try:
        start, end = ensure_utc(slot_start), ensure_utc(slot_end)
    except ValueError:
        raise ValidationFailed.on("slotStart", "needs a timezone") from None
    if end <= start or end - start > timedelta(hours=8):
        p.add("slotEnd", "must be after the start, at most 8 hours later")
    if start <= utcnow():
        p.add("slotStart", "must be in the future")
    place_text = " ".join((place or "").split())
    if not 3 <= len(place_text) <= 300:
        p.add("place", "3 to 300 characters")
    p.raise_if_any()
    rebook = app.state == S.INSPECTION.value
    if not rebook:
        states.ensure_move(app.state, S.INSPECTION.value)
    await session.execute(
        sa.update(Inspection)
        .where(
            col(Inspection.application_id) == app.id,
            col(Inspection.status) == InspectionStatus.BOOKED.value,
        )
        .values(status=InspectionStatus.CANCELLED.value)
        .execution_options(synchronize_session=False)
    )
    assert app.vehicle_id is not None
    await lending.hold_vehicle(
        session, vehicle_id=app.vehicle_id, application_id=app.id, now=utcnow()
    )
    inspection = Inspection(
        application_id=app.id,
        vehicle_id=app.vehicle_id,
        slot_start=start,
        slot_end=end,
        place=place_text,
        booked_by=principal.subject,
    )
    session.add(inspection)
    await session.flush()
    details = {"inspection_id": inspection.id, "slot_start": start, "place": place_text}
    payload = {"inspectionId": str(inspection.id)}
    if rebook:
        await journal.record(
            session,
            principal=principal,
            app=app,
            kind="inspection_rebooked",
            topic="applications.inspection_booked",
            before=journal.snapshot(app),
            from_state=app.state,
            details=details,
            payload=payload,
        )
    else:
        await journal.move(
            session, principal=principal, app=app, to=S.INSPECTION, details=details, payload=payload
        )
    await session.flush()
    return inspection


async def record_inspection(
    session: AsyncSession,
    *,
    principal: Principal,
    inspection_id: uuid.UUID,
    checklist: list[dict[str, Any]],
    odometer_km: int,
    valuation: int,
    damage_notes: str | None = None,
) -> Inspection:
    """The inspector's result. Every checklist item passed and a valuation at or above the
    vehicle's price: the offer is made; otherwise back to referred with the reason."""
    from domain.shared.principal import Scope

    if not principal.has_scope(Scope.INSPECTIONS_WRITE):
        raise Forbidden("only inspectors record inspections")
    inspection = await session.get(Inspection, inspection_id)
    if inspection is None:
        raise NotFound("Inspection", inspection_id)
    app = await journal.load_for_change(session, inspection.application_id)
    if not (principal.is_admin or principal.partner_id == app.lender_id):
        raise NotFound("Inspection", inspection_id)
    if inspection.status != InspectionStatus.BOOKED.value or app.state != S.INSPECTION.value:
        raise states.InvalidTransition("Inspection", inspection.status, "recorded")
    p = Problems()
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    if not isinstance(checklist, list) or not checklist:
        p.add("checklist", "list every item checked")
    else:
        for i, raw in enumerate(checklist):
            item = str(raw.get("item", "")).upper()
            if item not in CHECKLIST_ITEMS or item in seen:
                p.add(f"checklist.{i}.item", f"one of {', '.join(sorted(CHECKLIST_ITEMS))}, once")
                continue
            seen.add(item)
            note = raw.get("note")
            if note is not None and (not isinstance(note, str) or len(note) > 500):
                p.add(f"checklist.{i}.note", "at most 500 characters")
            items.append({"item": item, "passed": bool(raw.get("passed")), "note": note})
    if (
        isinstance(odometer_km, bool)
        or not isinstance(odometer_km, int)
        or not 0 <= odometer_km <= 3_000_000
    ):
        p.add("odometerKm", "0 to 3,000,000 km")
    if isinstance(valuation, bool) or not isinstance(valuation, int) or valuation < 0:
        p.add("valuation", "a whole amount of zero or more")
    if damage_notes is not None and len(damage_notes) > 4000:
        p.add("damageNotes", "at most 4000 characters")
    p.raise_if_any()
    failed = [i["item"] for i in items if not i["passed"]]
    reasons: list[str] = []
    if failed:
        reasons.append(f"failed inspection items: {', '.join(failed)}")
    if app.vehicle_price is not None and valuation < app.vehicle_price:
        reasons.append(
            f"valuation {Money(valuation, app.currency)} is below the price "
            f"{Money(app.vehicle_price, app.currency)}"
        )
    inspection.checklist = items
    inspection.odometer_km = odometer_km
    inspection.valuation = valuation
    inspection.damage_notes = damage_notes
    inspection.inspector_subject = principal.subject
    inspection.recorded_at = utcnow()
    inspection.version += 1
    inspection.status = (InspectionStatus.FAILED if reasons else InspectionStatus.PASSED).value
    inspection.failure_reason = "; ".join(reasons) or None
    await journal.record(
        session,
        principal=principal,
        app=app,
        kind="inspection_recorded",
        topic="applications.inspection_recorded",
        before=None,
        from_state=app.state,
        details={
            "inspection_id": inspection.id,
            "status": inspection.status,
            "odometer_km": odometer_km,
            "valuation": valuation,
        },
        payload={"inspectionId": str(inspection.id)},
    )
    if reasons:
        app.referral_reason = inspection.failure_reason
        await journal.move(
            session,
            principal=principal,
            app=app,
            to=S.REFERRED,
            note=inspection.failure_reason,
            payload={"reason": inspection.failure_reason or ""},
        )
    else:
        await make_offer(session, principal=principal, app=app)
    await session.flush()
    return inspection

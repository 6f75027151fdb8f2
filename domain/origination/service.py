"""Credit applications (Tranki): start, change, attach, submit, withdraw, decide, read.

Transactions are the caller's: services flush, never commit. Every bad input is refused
with :class:`~domain.origination.errors.ApplicationInputInvalid` (coded) before anything is
written; every change goes through :mod:`domain.origination.journal` (version, timeline,
audit, outbox).

``apply_decision`` is scoring's entry point (called by the scoring worker inside its
transaction). It is idempotent: called again with the same ``decision_id`` it changes
nothing and returns the application; called with another decision for an application
already decided it raises :class:`~domain.origination.errors.AlreadyDecided` (a Conflict);
for an application withdrawn or expired meanwhile it changes nothing (there is nothing to
decide) and returns it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases.attachments import CheckedFile, FileStore
from domain.customers import scopes as customer_scopes
from domain.customers.models import Customer
from domain.origination import access, journal, lending, references, states
from domain.origination.clock import BusinessHours, ClockSweep, candidates, state_at
from domain.origination.errors import (
    AMOUNT_INVALID,
    CONSENT_MISSING,
    CUSTOMER_INVALID,
    EMPLOYMENT_INVALID,
    INCOME_NEGATIVE,
    LENDER_INVALID,
    OBLIGATIONS_INVALID,
    TERM_BEYOND_GRADE,
    TERM_INVALID,
    WRONG_CURRENCY,
    AlreadyDecided,
    CodedProblems,
    GradeTermsUnavailable,
    VehicleNotAvailable,
)
from domain.origination.models import (
    ApplicationDocument,
    ApplicationState,
    ClockState,
    CreditApplication,
    EmploymentType,
    Inspection,
)
from domain.partners.models import Partner, PartnerKind
from domain.shared import event_schemas as wire
from domain.shared.errors import Forbidden, NotFound, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import CURRENCY_EXPONENTS
from domain.shared.pagination import Page, clamp_page_size, decode_cursor, encode_cursor
from domain.shared.principal import SYSTEM, Principal, Role
from domain.shared.time import utcnow

S = ApplicationState
CONSENTS = ("bureau_check", "data_processing")
MAX_TERM_MONTHS = 120
MAX_DOCUMENTS = 30
DOCUMENT_KINDS = frozenset(
    {"ID_CARD", "PAYSLIP", "BANK_STATEMENT", "PROOF_OF_ADDRESS", "OTHER", "INSPECTION_PHOTO"}
)
#: Fields a draft may change (service name → API name).
DRAFT_FIELDS = {
    "vehicle_id": "vehicleId",
    "requested_principal": "requestedPrincipal",
    "down_payment": "downPayment",
    "term_months": "termMonths",
    "monthly_income": "monthlyIncome",
    "employment_type": "employmentType",
    "employment_months": "employmentMonths",
    "declared_obligations": "declaredObligations",
    "consents": "consents",
}


@dataclass(frozen=True, slots=True)
class ConsentInput:
    accepted: bool
    text_version: str


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fields(problems: CodedProblems, values: Mapping[str, Any]) -> None:
    if "monthly_income" in values:
        v = values["monthly_income"]
        if not _is_int(v) or v < 0:
            problems.add("monthlyIncome", "must be a whole amount of zero or more", INCOME_NEGATIVE)
    if "requested_principal" in values:
        v = values["requested_principal"]
        if not _is_int(v) or v < 0 or v >= 10**15:
            problems.add(
                "requestedPrincipal", "must be a whole amount of zero or more", AMOUNT_INVALID
            )
    if "down_payment" in values:
        v = values["down_payment"]
        if not _is_int(v) or v < 0 or v >= 10**15:
            problems.add("downPayment", "must be a whole amount of zero or more", AMOUNT_INVALID)
    if "declared_obligations" in values:
        v = values["declared_obligations"]
        if not _is_int(v) or v < 0 or v >= 10**15:
            problems.add(
                "declaredObligations", "must be a whole amount of zero or more", OBLIGATIONS_INVALID
            )
    if "term_months" in values:
        v = values["term_months"]
        if not _is_int(v) or not 1 <= v <= MAX_TERM_MONTHS:
            problems.add("termMonths", f"must be 1 to {MAX_TERM_MONTHS} months", TERM_INVALID)
    if "employment_type" in values:
        v = values["employment_type"]
        if v not in {e.value for e in EmploymentType}:
            problems.add("employmentType", "is not a known employment type", EMPLOYMENT_INVALID)
    if "employment_months" in values:
        v = values["employment_months"]
        if not _is_int(v) or not 0 <= v <= 1200:
            problems.add("employmentMonths", "must be 0 to 1200 months", EMPLOYMENT_INVALID)


def _consents(
    problems: CodedProblems, raw: Mapping[str, ConsentInput] | None, now: datetime
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, consent in (raw or {}).items():
        if name not in CONSENTS:
            problems.add(
                f"consents.{name}", "is not a consent this application asks", CONSENT_MISSING
            )
            continue
        version = (consent.text_version or "").strip()
        if not consent.accepted:
            continue
        if not version or len(version) > 40:
            problems.add(
                f"consents.{name}",
                "needs the version of the text accepted (1-40 characters)",
                CONSENT_MISSING,
            )
            continue
        out[name] = {"accepted_at": wire.instant(now), "text_version": version}
    return out


def _missing_consents(problems: CodedProblems, consents: Mapping[str, Any]) -> None:
    for name in CONSENTS:
        if name not in consents:
            problems.add(
                f"consents.{name}",
                "must be accepted before the application is submitted",
                CONSENT_MISSING,
            )


async def _lender_of(
    session: AsyncSession, lender_id: uuid.UUID | None, problems: CodedProblems
) -> Partner | None:
    lender = await session.get(Partner, lender_id) if lender_id else None
    if (
        lender is None
        or not lender.active
        or lender.kind in (PartnerKind.LOYALTY, PartnerKind.DEALER)
    ):
        problems.add("lenderId", "is not an active lender", LENDER_INVALID)
        return None
    return lender


async def _vehicle(
    session: AsyncSession, vehicle_id: uuid.UUID, currency: str, application_id: uuid.UUID | None
) -> lending.VehicleFacts:
    facts = await lending.vehicle_facts(session, vehicle_id)
    if facts.status != "available":
        raise VehicleNotAvailable(f"vehicle {vehicle_id} is {facts.status}, not available")
    if facts.currency != currency:
        raise ValidationFailed.on(
            "vehicleId",
            f"the vehicle is priced in {facts.currency}, the application is in {currency}",
        )
    return facts


# --- start and change ---------------------------------------------------------------------
async def start_application(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: uuid.UUID | None = None,
    lender_id: uuid.UUID | None = None,
    vehicle_id: uuid.UUID | None = None,
    requested_principal: int,
    down_payment: int = 0,
    currency: str,
    term_months: int,
    monthly_income: int,
    employment_type: str,
    employment_months: int = 0,
    declared_obligations: int = 0,
    consents: Mapping[str, ConsentInput] | None = None,
) -> CreditApplication:
    """A draft application. A customer starts one for themself (naming the lender); the
    lender's staff (agent, advisor, supervisor, its systems) for a customer of theirs."""
    access.ensure_can_write(principal)
    if access.is_customer(principal) and not principal.is_admin:
        if customer_id is not None and customer_id != principal.customer_id:
            raise Forbidden("a customer applies only for themself")
        customer_id = principal.customer_id
    elif principal.is_admin:
        pass
    elif principal.partner_id is not None and principal.has_role(*access.WRITER_ROLES):
        if lender_id is not None and lender_id != principal.partner_id:
            raise Forbidden("you can only start applications for your own lender")
        lender_id = principal.partner_id
    else:
        raise Forbidden("only a customer or the lender's staff can start an application")
    problems = CodedProblems()
    values: dict[str, Any] = {
        "requested_principal": requested_principal,
        "down_payment": down_payment,
        "term_months": term_months,
        "monthly_income": monthly_income,
        "employment_type": employment_type,
        "employment_months": employment_months,
        "declared_obligations": declared_obligations,
    }
    _check_fields(problems, values)
    now = utcnow()
    clean_consents = _consents(problems, consents, now)
    lender = await _lender_of(session, lender_id, problems)
    customer = await session.get(Customer, customer_id) if customer_id else None
    if customer is None:
        problems.add("customerId", "is not a customer", CUSTOMER_INVALID)
    elif not principal.is_admin and not access.is_customer(principal):
        related = await session.scalar(
            sa.select(sa.literal(True))
            .select_from(Customer)
            .where(col(Customer.id) == customer.id, customer_scopes.related_to(principal))
        )
        if not related:
            problems.add("customerId", "is not a customer of your partner", CUSTOMER_INVALID)
    settings = await lending.settings_for(session, lender) if lender else None
    if currency not in CURRENCY_EXPONENTS or (settings and currency != settings.currency):
        expected = settings.currency if settings else "a supported currency"
        problems.add(
            "currency", f"{currency!r} is not this lender's currency ({expected})", WRONG_CURRENCY
        )
    problems.raise_if_any()
    assert lender is not None and customer is not None
    facts = await _vehicle(session, vehicle_id, currency, None) if vehicle_id else None
    app = CreditApplication(
        reference=await references.next_reference(session, at=now),
        lender_id=lender.id,
        customer_id=customer.id,
        vehicle_id=vehicle_id,
        dealer_id=facts.dealer_id if facts else None,
        vehicle_price=facts.price if facts else None,
        currency=currency,
        consents=clean_consents,
        state=S.DRAFT.value,
        created_by=principal.subject,
        version=1,
        created_at=now,
        updated_at=now,
        **values,
    )
    session.add(app)
    await session.flush()
    await journal.record(
        session,
        principal=principal,
        app=app,
        kind="started",
        topic="applications.started",
        before=None,
        bump=False,
    )
    await session.flush()
    return app


def ensure_writer(principal: Principal, app: CreditApplication) -> None:
    """The applicant or the lender's writing staff."""
    access.ensure_can_write(principal)
    access.ensure_visible(principal, app)
    if principal.is_admin:
        return
    if access.is_customer(principal) and app.customer_id == principal.customer_id:
        return
    if principal.partner_id == app.lender_id and principal.has_role(*access.WRITER_ROLES):
        return
    raise Forbidden("only the applicant or the lender's staff can change this application")


async def update_draft(
    session: AsyncSession,
    *,
    principal: Principal,
    application_id: uuid.UUID,
    expected_version: int | None,
    changes: Mapping[str, Any],
) -> CreditApplication:
    """Change a draft's fields (``DRAFT_FIELDS``); consents are given again as a whole."""
    app = await journal.load_for_change(session, application_id)
    ensure_writer(principal, app)
    unknown = set(changes) - set(DRAFT_FIELDS)
    if unknown:
        raise ValidationFailed.on(sorted(unknown)[0], "cannot be changed")
    if app.state != S.DRAFT.value:
        raise states.InvalidTransition("CreditApplication", app.state, "DRAFT (edit)")
    journal.ensure_version(app, expected_version)
    problems = CodedProblems()
    _check_fields(problems, changes)
    values = dict(changes)
    if "consents" in values:
        values["consents"] = _consents(problems, values["consents"], utcnow())
    problems.raise_if_any()
    facts = None
    if values.get("vehicle_id") is not None and values["vehicle_id"] != app.vehicle_id:
        facts = await _vehicle(session, values["vehicle_id"], app.currency, app.id)
    before = journal.snapshot(app)
    changed = []
    for name, value in values.items():
        if getattr(app, name) != value:
            setattr(app, name, value)
            changed.append(name)
    if "vehicle_id" in changed:
        app.dealer_id = facts.dealer_id if facts else None
        app.vehicle_price = facts.price if facts else None
    if not changed:
        return app
    await journal.record(
        session,
        principal=principal,
        app=app,
        kind="updated",
        topic="applications.updated",
        before=before,
        details={"changed": sorted(changed)},
    )
    await session.flush()
    return app


async def attach_document(
    session: AsyncSession,
    *,
    principal: Principal,
    store: FileStore,
    application_id: uuid.UUID,
    file: CheckedFile,
    kind: str,
    inspection_id: uuid.UUID | None = None,
) -> ApplicationDocument:
    """A file checked by the cases' attachment rules (:func:`domain.cases.attachments.check_file`)
    attached to an open application; the same bytes twice are one document."""
    app = await journal.load_for_change(session, application_id)
    if kind == "INSPECTION_PHOTO":
        access.ensure_visible(principal, app)
        if not (
            principal.is_admin
            or (
                principal.has_role(Role.INSPECTOR, Role.SUPERVISOR)
                and principal.partner_id == app.lender_id
            )
        ):
            raise Forbidden("only the lender's inspectors attach inspection photos")
    else:
        ensure_writer(principal, app)
    if kind not in DOCUMENT_KINDS:
        raise ValidationFailed.on("kind", f"must be one of {', '.join(sorted(DOCUMENT_KINDS))}")
    if S(app.state) in states.FINAL or app.state == S.APPROVED.value:
        raise states.InvalidTransition("CreditApplication", app.state, "document attached")
    inspected = file.inspected
    existing = (
        (
            await session.execute(
                sa.select(ApplicationDocument).where(
                    col(ApplicationDocument.application_id) == app.id,
                    col(ApplicationDocument.sha256) == inspected.sha256,
                )
            )
        )
        .scalars()
        .first()
    )
    if existing is not None:
        return existing
    count = await session.scalar(
        sa.select(sa.func.count()).where(col(ApplicationDocument.application_id) == app.id)
    )
    if (count or 0) >= MAX_DOCUMENTS:
        raise ValidationFailed.on("file", f"an application holds at most {MAX_DOCUMENTS} files")
    doc_id = uuid7()
    doc = ApplicationDocument(
        id=doc_id,
        application_id=app.id,
        kind=kind,
        file_name=inspected.file_name,
        content_type=inspected.content_type,
        size_bytes=inspected.size_bytes,
        sha256=inspected.sha256,
        storage_key=f"applications/{app.id}/{doc_id}",
        inspection_id=inspection_id,
        uploaded_by=principal.subject,
        uploaded_at=utcnow(),
    )
    session.add(doc)
    await journal.record(
        session,
        principal=principal,
        app=app,
        kind="document_attached",
        topic="applications.document_attached",
        before=None,
        details={
            "document_id": doc.id,
            "kind": kind,
            "sha256": doc.sha256,
            "size_bytes": doc.size_bytes,
        },
        payload={"documentId": str(doc.id)},
    )
    await session.flush()
    await store.put(doc.storage_key, file.content, content_type=doc.content_type)
    return doc


# --- submit, withdraw -----------------------------------------------------------------------
async def hours_of(session: AsyncSession, app: CreditApplication) -> tuple[BusinessHours, int]:
    lender = await session.get(Partner, app.lender_id)
    assert lender is not None
    settings = await lending.settings_for(session, lender)
    hours = BusinessHours(
        lender.country, settings.business_hours_start, settings.business_hours_end
    )
    return hours, settings.decision_hours


async def submit_application(
    session: AsyncSession,
    *,
    principal: Principal,
    application_id: uuid.UUID,
    expected_version: int | None,
) -> CreditApplication:
    """Submit a complete draft: consents given, amounts fitting; the 24-hour clock starts,
    a named vehicle is reserved, ``applications.submitted`` goes to scoring."""
    app = await journal.load_for_change(session, application_id)
    ensure_writer(principal, app)
    journal.ensure_version(app, expected_version)
    states.ensure_move(app.state, S.SUBMITTED.value)
    problems = CodedProblems()
    _missing_consents(problems, app.consents or {})
    if app.requested_principal <= 0 and app.vehicle_id is None:
        problems.add("requestedPrincipal", "name a vehicle or an amount", AMOUNT_INVALID)
    if app.vehicle_price is not None and app.down_payment > app.vehicle_price:
        problems.add("downPayment", "is more than the vehicle's price", AMOUNT_INVALID)
    problems.raise_if_any()
    now = utcnow()
    hours, decision_hours = await hours_of(session, app)
    if app.vehicle_id is not None:
        facts = await _vehicle(session, app.vehicle_id, app.currency, app.id)
        app.vehicle_price = facts.price
        app.dealer_id = facts.dealer_id
        app.requested_principal = max(0, facts.price - app.down_payment)
    app.submitted_at = now
    app.due_at = hours.add(now, decision_hours)
    app.clock_state = ClockState.ON_TRACK.value
    if app.vehicle_id is not None:
        await lending.hold_vehicle(
            session, vehicle_id=app.vehicle_id, application_id=app.id, now=now
        )
    await journal.move(
        session,
        principal=principal,
        app=app,
        to=S.SUBMITTED,
        details={"due_at": app.due_at},
        payload={"dueAt": wire.instant(app.due_at)},
    )
    await session.flush()
    return app


async def _release(session: AsyncSession, app: CreditApplication) -> None:
    if app.vehicle_id is not None and S(app.state) in states.HOLDS_VEHICLE:
        await lending.release_vehicle(session, vehicle_id=app.vehicle_id, application_id=app.id)


async def withdraw_application(
    session: AsyncSession,
    *,
    principal: Principal,
    application_id: uuid.UUID,
    expected_version: int | None,
    reason: str | None = None,
) -> CreditApplication:
    app = await journal.load_for_change(session, application_id)
    ensure_writer(principal, app)
    journal.ensure_version(app, expected_version)
    states.ensure_move(app.state, S.WITHDRAWN.value)
    note = _reason(reason, required=False)
    await _release(session, app)
    app.closed_reason = note
    await journal.move(
        session,
        principal=principal,
        app=app,
        to=S.WITHDRAWN,
        note=note,
        payload={"reason": note} if note else None,
    )
    await session.flush()
    return app


def _reason(reason: str | None, *, required: bool) -> str | None:
    text = " ".join((reason or "").split())
    if not text:
        if required:
            raise ValidationFailed.on("reason", "is required")
        return None
    if len(text) > 2000:
        raise ValidationFailed.on("reason", "at most 2000 characters")
    return text


# --- decisions --------------------------------------------------------------------------------
OUTCOMES = {"approve": S.PRE_APPROVED, "refer": S.REFERRED, "reject": S.REJECTED}


def _decided(app: CreditApplication, now: datetime) -> None:
    if app.decided_at is None:
        app.decided_at = now


async def apply_decision(
    session: AsyncSession,
    *,
    application_id: uuid.UUID,
    decision_id: uuid.UUID,
    outcome: str,
    grade: str | None,
    reasons: list[str],
) -> CreditApplication:
    """Scoring's decision: submitted → scored → pre_approved | referred | rejected.

    An approval whose requested term is beyond the grade's maximum term is referred
    (``TERM_BEYOND_GRADE``), never approved silently. Idempotent (see the module)."""
    if outcome not in OUTCOMES:
        raise ValidationFailed.on("outcome", "must be approve, refer or reject")
    if (
        not isinstance(reasons, list)
        or len(reasons) > 10
        or any(not isinstance(r, str) or len(r) > 200 for r in reasons)
    ):
        raise ValidationFailed.on("reasons", "at most 10 reason codes of up to 200 characters")
    app = await journal.load_for_change(session, application_id)
    if app.decision_id == decision_id:
        return app
    if app.state in (S.WITHDRAWN.value, S.EXPIRED.value):
        return app
    if app.decision_id is not None or app.state != S.SUBMITTED.value:
        raise AlreadyDecided(f"application {app.reference} is {app.state}; it was decided already")
    now = utcnow()
    reasons = list(reasons)
    target = OUTCOMES[outcome]
    if target is S.PRE_APPROVED:
        if grade is None:
            raise ValidationFailed.on("grade", "an approval needs a grade")
        try:
            terms = await lending.grade_terms(session, lender_id=app.lender_id, grade=grade)
        except GradeTermsUnavailable:
            terms = None
        if terms is None:
            target = S.REFERRED
            reasons.append("GRADE_TERMS_UNAVAILABLE")
        elif app.term_months > terms.max_term_months:
            target = S.REFERRED
            reasons.append(TERM_BEYOND_GRADE)
    app.decision_id = decision_id
    app.grade = grade
    app.decision_reasons = reasons
    await journal.move(
        session,
        principal=SYSTEM,
        app=app,
        to=S.SCORED,
        details={"decision_id": decision_id, "outcome": outcome, "grade": grade},
        payload={
            "decisionId": str(decision_id),
            "outcome": outcome,
            "grade": grade,
            "reasons": reasons,
        },
    )
    app.decision_outcome = outcome if target is OUTCOMES[outcome] else "refer"
    _decided(app, now)
    app.clock_state = None if app.breached_at is None else app.clock_state
    if target is S.REJECTED:
        await _release(session, app)
    await journal.move(
        session,
        principal=SYSTEM,
        app=app,
        to=target,
        details={"grade": grade, "reasons": reasons},
        payload={"grade": grade, "reasons": reasons, "outcome": app.decision_outcome},
    )
    await after_pre_approval(session, principal=SYSTEM, app=app)
    await session.flush()
    return app


async def decide_referred(
    session: AsyncSession,
    *,
    principal: Principal,
    application_id: uuid.UUID,
    expected_version: int | None,
    approve: bool,
    reason: str,
    grade: str | None = None,
) -> CreditApplication:
    """A person decides a referred application (``applications:write``, the lender's
    agents and supervisors): approve (with the grade, the decision's when not given) or
    reject, always with a reason."""
    access.ensure_can_write(principal)
    app = await journal.load_for_change(session, application_id)
    access.ensure_lender_staff(principal, app, "decide applications")
    if not (principal.is_admin or principal.has_role(*access.DECIDER_ROLES)):
        raise Forbidden("only the lender's agents and supervisors decide applications")
    journal.ensure_version(app, expected_version)
    note = _reason(reason, required=True)
    target = S.PRE_APPROVED if approve else S.REJECTED
    states.ensure_move(app.state, target.value)
    if app.state != S.REFERRED.value:
        raise states.InvalidTransition("CreditApplication", app.state, target.value)
    chosen = grade or app.grade
    if approve:
        if chosen is None:
            raise ValidationFailed.on("grade", "give the grade to approve with")
        terms = await lending.grade_terms(session, lender_id=app.lender_id, grade=chosen)
        if app.term_months > terms.max_term_months:
            problems = CodedProblems()
            problems.add(
                "termMonths",
                f"grade {chosen} lends at most {terms.max_term_months} months",
                TERM_BEYOND_GRADE,
            )
            problems.raise_if_any()
        app.grade = chosen
        app.decision_outcome = "approve"
    else:
        app.decision_outcome = "reject"
        await _release(session, app)
    app.decided_by = principal.subject
    app.decision_note = note
    _decided(app, utcnow())
    await journal.move(
        session,
        principal=principal,
        app=app,
        to=target,
        kind="decided_by_hand",
        note=note,
        details={"approve": approve, "grade": app.grade},
        payload={"reason": note, "grade": app.grade, "outcome": app.decision_outcome},
    )
    await after_pre_approval(session, principal=principal, app=app)
    await session.flush()
    return app


# --- the 24-hour clock ------------------------------------------------------------------------
async def sweep_clock(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 500
) -> ClockSweep:
    """Flag undecided applications at risk or breached, once per flag, with
    ``applications.escalated`` (the ``origination.sweep_clock`` job)."""
    now = now or utcnow()
    sweep = ClockSweep()
    cache: dict[uuid.UUID, BusinessHours] = {}
    for app in await candidates(session, now=now, limit=limit):
        if app.lender_id not in cache:
            cache[app.lender_id] = (await hours_of(session, app))[0]
        assert app.submitted_at is not None and app.due_at is not None
        flag = state_at(
            now, hours=cache[app.lender_id], submitted_at=app.submitted_at, due_at=app.due_at
        )
        if flag is ClockState.ON_TRACK:
            continue
        if flag is ClockState.AT_RISK and app.at_risk_at is not None:
            continue
        before = journal.snapshot(app)
        app.clock_state = flag.value
        if flag is ClockState.BREACHED:
            app.breached_at = now
            app.at_risk_at = app.at_risk_at or now
            sweep.breached.append(app.reference)
        else:
            app.at_risk_at = now
            sweep.at_risk.append(app.reference)
        app.escalated_at = now
        await journal.record(
            session,
            principal=SYSTEM,
            app=app,
            kind=f"clock_{flag.value.lower()}",
            topic="applications.escalated",
            before=before,
            public=False,
            details={"clock_state": flag.value, "due_at": app.due_at},
            payload={"clockState": flag.value, "dueAt": wire.instant(app.due_at)},
        )
    await session.flush()
    return sweep


def clock_flags(
    app: CreditApplication, now: datetime, hours: BusinessHours | None = None
) -> tuple[bool, bool]:
    """(at_risk, breached) for the API: stored flags, or the due time passed without a
    decision even before the sweep ran."""
    undecided = S(app.state) in states.AWAITING_DECISION
    breached = app.breached_at is not None or (
        undecided and app.due_at is not None and now >= app.due_at
    )
    at_risk = breached or app.at_risk_at is not None
    return at_risk, breached


def time_to_decision(app: CreditApplication) -> timedelta | None:
    if app.submitted_at is None or app.decided_at is None:
        return None
    return app.decided_at - app.submitted_at


# --- reads -------------------------------------------------------------------------------------
async def get_application(
    session: AsyncSession, *, principal: Principal, application_id: uuid.UUID
) -> CreditApplication:
    access.ensure_can_read(principal)
    app = (
        (
            await session.execute(
                sa.select(CreditApplication).where(
                    col(CreditApplication.id) == application_id, access.visible_to(principal)
                )
            )
        )
        .scalars()
        .first()
    )
    if app is None:
        raise NotFound("CreditApplication", application_id)
    return app


async def get_many(
    session: AsyncSession, *, principal: Principal, ids: list[uuid.UUID]
) -> dict[uuid.UUID, CreditApplication]:
    rows = (
        (
            await session.execute(
                sa.select(CreditApplication).where(
                    col(CreditApplication.id).in_(ids), access.visible_to(principal)
                )
            )
        )
        .scalars()
        .all()
    )
    return {r.id: r for r in rows}


@dataclass(frozen=True, slots=True)
class ApplicationFilter:
    states: tuple[str, ...] = ()
    lender_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    vehicle_id: uuid.UUID | None = None
    at_risk: bool | None = None
    breached: bool | None = None


_CURSOR = "apps"


async def list_applications(
    session: AsyncSession,
    *,
    principal: Principal,
    filter: ApplicationFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[CreditApplication]:
    """Visible applications, newest first (keyset on ``(created_at, id)``)."""
    access.ensure_can_read(principal)
    size = clamp_page_size(first, default=20, maximum=100)
    f = filter or ApplicationFilter()
    conditions: list[sa.ColumnElement[bool]] = [access.visible_to(principal)]
    if f.states:
        bad = [s for s in f.states if s not in {x.value for x in S}]
        if bad:
            raise ValidationFailed.on("filter.states", f"unknown state {bad[0]}")
        conditions.append(col(CreditApplication.state).in_(list(f.states)))
    if f.lender_id:
        conditions.append(col(CreditApplication.lender_id) == f.lender_id)
    if f.customer_id:
        conditions.append(col(CreditApplication.customer_id) == f.customer_id)
    if f.vehicle_id:
        conditions.append(col(CreditApplication.vehicle_id) == f.vehicle_id)
    if f.breached is not None:
        c = col(CreditApplication.breached_at).is_not(None)
        conditions.append(c if f.breached else sa.not_(c))
    if f.at_risk is not None:
        c = col(CreditApplication.at_risk_at).is_not(None)
        conditions.append(c if f.at_risk else sa.not_(c))
    if after is not None:
        created, ident = decode_cursor(after, _CURSOR, 2)
        try:
            at = datetime.fromisoformat(str(created))
            key = uuid.UUID(str(ident))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        table = table_of(CreditApplication)
        conditions.append(
            sa.tuple_(table.c.created_at, table.c.id)
            < sa.tuple_(sa.literal(at, table.c.created_at.type), sa.literal(key, table.c.id.type))
        )
    stmt = (
        sa.select(CreditApplication)
        .where(*conditions)
        .order_by(col(CreditApplication.created_at).desc(), col(CreditApplication.id).desc())
        .limit(size + 1)
    )
    rows = list((await session.execute(stmt)).scalars().all()) if size else []
    has_next = len(rows) > size
    rows = rows[:size]
    cursors = [encode_cursor(_CURSOR, wire.instant(r.created_at), str(r.id)) for r in rows]
    return Page(items=rows, cursors=cursors, has_next=has_next, has_previous=after is not None)


async def my_applications(
    session: AsyncSession,
    *,
    principal: Principal,
    first: int | None = None,
    after: str | None = None,
) -> Page[CreditApplication]:
    if not access.is_customer(principal):
        raise Forbidden(
            "only a customer has applications of their own; staff use creditApplications"
        )
    return await list_applications(
        session,
        principal=principal,
        filter=ApplicationFilter(customer_id=principal.customer_id),
        first=first,
        after=after,
    )


async def timeline(
    session: AsyncSession, *, principal: Principal, application_id: uuid.UUID
) -> list[Any]:
    from domain.origination.models import ApplicationEvent

    app = await get_application(session, principal=principal, application_id=application_id)
    conditions = [col(ApplicationEvent.application_id) == app.id]
    if not (principal.is_admin or access.is_staff(principal)):
        conditions.append(col(ApplicationEvent.public).is_(True))
    rows = (
        (
            await session.execute(
                sa.select(ApplicationEvent).where(*conditions).order_by(col(ApplicationEvent.seq))
            )
        )
        .scalars()
        .all()
    )
    return list(rows)


async def documents(
    session: AsyncSession, *, principal: Principal, application_id: uuid.UUID
) -> list[ApplicationDocument]:
    app = await get_application(session, principal=principal, application_id=application_id)
    if not access.financial_visible(principal, app) and not principal.has_role(Role.INSPECTOR):
        return []
    rows = (
        (
            await session.execute(
                sa.select(ApplicationDocument)
                .where(col(ApplicationDocument.application_id) == app.id)
                .order_by(col(ApplicationDocument.uploaded_at), col(ApplicationDocument.id))
            )
        )
        .scalars()
        .all()
    )
    return list(rows)


# --- after the decision (``lifecycle``), exported here for the other helpers -------------------
from domain.origination.lifecycle import (  # noqa: E402
    accept_offer,
    after_pre_approval,
    book_inspection,
    complete_signing,
    get_offer,
    record_disbursement,
    record_inspection,
    signature_declined,
    signature_expired,
)

__all__ = [
    "accept_offer",
    "after_pre_approval",
    "apply_decision",
    "book_inspection",
    "complete_signing",
    "decide_referred",
    "get_offer",
    "record_disbursement",
    "record_inspection",
    "signature_declined",
    "signature_expired",
    "start_application",
    "submit_application",
    "update_draft",
    "withdraw_application",
]


async def inspections_of(
    session: AsyncSession, *, principal: Principal, application_id: uuid.UUID
) -> list[Inspection]:
    """An application's inspections, oldest first (whoever may see the application)."""
    app = await get_application(session, principal=principal, application_id=application_id)
    rows = await session.execute(
        sa.select(Inspection)
        .where(col(Inspection.application_id) == app.id)
        .order_by(col(Inspection.created_at), col(Inspection.id))
    )
    return list(rows.scalars().all())

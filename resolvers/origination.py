"""Origination: one function per root field. Reads check the permission in the domain
(scopes as SQL); mutations run in one transaction through ``mutate`` and answer expected
refusals as typed errors, nothing written."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.db import read_session
from domain.origination import access, prequalification
from domain.origination import service as origination
from domain.origination.errors import AMOUNT_INVALID, WRONG_CURRENCY, CodedProblems
from domain.shared.errors import ValidationFailed
from domain.shared.money import Money as DomainMoney
from domain.shared.money import MoneyError
from resolvers.context import principal_of
from resolvers.errors import mutate
from resolvers.ids import decode_node_id, require_node_id
from resolvers.pagination import to_connection
from resolvers.ratelimit import throttle
from schema.money import MoneyInput
from schema.origination import (
    AcceptCreditOfferInput,
    BookInspectionInput,
    BookInspectionPayload,
    BookInspectionSuccess,
    ConsentInput,
    CreditApplication,
    CreditApplicationConnection,
    CreditApplicationFilter,
    CreditApplicationPayload,
    CreditApplicationSuccess,
    CreditApplicationVersionInput,
    DecideCreditApplicationInput,
    Prequalification,
    RecordDisbursementInput,
    RecordInspectionInput,
    StartCreditApplicationInput,
    UpdateCreditApplicationInput,
    VehicleInspection,
)


def _minor(
    problems: CodedProblems, field: str, value: MoneyInput | None, currency: str
) -> int | None:
    if value is None:
        return None
    if value.currency != currency:
        problems.add(
            field, f"is in {value.currency}, the application is in {currency}", WRONG_CURRENCY
        )
        return None
    try:
        return DomainMoney.parse(value.amount, currency).amount
    except (MoneyError, ValueError) as exc:
        problems.add(field, str(exc), AMOUNT_INVALID)
        return None


def _consents(items: list[ConsentInput] | None) -> dict[str, origination.ConsentInput]:
    return {
        c.kind: origination.ConsentInput(accepted=c.accepted, text_version=c.text_version)
        for c in items or []
    }


def _success(info: Info, app: Any) -> CreditApplicationSuccess:
    return CreditApplicationSuccess(
        application=CreditApplication.from_model(app, principal_of(info))
    )


async def _run(payload: Any, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    return await mutate(payload, work)


# --- queries -----------------------------------------------------------------------------------
async def credit_application(info: Info, id: strawberry.ID) -> CreditApplication | None:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    key = decode_node_id(id, "CreditApplication")
    if key is None:
        return None
    async with read_session() as session:
        found = await origination.get_many(session, principal=principal, ids=[key])
    return CreditApplication.from_model(found[key], principal) if key in found else None


async def credit_applications(
    info: Info,
    filter: CreditApplicationFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> CreditApplicationConnection:
    principal = principal_of(info)
    f = filter or CreditApplicationFilter()
    domain_filter = origination.ApplicationFilter(
        states=tuple(s.value for s in f.states or []),
        lender_id=require_node_id(f.lender_id, "Partner", "filter.lenderId")
        if f.lender_id
        else None,
        customer_id=require_node_id(f.customer_id, "Customer", "filter.customerId")
        if f.customer_id
        else None,
        vehicle_id=_uuid(f.vehicle_id, "filter.vehicleId"),
        at_risk=f.at_risk,
        breached=f.breached,
    )
    async with read_session() as session:
        page = await origination.list_applications(
            session, principal=principal, filter=domain_filter, first=first, after=after
        )
    return to_connection(page, lambda m: CreditApplication.from_model(m, principal))


async def my_credit_applications(
    info: Info, first: int | None = None, after: str | None = None
) -> CreditApplicationConnection:
    principal = principal_of(info)
    async with read_session() as session:
        page = await origination.my_applications(
            session, principal=principal, first=first, after=after
        )
    return to_connection(page, lambda m: CreditApplication.from_model(m, principal))


def _uuid(value: object, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed.on(field, "is not a vehicle id") from None


async def prequalification_query(
    info: Info,
    lender_id: strawberry.ID,
    monthly_income: MoneyInput,
    declared_obligations: MoneyInput | None = None,
    down_payment: MoneyInput | None = None,
    customer_id: strawberry.ID | None = None,
) -> Prequalification:
    """Anonymous callers (and anyone without a customer) get an estimate, rate-limited;
    a customer (or the lender's staff naming one) gets an exact, stored one."""
    lender = require_node_id(lender_id, "Partner", "lenderId")
    currency = monthly_income.currency
    problems = CodedProblems()
    income = _minor(problems, "monthlyIncome", monthly_income, currency)
    obligations = _minor(problems, "declaredObligations", declared_obligations, currency) or 0
    down = _minor(problems, "downPayment", down_payment, currency) or 0
    problems.raise_if_any()
    assert income is not None
    principal = info.context.principal
    customer = None
    if principal is not None and access.is_customer(principal):
        customer = principal.customer_id
    elif principal is not None and customer_id is not None:
        customer = require_node_id(customer_id, "Customer", "customerId")
    if customer is None:
        await throttle(info)
        async with read_session() as session:
            estimate = await prequalification.estimate(
                session,
                lender_id=lender,
                currency=currency,
                monthly_income=income,
                declared_obligations=obligations,
                down_payment=down,
            )
        return Prequalification.from_domain(estimate)
    assert principal is not None

    async def work(session: AsyncSession) -> Prequalification:
        exact = await prequalification.prequalify(
            session,
            principal=principal,
            customer_id=customer,
            lender_id=lender,
            monthly_income=income,
            declared_obligations=obligations,
            down_payment=down,
            currency=currency,
        )
        return Prequalification.from_domain(exact)

    from app.db import transaction

    async with transaction() as session:
        return await work(session)


# --- mutations ---------------------------------------------------------------------------------
async def start_credit_application(
    info: Info, input: StartCreditApplicationInput
) -> CreditApplicationPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CreditApplicationSuccess:
        problems = CodedProblems()
        c = input.currency
        principal_amount = _minor(problems, "requestedPrincipal", input.requested_principal, c)
        down = _minor(problems, "downPayment", input.down_payment, c)
        income = _minor(problems, "monthlyIncome", input.monthly_income, c)
        obligations = _minor(problems, "declaredObligations", input.declared_obligations, c)
        problems.raise_if_any()
        app = await origination.start_application(
            session,
            principal=principal,
            customer_id=require_node_id(input.customer_id, "Customer", "customerId")
            if input.customer_id
            else None,
            lender_id=require_node_id(input.lender_id, "Partner", "lenderId")
            if input.lender_id
            else None,
            vehicle_id=_uuid(input.vehicle_id, "vehicleId"),
            requested_principal=principal_amount or 0,
            down_payment=down or 0,
            currency=c,
            term_months=input.term_months,
            monthly_income=income if income is not None else 0,
            employment_type=input.employment_type.value,
            employment_months=input.employment_months,
            declared_obligations=obligations or 0,
            consents=_consents(input.consents),
        )
        return _success(info, app)

    return await _run(CreditApplicationPayload, work)


async def update_credit_application(
    info: Info, input: UpdateCreditApplicationInput
) -> CreditApplicationPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CreditApplicationSuccess:
        key = require_node_id(input.application_id, "CreditApplication", "applicationId")
        current = await origination.get_application(
            session, principal=principal, application_id=key
        )
        c = current.currency
        problems = CodedProblems()
        changes: dict[str, Any] = {}
        for field, api in (
            ("requested_principal", "requestedPrincipal"),
            ("down_payment", "downPayment"),
            ("monthly_income", "monthlyIncome"),
            ("declared_obligations", "declaredObligations"),
        ):
            value = getattr(input, field)
            if value is not strawberry.UNSET and value is not None:
                changes[field] = _minor(problems, api, value, c)
        if input.vehicle_id is not strawberry.UNSET:
            changes["vehicle_id"] = _uuid(input.vehicle_id, "vehicleId")
        for field in ("term_months", "employment_months"):
            value = getattr(input, field)
            if value is not strawberry.UNSET and value is not None:
                changes[field] = value
        if input.employment_type is not strawberry.UNSET and input.employment_type is not None:
            changes["employment_type"] = input.employment_type.value
        if input.consents is not strawberry.UNSET and input.consents is not None:
            changes["consents"] = _consents(input.consents)
        problems.raise_if_any()
        app = await origination.update_draft(
            session,
            principal=principal,
            application_id=key,
            expected_version=input.version,
            changes=changes,
        )
        return _success(info, app)

    return await _run(CreditApplicationPayload, work)


async def submit_credit_application(
    info: Info, input: CreditApplicationVersionInput
) -> CreditApplicationPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CreditApplicationSuccess:
        app = await origination.submit_application(
            session,
            principal=principal,
            application_id=require_node_id(
                input.application_id, "CreditApplication", "applicationId"
            ),
            expected_version=input.version,
        )
        return _success(info, app)

    return await _run(CreditApplicationPayload, work)


async def withdraw_credit_application(
    info: Info, input: CreditApplicationVersionInput
) -> CreditApplicationPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CreditApplicationSuccess:
        app = await origination.withdraw_application(
            session,
            principal=principal,
            application_id=require_node_id(
                input.application_id, "CreditApplication", "applicationId"
            ),
            expected_version=input.version,
            reason=input.reason,
        )
        return _success(info, app)

    return await _run(CreditApplicationPayload, work)


async def decide_credit_application(
    info: Info, input: DecideCreditApplicationInput
) -> CreditApplicationPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CreditApplicationSuccess:
        app = await origination.decide_referred(
            session,
            principal=principal,
            application_id=require_node_id(
                input.application_id, "CreditApplication", "applicationId"
            ),
            expected_version=input.version,
            approve=input.approve,
            reason=input.reason,
            grade=input.grade,
        )
        return _success(info, app)

    return await _run(CreditApplicationPayload, work)


async def accept_credit_offer(
    info: Info, input: AcceptCreditOfferInput
) -> CreditApplicationPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CreditApplicationSuccess:
        app = await origination.accept_offer(
            session,
            principal=principal,
            application_id=require_node_id(
                input.application_id, "CreditApplication", "applicationId"
            ),
            offer_id=_uuid(input.offer_id, "offerId") or uuid.UUID(int=0),
            expected_version=input.version,
        )
        return _success(info, app)

    return await _run(CreditApplicationPayload, work)


async def book_inspection(info: Info, input: BookInspectionInput) -> BookInspectionPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> BookInspectionSuccess:
        key = require_node_id(input.application_id, "CreditApplication", "applicationId")
        inspection = await origination.book_inspection(
            session,
            principal=principal,
            application_id=key,
            expected_version=input.version,
            slot_start=input.slot_start,
            slot_end=input.slot_end,
            place=input.place,
        )
        app = await origination.get_application(session, principal=principal, application_id=key)
        return BookInspectionSuccess(
            application=CreditApplication.from_model(app, principal),
            inspection=VehicleInspection.from_model(inspection, app.currency),
        )

    return await _run(BookInspectionPayload, work)


async def record_inspection(info: Info, input: RecordInspectionInput) -> BookInspectionPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> BookInspectionSuccess:
        inspection_id = _uuid(input.inspection_id, "inspectionId") or uuid.UUID(int=0)
        from domain.origination.models import Inspection

        found = await session.get(Inspection, inspection_id)
        currency = "CLP"
        if found is not None:
            from domain.origination.models import CreditApplication as Model

            owner = await session.get(Model, found.application_id)
            currency = owner.currency if owner else currency
        problems = CodedProblems()
        valuation = _minor(problems, "valuation", input.valuation, currency)
        problems.raise_if_any()
        inspection = await origination.record_inspection(
            session,
            principal=principal,
            inspection_id=inspection_id,
            checklist=[
                {"item": i.item, "passed": i.passed, "note": i.note} for i in input.checklist
            ],
            odometer_km=input.odometer_km,
            valuation=valuation if valuation is not None else -1,
            damage_notes=input.damage_notes,
        )
        from domain.origination.models import CreditApplication as Model

        app = await session.get(Model, inspection.application_id)
        assert app is not None
        return BookInspectionSuccess(
            application=CreditApplication.from_model(app, principal),
            inspection=VehicleInspection.from_model(inspection, app.currency),
        )

    return await _run(BookInspectionPayload, work)


async def record_disbursement(
    info: Info, input: RecordDisbursementInput
) -> CreditApplicationPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CreditApplicationSuccess:
        day = None
        if input.disbursement_date is not None:
            try:
                day = date.fromisoformat(input.disbursement_date)
            except ValueError:
                raise ValidationFailed.on("disbursementDate", "YYYY-MM-DD") from None
        app = await origination.record_disbursement(
            session,
            principal=principal,
            application_id=require_node_id(
                input.application_id, "CreditApplication", "applicationId"
            ),
            expected_version=input.version,
            disbursement_date=day,
        )
        return _success(info, app)

    return await _run(CreditApplicationPayload, work)

"""Origination's events (``applications.*``): topics, keys and payload schemas.

Every event goes to the lender (and, for an application that names a vehicle, to the
vehicle's dealer). No personal or financial data: the application, the customer and the
lender by global id, the vehicle by its plain id, states, and — for decisions — the grade
and the customer-safe reason codes. The key is the application's global id, so one
application's events keep their order for a consumer.

``applications.submitted`` is consumed by the scoring worker; ``applications.offer_accepted``
by the contract worker (DocuSeal); ``applications.approved`` / ``applications.disbursed`` by
the CRM.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.origination.models import ApplicationState, CreditApplication
from domain.shared import event_schemas as wire
from domain.shared import outbox
from domain.shared.event_schemas import (
    EventSpec,
    Schema,
    array,
    enum,
    integer,
    nullable,
    obj,
    ref,
    string,
)

_AUDIENCE = "The lender; the vehicle's dealer too when the application names a vehicle."
_KEY = "The application's global id."

_BASE: dict[str, Schema] = {
    "applicationId": ref("CreditApplicationId"),
    "reference": string("AP-<year>-<number>", pattern=r"^AP-[0-9]{4}-[0-9]{6,}$"),
    "customerId": ref("CustomerId"),
    "lenderId": ref("PartnerId"),
    "vehicleId": nullable(ref("Uuid")),
    "state": enum(ApplicationState),
    "fromState": nullable(enum(ApplicationState)),
    "version": integer(minimum=1),
    "occurredAt": ref("DateTime"),
}
_OPTIONAL: dict[str, Schema] = {
    "grade": nullable(string()),
    "outcome": enum(["approve", "refer", "reject"]),
    "decisionId": nullable(ref("Uuid")),
    "reasons": array(string(), "Customer-safe reason codes."),
    "reason": string("Why (a person's note, an inspection's failure)."),
    "dueAt": ref("DateTime"),
    "clockState": enum(["AT_RISK", "BREACHED"]),
    "creditId": ref("CreditId"),
    "contractId": ref("Uuid"),
    "offerId": ref("Uuid"),
    "inspectionId": ref("Uuid"),
    "documentId": ref("Uuid"),
}

_SUMMARIES = {
    "applications.started": "An application was started (a draft).",
    "applications.updated": "A draft application was changed (read it for the new values).",
    "applications.document_attached": "A document was attached to an application.",
    "applications.submitted": "An application was submitted: its 24-hour clock started "
    "(scoring reacts).",
    "applications.scored": "Scoring finished for an application.",
    "applications.pre_approved": "An application was pre-approved (by scoring or by hand).",
    "applications.referred": "An application was referred to a person (by scoring, a bureau "
    "that was down, a failed inspection, a valuation below the price).",
    "applications.rejected": "An application was rejected.",
    "applications.inspection_booked": "A vehicle inspection was booked for an application.",
    "applications.inspection_recorded": "An inspection's result was recorded.",
    "applications.offered": "An offer was made to an application.",
    "applications.offer_accepted": "The customer accepted the offer: the contract is sent "
    "for signature.",
    "applications.signature_declined": "The signature was declined: back to offered.",
    "applications.approved": "The contract was signed and the credit registered.",
    "applications.disbursed": "The credit of an application was disbursed.",
    "applications.withdrawn": "The customer withdrew an application.",
    "applications.expired": "An application expired (a signature or offer that lapsed).",
    "applications.escalated": "An application's 24-hour promise is at risk or breached "
    "(once per application and flag).",
}

EVENTS = tuple(
    EventSpec(
        topic=topic,
        summary=summary,
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj("The application and its state.", _BASE, optional=_OPTIONAL),
    )
    for topic, summary in _SUMMARIES.items()
)

#: The topic each state change is announced with.
TOPIC_OF_STATE: dict[ApplicationState, str] = {
    ApplicationState.SUBMITTED: "applications.submitted",
    ApplicationState.SCORED: "applications.scored",
    ApplicationState.PRE_APPROVED: "applications.pre_approved",
    ApplicationState.REFERRED: "applications.referred",
    ApplicationState.REJECTED: "applications.rejected",
    ApplicationState.INSPECTION: "applications.inspection_booked",
    ApplicationState.OFFERED: "applications.offered",
    ApplicationState.SIGNING: "applications.offer_accepted",
    ApplicationState.APPROVED: "applications.approved",
    ApplicationState.DISBURSED: "applications.disbursed",
    ApplicationState.WITHDRAWN: "applications.withdrawn",
    ApplicationState.EXPIRED: "applications.expired",
}


def application_key(application: CreditApplication) -> str:
    return wire.global_id("CreditApplication", application.id)


def emit(
    session: AsyncSession,
    topic: str,
    application: CreditApplication,
    *,
    from_state: str | None = None,
    **extra: Any,
) -> None:
    """Add an ``applications.*`` event for ``application`` (its current state)."""
    body: dict[str, Any] = {
        "applicationId": wire.global_id("CreditApplication", application.id),
        "reference": application.reference,
        "customerId": wire.global_id("Customer", application.customer_id),
        "lenderId": wire.global_id("Partner", application.lender_id),
        "vehicleId": str(application.vehicle_id) if application.vehicle_id else None,
        "state": application.state,
        "fromState": from_state,
        "version": application.version,
        "occurredAt": wire.instant(application.updated_at),
    }
    body.update(extra)
    audience = [application.lender_id]
    if application.dealer_id is not None:
        audience.append(application.dealer_id)
    outbox.add(session, topic, body, partner_ids=audience, key=application_key(application))

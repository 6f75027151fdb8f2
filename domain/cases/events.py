"""The cases' events: topics, keys and payload schemas (see domain/shared/event_schemas.py).

Every event about one case carries :data:`CASE_FIELDS` (:func:`domain.cases.journal.
event_payload` plus the timeline ``seq``) and the topic's own fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.cases.models import (
    BulkStatus,
    Channel,
    Priority,
    ResolutionCode,
    ReviewReason,
    ReviewStatus,
    SlaState,
    Visibility,
)
from domain.cases.states import CaseStatus
from domain.shared.event_schemas import (
    EventSpec,
    Schema,
    api_fields,
    array,
    boolean,
    enum,
    integer,
    nullable,
    obj,
    ref,
    string,
)

#: Case attributes as the API names the field they belong to (``changed`` lists these).
CHANGED_FIELDS: dict[str, str] = {
    "reference": "reference",
    "customer_id": "customer",
    "card_last4": "cardLast4",
    "card_token": "cardLast4",
    "typology_code": "typologyCode",
    "originating_partner_id": "originatingPartner",
    "handling_partner_id": "handlingPartner",
    "pending_derivation_to": "pendingDerivation",
    "pending_derivation_reason": "pendingDerivation",
    "channel": "channel",
    "priority": "priority",
    "status": "status",
    "description": "description",
    "amount_in_dispute_minor": "amountInDispute",
    "amount_in_dispute_currency": "amountInDispute",
    "sla_due_at": "slaDueAt",
    "sla_state": "slaState",
    "escalated_to": "escalated",
    "resolution_code": "resolution",
    "resolution_note": "resolution",
    "resolution_refund_minor": "resolution",
    "resolution_refund_currency": "resolution",
    "resolved_at": "resolvedAt",
    "closed_at": "closedAt",
}

#: How a connector changed (``partners.connector_changed``).
CONNECTOR_CHANGES = ("CREATED", "ENABLED", "DISABLED", "UPDATED")
#: Where a status change came from when not from a person's mutation.
PARTNER_REPORT = "PARTNER_REPORT"


def changed_fields(names: Iterable[str]) -> list[str]:
    """The API fields behind changed attributes: names only, never their values."""
    return api_fields(names, CHANGED_FIELDS)


_STATUS = enum(CaseStatus, "The case's canonical status.")
_PARTNER_CODE = string("The partner platform's own status code (its homologation).")

CASE_FIELDS: dict[str, Schema] = {
    "caseId": ref("CaseId"),
    "reference": string("The network reference, `CS-2026-000123`."),
    "version": integer("The case's version after the change.", minimum=1),
    "status": _STATUS,
    "typologyCode": string(),
    "originatingPartnerId": ref("PartnerId"),
    "handlingPartnerId": ref("PartnerId"),
    "pendingDerivationTo": nullable(ref("PartnerId")),
    "seq": integer("The entry's number in the case's timeline.", minimum=1),
}

_CASE_KEY = "The case's global id."
_CASE_AUDIENCE = (
    "Partners involved in the case (originator, handler, a partner it is derived to, any "
    "with a status row) and the acting partner."
)


def _case_event(
    topic: str,
    summary: str,
    fields: Mapping[str, Schema] | None = None,
    *,
    optional: Mapping[str, Schema] | None = None,
) -> EventSpec:
    return EventSpec(
        topic=topic,
        summary=summary,
        key=_CASE_KEY,
        audience=_CASE_AUDIENCE,
        payload=obj(summary, {**CASE_FIELDS, **(fields or {})}, optional=optional),
    )


_MOVE = {"fromStatus": _STATUS, "toStatus": _STATUS}
_REPORTED = {
    "source": enum([PARTNER_REPORT], "Present when a partner platform's report moved it."),
    "partnerId": ref("PartnerId"),
    "partnerStatus": _PARTNER_CODE,
    "externalVersion": integer("The platform's version of its report.", minimum=0),
}
_RESOLUTION = {
    "resolutionCode": enum(ResolutionCode),
    "refund": nullable(ref("Money")),
    "bulkId": ref("BulkResolutionId"),
}
_DERIVATION = {"fromPartnerId": ref("PartnerId"), "toPartnerId": ref("PartnerId")}
_SLA_DUE = {"slaDueAt": nullable(ref("DateTime"))}

EVENTS = (
    _case_event(
        "cases.opened",
        "A case was opened.",
        {"customerId": ref("CustomerId"), **_SLA_DUE},
    ),
    _case_event(
        "cases.updated",
        "A case's details changed (read it for the new values).",
        {"changed": array(enum(CHANGED_FIELDS.values()), "The API fields that changed, sorted.")},
    ),
    _case_event(
        "cases.status_changed",
        "A case moved to another canonical status.",
        _MOVE,
        optional=_REPORTED,
    ),
    _case_event(
        "cases.reopened",
        "A resolved, rejected or closed case was reopened.",
        _MOVE,
        optional=_REPORTED,
    ),
    _case_event(
        "cases.resolved",
        "A case was resolved (by a person, a partner platform's report or a mass resolution; "
        "`bulkId` names the mass resolution).",
        _MOVE,
        optional={**_RESOLUTION, **_REPORTED},
    ),
    _case_event("cases.derived", "A case was derived to another partner.", _DERIVATION),
    _case_event(
        "cases.derivation_accepted",
        "The partner a case was derived to took it: it is now the handler.",
        _DERIVATION,
    ),
    _case_event(
        "cases.derivation_rejected",
        "The partner a case was derived to declined it.",
        _DERIVATION,
    ),
    _case_event(
        "cases.commented",
        "A comment was added (read the case's comments for its text).",
        {"commentId": ref("Uuid"), "visibility": enum(Visibility)},
    ),
    _case_event(
        "cases.attachment_added",
        "A file was attached to a case.",
        {
            "attachmentId": ref("CaseAttachmentId"),
            "contentType": string(),
            "sizeBytes": integer(minimum=0),
            "sha256": string("Hex SHA-256 of the content.", pattern="^[0-9a-f]{64}$"),
            "visibility": enum(Visibility),
        },
    ),
    _case_event(
        "cases.partner_status_reported",
        "A partner platform reported its own status for a case (recorded, not applied).",
        {
            "partnerId": ref("PartnerId"),
            "partnerStatus": _PARTNER_CODE,
            "externalVersion": integer(minimum=0),
            "occurredAt": ref("DateTime"),
        },
    ),
    _case_event(
        "cases.partner_report_refused",
        "A partner platform's report was refused and kept for review.",
        {
            "reviewId": ref("Uuid"),
            "partnerId": ref("PartnerId"),
            "partnerStatus": _PARTNER_CODE,
            "externalVersion": integer(minimum=0),
            "reason": enum(ReviewReason),
        },
    ),
    _case_event("cases.sla_at_risk", "A case's SLA is at risk.", _SLA_DUE),
    _case_event(
        "cases.sla_breached",
        "A case's SLA was breached; it is escalated to the handler.",
        {**_SLA_DUE, "escalatedTo": ref("PartnerId")},
    ),
    EventSpec(
        topic="cases.homologation_changed",
        summary="A partner's status homologation table got a new version.",
        key="The partner's global id.",
        audience="That partner.",
        payload=obj(
            "The new version of the table and when it applies from.",
            {
                "partnerId": ref("PartnerId"),
                "version": integer(minimum=1),
                "activeFrom": ref("DateTime"),
            },
        ),
    ),
    EventSpec(
        topic="cases.inbound_review_closed",
        summary="A refused partner report was reviewed and closed.",
        key="The review's id.",
        audience="The partner whose report it was.",
        payload=obj(
            "The review and how it was closed.",
            {
                "reviewId": ref("Uuid"),
                "caseId": nullable(ref("CaseId")),
                "status": enum(s for s in ReviewStatus if s is not ReviewStatus.PENDING),
            },
        ),
    ),
    EventSpec(
        topic="cases.bulk_resolution_requested",
        summary="A mass resolution was requested (it runs as a job).",
        key="The mass resolution's global id.",
        audience="The requesting partner.",
        payload=obj(
            "The job and what it resolves with.",
            {
                "bulkId": ref("BulkResolutionId"),
                "total": integer("Cases selected (an estimate for a filter).", minimum=0),
                "resolutionCode": enum(ResolutionCode),
            },
        ),
    ),
    EventSpec(
        topic="cases.bulk_progress",
        summary="A mass resolution processed another batch.",
        key="The mass resolution's global id.",
        audience="The requesting partner.",
        payload=obj(
            "The job's counts so far.",
            {
                "bulkId": ref("BulkResolutionId"),
                "status": enum(BulkStatus),
                "total": integer(minimum=0),
                "processed": integer(minimum=0),
                "resolved": integer(minimum=0),
                "skipped": integer("Cases in a state that cannot be resolved.", minimum=0),
                "forbidden": integer(minimum=0),
                "notFound": integer(minimum=0),
            },
        ),
    ),
    EventSpec(
        topic="partners.connector_changed",
        summary="A partner's platform connector was created or changed (never its secrets).",
        key="The partner's global id.",
        audience="That partner.",
        payload=obj(
            "The connector's new version.",
            {
                "partnerId": ref("PartnerId"),
                "connectorId": ref("Uuid"),
                "version": integer(minimum=1),
                "enabled": boolean(),
                "change": enum(CONNECTOR_CHANGES),
            },
        ),
    ),
)

# --- what a partner's platform receives (connectors' pushes, domain/cases/sync.py) ---------
_CODE = nullable(string("A partner's code."))
#: ``schema`` in a push's body: the version of its layout.
CASE_STATE_LAYOUT = "trama.case.v2"

#: The body of a push to a partner's connector: the case's current state, not an event.
CASE_STATE: Schema = obj(
    "The case's current state as a partner's platform receives it (`schema` names the "
    "layout); no personal data.",
    {
        "schema": {"type": "string", "const": CASE_STATE_LAYOUT},
        "case": obj(
            "The case's state.",
            {
                "id": ref("CaseId"),
                "reference": string("The network reference."),
                "externalRef": nullable(string("The platform's own reference, when known.")),
                "version": integer(
                    "Grows with every change; never goes down for a platform.", minimum=1
                ),
                "status": _STATUS,
                "partnerStatus": _PARTNER_CODE,
                "typology": string("The typology's code."),
                "priority": enum(Priority),
                "channel": enum(Channel),
                "customerId": ref("CustomerId"),
                "originatingPartner": _CODE,
                "handlingPartner": _CODE,
                "pendingDerivationTo": _CODE,
                "amountInDispute": nullable(ref("Money")),
                "resolution": nullable(
                    obj(
                        "How it was resolved.",
                        {
                            "code": enum(ResolutionCode),
                            "amountRefunded": nullable(ref("Money")),
                        },
                    )
                ),
                "sla": obj(
                    "The SLA clock.",
                    {"dueAt": nullable(ref("DateTime")), "state": enum(SlaState)},
                ),
                "createdAt": ref("DateTime"),
                "updatedAt": ref("DateTime"),
                "statusChangedAt": nullable(ref("DateTime")),
                "resolvedAt": nullable(ref("DateTime")),
                "closedAt": nullable(ref("DateTime")),
            },
        ),
    },
)

"""The events of collections work and reports: topics, keys and payload schemas (see
domain/shared/event_schemas.py). Every one concerns one lender (its audience); ids of
collections objects (promises, contacts, steps, reports) are plain UUIDs, as the API shows
them. Payloads carry ids and figures, never personal data (no names, e-mails or notes).
"""

from __future__ import annotations

from domain.collections.work_models import (
    ActionKind,
    ContactChannel,
    ContactDirection,
    ContactOutcome,
    NotificationChannel,
    PromiseStatus,
    QueueKind,
    ReportKind,
)
from domain.credits.events import AGING_BUCKETS
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

_LENDER = "The lender."
_CREDIT_KEY = "The credit's global id."
_PARTNER_KEY = "The lender's global id."

_CREDIT: dict[str, Schema] = {
    "creditId": ref("CreditId"),
    "customerId": ref("CustomerId"),
    "partnerId": ref("PartnerId"),
}

_PROMISE: dict[str, Schema] = {
    **_CREDIT,
    "promiseId": ref("Uuid"),
    "status": enum(PromiseStatus),
    "amount": ref("Money"),
    "paidAmount": ref("Money"),
    "madeOn": ref("Date"),
    "promisedDate": ref("Date"),
    "decidedOn": nullable(ref("Date")),
    "version": integer(minimum=1),
}


def _promise_event(topic: str, summary: str) -> EventSpec:
    return EventSpec(
        topic=topic,
        summary=summary,
        key=_CREDIT_KEY,
        audience=_LENDER,
        payload=obj(summary, _PROMISE),
    )


EVENTS = (
    EventSpec(
        topic="collections.step_triggered",
        summary="A step of the lender's collection strategy fired on a credit; the notifier "
        "workers deliver it (e-mail to the customer, signed webhook to the lender's platform).",
        key=_CREDIT_KEY,
        audience=_LENDER,
        payload=obj(
            "The step and the figures it is about.",
            {
                **_CREDIT,
                "actionId": ref("Uuid"),
                "strategyVersion": integer(minimum=0),
                "stepCode": string(),
                "action": enum(ActionKind),
                "dayOffset": integer("Days from the due date (negative: before it)."),
                "channels": array(enum(NotificationChannel)),
                "installmentNumber": integer(minimum=1),
                "dueDate": ref("Date"),
                "daysPastDue": integer(minimum=0),
                "amountDue": ref("Money"),
                "runDate": ref("Date"),
            },
        ),
    ),
    EventSpec(
        topic="collections.notification_sent",
        summary="A message of a strategy step was delivered (accepted by the SMTP server, or "
        "answered 2xx by the lender's platform).",
        key=_CREDIT_KEY,
        audience=_LENDER,
        payload=obj(
            "The message and its step.",
            {
                **_CREDIT,
                "notificationId": ref("Uuid"),
                "actionId": ref("Uuid"),
                "channel": enum(NotificationChannel),
                "messageKey": string(),
                "attempts": integer(minimum=1),
            },
        ),
    ),
    EventSpec(
        topic="collections.notification_failed",
        summary="A message of a strategy step could not be delivered and will not be retried "
        "(refused address, no e-mail on file, no connector…).",
        key=_CREDIT_KEY,
        audience=_LENDER,
        payload=obj(
            "The message, its step and why.",
            {
                **_CREDIT,
                "notificationId": ref("Uuid"),
                "actionId": ref("Uuid"),
                "channel": enum(NotificationChannel),
                "messageKey": string(),
                "status": enum(["FAILED", "SKIPPED"]),
                "reason": string(),
            },
        ),
    ),
    _promise_event("collections.promise_made", "A customer promised to pay."),
    _promise_event("collections.promise_kept", "A promise to pay was kept in full."),
    _promise_event(
        "collections.promise_partially_kept",
        "A promise's deadline passed with part of the amount paid.",
    ),
    _promise_event("collections.promise_broken", "A promise's deadline passed with nothing paid."),
    _promise_event("collections.promise_cancelled", "A promise to pay was withdrawn."),
    _promise_event(
        "collections.promise_reopened",
        "A kept or decided promise is open again: a payment it counted was reversed (or a "
        "backdated one arrived) before its deadline.",
    ),
    EventSpec(
        topic="collections.contact_logged",
        summary="A contact with a customer about a credit was logged.",
        key=_CREDIT_KEY,
        audience=_LENDER,
        payload=obj(
            "The contact (its note stays in Trama).",
            {
                **_CREDIT,
                "contactId": ref("Uuid"),
                "channel": enum(ContactChannel),
                "direction": enum(ContactDirection),
                "outcome": enum(ContactOutcome),
                "contactedAt": ref("DateTime"),
                "collectorId": nullable(ref("Uuid")),
                "promiseId": nullable(ref("Uuid")),
            },
        ),
    ),
    EventSpec(
        topic="collections.item_assigned",
        summary="A queue item changed hands (the daily run's rules, or a supervisor).",
        key=_CREDIT_KEY,
        audience=_LENDER,
        payload=obj(
            "The item and its new collector.",
            {
                **_CREDIT,
                "itemId": ref("Uuid"),
                "queue": enum(QueueKind),
                "collectorId": nullable(ref("Uuid")),
                "previousCollectorId": nullable(ref("Uuid")),
                "how": enum(["RULE", "DEFAULT", "KEPT", "MANUAL"]),
                "version": integer(minimum=1),
            },
        ),
    ),
    EventSpec(
        topic="collections.queues_refreshed",
        summary="The daily run refreshed a lender's work queues.",
        key=_PARTNER_KEY,
        audience=_LENDER,
        payload=obj(
            "What the run changed (one event per lender and batch of the run).",
            {
                "partnerId": ref("PartnerId"),
                "runDate": ref("Date"),
                "examined": integer(minimum=0),
                "opened": integer(minimum=0),
                "updated": integer(minimum=0),
                "resolved": integer(minimum=0),
                "stepsFired": integer(minimum=0),
                "promisesDecided": integer(minimum=0),
            },
        ),
    ),
    EventSpec(
        topic="collections.collector_changed",
        summary="A collector was enrolled, or switched on or off.",
        key=_PARTNER_KEY,
        audience=_LENDER,
        payload=obj(
            "The collector.",
            {
                "partnerId": ref("PartnerId"),
                "collectorId": ref("Uuid"),
                "active": {"type": "boolean"},
                "version": integer(minimum=1),
            },
        ),
    ),
    EventSpec(
        topic="collections.rules_changed",
        summary="A lender's assignment rules got a new version.",
        key=_PARTNER_KEY,
        audience=_LENDER,
        payload=obj(
            "The version in force.",
            {
                "partnerId": ref("PartnerId"),
                "version": integer(minimum=1),
                "ruleCount": integer(minimum=0),
            },
        ),
    ),
    EventSpec(
        topic="collections.strategy_changed",
        summary="A lender's collection strategy got a new version.",
        key=_PARTNER_KEY,
        audience=_LENDER,
        payload=obj(
            "The version in force.",
            {
                "partnerId": ref("PartnerId"),
                "version": integer(minimum=1),
                "stepCount": integer(minimum=1),
            },
        ),
    ),
    EventSpec(
        topic="collections.report_generated",
        summary="A financial report was generated (a new one, or a restatement of a period).",
        key=_PARTNER_KEY,
        audience=_LENDER,
        payload=obj(
            "The report; its figures and files are read through the API.",
            {
                "partnerId": ref("PartnerId"),
                "reportId": ref("Uuid"),
                "kind": enum(ReportKind),
                "periodStart": ref("Date"),
                "periodEnd": ref("Date"),
                "revision": integer(minimum=1),
                "knownAt": ref("DateTime"),
                "figuresSha256": string(pattern="^[0-9a-f]{64}$"),
            },
        ),
    ),
)

#: The API names of the aging buckets, for reports' payloads.
BUCKET_NAMES = dict(AGING_BUCKETS)

"""The credits' and payments' events: topics, keys and payload schemas (see
domain/shared/event_schemas.py). ``credits.funded`` is the investors' (domain/investors/events.py).

Every event about one credit carries :data:`CREDIT_FIELDS` (:func:`domain.credits.records.emit`)
and the topic's own fields; amounts are ``Money`` in the credit's currency unless named
otherwise (a payment's ``amount`` is in the currency it was paid in).
"""

from __future__ import annotations

from domain.credits.plans import Prepayment
from domain.credits.schedules import Scheme
from domain.credits.states import AgingBucket, CreditStatus
from domain.shared.event_schemas import (
    EventSpec,
    Schema,
    boolean,
    enum,
    integer,
    nullable,
    obj,
    ref,
    string,
)
from domain.shared.money import CURRENCY_EXPONENTS

#: Aging buckets by the API's enum names (``AgingBucket`` in the GraphQL schema).
AGING_BUCKETS: dict[str, str] = {
    AgingBucket.CURRENT: "CURRENT",
    AgingBucket.D1_30: "DAYS_1_30",
    AgingBucket.D31_60: "DAYS_31_60",
    AgingBucket.D61_90: "DAYS_61_90",
    AgingBucket.D91_180: "DAYS_91_180",
    AgingBucket.D180_PLUS: "OVER_180",
}


def aging_bucket(value: str) -> str:
    return AGING_BUCKETS[AgingBucket(value)]


_STATUS = enum(CreditStatus)
_MONEY = ref("Money")

CREDIT_FIELDS: dict[str, Schema] = {
    "creditId": ref("CreditId"),
    "reference": string("CR-<year>-<number>."),
    "partnerId": ref("PartnerId"),
    "status": _STATUS,
    "currency": enum(CURRENCY_EXPONENTS, "The credit's currency."),
    "version": integer("The credit's version after the change.", minimum=1),
}

_KEY = "The credit's global id."
_AUDIENCE = "The lending partner."


def _credit_event(topic: str, summary: str, fields: dict[str, Schema]) -> EventSpec:
    return EventSpec(
        topic=topic,
        summary=summary,
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj(summary, {**CREDIT_FIELDS, **fields}),
    )


_POSITION = {
    "previousStatus": _STATUS,
    "daysPastDue": integer(minimum=0),
    "agingBucket": enum(AGING_BUCKETS.values()),
    "outstandingPrincipal": _MONEY,
    "paidOffOn": nullable(ref("Date")),
    "asOf": ref("Date"),
}
_BALANCES = {
    "creditBalance": _MONEY,
    "outstandingPrincipal": _MONEY,
    "daysPastDue": integer(minimum=0),
}

_WRITE_OFF = {
    "writeOffId": ref("Uuid"),
    "installmentNumber": nullable(
        integer("The installment it forgives from (none: the oldest row owing).", minimum=1)
    ),
    "amount": ref("Money"),
    "creditAmount": _MONEY,
    "appliedAmount": _MONEY,
    "writtenAt": ref("DateTime"),
    "writtenOn": ref("Date"),
    "source": nullable(string("What asked for it, e.g. StatementLine:<global id>.")),
    **_BALANCES,
}

EVENTS = (
    _credit_event(
        "credits.created",
        "A credit was registered (approved, not disbursed).",
        {
            "customerId": ref("CustomerId"),
            "productCode": string(),
            "principal": _MONEY,
            "annualRate": ref("Decimal"),
            "termMonths": integer(minimum=1),
            "scheme": enum(Scheme),
        },
    ),
    _credit_event(
        "credits.disbursed",
        "A credit was disbursed: its schedule runs.",
        {
            "disbursementDate": ref("Date"),
            "principal": _MONEY,
            "financed": _MONEY,
            "netDisbursed": _MONEY,
        },
    ),
    _credit_event("credits.cancelled", "An approved credit was cancelled.", {"principal": _MONEY}),
    _credit_event(
        "credits.written_off",
        "A credit was written off.",
        {
            "outstandingPrincipal": _MONEY,
            "overdue": _MONEY,
            "daysPastDue": integer(minimum=0),
        },
    ),
    _credit_event(
        "credits.restructured",
        "A credit got a new schedule; what was owed is carried into it.",
        {
            "previousStatus": _STATUS,
            "scheduleNo": integer(minimum=2),
            "restructureDate": ref("Date"),
            "principal": _MONEY,
            "carriedPrincipal": _MONEY,
            "carriedInterest": _MONEY,
            "carriedCharges": _MONEY,
            "carriedLateInterest": _MONEY,
            "carriedBalance": _MONEY,
            "termMonths": integer(minimum=1),
            "annualRate": ref("Decimal"),
        },
    ),
    _credit_event("credits.paid_off", "A credit was paid off.", _POSITION),
    _credit_event("credits.delinquent", "A credit fell delinquent.", _POSITION),
    _credit_event("credits.cured", "A delinquent credit is performing again.", _POSITION),
    _credit_event(
        "credits.reopened",
        "A paid-off credit owes again (a payment reversed or booked earlier).",
        _POSITION,
    ),
    _credit_event("credits.status_changed", "A credit's status changed.", _POSITION),
    _credit_event(
        "credits.balance_applied",
        "Kept credit balance paid installments that fell due.",
        {"amount": _MONEY, "creditBalance": _MONEY, "asOf": ref("Date")},
    ),
    _credit_event(
        "credits.balance_refunded",
        "Credit balance was paid back to the customer.",
        {"refundId": ref("Uuid"), "amount": _MONEY, "creditBalance": _MONEY},
    ),
    _credit_event(
        "payments.received",
        "A payment was booked on a credit.",
        {
            "paymentId": ref("PaymentId"),
            "amount": ref("Money"),
            "creditAmount": _MONEY,
            "ufValue": nullable(ref("Decimal")),
            "paidAt": ref("DateTime"),
            "paidOn": ref("Date"),
            "allocatedAmount": _MONEY,
            "heldAmount": _MONEY,
            "prepayment": nullable(enum(Prepayment)),
            "backdated": boolean("Dated before a payment already booked (the ledger replayed)."),
            **_BALANCES,
        },
    ),
    _credit_event(
        "payments.reversed",
        "A payment was reversed.",
        {
            "paymentId": ref("PaymentId"),
            "amount": ref("Money"),
            "creditAmount": _MONEY,
            "paidAt": ref("DateTime"),
            **_BALANCES,
        },
    ),
    _credit_event(
        "credits.shortfall_written_off",
        "Part of what a credit owes was written off (a shortfall within a tolerance, as a "
        "collections policy says): forgiven, never cash received.",
        _WRITE_OFF,
    ),
    _credit_event(
        "credits.write_off_reversed",
        "A partial write-off was undone (e.g. its bank lines were unmatched): what it forgave "
        "is owed again.",
        {**_WRITE_OFF, "reason": string("Why it was reversed.")},
    ),
    EventSpec(
        topic="credits.uf_values_loaded",
        summary="Values of the Unidad de Fomento were loaded.",
        key="`uf:` and the first day loaded.",
        audience="Administrators only.",
        payload=obj(
            "Counts and the days loaded.",
            {
                "inserted": integer(minimum=0),
                "updated": integer("Days whose value was corrected.", minimum=0),
                "firstDay": ref("Date"),
                "lastDay": ref("Date"),
            },
        ),
    ),
)

"""The reconciliation's events: topics, keys and payload schemas (see
domain/shared/event_schemas.py). Every one goes to the lender that owns the lines.

The payments a reconciliation books have their own ``payments.received`` /
``payments.reversed`` events (``domain/credits/events.py``).
"""

from __future__ import annotations

from domain.collections.models import LineState
from domain.shared.event_schemas import (
    EventSpec,
    array,
    boolean,
    enum,
    integer,
    nullable,
    obj,
    ref,
    string,
)

_OWNER = "The lender that owns the bank account of the line."
_STATES = [s.value for s in LineState if s != LineState.NEW]

#: Counts per state in ``collections.lines_reconciled`` (camelCase keys).
COUNT_KEYS = {
    LineState.AUTO_MATCHED: "autoMatched",
    LineState.SUGGESTED: "suggested",
    LineState.EXCEPTION: "exception",
    LineState.UNMATCHED: "unmatched",
    LineState.IGNORED: "ignored",
}

_LINE = {
    "lineId": ref("StatementLineId"),
    "partnerId": ref("PartnerId"),
    "state": enum(_STATES),
    "version": integer("The line's version after the change.", minimum=1),
    "amount": ref("Money"),
    "decidedBy": string("Who decided: a person's subject, or collections.reconcile."),
}

EVENTS = (
    EventSpec(
        topic="collections.lines_reconciled",
        summary=(
            "The reconciliation worker decided a batch of new statement lines (each line's "
            "state, rule and confidence; the payments it booked have their own events)."
        ),
        key="The statement's global id (the lender's when the lines came from several).",
        audience=_OWNER,
        payload=obj(
            "The batch: counts and each line's outcome.",
            {
                "partnerId": ref("PartnerId"),
                "statementId": nullable(ref("BankStatementId")),
                "ruleSetVersion": integer("0: Trama's default rules.", minimum=0),
                "lineCount": integer(minimum=0),
                "paymentCount": integer("Payments booked.", minimum=0),
                "reversedPaymentCount": integer("Payments reversed by reversal lines.", minimum=0),
                "counts": obj(
                    "Lines per state.",
                    {key: integer(minimum=0) for key in COUNT_KEYS.values()},
                ),
                "lines": array(
                    obj(
                        "One line's outcome.",
                        {
                            "lineId": ref("StatementLineId"),
                            "state": enum(_STATES),
                            "reason": nullable(string("Why, for EXCEPTION and IGNORED.")),
                            "ruleCode": nullable(string()),
                            "confidence": nullable(integer("Percent.", minimum=0)),
                        },
                    )
                ),
            },
        ),
    ),
    EventSpec(
        topic="collections.line_matched",
        summary="A person booked a line: a suggestion confirmed, or a match by hand.",
        key="The line's global id.",
        audience=_OWNER,
        payload=obj(
            "The line and the payments it booked.",
            {
                **_LINE,
                "confirmed": boolean("A suggestion confirmed (false: matched by hand)."),
                "payments": array(
                    obj(
                        "A payment booked.",
                        {
                            "creditId": ref("CreditId"),
                            "paymentId": ref("PaymentId"),
                            "amount": ref("Money"),
                        },
                    )
                ),
            },
        ),
    ),
    EventSpec(
        topic="collections.line_unmatched",
        summary="A person undid a line's match; the payments it had booked were reversed.",
        key="The line's global id.",
        audience=_OWNER,
        payload=obj(
            "The line, the reason and how many payments were reversed.",
            {**_LINE, "reason": string(), "reversedPayments": integer(minimum=0)},
        ),
    ),
    EventSpec(
        topic="collections.line_ignored",
        summary="A person set a line aside: it pays no credit.",
        key="The line's global id.",
        audience=_OWNER,
        payload=obj("The line and the reason.", {**_LINE, "reason": string()}),
    ),
    EventSpec(
        topic="collections.match_rule_set_created",
        summary="A lender's matching rules got a new version.",
        key="The lender's global id.",
        audience=_OWNER,
        payload=obj(
            "The version and when it takes effect.",
            {
                "partnerId": ref("PartnerId"),
                "ruleSetId": ref("Uuid"),
                "version": integer(minimum=1),
                "effectiveFrom": ref("DateTime"),
                "ruleCount": integer(minimum=1),
            },
        ),
    ),
    EventSpec(
        topic="collections.unidentified_payment_case_opened",
        summary=(
            "A payment that stayed unmatched for the business days the setting allows opened "
            "an 'unidentified payment' case."
        ),
        key="The line's global id.",
        audience=_OWNER,
        payload=obj(
            "The line and the case.",
            {
                "lineId": ref("StatementLineId"),
                "partnerId": ref("PartnerId"),
                "caseId": ref("CaseId"),
                "amount": ref("Money"),
                "bookingDate": ref("Date"),
            },
        ),
    ),
)

"""Statements' and bank accounts' events: topics, keys and payload schemas
(see domain/shared/event_schemas.py). Every one goes to the account's owner partner.

``statements.ingested`` is what the reconciliation (``collections.reconcile``) consumes: one
event per stored statement, written in the transaction that stored it.
"""

from __future__ import annotations

from domain.collections.models import IntegrityStatus, StatementKind
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

_OWNER = "The partner that owns the bank account."

_ACCOUNT = {
    "accountId": ref("CollectionAccountId"),
    "partnerId": ref("PartnerId"),
    "currency": string("ISO 4217 code of the account."),
}

EVENTS = (
    EventSpec(
        topic="bank_accounts.registered",
        summary="A lender registered a collection bank account.",
        key="The bank account's global id.",
        audience=_OWNER,
        payload=obj("The new account (ids and currency only).", _ACCOUNT),
    ),
    EventSpec(
        topic="bank_accounts.updated",
        summary="A collection bank account changed (read it for the new values).",
        key="The bank account's global id.",
        audience=_OWNER,
        payload=obj(
            "The account and the API fields that changed.",
            {**_ACCOUNT, "fields": array(string(), "Changed fields, by their API names.")},
        ),
    ),
    EventSpec(
        topic="statements.ingested",
        summary=(
            "A bank statement (or interim report, or notification) was stored with its lines; "
            "the new lines await reconciliation."
        ),
        key="The statement's global id.",
        audience=_OWNER,
        payload=obj(
            "The statement, its counts and its integrity.",
            {
                "statementId": ref("BankStatementId"),
                "accountId": ref("CollectionAccountId"),
                "partnerId": ref("PartnerId"),
                "kind": enum(StatementKind),
                "interim": boolean("A camt.052/054 or MT942: an end-of-day statement follows."),
                "lineCount": integer("Lines the statement reports.", minimum=0),
                "newLineCount": integer(
                    "Lines stored for the first time (the others were known: overlaps).",
                    minimum=0,
                ),
                "confirmedLineCount": integer(
                    "Known lines of interim reports this end-of-day statement booked.",
                    minimum=0,
                ),
                "integrity": enum(IntegrityStatus),
                "fromDate": nullable(ref("Date")),
                "toDate": nullable(ref("Date")),
                "closingBalance": nullable(ref("Money")),
            },
        ),
    ),
)

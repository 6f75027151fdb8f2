"""The investors' events: topics, keys and payload schemas (see domain/shared/event_schemas.py).

Investors' and settlements' events concern no partner: only administrators receive them.
``credits.funded`` goes to the lending partner (the investor by id only).
"""

from __future__ import annotations

from domain.investors.models import KycStatus
from domain.shared.event_schemas import EventSpec, array, enum, integer, nullable, obj, ref

_ADMINS = "Administrators only."
_INVESTOR = {"investorId": ref("InvestorId"), "kycStatus": enum(KycStatus)}

EVENTS = (
    EventSpec(
        topic="investors.created",
        summary="An investor was registered (KYC pending).",
        key="The investor's global id.",
        audience=_ADMINS,
        payload=obj("The new investor.", _INVESTOR),
    ),
    EventSpec(
        topic="investors.updated",
        summary="An investor's record changed (read it for the new values).",
        key="The investor's global id.",
        audience=_ADMINS,
        payload=obj("The investor and its KYC status.", _INVESTOR),
    ),
    EventSpec(
        topic="investors.kyc_changed",
        summary="An investor's KYC status changed.",
        key="The investor's global id.",
        audience=_ADMINS,
        payload=obj(
            "The new KYC status and the previous one.",
            {**_INVESTOR, "previousKycStatus": enum(KycStatus)},
        ),
    ),
    EventSpec(
        topic="credits.funded",
        summary="An investor funded a share of a credit.",
        key="The credit's global id.",
        audience="The lending partner.",
        payload=obj(
            "The funding, as the API's `CreditFunding` shows it.",
            {
                "fundingId": ref("CreditFundingId"),
                "creditId": ref("CreditId"),
                "investorId": ref("InvestorId"),
                "share": ref("Decimal"),
                "servicingFeeRate": ref("Decimal"),
                "invested": ref("Money"),
                "effectiveOn": nullable(ref("Date")),
                "fundedShare": ref("Decimal"),
            },
        ),
    ),
    EventSpec(
        topic="settlements.completed",
        summary="A settlement run issued its statements.",
        key="The run's global id.",
        audience=_ADMINS,
        payload=obj(
            "The run, its counts and what it settles per currency.",
            {
                "runId": ref("SettlementRunId"),
                "periodStart": ref("Date"),
                "periodEnd": ref("Date"),
                "statementCount": integer(minimum=0),
                "lineCount": integer(minimum=0),
                "totals": array(ref("Money"), "One amount per currency, by currency code."),
            },
        ),
    ),
    EventSpec(
        topic="settlements.paid",
        summary="A settlement statement was paid to its investor.",
        key="The statement's global id.",
        audience=_ADMINS,
        payload=obj(
            "The statement and what was paid.",
            {
                "statementId": ref("SettlementStatementId"),
                "runId": ref("SettlementRunId"),
                "investorId": ref("InvestorId"),
                "total": ref("Money"),
                "paidAt": ref("DateTime"),
            },
        ),
    ),
)

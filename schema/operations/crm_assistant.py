from __future__ import annotations

from datetime import date

import strawberry

from resolvers import crm_assistant as r
from schema.crm_assistant import (
    AssistantVerificationInput,
    CreditStatusForAssistantPayload,
    LogAssistantConversationInput,
    LogAssistantConversationPayload,
    RegisterVerificationFactorsPayload,
)
from schema.customers import NationalIdInput


@strawberry.type
class AssistantMutation:
    @strawberry.mutation(
        description="The assistant (a partner system of a lender with the `assistant` scope) "
        "logs a finished conversation; once per externalId. A hand-off opens a CRM task or a "
        "case (typology by intent) with the transcript linked."
    )
    async def log_assistant_conversation(
        self, info: strawberry.Info, input: LogAssistantConversationInput
    ) -> LogAssistantConversationPayload:
        return await r.log_assistant_conversation(info, input)

    @strawberry.mutation(
        description="After verifying the caller by a factor the customer registered (date of "
        "birth, last four digits of the phone): the customer's credits with your lender, "
        "their next installment, days past due and payoff today — nothing else. Failures are "
        "counted and lock the national ID (and a client) out for a while; every lookup is "
        "audited. A mutation: it writes the counters and the audit trail."
    )
    async def credit_status_for_assistant(
        self,
        info: strawberry.Info,
        national_id: NationalIdInput,
        verification: AssistantVerificationInput,
    ) -> CreditStatusForAssistantPayload:
        return await r.credit_status_for_assistant(info, national_id, verification)

    @strawberry.mutation(
        description="Register the date of birth a customer will be verified with by the "
        "assistant: the customer themself, their home partner's staff, or an administrator."
    )
    async def register_verification_factors(
        self, info: strawberry.Info, customer_id: strawberry.ID, date_of_birth: date
    ) -> RegisterVerificationFactorsPayload:
        return await r.register_verification_factors(info, customer_id, date_of_birth)

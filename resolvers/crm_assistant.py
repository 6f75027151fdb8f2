"""The assistant's root fields (``domain/crm/assistant.py``)."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.crm import assistant
from resolvers.context import principal_of
from resolvers.errors import mutate
from resolvers.ids import require_node_id
from schema.crm_assistant import (
    AssistantConversation,
    AssistantCreditLine,
    AssistantCreditStatus,
    AssistantVerificationInput,
    CreditStatusForAssistantPayload,
    LogAssistantConversationInput,
    LogAssistantConversationPayload,
    LogAssistantConversationSuccess,
    RegisterVerificationFactorsPayload,
    VerificationFactorsSuccess,
    VerificationFailedError,
    VerificationLockedError,
)
from schema.customers import NationalIdInput


async def log_assistant_conversation(
    info: Info, input: LogAssistantConversationInput
) -> LogAssistantConversationPayload:
    principal = principal_of(info)
    data = assistant.ConversationInput(
        external_id=input.external_id,
        channel=input.channel.value,
        started_at=input.started_at,
        ended_at=input.ended_at,
        outcome=input.outcome.value,
        turns=[assistant.Turn(t.speaker.value, t.text, t.at) for t in input.turns],
        intent=input.intent,
        national_id_type=input.national_id.type.value if input.national_id else None,
        national_id=input.national_id.number if input.national_id else None,
        email=input.email,
        phone_e164=input.phone,
        handoff=input.handoff.kind.value if input.handoff else None,
        handoff_reason=input.handoff.reason if input.handoff else None,
    )

    async def work(session: AsyncSession) -> Any:
        conversation, created = await assistant.log_conversation(
            session, principal=principal, data=data
        )
        return LogAssistantConversationSuccess(
            conversation=AssistantConversation.from_model(conversation), created=created
        )

    return await mutate(LogAssistantConversationPayload, work)


async def credit_status_for_assistant(
    info: Info, national_id: NationalIdInput, verification: AssistantVerificationInput
) -> CreditStatusForAssistantPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> Any:
        status = await assistant.credit_status_for_assistant(
            session,
            principal=principal,
            national_id_type=national_id.type.value,
            national_id=national_id.number,
            verification=assistant.Verification(
                date_of_birth=verification.date_of_birth,
                phone_last_digits=verification.phone_last_digits,
            ),
        )
        if status.locked_until is not None:
            return VerificationLockedError(
                message="too many failed verifications; try again later",
                code="VERIFICATION_LOCKED",
                retry_after=status.locked_until,
            )
        if not status.verified:
            return VerificationFailedError(
                message="the caller could not be verified",
                code="VERIFICATION_FAILED",
                attempts_left=status.attempts_left or 0,
            )
        return AssistantCreditStatus(
            credits=[AssistantCreditLine.from_domain(line) for line in status.credits]
        )

    return await mutate(CreditStatusForAssistantPayload, work)


async def register_verification_factors(
    info: Info, customer_id: strawberry.ID, date_of_birth: Any
) -> RegisterVerificationFactorsPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> Any:
        factors = await assistant.register_verification_factors(
            session,
            principal=principal,
            customer_id=require_node_id(customer_id, "Customer", "customerId"),
            date_of_birth=date_of_birth,
        )
        return VerificationFactorsSuccess(
            customer_id=customer_id, registered_at=factors.registered_at
        )

    return await mutate(RegisterVerificationFactorsPayload, work)

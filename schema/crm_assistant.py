"""GraphQL types of the assistant Ana (issue 12): conversation logging, verification
factors and the short credit status (``domain/crm/assistant.py``)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from domain.crm import assistant as domain
from domain.crm.assistant_models import AssistantConversation as ConversationModel
from domain.shared.money import Money as DomainMoney
from schema.customers import NationalIdInput
from schema.errors import ForbiddenError, NotFoundError, UserError, ValidationError
from schema.money import Money


@strawberry.enum
class ConversationChannel(Enum):
    PHONE = "PHONE"
    WHATSAPP = "WHATSAPP"
    WEB = "WEB"


@strawberry.enum
class ConversationSpeaker(Enum):
    CALLER = "CALLER"
    ASSISTANT = "ASSISTANT"
    AGENT = "AGENT"


@strawberry.enum
class ConversationOutcome(Enum):
    RESOLVED = "RESOLVED"
    INFORMATION_GIVEN = "INFORMATION_GIVEN"
    HANDED_OFF = "HANDED_OFF"
    ABANDONED = "ABANDONED"


@strawberry.enum
class HandoffKind(Enum):
    TASK = "TASK"
    CASE = "CASE"


@strawberry.input(description="One turn of a conversation.")
class ConversationTurnInput:
    speaker: ConversationSpeaker
    text: str
    at: datetime


@strawberry.input(description="Hand the caller to a person: a CRM task or a case.")
class HandoffInput:
    kind: HandoffKind
    reason: str | None = None


@strawberry.input(description="A finished conversation of the assistant.")
class LogAssistantConversationInput:
    external_id: str = strawberry.field(
        description="The assistant's id of the conversation: logging it again stores nothing."
    )
    channel: ConversationChannel
    started_at: datetime
    ended_at: datetime | None = None
    turns: list[ConversationTurnInput]
    intent: str | None = None
    outcome: ConversationOutcome
    national_id: NationalIdInput | None = None
    email: str | None = None
    phone: str | None = strawberry.field(default=None, description="E.164.")
    handoff: HandoffInput | None = None


@strawberry.type(description="A conversation the assistant logged (ids and labels).")
class AssistantConversation:
    id: strawberry.ID
    external_id: str
    channel: ConversationChannel
    started_at: datetime
    ended_at: datetime | None
    intent: str | None
    outcome: ConversationOutcome
    turns: int = strawberry.field(description="How many turns the transcript has.")
    handoff: HandoffKind | None
    task_id: strawberry.ID | None
    case_id: strawberry.ID | None

    @classmethod
    def from_model(cls, m: ConversationModel) -> AssistantConversation:
        return cls(
            id=strawberry.ID(str(m.id)),
            external_id=m.external_id,
            channel=ConversationChannel(m.channel),
            started_at=m.started_at,
            ended_at=m.ended_at,
            intent=m.intent,
            outcome=ConversationOutcome(m.outcome),
            turns=len(m.turns),
            handoff=HandoffKind(m.handoff) if m.handoff else None,
            task_id=strawberry.ID(str(m.task_id)) if m.task_id else None,
            case_id=strawberry.ID(str(m.case_id)) if m.case_id else None,
        )


@strawberry.type
class LogAssistantConversationSuccess:
    conversation: AssistantConversation
    created: bool = strawberry.field(description="False: this externalId was logged before.")


LogAssistantConversationPayload = Annotated[
    LogAssistantConversationSuccess | ValidationError | ForbiddenError,
    strawberry.union("LogAssistantConversationPayload"),
]


@strawberry.input(description="What the caller says to be recognised: one or both factors.")
class AssistantVerificationInput:
    date_of_birth: date | None = None
    phone_last_digits: str | None = strawberry.field(
        default=None, description="The last four digits of the customer's phone."
    )


@strawberry.type(description="One credit, as short as the assistant may tell it.")
class AssistantCreditLine:
    reference: str
    status: str
    days_past_due: int
    next_installment_number: int | None
    next_installment_due_date: date | None
    next_installment_amount: Money | None = strawberry.field(
        description="Still owed on the next installment."
    )
    payoff_amount: Money | None
    payoff_valid_until: date | None

    @classmethod
    def from_domain(cls, line: domain.CreditStatusLine) -> AssistantCreditLine:
        def money(value: int | None) -> Money | None:
            return None if value is None else Money.from_domain(DomainMoney(value, line.currency))

        return cls(
            reference=line.reference,
            status=line.status,
            days_past_due=line.days_past_due,
            next_installment_number=line.next_installment_number,
            next_installment_due_date=line.next_installment_due,
            next_installment_amount=money(line.next_installment_amount),
            payoff_amount=money(line.payoff_amount),
            payoff_valid_until=line.payoff_valid_until,
        )


@strawberry.type(description="The caller is verified: their credits with your lender.")
class AssistantCreditStatus:
    credits: list[AssistantCreditLine]


@strawberry.type(description="The factors do not match (or no such customer).")
class VerificationFailedError(UserError):
    attempts_left: int


@strawberry.type(description="Too many failed verifications: try again after retryAfter.")
class VerificationLockedError(UserError):
    retry_after: datetime


CreditStatusForAssistantPayload = Annotated[
    AssistantCreditStatus
    | VerificationFailedError
    | VerificationLockedError
    | ValidationError
    | ForbiddenError,
    strawberry.union("CreditStatusForAssistantPayload"),
]


@strawberry.type
class VerificationFactorsSuccess:
    customer_id: strawberry.ID
    registered_at: datetime


RegisterVerificationFactorsPayload = Annotated[
    VerificationFactorsSuccess | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union("RegisterVerificationFactorsPayload"),
]

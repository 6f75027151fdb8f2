"""The assistant's events: ids and labels only, never a transcript or a caller's data."""

from __future__ import annotations

from domain.crm.assistant_models import ConversationChannel, ConversationOutcome, HandoffKind
from domain.shared.event_schemas import EventSpec, enum, nullable, obj, ref, string

LOGGED = "crm.conversation_logged"

EVENTS = (
    EventSpec(
        topic=LOGGED,
        summary="The assistant (Ana) logged a conversation.",
        key="The conversation's id.",
        audience="The lender whose assistant it was.",
        payload=obj(
            "The conversation's channel, intent, outcome and hand-off.",
            {
                "conversationId": ref("Uuid"),
                "channel": enum(ConversationChannel),
                "intent": nullable(string("The intent the assistant detected.")),
                "outcome": enum(ConversationOutcome),
                "handoff": nullable(enum(HandoffKind)),
            },
        ),
    ),
)

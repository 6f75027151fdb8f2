"""The webhook inbox's events (see domain/shared/event_schemas.py).

``webhooks.received`` is internal: the inbox's own worker (``webhooks.process``) consumes
it; it concerns no partner, so only network-wide readers of the event log see it.
"""

from __future__ import annotations

from domain.shared.event_schemas import EventSpec, obj, ref, string

RECEIVED = "webhooks.received"

EVENTS = (
    EventSpec(
        topic=RECEIVED,
        summary="An outside system's webhook delivery was verified and stored, to be processed.",
        key="The delivery's id.",
        audience="No partner (internal to Trama's workers).",
        payload=obj(
            "Which delivery to process; its body stays in the inbox table.",
            {
                "deliveryId": ref("Uuid"),
                "source": string("The sender, as in /webhooks/{source}.", pattern="^[a-z0-9_-]+$"),
            },
        ),
    ),
)

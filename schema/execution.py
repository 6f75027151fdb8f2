"""The executor Trama's schema runs with.

graphql-core 3.3 builds the executor of each subscription event as a shallow copy of the
subscription's executor, so all events share its ``_relevant_sub_fields`` memo. The memo is
keyed by the ``id()`` of a field list that is new for every event: it never hits, and gains
an entry per event until the subscription ends (~1.3 KiB per subscriber and event, measured
with bench/fanout.py). A partner connection that stays open for days would grow without
bound, so each event gets a memo of its own (it still serves the lists of that event).
"""

from __future__ import annotations

from typing import Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class TramaExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor

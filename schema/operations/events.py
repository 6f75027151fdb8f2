from __future__ import annotations

import strawberry

from resolvers import events as r
from schema.customers import Customer
from schema.events import (
    DiscardFailedJobPayload,
    Event,
    FailedJobConnection,
    RetryFailedJobPayload,
)


@strawberry.type
class EventQuery:
    failed_jobs: FailedJobConnection = strawberry.field(
        resolver=r.failed_jobs,
        description="Background jobs that failed for good (admins), newest first.",
    )


@strawberry.type
class EventMutation:
    retry_failed_job: RetryFailedJobPayload = strawberry.mutation(
        resolver=r.retry_failed_job, description="Send a failed job again (audited)."
    )
    discard_failed_job: DiscardFailedJobPayload = strawberry.mutation(
        resolver=r.discard_failed_job, description="Give up on a failed job (audited)."
    )


@strawberry.type
class Subscription:
    events: Event = strawberry.subscription(  # type: ignore[assignment]
        resolver=r.events,
        description=(
            "The events you may see (your partner's; admins all), in delivery order. With "
            "`after` (an event's cursor) it first replays what you missed, then continues "
            "live, with no gap and no duplicate. Topics: exact (`customers.created`) or a "
            "domain (`customers.*`)."
        ),
    )
    customer_changed: Customer = strawberry.subscription(  # type: ignore[assignment]
        resolver=r.customer_changed,
        description="The customer's current state each time it changes.",
    )

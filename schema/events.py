"""Events (the partner event stream) and failed jobs (the dead-letter list)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from schema.common import Connection
from schema.errors import ConflictError, ForbiddenError, NotFoundError
from schema.scalars import Long


@strawberry.type(description="Something that happened in the network, in delivery order.")
class Event:
    cursor: str = strawberry.field(
        description="This event's delivery position; pass it as `after` to resume after it."
    )
    position: Long
    topic: str = strawberry.field(description="What happened, e.g. `customers.updated`.")
    key: str | None = strawberry.field(description="The id of the entity it is about.")
    occurred_at: datetime
    payload: JSON = strawberry.field(description="Ids and figures; never personal data.")


@strawberry.enum(description="Where a failed job stands.")
class FailedJobStatus(Enum):
    FAILED = "FAILED"
    RETRIED = "RETRIED"
    DISCARDED = "DISCARDED"


@strawberry.type(description="A background job that exhausted its retries or failed for good.")
class FailedJob:
    id: strawberry.ID
    actor: str
    queue: str
    message_id: str
    arguments: JSON
    error_type: str
    error: str
    attempts: int
    failed_at: datetime
    status: FailedJobStatus
    resolved_at: datetime | None
    resolved_by: str | None


FailedJobConnection = Connection[FailedJob]


@strawberry.type
class RetryFailedJobSuccess:
    job: FailedJob


@strawberry.type
class DiscardFailedJobSuccess:
    job: FailedJob


RetryFailedJobPayload = Annotated[
    RetryFailedJobSuccess | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("RetryFailedJobPayload"),
]
DiscardFailedJobPayload = Annotated[
    DiscardFailedJobSuccess | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("DiscardFailedJobPayload"),
]

"""Rate limits as resolvers see them: spend the caller's budget or raise RATE_LIMITED."""

from __future__ import annotations

import math

from graphql import GraphQLError
from strawberry.types import Info

from schema.cost import current_cost

#: The budget the public calculators share (simulateCredit, compareCreditSchemes,
#: simulateInvestment): each root field evaluated, aliases included, spends one unit per
#: started COST_PER_UNIT of its query cost (schema/cost.py) — a full simulation is one unit.
CALCULATORS = "calculators"
COST_PER_UNIT = 1000


class RateLimited(GraphQLError):
    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            f"too many requests: try again in {seconds} s",
            extensions={"code": "RATE_LIMITED", "retryAfter": seconds},
        )


def units(info: Info) -> int:
    """What this root field spends: one unit per started ``COST_PER_UNIT`` of its cost."""
    cost = current_cost.get()
    path = info.path
    field_cost = cost.by_root_field.get(str(path.key)) if cost and path.prev is None else None
    return max(1, math.ceil((field_cost or 0) / COST_PER_UNIT))


async def throttle(info: Info, bucket: str = CALCULATORS, cost: int | None = None) -> None:
    """Count this call against the caller's budget (its address when anonymous, its subject
    when authenticated); raise ``RateLimited`` with ``retryAfter`` seconds when it is spent.
    ``cost`` (units) defaults to what the field's query cost makes it (``units``)."""
    context = info.context
    limiter = getattr(context, "rate_limiter", None)
    if limiter is None:
        return
    if cost is None:
        cost = units(info)
    decision = await limiter.check(
        bucket, principal=context.principal, request=context.request, cost=cost
    )
    if decision is not None and not decision.allowed:
        raise RateLimited(decision.retry_after)

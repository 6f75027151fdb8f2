"""Rate limits as resolvers see them: spend the caller's budget or raise RATE_LIMITED."""

from __future__ import annotations

import math

from graphql import GraphQLError
from strawberry.types import Info

#: The budget the public calculators share (simulateCredit, compareCreditSchemes,
#: simulateInvestment): one unit per root field evaluated, aliases included.
CALCULATORS = "calculators"


class RateLimited(GraphQLError):
    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            f"too many requests: try again in {seconds} s",
            extensions={"code": "RATE_LIMITED", "retryAfter": seconds},
        )


async def throttle(info: Info, bucket: str = CALCULATORS, cost: int = 1) -> None:
    """Count this call against the caller's budget (its address when anonymous, its subject
    when authenticated); raise ``RateLimited`` with ``retryAfter`` seconds when it is spent."""
    context = info.context
    limiter = getattr(context, "rate_limiter", None)
    if limiter is None:
        return
    decision = await limiter.check(
        bucket, principal=context.principal, request=context.request, cost=cost
    )
    if decision is not None and not decision.allowed:
        raise RateLimited(decision.retry_after)

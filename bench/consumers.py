"""The benchmarks' event consumer, loaded with ``TRAMA_WORKER_MODULES=bench.consumers``.

It does nothing beyond what every consumer pays: the inbox claim (an UPDATE of its delivery
row and a SELECT of the event) and the commit, in the actor's own transaction.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from domain.shared.outbox import Event
from workers.registry import consumer

CONSUMER = "bench.count"


@consumer(CONSUMER, "bench.*")
async def count(session: AsyncSession, event: Event) -> None:
    """Minimal work: the delivery row marked done is the count."""

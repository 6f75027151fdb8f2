"""The outbox relay: committed events get gap-free positions, then go to the actors
subscribed to their topics and to the subscription fan-out.

Every process that writes or works runs one. It is woken right after each local commit that
added events and sweeps on a timer, so an event committed anywhere waits at most one sweep
interval. Position assignment is serialized (``outbox.relay_batch``); what happens after the
commit (sending messages, publishing) may be lost in a crash, and is repaired: deliveries
still pending after ``redeliver_after`` are sent again (the consumer's inbox row makes the
repeat harmless), and the fan-out fills any gap from the event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from app import metrics
from app.db import read_session, transaction
from domain.shared import outbox
from workers.broker import Broker
from workers.registry import REGISTRY

log = logging.getLogger("trama.relay")

Publisher = Callable[[list[outbox.Event]], Awaitable[None]]


class Relay:
    def __init__(
        self,
        broker: Broker,
        *,
        publisher: Publisher | None = None,
        sweep_interval: float = 1.0,
        redeliver_after: timedelta = timedelta(minutes=5),
        batch_size: int = 500,
    ) -> None:
        self.broker = broker
        self.publisher = publisher
        self.sweep_interval = sweep_interval
        self.redeliver_after = redeliver_after
        self.batch_size = batch_size
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._running = True
        self._task = asyncio.create_task(self._run(), name="trama-relay")

    async def stop(self) -> None:
        self._running = False
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Thread-safe: ask for a relay pass now (called after commits)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_interval)
            self._wake.clear()
            if not self._running:
                break
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay pass failed; retrying at the next sweep")

    # --- work -----------------------------------------------------------------------------
    async def drain(self) -> int:
        """Relay until no committed event is left without a position."""
        total = 0
        while True:
            count = await self.relay_once()
            total += count
            if count < self.batch_size:
                return total

    async def relay_once(self) -> int:
        async with transaction() as session:
            batch = await outbox.relay_batch(
                session, consumers_for=REGISTRY.consumers_for, limit=self.batch_size
            )
        if not batch.events:
            return 0
        metrics.EVENTS_RELAYED.inc(len(batch.events))
        if batch.deliveries:
            await asyncio.to_thread(self.broker.send_deliveries, batch.deliveries)
        if self.publisher is not None:
            try:
                await self.publisher(batch.events)
                metrics.EVENTS_PUBLISHED.inc(len(batch.events))
            except Exception:  # subscribers fill the gap from the log
                log.warning("publishing %d events failed", len(batch.events), exc_info=True)
        return len(batch.events)

    async def redeliver(self, *, everything: bool = False) -> int:
        """Send again the deliveries still pending long after they were sent (or every
        pending one: an in-process broker starts empty, so whatever was queued in the
        previous run is gone)."""
        older_than = timedelta(seconds=-1) if everything else self.redeliver_after
        async with transaction() as session:
            stale = await outbox.stale_deliveries(session, older_than=older_than, limit=100_000)
        if stale:
            log.info("sending %d stale deliveries again", len(stale))
            await asyncio.to_thread(self.broker.send_deliveries, stale)
        return len(stale)


async def refresh_backlog_gauges() -> outbox.Backlog:
    async with read_session() as session:
        backlog = await outbox.backlog(session)
    metrics.OUTBOX_BACKLOG.set(backlog.unrelayed)
    metrics.DELIVERIES_PENDING.set(backlog.pending_deliveries)
    metrics.OUTBOX_OLDEST_AGE.set(max(backlog.oldest_unrelayed_age, backlog.oldest_pending_age))
    return backlog

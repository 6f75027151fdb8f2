"""Periodic jobs from one scheduler that is safe to run on several machines.

Each process with a scheduler checks the registry's periodic jobs once a second. A job due
at tick ``floor(now / every)`` fires only in the process whose transaction inserts the
``scheduled_runs`` row for that tick; every other process finds the row and skips it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from app.db import transaction
from domain.shared import jobs
from workers.broker import Broker
from workers.registry import REGISTRY

log = logging.getLogger("trama.scheduler")


class Scheduler:
    def __init__(self, broker: Broker, *, resolution: float = 1.0) -> None:
        self.broker = broker
        self.resolution = resolution
        self._fired: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="trama-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.tick(time.time())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(self.resolution)

    async def tick(self, now: float) -> list[str]:
        """Fire the periodic jobs due at ``now`` that no other scheduler fired. Returns them."""
        fired: list[str] = []
        for spec in list(REGISTRY.jobs.values()):
            if spec.every is None:
                continue
            tick = int(now // spec.every.total_seconds())
            if self._fired.get(spec.name) == tick:
                continue
            async with transaction() as session:
                claimed = await jobs.claim_tick(session, job=spec.name, tick=tick)
            self._fired[spec.name] = tick
            if claimed:
                await asyncio.to_thread(self.broker.send_job, spec.name)
                fired.append(spec.name)
        return fired

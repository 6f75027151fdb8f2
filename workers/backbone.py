"""The event backbone of one process: broker, relay, fan-out hub, scheduler, workers.

- ``trama serve`` with Redis (role ``api``): relay (woken by this process's commits) and the
  hub that feeds this process's subscriptions from Redis pub/sub. Workers run elsewhere.
- ``trama serve`` without Redis (embedded): all of it in the one process — the in-process
  broker, its worker threads, the relay publishing straight to the hub, the scheduler.
- ``trama worker`` (role ``worker``): Dramatiq workers, relay and scheduler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

import dramatiq

from app.db import on_events_committed
from app.settings import Settings
from workers.broker import Broker
from workers.fanout import Hub, RedisPublisher
from workers.registry import load_modules, queues
from workers.relay import Publisher, Relay
from workers.scheduler import Scheduler

log = logging.getLogger("trama.backbone")

_current: Backbone | None = None


def current_backbone() -> Backbone | None:
    return _current


class Backbone:
    def __init__(
        self,
        settings: Settings,
        *,
        role: Literal["api", "worker"],
        worker_threads: int | None = None,
        worker_queues: set[str] | None = None,
        run_scheduler: bool | None = None,
        run_workers: bool | None = None,
    ) -> None:
        self.settings = settings
        self.role = role
        self.embedded = not settings.redis_url
        self.worker_threads = worker_threads or settings.embedded_worker_threads
        self.worker_queues = worker_queues
        self.run_workers = (
            (role == "worker" or self.embedded) if run_workers is None else run_workers
        )
        self.run_scheduler = self.run_workers if run_scheduler is None else run_scheduler
        self.broker: Broker | None = None
        self.hub: Hub | None = None
        self.relay: Relay | None = None
        self.scheduler: Scheduler | None = None
        self.worker: dramatiq.Worker | None = None
        self._publisher: RedisPublisher | None = None
        self._unhook: Callable[[], None] | None = None

    @property
    def channel(self) -> str:
        return f"{self.settings.redis_namespace}:events"

    async def start(self) -> None:
        global _current
        settings = self.settings
        load_modules(settings.worker_modules)
        self.broker = Broker(settings.redis_url, namespace=settings.redis_namespace)
        if self.role == "api":
            self.hub = Hub(
                redis_url=settings.redis_url,
                channel=self.channel,
                poll_interval=settings.fanout_poll_interval,
                buffer=settings.subscription_buffer,
            )
            await self.hub.start()
        publisher: Publisher | None = None
        if settings.redis_url:
            self._publisher = RedisPublisher(settings.redis_url, self.channel)
            publisher = self._publisher
        elif self.hub is not None:
            publisher = self.hub.publish_local
        self.relay = Relay(
            self.broker,
            publisher=publisher,
            sweep_interval=settings.relay_sweep_interval,
            redeliver_after=timedelta(seconds=settings.redeliver_after),
        )
        await self.relay.start()
        self._unhook = on_events_committed(self.relay.wake)
        if self.run_workers:
            self.worker = dramatiq.Worker(
                self.broker.broker,
                queues=self.worker_queues or queues() or None,
                worker_threads=self.worker_threads,
                worker_timeout=100,
            )
            await asyncio.to_thread(self.worker.start)
        if self.run_scheduler:
            self.scheduler = Scheduler(self.broker)
            await self.scheduler.start()
        _current = self
        if self.embedded and self.run_workers:
            # The in-process queue died with the previous run: send its deliveries again
            # now (the consumers' inbox absorbs any repeat).
            resent = await self.relay.redeliver(everything=True)
            if resent:
                log.info("re-sent %d deliveries pending from before the start", resent)
        self.relay.wake()  # events committed while nothing ran
        log.info(
            "event backbone up: role=%s broker=%s workers=%s scheduler=%s",
            self.role,
            "redis" if settings.redis_url else "in-process",
            self.worker_threads if self.run_workers else 0,
            self.run_scheduler,
        )

    async def stop(self) -> None:
        global _current
        if _current is self:
            _current = None
        if self._unhook is not None:
            self._unhook()
            self._unhook = None
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.relay is not None:
            await self.relay.stop()
        if self.worker is not None:
            await asyncio.to_thread(self.worker.stop, 10_000)
            self.worker = None
        if self.hub is not None:
            await self.hub.stop()
        if self._publisher is not None:
            await self._publisher.close()
        if self.broker is not None:
            self.broker.close()

    def ping_broker(self) -> None:
        if self.broker is not None:
            self.broker.ping()

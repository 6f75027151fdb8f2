"""Subscription fan-out: relayed events reach every subscriber of this API process.

Relays publish each batch to Redis pub/sub (``<namespace>:events``) when Redis is
configured, or straight to this process's :class:`Hub` when embedded. The hub hands events
to subscribers strictly in position order: when an event arrives past a gap (a message lost
while Redis restarted, a batch published by a relay that crashed), it reads the missing
positions from the event log first. It also polls the log's head on a timer, so a silent
pub/sub loss is repaired within one poll interval.

A subscriber has a bounded buffer. When it fills (a client that does not read), the
subscriber is marked overflowed and its connection is closed with a reason; it can resume
from its last cursor. Memory never grows without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import orjson
from redis import asyncio as aioredis

from app import metrics
from app.db import read_session
from domain.shared import outbox

log = logging.getLogger("trama.fanout")


class SlowConsumer(Exception):
    """The subscriber's buffer filled up."""


@dataclass(eq=False)
class Subscriber:
    scope: outbox.EventScope
    topics: tuple[str, ...] | None
    capacity: int
    key: str | None = None
    queue: asyncio.Queue[outbox.Event] = field(init=False)
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.capacity)

    def wants(self, event: outbox.Event) -> bool:
        return (
            self.scope.allows(event)
            and outbox.matches_topics(event.topic, self.topics)
            and (self.key is None or event.key == self.key)
        )

    def offer(self, event: outbox.Event) -> None:
        if self.overflowed.is_set() or not self.wants(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed.set()
            metrics.SUBSCRIBERS_DROPPED.inc()

    async def next(self) -> outbox.Event:
        """The next event; raises :class:`SlowConsumer` once the buffer has overflowed."""
        if self.overflowed.is_set():
            raise SlowConsumer()
        if not self.queue.empty():
            return self.queue.get_nowait()
        getter = asyncio.ensure_future(self.queue.get())
        overflow = asyncio.ensure_future(self.overflowed.wait())
        try:
            done, _ = await asyncio.wait({getter, overflow}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            overflow.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done and not getter.cancelled():
            return getter.result()
        raise SlowConsumer()


class Hub:
    def __init__(
        self,
        *,
        redis_url: str | None = None,
        channel: str = "trama:events",
        poll_interval: float = 2.0,
        buffer: int = 1000,
    ) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.poll_interval = poll_interval
        self.buffer = buffer
        self.subscribers: set[Subscriber] = set()
        self.last_position = 0
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: aioredis.Redis | None = None
        self.redis_connected = asyncio.Event()

    async def start(self) -> None:
        async with read_session() as session:
            self.last_position = await outbox.last_position(session)
        self._tasks.append(asyncio.create_task(self._poll(), name="trama-fanout-poll"))
        if self.redis_url:
            self._redis = aioredis.from_url(self.redis_url)
            self._tasks.append(asyncio.create_task(self._listen(), name="trama-fanout-redis"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # --- subscribers ----------------------------------------------------------------------
    def subscribe(
        self,
        scope: outbox.EventScope,
        topics: tuple[str, ...] | None,
        *,
        key: str | None = None,
        capacity: int | None = None,
    ) -> Subscriber:
        subscriber = Subscriber(scope, topics, capacity or self.buffer, key)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    # --- receiving ------------------------------------------------------------------------
    async def publish_local(self, events: list[outbox.Event]) -> None:
        """The embedded relay's publisher."""
        await self.receive(events)

    async def receive(self, events: list[outbox.Event]) -> None:
        """Dispatch events in position order, filling gaps from the log."""
        async with self._lock:
            for event in sorted(events, key=lambda e: e.position):
                if event.position <= self.last_position:
                    continue
                if event.position > self.last_position + 1:
                    await self._fill(event.position - 1)
                self._dispatch(event)

    async def _fill(self, up_to: int) -> None:
        async with read_session() as session:
            missing = await outbox.events_between(session, after=self.last_position, up_to=up_to)
        for event in missing:
            self._dispatch(event)
        # Positions are gap-free in the log; whatever is absent was purged long ago.
        self.last_position = max(self.last_position, up_to)

    def _dispatch(self, event: outbox.Event) -> None:
        self.last_position = event.position
        for subscriber in list(self.subscribers):
            subscriber.offer(event)

    async def catch_up(self) -> None:
        async with read_session() as session:
            head = await outbox.last_position(session)
        if head > self.last_position:
            async with self._lock:
                if head > self.last_position:
                    await self._fill(head)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("fan-out poll failed", exc_info=True)

    async def _listen(self) -> None:
        """Follow the Redis channel, reconnecting with backoff when Redis goes away."""
        assert self._redis is not None
        delay = 0.2
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.redis_connected.set()
                delay = 0.2
                # Whatever was published while we were away comes from the log.
                await self.catch_up()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    data = orjson.loads(message["data"])
                    await self.receive([outbox.Event.from_wire(item) for item in data])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.redis_connected.clear()
                log.warning("fan-out lost Redis (%s); reconnecting in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


class RedisPublisher:
    """The relay's publisher when several processes share Redis."""

    def __init__(self, redis_url: str, channel: str) -> None:
        self.channel = channel
        self._redis = aioredis.from_url(redis_url)

    async def __call__(self, events: list[outbox.Event]) -> None:
        body = orjson.dumps([e.to_wire() for e in events])
        try:
            await self._redis.publish(self.channel, body)
        except (aioredis.ConnectionError, aioredis.TimeoutError):
            # A pooled connection may predate a Redis restart: one retry on a fresh one.
            await self._redis.publish(self.channel, body)

    async def close(self) -> None:
        await self._redis.aclose()

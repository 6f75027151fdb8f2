"""The Dramatiq broker: Redis when ``TRAMA_REDIS_URL`` is set, otherwise in-process.

Actors are declared from the registry on the broker built here. Middleware, in order:
time limits, shutdown notices, the current message, the actors' own event loop
(``AsyncIO``: actors get their own loop and so their own database engine), closing that
engine at shutdown, metrics, the dead-letter list, and retries with exponential backoff.
(Dramatiq runs ``after_*`` hooks in reverse order, so the dead-letter list sees a message
after ``Retries`` has decided whether it failed for good.)
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AsyncIO,
    CurrentMessage,
    Middleware,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from app import metrics
from app.db import close_loop_database, transaction
from domain.shared import jobs, outbox
from workers.registry import REGISTRY, ConsumerSpec, JobSpec

log = logging.getLogger("trama.workers")

#: Message option naming the consumer of an event delivery.
CONSUMER_OPTION = "trama_consumer"


def _on_actor_loop(coro: Any) -> None:
    """Run a coroutine on the actors' event loop from a worker thread, logging failures."""
    thread = get_event_loop_thread()
    try:
        if thread is None:
            asyncio.run(coro)
        else:
            thread.run_coroutine(coro)
    except Exception:
        log.exception("worker bookkeeping failed")


async def _finish_leftover_tasks(grace: float = 5.0) -> int:
    """Cancel what still runs on the actors' loop once the worker threads are gone (a
    coroutine an interrupted or timed-out worker thread left behind) and wait for it to end:
    Dramatiq stops the loop without doing so, and such a task would be destroyed pending
    later, in the middle of something else, its session never closed."""
    current = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.wait(leftovers, timeout=grace)
        log.warning("cancelled %d actor coroutines left running at shutdown", len(leftovers))
    return len(leftovers)


class CloseDatabase(Middleware):
    """Finish what is left on the actors' loop, then dispose of their engine, before the
    loop stops."""

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        pass

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        _on_actor_loop(_finish_leftover_tasks())
        _on_actor_loop(close_loop_database())


class JobMetrics(Middleware):
    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._started[message.message_id] = time.perf_counter()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started = self._started.pop(message.message_id, None)
        if started is not None:
            metrics.JOB_DURATION.labels(message.actor_name).observe(time.perf_counter() - started)
        if exception is None:
            outcome = "ok"
        elif getattr(message, "failed", False):
            outcome = "failed"
        else:
            outcome = "retried"
        metrics.JOBS.labels(message.actor_name, outcome).inc()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._started.pop(message.message_id, None)


class FailedJobs(Middleware):
    """Jobs that fail for good land in ``failed_jobs``; a delivery records its attempts."""

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None:
            return
        final = bool(getattr(message, "failed", False))
        consumer = message.options.get(CONSUMER_OPTION)
        _on_actor_loop(self._record(message, exception, final, consumer))

    async def _record(
        self, message: Any, exception: BaseException, final: bool, consumer: str | None
    ) -> None:
        async with transaction() as session:
            if consumer and message.args:
                await outbox.note_failed_attempt(
                    session,
                    event_id=uuid.UUID(str(message.args[0])),
                    consumer=consumer,
                    error=f"{type(exception).__name__}: {exception}",
                    final=final,
                )
            if final:
                await jobs.record_failure(
                    session,
                    actor=message.actor_name,
                    queue=message.queue_name,
                    message_id=message.message_id,
                    args=list(message.args),
                    kwargs=dict(message.kwargs),
                    error=exception,
                    attempts=int(message.options.get("retries", 0)),
                )
        if final:
            log.error(
                "job %s (%s) failed for good: %s",
                message.actor_name,
                message.message_id,
                exception,
            )


def _middleware(max_retries: int) -> list[Middleware]:
    return [
        TimeLimit(),
        ShutdownNotifications(),
        CurrentMessage(),
        AsyncIO(),
        CloseDatabase(),
        JobMetrics(),
        FailedJobs(),
        Retries(max_retries=max_retries),
    ]


def _consumer_actor(spec: ConsumerSpec) -> Callable[[str], Any]:
    async def run(event_id: str) -> None:
        async with transaction() as session:
            event = await outbox.claim_delivery(
                session, event_id=uuid.UUID(event_id), consumer=spec.name
            )
            if event is None:
                return  # already done (a redelivered message): nothing twice
            await spec.fn(session, event)

    run.__name__ = spec.name.replace(".", "_")
    return run


def _job_actor(spec: JobSpec) -> Callable[..., Any]:
    async def run(**kwargs: Any) -> None:
        if spec.transactional:
            message = CurrentMessage.get_current_message()
            async with transaction() as session:
                if message is not None and not await jobs.claim_message(
                    session, message_id=message.message_id, actor=spec.name
                ):
                    return  # this message was handled already
                result = await spec.fn(session, **kwargs)
        else:
            result = await spec.fn(**kwargs)
        if result:  # periodic jobs that found nothing to do stay quiet
            log.info("job %s done: %s", spec.name, result)

    run.__name__ = spec.name.replace(".", "_")
    return run


class Broker:
    """A Dramatiq broker with Trama's actors declared on it."""

    def __init__(self, redis_url: str | None, *, namespace: str = "trama") -> None:
        self.redis_url = redis_url
        self.broker: dramatiq.Broker
        if redis_url:
            self.broker = RedisBroker(
                url=redis_url, namespace=f"{namespace}-dramatiq", middleware=_middleware(5)
            )
        else:
            self.broker = StubBroker(middleware=_middleware(5))
            self.broker.emit_after("process_boot")
        self.actors: dict[str, dramatiq.Actor[Any, Any]] = {}
        for consumer_spec in REGISTRY.consumers.values():
            self._declare(consumer_spec.name, _consumer_actor(consumer_spec), consumer_spec)
        for job_spec in REGISTRY.jobs.values():
            self._declare(job_spec.name, _job_actor(job_spec), job_spec)

    @property
    def is_redis(self) -> bool:
        return self.redis_url is not None

    def _declare(self, name: str, fn: Callable[..., Any], spec: ConsumerSpec | JobSpec) -> None:
        policy = spec.retry
        self.actors[name] = dramatiq.actor(
            actor_name=name,
            queue_name=spec.queue,
            broker=self.broker,
            max_retries=policy.max_retries,
            min_backoff=policy.min_backoff_ms,
            max_backoff=policy.max_backoff_ms,
            time_limit=policy.time_limit_ms,
            throws=policy.throws,
        )(fn)

    # --- sending (blocking: call from a thread when on an event loop) ---------------------
    def send_deliveries(self, deliveries: list[tuple[uuid.UUID, str]]) -> None:
        for event_id, consumer in deliveries:
            actor = self.actors.get(consumer)
            if actor is None:
                log.warning("no actor %s in this process; delivery left to the sweep", consumer)
                continue
            options: dict[str, Any] = {CONSUMER_OPTION: consumer}
            actor.send_with_options(args=(str(event_id),), **options)

    def send_job(self, name: str, kwargs: dict[str, Any] | None = None) -> None:
        self.actors[name].send_with_options(kwargs=kwargs or {})

    def resend(self, actor_name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Send a dead-lettered job again with fresh retries."""
        actor = self.actors.get(actor_name)
        if actor is None:
            raise LookupError(f"no actor {actor_name!r} is loaded")
        options: dict[str, Any] = {}
        if actor_name in REGISTRY.consumers:
            options[CONSUMER_OPTION] = actor_name
        actor.send_with_options(args=tuple(args), kwargs=kwargs, **options)

    def ping(self) -> None:
        if isinstance(self.broker, RedisBroker):
            self.broker.client.ping()

    def close(self) -> None:
        self.broker.close()

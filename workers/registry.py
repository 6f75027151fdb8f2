"""What the workers run: event consumers and jobs, declared with decorators.

``@consumer("customers.index", "customers.*")`` subscribes an async function
``fn(session, event)`` to topics; each (event, consumer) pair is delivered exactly once in
effect: the consumer runs in the transaction that marks its delivery done.
``@job("events.purge", every=timedelta(hours=1))`` declares an async job ``fn(**kwargs)``,
optionally periodic. Both become Dramatiq actors named ``<domain>.<verb>``.

Every process that relays events must load the same modules: the relay creates deliveries
for the consumers loaded where it runs.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.shared.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from domain.shared.outbox import Event, matches_topics

#: Modules holding Trama's own actors; TRAMA_WORKER_MODULES adds more.
BUILTIN_MODULES = (
    "workers.actors.events",
    "workers.actors.credits",
    "workers.actors.case_sync",
    "workers.actors.cases",
    "workers.actors.collections_work",
    "workers.actors.collections_matching",
    "workers.actors.collections_reports",
    "workers.actors.collections_statements",
    "workers.actors.loyalty",
    "workers.actors.crm",
    "workers.actors.marketplace",
    "workers.actors.scoring",
    "workers.actors.webhooks",
    "workers.actors.origination",
    "workers.actors.docuseal",
)

_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


class PermanentError(Exception):
    """Raised by a job or consumer when retrying cannot help."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    min_backoff_ms: int = 1_000
    max_backoff_ms: int = 120_000
    time_limit_ms: int = 60_000
    #: Errors that go straight to the dead-letter list.
    throws: tuple[type[BaseException], ...] = (
        PermanentError,
        ValidationFailed,
        NotFound,
        Forbidden,
        InvalidTransition,
    )


ConsumerFn = Callable[[AsyncSession, Event], Awaitable[None]]
JobFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topics: tuple[str, ...]
    fn: ConsumerFn
    retry: RetryPolicy
    queue: str


@dataclass(frozen=True)
class JobSpec:
    name: str
    fn: JobFn
    every: timedelta | None
    retry: RetryPolicy
    queue: str
    #: Run ``fn(session, **kwargs)`` in one transaction with an inbox row keyed by the
    #: message id: a message delivered twice does its work once.
    transactional: bool = False


@dataclass
class Registry:
    consumers: dict[str, ConsumerSpec] = field(default_factory=dict)
    jobs: dict[str, JobSpec] = field(default_factory=dict)

    def _check_name(self, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"actor name {name!r}: use '<domain>.<verb>'")
        if name in self.consumers or name in self.jobs:
            raise ValueError(f"actor {name!r} is declared twice")

    def consumers_for(self, topic: str) -> list[str]:
        return [c.name for c in self.consumers.values() if matches_topics(topic, c.topics)]

    def remove(self, name: str) -> None:
        self.consumers.pop(name, None)
        self.jobs.pop(name, None)


REGISTRY = Registry()


def consumer(
    name: str, *topics: str, retry: RetryPolicy | None = None, queue: str = "events"
) -> Callable[[ConsumerFn], ConsumerFn]:
    if not topics:
        raise ValueError(f"consumer {name!r} needs at least one topic")

    def register(fn: ConsumerFn) -> ConsumerFn:
        REGISTRY._check_name(name)
        REGISTRY.consumers[name] = ConsumerSpec(
            name, tuple(topics), fn, retry or RetryPolicy(), queue
        )
        return fn

    return register


def job(
    name: str,
    *,
    every: timedelta | None = None,
    retry: RetryPolicy | None = None,
    queue: str = "default",
    transactional: bool = False,
) -> Callable[[JobFn], JobFn]:
    """Declare a job. ``transactional=True``: ``fn(session, **kwargs)`` runs in one
    transaction guarded by the job inbox (idempotent per message)."""

    def register(fn: JobFn) -> JobFn:
        REGISTRY._check_name(name)
        REGISTRY.jobs[name] = JobSpec(name, fn, every, retry or RetryPolicy(), queue, transactional)
        return fn

    return register


def load_modules(extra: Iterable[str] = ()) -> None:
    """Import the modules that declare actors (idempotent)."""
    for module in (*BUILTIN_MODULES, *extra):
        importlib.import_module(module)


def queues() -> set[str]:
    return {c.queue for c in REGISTRY.consumers.values()} | {
        j.queue for j in REGISTRY.jobs.values()
    }

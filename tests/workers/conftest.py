"""A running event backbone in the test process: relay, fan-out hub, worker threads and
(optionally) the scheduler, on the test's own database; Redis-backed when the suite runs
with TRAMA_TEST_REDIS_URL (with a namespace of its own), in-process otherwise."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.db import Database
from app.settings import Settings
from tests.conftest import make_settings
from workers.backbone import Backbone
from workers.registry import REGISTRY, ConsumerSpec, RetryPolicy


@pytest.fixture
def backbone_settings(session_tmp: Path, database_url: str) -> Settings:
    return make_settings(
        session_tmp,
        database_url,
        redis_namespace=f"test-{uuid.uuid4().hex[:10]}",
        relay_sweep_interval=0.2,
        fanout_poll_interval=0.3,
        redeliver_after=1.0,
        embedded_worker_threads=2,
    )


@pytest.fixture
async def start_backbone(
    backbone_settings: Settings, db: Database
) -> AsyncIterator[Callable[..., Awaitable[Backbone]]]:
    started: list[Backbone] = []

    async def start(**options: Any) -> Backbone:
        options.setdefault("role", "api")
        options.setdefault("run_workers", True)
        options.setdefault("run_scheduler", False)
        backbone = Backbone(backbone_settings, **options)
        await backbone.start()
        started.append(backbone)
        return backbone

    try:
        yield start
    finally:
        for backbone in reversed(started):
            await backbone.stop()


class Recorder:
    """A consumer that records what it is given (and can be told to fail)."""

    def __init__(self) -> None:
        self.seen: list[tuple[uuid.UUID, str]] = []
        self.failures_left = 0
        self.always_fail = False

    async def __call__(self, session: Any, event: Any) -> None:
        if self.always_fail or self.failures_left > 0:
            self.failures_left -= 1
            raise RuntimeError("the partner platform is down")
        self.seen.append((event.id, event.topic))


@pytest.fixture
def recorder() -> Iterator[Callable[..., Recorder]]:
    """``recorder("tests.record", "customers.*", max_retries=1)`` registers a consumer."""
    names: list[str] = []

    def make(name: str, *topics: str, **retry: Any) -> Recorder:
        rec = Recorder()
        policy = RetryPolicy(min_backoff_ms=50, max_backoff_ms=200, **retry)
        REGISTRY.consumers[name] = ConsumerSpec(name, topics, rec, policy, "events")
        names.append(name)
        return rec

    yield make
    for name in names:
        REGISTRY.remove(name)


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)

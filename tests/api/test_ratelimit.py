"""The rate limiter: GCRA arithmetic, both backends, the caller policy, the settings.

The Redis tests run wherever ``TRAMA_TEST_REDIS_URL`` points at a reachable server (SQLite
runs included) and are skipped otherwise. Each uses keys under a prefix of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.ratelimit import (
    MICROS,
    CallerLimiter,
    MemoryBackend,
    Rate,
    RateLimitBackend,
    RedisBackend,
    build_limiter,
    client_address,
)
from app.settings import Settings
from domain.shared.principal import Principal

REDIS_URL = os.environ.get("TRAMA_TEST_REDIS_URL", "").strip()


async def _redis_reachable() -> bool:
    if not REDIS_URL:
        return False
    client = redis_asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


class Clock:
    """A settable clock, in seconds."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    if not await _redis_reachable():
        pytest.skip("no Redis at TRAMA_TEST_REDIS_URL")
    client = redis_asyncio.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def backend(
    request: pytest.FixtureRequest, clock: Clock
) -> AsyncIterator[tuple[RateLimitBackend, Clock]]:
    if request.param == "memory":
        made: RateLimitBackend = MemoryBackend(clock=clock)
    else:
        if not await _redis_reachable():
            pytest.skip("no Redis at TRAMA_TEST_REDIS_URL")
        made = RedisBackend(REDIS_URL, clock=clock)
    yield made, clock
    await made.close()


# --- rates --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        ("60/minute", 60, 60),
        ("60/min", 60, 60),
        ("5/10s", 5, 10),
        ("5 / 10 seconds", 5, 10),
        ("1000/hour", 1000, 3600),
        ("3/h", 3, 3600),
        ("20000/day", 20000, 86400),
        ("2/second", 2, 1),
        (" 10/MINUTES ", 10, 60),
    ],
)
def test_rate_parse(text: str, limit: int, period: int) -> None:
    assert Rate.parse(text) == Rate(limit, period)


@pytest.mark.parametrize("text", ["off", "OFF", "none", "unlimited", ""])
def test_rate_off(text: str) -> None:
    assert Rate.parse(text) is None


@pytest.mark.parametrize(
    "text", ["60", "0/minute", "60/fortnight", "-1/minute", "a/minute", "5/ms", "1.5/minute"]
)
def test_rate_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        Rate.parse(text)


def test_settings_check_the_rates(tmp_path: Path) -> None:
    s = Settings(var_dir=tmp_path, public_rate_limit="5/10s", authenticated_rate_limit="off")
    limiter = build_limiter(s)
    assert limiter.anonymous == Rate(5, 10)
    assert limiter.authenticated is None
    assert Settings(var_dir=tmp_path).public_rate_limit == "60/minute"
    with pytest.raises(ValidationError, match="public_rate_limit"):
        Settings(var_dir=tmp_path, public_rate_limit="lots")
    with pytest.raises(ValidationError, match="authenticated_rate_limit"):
        Settings(var_dir=tmp_path, authenticated_rate_limit="0/minute")


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRAMA_PUBLIC_RATE_LIMIT", "7/minute")
    monkeypatch.setenv("TRAMA_AUTHENTICATED_RATE_LIMIT", "70/minute")
    s = Settings(var_dir=tmp_path)
    assert (s.public_rate_limit, s.authenticated_rate_limit) == ("7/minute", "70/minute")


async def test_build_limiter_picks_redis_when_configured(tmp_path: Path) -> None:
    memory = build_limiter(Settings(var_dir=tmp_path, redis_url=None))
    assert isinstance(memory.backend, MemoryBackend)
    shared = build_limiter(
        Settings(var_dir=tmp_path, redis_url="redis://127.0.0.1:6379/14", redis_namespace="x")
    )
    try:
        assert isinstance(shared.backend, RedisBackend)
        assert shared.prefix == "x:ratelimit:"
    finally:
        await shared.close()


# --- both backends ------------------------------------------------------------------------
async def test_burst_then_one_per_interval(backend: tuple[RateLimitBackend, Clock]) -> None:
    limiter, clock = backend
    rate = Rate(3, 60)  # 3 at once, then one every 20 s
    key = f"test:{uuid.uuid4().hex}"
    decisions = [await limiter.hit(key, rate) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    denied = await limiter.hit(key, rate)
    assert not denied.allowed
    assert denied.remaining == 0
    assert denied.retry_after == pytest.approx(20)
    assert denied.reset_after == pytest.approx(60)

    clock.advance(19.9)
    assert not (await limiter.hit(key, rate)).allowed  # a denied hit costs nothing
    clock.advance(0.1)
    again = await limiter.hit(key, rate)
    assert again.allowed and again.remaining == 0
    assert not (await limiter.hit(key, rate)).allowed

    clock.advance(60)  # a whole period of silence: the whole budget is back
    assert [(await limiter.hit(key, rate)).allowed for _ in range(4)] == [True] * 3 + [False]


async def test_keys_are_independent(backend: tuple[RateLimitBackend, Clock]) -> None:
    limiter, _ = backend
    rate = Rate(1, 60)
    a, b = f"test:{uuid.uuid4().hex}", f"test:{uuid.uuid4().hex}"
    assert (await limiter.hit(a, rate)).allowed
    assert not (await limiter.hit(a, rate)).allowed
    assert (await limiter.hit(b, rate)).allowed


async def test_cost(backend: tuple[RateLimitBackend, Clock]) -> None:
    limiter, _ = backend
    rate = Rate(10, 10)
    key = f"test:{uuid.uuid4().hex}"
    first = await limiter.hit(key, rate, cost=7)
    assert first.allowed and first.remaining == 3
    denied = await limiter.hit(key, rate, cost=4)
    assert not denied.allowed and denied.remaining == 3
    assert denied.retry_after == pytest.approx(1)
    assert (await limiter.hit(key, rate, cost=3)).allowed


async def test_an_odd_interval_still_allows_the_whole_burst(
    backend: tuple[RateLimitBackend, Clock],
) -> None:
    limiter, _ = backend
    rate = Rate(7, 60)  # 8.571428… s an interval: integer microseconds keep it exact
    key = f"test:{uuid.uuid4().hex}"
    assert [(await limiter.hit(key, rate)).allowed for _ in range(8)] == [True] * 7 + [False]


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(1, 6),
    period=st.integers(1, 30),
    gaps=st.lists(st.integers(0, 15_000), min_size=1, max_size=60),  # milliseconds
)
def test_no_window_lets_more_through_than_the_rate(
    limit: int, period: int, gaps: list[int]
) -> None:
    """In any window of length t, at most ``limit + t // interval`` hits are allowed; and a
    hit is refused only while the caller is over budget (``retry_after`` later it passes)."""
    rate = Rate(limit, period)
    clock = Clock(0)
    backend = MemoryBackend(clock=clock)
    allowed: list[int] = []
    now_ms = 0
    for gap in gaps:
        now_ms += gap
        clock.now = now_ms / 1000
        decision = backend.hit_now("k", rate)
        if decision.allowed:
            allowed.append(now_ms * 1000)
        else:
            probe = MemoryBackend(clock=clock)
            probe._tat = dict(backend._tat)
            clock.now += decision.retry_after
            assert probe.hit_now("k", rate).allowed
            clock.now = now_ms / 1000
    for i, start in enumerate(allowed):
        for j in range(i, len(allowed)):
            span = allowed[j] - start
            assert j - i + 1 <= rate.limit + span // rate.interval_us


async def test_memory_backend_forgets_the_least_recent_keys(clock: Clock) -> None:
    backend = MemoryBackend(clock=clock, max_keys=10)
    rate = Rate(1, 60)
    for n in range(25):
        await backend.hit(f"k{n}", rate)
    assert len(backend) <= 10
    assert not (await backend.hit("k24", rate)).allowed  # the most recent are kept
    clock.advance(61)
    await backend.hit("new", rate)
    await backend.hit("new2", rate)
    assert len(backend) <= 10


# --- Redis --------------------------------------------------------------------------------
async def test_redis_on_the_server_clock(redis_client: Any, prefix: str) -> None:
    """Without a clock of ours the script reads Redis TIME: a real 2/second bucket."""
    backend = RedisBackend(REDIS_URL)
    rate = Rate(2, 1)
    key = f"{prefix}real"
    try:
        assert (await backend.hit(key, rate)).allowed
        assert (await backend.hit(key, rate)).allowed
        denied = await backend.hit(key, rate)
        assert not denied.allowed
        assert 0 < denied.retry_after <= 0.5
        ttl = await redis_client.pttl(key)
        assert 0 < ttl <= 1000  # the bucket key expires once it is full again
        await asyncio.sleep(denied.retry_after + 0.05)
        assert (await backend.hit(key, rate)).allowed
    finally:
        await backend.close()
        await redis_client.delete(key)


async def test_redis_is_atomic_across_processes(redis_client: Any, prefix: str) -> None:
    """Two clients (as two API processes would) hammering one key never overspend it."""
    first, second = RedisBackend(REDIS_URL), RedisBackend(REDIS_URL)
    rate = Rate(10, 60)
    key = f"{prefix}shared"
    try:
        results = await asyncio.gather(
            *(backend.hit(key, rate) for backend in (first, second) for _ in range(25))
        )
        assert sum(d.allowed for d in results) == 10
    finally:
        await first.close()
        await second.close()
        await redis_client.delete(key)


async def test_redis_unreachable_falls_back_to_memory(caplog: pytest.LogCaptureFixture) -> None:
    backend = RedisBackend("redis://127.0.0.1:1/0", timeout=0.2)  # nothing listens on port 1
    rate = Rate(2, 60)
    try:
        with caplog.at_level(logging.WARNING, logger="trama.ratelimit"):
            decisions = [await backend.hit("k", rate) for _ in range(3)]
        assert [d.allowed for d in decisions] == [True, True, False]
        assert sum("Redis unavailable" in r.message for r in caplog.records) == 1
    finally:
        await backend.close()


# --- who is counted -----------------------------------------------------------------------
def _request(host: str | None) -> Any:
    return SimpleNamespace(client=None if host is None else SimpleNamespace(host=host, port=1))


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
)
def test_client_address(host: str | None, address: str) -> None:
    assert client_address(_request(host)) == address


def _principal(subject: str) -> Principal:
    return Principal(subject=subject, issuer="http://trama.test")


async def test_caller_policy(clock: Clock, prefix: str) -> None:
    limiter = CallerLimiter(
        MemoryBackend(clock=clock),
        anonymous=Rate(2, 60),
        authenticated=Rate(4, 60),
        prefix=prefix,
    )
    here, there = _request("198.51.100.1"), _request("198.51.100.2")

    async def allowed(n: int, **who: Any) -> list[bool]:
        out = []
        for _ in range(n):
            decision = await limiter.check("calc", **who)
            assert decision is not None
            out.append(decision.allowed)
        return out

    assert await allowed(3, principal=None, request=here) == [True, True, False]
    assert await allowed(1, principal=None, request=there) == [True]  # per address
    # A logged-in caller is counted by subject, with its own higher budget, from any address.
    alice = _principal("alice")
    assert await allowed(2, principal=alice, request=here) == [True, True]
    assert await allowed(3, principal=alice, request=there) == [True, True, False]
    assert await allowed(1, principal=_principal("bob"), request=here) == [True]
    key, _ = limiter.key_for("calc", principal=alice, request=here)
    assert key.startswith(f"{prefix}calc:sub:") and "alice" not in key
    key, _ = limiter.key_for("calc", principal=None, request=here)
    assert "198.51" not in key  # addresses are hashed too

    unlimited = CallerLimiter(MemoryBackend(), anonymous=None, authenticated=None)
    assert await unlimited.check("calc", principal=None, request=here) is None


def test_interval_rounding() -> None:
    rate = Rate(7, 60)
    assert rate.interval_us == 60 * MICROS // 7
    assert rate.burst_us <= 60 * MICROS
    assert str(Rate(60, 60)) == "60/60s"

"""Rate limits per caller: a token bucket in memory, or shared by every process through Redis.

The algorithm is GCRA (generic cell rate algorithm), a token bucket kept as a single
timestamp per caller, the *theoretical arrival time* (TAT). A rate ``N/period`` lets a caller
spend ``N`` requests at once, then one more every ``period / N``; after ``period`` of silence
the whole budget is back. Times are integer microseconds, so a full burst never fails on a
rounding error.

Backends:

- :class:`MemoryBackend` — one dict per process (each API process counts on its own).
- :class:`RedisBackend` — one Lua script per hit (read, decide and write in one atomic
  step, on the Redis server's clock), so all API processes share one budget per caller. If
  Redis cannot be reached the hit is counted in a per-process memory backend instead and a
  warning is logged: the limit degrades, it never blocks or fails the request.

:class:`CallerLimiter` is the policy the resolvers use: anonymous callers are counted per
client address (an IPv6 address by its /64 prefix), authenticated callers per subject with
their own, higher budget. Keys hold a hash of the address or subject, not the value itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("trama.ratelimit")

__all__ = [
    "CallerLimiter",
    "Decision",
    "MemoryBackend",
    "Rate",
    "RateLimitBackend",
    "RedisBackend",
    "build_limiter",
    "client_address",
]

MICROS = 1_000_000
_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}  # fmt: skip
_RATE = re.compile(r"^(\d{1,9})\s*/\s*(\d{1,6})?\s*([a-z]+)$")
_OFF = frozenset({"", "off", "none", "unlimited"})


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` requests per ``period`` seconds (and a burst of ``limit``)."""

    limit: int
    period: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period < 1:
            raise ValueError("a rate needs at least one request per at least one second")

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """``"60/minute"``, ``"5/10s"``, ``"1000/hour"``, ``"20000/day"``; ``"off"`` is None."""
        value = text.strip().lower()
        if value in _OFF:
            return None
        match = _RATE.match(value)
        unit = _UNITS.get(match.group(3)) if match else None
        if match is None or unit is None:
            raise ValueError(
                f"{text!r} is not a rate like '60/minute', '5/10s', '1000/hour' or 'off'"
            )
        return cls(limit=int(match.group(1)), period=int(match.group(2) or 1) * unit)

    @property
    def interval_us(self) -> int:
        """Microseconds one request costs; at least 1."""
        return max(1, self.period * MICROS // self.limit)

    @property
    def burst_us(self) -> int:
        """How far ahead of now the TAT may run: ``limit`` intervals."""
        return self.limit * self.interval_us

    def __str__(self) -> str:
        return f"{self.limit}/{self.period}s"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int  # requests still allowed right now
    retry_after: float  # seconds until this request would be allowed (0 when allowed)
    reset_after: float  # seconds until the whole budget is back


def _decide(stored: int | None, now: int, rate: Rate, cost: int) -> tuple[Decision, int | None]:
    """One GCRA step: the decision and the new TAT to store (None: store nothing)."""
    interval, burst = rate.interval_us, rate.burst_us
    tat = now if stored is None or stored < now else stored
    new_tat = tat + cost * interval
    allow_at = new_tat - burst
    if allow_at > now:
        remaining = max(0, (burst - (tat - now)) // interval)
        return Decision(
            False, rate.limit, remaining, (allow_at - now) / MICROS, (tat - now) / MICROS
        ), None
    remaining = (burst - (new_tat - now)) // interval
    return Decision(True, rate.limit, remaining, 0.0, (new_tat - now) / MICROS), new_tat


class RateLimitBackend(Protocol):
    async def hit(self, key: str, rate: Rate, cost: int = 1) -> Decision: ...

    async def close(self) -> None: ...


class MemoryBackend:
    """Buckets in this process's memory, at most ``max_keys`` of them (least recent dropped).

    ``clock`` returns seconds (monotonic by default). Each hit runs without awaiting, so it
    is atomic within the event loop.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self.clock = clock
        self.max_keys = max_keys
        self._tat: dict[str, int] = {}

    def hit_now(self, key: str, rate: Rate, cost: int = 1) -> Decision:
        now = round(self.clock() * MICROS)
        decision, new_tat = _decide(self._tat.get(key), now, rate, cost)
        if new_tat is not None:
            self._tat.pop(key, None)  # re-insert: the dict stays in least-recent-first order
            self._tat[key] = new_tat
            if len(self._tat) > self.max_keys:
                self._shrink(now)
        return decision

    async def hit(self, key: str, rate: Rate, cost: int = 1) -> Decision:
        return self.hit_now(key, rate, cost)

    def _shrink(self, now: int) -> None:
        for key in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[key]  # a bucket whose TAT has passed is full: same as absent
        excess = len(self._tat) - self.max_keys * 9 // 10
        for key in list(self._tat)[: max(0, excess)]:
            del self._tat[key]

    def __len__(self) -> int:
        return len(self._tat)

    async def close(self) -> None:
        self._tat.clear()


#: KEYS[1] the bucket; ARGV: interval_us, burst_us, cost, now_us ('' = the server's clock).
#: Replies {allowed (0/1), retry_after_us, reset_after_us}; numbers as strings because a Lua
#: number would be truncated to an integer by the reply conversion anyway, and '%.0f' keeps
#: every digit where tostring would print 1.7e+15.
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now
if ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '') or now
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - burst
if allow_at > now then
  return {0, string.format('%.0f', allow_at - now), string.format('%.0f', tat - now)}
end
local ttl = math.ceil((new_tat - now) / 1000)
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl)
return {1, '0', string.format('%.0f', new_tat - now)}
"""


class RedisBackend:
    """Buckets in Redis, shared by every process that uses the same server and prefix.

    ``clock`` (seconds) is for tests; by default the Redis server's clock decides, so the
    processes' clocks never need to agree.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] | None = None,
        timeout: float = 0.5,
        client: Any = None,
    ) -> None:
        if client is None:
            import redis.asyncio as redis_asyncio

            client = redis_asyncio.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        self.redis = client
        self.clock = clock
        self._script = client.register_script(GCRA_SCRIPT)
        self.fallback = MemoryBackend()
        self._warned_at = float("-inf")

    async def hit(self, key: str, rate: Rate, cost: int = 1) -> Decision:
        now = "" if self.clock is None else str(round(self.clock() * MICROS))
        try:
            reply = await self._script(
                keys=[key], args=[rate.interval_us, rate.burst_us, cost, now]
            )
        except Exception as exc:  # Redis down or slow: count here rather than fail
            self._warn(exc)
            return self.fallback.hit_now(key, rate, cost)
        allowed, retry_us, reset_us = int(reply[0]), int(reply[1]), int(reply[2])
        interval, burst = rate.interval_us, rate.burst_us
        remaining = max(0, (burst - reset_us) // interval)
        return Decision(bool(allowed), rate.limit, remaining, retry_us / MICROS, reset_us / MICROS)

    def _warn(self, exc: Exception) -> None:
        moment = time.monotonic()
        if moment - self._warned_at >= 60:
            self._warned_at = moment
            log.warning(
                "rate limiter: Redis unavailable (%s); counting in this process only",
                exc.__class__.__name__,
            )

    async def close(self) -> None:
        await self.redis.aclose()


def client_address(request: Any) -> str:
    """The address a limit is counted against: the ASGI client host (uvicorn has already
    applied ``X-Forwarded-For`` from trusted proxies); IPv6 by its /64, since one host is
    commonly given a whole /64; ``unknown`` when the server gives no client."""
    client = getattr(request, "client", None)
    host = getattr(client, "host", None) if client is not None else None
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return str(host)[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class CallerLimiter:
    """Who is counted, against which budget: the policy over a backend.

    Anonymous callers share ``anonymous`` per client address; authenticated callers get
    ``authenticated`` per subject (their issuer and ``sub``), wherever they call from. A
    ``None`` rate means no limit for that kind of caller.
    """

    def __init__(
        self,
        backend: RateLimitBackend,
        *,
        anonymous: Rate | None,
        authenticated: Rate | None,
        prefix: str = "trama:ratelimit:",
        buckets: dict[str, Rate | None] | None = None,
    ) -> None:
        self.backend = backend
        self.anonymous = anonymous
        self.authenticated = authenticated
        self.prefix = prefix
        #: Budgets of their own (bucket -> rate), for every kind of caller.
        self.buckets = dict(buckets or {})

    def key_for(self, bucket: str, *, principal: Any, request: Any) -> tuple[str, Rate | None]:
        if principal is not None:
            who = f"{getattr(principal, 'issuer', None) or ''}\x00{principal.subject}"
            rate = self.buckets.get(bucket, self.authenticated)
            return f"{self.prefix}{bucket}:sub:{_digest(who)}", rate
        address = client_address(request)
        rate = self.buckets.get(bucket, self.anonymous)
        return f"{self.prefix}{bucket}:ip:{_digest(address)}", rate

    async def check(
        self, bucket: str, *, principal: Any, request: Any, cost: int = 1
    ) -> Decision | None:
        """Spend ``cost`` of the caller's budget; None when the caller has no limit."""
        key, rate = self.key_for(bucket, principal=principal, request=request)
        if rate is None:
            return None
        return await self.backend.hit(key, rate, cost)

    async def close(self) -> None:
        await self.backend.close()


#: The budget of exact national-ID lookups (TRAMA_NATIONAL_ID_LOOKUP_RATE_LIMIT).
NATIONAL_ID_LOOKUPS = "national_id_lookups"
#: The lead forms' budget (leadFormToken, captureLead; TRAMA_LEAD_CAPTURE_RATE_LIMIT).
LEAD_CAPTURES = "lead_captures"


def build_limiter(settings: Any) -> CallerLimiter:
    """The limiter of an API process: Redis when ``TRAMA_REDIS_URL`` is set, else memory."""
    backend: RateLimitBackend = (
        RedisBackend(settings.redis_url) if settings.redis_url else MemoryBackend()
    )
    namespace = getattr(settings, "redis_namespace", None) or "trama"
    return CallerLimiter(
        backend,
        anonymous=Rate.parse(settings.public_rate_limit),
        authenticated=Rate.parse(settings.authenticated_rate_limit),
        prefix=f"{namespace}:ratelimit:",
        buckets={
            NATIONAL_ID_LOOKUPS: Rate.parse(settings.national_id_lookup_rate_limit),
            LEAD_CAPTURES: Rate.parse(settings.lead_capture_rate_limit),
        },
    )

"""Verified tokens kept until they expire, so a request does not pay RS256 again.

Verifying a bearer token (an RSA signature, the claims registry) costs ~0.4 ms of CPU on an
idle core and more under load; an app sends the same token with every request for up to an
hour. This cache keeps what :meth:`TokenService.verify` concluded about a token, keyed by the
SHA-256 of the token (the cache never holds a usable bearer token), per process, bounded
(least recently used entries go first).

What is never served from it:

- a token past its ``exp`` (strictly: once ``exp`` is reached, the token goes through the
  whole verification again, which applies the configured clock skew and refuses it soon
  after);
- a token whose signing key its issuer no longer publishes: when a JWKS refetch drops a
  ``kid``, every cached token of that (issuer, kid) is dropped at once (:meth:`forget_keys`);
  and a token is not served once its issuer's keys are older than ``TRAMA_JWKS_CACHE_TTL``
  until they were fetched again (the token service checks before using an entry).

Failures are never cached: a refused token is checked again each time (it costs the same as
before, and a token refused for a missing key may become valid when the key appears).
Whether the partner a token acts for is still active is not decided here either: that is
looked up on every request from the claims.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CachedVerification:
    """What verification concluded about a token, and until when it holds."""

    claims: dict[str, Any]
    own: bool
    #: The external issuer's configuration key (its first ``iss`` form), or None for Trama's.
    issuer_key: str | None
    issuer: Any
    kid: str | None
    #: ``exp`` of the token, seconds since the epoch: never served at or after it.
    expires_at: float


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenCache:
    """A bounded LRU of verified tokens (see the module doc). Thread-safe: the API's event
    loop and the WebSocket handlers share it with nothing else, but a lock costs little."""

    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, CachedVerification] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.expired = 0
        self.revoked = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes) -> CachedVerification | None:
        if not self.enabled:
            return None
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                self.misses += 1
                return None
            if self._clock() >= entry.expires_at:
                del self._entries[digest]
                self.expired += 1
                self.misses += 1
                return None
            self._entries.move_to_end(digest)
            self.hits += 1
            return entry

    def put(self, digest: bytes, entry: CachedVerification) -> None:
        if not self.enabled or self._clock() >= entry.expires_at:
            return
        with self._lock:
            self._entries[digest] = entry
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard(self, digest: bytes) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def forget_keys(self, issuer_key: str, kids: set[str | None]) -> int:
        """Drop every token of ``issuer_key`` signed by one of ``kids``: the issuer stopped
        publishing those keys. Returns how many were dropped."""
        if not kids:
            return 0
        with self._lock:
            doomed = [
                digest
                for digest, entry in self._entries.items()
                if entry.issuer_key == issuer_key and entry.kid in kids
            ]
            for digest in doomed:
                del self._entries[digest]
            self.revoked += len(doomed)
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


__all__ = ["CachedVerification", "TokenCache", "token_digest"]

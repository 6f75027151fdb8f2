"""Client secrets: generated with the OS CSPRNG, stored only as salted scrypt hashes."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets

from domain.shared import pan

_N, _R, _P, _LEN = 2**14, 8, 1, 32


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_client_id(prefix: str) -> str:
    """``prefix-`` and 16 random hexadecimal digits, drawn again when they read as a card
    number (about one in 20,000 is 13-16 decimal digits that pass a network's checks: the
    audit trail and every text check would then take the id for a card)."""
    while True:
        candidate = f"{prefix.lower()}-{secrets.token_hex(8)}"
        if not pan.contains_pan(candidate):
            return candidate


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_LEN)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            secret.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=128 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def dummy_hash() -> str:
    """A hash to check against when the client id is unknown, so timing does not tell."""
    return hash_secret(new_secret())

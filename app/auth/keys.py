"""Trama's own signing keys: generated on first start, kept under ``var/keys``.

The newest key signs; every key in the directory is published in the JWKS, so tokens
signed before a rotation stay valid until they expire.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from joserfc import jwk

ALGORITHM = "RS256"


class KeyStore:
    def __init__(self, keys: list[jwk.RSAKey]) -> None:
        if not keys:
            raise ValueError("a key store needs at least one key")
        self._keys = keys
        self.key_set = jwk.KeySet(list(keys))

    @property
    def signing_key(self) -> jwk.RSAKey:
        return self._keys[-1]

    def public_jwks(self) -> dict[str, Any]:
        out = []
        for key in self._keys:
            data = key.as_dict(private=False)
            data.update({"use": "sig", "alg": ALGORITHM})
            out.append(data)
        return {"keys": out}

    @classmethod
    def load_or_create(cls, directory: Path, key_file: Path | None = None) -> KeyStore:
        if key_file is not None:
            return cls([_read_key(key_file)])
        directory.mkdir(parents=True, exist_ok=True)
        if not list(directory.glob("signing-*.json")):
            # Several processes may start at once on a fresh machine: one wins, the
            # others read what it wrote.
            _write_new_key(directory, index=1)
        return cls([_read_key(f) for f in sorted(directory.glob("signing-*.json"))])

    @classmethod
    def rotate(cls, directory: Path) -> KeyStore:
        directory.mkdir(parents=True, exist_ok=True)
        index = len(list(directory.glob("signing-*.json"))) + 1
        while not _write_new_key(directory, index=index):
            index += 1
        return cls.load_or_create(directory)


def _read_key(path: Path) -> jwk.RSAKey:
    text = path.read_text()
    if text.lstrip().startswith("{"):
        key = jwk.RSAKey.import_key(json.loads(text))
    else:
        key = jwk.RSAKey.import_key(text)
    if not key.kid:
        key.ensure_kid()
    if not key.is_private:
        raise ValueError(f"{path} holds a public key; a private key is needed to sign")
    return key


def _write_new_key(directory: Path, *, index: int) -> bool:
    """Write a new key as ``signing-<index>.json`` unless that file exists already.

    The key is written whole to a private temporary file and then hard-linked into place,
    which fails if the name is taken: no reader ever sees half a key, and two writers
    never replace each other's key. Returns whether this call created the file."""
    key = jwk.RSAKey.generate_key(2048, private=True, auto_kid=True)
    path = directory / f"signing-{index:04d}.json"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".signing-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(key.as_dict(private=True), handle)
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink()
    return True

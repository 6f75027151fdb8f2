"""Where attachment bytes live, and the signed links that fetch them.

- :class:`LocalFileStore` (``TRAMA_ATTACHMENTS_STORE=local``, the default): files under
  ``TRAMA_VAR_DIR/attachments``, written to a temporary file and renamed into place so a
  reader never sees half a file. Keys are Trama's own (``cases/<uuid>/<uuid>``); anything
  else is refused before it becomes a path.
- :class:`S3FileStore` (``TRAMA_ATTACHMENTS_STORE=s3``): any S3-compatible store (AWS S3,
  MinIO, Ceph, R2…) through boto3, run in worker threads. A custom endpoint uses path-style
  addressing. Without keys in the settings boto3's usual chain applies (environment,
  instance role…).
- :class:`LinkSigner`: download links valid for a few minutes, HMAC-SHA256 over the
  attachment id, the expiry and the principal the link was made for.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import secrets
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from app.file_checks import CheckPool
from app.settings import Settings
from domain.cases.attachment_rules import ScanLimits
from domain.cases.attachments import FileStore, StoredFileMissing
from domain.shared.principal import Principal

_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}(?:/[a-z0-9][a-z0-9-]{0,63}){0,7}$")


def _checked_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"not a storage key: {key[:80]!r}")
    return key


# --- local disk -------------------------------------------------------------------------
class LocalFileStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / _checked_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"not a storage key: {key[:80]!r}")
        return path

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise StoredFileMissing(key) from None

    async def stream(self, key: str, *, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise StoredFileMissing(key) from None
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)


# --- S3-compatible ----------------------------------------------------------------------
class S3FileStore:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            # Checksums only where S3 requires them: many compatible stores reject the
            # newer default trailers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=config,
        )

    @staticmethod
    def _missing(exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        return code in ("NoSuchKey", "404", "NotFound")

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=_checked_key(key),
            Body=data,
            ContentType=content_type,
            ContentMD5=digest,  # the store refuses bytes damaged on the way
        )

    async def _open(self, key: str) -> Any:
        try:
            return await asyncio.to_thread(
                self.client.get_object, Bucket=self.bucket, Key=_checked_key(key)
            )
        except Exception as exc:
            if self._missing(exc):
                raise StoredFileMissing(key) from None
            raise

    async def get(self, key: str) -> bytes:
        body = (await self._open(key))["Body"]
        try:
            data: bytes = await asyncio.to_thread(body.read)
            return data
        finally:
            body.close()

    async def stream(self, key: str, *, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        body = (await self._open(key))["Body"]
        try:
            chunks = body.iter_chunks(chunk_size)
            while chunk := await asyncio.to_thread(next, chunks, b""):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(
            self.client.delete_object, Bucket=self.bucket, Key=_checked_key(key)
        )


# --- signed links -----------------------------------------------------------------------
class LinkCheck(Enum):
    VALID = "valid"
    INVALID = "invalid"  # tampered, for another attachment, or made for someone else
    EXPIRED = "expired"


class LinkSigner:
    """``sig = HMAC-SHA256(secret, "v1", id, exp, issuer, subject)``, base64url."""

    def __init__(self, secret: bytes, *, ttl: int, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 32:
            raise ValueError("the link secret must have at least 32 bytes")
        self._secret = secret
        self.ttl = ttl
        self.clock = clock

    def _mac(self, attachment_id: uuid.UUID, exp: int, principal: Principal) -> str:
        message = "\n".join(
            (
                "trama-attachment-link-v1",
                str(attachment_id),
                str(exp),
                principal.issuer or "",
                principal.subject,
            )
        )
        digest = hmac.new(self._secret, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, attachment_id: uuid.UUID, principal: Principal) -> tuple[int, str]:
        exp = int(self.clock()) + self.ttl
        return exp, self._mac(attachment_id, exp, principal)

    def path(self, attachment_id: uuid.UUID, principal: Principal) -> str:
        exp, sig = self.sign(attachment_id, principal)
        return f"/attachments/{attachment_id}?{urlencode({'exp': exp, 'sig': sig})}"

    def check(
        self, attachment_id: uuid.UUID, exp: str | None, sig: str | None, principal: Principal
    ) -> LinkCheck:
        if not exp or not sig or not exp.isascii() or not exp.isdigit() or len(exp) > 12:
            return LinkCheck.INVALID
        expected = self._mac(attachment_id, int(exp), principal)
        if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
            return LinkCheck.INVALID
        if int(exp) < self.clock():
            return LinkCheck.EXPIRED
        return LinkCheck.VALID


def load_or_create_secret(path: Path) -> bytes:
    """32 random bytes kept (hex) in ``path``, created on first use. The first process
    to write wins (temporary file hard-linked into place); the others read its secret."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".link-secret-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            Path(tmp).unlink()
    return bytes.fromhex(path.read_text().strip())


# --- wiring -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Attachments:
    """What the GraphQL resolvers and the download route share."""

    store: FileStore
    signer: LinkSigner
    max_bytes: int
    #: Where uploaded files are checked (a bounded pool of processes, with a time limit).
    checks: CheckPool


def build_store(settings: Settings) -> FileStore:
    if settings.attachments_store == "s3":
        if not settings.s3_bucket:
            raise ValueError("TRAMA_ATTACHMENTS_STORE=s3 needs TRAMA_S3_BUCKET")
        return S3FileStore(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=(
                settings.s3_secret_access_key.get_secret_value()
                if settings.s3_secret_access_key
                else None
            ),
        )
    return LocalFileStore(settings.var_dir / "attachments")


def build_attachments(settings: Settings, *, store: FileStore | None = None) -> Attachments:
    if settings.attachment_link_secret is not None:
        secret = settings.attachment_link_secret.get_secret_value().encode()
    else:
        secret = load_or_create_secret(settings.var_dir / "keys" / "attachment-links.key")
    return Attachments(
        store=store or build_store(settings),
        signer=LinkSigner(secret, ttl=settings.attachment_link_ttl),
        max_bytes=settings.attachment_max_bytes,
        checks=build_check_pool(settings),
    )


def build_check_pool(settings: Settings) -> CheckPool:
    return CheckPool(
        workers=settings.attachment_check_workers,
        queue=settings.attachment_check_queue,
        timeout=settings.attachment_check_timeout,
        max_bytes=settings.attachment_max_bytes,
        limits=ScanLimits(
            max_unzipped_bytes=settings.attachment_max_unzipped_bytes,
            max_ratio=settings.attachment_max_zip_ratio,
        ),
    )

"""Uploaded files are checked in a bounded pool of worker processes, with a time limit.

Sniffing a file and searching it for card numbers (:mod:`domain.cases.attachment_rules`)
is CPU work on bytes a stranger sent. It never runs in the API process: a pool of at most
``TRAMA_ATTACHMENT_CHECK_WORKERS`` processes does it, so however hostile a file is, the
event loop keeps answering (``/healthz``, ``/readyz``, every other request) and at most that
many cores are busy with uploads.

- Bounded queue: at most ``TRAMA_ATTACHMENT_CHECK_QUEUE`` more checks wait for a free
  worker; one more is refused at once with :class:`ChecksBusy` (the API answers
  ``RATE_LIMITED`` with ``retryAfter``), holding no bytes.
- Time limit: a check that takes longer than ``TRAMA_ATTACHMENT_CHECK_TIMEOUT`` seconds is
  stopped — its process is killed and replaced — and the file is refused as one that cannot
  be checked. So is a file whose check kills its process (out of memory, say).
- The limits of what a zip-based file may unpack to (``TRAMA_ATTACHMENT_MAX_UNZIPPED_BYTES``,
  ``TRAMA_ATTACHMENT_MAX_ZIP_RATIO``) go to every check: a zip bomb is refused before
  anything is inflated.

Workers start on the first upload, from a fork server that has the checking code loaded
(quick, and safe beside the API's threads), live as long as the pool, and are killed with
it (:meth:`CheckPool.close`, or when the pool is garbage-collected).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from domain.cases import attachment_rules as rules
from domain.shared.errors import FieldProblem, ValidationFailed

log = logging.getLogger("trama.file_checks")

#: A check: (content, file name, declared type, max bytes, limits) -> what the parent needs.
Check = Callable[[bytes, str | None, str | None, int, rules.ScanLimits], tuple[Any, ...]]


def inspect_file(
    content: bytes,
    file_name: str | None,
    declared_type: str | None,
    max_bytes: int,
    limits: rules.ScanLimits,
) -> tuple[str, str, int, str]:
    """The check run in a worker: every rule of :func:`rules.inspect`; the result as plain
    values (name, type key, size, SHA-256)."""
    inspected = rules.inspect(
        content,
        file_name=file_name,
        declared_type=declared_type,
        max_bytes=max_bytes,
        limits=limits,
    )
    return (
        inspected.file_name,
        inspected.file_type.key,
        inspected.size_bytes,
        inspected.sha256,
    )


_TYPES = {t.key: t for t in rules.ALLOWED}


def inspected_from(values: tuple[Any, ...]) -> rules.Inspected:
    name, key, size, sha256 = values
    return rules.Inspected(file_name=name, file_type=_TYPES[key], size_bytes=size, sha256=sha256)


class ChecksBusy(Exception):
    """Every worker is busy and the queue is full: send the file again in a moment."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many files are being checked right now")
        self.retry_after = max(1, math.ceil(retry_after))


def _serve(conn: Connection, check: Check) -> None:
    """A worker: run checks until the pipe closes."""
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", check(*job))
        except ValidationFailed as exc:
            reply = ("refused", [(p.field, p.message) for p in exc.problems])
        except Exception as exc:  # a bug, or a file no rule foresaw: refused, logged
            reply = ("error", f"{type(exc).__name__}: {exc}"[:500])
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            if self.process.is_alive():
                self.process.kill()
        with contextlib.suppress(Exception):
            self.process.join(timeout=5)


def _kill_all(workers: set[_Worker]) -> None:
    for worker in list(workers):
        worker.kill()
    workers.clear()


_PRELOADED = False


def _context() -> Any:
    """The fork server (where available), with the checking code already imported."""
    global _PRELOADED
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    if not _PRELOADED:
        context.set_forkserver_preload(["app.file_checks"])
        _PRELOADED = True
    return context


class CheckPool:
    def __init__(
        self,
        *,
        workers: int,
        queue: int,
        timeout: float,
        max_bytes: int,
        limits: rules.ScanLimits,
        check: Check = inspect_file,
    ) -> None:
        if workers < 1 or queue < 0 or timeout <= 0:
            raise ValueError("a check pool needs a worker, a queue of 0 or more, a timeout")
        self.workers = workers
        self.queue = queue
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.limits = limits
        self._check = check
        self._slots = asyncio.Semaphore(workers)
        self._admitted = 0
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()
        self._closed = False
        weakref.finalize(self, _kill_all, self._live)

    @property
    def admitted(self) -> int:
        """Checks running or waiting now."""
        return self._admitted

    async def inspect(
        self, content: bytes, *, file_name: str | None, declared_type: str | None
    ) -> rules.Inspected:
        """Every rule on the file, in a worker; :class:`ValidationFailed` on ``file`` when
        it breaks one, cannot be checked in time, or kills its worker; :class:`ChecksBusy`
        when the pool is full."""
        return inspected_from(await self.run(content, file_name, declared_type))

    async def run(self, content: bytes, file_name: str | None, declared_type: str | None) -> Any:
        if self._closed:
            raise RuntimeError("the check pool is closed")
        if self._admitted >= self.workers + self.queue:
            raise ChecksBusy(retry_after=self.timeout / 4)
        self._admitted += 1
        try:
            async with self._slots:
                return await self._in_worker(
                    (content, file_name, declared_type, self.max_bytes, self.limits)
                )
        finally:
            self._admitted -= 1

    async def _in_worker(self, job: tuple[Any, ...]) -> Any:
        worker = self._idle.pop() if self._idle else await self._start()
        healthy = False
        try:
            kind, value = await asyncio.wait_for(self._exchange(worker, job), self.timeout)
            healthy = True
        except TimeoutError:
            raise ValidationFailed.on(
                rules.FIELD,
                f"this file could not be checked for card numbers within {self.timeout:g} s: "
                "split it or send it as PDF",
            ) from None
        except (EOFError, OSError):
            log.warning(
                "a file check ended its worker process (exit code %s)", worker.process.exitcode
            )
            raise ValidationFailed.on(
                rules.FIELD, "this file could not be checked: split it or send it as PDF"
            ) from None
        finally:
            if healthy and not self._closed:
                self._idle.append(worker)
            else:
                self._live.discard(worker)
                await asyncio.to_thread(worker.kill)
        if kind == "refused":
            raise ValidationFailed([FieldProblem(field, message) for field, message in value])
        if kind == "error":
            log.error("a file check failed unexpectedly: %s", value)
            raise ValidationFailed.on(rules.FIELD, "this file could not be checked: send it as PDF")
        return value

    async def _start(self) -> _Worker:
        def start() -> _Worker:
            context = _context()
            parent, child = context.Pipe()
            process = context.Process(
                target=_serve, args=(child, self._check), daemon=True, name="trama-file-check"
            )
            process.start()
            child.close()
            return _Worker(process, parent)

        worker = await asyncio.to_thread(start)
        self._live.add(worker)
        return worker

    @staticmethod
    async def _exchange(worker: _Worker, job: tuple[Any, ...]) -> tuple[str, Any]:
        loop = asyncio.get_running_loop()
        # Up to TRAMA_ATTACHMENT_MAX_BYTES through the pipe: not on the event loop.
        await asyncio.to_thread(worker.conn.send, job)
        ready: asyncio.Future[None] = loop.create_future()
        fd = worker.conn.fileno()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, readable)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        reply: tuple[str, Any] = await asyncio.to_thread(worker.conn.recv)
        return reply

    async def close(self) -> None:
        """Kill every worker (checks running now are refused)."""
        self._closed = True
        self._idle.clear()
        await asyncio.to_thread(_kill_all, self._live)

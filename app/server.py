"""``trama serve``: uvicorn, one or several processes.

With several processes (``--workers N``) each process listens on a socket of its own bound
to the same address with ``SO_REUSEPORT``, so the kernel spreads incoming connections
across them by a hash of the connection (bench/README.md, "Serving": uvicorn's default —
one socket shared by every process, whichever wakes first accepts — gave one process most of
the connections). The supervisor is uvicorn's (health checks, a dead process replaced,
SIGHUP restarts them one by one, SIGTTIN/SIGTTOU add or remove one); only the socket each
process listens on differs. Where the platform has no ``SO_REUSEPORT``, or with
``TRAMA_REUSE_PORT=false``, the processes share one socket as uvicorn does by default.

Trade-off of ``SO_REUSEPORT``: connections waiting in a process's accept queue when that
process stops are reset (the kernel does not hand them to a sibling), so a restart drops the
few connections that were being accepted at that instant; clients and load balancers retry.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess

from app.logs import configure_logging
from app.settings import Settings

HAS_REUSE_PORT = hasattr(socket, "SO_REUSEPORT")


def app_factory() -> object:
    from app.main import create_app

    configure_logging(
        os.environ.get("TRAMA_LOG_LEVEL", "INFO"), os.environ.get("TRAMA_LOG_FORMAT", "json")
    )
    return create_app()


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask, bounded by a cgroup v2 CPU quota
    (a container limited to 2 CPUs on a 64-core host gets 2)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_limit(Path("/sys/fs/cgroup/cpu.max"))
    if quota is not None:
        count = min(count, quota)
    return max(1, count)


def _cgroup_cpu_limit(path: Path) -> int | None:
    try:
        limit, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if limit == "max":
        return None
    try:
        return max(1, math.ceil(int(limit) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def default_workers(settings: Settings) -> int:
    """``TRAMA_WORKERS`` when set; otherwise one process per available CPU in production,
    one elsewhere (development reloads and debuggers want a single process)."""
    if settings.workers is not None:
        return settings.workers
    return available_cpus() if settings.is_production else 1


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reuse_port_socket(host: str, port: int, *, listen: int | None) -> socket.socket:
    """A TCP socket bound to (host, port) with ``SO_REUSEPORT``; listening when ``listen``
    (the backlog) is given."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen is not None:
            sock.listen(listen)
            sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def check_port_free(host: str, port: int) -> None:
    """Raise ``OSError`` when something listens on (host, port) already — another Trama
    with ``SO_REUSEPORT`` included, which would otherwise silently share our port."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class ReusePortProcess(multiprocess.Process):
    """A uvicorn worker process that listens on a ``SO_REUSEPORT`` socket of its own.

    The socket is bound here but listens only once the process is ready: uvicorn loads the
    app and runs its lifespan startup, then serves the socket (the event loop's
    ``create_server`` calls ``listen``). A socket listening earlier would join the port's
    group while the process still imports and starts (seconds on a loaded machine), and
    the kernel would park the connections it hashes there until then — at start, and
    whenever a process is replaced (SIGHUP, a crash). Not listening, it gets none: they go
    to the processes already serving (before any is, they are refused and retried)."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover
        config = self.config
        sock = reuse_port_socket(config.host, config.port, listen=None)
        super().target([sock])


@contextlib.contextmanager
def _reuse_port_workers() -> Iterator[None]:
    """uvicorn's supervisor makes its workers as ``multiprocess.Process``: have it make ours.
    (The supervisor is this process's main thread; nothing else creates workers.)"""
    original = multiprocess.Process
    multiprocess.Process = ReusePortProcess  # type: ignore[misc]
    try:
        yield
    finally:
        multiprocess.Process = original  # type: ignore[misc]


def serve(settings: Settings, *, host: str, port: int, workers: int) -> int:
    configure_logging(settings.log_level, settings.log_format)
    from app.hosts import production_problems

    problems = production_problems(settings)
    if problems:
        for problem in problems:
            print(f"trama serve: {problem}", file=sys.stderr)
        return 2
    if workers < 1:
        print("trama serve: --workers must be at least 1", file=sys.stderr)
        return 2
    # Create the signing keys before any worker starts, so all of them share one key set.
    from app.auth.keys import KeyStore

    KeyStore.load_or_create(settings.var_dir / "keys", settings.signing_key_file)
    if workers > 1:
        metrics_dir = settings.var_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    # Worker processes read their settings from the environment: pin what the CLI chose,
    # so every process computes the same issuer URL.
    os.environ["TRAMA_HOST"] = host
    os.environ["TRAMA_PORT"] = str(port)
    reuse_port = workers > 1 and settings.reuse_port and HAS_REUSE_PORT
    if reuse_port:
        try:
            check_port_free(host, port)
        except OSError as exc:
            print(f"trama serve: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
            return 2
    mode = f"{workers} processes" + (", SO_REUSEPORT" if reuse_port else "")
    print(
        f"Trama serving on http://{host}:{port} ({mode})  (GraphiQL: http://{host}:{port}/graphql)",
        flush=True,
    )
    if not reuse_port:
        uvicorn.run(**_run_kwargs(host, port, workers))
        return 0
    config = uvicorn.Config(**_run_kwargs(host, port, workers))
    # The supervisor keeps the port bound (not listening: the kernel hands connections to
    # listening sockets only) while workers come and go, so nobody else takes it.
    reservation = reuse_port_socket(host, port, listen=None)
    try:
        with _reuse_port_workers():
            multiprocess.Multiprocess(config, sockets=[]).run()
    finally:
        reservation.close()
    return 0


def _run_kwargs(host: str, port: int, workers: int) -> dict[str, Any]:
    return {
        "app": "app.server:app_factory",
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "log_config": None,
        "access_log": False,
        "proxy_headers": True,
        "ws_max_size": 1_048_576,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }

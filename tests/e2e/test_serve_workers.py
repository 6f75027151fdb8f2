"""``trama serve --workers N``: N processes, each listening on a SO_REUSEPORT socket of its
own on the same port, the kernel spreading connections across them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.server import _cgroup_cpu_limit, available_cpus, default_workers
from app.settings import Settings
from tests.e2e.conftest import Server, trama_executable

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT"), reason="the platform has no SO_REUSEPORT"
)

LISTEN, ESTABLISHED = "0A", "01"


def tcp_sockets(port: int) -> dict[int, str]:
    """Socket inode → TCP state of the sockets whose local port is ``port`` (IPv4)."""
    found: dict[int, str] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], int(fields[9])
        if int(local.split(":")[1], 16) == port:
            found[inode] = state
    return found


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(FileNotFoundError, PermissionError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(FileNotFoundError, PermissionError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                    out.append(int(entry))
    return out


def by_process(server: Server) -> dict[int, dict[str, set[int]]]:
    """For each worker of ``server``: its listening and established sockets on the port."""
    assert server.process is not None
    states = tcp_sockets(server.port)
    out: dict[int, dict[str, set[int]]] = {}
    for pid in children(server.process.pid):
        mine = socket_inodes(pid) & set(states)
        listening = {i for i in mine if states[i] == LISTEN}
        if listening:
            out[pid] = {
                "listen": listening,
                "established": {i for i in mine if states[i] == ESTABLISHED},
            }
    return out


async def wait_for_workers(
    server: Server, count: int, timeout: float = 30
) -> dict[int, dict[str, set[int]]]:
    deadline = time.monotonic() + timeout
    while True:
        found = by_process(server)
        if len(found) == count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(found)} listening workers, expected {count}:\n{server.log()}"
            )
        await asyncio.sleep(0.1)


QUERY = b'{"query": "{ __typename }"}'
REQUEST = (
    b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Accept: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(QUERY), QUERY)
)


def open_connections(server: Server, count: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(count)]


async def spread_of(server: Server, count: int) -> dict[int, int]:
    """Connections each worker has accepted, once all ``count`` are accepted."""
    deadline = time.monotonic() + 15
    while True:
        spread = {pid: len(w["established"]) for pid, w in by_process(server).items()}
        if sum(spread.values()) >= count or time.monotonic() > deadline:
            return spread
        await asyncio.sleep(0.1)


def ask(conn: socket.socket) -> bytes:
    conn.sendall(REQUEST)
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


async def answered(connections: list[socket.socket]) -> None:
    for conn in connections:
        reply = await asyncio.to_thread(ask, conn)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert reply.endswith(b'{"data":{"__typename":"Query"}}'), reply[-200:]
        conn.close()


async def test_two_workers_each_listen_and_both_answer(
    start_server: Callable[..., Awaitable[Server]],
) -> None:
    server = await start_server("--workers", "2")
    workers = await wait_for_workers(server, 2)
    # Each process listens on a socket of its own (uvicorn's default: one shared socket).
    [first, second] = [w["listen"] for w in workers.values()]
    assert len(first) == 1 and len(second) == 1 and first != second

    connections = open_connections(server, 40)
    spread = await spread_of(server, 40)
    assert sum(spread.values()) == 40, spread
    # The kernel hashes connections across the two sockets: both get some (all 40 on one
    # has a probability of 2^-39), and every connection is answered.
    assert all(n > 0 for n in spread.values()), spread
    await answered(connections)

    # A worker that dies is replaced by one listening on a new socket; the port keeps
    # answering meanwhile.
    victim = next(iter(workers))
    os.kill(victim, signal.SIGKILL)
    # kill() returns before the process is gone: until it has exited, its socket is still in
    # the group and a connection the kernel hashes to it is reset when it closes. Once it
    # has exited (a zombie until the parent reaps it), its sockets are closed.
    dying = time.monotonic() + 10
    while not _exited(victim):
        assert time.monotonic() < dying, "the killed worker did not exit"
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        deadline = time.monotonic() + 30
        while True:
            # The survivor answers meanwhile: the dead process's socket left the group.
            assert (await http.get("/healthz")).status_code == 200
            now = by_process(server)
            if len(now) == 2 and victim not in now:
                break
            assert time.monotonic() < deadline, f"the worker was not replaced:\n{server.log()}"
            await asyncio.sleep(0.2)
    await answered(open_connections(server, 10))


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited: gone, or a zombie waiting to be reaped (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")


async def test_a_port_in_use_is_refused(tmp_path: Path, database_url: str) -> None:
    from tests.e2e.conftest import server_env

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            trama_executable(),
            *("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"),
            env=server_env(database_url, tmp_path),
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err.decode()


def test_default_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAMA_WORKERS", raising=False)
    production = Settings(env="production", var_dir=tmp_path)
    assert (
        default_workers(production)
        == available_cpus()
        == min(
            len(os.sched_getaffinity(0)), _cgroup_cpu_limit(Path("/sys/fs/cgroup/cpu.max")) or 10**6
        )
    )
    assert default_workers(Settings(env="development", var_dir=tmp_path)) == 1
    assert default_workers(Settings(env="production", var_dir=tmp_path, workers=3)) == 3

    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")
    assert _cgroup_cpu_limit(quota) == 2
    quota.write_text("max 100000\n")
    assert _cgroup_cpu_limit(quota) is None
    quota.write_text("garbage")
    assert _cgroup_cpu_limit(quota) is None
    assert _cgroup_cpu_limit(tmp_path / "absent") is None


def test_a_worker_listens_only_once_its_app_is_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's socket joins the port's group when uvicorn serves it — after the app is
    loaded and its lifespan startup ran — not when the process starts: until then the
    kernel hands it no connection (here, the only socket on the port: a client is refused,
    not parked), and once it serves it answers."""
    import threading

    import uvicorn

    from app import server as server_module

    created: list[socket.socket] = []
    make = server_module.reuse_port_socket

    def recording(host: str, port: int, *, listen: int | None) -> socket.socket:
        sock = make(host, port, listen=listen)
        created.append(sock)
        return sock

    monkeypatch.setattr(server_module, "reuse_port_socket", recording)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    seen: dict[str, object] = {}

    def connect() -> str:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except ConnectionRefusedError:
            return "refused"
        return "accepted by the kernel"

    def ask_then_stop() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                seen["answer"] = httpx.get(f"http://127.0.0.1:{port}/", timeout=2).text
                break
            time.sleep(0.05)
        process.server.should_exit = True

    async def app(scope: dict[str, object], receive: Callable[..., Any], send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    [sock] = created
                    seen["listening_in_startup"] = sock.getsockopt(
                        socket.SOL_SOCKET, socket.SO_ACCEPTCONN
                    )
                    seen["connect_in_startup"] = await asyncio.to_thread(connect)
                    await send({"type": "lifespan.startup.complete"})
                    threading.Thread(target=ask_then_stop, daemon=True).start()
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        else:
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ready"})

    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None)
    process = server_module.ReusePortProcess(config, sockets=[])
    process.target()
    assert seen == {
        "listening_in_startup": 0,
        "connect_in_startup": "refused",
        "answer": "ready",
    }

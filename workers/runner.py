"""``trama worker``: Dramatiq worker processes (with their relay and scheduler).

The parent process starts ``--processes`` children and restarts one that dies; SIGTERM or
SIGINT stops them all gracefully (each finishes or requeues its messages).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import time
from multiprocessing.process import BaseProcess

from app.settings import Settings

log = logging.getLogger("trama.worker")


async def _child_main(settings: Settings, threads: int, queues: set[str] | None) -> None:
    from app.db import close_database, init_database
    from app.policies import configure_policies
    from workers.backbone import Backbone

    configure_policies(settings)
    init_database(settings.effective_database_url, pool_size=max(2, min(threads, 10)))
    backbone = Backbone(settings, role="worker", worker_threads=threads, worker_queues=queues)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await backbone.start()
    print(f"trama worker {os.getpid()} ready", flush=True)
    try:
        await stop.wait()
    finally:
        await backbone.stop()
        await close_database()


def _child(settings: Settings, threads: int, queues: list[str] | None) -> None:
    from app.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(_child_main(settings, threads, set(queues) if queues else None))


def run_workers(
    settings: Settings, *, processes: int, threads: int, queues: list[str] | None
) -> int:
    if not settings.redis_url:
        print(
            "trama worker needs TRAMA_REDIS_URL; without it `trama serve` runs the workers "
            "in-process",
            file=sys.stderr,
        )
        return 2
    if processes == 1:
        _child(settings, threads, queues)
        return 0
    ctx = multiprocessing.get_context("spawn")
    children: list[BaseProcess] = []
    stopping = False

    def start_one() -> BaseProcess:
        proc = ctx.Process(target=_child, args=(settings, threads, queues), daemon=False)
        proc.start()
        return proc

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in children:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    children.extend(start_one() for _ in range(processes))
    while True:
        time.sleep(0.5)
        if stopping:
            for proc in children:
                proc.join(timeout=30)
            return 0
        for index, proc in enumerate(children):
            if not proc.is_alive():
                log.warning(
                    "worker process %s exited (%s); starting another", proc.pid, proc.exitcode
                )
                children[index] = start_one()

"""What a worker thread leaves on the actors' loop is finished before the loop stops."""

from __future__ import annotations

import asyncio
import threading

from workers import broker


def test_leftover_actor_coroutines_are_cancelled_and_awaited() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    cleaned = threading.Event()

    async def abandoned() -> None:  # what an interrupted worker thread was waiting for
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()  # e.g. a session closed in its finally

    try:
        task = asyncio.run_coroutine_threadsafe(abandoned(), loop)
        finished = asyncio.run_coroutine_threadsafe(broker._finish_leftover_tasks(), loop)
        assert finished.result(timeout=5) == 1
        assert cleaned.is_set() and task.cancelled()
        # nothing left: a second pass finds nothing
        again = asyncio.run_coroutine_threadsafe(broker._finish_leftover_tasks(), loop)
        assert again.result(timeout=5) == 0
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
